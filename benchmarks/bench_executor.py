"""Executor speed-up: the same batch of simulations with 1 and 2 local worker processes,
and ``lmetric detector evaluate`` (its default profile, ``quick``) wall time with 2 workers.

Targets (issue 11): >= 1.8x with 2 workers; ``detector evaluate`` <= 3 min on 2 cores.
Both need two idle cores to mean anything: the load average is printed with the figures.

    python -m benchmarks.bench_executor [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from analyzers.runs import RunOptions, run_tasks
from analyzers.sim.runner import SimConfig
from analyzers.sim.tasks import sim_task
from benchmarks._common import cpu_model


def _tasks(n: int, limit: int):
    return [sim_task(SimConfig(workload="api", instances=8, profile="h20", scale=2.0, limit=limit, seed=s,
                               telemetry_interval=None), label=f"api s{s}") for s in range(n)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs (a smoke run)")
    ap.add_argument("--no-detector", action="store_true", help="skip the detector evaluate timing")
    a = ap.parse_args(argv)
    n, limit = (4, 1500) if a.quick else (8, 12_000)
    print(f"CPU {cpu_model()}; cores available {len(os.sched_getaffinity(0))}; "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    walls = {}
    for jobs in (1, 2):
        t = time.perf_counter()
        run_tasks(_tasks(n, limit), RunOptions(jobs=jobs, progress="off"))
        walls[jobs] = time.perf_counter() - t
        print(f"{n} simulations of {limit} API requests, jobs={jobs}: {walls[jobs]:.1f} s", flush=True)
    print(f"speed-up with 2 workers: {walls[1] / walls[2]:.2f}x (target >= 1.8x)")
    if not a.no_detector:
        with tempfile.TemporaryDirectory() as out:
            cmd = [sys.executable, "-m", "analyzers", "detector", "evaluate", "--jobs", "2", "--no-cache",
                   "--progress", "off", "--out", out]
            if a.quick:
                cmd += ["--scenarios", "clean", "--families", "", "--traces", "", "--lambdas", "1000"]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return 1
        print(f"lmetric detector evaluate{' (quick subset)' if a.quick else ' (default profile)'} with --jobs 2: {wall:.0f} s "
              f"(target <= 180 s); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
