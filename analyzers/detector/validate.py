"""Input hygiene for the detector: bad telemetry is counted and reported, never
crashes the sidecar and never changes a flag.

:meth:`RecordValidator.check` takes a raw ``dict`` (a parsed JSON line) or a record
object and returns the typed record, or ``None`` when it must be dropped; every drop
is counted by reason in :attr:`RecordValidator.counts`, every note on an accepted
record in :attr:`RecordValidator.note_counts`:

* dropped — from the source: ``unparsable`` (not JSON, a >4,300-digit integer, nesting
  deeper than the parser allows), ``non_utf8``, ``too_long``, ``empty_line``; by shape:
  ``not_an_object``, ``unknown_kind``, ``missing_field``, ``non_numeric`` (a number
  field holding a string, list, object or bool), ``wrong_type`` (an id, scorer,
  session, ``chosen``, ``stale`` or ``commit_updates`` of the wrong type), ``nan``, ``negative``,
  ``out_of_range`` (above the plausible bounds ``MAX_*`` below, or an integer too large
  for a float), ``unknown_instance``, ``bad_lengths``; by time: ``out_of_order``,
  ``duplicate`` (a snapshot at its instance's last time, or a decision whose
  ``(request_id, time)`` was seen), ``future`` (more than ``max_skew`` ahead of the
  stream clock; it does not move the clock);
* accepted with a note — ``counter_reset`` (a counter went down: consumers restart
  their deltas), ``gap`` (no record from that instance for ``gap_s`` seconds),
  ``clock_jump`` (``rebase_after`` consecutive future records agreeing with each other:
  the clock moves to them).

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
from collections import Counter, OrderedDict
from dataclasses import MISSING

import numpy as np

from analyzers.telemetry.schema import InstanceSnapshot, RoutingDecision

__all__ = ["RecordValidator", "DecisionView", "DecisionBatch"]


class DecisionBatch:
    """The validated decisions of a batch as 2-D arrays (one row per decision)."""

    __slots__ = ("cached", "q", "bs", "p", "x", "y", "scores")

    def __init__(self, cached, q, bs, p, x, y, scores=None):
        """``scores``: every row's scores, when every decision of the run carried ``n`` numbers."""
        self.cached, self.q, self.bs, self.p, self.x, self.y, self.scores = cached, q, bs, p, x, y, scores


class DecisionView:
    """A validated decision's indicators as arrays, computed once for every detector:
    cached tokens, queued prefill ``Q``, batch size ``BS``, ``P = max(N - cached, 1)``,
    LMetric's ``x = Q + P``, ``y = BS + 1`` and the scores (or ``None``)."""

    __slots__ = ("cached", "q", "bs", "p", "x", "y", "scores", "memo")

    def __init__(self, rec: RoutingDecision, cached, q, bs, scores=None):
        self.cached, self.q, self.bs = cached, q, bs
        self.p = np.maximum(rec.prompt_tokens - cached, 1.0)
        self.x = q + self.p
        self.y = bs + 1.0
        self.scores = scores
        self.memo = None  # values several detectors derive from this decision, computed once (regimes.py)

    @classmethod
    def of(cls, rec: RoutingDecision) -> "DecisionView":
        s = np.asarray(rec.scores, float) if rec.scores else None
        return cls(rec, np.asarray(rec.cached_tokens, float), np.asarray(rec.queued_prefill_tokens, float),
                   np.asarray(rec.batch_size, float), s)


class _RowView(DecisionView):
    """Row ``i`` of a vectorised run's arrays as a :class:`DecisionView`, each array read
    when a detector asks for it (most decisions need none: only evidence and the rare
    branches look at a single decision's arrays). The same values as the rows made
    eagerly, without making six row objects per decision."""

    __slots__ = ("_src", "_i")

    cached = property(lambda self: self._src[0][self._i])
    q = property(lambda self: self._src[1][self._i])
    bs = property(lambda self: self._src[2][self._i])
    p = property(lambda self: self._src[3][self._i])
    x = property(lambda self: self._src[4][self._i])
    y = property(lambda self: self._src[5][self._i])
    scores = property(lambda self: None if self._src[6] is None else self._src[6][self._i])


