"""The online regime monitor: validation -> detectors -> mitigation policy.

``process(raw)`` takes one telemetry record (a parsed JSON object or a record
object), never raises on bad input, and returns the regime transitions it caused.
``state()`` is the JSON behind the sidecar's ``/regimes``; the counters feed
``/metrics``.

>>> m = RegimeMonitor(n_instances=2)
>>> m.process({"kind": "snapshot", "time": 0.0, "instance": 0, "num_running": 1, "num_waiting": 0, "kv_usage": 0.1})
[]
>>> m.process({"kind": "snapshot", "time": "soon"}), m.bad_records["missing_field"]
([], 1)
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence

import numpy as np

from analyzers.telemetry.schema import RoutingDecision

from .policy import MitigationPolicy
from .regimes import RegimeDetector, Transition, default_detectors
from .validate import RecordValidator

__all__ = ["RegimeMonitor"]


class RegimeMonitor:
    def __init__(self, n_instances: int, detectors: Sequence[RegimeDetector] | None = None,
                 policy: MitigationPolicy | None = None, budget: int = 4096, gap_s: float = 5.0):
        self.n = n_instances
        self.validator = RecordValidator(n_instances, gap_s=gap_s)
        self.detectors = list(default_detectors(n_instances, budget=budget) if detectors is None else detectors)
        self.by_regime = {d.regime: d for d in self.detectors}
        self.policy = policy
        div = self.by_regime.get("divergence")
        if policy is not None and div is not None:  # judge the router's own rule, also while a fallback runs
            div.family = policy.base[0] if policy.base[0] in ("lmetric", "lmetric-noqueue", "lmetric-plain") else "lmetric"
        self.records = Counter()
        self.transitions: list[Transition] = []
        self.transition_counts = Counter()
        self.decisions = 0
        self.margin_sum = 0.0
        self.last_margin = 0.0
        self.last_time = 0.0

    @property
    def bad_records(self) -> Counter:
        """Dropped records by reason."""
        return self.validator.counts

    @property
    def notes(self) -> Counter:
        """Accepted records that carried a note (``gap``, ``counter_reset``, ``clock_jump``)."""
        return self.validator.note_counts

    def process(self, raw) -> list[Transition]:
        rec = self.validator.check(raw)
        if rec is None:
            self.records["bad"] += 1
            return []
        notes = self.validator.notes
        self.records[rec.kind] += 1
        view = self.validator.view
        self.last_time = max(self.last_time, rec.time)
        if isinstance(rec, RoutingDecision):
            self.decisions += 1
            sc = rec.scores  # validated: numbers, no NaN (builtins beat numpy on one short list)
            if len(sc) > 1:
                s = sorted(sc)  # stable: s[0] is min(sc), s[1] the minimum of the others
                if s[0] > -math.inf and s[-1] < math.inf:
                    self.last_margin = float(s[1]) - float(s[0])  # runner-up minus best, as floats
                    self.margin_sum += self.last_margin
        out: list[Transition] = []
        for d in self.detectors:
            tr = d.update(rec, notes, view)
            if tr:
                out.extend(tr)
        return self._record(out)

    def _record(self, out: list[Transition]) -> list[Transition]:
        """Log transitions, count them, and let the policy act on them."""
        if out:
            self.transitions.extend(out)
            for tr in out:
                self.transition_counts[(tr.regime, tr.kind)] += 1
        if self.policy is not None:
            self.policy.apply(out, self.by_regime)
        return out

    def process_many(self, raws: list, batch_size: int = 512) -> list[Transition]:
        """Process records in order, decisions in vectorised runs of up to ``batch_size``.

        Equivalent to calling :meth:`process` on each record (the same verdicts, counts,
        transitions and detector state; tested), except that the policy acts once per run
        (so a fallback starts at most one run later) and the divergence detector reads the
        expected output lengths, its exchange rate ``lambda*`` and calibrated coefficients
        as they were at the start of a run (one at a time refreshes the last two every 64
        decisions) and sums its shadow mean costs over the run (equal within rounding)."""
        out: list[Transition] = []
        i = 0
        while i < len(raws):
            j = i
            while j < len(raws) and j - i < batch_size and isinstance(raws[j], dict) and raws[j].get("kind") == "decision":
                j += 1
            if j - i < 8:  # short runs: the per-record path
                for raw in raws[i:max(j, i + 1)]:
                    out.extend(self.process(raw))
                i = max(j, i + 1)
                continue
            out.extend(self._decision_run(raws[i:j]))
            i = j
        return out

    def _decision_run(self, dicts: list) -> list[Transition]:
        pairs, batch = self.validator.check_decisions(dicts)
        valid = [pr for pr in pairs if pr is not None]
        if len(valid) < len(pairs):  # (no "bad": 0 entry in the counts: the state equals one at a time)
            self.records["bad"] += len(pairs) - len(valid)
        if not valid:
            return []
        recs = [r for r, _ in valid]
        views = [v for _, v in valid]
        self.records["decision"] += len(recs)
        self.decisions += len(recs)
        self.last_time = max(self.last_time, recs[-1].time)
        if batch is not None and batch.scores is not None:  # every row scored: the rows of the views below
            scored = [batch.scores] if batch.scores.shape[1] > 1 else []
        else:
            scored = [v.scores for v in views if v.scores is not None and v.scores.size > 1]
        if scored and len({s.shape[-1] for s in scored}) == 1:
            sc = np.vstack(scored)
            sc = sc[np.isfinite(sc).all(axis=1)]
            if sc.size:
                two = np.partition(sc, 1, axis=1)
                margins = two[:, 1] - two[:, 0]
                self.last_margin = float(margins[-1])
                self.margin_sum += float(margins.sum())
        out: list[Transition] = []
        for d in self.detectors:
            batch_update = getattr(d, "update_batch", None)
            if batch_update is not None and batch is not None:
                out.extend(batch_update(recs, views, batch))
            else:
                for rec, view in valid:
                    out.extend(d.update(rec, (), view))
        out.sort(key=lambda tr: tr.time)
        return self._record(out)

    def active(self) -> dict[str, list]:
        return {d.regime: d.active_keys for d in self.detectors if d.active}

    def state(self) -> dict:
        """Current regimes with evidence, detector statistics, counters and actions."""
        div = self.by_regime.get("divergence")
        return {
            "time": self.last_time,
            "active": {r: [str(k) for k in keys] for r, keys in self.active().items()},
            "regimes": {d.regime: {"active": d.active, "evidence": d.evidence, "statistic": d.statistics(),
                                   "events": d.events, "positive_events": d.positives} for d in self.detectors},
            "records": dict(self.records), "bad_records": dict(self.bad_records),
            "notes": dict(self.notes),
            "decisions": self.decisions,
            "product_cost_agreement": None if div is None or not self.decisions else
            round(1 - div.disagreements / max(div.events, 1), 4),
            "mean_margin": round(self.margin_sum / self.decisions, 3) if self.decisions else None,
            "actions": [a.to_dict() for a in (self.policy.actions if self.policy else [])][-50:],
            "router": None if self.policy is None else {"scorer": self.policy.router.name,
                                                        "params": dict(self.policy.router.params),
                                                        "commit_updates": self.policy.router.commit_updates,
                                                        "restricted_classes": [str(c) for c in self.policy.router.class_policies]},
        }
