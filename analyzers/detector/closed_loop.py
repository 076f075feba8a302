"""Run the simulator with the detector in the loop: every snapshot and decision feeds
the :class:`~.monitor.RegimeMonitor`, whose policy switches the router live.

>>> from analyzers.detector.scenarios import build_scenario
>>> sc = build_scenario("clean", seed=0)
>>> run = run_closed_loop(replace(sc, requests=sc.requests[:300]), mode="detector")
>>> run.monitor.decisions
300
>>> only = run_closed_loop(replace(sc, requests=sc.requests[:300]), mode="detector", enabled=("staleness",))
>>> sorted(only.monitor.policy.enabled)
['staleness']
"""

from __future__ import annotations

from dataclasses import dataclass, replace  # noqa: F401 (replace is used by the doctest)
from typing import Sequence

import numpy as np

from analyzers.router.router import Router
from analyzers.sim.cluster import Cluster, SimResult

from .monitor import RegimeMonitor
from .policy import MitigationPolicy
from .scenarios import Scenario

__all__ = ["ClosedLoopRun", "run_closed_loop", "MODES", "ACTIONS"]

MODES = ("lmetric", "detector", "paper", "linear")
# the regimes whose actions the policy can enable (its default: every one)
ACTIONS: tuple[str, ...] = tuple(MitigationPolicy.__init__.__kwdefaults__["enabled"])


@dataclass
class ClosedLoopRun:
    scenario: str
    mode: str
    result: SimResult
    monitor: RegimeMonitor | None
    router: Router


def run_closed_loop(sc: Scenario, mode: str = "detector", *, seed: int = 0, lam: float | None = None,
                    telemetry_interval: float = 1.0, scorer: str | None = None,
                    enabled: Sequence[str] | None = None) -> ClosedLoopRun:
    """``mode``: ``lmetric`` (plain, monitor watching but not acting), ``detector`` (our
    hot-prefix detector acts), ``paper`` (the paper's detector acts), ``linear`` (the
    linear rule with ``lam``, no detector). ``scorer`` defaults to the scenario's.
    ``enabled``: the regimes whose actions may run in the acting modes (default: the
    policy's, i.e. all; an ablation passes one), see :class:`~.policy.MitigationPolicy`."""
    scorer = sc.scorer if scorer is None else scorer
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if enabled is not None:
        if mode not in ("detector", "paper"):
            raise ValueError("enabled applies to the acting modes 'detector' and 'paper' only")
        bad = sorted(set(enabled) - set(ACTIONS) - {"saturation"})
        if bad:
            raise ValueError(f"unknown regime(s) {', '.join(bad)} in enabled; known: {', '.join(ACTIONS)}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
    if mode == "linear":
        router = Router("linear", {"lambda": float(lam if lam is not None else 1000.0)}, rng=rng,
                        commit_updates=sc.commit_updates)
    else:
        router = Router(scorer, rng=rng, commit_updates=sc.commit_updates)
    monitor = None
    if mode != "linear":
        policy = None
        if mode in ("detector", "paper"):
            kw = {} if enabled is None else {"enabled": tuple(enabled)}
            policy = MitigationPolicy(router, hot_prefix_from="ours" if mode == "detector" else "paper", **kw)
        monitor = RegimeMonitor(sc.n_instances, policy=policy, budget=sc.profile.max_num_batched_tokens)
    cl = Cluster(sc.n_instances, sc.profile)
    res = cl.run(sc.requests, router, snapshot_interval=sc.snapshot_interval, telemetry_interval=telemetry_interval,
                 record_decisions=False, known_speeds=False, speed_changes=sc.speed_changes,
                 on_telemetry=None if monitor is None else monitor.process)
    return ClosedLoopRun(sc.name, mode, res, monitor, router)
