"""Router speed: the whole decision path, p50/p99 per decision.

Two paths, each timed per decision on one core:

* ``router`` — what the simulator and the proxy share: hash the prompt's tokens into
  chained 16-token blocks (:class:`~analyzers.router.hashing.BlockHasher`), look the
  hashes up in the approximate prefix index, score with ``lmetric`` and pick
  (``Router.choose`` with ``prefix_index``);
* ``proxy`` — ``lmetric serve``'s own decision (:meth:`analyzers.serve.proxy.Proxy.decide`):
  the same plus candidate filtering, the per-backend indicators, the accounting and
  the ``RoutingDecision`` record (no network; tokenisation excluded).

The *decision* (what a request waits for) is timed apart from the *index update* that
follows it: inserting the routed prompt into the chosen instance's LRU (and evicting
what falls out). ``lmetric serve`` runs the update after the request is on its way
(``Proxy.decide`` defers it to the next event-loop turn; the next lookup applies it
first if it comes sooner), so it costs CPU but not the request's added latency; the
columns ``update`` and ``total`` (decision + update) show what it costs. Targets apply
to the decision.

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
    lat = np.empty((n_decisions, 4))
    for i in range(n_decisions):
        toks = convs[int(picks[i])]
        c, t = time.thread_time_ns(), time.perf_counter_ns()
        router.choose(replace(base, block_hashes=hasher.hashes(toks), request_id=i), defer_index=True)
        c1, t1 = time.thread_time_ns(), time.perf_counter_ns()
        router.flush_index()
        lat[i] = t1 - t, c1 - c, time.perf_counter_ns() - t1, time.thread_time_ns() - c1
    return lat / 1000.0  # µs: decision wall, decision CPU, update wall, update CPU


def bench_proxy(n_inst: int, prompt: int, n_decisions: int, seed: int = 0) -> np.ndarray:
    from analyzers.serve.proxy import Proxy, ServeConfig

    rng = np.random.default_rng(seed)
    proxy = Proxy(ServeConfig(backends=[f"http://10.0.0.{i}:8000" for i in range(n_inst)], detector="off",
                              cache_blocks=200_000))
    for b, r, w in zip(proxy.fleet.backends, rng.integers(0, 30, n_inst), rng.integers(0, 5, n_inst)):
        b.running, b.waiting = int(r), int(w)
    convs = _prompts(prompt, rng)
    picks = rng.integers(200, size=n_decisions)
    lat = np.empty((n_decisions, 4))

    async def run():
        for i in range(n_decisions):
            toks = convs[int(picks[i])]
            c, t = time.thread_time_ns(), time.perf_counter_ns()
            d = proxy.decide(toks, set())
            c1, t1 = time.thread_time_ns(), time.perf_counter_ns()
            proxy.tracker.flush()  # the deferred index update, as serve's next loop turn runs it
            lat[i] = t1 - t, c1 - c, time.perf_counter_ns() - t1, time.thread_time_ns() - c1
            proxy.fleet.finish(d.rid)
            if i % 64 == 0:
                await asyncio.sleep(0)  # let the scheduled telemetry callbacks run outside the timing

    asyncio.run(run())
    return lat / 1000.0


def main(argv=None) -> int:
    a = parse_args_one_core(__doc__, argv)
    n = 2000 if a.quick else 20_000
    print(machine_line())
    print("decision: wall = elapsed time (includes preemption by other processes), cpu = this thread's CPU time; "
          "update: the index update after it (CPU); total: decision + update (wall); all µs per decision")
    print(f"{'path':>6} {'instances':>9} {'prompt':>7} {'decisions/s':>12} {'wall p50':>9} {'wall p99':>9} "
          f"{'cpu p50':>8} {'cpu p99':>8} {'update p50':>11} {'update p99':>11} {'total p99':>10} "
          f"{'target p99':>11}  verdict (wall / cpu)")
    for path, fn in (("router", bench_router), ("proxy", bench_proxy)):
        for n_inst, prompt in ((16, 2048), (16, 32_768), (64, 2048), (64, 32_768)):
            lat = fn(n_inst, prompt, n if prompt <= 2048 else n // 4)
            (w50, c50, _, u50), (w99, c99, _, u99) = np.percentile(lat, [50, 99], axis=0)
            tot99 = np.percentile(lat[:, 0] + lat[:, 2], 99)
            target = TARGETS.get((n_inst, prompt))
            verdict = "" if target is None else " / ".join("meets" if v <= target else "MISSES" for v in (w99, c99))
            tgt = "" if target is None else f"{target:.0f}"
            rate = 1e6 / (lat[:, 0] + lat[:, 2]).mean()  # decisions with their updates, back to back
            print(f"{path:>6} {n_inst:>9} {prompt:>7} {rate:>12.0f} {w50:>9.1f} {w99:>9.1f} "
                  f"{c50:>8.1f} {c99:>8.1f} {u50:>11.1f} {u99:>11.1f} {tot99:>10.1f} {tgt:>11}  {verdict}",
                  flush=True)
    print(machine_line().replace("CPU:", "after:"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
