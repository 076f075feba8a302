"""Router speed: decisions/s and p50/p99 latency of ``Router.choose()`` including the
prefix lookup (approximate index, router-filled), for 16 and 64 instances and 2K/32K
prompts.

Targets (issue 4): p99 under 200 µs for 16 instances with 2K-token prompts and under
2 ms for 64 instances with 32K-token prompts, on one core.

    python -m benchmarks.bench_router [--quick]
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from benchmarks._common import parse_args_one_core
from analyzers.router.context import DecisionContext
from analyzers.router.prefix_index import ApproxPrefixIndex
from analyzers.router.router import Router


def bench(n_inst: int, prompt: int, n_decisions: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n_blocks = prompt // 16
    idx = ApproxPrefixIndex(n_inst, capacity_blocks=200_000)
    router = Router("lmetric", rng=np.random.default_rng(seed), prefix_index=idx)
    # 200 conversations: a shared system prompt (1/4 of the prompt) then conversation-specific blocks
    system = list(range(10**9, 10**9 + n_blocks // 4))
    convs = [system + list(range(c * 10**6, c * 10**6 + n_blocks - len(system))) for c in range(200)]
    base = DecisionContext.build(prompt, np.zeros(n_inst), rng.integers(0, 30, n_inst), rng.integers(0, 5, n_inst),
                                 queued_prefill=rng.integers(0, 20_000, n_inst))
    lat = np.empty(n_decisions)
    for i in range(n_decisions):
        c = replace(base, block_hashes=convs[int(rng.integers(200))], request_id=i)
        t = time.perf_counter_ns()
        router.choose(c)
        lat[i] = time.perf_counter_ns() - t
    return lat / 1000.0  # µs


def main(argv=None) -> int:
    a = parse_args_one_core(__doc__, argv)
    n = 2000 if a.quick else 20_000
    print(f"{'instances':>9} {'prompt':>7} {'decisions/s':>12} {'p50 µs':>8} {'p99 µs':>8} {'target p99 µs':>14}  verdict")
    for n_inst, prompt, target in ((16, 2048, 200.0), (16, 32_768, None), (64, 2048, None), (64, 32_768, 2000.0)):
        lat = bench(n_inst, prompt, n)
        p50, p99 = np.percentile(lat, [50, 99])
        verdict = "" if target is None else ("meets" if p99 < target else "MISSES")
        tgt = "" if target is None else f"{target:.0f}"
        print(f"{n_inst:>9} {prompt:>7} {1e6 / lat.mean():>12.0f} {p50:>8.1f} {p99:>8.1f} {tgt:>14}  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
