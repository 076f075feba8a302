"""One workload through several routers, each on a fresh fleet of real llama.cpp servers.

Every router gets new engines (empty caches, counters from zero) and the identical request
sequence (same seed, greedy sampling), so the runs differ only in routing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from analyzers.engines import LlamaCppConfig, free_port, start_llamacpp, start_router

from .counters import counters_delta, read_counters
from .replay import replay_sync
from .summary import Summary, summarise
from .workload import PrefixWorkload, build_sessions, interleave

__all__ = ["Fleet", "start_fleet", "run_through", "compare_routers"]


@dataclass
class Fleet:
    """Running engines (``procs``) and their base URLs."""

    procs: list

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.procs]

    def stop(self) -> None:
        for p in self.procs:
            p.stop()

    def __enter__(self) -> "Fleet":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_fleet(n: int = 3, n_parallel: int = 2, n_ctx: int = 4096, cache_ram_mib: int = 0,
                ready_timeout_s: float = 120.0) -> Fleet:
    """``n`` llama.cpp servers on free ports (stopped again if any fails to start)."""
    procs = []
    try:
        for _ in range(n):
            procs.append(start_llamacpp(LlamaCppConfig(port=free_port(), n_parallel=n_parallel, n_ctx=n_ctx,
                                                       cache_ram_mib=cache_ram_mib), ready_timeout_s=ready_timeout_s))
    except BaseException:
        for p in procs:
            p.stop()
        raise
    return Fleet(procs)


def run_through(label: str, base_url: str, engine_urls: list[str], workload: PrefixWorkload, seed: int,
                concurrency: int, stream: bool = True, api: str = "chat") -> Summary:
    """Replay ``workload`` (seeded) through ``base_url``; cached tokens from ``engine_urls``' counters."""
    sessions = interleave(build_sessions(workload, random.Random(seed)), random.Random(seed + 1))
    before = read_counters(engine_urls)
    run = replay_sync(base_url, sessions, concurrency=concurrency, stream=stream, api=api,
                      max_tokens=workload.max_tokens)
    after = read_counters(engine_urls)
    return summarise(label, run, counters_delta(before, after))


def compare_routers(labels: list[str], workload: PrefixWorkload, seed: int = 0, concurrency: int = 3,
                    n_engines: int = 3, fleet_kw: dict | None = None, log=print,
                    extra_args: dict[str, list[str]] | None = None) -> list[Summary]:
    """For each router label (``KIND:POLICY``, see :func:`analyzers.engines.router_spec`): a fresh
    fleet, the router in front (with ``extra_args[KIND]`` appended to its command line), the
    workload through it; one :class:`Summary` each."""
    out = []
    for label in labels:
        with start_fleet(n_engines, **(fleet_kw or {})) as fleet:
            router = start_router(label, fleet.urls, extra_args=(extra_args or {}).get(label.split(":", 1)[0]))
            try:
                s = run_through(label, router.url, fleet.urls, workload, seed, concurrency)
            finally:
                router.stop()
        log(f"{label}: {s.requests} requests, {s.errors} errors, TTFT mean {s.ttft_mean_s}, "
            f"cached {s.engine_cached_tokens}/{s.engine_prompt_tokens}, {s.wall_s:.1f} s")
        out.append(s)
    return out
