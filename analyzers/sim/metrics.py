"""Summaries of a simulation: latency percentiles, throughput, SLO attainment,
per-instance load and cache hits.

>>> from analyzers.sim.request import RequestResult
>>> rs = [RequestResult(i, 0, 0.0, 100, 11, 0, 0.0, 0.1 * (i + 1), 0.1 * (i + 1) + 0.5, 0) for i in range(10)]
>>> s = summarise(rs, makespan=1.5)
>>> round(s.ttft.mean, 3), round(s.tpot.p50, 3), s.completed
(0.55, 0.05, 10)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from .request import RequestResult

__all__ = ["Dist", "Summary", "summarise", "per_instance"]


@dataclass(frozen=True)
class Dist:
    """Mean and percentiles of one latency metric (seconds)."""

    n: int
    mean: float
    p50: float
    p90: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Dist":
        v = np.asarray([x for x in values if x is not None], dtype=float)
        if v.size == 0:
            return cls(0, float("nan"), float("nan"), float("nan"), float("nan"))
        return cls(int(v.size), float(v.mean()), *(float(x) for x in np.percentile(v, [50, 90, 99])))


@dataclass(frozen=True)
class Summary:
    requests: int
    completed: int
    rejected: int
    ttft: Dist
    tpot: Dist
    e2e: Dist
    queue_delay: Dist
    throughput_rps: float
    output_tokens_per_s: float
    cache_hit_ratio: float      # cached prompt tokens / prompt tokens of completed requests
    slo_attainment: float       # share of completed requests meeting both SLOs
    slo_ttft_s: float
    slo_tpot_s: float
    preemptions: int

    def to_dict(self) -> dict:
        return asdict(self)


def summarise(results: Sequence[RequestResult], makespan: float, slo_ttft_s: float = 2.0,
              slo_tpot_s: float = 0.1) -> Summary:
    """Aggregate per-request results (rejected requests counted, not averaged)."""
    done = [r for r in results if r.finish is not None]
    rejected = sum(1 for r in results if r.rejected)
    prompt = sum(r.prompt_len for r in done)
    ok = sum(1 for r in done if r.ttft <= slo_ttft_s and (r.tpot is None or r.tpot <= slo_tpot_s))
    span = makespan if makespan > 0 else float("nan")
    return Summary(
        requests=len(results), completed=len(done), rejected=rejected,
        ttft=Dist.of([r.ttft for r in done]), tpot=Dist.of([r.tpot for r in done]), e2e=Dist.of([r.e2e for r in done]),
        queue_delay=Dist.of([r.queue_delay for r in done]), throughput_rps=len(done) / span,
        output_tokens_per_s=sum(r.output_len for r in done) / span,
        cache_hit_ratio=(sum(r.cached_tokens for r in done) / prompt) if prompt else 0.0,
        slo_attainment=ok / len(done) if done else 0.0, slo_ttft_s=slo_ttft_s, slo_tpot_s=slo_tpot_s,
        preemptions=sum(r.preemptions for r in done))


def per_instance(results: Sequence[RequestResult], n_instances: int) -> list[dict]:
    """Requests, prompt tokens and cache-hit ratio per instance."""
    rows = []
    for i in range(n_instances):
        mine = [r for r in results if r.instance == i and r.finish is not None]
        prompt = sum(r.prompt_len for r in mine)
        rows.append({"instance": i, "requests": len(mine), "prompt_tokens": prompt,
                     "cache_hit_ratio": (sum(r.cached_tokens for r in mine) / prompt) if prompt else 0.0,
                     "mean_ttft": float(np.mean([r.ttft for r in mine])) if mine else float("nan")})
    return rows
