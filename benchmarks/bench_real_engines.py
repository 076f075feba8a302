"""Routers side by side on real engines: three llama.cpp servers (xllamacpp, SmolLM2-135M,
one thread and 2 slots each, no host prompt cache) behind ``lmetric serve`` (lmetric,
round-robin, least-loaded), ``sglang-router`` (cache_aware, round_robin) and ``vllm-router``
(cache_aware), on one prefix-heavy multi-turn workload.

    python -m benchmarks.bench_real_engines [--quick] [--routers ...] [--sessions 3] [--turns 3]

Each router gets a fresh fleet (empty caches, counters from zero) and the identical request
sequence (seeded workload, greedy sampling): 4 system prompts of ~450 tokens, each opening
``--sessions`` conversations of ``--turns`` turns that carry their history; ``--concurrency``
conversations at a time. Reported per router: TTFT mean/P99 (first streamed content chunk,
official ``openai`` client), cached prompt tokens from the engines' own counters
(``llamacpp:prompt_tokens_cached_total`` over all prompt tokens), requests/s and output
tokens/s. The Rust routers need ``make bench-install``; without them their rows are skipped.
"""

from __future__ import annotations

import argparse
import sys
import time

from analyzers.engines import router_available
from analyzers.loadgen import PrefixWorkload, format_table
from analyzers.loadgen.compare import compare_routers, start_fleet
from benchmarks.serve_load import machine_line

DEFAULT_ROUTERS = ("lmetric:lmetric,lmetric:round-robin,lmetric:least-loaded,sglang:cache_aware,sglang:round_robin,"
                   "vllm:cache_aware")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a tiny run (2 routers, 8 requests)")
    ap.add_argument("--routers", default=DEFAULT_ROUTERS)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--sessions", type=int, default=3, help="sessions per system prompt (3)")
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lmetric-args", default="", help="extra arguments for lmetric serve, e.g. '--tokenizer backend'")
    a = ap.parse_args(argv)
    if a.quick:
        a.routers, a.prompts, a.sessions, a.turns = "lmetric:round-robin,lmetric:lmetric", 2, 2, 2
    labels = []
    for label in a.routers.split(","):
        if router_available(label.split(":", 1)[0]):
            labels.append(label)
        else:
            print(f"skipping {label}: router not installed (make bench-install)")
    try:
        w = PrefixWorkload(n_prompts=a.prompts, sessions_per_prompt=a.sessions, turns=a.turns, max_tokens=a.max_tokens)
    except ValueError as exc:
        print(f"bench_real_engines: {exc}", file=sys.stderr)
        return 2
    print(f"bench_real_engines: {w.n_requests} requests per router ({a.prompts} system prompts x {a.sessions} sessions x "
          f"{a.turns} turns, {a.concurrency} sessions at a time, seed {a.seed}), 3 llama.cpp servers per router")
    if a.lmetric_args:
        print(f"lmetric serve runs with: {a.lmetric_args}")
    print(f"machine: {machine_line()}")
    t_fleet = time.monotonic()
    with start_fleet(3) as fleet:
        starts = ", ".join(f"{p.start_seconds:.2f}" for p in fleet.procs)
        rss = ", ".join(f"{p.rss_mib():.0f}" for p in fleet.procs)
        print(f"a fleet of 3 llama.cpp servers: started in {time.monotonic() - t_fleet:.1f} s (each to ready: {starts} s), "
              f"RSS {rss} MiB")
    rows, machines = [], []
    t0 = time.monotonic()
    for label in labels:
        rows += compare_routers([label], w, seed=a.seed, concurrency=a.concurrency, log=lambda s: None,
                                extra_args={"lmetric": a.lmetric_args.split()})
        machines.append(machine_line())
        print(f"  {label}: done at {time.monotonic() - t0:.0f} s {machines[-1]}", flush=True)
    print()
    table = format_table(rows).splitlines()
    print(table[0] + " machine |")
    print(table[1] + "---|")
    for line, m in zip(table[2:], machines):
        print(f"{line} {m} |")
    for s in rows:
        if s.errors:
            print(f"{s.label}: {s.errors} errors, first: {s.first_error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
