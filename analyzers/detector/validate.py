"""Input hygiene for the detector: bad telemetry is counted and reported, never
crashes the sidecar and never changes a flag.

:meth:`RecordValidator.check` takes a raw ``dict`` (a parsed JSON line) or a record
object and returns the typed record, or ``None`` when it must be dropped; every drop
and every anomaly is counted by reason in :attr:`RecordValidator.counts`:

* dropped — ``unparsable`` (a line that is not JSON), ``not_an_object``, ``unknown_kind``, ``missing_field``, ``non_numeric``,
  ``nan``, ``negative``, ``out_of_range``, ``unknown_instance``, ``bad_lengths``,
  ``out_of_order``, ``duplicate``;
* accepted with a note — ``counter_reset`` (a counter went down: consumers restart
  their deltas), ``gap`` (no record from that instance for ``gap_s`` seconds).

>>> v = RecordValidator(n_instances=2)
>>> v.check({"kind": "snapshot", "time": 1.0, "instance": 0, "num_running": 3, "num_waiting": 0, "kv_usage": 0.5}) is not None
True
>>> v.check({"kind": "snapshot", "time": 0.5, "instance": 0, "num_running": 3, "num_waiting": 0, "kv_usage": 0.5}) is None
True
>>> v.check({"kind": "snapshot", "time": 2.0, "instance": 7, "num_running": 1, "num_waiting": 0, "kv_usage": 0.1}) is None
True
>>> dict(v.counts)
{'out_of_order': 1, 'unknown_instance': 1}
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from analyzers.telemetry.schema import InstanceSnapshot, RoutingDecision

__all__ = ["RecordValidator", "DecisionView", "DecisionBatch"]


class DecisionBatch:
    """The validated decisions of a batch as 2-D arrays (one row per decision)."""

    __slots__ = ("cached", "q", "bs", "p", "x", "y")

    def __init__(self, cached, q, bs, p, x, y):
        self.cached, self.q, self.bs, self.p, self.x, self.y = cached, q, bs, p, x, y


class DecisionView:
    """A validated decision's indicators as arrays, computed once for every detector:
    cached tokens, queued prefill ``Q``, batch size ``BS``, ``P = max(N - cached, 1)``,
    LMetric's ``x = Q + P``, ``y = BS + 1`` and the scores (or ``None``)."""

    __slots__ = ("cached", "q", "bs", "p", "x", "y", "scores")

    def __init__(self, rec: RoutingDecision, cached, q, bs, scores=None):
        self.cached, self.q, self.bs = cached, q, bs
        self.p = np.maximum(rec.prompt_tokens - cached, 1.0)
        self.x = q + self.p
        self.y = bs + 1.0
        self.scores = scores

    @classmethod
    def from_parts(cls, cached, q, bs, p, x, y, scores) -> "DecisionView":
        v = cls.__new__(cls)
        v.cached, v.q, v.bs, v.p, v.x, v.y, v.scores = cached, q, bs, p, x, y, scores
        return v

    @classmethod
    def of(cls, rec: RoutingDecision) -> "DecisionView":
        s = np.asarray(rec.scores, float) if rec.scores else None
        return cls(rec, np.asarray(rec.cached_tokens, float), np.asarray(rec.queued_prefill_tokens, float),
                   np.asarray(rec.batch_size, float), s)

_SNAP_REQUIRED = ("time", "instance", "num_running", "num_waiting", "kv_usage")
_SNAP_COUNTERS = ("prefix_cache_queries_total", "prefix_cache_hits_total", "num_preemptions_total", "steps_total",
                  "prompt_tokens_total", "generation_tokens_total", "busy_ms_total")
