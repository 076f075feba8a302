"""Simulator speed: requests/s and simulated steps/s.

Targets (issue 3): the whole Mooncake conversation trace (12,031 requests) on 16 H20
instances in under 60 s, and a 100,000-request synthetic API workload in under 120 s,
on one core. Also reports the decode macro-step speed-up as a ratio measured in the
same run (macro steps on vs off on a smaller slice).

    python -m benchmarks.bench_simulator [--quick]
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks._common import parse_args_one_core
from analyzers.router.router import Router
from analyzers.sim.cluster import Cluster
from analyzers.sim.profiles import get_profile
from analyzers.sim.workloads import load_workload


def _run(reqs, scorer="lmetric", n=16, profile="h20", macro=True):
    cl = Cluster(n, get_profile(profile), macro_steps=macro)
    t = time.perf_counter()
    res = cl.run(reqs, Router(scorer, rng=np.random.default_rng(0)), telemetry_interval=None, record_decisions=False)
    return time.perf_counter() - t, res


def main(argv=None) -> int:
    a = parse_args_one_core(__doc__, argv)
    cases = [("mooncake-conversation", None if not a.quick else 2000, 60.0),
             ("api", 100_000 if not a.quick else 10_000, 120.0)]
    print(f"{'workload':<24}{'requests':>10}{'wall s':>9}{'req/s':>10}{'sim steps':>12}{'steps/s':>12}{'target s':>10}  verdict")
    for name, limit, target in cases:
        reqs = load_workload(name, np.random.default_rng(0), limit=limit)
        wall, res = _run(reqs)
        ok = "meets" if wall < target else "MISSES"
        print(f"{name:<24}{len(reqs):>10}{wall:>9.1f}{len(reqs) / wall:>10.0f}{res.sim_steps:>12}"
              f"{res.sim_steps / wall:>12.0f}{target:>10.0f}  {ok}")
    reqs = load_workload("mooncake-conversation", np.random.default_rng(0), limit=1500)
    on, _ = _run(reqs, macro=True)
    off, _ = _run(reqs, macro=False)
    print(f"decode macro steps: {off / on:.2f}x faster than step-by-step on 1,500 Mooncake requests "
          f"({on:.2f} s vs {off:.2f} s, same results)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
