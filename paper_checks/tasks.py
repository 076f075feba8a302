"""Executor task functions of the study that are not plain simulations (JSON in, JSON out).

* :func:`regime_shares` — replay a workload with the regime monitor watching (not
  acting) and return the share of routing decisions made while each regime was flagged.
* :func:`detection_margin` — on a labelled scenario, when the regime was first flagged
  and how much P99 TTFT had degraded by then (against the 100 s before the regime).

>>> out = regime_shares("api", "h20", 1.0, window=None, seed=0, instances=4, limit=200)
>>> out["decisions"], sorted(out["shares"]) == sorted(REGIMES)
(200, True)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from analyzers.detector.closed_loop import run_closed_loop
from analyzers.detector.evaluate import REGIMES, _intervals
from analyzers.detector.scenarios import Scenario, build_scenario
from analyzers.sim.profiles import get_profile
from analyzers.sim.runner import SimConfig, build_workload

__all__ = ["regime_shares", "detection_margin", "REGIMES"]


def _inside(times: np.ndarray, ivs) -> np.ndarray:
    m = np.zeros(times.shape, bool)
    for a, b in ivs:
        m |= (times >= a) & (times < b)
    return m


def regime_shares(workload: str, profile: str, scale: float, window: float | None, seed: int, instances: int = 16,
                  limit: int | None = None) -> dict:
    """Share of decisions inside each regime's flagged intervals (LMetric routing, monitor watching)."""
    reqs = build_workload(SimConfig(workload=workload, profile=profile, scale=scale, window=window, seed=seed,
                                    limit=limit))
    sc = Scenario(workload, "replay", reqs, get_profile(profile), n_instances=instances)
    run = run_closed_loop(sc, "lmetric", seed=seed)
    times = np.array(sorted(r.arrival for r in run.result.results if not r.rejected))
    end = float(times.max()) + 1.0 if times.size else 0.0
    shares = {reg: (float(_inside(times, _intervals(run, reg, end)).mean()) if times.size else 0.0) for reg in REGIMES}
    return {"decisions": int(times.size), "shares": shares}


def _p99(v) -> float | None:
    return float(np.percentile(v, 99)) if len(v) else None


def detection_margin(scenario: str, seed: int, cutoff: float | None = None, baseline_s: float = 100.0) -> dict:
    """First flag of the scenario's labelled regime and the P99 TTFT degradation before it.

    ``degradation = P99 TTFT(arrivals in [start, detected)) / P99 TTFT(arrivals in
    [start - baseline_s, start)) - 1`` (0 when nothing arrived before the flag); an
    undetected regime counts its whole labelled interval. ``unmitigated`` is the same
    ratio over the whole interval (what the regime does if nothing reacts). The router
    runs the scenario's scorer with the monitor watching, not acting. ``cutoff`` keeps
    arrivals before that time (a shorter scenario)."""
    sc = build_scenario(scenario, seed=seed)
    regime, ivs = next(iter(sc.labels.items()))
    a, b = ivs[0]
    if cutoff is not None:
        sc = replace(sc, requests=[r for r in sc.requests if r.arrival < cutoff])
        b = min(b, cutoff)
    run = run_closed_loop(sc, "lmetric", seed=seed)
    done = [r for r in run.result.results if r.ttft is not None]
    arr = np.array([r.arrival for r in done])
    ttft = np.array([r.ttft for r in done])
    end = float(arr.max()) + 1.0 if arr.size else b
    flagged = _intervals(run, regime, end)
    if any(s <= a < e for s, e in flagged):
        det = a
    else:
        det = next((s for s, _ in flagged if a <= s < b), None)
    stop = b if det is None else det
    base = _p99(ttft[(arr >= a - baseline_s) & (arr < a)])
    before = ttft[(arr >= a) & (arr < stop)]
    whole = _p99(ttft[(arr >= a) & (arr < b)])
    deg = (_p99(before) / base - 1.0) if (before.size and base) else 0.0
    return {"scenario": scenario, "regime": regime, "label": [a, b], "detected_at": det,
            "delay_s": None if det is None else det - a, "p99_baseline": base, "p99_before_detection": _p99(before),
            "arrivals_before_detection": int(before.size), "degradation": deg,
            "unmitigated": (whole / base - 1.0) if (whole is not None and base) else None}