_SNAP_REQUIRED = ("time", "instance", "num_running", "num_waiting", "kv_usage")
_SNAP_COUNTERS = ("prefix_cache_queries_total", "prefix_cache_hits_total", "num_preemptions_total", "steps_total",
                  "prompt_tokens_total", "generation_tokens_total", "busy_ms_total")
_DEC_REQUIRED = ("time", "request_id", "chosen", "prompt_tokens", "cached_tokens", "queued_prefill_tokens", "batch_size")
_DEC_INDICATORS = ("cached_tokens", "queued_prefill_tokens", "batch_size")


_REQ_KEYS = frozenset(_DEC_REQUIRED)


_DEC_SET = {"time", "request_id", "chosen", "scorer", "prompt_tokens", "cached_tokens", "queued_prefill_tokens",
            "batch_size", "scores", "snapshot_age", "session", "prefix_class", "output_tokens", "commit_updates"}
# defaults of any field added to RoutingDecision later (decision_record sets the ones above)
_DEC_EXTRA = {name: (f.default if f.default is not MISSING else f.default_factory())
              for name, f in RoutingDecision.__dataclass_fields__.items() if name not in _DEC_SET}
_DEC_KEYS = frozenset(_DEC_SET | {"kind"})
_FAST_RECORD = not _DEC_EXTRA  # (a field added later would need its default set)
_new = object.__new__
_set = object.__setattr__


def decision_record(d: dict) -> RoutingDecision:
    """The record of a validated decision dict (defaults for the optional fields).

    Equal to ``RoutingDecision(...)`` with the same values, built without the frozen
    dataclass's ``__init__`` (14 ``object.__setattr__`` calls, ~1.5 us; this is ~0.5 us
    — the values are validated already, and a record is built for every decision)."""
    if _FAST_RECORD and d.keys() == _DEC_KEYS and d["scores"] and d["snapshot_age"] is not None:
        vals = d.copy()  # every field given, none needing its default: the dict itself, less "kind"
        del vals["kind"]
        rec = _new(RoutingDecision)
        _set(rec, "__dict__", vals)
        return rec
    g = d.get
    age = g("snapshot_age")
    vals = {"time": d["time"], "request_id": d["request_id"], "chosen": d["chosen"], "scorer": g("scorer", ""),
            "prompt_tokens": d["prompt_tokens"], "cached_tokens": d["cached_tokens"],
            "queued_prefill_tokens": d["queued_prefill_tokens"], "batch_size": d["batch_size"],
            "scores": g("scores") or [], "snapshot_age": 0.0 if age is None else age, "session": g("session"),
            "prefix_class": g("prefix_class"), "output_tokens": g("output_tokens"),
            "commit_updates": g("commit_updates")}
    if _DEC_EXTRA:
        vals.update(_DEC_EXTRA)
    rec = _new(RoutingDecision)
    _set(rec, "__dict__", vals)
    return rec

# Upper bounds of plausible values; a larger finite value is dropped as ``out_of_range``
# (it would otherwise swamp a mean or a ratio and move a flag).
MAX_TIME = 1e11            # seconds (relative, or Unix time up to the year 5138)
MAX_TOKENS = 1e9           # one request's prompt/output, or one instance's queue
MAX_COUNT = 1e7            # requests running/waiting, batch size, max_num_seqs
MAX_COUNTER = 1e18         # monotone totals
MAX_AGE = 1e6              # snapshot age, seconds
MAX_STEP_MS = 1e9
_SNAP_BOUNDS = {"time": MAX_TIME, "num_running": MAX_COUNT, "num_waiting": MAX_COUNT, "kv_usage": 1.0,
                "queued_prefill_tokens": MAX_TOKENS, "total_tokens": MAX_COUNTER, "last_step_ms": MAX_STEP_MS,
                "max_num_seqs": MAX_COUNT, "age_s": MAX_AGE, **{c: MAX_COUNTER for c in _SNAP_COUNTERS}}
