"""The proxy core: decide, forward, relay, account.

One :class:`Proxy` owns the fleet state, the prefix tracker, the reference
:class:`~analyzers.router.router.Router` (the simulator's, unchanged), the optional
regime monitor and the telemetry writer; the HTTP shell (:mod:`analyzers.serve.app`)
only parses requests and calls :meth:`Proxy.handle`.

Failure handling (each has a test in ``tests/test_serve_faults.py``):

* connection refused / reset or a timeout *before the first response byte*: the
  backend is marked down (ejected until a health check answers) and the request is
  retried once on another backend; a second failure gives ``502`` (``504`` for a timeout);
* a backend answer ``>= 500`` or an unparsable body: ``502`` with the reason (no retry:
  the backend may have done the work); ``4xx`` answers are passed through unchanged;
* a stream that breaks or stalls after it started: the client gets one SSE
  ``data: {"error": ...}`` event and the stream closes;
* a client that goes away mid-stream: the upstream response is closed (the engine
  aborts the request) and the request is accounted as finished.

Every exit path ends the request's accounting exactly once (``Fleet.finish`` is
idempotent) and closes the upstream response.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import aiohttp
import httpx
import numpy as np

from analyzers.router.context import DecisionContext
from analyzers.router.router import Router
from analyzers.telemetry.schema import JsonlWriter, RoutingDecision

from .fleet import Fleet
from .metrics import ServeMetrics
from .prefixes import PrefixTracker
from .prompts import RequestError, approx_tokens, prompt_text

__all__ = ["ServeConfig", "Proxy", "UpstreamError", "Reply"]


@dataclass
class ServeConfig:
    backends: list[str]
    scorer: str = "lmetric"
    params: dict = field(default_factory=dict)
    detector: str = "act"
    telemetry: str | None = None
    events: str | None = None
    block_size: int | None = None   # None: the engines' block size when they report one, else 16
    tokenizer: str = "approx"
    max_model_len: int | None = None
    cache_blocks: int = 100_000
    connect_timeout: float = 2.0
    read_timeout: float = 120.0
    health_interval: float = 2.0
    scrape_interval: float = 1.0
    max_body_bytes: int = 8 * 2**20
    max_connections: int = 1024
    seed: int = 0
    backends_file: str | None = None
    static_backends: list[str] = field(default_factory=list)  # --backend URLs kept whatever the file says
    kv_events: dict = field(default_factory=dict)


class UpstreamError(Exception):
    def __init__(self, status: int, message: str, kind: str):
        super().__init__(message)
        self.status = status
        self.kind = kind


@dataclass
class Reply:
    """What the shell sends back: a full body, or an async iterator of SSE bytes."""

    status: int
    body: bytes | None = None
    stream: object | None = None
    media_type: str = "application/json"


def error_body(message: str, status: int, kind: str = "invalid_request_error", param: str | None = None) -> bytes:
    """An OpenAI/vLLM-style error object."""
    return json.dumps({"error": {"message": message, "type": kind, "param": param, "code": status},
                       "object": "error", "message": message, "type": kind, "param": param, "code": status}).encode()


def sse_error(message: str, status: int) -> bytes:
    return b"data: " + json.dumps({"error": {"message": message, "type": "upstream_error", "code": status}}).encode() + b"\n\n"


def cached_from_usage(doc) -> int | None:
    """Cached prompt tokens a response reports: OpenAI/vLLM
    ``usage.prompt_tokens_details.cached_tokens`` or llama.cpp ``timings.cache_n``.

    >>> cached_from_usage({"usage": {"prompt_tokens": 159, "prompt_tokens_details": {"cached_tokens": 152}}})
    152
    >>> cached_from_usage({"timings": {"cache_n": 404, "prompt_n": 17}}), cached_from_usage({"usage": None})
    (404, None)
    """
    if not isinstance(doc, dict):
        return None
    u = doc.get("usage")
    if isinstance(u, dict):
        d = u.get("prompt_tokens_details")
        if isinstance(d, dict) and isinstance(d.get("cached_tokens"), int):
            return d["cached_tokens"]
    t = doc.get("timings")
    if isinstance(t, dict) and isinstance(t.get("cache_n"), int):
        return t["cache_n"]
    return None


class _Decision:
    __slots__ = ("rid", "backend", "url", "predicted", "hashes", "tokens")

    def __init__(self, rid, backend, url, predicted, hashes, tokens):
        self.rid, self.backend, self.url, self.predicted, self.hashes, self.tokens = rid, backend, url, predicted, hashes, tokens


class Proxy:
    def __init__(self, cfg: ServeConfig, out=None):
        self.cfg = cfg
        self.out = out
        self.fleet = Fleet(cfg.backends, default_max_len=cfg.max_model_len)
        self.tracker = PrefixTracker(cfg.block_size or 16, cfg.cache_blocks, seed=cfg.seed)
        for b in self.fleet.backends:
            self.tracker.slot(b.url)
        self.router = Router(cfg.scorer, cfg.params, rng=np.random.default_rng(cfg.seed))
        self.base_scorer = (self.router.name, dict(self.router.params))
        self.t0 = time.monotonic()
        self._ids = itertools.count(1)
        self._tok_cache: OrderedDict[str, list[int]] = OrderedDict()
        self._tok_pending: dict[str, asyncio.Future] = {}
        self.counts: dict[str, int] = {}
        self._tel_fh = open(cfg.telemetry, "a", buffering=1) if cfg.telemetry else None
        self.telemetry = JsonlWriter(self._tel_fh) if self._tel_fh else None
        self._events_fh = open(cfg.events, "a", buffering=1) if cfg.events else None
        self.sidecar = None
        self._monitor_lock = None
        self._build_monitor("start")
        self.metrics = ServeMetrics(self.fleet, self._monitor_pair, lambda: self.router.name)
        self.session: aiohttp.ClientSession | None = None
        self.upstream_open = 0  # upstream responses not yet released or closed (0 when idle: no leak)
        self.kv_subscribers: dict = {}
        self._last_decision_time = 0.0

    # ------------------------------------------------------------------ detector
    def _monitor_pair(self):
        return None if self.sidecar is None else (self.sidecar.monitor, self._monitor_lock)

    def _build_monitor(self, why: str) -> None:
        """(Re)build the in-process detector for the current fleet size (instance
        indices are fleet positions, so a membership change starts a fresh monitor)."""
        import threading

        from analyzers.detector.monitor import RegimeMonitor
        from analyzers.detector.policy import MitigationPolicy
        from analyzers.sidecar.service import Sidecar

        if self.cfg.detector == "off" or not self.fleet.backends:
            self.sidecar = None
            return
        if (self.router.name, self.router.params) != self.base_scorer:
            self.router.switch(*self.base_scorer, reason=f"detector reset ({why})", time=self.now())
        self.router.class_policies.clear()
        self.router.speed_estimate = None
        policy = MitigationPolicy(self.router) if self.cfg.detector == "act" else None
        self._monitor_lock = threading.Lock()
        self.sidecar = Sidecar(RegimeMonitor(len(self.fleet.backends), policy=policy), events=self._events_fh,
                               human=self.out, lock=self._monitor_lock)

    def observe(self, record) -> None:
        """Write a record to the telemetry file and feed the detector (off the request path)."""
        if self.telemetry is not None:
            self.telemetry.write(record)
        if self.sidecar is not None:
            before = len(self.sidecar.monitor.policy.actions) if self.sidecar.monitor.policy else 0
            self.sidecar.feed(record.to_dict())
            pol = self.sidecar.monitor.policy
            if pol is not None:
                for a in pol.actions[before:]:
                    self.metrics.fallbacks.labels(a.regime).inc()

    def now(self) -> float:
        return time.monotonic() - self.t0

    def count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        # The request path: aiohttp's pool hands out a keep-alive connection per host in O(1)
        # (httpx/httpcore's async pool rescanned every connection for every queued request:
        # O(connections x requests), the proxy's whole CPU at 200 streams). Bodies pass
        # through as sent (no decompression); a backend silent for read_timeout s (before or
        # after the first byte) is a timeout; connecting is bounded by connect_timeout, and
        # waiting for a free pooled connection by connect_timeout + 5 s.
        conn = aiohttp.TCPConnector(limit=self.cfg.max_connections, limit_per_host=0, keepalive_timeout=30.0,
                                    ttl_dns_cache=None)
        timeout = aiohttp.ClientTimeout(total=None, connect=self.cfg.connect_timeout + 5.0,
                                        sock_connect=self.cfg.connect_timeout, sock_read=self.cfg.read_timeout)
        self.session = aiohttp.ClientSession(connector=conn, timeout=timeout, auto_decompress=False, trust_env=False,
                                             skip_auto_headers=("User-Agent",))
        probe = httpx.Timeout(self.cfg.connect_timeout)
        self._probe = httpx.AsyncClient(timeout=probe, trust_env=False)
        from .upstream import fetch_models, scrape

        await asyncio.gather(*(fetch_models(self._probe, b) for b in self.fleet.backends))
        await asyncio.gather(*(scrape(self._probe, b, self.now()) for b in self.fleet.backends))
        self.adopt_block_size()

    def adopt_block_size(self) -> None:
        """Without ``--block-size``, use the engines' block size (``vllm:cache_config_info``)
        once they agree on one; the approximate index starts again (it can only hold a
        few seconds of history at that point)."""
        if self.cfg.block_size is not None:
            return
        sizes = {b.block_size for b in self.fleet.backends if b.block_size}
        if len(sizes) == 1:
            bs = sizes.pop()
            if bs != self.tracker.block_size:
                self.tracker.set_block_size(bs)
                self.log(f"prefix blocks of {bs} tokens (the engines' block size)")

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        probe = getattr(self, "_probe", None)
        if probe is not None:
            await probe.aclose()
        for fh in (self._tel_fh, self._events_fh):
            if fh is not None:
                fh.close()

    # ------------------------------------------------------------------ tokens
    async def tokens(self, body: dict, chat: bool) -> np.ndarray | list[int]:
        """Token ids of the prompt: ids sent by the client as they are; otherwise the
        first healthy backend's ``/tokenize`` (``--tokenizer backend``; a vLLM backend
        gets chat ``messages`` and applies the model's template, others get the
        rendered text), LRU-cached by prompt and coalesced (concurrent requests with the
        same prompt share one call); the approximation when that fails or by default."""
        p = prompt_text(body, chat)
        if isinstance(p, list):
            return p
        if self.cfg.tokenizer == "backend":
            b = next((b for b in self.fleet.backends if b.healthy), None)
            if b is not None:
                msgs = body.get("messages") if chat and b.engine == "vllm" else None
                key = p if msgs is None else "\0messages\0" + json.dumps(msgs, sort_keys=True)
                toks = await self._tokenize_cached(b, key, p, msgs)
                if toks is not None:
                    return toks
            self.count("tokenize_fallback")
        return approx_tokens(p)

    async def _tokenize_cached(self, b, key: str, text: str, messages) -> list[int] | None:
        from .upstream import tokenize

        hit = self._tok_cache.get(key)
        if hit is not None:
            self._tok_cache.move_to_end(key)
            self.count("tokenize_cache_hit")
            return hit
        fut = self._tok_pending.get(key)
        if fut is not None:
            self.count("tokenize_coalesced")
            return await asyncio.shield(fut)
        fut = asyncio.get_running_loop().create_future()
        self._tok_pending[key] = fut
        try:
            toks = await tokenize(self._probe, b, text, messages)
            if toks is not None:
                self._tok_cache[key] = toks
                if len(self._tok_cache) > 4096:
                    self._tok_cache.popitem(last=False)
            fut.set_result(toks)
            return toks
        except BaseException:
            fut.set_result(None)
            raise
        finally:
            del self._tok_pending[key]

    # ------------------------------------------------------------------ decisions
    def decide(self, tokens, exclude: set[str]) -> _Decision:
        """Choose a backend for a tokenised prompt (the timed decision path)."""
        n = len(tokens)
        fit, healthy = self.fleet.candidates(n, exclude)
        if not healthy:
            raise UpstreamError(503, "no backend available (all ejected by health checks)", "no_backend")
        if not fit:
            lens = sorted({self.fleet.max_len(self.fleet.backends[i]) for i in healthy})
            raise RequestError(f"This model's maximum context length is {lens[-1]} tokens. However, your request has "
                               f"{n} input tokens. Please reduce the length of the input messages.", "messages")
        urls = [self.fleet.backends[i].url for i in fit]
        hashes = self.tracker.hashes(tokens)
        cached, uncapped = self.tracker.lookup(tokens, urls, hashes)
        rid = next(self._ids)
        t = max(self.now(), self._last_decision_time)
        self._last_decision_time = t
        nb = len(self.fleet.backends)
        run, wait, q, kv, tot = self.fleet.indicators(range(nb))
        sel = fit if len(fit) == nb else np.asarray(fit)
        c_run, c_wait, c_q, c_kv, c_tot = (run, wait, q, kv, tot) if len(fit) == nb else \
            (run[sel], wait[sel], q[sel], kv[sel], tot[sel])  # every backend a candidate: no copies needed
        ctx = DecisionContext(prompt_tokens=n, cached_tokens=cached, running=c_run, waiting=c_wait,
                              queued_prefill=c_q, kv_usage=c_kv, total_tokens=c_tot, speed=np.ones(len(fit)),
                              snapshot_age=np.zeros(len(fit)), time=t, cached_tokens_uncapped=uncapped,
                              prefix_class=hashes[0] if hashes else None, request_id=rid)
        d = self.router.choose(ctx)
        k = fit[d.chosen]
        url = urls[d.chosen]
        predicted = float(cached[d.chosen])
        # the index learns this prompt once the request is on its way (next loop turn), not
        # on its added latency; the next lookup applies it first if it comes sooner
        try:
            asyncio.get_running_loop().call_soon(self.tracker.flush)
            self.tracker.routed(url, hashes, uncapped[d.chosen], defer=True)
        except RuntimeError:  # no event loop (a synchronous caller): nothing to defer to
            self.tracker.routed(url, hashes, uncapped[d.chosen])
        self.fleet.start(rid, k, n - predicted)
        if self.telemetry is not None or self.sidecar is not None:  # nobody reads the record otherwise
            self._record(d, t, rid, k, n, nb, sel, cached, q, run, wait, hashes)
        return _Decision(rid, k, url, predicted, hashes, n)

    def _record(self, d, t, rid, k, n, nb, sel, cached, q, run, wait, hashes) -> None:
        # the record: every backend of the fleet (indicators before this decision), non-candidates with score inf
        full_cached = np.zeros(nb)
        full_cached[sel] = cached
        scores = np.full(nb, np.inf)
        scores[sel] = d.scores
        rec = RoutingDecision(time=round(t, 6), request_id=rid, chosen=k, scorer=d.scorer, prompt_tokens=n,
                              cached_tokens=full_cached.astype(np.int64).tolist(),
                              queued_prefill_tokens=q.astype(np.int64).tolist(),
                              batch_size=(run + wait).astype(np.int64).tolist(), scores=scores.tolist(),
                              prefix_class=hashes[0] if hashes else None,
                              commit_updates=True)  # its own accounting (fleet.start) counts each decision at once
        asyncio.get_running_loop().call_soon(self.observe, rec)

    def backend_failed(self, url: str, why: str) -> None:
        b = self.fleet.by_url(url)
        if b is not None and b.healthy:
            b.healthy = False
            b.errors += 1
            self.log(f"backend {url} ejected: {why}")

    def log(self, line: str) -> None:
        if self.out is not None:
            self.out.write(f"[{self.now():9.2f}s] {line}\n")
            self.out.flush()

    # ------------------------------------------------------------------ forwarding
    async def handle(self, path: str, raw: bytes, body: dict, chat: bool, headers: dict, t_arrival: float) -> Reply:
        stream = bool(body.get("stream"))
        t_dec = time.perf_counter()
        toks = await self.tokens(body, chat)
        tried: set[str] = set()
        last: UpstreamError | None = None
        for attempt in range(2):
            t_dec = time.perf_counter() if attempt else t_dec
            try:
                dec = self.decide(toks, tried)
            except UpstreamError:
                if last is not None:
                    raise last from None
                raise
            now = time.perf_counter()
            self.metrics.decision.observe(now - t_dec)
            if attempt == 0:
                self.metrics.added.observe(now - t_arrival)
            else:
                self.metrics.retries.inc()
            try:
                resp = await self.session.post(dec.url + path, data=raw, headers=headers)
            except aiohttp.ConnectionTimeoutError as exc:  # connect, or no pooled connection free in time
                fail = (exc, 502, "connect")
            except TimeoutError:  # connected, but no response head within read_timeout
                fail = (None, 504, "timeout")
            except aiohttp.ClientError as exc:  # refused, reset, closed, unparsable response head
                fail = (exc, 502, "connect")
            except BaseException:
                self.fleet.finish(dec.rid)
                raise
            else:
                fail = None
            if fail is not None:
                exc, status, kind = fail
                self.fleet.finish(dec.rid)
                tried.add(dec.url)
                if kind == "connect":
                    self.backend_failed(dec.url, f"{type(exc).__name__} before the first byte")
                    last = UpstreamError(502, f"backend {dec.url} failed before answering ({type(exc).__name__})",
                                         "connect")
                else:
                    last = UpstreamError(504, f"backend {dec.url} sent no answer within {self.cfg.read_timeout:g} s",
                                         "timeout")
                self.metrics.errors.labels(kind).inc()
                continue
            self.upstream_open += 1
            try:
                return await self._answer(resp, dec, stream)
            except BaseException:
                self.fleet.finish(dec.rid)
                self._close(resp)
                raise
        raise last

    async def _answer(self, resp: aiohttp.ClientResponse, dec: _Decision, stream: bool) -> Reply:
        status = resp.status
        if status >= 400 or not stream:
            try:
                data = await _read_bounded(resp, self.cfg.max_body_bytes * 4)
            except TimeoutError:
                self._done(dec)
                self.metrics.errors.labels("timeout").inc()
                raise UpstreamError(504, f"backend {dec.url} stalled mid-answer", "timeout") from None
            except (aiohttp.ClientError, ValueError) as exc:
                self._done(dec)
                self.metrics.errors.labels("broken").inc()
                raise UpstreamError(502, f"backend {dec.url} broke off its answer ({type(exc).__name__})", "broken") from None
            finally:
                self._close(resp)
            self._done(dec)
            if status >= 500:
                self.metrics.errors.labels("upstream_5xx").inc()
                raise UpstreamError(502, f"backend {dec.url} answered HTTP {status}: {_snippet(data)}", "upstream_5xx")
            if status >= 400:
                return Reply(status, data)
            try:
                doc = json.loads(data)
            except (json.JSONDecodeError, UnicodeDecodeError):
                self.metrics.errors.labels("garbage").inc()
                raise UpstreamError(502, f"backend {dec.url} answered with invalid JSON: {_snippet(data)}", "garbage") from None
            if not isinstance(doc, dict):
                self.metrics.errors.labels("garbage").inc()
                raise UpstreamError(502, f"backend {dec.url} answered with a JSON {type(doc).__name__}, not an object",
                                    "garbage")
            self._usage(dec, doc)
            return Reply(status, data)
        ctype = resp.headers.get("content-type", "")
        if not ctype.startswith("text/event-stream"):
            self._close(resp)
            self._done(dec)
            self.metrics.errors.labels("garbage").inc()
            raise UpstreamError(502, f"backend {dec.url} answered a stream request with {ctype or 'no content type'}",
                                "garbage")
        return Reply(status, stream=self._relay(resp, dec), media_type="text/event-stream")

    def _close(self, resp: aiohttp.ClientResponse) -> None:
        """Give the upstream connection back: to the pool when the answer was read to its
        end, else closed (the engine sees the disconnect and aborts). Idempotent."""
        if getattr(resp, "_lmetric_closed", False):
            return
        resp._lmetric_closed = True
        self.upstream_open -= 1
        if resp.content.is_eof() and resp.content.exception() is None:
            resp.release()
        else:
            resp.close()

    def _done(self, dec: _Decision) -> None:
        self.fleet.finish(dec.rid)

    def _usage(self, dec: _Decision, doc: dict) -> None:
        c = cached_from_usage(doc)
        if c is not None:
            self.tracker.reported(dec.url, dec.predicted, c)

    async def _relay(self, resp: aiohttp.ClientResponse, dec: _Decision):
        """Pass the SSE stream through chunk by chunk; one error event if it breaks."""
        first = True
        tail = b""
        try:
            async for chunk in resp.content.iter_any():
                if first:
                    self.fleet.first_token(dec.rid)
                    first = False
                tail = (tail + chunk)[-8192:]
                yield chunk
            self._stream_usage(dec, tail)
        except TimeoutError:
            self.metrics.errors.labels("stream_timeout").inc()
            yield sse_error(f"backend {dec.url} stalled for {self.cfg.read_timeout:g} s mid-stream", 504)
        except aiohttp.ClientError as exc:
            self.metrics.errors.labels("stream_broken").inc()
            yield sse_error(f"backend {dec.url} broke off the stream ({type(exc).__name__})", 502)
        finally:
            self.fleet.finish(dec.rid)
            self._close(resp)

    def _stream_usage(self, dec: _Decision, tail: bytes) -> None:
        for line in reversed(tail.split(b"\n")):
            if line.startswith(b"data: {") and (b'"usage"' in line or b'"timings"' in line):
                try:
                    doc = json.loads(line[6:])
                except (json.JSONDecodeError, UnicodeDecodeError):
                    return
                self._usage(dec, doc)
                return


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int) -> bytes:
    buf = bytearray()
    async for chunk in resp.content.iter_any():
        buf += chunk
        if len(buf) > limit:
            raise ValueError("answer too large")
    return bytes(buf)


def _snippet(data: bytes) -> str:
    s = data[:160].decode("utf-8", "replace").replace("\n", " ").strip()
    return s or "(empty body)"
