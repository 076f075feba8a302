"""Simulations as executor tasks: a :class:`SimConfig` as plain data and back, and the
task function that runs one and returns its summary as JSON data.

>>> cfg = SimConfig(workload="api", instances=2, profile="h100", limit=60, telemetry_interval=None)
>>> config_from_dict(config_to_dict(cfg)) == cfg
True
>>> row = sim_summary(config_to_dict(cfg), quantiles=3)
>>> row["summary"]["requests"], len(row["ttft_quantiles"])
(60, 3)
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any, Mapping

import numpy as np

from analyzers.runs.tasks import Task

from .metrics import per_instance, summarise
from .profiles import Profile
from .runner import SimConfig, run_simulation

__all__ = ["config_to_dict", "config_from_dict", "sim_summary", "sim_task"]


def config_to_dict(cfg: SimConfig) -> dict[str, Any]:
    """Plain JSON data of ``cfg`` (the custom profile as its fields)."""
    d = asdict(cfg)
    d["profile_overrides"] = dict(cfg.profile_overrides)
    d["params"] = dict(cfg.params)
    d["speeds"] = None if cfg.speeds is None else list(cfg.speeds)
    d["shadow"] = list(cfg.shadow)
    return d


def config_from_dict(d: Mapping[str, Any]) -> SimConfig:
    known = {f.name for f in fields(SimConfig)}
    bad = set(d) - known
    if bad:
        raise ValueError(f"unknown SimConfig field(s): {', '.join(sorted(bad))}")
    kw = dict(d)
    if kw.get("custom_profile") is not None:
        kw["custom_profile"] = Profile(**kw["custom_profile"])
    if kw.get("speeds") is not None:
        kw["speeds"] = tuple(kw["speeds"])
    if "shadow" in kw:
        kw["shadow"] = tuple(kw["shadow"])
    return SimConfig(**kw)


def _quantiles(values, n: int) -> list[float]:
    v = np.asarray([x for x in values if x is not None], float)
    if n <= 0 or v.size == 0:
        return []
    return [float(x) for x in np.quantile(v, (np.arange(n) + 0.5) / n)]


def sim_summary(config: Mapping[str, Any], quantiles: int = 0, slo_ttft: float = 2.0, slo_tpot: float = 0.1,
                instances: bool = False) -> dict[str, Any]:
    """Run one simulation; its summary (and ``quantiles`` evenly spaced TTFT/TPOT quantiles
    for CDF plots, per-instance rows when ``instances``) as JSON data."""
    cfg = config_from_dict(config)
    res = run_simulation(cfg)
    s = summarise(res.results, res.makespan, slo_ttft, slo_tpot)
    done = [r for r in res.results if r.finish is not None]
    out = {"summary": s.to_dict(), "makespan": res.makespan, "sim_steps": res.sim_steps, "wall_seconds": res.wall_seconds,
           "ttft_quantiles": _quantiles([r.ttft for r in done], quantiles),
           "tpot_quantiles": _quantiles([r.tpot for r in done], quantiles),
           "arrival_span": max((r.arrival for r in res.results), default=0.0)}
    if instances:
        out["per_instance"] = per_instance(res.results, res.n_instances)
    return out


def sim_task(cfg: SimConfig, label: str = "", **kw) -> Task:
    """The executor task running ``cfg`` through :func:`sim_summary`."""
    return Task("analyzers.sim.tasks:sim_summary", {"config": config_to_dict(cfg), **kw}, label=label)