_DEC_REQUIRED = ("time", "request_id", "chosen", "prompt_tokens", "cached_tokens", "queued_prefill_tokens", "batch_size")
_DEC_INDICATORS = ("cached_tokens", "queued_prefill_tokens", "batch_size")


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class RecordValidator:
    """Stateful validator (remembers each instance's last time and counters)."""

    def __init__(self, n_instances: int | None = None, gap_s: float = 5.0):
        self.n = n_instances
        self.gap_s = gap_s
        self.counts: Counter[str] = Counter()
        self.accepted = 0
        self._last_time: dict[int, float] = {}
        self._last_counters: dict[int, dict[str, float]] = {}
        self._last_decision_time = -math.inf
        self.notes: set[str] = set()
        self.view: DecisionView | None = None

    def _bad(self, reason: str):
        self.counts[reason] += 1
        return None

    def check(self, raw) -> InstanceSnapshot | RoutingDecision | None:
        """Validated record or ``None``; ``self.notes`` holds this record's notes."""
        self.notes = set()
        self.view = None
        if isinstance(raw, (InstanceSnapshot, RoutingDecision)):
            raw = raw.to_dict()
        if not isinstance(raw, dict):
            return self._bad("not_an_object")
        kind = raw.get("kind")
        if kind == "snapshot":
            return self._snapshot(raw)
        if kind == "decision":
            return self._decision(raw)
        return self._bad("unparsable" if kind == "unparsable" else "unknown_kind")

    def _known_instance(self, i) -> bool:
        return isinstance(i, int) and not isinstance(i, bool) and i >= 0 and (self.n is None or i < self.n)

    def _snapshot(self, d: dict):
        for f in _SNAP_REQUIRED:
            if f not in d or d[f] is None:
                return self._bad("missing_field")
        names = InstanceSnapshot.__dataclass_fields__
        for k, v in d.items():
            if k in names and k not in ("stale",) and v is not None:
                if not _num(v):
                    return self._bad("non_numeric")
                if not math.isfinite(v):
                    return self._bad("nan")
                if v < 0:
                    return self._bad("negative")
        if not self._known_instance(d["instance"]):
            return self._bad("unknown_instance")
        if d["kv_usage"] > 1.0:
            return self._bad("out_of_range")
        i, t = d["instance"], float(d["time"])
        last = self._last_time.get(i)
        if last is not None:
            if t < last:
                return self._bad("out_of_order")
            if t == last:
                return self._bad("duplicate")
            if t - last > self.gap_s:
                self.counts["gap"] += 1
                self.notes.add("gap")
        prev = self._last_counters.get(i, {})
        for c in _SNAP_COUNTERS:
            if c in d and c in prev and d[c] < prev[c]:
                self.counts["counter_reset"] += 1
                self.notes.add("counter_reset")
                break
        self._last_time[i] = t
        self._last_counters[i] = {c: d[c] for c in _SNAP_COUNTERS if c in d}
        self.accepted += 1
        return InstanceSnapshot.from_dict(d)

    def _decision(self, d: dict):
        for f in _DEC_REQUIRED:
            if f not in d or d[f] is None:
                return self._bad("missing_field")
        ind = [d[f] for f in _DEC_INDICATORS]
        scores = d.get("scores") or []
        if not all(isinstance(v, list) for v in ind) or not isinstance(scores, list):
            return self._bad("non_numeric")
        n = len(ind[0])
        if n == 0 or len(ind[1]) != n or len(ind[2]) != n or (scores and len(scores) != n) or (
                self.n is not None and n != self.n):
            return self._bad("bad_lengths")
        if not (_num(d["time"]) and _num(d["prompt_tokens"])):
            return self._bad("non_numeric")
        for lst in ind:  # builtins over short lists beat numpy here; bools count as numbers
            try:
                total = sum(lst)
            except TypeError:
                return self._bad("non_numeric")
            if isinstance(total, complex) or not math.isfinite(total):
                return self._bad("nan")
            if min(lst) < 0:
                return self._bad("negative")
        if not (math.isfinite(d["time"]) and math.isfinite(d["prompt_tokens"])):
            return self._bad("nan")
        if d["time"] < 0 or d["prompt_tokens"] < 0:
            return self._bad("negative")
        sc = None
        if scores:  # scores may be negative (max-score rules) or inf (excluded), never NaN
            try:
                sc = np.array(scores, dtype=float)
            except (TypeError, ValueError):
                return self._bad("non_numeric")
            if any(isinstance(x, (str, bytes)) for x in scores):
                return self._bad("non_numeric")
            if np.isnan(sc).any():
                return self._bad("nan")
        arr = np.array(ind, dtype=float)
        if not (isinstance(d["chosen"], int) and 0 <= d["chosen"] < n):
            return self._bad("unknown_instance")
        t = float(d["time"])
        if t < self._last_decision_time:
            return self._bad("out_of_order")
        self._last_decision_time = t
        self.accepted += 1
        rec = RoutingDecision.from_dict(d)
        self.view = DecisionView(rec, arr[0], arr[1], arr[2], sc)
        return rec

    # ------------------------------------------------------------------ batch path
    def _pair(self, d):
        rec = self.check(d)
        return None if rec is None else (rec, self.view)

    def check_decisions(self, dicts: list) -> tuple[list, DecisionBatch | None]:
        """Validate a run of decision dicts at once; same verdicts and counts as calling
        :meth:`check` on each in order. Returns ``(pairs, batch)``: ``pairs[i]`` is
        ``(record, view)`` or ``None``; ``batch`` holds the accepted rows as 2-D arrays
        (``None`` when the run had to be checked record by record)."""
        try:
            if not all(isinstance(d, dict) and d.get("kind") == "decision"
                       and all(d.get(f) is not None for f in _DEC_REQUIRED) for d in dicts):
                raise ValueError("structure")
            arr = np.array([[d["cached_tokens"], d["queued_prefill_tokens"], d["batch_size"]] for d in dicts])
            meta = np.array([[d["time"], d["prompt_tokens"]] for d in dicts])
            if arr.ndim != 3 or arr.dtype.kind not in "iuf" or meta.dtype.kind not in "iuf" or arr.shape[2] == 0 or (
                    self.n is not None and arr.shape[2] != self.n):
                raise ValueError("shape")
        except (ValueError, TypeError):
            return [self._pair(d) for d in dicts], None
        arr = arr.astype(float)
        meta = meta.astype(float)
        n = arr.shape[2]
        bad = ~np.isfinite(arr).all(axis=(1, 2)) | ~np.isfinite(meta).all(axis=1) | (arr < 0).any(axis=(1, 2)) | (
            meta < 0).any(axis=1)
        p = np.maximum(meta[:, 1:2] - arr[:, 0, :], 1.0)
        x = arr[:, 1, :] + p
        y = arr[:, 2, :] + 1.0
        scores_all = None
        try:  # the common case: every record carries n numeric scores
            sc_arr = np.array([d.get("scores") for d in dicts])
            if sc_arr.ndim == 2 and sc_arr.shape[1] == n and sc_arr.dtype.kind in "iuf":
                scores_all = sc_arr.astype(float)
                bad = bad | np.isnan(scores_all).any(axis=1)
        except (ValueError, TypeError):
            pass
        pairs: list = []
        keep: list[int] = []
        for i, d in enumerate(dicts):
            chosen = d["chosen"]
            if bad[i] or not isinstance(chosen, int) or isinstance(chosen, bool) or not 0 <= chosen < n or (
                    scores_all is None and d.get("scores")) or d["time"] < self._last_decision_time:
                pairs.append(self._pair(d))  # the slow path counts the precise reason
                if pairs[-1] is not None:
                    keep.append(i)
                continue
            scores = None if scores_all is None else scores_all[i]
            self._last_decision_time = float(d["time"])
            self.accepted += 1
            rec = RoutingDecision.from_dict(d)
            pairs.append((rec, DecisionView.from_parts(arr[i, 0], arr[i, 1], arr[i, 2], p[i], x[i], y[i], scores)))
            keep.append(i)
        k = np.array(keep, dtype=int)
        return pairs, DecisionBatch(arr[k, 0], arr[k, 1], arr[k, 2], p[k], x[k], y[k])