_IND_BOUNDS = (MAX_TOKENS, MAX_TOKENS, MAX_COUNT)
_MAX_KEY = 2**64            # prefix classes and request ids: 64-bit hashes at most
_MAX_STR = 256


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _key_ok(v, allow_none: bool) -> bool:
    """An id: a bounded int or a short string (or ``None`` when allowed)."""
    if v is None:
        return allow_none
    if isinstance(v, int) and not isinstance(v, bool):
        return -_MAX_KEY <= v <= _MAX_KEY
    return isinstance(v, str) and len(v) <= _MAX_STR


def _scalar(v, bound: float) -> str | None:
    """Drop reason for a numeric scalar, or ``None`` when it is fine."""
    if not _num(v):
        return "non_numeric"
    if isinstance(v, int):
        if v < 0:
            return "negative"
        return "out_of_range" if v > bound else None
    if v != v or v in (math.inf, -math.inf):
        return "nan"
    if v < 0:
        return "negative"
    return "out_of_range" if v > bound else None


_NUMS, _INT, _STR = frozenset((int, float)), frozenset((int,)), frozenset((str,))
_NONE = type(None)
_NUMS_NONE, _INT_NONE, _STR_NONE, _BOOL_NONE = (frozenset((int, float, _NONE)), frozenset((int, _NONE)),
                                                frozenset((str, _NONE)), frozenset((bool, _NONE)))


def _types_in(col: list, types: frozenset) -> bool:
    """Every value's exact type is one of ``types`` (a bool is not an int here)."""
    return types.issuperset(map(type, col))


def _keys_ok(col: list, allow_none: bool) -> bool:
    """:func:`_key_ok` over a column: ints within +-2**64, or strings of at most 256 characters."""
    types = set(map(type, col))
    if allow_none and _NONE in types:
        types.discard(_NONE)
        col = [v for v in col if v is not None]
    if types == {int}:
        return -_MAX_KEY <= min(col) and max(col) <= _MAX_KEY
    if types == {str}:
        return max(map(len, col)) <= _MAX_STR
    return all(_key_ok(v, allow_none) for v in col)


def _decision_meta(d: dict) -> str | None:
    """Drop reason for a decision's scalar fields (everything but the indicator lists)."""
    t, pt, rid, c = d["time"], d["prompt_tokens"], d["request_id"], d["chosen"]
    pc, sc, ses = d.get("prefix_class"), d.get("scorer", ""), d.get("session")
    age, out, cu = d.get("snapshot_age", 0.0), d.get("output_tokens"), d.get("commit_updates")
    # the common case in one expression (NaN fails every comparison, so it takes the slow path)
    if ((type(t) is float or type(t) is int) and 0 <= t <= MAX_TIME and (type(pt) is int or type(pt) is float)
            and 0 <= pt <= MAX_TOKENS and type(c) is int and (type(rid) is int and -_MAX_KEY <= rid <= _MAX_KEY)
            and (pc is None or (type(pc) is int and -_MAX_KEY <= pc <= _MAX_KEY)) and type(sc) is str
            and len(sc) <= _MAX_STR and (ses is None or (type(ses) is str and len(ses) <= _MAX_STR))
            and (age is None or ((type(age) is float or type(age) is int) and 0 <= age <= MAX_AGE))
            and (out is None or (type(out) is int and 0 <= out <= MAX_TOKENS)) and (cu is None or type(cu) is bool)):
        return None
    return _decision_meta_slow(d)


def _decision_meta_slow(d: dict) -> str | None:
    r = _scalar(d["time"], MAX_TIME) or _scalar(d["prompt_tokens"], MAX_TOKENS)
    if r:
        return r
    if not _key_ok(d["request_id"], False) or not _key_ok(d.get("prefix_class"), True):
        return "wrong_type"
    c = d["chosen"]
    if not isinstance(c, int) or isinstance(c, bool):
        return "wrong_type"
    sc = d.get("scorer", "")
    ses = d.get("session")
    if not isinstance(sc, str) or len(sc) > _MAX_STR or not (ses is None or (isinstance(ses, str) and len(ses) <= _MAX_STR)):
        return "wrong_type"
    cu = d.get("commit_updates")
    if not (cu is None or isinstance(cu, bool)):
        return "wrong_type"
    age = d.get("snapshot_age", 0.0)
    if age is not None:
        r = _scalar(age, MAX_AGE)
        if r:
            return r
    out = d.get("output_tokens")
    if out is not None:
        r = _scalar(out, MAX_TOKENS)
        if r:
            return r
    return None


