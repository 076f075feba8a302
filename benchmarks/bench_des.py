"""Simulator speed on a third-party discrete-event simulator's configuration.

The configuration (issue 11): the whole Mooncake conversation trace, 16 instances,
step time ``T0 + k N + a_p sum n(c + n/2) + a_d sum ctx`` with T0 7.5 ms, k 0.05 ms per
token, a_p 8e-6 ms per attention pair, a_d 6e-4 ms per decode context token (no weight
floor); 1,733 KV blocks of 16 tokens; chunk (token budget) 2,048; 256 sequences;
prompts cut to 8K tokens, outputs to 256; replay speeds 1-4. Routing: the
lexicographic load balancer (batch size, then queued tokens, rotating ties), the rule
the third-party simulator uses, and LMetric.

Reference: that simulator takes 82 s of wall time for the whole trace at speed 1 on a
quiet core. Target: ours >= 10x faster, i.e. <= 8.2 s.

    python -m benchmarks.bench_des [--quick]
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from analyzers.router.router import Router
from analyzers.sim.cluster import Cluster
from analyzers.sim.metrics import summarise
from analyzers.sim.profiles import Profile
from analyzers.sim.workloads import load_workload
from benchmarks._common import cpu_model, load_average, parse_args_one_core

REFERENCE_S = 82.0
PROFILE = Profile("des-ref", "third-party DES step constants (issue 11)", t0=7.5, w=0.0, k=0.05, a_p=8e-6, a_d=6e-4,
                  kv_blocks=1733, max_num_batched_tokens=2048, max_num_seqs=256, max_model_len=8192 + 256)


def workload(speed: float, limit: int | None = None):
    reqs = load_workload("mooncake-conversation", np.random.default_rng(0), scale=speed, limit=limit)
    return [replace(r, prompt_len=min(r.prompt_len, 8192), output_len=min(r.output_len, 256)) for r in reqs]


def run(reqs, scorer: str, params=None, hash_generated: bool = True):
    cl = Cluster(16, PROFILE)
    for inst in cl.instances:
        inst.hash_generated = hash_generated
    t = time.perf_counter()
    c = time.process_time()
    res = cl.run(reqs, Router(scorer, params, rng=np.random.default_rng(0)), telemetry_interval=None,
                 record_decisions=False)
    return time.perf_counter() - t, time.process_time() - c, res


def skew(res) -> tuple[int, int]:
    counts = np.bincount([r.instance for r in res.results if r.instance >= 0], minlength=16)
    return int(counts.max()), int(counts.min())


def main(argv=None) -> int:
    a = parse_args_one_core(__doc__, argv)
    limit = 1500 if a.quick else None
    print(f"CPU {cpu_model()}; load average {load_average()}")
    print(f"{'scorer':<15}{'speed':>6}{'requests':>10}{'wall s':>9}{'cpu s':>8}{'x ref':>8}"
          f"{'TTFT mean':>11}{'TTFT p99':>10}{'preempt':>9}")
    for scorer in ("load-balancer", "lmetric"):
        for speed in (1.0, 2.0, 3.0, 4.0):
            reqs = workload(speed, limit)
            wall, cpu, res = run(reqs, scorer)
            s = summarise(res.results, res.makespan)
            print(f"{scorer:<15}{speed:>6g}{len(reqs):>10}{wall:>9.2f}{cpu:>8.2f}{REFERENCE_S / wall:>8.1f}"
                  f"{s.ttft.mean:>11.3f}{s.ttft.p99:>10.3f}{s.preemptions:>9}", flush=True)
    print("\ntie policy (same trace and constants): lowest index vs rotating scan start")
    print(f"{'scorer':<15}{'ties':>9}{'speed':>6}{'TTFT mean':>11}{'TTFT p99':>10}{'TPOT mean':>11}"
          f"{'max/min requests per instance':>31}")
    for scorer in ("load-balancer", "lmetric"):
        for speed in (1.0, 3.0):
            reqs = workload(speed, limit)
            for ties in ("lowest", "rotating"):
                _, _, res = run(reqs, scorer, {"ties": ties})
                s = summarise(res.results, res.makespan)
                hi, lo = skew(res)
                print(f"{scorer:<15}{ties:>9}{speed:>6g}{s.ttft.mean:>11.3f}{s.ttft.p99:>10.3f}"
                      f"{s.tpot.mean * 1000:>9.1f}ms{hi:>21} / {lo}", flush=True)
    print("\nreadmission after preemption (load-balancer): generated-token blocks cached (vLLM v1) vs prompt blocks only")
    for speed in (3.0, 4.0):
        reqs = workload(speed, limit)
        means = {}
        for gen in (True, False):
            _, _, res = run(reqs, "load-balancer", hash_generated=gen)
            means[gen] = summarise(res.results, res.makespan)
        on, off = means[True], means[False]
        print(f"speed {speed:g}: mean TTFT {on.ttft.mean:.4f} s vs {off.ttft.mean:.4f} s "
              f"({off.ttft.mean / on.ttft.mean - 1:+.2%} without), mean E2E {on.e2e.mean:.4f} s vs {off.e2e.mean:.4f} s, "
              f"preemptions {on.preemptions} vs {off.preemptions}", flush=True)
    print(f"\nreference: the third-party DES, whole trace at speed 1, {REFERENCE_S:g} s wall on a quiet core; "
          f"target >= 10x (<= {REFERENCE_S / 10:g} s)" + (" [--quick: 1,500 requests, ratios not comparable]" if a.quick else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
