"""Mitigation policy: regime -> fallback inside the router, reverted when it clears.

==================  ==================================================================
regime              action
==================  ==================================================================
hot_prefix          ours: cap the class's holders at (1 + slack) x the others' load;
                    a port router also falls back to the rule the divergence evidence
                    favours, else the reference product (T8: the port's affinity ratio
                    is unbounded, the reference's is not)
hot_prefix_paper    the paper's: exclude the class's holders until Equation 2 holds
divergence          the rule the evidence favours (DivergenceDetector.favoured): the
                    calibrated cost-model rule, the linear rule at T11's lambda*, or
                    (ports) the reference product — whichever has the lowest mean
                    cost-model cost on the recent decisions' shadow picks, if at least
                    ``min_gain`` below the judged rule's; otherwise the regime is
                    reported and the router keeps its rule (re-read every 30 s)
heterogeneity       speed-normalised product with the estimated speeds (T9)
zero_factor         the rule the divergence evidence favours, else the reference product
                    (Q+P)(BS+1), instead of a port (T4)
staleness           commit-time updates on (T10), kept on after the flag exits (it exits
                    because they stopped the herding; off again, it re-enters within
                    a second during a burst — measured)
saturation          alert only: routing cannot add capacity
==================  ==================================================================

Scorer-level fallbacks follow a priority (zero_factor > hot prefix (ports only) >
heterogeneity > divergence); when none is active the base scorer returns. Every action is logged with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzers.router.router import ClassPolicy, Router

from .regimes import Transition

__all__ = ["MitigationPolicy", "Action", "SCORER_PRIORITY"]

SCORER_PRIORITY = ("zero_factor", "hot_prefix", "hot_prefix_paper", "heterogeneity", "divergence")
PORT_SCORERS = ("lmetric-noqueue", "lmetric-plain")


@dataclass(frozen=True)
class Action:
    time: float
    regime: str
    action: str
    reason: str

    def to_dict(self) -> dict:
        return {"kind": "action", "time": self.time, "regime": self.regime, "action": self.action, "reason": self.reason}


class MitigationPolicy:
    """Applies fallbacks to ``router`` as regimes enter and exit.

    ``hot_prefix_from``: which hot-prefix detector acts (``"ours"`` or ``"paper"``);
    ``enabled``: regimes that may act (the others are reported only)."""

    def __init__(self, router: Router, *, hot_prefix_from: str = "ours", slack: float = 0.25,
                 enabled: tuple[str, ...] = ("hot_prefix", "hot_prefix_paper", "divergence", "heterogeneity",
                                             "zero_factor", "staleness")):
        if hot_prefix_from not in ("ours", "paper"):
            raise ValueError("hot_prefix_from must be 'ours' or 'paper'")
        self.router = router
        self.base = (router.name, dict(router.params))
        self.base_commit = router.commit_updates
        self.hot_regime = "hot_prefix" if hot_prefix_from == "ours" else "hot_prefix_paper"
        self.hot_mode = "cap-holders" if hot_prefix_from == "ours" else "exclude-holders"
        self.port = self.base[0] in PORT_SCORERS
        self.slack = slack
        self.enabled = set(enabled)
        self.active: set[str] = set()
        self.actions: list[Action] = []
        self.recheck_s = 30.0   # while divergence lasts, its favoured fallback is re-read this often (seconds)
        self._recheck_at: float | None = None

    def _log(self, t, regime, action, reason):
        self.actions.append(Action(t, regime, action, reason))

    def apply(self, transitions: list[Transition], detectors: dict) -> None:
        """React to transitions; ``detectors`` maps regime name -> detector (for rates and speeds)."""
        for tr in transitions:
            if tr.regime not in self.enabled:
                if tr.regime == "saturation":
                    self._log(tr.time, tr.regime, f"alert ({tr.kind})", tr.reason)
                continue
            if tr.regime in ("hot_prefix", "hot_prefix_paper"):
                if tr.regime != self.hot_regime:
                    continue
                if tr.kind == "enter":
                    self.router.restrict_class(tr.key, ClassPolicy(self.hot_mode, self.slack), reason=tr.reason, time=tr.time)
                    self._log(tr.time, tr.regime, f"restrict class {tr.key}: {self.hot_mode}", tr.reason)
                else:
                    self.router.restrict_class(tr.key, None, reason=tr.reason, time=tr.time)
                    self._log(tr.time, tr.regime, f"lift class {tr.key}", tr.reason)
                if self.port:
                    hot_active = bool(self.router.class_policies)
                    (self.active.add if hot_active else self.active.discard)(tr.regime)
                    self._switch(tr, detectors)
            elif tr.regime == "staleness":
                if tr.kind == "enter":
                    self.router.set_commit_updates(True, reason=tr.reason, time=tr.time)
                    self._log(tr.time, tr.regime, "commit-time updates on", tr.reason)
                else:  # the flag exits *because* the updates stopped the herding: turning them off re-creates it
                    self._log(tr.time, tr.regime, "commit-time updates stay on", tr.reason)
            elif tr.regime in SCORER_PRIORITY:
                (self.active.add if tr.kind == "enter" else self.active.discard)(tr.regime)
                self._switch(tr, detectors)
        if "heterogeneity" in self.active and "heterogeneity" in detectors:
            self.router.speed_estimate = detectors["heterogeneity"].speeds()
        if transitions and "divergence" in self.active and "divergence" in detectors:
            self._recheck_at = transitions[-1].time + self.recheck_s
        elif "divergence" in self.active and "divergence" in detectors and self._recheck_at is not None:
            now = detectors["divergence"].last_time
            if now >= self._recheck_at:  # the favoured fallback may change while the regime lasts
                self._recheck_at = now + self.recheck_s
                self._switch(Transition(now, "divergence", "recheck", reason="evidence re-read"), detectors)

    def _switch(self, tr: Transition, detectors: dict) -> None:
        want = next((r for r in SCORER_PRIORITY if r in self.active), None)
        div = detectors.get("divergence")
        choice = div.favoured() if div is not None and (want == "divergence" or (self.port and want is not None)) else None
        if want in ("zero_factor", "hot_prefix", "hot_prefix_paper"):
            # a port's zero factor (T4) or unbounded affinity (T8): the rule the evidence favours, else the reference
            name, params = choice if self.port and choice is not None else ("lmetric", {})
        elif want == "heterogeneity":
            name, params = "lmetric-speed", {}
            self.router.speed_estimate = detectors["heterogeneity"].speeds()
        elif choice is not None:
            name, params = choice
        else:
            if want == "divergence" and tr.regime == "divergence" and tr.kind == "enter":
                self._log(tr.time, tr.regime, f"keep {self.base[0]}: no fallback costs min_gain less on the recent decisions", tr.reason)
            name, params = self.base
            self.router.speed_estimate = None
        if name != self.router.name or any(_moved(self.router.params.get(k), v) for k, v in params.items()):
            self.router.switch(name, params, reason=f"{tr.regime} {tr.kind}: {tr.reason}", time=tr.time)
            self._log(tr.time, tr.regime, f"scorer -> {name}{params if params else ''}", tr.reason)


def _moved(old, new, rel: float = 0.1) -> bool:
    """A parameter changed enough to re-switch: any change of a non-number, else more
    than ``rel`` relative (calibrated values drift a little on every re-read)."""
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool):
        return abs(new - old) > rel * max(abs(old), abs(new), 1e-12)
    return old != new