class RecordValidator:
    """Stateful validator (remembers each instance's last time and counters, the stream
    clock and recent decision ids).

    The stream clock is the latest accepted time. A record more than ``max_skew``
    seconds ahead of it is dropped as ``future`` and does not move the clock — unless
    ``rebase_after`` such records in a row agree with each other (within ``max_skew``),
    which is a genuine jump (a producer restarted on another clock): the last of them is
    accepted and the clock moves. A decision whose ``(request_id, time)`` was seen among
    the last ``dedup`` decisions is dropped as ``duplicate``. Memory is bounded: per
    instance state is O(N) and the id set holds at most ``dedup`` entries.
    """

    def __init__(self, n_instances: int | None = None, gap_s: float = 5.0, max_skew: float = 3600.0,
                 rebase_after: int = 1000, dedup: int = 65_536):
        self.n = n_instances
        self.gap_s = gap_s
        self.max_skew = max_skew
        self.rebase_after = rebase_after
        self.counts: Counter[str] = Counter()      # drops, by reason
        self.note_counts: Counter[str] = Counter()  # accepted records with a note, by note
        self.accepted = 0
        self.clock = -math.inf
        self._future: list[float] = []
        self._last_time: dict[int, float] = {}
        self._last_counters: dict[int, dict[str, float]] = {}
        self._last_decision_time = -math.inf
        self._seen: OrderedDict = OrderedDict()
        self._dedup = dedup
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
        try:
            if kind == "snapshot":
                return self._snapshot(raw)
            if kind == "decision":
                return self._decision(raw)
        except (TypeError, ValueError, OverflowError, RecursionError):  # a type no explicit check foresaw
            return self._bad("wrong_type")
        if kind in ("unparsable", "non_utf8", "too_long", "empty_line"):
            return self._bad(kind)
        return self._bad("unknown_kind")

    def _known_instance(self, i) -> bool:
        return isinstance(i, int) and not isinstance(i, bool) and i >= 0 and (self.n is None or i < self.n)

    def _clock_ok(self, t: float) -> bool:
        """False (and counted as ``future``) when ``t`` is too far ahead of the stream clock."""
        if t <= self.clock + self.max_skew or self.clock == -math.inf:
            self._future.clear()
            return True
        f = self._future
        if f and abs(t - f[-1]) > self.max_skew:
            f.clear()
        f.append(t)
        if len(f) >= self.rebase_after:
            f.clear()
            self.note_counts["clock_jump"] += 1
            self.notes.add("clock_jump")
            return True
        self.counts["future"] += 1
        return False

    def _snapshot(self, d: dict):
        for f in _SNAP_REQUIRED:
            if f not in d or d[f] is None:
                return self._bad("missing_field")
        for k, bound in _SNAP_BOUNDS.items():
            v = d.get(k)
            if v is not None:
                r = _scalar(v, bound)
                if r:
                    return self._bad(r)
        st = d.get("stale", False)
        if not isinstance(st, bool):
            return self._bad("wrong_type")
        if not self._known_instance(d["instance"]):
            return self._bad("unknown_instance")
        i, t = d["instance"], float(d["time"])
        last = self._last_time.get(i)
        if last is not None:
            if t < last:
                return self._bad("out_of_order")
            if t == last:
                return self._bad("duplicate")
        if not self._clock_ok(t):
            return None
        if last is not None and t - last > self.gap_s:
            self.note_counts["gap"] += 1
            self.notes.add("gap")
        prev = self._last_counters.get(i, {})
        for c in _SNAP_COUNTERS:
            if c in d and c in prev and d[c] is not None and d[c] < prev[c]:
                self.note_counts["counter_reset"] += 1
                self.notes.add("counter_reset")
                break
        self._last_time[i] = t
        self.clock = max(self.clock, t)
        self._last_counters[i] = {c: d[c] for c in _SNAP_COUNTERS if d.get(c) is not None}
        self.accepted += 1
        return InstanceSnapshot.from_dict({k: v for k, v in d.items() if v is not None})

    def _indicators(self, d: dict):
        """``(reason, None)`` or ``(None, (indicator array, scores array or None))``."""
        ind = [d["cached_tokens"], d["queued_prefill_tokens"], d["batch_size"]]  # _DEC_INDICATORS
        scores = d.get("scores") or []
        if not (isinstance(ind[0], list) and isinstance(ind[1], list) and isinstance(ind[2], list)
                and isinstance(scores, list)):
            return "non_numeric", None
        n = len(ind[0])
        if n == 0 or len(ind[1]) != n or len(ind[2]) != n or (scores and len(scores) != n) or (
                self.n is not None and n != self.n):
            return "bad_lengths", None
        for lst, bound in zip(ind, _IND_BOUNDS):  # builtins over short lists beat numpy here; bools count as numbers
            try:
                total = sum(lst)  # TypeError for anything but numbers (strings, lists, objects, null)
                if not math.isfinite(total):
                    return "nan", None
            except TypeError:
                return "non_numeric", None
            except OverflowError:
                return "out_of_range", None
            if min(lst) < 0:
                return "negative", None
            if max(lst) > bound:
                return "out_of_range", None
        sc = None
        if scores:  # scores may be negative (max-score rules) or inf (excluded), never NaN
            try:
                total = sum(scores)  # TypeError for anything but numbers
                sc = np.array(scores, dtype=float)
            except TypeError:
                return "non_numeric", None
            except OverflowError:
                return "out_of_range", None
            # a NaN score makes the sum NaN; a NaN sum without one (inf + -inf) is looked at closely
            if total != total and np.isnan(sc).any():
                return "nan", None
        return None, (np.array(ind, dtype=float), sc)

    def _decision_time(self, d: dict) -> str | None:
        """Drop reason from the decision's time and id (out of order, duplicate, future)."""
        t = float(d["time"])
        if t < self._last_decision_time:
            return "out_of_order"
        key = (d["request_id"], t)
        if key in self._seen:
            return "duplicate"
        if not self._clock_ok(t):
            return "future"
        return None

    def _decision_time_quick(self, d: dict) -> bool:
        """:meth:`_decision_time` finds nothing (no side effects; the common case)."""
        t = float(d["time"])
        return t >= self._last_decision_time and (t <= self.clock + self.max_skew or self.clock == -math.inf) and (
            d["request_id"], t) not in self._seen

    def _accept_decision(self, d: dict) -> None:
        t = float(d["time"])
        self._last_decision_time = t
        self.clock = max(self.clock, t)
        self._seen[(d["request_id"], t)] = None
        if len(self._seen) > self._dedup:
            self._seen.popitem(last=False)
        self.accepted += 1

    def _decision(self, d: dict):
        for f in _DEC_REQUIRED:
            if f not in d or d[f] is None:
                return self._bad("missing_field")
        reason, arrays = self._indicators(d)
        if reason:
            return self._bad(reason)
        reason = _decision_meta(d)
        if reason:
            return self._bad(reason)
        arr, sc = arrays
        if not 0 <= d["chosen"] < arr.shape[1]:
            return self._bad("unknown_instance")
        reason = self._decision_time(d)
        if reason:
            return None if reason == "future" else self._bad(reason)
        self._accept_decision(d)
        rec = decision_record(d)
        self.view = DecisionView(rec, arr[0], arr[1], arr[2], sc)
        return rec

    # ------------------------------------------------------------------ batch path
    def _pair(self, d):
        rec = self.check(d)
        return None if rec is None else (rec, self.view)

    def _run_keys(self, dicts: list, bad: np.ndarray, times: np.ndarray, n: int, no_scores: bool) -> list | None:
        """The run's ``(request_id, time)`` keys when every record passes every check the
        record loop of :meth:`check_decisions` makes — the vectorised bounds (``bad``),
        :func:`_decision_meta` column by column, the pick's range, the time order, the
        clock skew and the duplicates — so that accepting them in bulk leaves the state
        accepting them one by one would; otherwise ``None`` (the loop decides)."""
        if bad.any() or (no_scores and any(d.get("scores") for d in dicts)):
            return None
        col = [d["time"] for d in dicts]
        if not _types_in(col, _NUMS) or not _types_in([d["prompt_tokens"] for d in dicts], _NUMS):
            return None  # (their bounds are in ``bad``)
        col = [d["chosen"] for d in dicts]
        if not _types_in(col, _INT) or min(col) < 0 or max(col) >= n:
            return None
        rids = [d["request_id"] for d in dicts]
        col = [d.get("prefix_class") for d in dicts]
        if not _keys_ok(rids, False) or not _keys_ok(col, True):
            return None
        col = [d.get("scorer", "") for d in dicts]
        if not _types_in(col, _STR) or max(map(len, col)) > _MAX_STR:
            return None
        col = [d.get("session") for d in dicts]
        if not _types_in(col, _STR_NONE) or max(len(v) if v is not None else 0 for v in col) > _MAX_STR:
            return None
        col = [d.get("snapshot_age", 0.0) for d in dicts]
        if not _types_in(col, _NUMS_NONE):
            return None
        ages = np.array([v for v in col if v is not None], dtype=float)
        if not ((ages >= 0) & (ages <= MAX_AGE)).all():  # a NaN fails both
            return None
        col = [d.get("output_tokens") for d in dicts]
        if not _types_in(col, _INT_NONE):
            return None
        col = [v for v in col if v is not None]
        if col and (min(col) < 0 or max(col) > MAX_TOKENS):
            return None
        if not _types_in([d.get("commit_updates") for d in dicts], _BOOL_NONE):
            return None
        # time: non-decreasing from the last decision, each within max_skew of the clock before it
        if times[0] < self._last_decision_time or (len(times) > 1 and (np.diff(times) < 0).any()):
            return None
        before = np.maximum.accumulate(np.concatenate(([self.clock], times[:-1])))
        if not ((times <= before + self.max_skew) | (before == -math.inf)).all():
            return None
        keys = list(zip(rids, times.tolist()))
        if len(set(keys)) < len(keys) or not self._seen.keys().isdisjoint(keys):
            return None
        return keys

    def check_decisions(self, dicts: list) -> tuple[list, DecisionBatch | None]:
        """Validate a run of decision dicts at once; same verdicts and counts as calling
        :meth:`check` on each in order. Returns ``(pairs, batch)``: ``pairs[i]`` is
        ``(record, view)`` or ``None``; ``batch`` holds the accepted rows as 2-D arrays
        (``None`` when the run had to be checked record by record).

        The indicator lists of the whole run go through one flat ``np.array`` (a shape
        or type surprise anywhere sends the run to the per-record path); a record that
        any vectorised or scalar check doubts is re-checked by :meth:`check`, which
        counts its precise reason."""
        try:
            flat: list = []
            first = dicts[0].get("cached_tokens") if dicts and type(dicts[0]) is dict else None
            n = len(first) if type(first) is list else 0  # (a first record without the field: no KeyError)
            for d in dicts:
                # (a None time or prompt_tokens fails the meta array below; a None id or pick the checks
                # of the record loop, which send the record to check() for its missing_field)
                if type(d) is not dict or d.get("kind") != "decision" or not _REQ_KEYS <= d.keys():
                    raise ValueError("structure")
                c, q, b = d["cached_tokens"], d["queued_prefill_tokens"], d["batch_size"]
                if type(c) is not list or type(q) is not list or type(b) is not list or not (
                        len(c) == len(q) == len(b) == n):
                    raise ValueError("shape")
                flat += c
                flat += q
                flat += b
            arr = np.array(flat)
            meta = np.array([[d["time"], d["prompt_tokens"]] for d in dicts])
            if n == 0 or arr.ndim != 1 or arr.dtype.kind not in "iuf" or meta.dtype.kind not in "iuf" or (
                    meta.ndim != 2) or (self.n is not None and n != self.n):
                raise ValueError("shape")
        except (ValueError, TypeError):
            return [self._pair(d) for d in dicts], None
        arr = arr.reshape(len(dicts), 3, n).astype(float)
        meta = meta.astype(float)
        bad = ~np.isfinite(arr).all(axis=(1, 2)) | ~np.isfinite(meta).all(axis=1) | (arr < 0).any(axis=(1, 2)) | (
            meta < 0).any(axis=1)
        cached, q, bs = arr[:, 0, :], arr[:, 1, :], arr[:, 2, :]
        p = np.maximum(meta[:, 1:2] - cached, 1.0)
        x = q + p
        y = bs + 1.0
        scores_all = None
        try:  # the common case: every record carries n numeric scores
            sc_arr = np.array([d.get("scores") for d in dicts])
            if sc_arr.ndim == 2 and sc_arr.shape[1] == n and sc_arr.dtype.kind in "iuf":
                scores_all = sc_arr.astype(float)
                bad = bad | np.isnan(scores_all).any(axis=1)
        except (ValueError, TypeError):
            pass
        bad = bad | (arr > np.array(_IND_BOUNDS)[None, :, None]).any(axis=(1, 2)) | (meta[:, 0] > MAX_TIME) | (
            meta[:, 1] > MAX_TOKENS)
        src = (cached, q, bs, p, x, y, scores_all)  # read by the row views (_RowView) when asked
        no_scores = scores_all is None
        seen, dedup = self._seen, self._dedup
        times = meta[:, 0]
        try:
            keys = self._run_keys(dicts, bad, times, n, no_scores)
        except (OverflowError, TypeError, ValueError):  # e.g. an age too large for a float: the loop counts it
            keys = None
        if keys is not None:  # every record passes: accepted in bulk (as the loop below would, one by one)
            self._last_decision_time = keys[-1][1]
            if keys[-1][1] > self.clock:
                self.clock = keys[-1][1]
            self._future.clear()  # (as _clock_ok on an accepted record: future records in a row restart)
            seen.update(dict.fromkeys(keys))
            for _ in range(len(seen) - dedup):
                seen.popitem(last=False)
            self.accepted += len(keys)
            pairs = []
            for i, d in enumerate(dicts):
                v = _new(_RowView)
                v._src, v._i, v.memo = src, i, None
                pairs.append((decision_record(d), v))
            return pairs, DecisionBatch(cached, q, bs, p, x, y, scores_all)
        seen, dedup = self._seen, self._dedup
        skew = self.max_skew
        pairs = []
        keep: list[int] = []
        for i, (d, is_bad) in enumerate(zip(dicts, bad.tolist())):
            t = float(d["time"])
            c = d["chosen"]
            if is_bad or (no_scores and d.get("scores")) or _decision_meta(d) or not (0 <= c < n) or (
                    t < self._last_decision_time) or not (t <= self.clock + skew or self.clock == -math.inf) or (
                    d["request_id"], t) in seen:
                self.notes = set()
                pr = self._pair(d)  # the slow path counts the precise reason
                pairs.append(pr)
                if pr is not None:
                    keep.append(i)
                continue
            # accepted (as _accept_decision)
            self._future.clear()
            self._last_decision_time = t
            if t > self.clock:
                self.clock = t
            seen[(d["request_id"], t)] = None
            if len(seen) > dedup:
                seen.popitem(last=False)
            self.accepted += 1
            v = _new(_RowView)
            v._src, v._i, v.memo = src, i, None
            pairs.append((decision_record(d), v))
            keep.append(i)
        if len(keep) == len(dicts):
            return pairs, DecisionBatch(cached, q, bs, p, x, y, scores_all)
        k = np.array(keep, dtype=int)
        return pairs, DecisionBatch(cached[k], q[k], bs[k], p[k], x[k], y[k],
                                    None if scores_all is None else scores_all[k])
