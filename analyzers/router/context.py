"""The decision context every scorer receives: one request and per-instance arrays.

Indicators (arrays indexed by instance, same names as the telemetry schema):

* ``cached_tokens`` — this request's prefix-cache hit on each instance (tokens, full
  16-token blocks, capped at prompt − 1);
* ``running``, ``waiting`` — engine gauges; ``batch_size = running + waiting``;
* ``queued_prefill`` — prefill tokens routed to the instance and not yet computed (Q);
* ``kv_usage`` (0..1), ``total_tokens``, ``speed`` (relative), ``snapshot_age`` (s).

``new_tokens = prompt_tokens − cached_tokens`` is LMetric's ``P`` (>= 1 because the
hit is capped).

>>> import numpy as np
>>> ctx = DecisionContext.build(prompt_tokens=1000, cached_tokens=[992, 0], running=[3, 1], waiting=[1, 0],
...                             queued_prefill=[0, 500])
>>> ctx.new_tokens.tolist(), ctx.batch_size.tolist()
([8.0, 1000.0], [4.0, 1.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DecisionContext"]


@dataclass(frozen=True, eq=False)
class DecisionContext:
    prompt_tokens: int
    cached_tokens: np.ndarray
    running: np.ndarray
    waiting: np.ndarray
    queued_prefill: np.ndarray
    kv_usage: np.ndarray
    total_tokens: np.ndarray
    speed: np.ndarray
    snapshot_age: np.ndarray
    time: float = 0.0
    cached_tokens_uncapped: np.ndarray | None = None
    block_hashes: list[int] | None = None
    prefix_class: int | None = None
    request_id: int = -1
    session: str | None = None
    expected_output: int | None = None

    @property
    def n(self) -> int:
        return int(self.running.shape[0])

    @property
    def batch_size(self) -> np.ndarray:
        return self.running + self.waiting

    @property
    def new_tokens(self) -> np.ndarray:
        return self.prompt_tokens - self.cached_tokens

    @property
    def new_tokens_uncapped(self) -> np.ndarray:
        """``N - matched`` with the match *not* capped at N - 1, as the ports compute it
        from their own index: 0 on a full match (T4's zero factor)."""
        hits = self.cached_tokens if self.cached_tokens_uncapped is None else self.cached_tokens_uncapped
        return np.maximum(self.prompt_tokens - hits, 0.0)

    @classmethod
    def build(cls, prompt_tokens: int, cached_tokens, running, waiting, queued_prefill=None, kv_usage=None,
              total_tokens=None, speed=None, snapshot_age=None, **kw) -> "DecisionContext":
        """Convenience constructor from lists; missing indicators default to zeros (speed to ones)."""
        arr = lambda v: np.asarray(v, dtype=float)  # noqa: E731
        run = arr(running)
        n = run.shape[0]
        zeros = np.zeros(n)
        for name, v in (("cached_tokens", cached_tokens), ("waiting", waiting)):
            if arr(v).shape != (n,):
                raise ValueError(f"{name} must have one entry per instance ({n})")
        return cls(prompt_tokens=int(prompt_tokens), cached_tokens=arr(cached_tokens), running=run, waiting=arr(waiting),
                   queued_prefill=zeros if queued_prefill is None else arr(queued_prefill),
                   kv_usage=zeros if kv_usage is None else arr(kv_usage),
                   total_tokens=zeros if total_tokens is None else arr(total_tokens),
                   speed=np.ones(n) if speed is None else arr(speed),
                   snapshot_age=zeros if snapshot_age is None else arr(snapshot_age), **kw)
