"""The README's main job: the sidecar on an embedded default.

A simulated 16-instance H20 cluster replays 600 s of the bundled Mooncake
conversation trace (replayed 1.5x faster) with an injected hot-prefix burst (requests
sharing a 12K-token template, [150, 350) s) and instance 0 slowing to 0.3x at 100 s.
It runs twice — plain LMetric (the detector only watching) and LMetric with the
detector's fallbacks — and prints the regimes found, the fallbacks applied, and
TTFT/TPOT of both.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import IO

import numpy as np

from analyzers.detector.closed_loop import run_closed_loop
from analyzers.detector.scenarios import Scenario
from analyzers.sim.metrics import summarise
from analyzers.sim.profiles import get_profile
from analyzers.sim.request import BLOCK_SIZE, Request
from analyzers.sim.workloads import bundled_path, load_mooncake, transform

from .text import transition_line

__all__ = ["demo_scenario", "run_demo"]


def demo_scenario(seed: int = 0, window: float = 600.0, scale: float = 1.5) -> Scenario:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    base = transform(load_mooncake(bundled_path("mooncake_conversation")), scale=scale, window=window)
    t0, t1 = 0.25 * window, 0.25 * window + 200.0
    n_hot = int(len(base) / window * (t1 - t0) * 0.6)
    template = list(range(2**40, 2**40 + 12_288 // BLOCK_SIZE))
    hot = []
    for i, t in enumerate(np.sort(rng.uniform(t0, t1, n_hot))):
        own = int(rng.integers(32, 160))
        blocks = template + [2**41 + i * 64 + j for j in range(-(-own // BLOCK_SIZE))]
        hot.append(Request(10**7 + i, float(t), 12_288 + own, int(rng.integers(200, 600)), tuple(blocks), BLOCK_SIZE))
    reqs = sorted(base + hot, key=lambda r: (r.arrival, r.rid))
    reqs = [replace(r, rid=i) for i, r in enumerate(reqs)]
    return Scenario("demo", "Mooncake conversation x1.5 + hot-prefix burst + slow instance", reqs, get_profile("h20"),
                    n_instances=16, labels={"hot_prefix": [(t0, t1)], "heterogeneity": [(window / 6, window)]},
                    speed_changes=((window / 6, 0, 0.3),))


def run_demo(out: IO[str] | None = None, seed: int = 0) -> int:
    out = sys.stdout if out is None else out
    sc = demo_scenario(seed)
    print(f"LMetric sidecar demo: {sc.description}\n{len(sc.requests)} requests on {sc.n_instances} x "
          f"{sc.profile.name}; injected: hot prefix in {sc.labels['hot_prefix'][0]} s, instance 0 at 0.3x "
          f"from {sc.speed_changes[0][0]:.0f} s\n", file=out, flush=True)
    runs = {}
    for mode in ("lmetric", "detector"):
        print(f"running {'plain LMetric (detector watching)' if mode == 'lmetric' else 'LMetric + detector fallbacks'} ...",
              file=out, flush=True)
        runs[mode] = run_closed_loop(sc, mode, seed=seed)
    mon = runs["detector"].monitor
    print("\nRegimes found (LMetric + detector):", file=out)
    if not mon.transitions:
        print("  none", file=out)
    for tr in mon.transitions:
        print("  " + transition_line(tr), file=out)
    print("\nFallbacks applied:", file=out)
    if not mon.policy.actions:
        print("  none", file=out)
    for a in mon.policy.actions:
        print(f"  {a.time:8.1f}s  {a.regime:<17} {a.action}", file=out)
    bad = ", ".join(f"{k} {v}" for k, v in sorted(mon.bad_records.items())) or "none"
    print(f"\nTelemetry: {sum(mon.records.values()):,} records, dropped: {bad}", file=out)
    print(f"\n{'':<34}{'TTFT mean':>10}{'TTFT p99':>10}{'TPOT mean':>11}{'TPOT p99':>10}", file=out)
    for mode, label in (("lmetric", "LMetric (no mitigation)"), ("detector", "LMetric + detector (mitigated)")):
        s = summarise(runs[mode].result.results, runs[mode].result.makespan)
        print(f"{label:<34}{s.ttft.mean:>9.3f}s{s.ttft.p99:>9.3f}s{s.tpot.mean * 1000:>9.1f}ms{s.tpot.p99 * 1000:>8.1f}ms",
              file=out)
    return 0
