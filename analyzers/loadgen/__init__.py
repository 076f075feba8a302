"""A prefix-heavy multi-turn workload and its replay client (the official ``openai`` client).

* :mod:`.workload` — shared system prompts, multi-turn sessions, seeded;
* :mod:`.replay` — ``AsyncOpenAI`` against any base URL: TTFT, latency, usage per request;
* :mod:`.counters` — the engines' own prompt-token counters before/after a run;
* :mod:`.summary` — TTFT mean/P99, cached prompt tokens, throughput; the side-by-side table.
"""

from .counters import counters_delta, read_counters
from .replay import ReplayRun, RequestResult, render_completion_prompt, replay, replay_sync
from .summary import Summary, format_table, summarise
from .workload import PrefixWorkload, Session, build_sessions, interleave

__all__ = ["PrefixWorkload", "Session", "build_sessions", "interleave", "RequestResult", "ReplayRun", "replay",
           "replay_sync", "render_completion_prompt", "read_counters", "counters_delta", "Summary", "summarise",
           "format_table"]
