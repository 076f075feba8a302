"""``lmetric replay``: the prefix-heavy multi-turn workload against any OpenAI-compatible URL.

    lmetric replay --url http://127.0.0.1:8000 [--engine http://e1:8080 ...] [--prompts 4]
                   [--sessions 3] [--turns 3] [--concurrency 2] [--no-stream] [--api completions]

Prints one summary row (TTFT mean/P99, cached prompt tokens, throughput). With ``--engine``
URLs (llama.cpp or vLLM, repeatable), the cached prompt tokens come from those engines' own
``/metrics`` counters read before and after the run.

>>> main(["--url", "http://127.0.0.1:1", "--turns", "0"], prog="lmetric replay")
lmetric replay: turns must be an integer in [1, 100000], got 0
2
"""

from __future__ import annotations

import argparse
import random
import sys

from .counters import counters_delta, read_counters
from .replay import replay_sync
from .summary import format_table, summarise
from .workload import PrefixWorkload, build_sessions, interleave

__all__ = ["main"]


def main(argv=None, prog: str = "lmetric replay") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True, help="base URL of the router or engine (…/v1 is appended)")
    ap.add_argument("--engine", action="append", default=[], metavar="URL",
                    help="engine whose /metrics counters give the cached prompt tokens (repeatable)")
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--prompts", type=int, default=4, help="shared system prompts (4)")
    ap.add_argument("--sessions", type=int, default=3, help="sessions per system prompt (3)")
    ap.add_argument("--turns", type=int, default=3, help="turns per session (3)")
    ap.add_argument("--system-words", type=int, default=330, help="words per system prompt (330, ~450 tokens)")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--concurrency", type=int, default=2, help="sessions in flight at once (2)")
    ap.add_argument("--api", choices=("chat", "completions"), default="chat")
    ap.add_argument("--no-stream", action="store_true", help="non-streaming requests (no TTFT)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per request (120)")
    a = ap.parse_args(argv)
    try:
        w = PrefixWorkload(n_prompts=a.prompts, sessions_per_prompt=a.sessions, turns=a.turns,
                           system_words=a.system_words, max_tokens=a.max_tokens)
        if not 1 <= a.concurrency <= 10_000:
            raise ValueError(f"concurrency must be in [1, 10000], got {a.concurrency}")
        if not 0 < a.timeout <= 3600:
            raise ValueError(f"timeout must be in (0, 3600], got {a.timeout}")
    except ValueError as exc:
        print(f"{prog}: {exc}")
        return 2
    sessions = interleave(build_sessions(w, random.Random(a.seed)), random.Random(a.seed + 1))
    try:
        before = read_counters(a.engine) if a.engine else None
    except Exception as exc:  # an unreachable or non-engine URL: one line, no traceback
        print(f"{prog}: cannot read engine counters: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")
        return 2
    run = replay_sync(a.url, sessions, concurrency=a.concurrency, stream=not a.no_stream, api=a.api, model=a.model,
                      max_tokens=a.max_tokens, timeout_s=a.timeout)
    delta = None
    if before is not None:
        try:
            delta = counters_delta(before, read_counters(a.engine))
        except Exception as exc:
            print(f"{prog}: cannot read engine counters after the run: {str(exc).splitlines()[0][:160]}")
    s = summarise(a.url, run, delta)
    print(format_table([s]))
    if s.errors:
        print(f"{s.errors} of {s.requests} requests failed; first: {s.first_error}")
    return 0 if s.errors == 0 else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
