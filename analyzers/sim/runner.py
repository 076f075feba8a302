"""One simulation from a plain configuration: workload + cluster + router.

>>> cfg = SimConfig(workload="api", instances=4, profile="h100", scorer="lmetric", limit=200, telemetry_interval=None)
>>> res = run_simulation(cfg)
>>> len(res.results), res.scorer
(200, 'lmetric')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from analyzers.router.router import Router

from .cluster import Cluster, SimResult
from .profiles import Profile, get_profile
from .workloads import load_workload

__all__ = ["SimConfig", "run_simulation", "build_workload"]


@dataclass(frozen=True)
class SimConfig:
    workload: str = "mooncake-conversation"
    trace: str | None = None
    instances: int = 16
    profile: str = "h20"
    profile_overrides: Mapping[str, float] = field(default_factory=dict)
    scorer: str = "lmetric"
    params: Mapping[str, object] = field(default_factory=dict)
    scale: float = 1.0
    window: float | None = None
    limit: int | None = None
    seed: int = 0
    snapshot_interval: float | None = None
    telemetry_interval: float | None = 1.0
    speeds: tuple[float, ...] | None = None
    commit_updates: bool = True
    shadow: tuple[str, ...] = ()
    custom_profile: Profile | None = None


def build_workload(cfg: SimConfig):
    """The request list of ``cfg`` (generators seeded from ``cfg.seed``)."""
    rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 1]))
    return load_workload(None if cfg.trace else cfg.workload, rng, trace=cfg.trace, scale=cfg.scale,
                         window=cfg.window, limit=cfg.limit)


def run_simulation(cfg: SimConfig, requests=None, on_progress: Callable[[int], None] | None = None,
                   attach: Callable[[Router, Profile], Callable[[object], None] | None] | None = None) -> SimResult:
    """Run ``cfg``; ``requests`` may be passed to reuse a loaded workload. ``attach``
    (optional) is called with the run's router and profile before the run starts and
    returns a callback that receives every snapshot and decision as it is produced
    (e.g. :meth:`analyzers.detector.in_loop.DetectorLoop.feed`, which may switch the
    router live)."""
    if cfg.instances < 1:
        raise ValueError("--instances must be at least 1")
    if cfg.custom_profile is not None:
        profile = cfg.custom_profile.with_overrides(**dict(cfg.profile_overrides)) if cfg.profile_overrides else cfg.custom_profile
    else:
        profile = get_profile(cfg.profile, **dict(cfg.profile_overrides))
    reqs = build_workload(cfg) if requests is None else requests
    params = dict(cfg.params)
    if cfg.scorer == "predicted-ttft":  # the step model's constants are the simulated profile's unless given
        for name, v in (("t0", profile.t0), ("w", profile.w), ("k", profile.k), ("a_p", profile.a_p),
                        ("a_d", profile.a_d), ("chunk", float(profile.max_num_batched_tokens))):
            params.setdefault(name, v)
    router = Router(cfg.scorer, params, rng=np.random.default_rng(np.random.SeedSequence([cfg.seed, 2])),
                    commit_updates=cfg.commit_updates, shadow=cfg.shadow)
    cluster = Cluster(cfg.instances, profile, speeds=cfg.speeds)
    scorer, params = router.name, dict(router.params)  # as configured (an attached policy may switch them)
    on_telemetry = None if attach is None else attach(router, profile)
    res = cluster.run(reqs, router, snapshot_interval=cfg.snapshot_interval, telemetry_interval=cfg.telemetry_interval,
                      on_progress=on_progress, on_telemetry=on_telemetry)
    res.scorer = scorer
    res.config.update({"workload": cfg.trace or cfg.workload, "scale": cfg.scale, "seed": cfg.seed,
                       "params": params, "instances": cfg.instances, "profile": profile.name})
    return res
