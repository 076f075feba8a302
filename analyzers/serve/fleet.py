"""The proxy's per-backend state and its own accounting (pure, no I/O).

Per backend: the proxy's in-flight requests and their *queued prefill tokens* (each
request adds ``prompt - expected cached`` tokens when sent and removes them at its
first token or its end), the last scrape of the engine (running, waiting, KV usage),
the context limit, and health.

Indicators handed to the router (one :class:`~analyzers.router.context.DecisionContext`
per decision, over the *candidates*: healthy backends whose context fits the prompt):

* ``BS = max(scraped running + waiting, own in-flight)`` — the engine's count lags by
  up to one scrape, the proxy's own count is exact but misses other clients;
  ``running`` = scraped running (capped at BS), ``waiting = BS - running``;
* ``Q`` = the proxy's queued prefill tokens (exact for its own requests);
* ``kv_usage`` scraped (0 when unknown); ``snapshot_age = 0`` because the proxy's
  accounting is current (the router then adds no commit-time estimates).

>>> f = Fleet(["http://a", "http://b"])
>>> f.start(1, backend=0, prefill=900)
>>> f.backends[0].inflight, f.backends[0].queued_prefill
(1, 900)
>>> f.first_token(1); f.backends[0].queued_prefill
0
>>> f.finish(1); f.finish(1); f.backends[0].inflight   # finishing twice is harmless
0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analyzers.router.context import DecisionContext

__all__ = ["Backend", "Fleet", "normalise_url"]


def normalise_url(url: str) -> str:
    """``http://host:port`` without a trailing slash or ``/v1``; ``ValueError`` if not http(s)."""
    from urllib.parse import urlsplit

    if not isinstance(url, str):
        raise ValueError(f"backend URL must be a string, got {url!r}")
    u = url.strip().rstrip("/")
    if u.endswith("/v1"):
        u = u[:-3]
    parts = urlsplit(u)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"backend URL must look like http://HOST:PORT, got {url!r}")
    try:
        parts.port
    except ValueError:
        raise ValueError(f"backend URL has a bad port: {url!r}") from None
    return u


@dataclass
class Backend:
    url: str
    healthy: bool = True
    inflight: int = 0
    queued_prefill: int = 0
    running: int | None = None
    waiting: int | None = None
    kv_usage: float | None = None
    total_tokens: int = 0
    scrape_time: float | None = None
    scrape_failures: int = 0
    health_failures: int = 0
    max_model_len: int | None = None
    block_size: int | None = None
    max_num_seqs: int | None = None
    engine: str = "unknown"
    models: list = field(default_factory=list)
    metrics: object = None   # last EngineMetrics
    slots: object = None     # last llama.cpp SlotsState
    requests: int = 0
    errors: int = 0


class Fleet:
    """Backends in a stable order plus the per-request accounting."""

    def __init__(self, urls, default_max_len: int | None = None):
        self.backends: list[Backend] = []
        self.default_max_len = default_max_len
        self._req: dict[int, list] = {}  # request id -> [backend url, outstanding prefill]
        self._by_url: dict[str, Backend] = {}
        for u in urls:
            self.add(u)

    # ------------------------------------------------------------ membership
    def index(self, url: str) -> int | None:
        for i, b in enumerate(self.backends):
            if b.url == url:
                return i
        return None

    def _reindex(self) -> None:
        self._by_url = {b.url: b for b in self.backends}

    def add(self, url: str) -> bool:
        url = normalise_url(url)
        if self.index(url) is not None:
            return False
        self.backends.append(Backend(url))
        self._reindex()
        return True

    def remove(self, url: str) -> bool:
        """Forget a backend; its in-flight requests finish normally (accounted by URL)."""
        i = self.index(normalise_url(url))
        if i is None:
            return False
        del self.backends[i]
        self._reindex()
        return True

    def by_url(self, url: str) -> Backend | None:
        return self._by_url.get(url)

    # ------------------------------------------------------------ accounting
    def start(self, rid: int, backend: int, prefill: int) -> None:
        b = self.backends[backend]
        prefill = max(int(prefill), 0)
        self._req[rid] = [b.url, prefill]
        b.inflight += 1
        b.queued_prefill += prefill
        b.requests += 1

    def first_token(self, rid: int) -> None:
        r = self._req.get(rid)
        if r is None or r[1] == 0:
            return
        b = self.by_url(r[0])
        if b is not None:
            b.queued_prefill = max(b.queued_prefill - r[1], 0)
        r[1] = 0

    def finish(self, rid: int) -> None:
        self.first_token(rid)
        r = self._req.pop(rid, None)
        if r is None:
            return
        b = self.by_url(r[0])
        if b is not None:
            b.inflight = max(b.inflight - 1, 0)

    @property
    def inflight(self) -> int:
        return len(self._req)

    # ------------------------------------------------------------ decisions
    def max_len(self, b: Backend) -> int | None:
        return b.max_model_len if b.max_model_len is not None else self.default_max_len

    def candidates(self, prompt_tokens: int, exclude: set[str] = frozenset()) -> tuple[list[int], list[int]]:
        """``(fit, healthy)``: indices of healthy, non-excluded backends whose context
        holds the prompt, and of all healthy non-excluded ones."""
        healthy, fit = [], []
        dflt = self.default_max_len
        for i, b in enumerate(self.backends):
            if b.healthy and (not exclude or b.url not in exclude):
                healthy.append(i)
                lim = b.max_model_len if b.max_model_len is not None else dflt
                if lim is None or prompt_tokens < lim:
                    fit.append(i)
        return fit, healthy

    def indicators(self, idx) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``running, waiting, queued_prefill, kv_usage, total_tokens`` for ``idx``.

        The batch is ``BS = max(running + waiting, in-flight)`` (the proxy's own
        requests count until the engine's gauges show them); ``running`` is capped at
        ``BS`` and ``waiting = BS - running``. One array built for all five (the
        decision path: one ``np.array`` call instead of five)."""
        get = self.backends.__getitem__
        a = np.array([(b.running or 0, b.waiting or 0, b.inflight, b.queued_prefill, b.kv_usage or 0.0, b.total_tokens)
                      for b in map(get, idx)], dtype=float).reshape(-1, 6).T.copy()  # rows contiguous
        run, wait, inflight, q, kv, tot = a
        bsz = np.maximum(run + wait, inflight)
        run = np.minimum(run, bsz)
        return run, bsz - run, q, kv, tot

    def context(self, idx: list[int], prompt_tokens: int, cached: np.ndarray, time: float, **kw) -> DecisionContext:
        run, wait, q, kv, tot = self.indicators(idx)
        k = len(idx)
        zeros = np.zeros(k)
        return DecisionContext(prompt_tokens=int(prompt_tokens), cached_tokens=np.asarray(cached, dtype=float),
                               running=run, waiting=wait, queued_prefill=q, kv_usage=kv, total_tokens=tot,
                               speed=np.ones(k), snapshot_age=zeros, time=time, **kw)
