"""Figures of one replay run, and the side-by-side table of several.

* TTFT: time to the first content chunk of successful streamed requests; mean and P99
  (``numpy.percentile``, linear interpolation — with n samples P99 lies between the two
  largest). Non-streamed runs report latency only.
* Throughput: completed requests and output tokens (server-reported usage) per second of
  wall time, from the first send to the last response.
* Cached prompt tokens: from the engines' own counters when given (``engine_delta``),
  beside the sum the responses reported (``usage.prompt_tokens_details.cached_tokens``).

>>> from analyzers.loadgen.replay import RequestResult, ReplayRun
>>> rs = (RequestResult(0, 0, 0, True, 0.0, 2.0, 1.0, 500, 0, 10),
...       RequestResult(0, 0, 1, True, 2.0, 1.0, 0.5, 520, 480, 10),
...       RequestResult(1, 0, 0, False, 0.0, 0.1, error="APIConnectionError: refused"))
>>> s = summarise("x", ReplayRun(rs, 4.0, True, "chat"), {"prompt_tokens_total": 1020.0, "prompt_tokens_cached_total": 480.0})
>>> s.requests, s.errors, s.ttft_mean_s, round(s.ttft_p99_s, 3), s.req_per_s, s.out_tok_per_s, s.engine_cached_tokens
(3, 1, 0.75, 0.995, 0.5, 5.0, 480)
>>> round(s.cached_fraction, 3)
0.471
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .replay import ReplayRun

__all__ = ["Summary", "summarise", "format_table"]


@dataclass(frozen=True)
class Summary:
    label: str
    requests: int
    errors: int
    wall_s: float
    ttft_mean_s: float | None
    ttft_p99_s: float | None
    latency_mean_s: float | None
    latency_p99_s: float | None
    req_per_s: float
    out_tok_per_s: float
    client_prompt_tokens: int
    client_cached_tokens: int
    engine_prompt_tokens: int | None
    engine_cached_tokens: int | None
    first_error: str | None = None

    @property
    def cached_fraction(self) -> float | None:
        """Engine-counted cached / all prompt tokens (client-reported when no engine figures)."""
        if self.engine_prompt_tokens:
            return self.engine_cached_tokens / self.engine_prompt_tokens
        return self.client_cached_tokens / self.client_prompt_tokens if self.client_prompt_tokens else None


def _mean_p99(xs: list[float]) -> tuple[float | None, float | None]:
    if not xs:
        return None, None
    a = np.asarray(xs, dtype=float)
    return float(a.mean()), float(np.percentile(a, 99))


def summarise(label: str, run: ReplayRun, engine_delta: dict[str, float] | None = None) -> Summary:
    ok = [r for r in run.results if r.ok]
    errors = [r for r in run.results if not r.ok]
    ttft = _mean_p99([r.ttft_s for r in ok if r.ttft_s is not None])
    lat = _mean_p99([r.latency_s for r in ok])
    wall = max(run.wall_s, 1e-9)
    out_tokens = sum(r.completion_tokens or 0 for r in ok)
    eng_p = eng_c = None
    if engine_delta is not None:
        eng_p = int(round(engine_delta["prompt_tokens_total"]))
        eng_c = int(round(engine_delta["prompt_tokens_cached_total"]))
    return Summary(label, len(run.results), len(errors), run.wall_s, ttft[0], ttft[1], lat[0], lat[1],
                   len(ok) / wall, out_tokens / wall, sum(r.prompt_tokens or 0 for r in ok),
                   sum(r.cached_tokens or 0 for r in ok), eng_p, eng_c, errors[0].error if errors else None)


def _f(v, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def format_table(rows: list[Summary]) -> str:
    """A Markdown table, one row per run.

    >>> from analyzers.loadgen.replay import ReplayRun
    >>> print(format_table([summarise("empty", ReplayRun((), 1.0, True, "chat"))]))  # doctest: +NORMALIZE_WHITESPACE
    | router | requests | errors | TTFT mean (s) | TTFT P99 (s) | cached prompt tokens (engines) | cached share | req/s | output tok/s |
    |---|---|---|---|---|---|---|---|---|
    | empty | 0 | 0 | — | — | — | — | 0.00 | 0.0 |
    """
    head = ("| router | requests | errors | TTFT mean (s) | TTFT P99 (s) | cached prompt tokens (engines) | cached share "
            "| req/s | output tok/s |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for s in rows:
        cached = None if s.engine_cached_tokens is None else f"{s.engine_cached_tokens} / {s.engine_prompt_tokens}"
        frac = s.cached_fraction
        lines.append(f"| {s.label} | {s.requests} | {s.errors} | {_f(s.ttft_mean_s, '.3f')} | {_f(s.ttft_p99_s, '.3f')} "
                     f"| {cached or '—'} | {_f(None if frac is None else 100 * frac, '.1f')}{'%' if frac is not None else ''} "
                     f"| {s.req_per_s:.2f} | {s.out_tok_per_s:.1f} |")
    return "\n".join(lines)
