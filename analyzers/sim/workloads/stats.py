"""Statistics of a workload, to compare generators and traces with published figures.

``ideal_reuse`` is the share of prompt tokens an infinite, prefix-contiguous cache of
16-token blocks would serve, replaying requests in arrival order (a request's blocks
become visible to later arrivals).

>>> from analyzers.sim.request import Request
>>> reqs = [Request(0, 0.0, 64, 1, (1, 2, 3, 4)), Request(1, 1.0, 64, 1, (1, 2, 9, 9))]
>>> round(ideal_reuse(reqs), 3)   # second request reuses 2 of 4 blocks: 32 / 128 tokens
0.25
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..request import BLOCK_SIZE, Request

__all__ = ["WorkloadStats", "ideal_reuse", "workload_stats"]


def ideal_reuse(requests: Sequence[Request]) -> float:
    """Token share served by an infinite prefix cache (hit capped at prompt − 1)."""
    seen: set[int] = set()
    hit = total = 0
    for r in sorted(requests, key=lambda r: (r.arrival, r.rid)):
        hs = r.block_hashes()
        cap = min(len(hs), (r.prompt_len - 1) // BLOCK_SIZE)
        i = 0
        while i < cap and hs[i] in seen:
            i += 1
        hit += i * BLOCK_SIZE
        total += r.prompt_len
        seen.update(hs)
    return hit / total if total else 0.0


@dataclass(frozen=True)
class WorkloadStats:
    requests: int
    duration_s: float
    rate: float
    input_mean: float
    input_p50: float
    input_p99: float
    output_mean: float
    output_p50: float
    output_p99: float
    ideal_reuse: float
    sessions: int


def workload_stats(requests: Sequence[Request]) -> WorkloadStats:
    """Means and percentiles of lengths, arrival rate and ideal reuse."""
    if not requests:
        raise ValueError("empty workload")
    inp = np.array([r.prompt_len for r in requests], float)
    out = np.array([r.output_len for r in requests], float)
    arr = np.array([r.arrival for r in requests], float)
    dur = float(arr.max() - arr.min())
    return WorkloadStats(
        requests=len(requests), duration_s=dur, rate=len(requests) / dur if dur > 0 else float("inf"),
        input_mean=float(inp.mean()), input_p50=float(np.percentile(inp, 50)), input_p99=float(np.percentile(inp, 99)),
        output_mean=float(out.mean()), output_p50=float(np.percentile(out, 50)), output_p99=float(np.percentile(out, 99)),
        ideal_reuse=ideal_reuse(requests), sessions=len({r.session for r in requests if r.session is not None}))
