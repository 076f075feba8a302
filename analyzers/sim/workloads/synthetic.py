"""Seeded workload generators fitted to the published statistics of the paper's
Alibaba Bailian traces (DESIGN.md §7), which are not available here.

Every generator builds prompts from 16-token blocks with globally unique ids, so
prefix sharing is explicit:

* a *shared prefix* (system prompt, API template, repository context) drawn from a
  small pool with Zipf popularity gives cross-session hits;
* a *follow-up turn* re-sends the previous prompt's full blocks plus fresh blocks for
  the previous answer and the new message, giving within-session hits.

Lengths are log-normal, fitted to the published median and p99 (mean then follows);
:data:`TARGETS` lists what each generator is meant to match and
``tests/test_sim_workloads.py`` checks it within stated tolerances.

>>> import numpy as np
>>> reqs = generate("api", np.random.default_rng(0), duration_s=60)
>>> 1000 < len(reqs) < 2000
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..request import BLOCK_SIZE, Request

__all__ = ["GeneratorSpec", "SPECS", "TARGETS", "generate"]

Z99 = 2.3263478740408408  # standard normal 99th percentile


@dataclass(frozen=True)
class LogNormal:
    """Log-normal length with given median and 99th percentile, clipped to [lo, hi]."""

    median: float
    p99: float
    lo: int = 1
    hi: int = 131_072

    def quantiles(self, n: int) -> np.ndarray:
        """``n`` evenly spaced quantiles, most central first (popular prefixes get typical lengths)."""
        from scipy.stats import norm

        z = norm.ppf((np.arange(n) + 0.5) / n)
        z = z[np.argsort(np.abs(z), kind="stable")]
        sigma = math.log(self.p99 / self.median) / Z99
        return np.clip(np.rint(self.median * np.exp(sigma * z)), self.lo, self.hi).astype(int)

    def sample(self, rng: np.random.Generator, size=None):
        sigma = math.log(self.p99 / self.median) / Z99
        v = rng.lognormal(math.log(self.median), sigma, size=size)
        return np.clip(np.rint(v), self.lo, self.hi).astype(int)


@dataclass(frozen=True)
class GeneratorSpec:
    """A session-based workload. Rates in requests/s, times in s, lengths in tokens."""

    name: str
    description: str
    rate: float
    first_len: LogNormal            # first-turn prompt length (incl. shared prefix)
    output_len: LogNormal
    follow_prob: float = 0.0        # probability a session continues after each turn
    follow_msg_len: LogNormal | None = None
    think_s: float = 30.0           # mean gap between turns
    n_shared: int = 0               # size of the shared-prefix pool
    shared_len: LogNormal | None = None
    shared_prob: float = 0.0        # probability a session starts with a shared prefix
    zipf_s: float = 1.2             # popularity exponent of the shared prefixes
    shared_weights: tuple[float, ...] = ()   # explicit popularity (overrides zipf_s)
    max_prompt: int = 131_072


SPECS: dict[str, GeneratorSpec] = {
    "chatbot": GeneratorSpec(
        "chatbot", "Qwen traceA: multi-turn chat, system prompts shared across sessions",
        rate=5.98, first_len=LogNormal(520, 14_000, 16), output_len=LogNormal(375, 1_641, 1, 8192),
        follow_prob=0.47, follow_msg_len=LogNormal(100, 3_000, 1), think_s=60.0,
        n_shared=40, shared_len=LogNormal(380, 1_800, 32), shared_prob=0.9, zipf_s=1.1),
    "api": GeneratorSpec(
        "api", "Qwen traceB: single-turn API calls, a few hot shared prefixes with Zipf popularity",
        rate=24.0, first_len=LogNormal(360, 6_000, 16), output_len=LogNormal(39, 1_006, 1, 8192),
        n_shared=12, shared_len=LogNormal(520, 2_500, 32), shared_prob=0.92, zipf_s=1.3),
    "coder": GeneratorSpec(
        "coder", "Qwen coder: long prompts, repository context shared across sessions",
        rate=5.97, first_len=LogNormal(3_800, 12_500, 64), output_len=LogNormal(469, 5_835, 1, 16384),
        follow_prob=0.39, follow_msg_len=LogNormal(300, 3_000, 1), think_s=45.0,
        n_shared=60, shared_len=LogNormal(3_000, 9_000, 256), shared_prob=0.9, zipf_s=0.9),
    "toolagent": GeneratorSpec(
        "toolagent", "Mooncake toolagent: 4 system prompts (3 dominant), tool-call loops",
        rate=6.67, first_len=LogNormal(5_000, 60_000, 64), output_len=LogNormal(30, 600, 1, 4096),
        follow_prob=0.35, follow_msg_len=LogNormal(900, 16_000, 1), think_s=8.0,
        n_shared=4, shared_len=LogNormal(3_200, 4_000, 1_024), shared_prob=1.0, shared_weights=(0.52, 0.3, 0.17, 0.01)),
}

# Published figures each generator targets (DESIGN.md §7); None = not published.
TARGETS: dict[str, dict[str, float | None]] = {
    "chatbot": {"rate": 5.98, "input_mean": 2_331, "input_p50": 1_046, "input_p99": 14_359, "output_mean": 430,
                "output_p50": 375, "output_p99": 1_641, "ideal_reuse": 0.58, "follow_share": 0.46},
    "api": {"rate": 24.0, "input_mean": 915, "input_p50": 574, "input_p99": 6_294, "output_mean": 92,
            "output_p50": 39, "output_p99": 1_006, "ideal_reuse": 0.54, "follow_share": 0.0},
    "coder": {"rate": 5.97, "input_mean": 5_748, "input_p50": 4_540, "input_p99": 14_406, "output_mean": 808,
              "output_p50": 469, "output_p99": 5_835, "ideal_reuse": 0.66, "follow_share": 0.39},
    "toolagent": {"rate": 6.67, "input_mean": None, "input_p50": 6_346, "input_p99": 61_525, "output_mean": None,
                  "output_p50": 30, "output_p99": None, "ideal_reuse": 0.55, "follow_share": None},
}


class _Ids:
    __slots__ = ("next",)

    def __init__(self):
        self.next = 1

    def take(self, n: int) -> list[int]:
        out = list(range(self.next, self.next + n))
        self.next += n
        return out


def _blocks(n_tokens: int) -> int:
    return -(-n_tokens // BLOCK_SIZE)


def generate(name: str, rng: np.random.Generator, *, duration_s: float | None = None,
             n_requests: int | None = None, spec: GeneratorSpec | None = None) -> list[Request]:
    """Generate a workload by name (or from ``spec``) for ``duration_s`` seconds or
    until ``n_requests`` requests; deterministic for the generator's state."""
    spec = SPECS[name] if spec is None else spec
    if duration_s is None and n_requests is None:
        raise ValueError("give duration_s or n_requests")
    if duration_s is not None and duration_s <= 0:
        raise ValueError("duration_s must be positive")
    if n_requests is not None and n_requests <= 0:
        raise ValueError("n_requests must be positive")
    horizon = duration_s if duration_s is not None else n_requests / spec.rate * 1.5 + 600
    ids = _Ids()
    shared: list[list[int]] = []
    shared_len: list[int] = []
    if spec.n_shared:
        lens = spec.shared_len.quantiles(spec.n_shared)
        for ln in lens:
            n_full = int(ln) // BLOCK_SIZE
            shared.append(ids.take(n_full))
            shared_len.append(n_full * BLOCK_SIZE)
        if spec.shared_weights:
            w = np.asarray(spec.shared_weights, float)
        else:
            w = 1.0 / np.arange(1, spec.n_shared + 1) ** spec.zipf_s
        pop = w / w.sum()
    session_rate = spec.rate * (1.0 - spec.follow_prob)
    out: list[tuple[float, int, int, list[int], str]] = []
    t = 0.0
    sid = 0
    while True:
        t += rng.exponential(1.0 / session_rate)
        if t > horizon:
            break
        sid += 1
        session = f"{spec.name}-{sid}"
        # first turn
        prefix_blocks: list[int] = []
        prefix_tokens = 0
        if spec.n_shared and rng.random() < spec.shared_prob:
            j = int(rng.choice(spec.n_shared, p=pop))
            prefix_blocks, prefix_tokens = shared[j], shared_len[j]
        total = max(int(spec.first_len.sample(rng)), prefix_tokens + 1)
        total = min(total, spec.max_prompt)
        own = total - prefix_tokens
        blocks = prefix_blocks + ids.take(_blocks(own))
        out_len = int(spec.output_len.sample(rng))
        out.append((t, total, out_len, blocks, session))
        ta, prompt, prev_blocks, prev_out = t, total, blocks, out_len
        while spec.follow_prob and rng.random() < spec.follow_prob:
            ta += rng.exponential(spec.think_s)
            msg = int(spec.follow_msg_len.sample(rng))
            new_prompt = prompt + prev_out + msg
            if new_prompt > spec.max_prompt:
                break
            keep = prompt // BLOCK_SIZE  # full blocks of the previous prompt are re-sent verbatim
            blocks = prev_blocks[:keep] + ids.take(_blocks(new_prompt - keep * BLOCK_SIZE))
            out_len = int(spec.output_len.sample(rng))
            if ta <= horizon:
                out.append((ta, new_prompt, out_len, blocks, session))
            prompt, prev_blocks, prev_out = new_prompt, blocks, out_len
    out.sort(key=lambda x: x[0])
    if n_requests is not None:
        out = out[:n_requests]
    return [Request(rid=i, arrival=a, prompt_len=p, output_len=max(o, 1), hash_ids=tuple(b), hash_block=BLOCK_SIZE,
                    session=s) for i, (a, p, o, b, s) in enumerate(out)]
