"""Router speed: the whole decision path, p50/p99 per decision.

Two paths, each timed per decision on one core:

* ``router`` — what the simulator and the proxy share: hash the prompt's tokens into
  chained 16-token blocks (:class:`~analyzers.router.hashing.BlockHasher`), look the
  hashes up in the approximate prefix index, score with ``lmetric``, pick, and insert
  the prompt into the index (``Router.choose`` with ``prefix_index``);
* ``proxy`` — ``lmetric serve``'s own decision (:meth:`analyzers.serve.proxy.Proxy.decide`):
  the same plus candidate filtering, the per-backend indicators, the accounting and
  the ``RoutingDecision`` record (no network; tokenisation excluded).

Workload: 200 conversations whose prompts share a system prompt (a quarter of the
prompt) and differ after it; 16 and 64 instances, 2K and 32K-token prompts.
Targets (issue 8): p99 <= 100 us at 16 instances / 2K tokens and <= 1 ms at 64 / 32K.

    python -m benchmarks.bench_router [--quick]
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import numpy as np

from analyzers.router.context import DecisionContext
from analyzers.router.hashing import BlockHasher
from analyzers.router.prefix_index import ApproxPrefixIndex
from analyzers.router.router import Router
from benchmarks._common import machine_line, parse_args_one_core

TARGETS = {(16, 2048): 100.0, (64, 32_768): 1000.0}


def _prompts(prompt: int, rng) -> list[np.ndarray]:
    system = rng.integers(0, 50_000, prompt // 4).astype(np.uint32)
    return [np.concatenate([system, rng.integers(0, 50_000, prompt - system.size).astype(np.uint32)])
            for _ in range(200)]


def bench_router(n_inst: int, prompt: int, n_decisions: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hasher = BlockHasher(16, seed)
    idx = ApproxPrefixIndex(n_inst, capacity_blocks=200_000)
    router = Router("lmetric", rng=np.random.default_rng(seed), prefix_index=idx)
    convs = _prompts(prompt, rng)
    base = DecisionContext.build(prompt, np.zeros(n_inst), rng.integers(0, 30, n_inst), rng.integers(0, 5, n_inst),
                                 queued_prefill=rng.integers(0, 20_000, n_inst))
    picks = rng.integers(200, size=n_decisions)
    lat = np.empty((n_decisions, 2))
    for i in range(n_decisions):
        toks = convs[int(picks[i])]
        c, t = time.thread_time_ns(), time.perf_counter_ns()
        router.choose(replace(base, block_hashes=hasher.hashes(toks), request_id=i))
        lat[i] = time.perf_counter_ns() - t, time.thread_time_ns() - c
    return lat / 1000.0  # µs: wall, CPU


def bench_proxy(n_inst: int, prompt: int, n_decisions: int, seed: int = 0) -> np.ndarray:
    from analyzers.serve.proxy import Proxy, ServeConfig

    rng = np.random.default_rng(seed)
    proxy = Proxy(ServeConfig(backends=[f"http://10.0.0.{i}:8000" for i in range(n_inst)], detector="off",
                              cache_blocks=200_000))
    for b, r, w in zip(proxy.fleet.backends, rng.integers(0, 30, n_inst), rng.integers(0, 5, n_inst)):
        b.running, b.waiting = int(r), int(w)
    convs = _prompts(prompt, rng)
    picks = rng.integers(200, size=n_decisions)
    lat = np.empty((n_decisions, 2))

    async def run():
        for i in range(n_decisions):
            toks = convs[int(picks[i])]
            c, t = time.thread_time_ns(), time.perf_counter_ns()
            d = proxy.decide(toks, set())
            lat[i] = time.perf_counter_ns() - t, time.thread_time_ns() - c
            proxy.fleet.finish(d.rid)
            if i % 64 == 0:
                await asyncio.sleep(0)  # let the scheduled telemetry callbacks run outside the timing

    asyncio.run(run())
    return lat / 1000.0


def main(argv=None) -> int:
    a = parse_args_one_core(__doc__, argv)
    n = 2000 if a.quick else 20_000
    print(machine_line())
    print("wall = elapsed time per decision (includes preemption by other processes); "
          "cpu = this thread's CPU time per decision")
    print(f"{'path':>6} {'instances':>9} {'prompt':>7} {'decisions/s':>12} {'wall p50':>9} {'wall p99':>9} "
          f"{'cpu p50':>8} {'cpu p99':>8} {'target p99 µs':>14}  verdict (wall / cpu)")
    for path, fn in (("router", bench_router), ("proxy", bench_proxy)):
        for n_inst, prompt in ((16, 2048), (16, 32_768), (64, 2048), (64, 32_768)):
            lat = fn(n_inst, prompt, n if prompt <= 2048 else n // 4)
            (w50, c50), (w99, c99) = np.percentile(lat, [50, 99], axis=0)
            target = TARGETS.get((n_inst, prompt))
            verdict = "" if target is None else " / ".join("meets" if v <= target else "MISSES" for v in (w99, c99))
            tgt = "" if target is None else f"{target:.0f}"
            print(f"{path:>6} {n_inst:>9} {prompt:>7} {1e6 / lat[:, 0].mean():>12.0f} {w50:>9.1f} {w99:>9.1f} "
                  f"{c50:>8.1f} {c99:>8.1f} {tgt:>14}  {verdict}", flush=True)
    print(machine_line().replace("CPU:", "after:"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
