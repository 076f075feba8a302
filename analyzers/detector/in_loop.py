"""The regime monitor attached to one router for the length of a run (``lmetric simulate
--detector watch|act``).

A :class:`DetectorLoop` owns a :class:`~.monitor.RegimeMonitor` sized for the run (its
instances, the engine's step token budget) and is the run's telemetry callback: every
snapshot and decision goes through :meth:`~.monitor.RegimeMonitor.process`, one record
at a time, as a live sidecar would see them. Modes:

* ``watch`` — the monitor only: transitions are logged, the router is never touched;
* ``act`` — the monitor with a :class:`~.policy.MitigationPolicy` that switches the
  router live (the same wiring as :func:`~.closed_loop.run_closed_loop`).

In both modes the divergence detector judges the router's own product family when the
router runs one (``lmetric``, ``lmetric-noqueue``, ``lmetric-plain``), else the
reference product, so ``watch`` and ``act`` see the same evidence until the first
action changes the routing.

:attr:`DetectorLoop.events` is the log in causal order: after each record, the
transitions it caused, then the actions the policy took on them; both carry the record's
time, so the log is time-ordered. :func:`detector_summary` condenses it (pure).

>>> import numpy as np
>>> from analyzers.router.router import Router
>>> loop = DetectorLoop("watch", Router("lmetric", rng=np.random.default_rng(0)), n_instances=2)
>>> loop.feed({"kind": "snapshot", "time": 0.0, "instance": 0, "num_running": 1, "num_waiting": 0, "kv_usage": 0.1})
>>> s = loop.summary()
>>> s["mode"], s["decisions"], s["transitions"], s["actions"], s["final_scorer"]
('watch', 0, {}, 0, 'lmetric')
"""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Mapping

from analyzers.router.router import Router

from .monitor import RegimeMonitor
from .policy import MitigationPolicy

__all__ = ["DETECTOR_MODES", "DetectorLoop", "detector_summary"]

DETECTOR_MODES = ("off", "watch", "act")
FAMILIES = ("lmetric", "lmetric-noqueue", "lmetric-plain")  # the product rules the divergence detector can judge


class DetectorLoop:
    """One run's monitor (and, with ``mode="act"``, its policy over ``router``).

    ``budget``: the engine's step token budget (``max_num_batched_tokens``), which the
    divergence detector's cost model needs."""

    def __init__(self, mode: str, router: Router, n_instances: int, *, budget: int = 4096):
        if mode not in DETECTOR_MODES[1:]:
            raise ValueError(f"detector mode must be watch or act, got {mode!r}")
        self.mode = mode
        self.router = router
        self.base_scorer = router.name
        policy = MitigationPolicy(router) if mode == "act" else None
        self.monitor = RegimeMonitor(n_instances, policy=policy, budget=budget)
        div = self.monitor.by_regime.get("divergence")
        if div is not None:  # the same rule in both modes (the monitor sets it only with a policy)
            div.family = router.name if router.name in FAMILIES else "lmetric"
        self.judged = None if div is None else div.family
        self.events: list[dict] = []
        self._actions_seen = 0

    def feed(self, record) -> None:
        """The run's telemetry callback: one snapshot or decision (never raises on bad input)."""
        out = self.monitor.process(record)
        if out:
            self.events.extend(tr.to_dict() for tr in out)
        policy = self.monitor.policy
        if policy is not None and len(policy.actions) > self._actions_seen:
            self.events.extend(a.to_dict() for a in policy.actions[self._actions_seen:])
            self._actions_seen = len(policy.actions)

    def summary(self) -> dict:
        """The ``detector`` section of ``summary.json`` (see :func:`detector_summary`)."""
        m = self.monitor
        active = {r: [None if k is None else str(k) for k in keys] for r, keys in m.active().items()}
        return detector_summary(self.mode, self.events, decisions=m.decisions, records=m.records,
                                bad_records=m.bad_records, active=active, judged=self.judged,
                                base_scorer=self.base_scorer, final_scorer=self.router.name,
                                final_params=self.router.params, commit_updates=self.router.commit_updates)


def detector_summary(mode: str, events: Iterable[Mapping], *, decisions: int, records: Mapping[str, int],
                     bad_records: Mapping[str, int], active: Mapping[str, list], judged: str | None,
                     base_scorer: str, final_scorer: str, final_params: Mapping[str, object],
                     commit_updates: bool) -> dict:
    """Counts over an event log: transitions per regime and kind, actions; with the
    monitor's counters and the router's state at the end.

    >>> ev = [{"kind": "transition", "regime": "divergence", "transition": "enter"},
    ...       {"kind": "action", "regime": "divergence"},
    ...       {"kind": "transition", "regime": "divergence", "transition": "exit"}]
    >>> s = detector_summary("act", ev, decisions=9, records={"decision": 9}, bad_records={}, active={},
    ...                      judged="lmetric", base_scorer="lmetric", final_scorer="lmetric", final_params={},
    ...                      commit_updates=True)
    >>> s["transitions"], s["actions"], s["actions_by_regime"]
    ({'divergence': {'enter': 1, 'exit': 1}}, 1, {'divergence': 1})
    """
    trans: dict[str, Counter] = {}
    acts = Counter()
    for ev in events:
        if ev.get("kind") == "transition":
            trans.setdefault(ev["regime"], Counter())[ev["transition"]] += 1
        elif ev.get("kind") == "action":
            acts[ev["regime"]] += 1
    return {
        "mode": mode,
        "decisions": int(decisions),
        "records": {k: int(v) for k, v in sorted(records.items())},
        "bad_records": {k: int(v) for k, v in sorted(bad_records.items())},
        "divergence_judges": judged,
        "transitions": {r: dict(sorted(c.items())) for r, c in sorted(trans.items())},
        "active_at_end": {r: list(keys) for r, keys in sorted(active.items())},
        "actions": int(sum(acts.values())),
        "actions_by_regime": dict(sorted(acts.items())),
        "base_scorer": base_scorer,
        "final_scorer": final_scorer,
        "final_params": dict(final_params),
        "commit_updates_at_end": bool(commit_updates),
    }
