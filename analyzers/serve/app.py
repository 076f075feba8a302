"""The HTTP shell: a Starlette app around a :class:`~analyzers.serve.proxy.Proxy`.

Routes: ``POST /v1/completions``, ``POST /v1/chat/completions`` (OpenAI-compatible,
streamed or not), ``GET /v1/models`` (union of the backends' models), ``GET /health``,
``GET /metrics``, ``GET /regimes``, ``GET|POST /admin/backends`` (list, or
``{"add": [URL...], "remove": [URL...]}``). Background tasks: health checks
(ejection after 2 failures in a row or one failed connection, readmission on the
first success), scrapes (every ``scrape_interval`` s, also written as telemetry
snapshots), the ``--backends-file`` watcher and the KV-event subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .fleet import normalise_url
from .prompts import RequestError
from .proxy import Proxy, UpstreamError, error_body

__all__ = ["make_app", "read_backends_file"]

_FORWARD_HEADERS = (b"authorization",)


def read_backends_file(path: str) -> list[str]:
    """One backend URL per line; blank lines and ``#`` comments ignored. ``ValueError``
    (one line, with the line number) on a bad URL.

    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
    ...     _ = fh.write("# fleet\\nhttp://10.0.0.5:8000/\\n\\nhttp://10.0.0.6:8000  # second\\n")
    >>> read_backends_file(fh.name)
    ['http://10.0.0.5:8000', 'http://10.0.0.6:8000']
    >>> os.unlink(fh.name)
    """
    out = []
    with open(path) as fh:
        for no, line in enumerate(fh, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            try:
                out.append(normalise_url(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{no}: {exc}") from None
    return out


def _err(status: int, message: str, kind: str = "invalid_request_error", param: str | None = None) -> Response:
    return Response(error_body(message, status, kind, param), status_code=status, media_type="application/json")


_JSON_HEADERS = [(b"content-type", b"application/json")]
_SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


async def _receive_body(scope, receive, limit: int) -> bytes:
    """The request body straight from the ASGI ``receive`` channel (the completions fast
    path), with :func:`_read_body`'s checks: a bad or too large ``Content-Length`` or a
    body over ``limit`` bytes is a :class:`RequestError`, a client that leaves is
    :class:`ClientDisconnect`."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.strip().isdigit():
                raise RequestError("bad Content-Length header")
            if int(value) > limit:
                raise RequestError(f"request body of {int(value)} bytes exceeds the limit of {limit} bytes", status=413)
            break
    buf = bytearray()
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise ClientDisconnect()
        buf += msg.get("body", b"")
        if len(buf) > limit:
            raise RequestError(f"request body exceeds the limit of {limit} bytes", status=413)
        if not msg.get("more_body", False):
            return bytes(buf)


async def _send_full(send, status: int, body: bytes, headers=_JSON_HEADERS) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _send_stream(receive, send, status: int, stream) -> None:
    """Relay an async iterator of bytes as a chunked response. A client that goes away
    (``http.disconnect`` on ``receive``) cancels the relay, which closes the upstream
    answer in its ``finally``; what Starlette's ``StreamingResponse`` does, without
    its per-request task group."""
    async def pump():
        await send({"type": "http.response.start", "status": status, "headers": _SSE_HEADERS})
        try:
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        finally:
            await stream.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def watch():
        while (await receive())["type"] != "http.disconnect":
            pass
        task.cancel()

    task = asyncio.ensure_future(pump())
    watcher = asyncio.ensure_future(watch())
    try:
        await task
    except asyncio.CancelledError:
        if not watcher.done() or watcher.cancelled():
            raise  # cancelled from outside (server shutdown), not by the client leaving
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _read_body(request: Request, limit: int) -> bytes:
    cl = request.headers.get("content-length")
    if cl is not None:
        if not cl.strip().isdigit():
            raise RequestError("bad Content-Length header")
        if int(cl) > limit:
            raise RequestError(f"request body of {int(cl)} bytes exceeds the limit of {limit} bytes", status=413)
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise RequestError(f"request body exceeds the limit of {limit} bytes", status=413)
    return bytes(buf)


def _validate(body, chat: bool) -> None:
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    for key, types, what in (("model", (str,), "a string"), ("stream", (bool,), "true or false"),
                             ("stream_options", (dict,), "an object"), ("n", (int,), "an integer")):
        if key in body and body[key] is not None and not isinstance(body[key], types):
            raise RequestError(f"'{key}' must be {what}", key)
    for key in ("max_tokens", "max_completion_tokens"):
        v = body.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise RequestError(f"'{key}' must be a non-negative integer", key)
    if chat and "messages" not in body:
        raise RequestError("'messages' is required", "messages")
    if not chat and "prompt" not in body:
        raise RequestError("'prompt' is required", "prompt")


def make_app(proxy: Proxy, on_ready=None):
    """The ASGI app; ``on_ready()`` is called once the backends have been probed. The two
    completion routes are served on raw ASGI (the request path); everything else, and
    any other method on those paths, by Starlette."""
    cfg = proxy.cfg
    tasks: list[asyncio.Task] = []

    async def completions(scope, receive, send, path: str, chat: bool) -> None:
        """``POST /v1/completions`` and ``/v1/chat/completions`` on raw ASGI (the request
        path: no router, middleware or request object)."""
        t_arrival = time.perf_counter()
        route = path
        try:
            raw = await _receive_body(scope, receive, cfg.max_body_bytes)
            try:
                body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RequestError(f"the request body is not valid JSON ({getattr(exc, 'msg', 'bad UTF-8')})") from None
            _validate(body, chat)
            headers = {"content-type": "application/json", "accept-encoding": "identity"}
            for name, value in scope["headers"]:
                if name in _FORWARD_HEADERS and name.decode("latin-1") not in headers:
                    headers[name.decode("latin-1")] = value.decode("latin-1")
            reply = await proxy.handle(path, raw, body, chat, headers, t_arrival)
        except RequestError as exc:
            proxy.metrics.requests.labels(route, str(exc.status)).inc()
            proxy.metrics.errors.labels("bad_request").inc()
            return await _send_full(send, exc.status, error_body(str(exc), exc.status, param=exc.param))
        except UpstreamError as exc:
            proxy.metrics.requests.labels(route, str(exc.status)).inc()
            kind = "upstream_error" if exc.status != 503 else "service_unavailable"
            return await _send_full(send, exc.status, error_body(str(exc), exc.status, kind))
        except ClientDisconnect:
            proxy.metrics.errors.labels("client_disconnect").inc()
            return await _send_full(send, 499, b"", [])
        proxy.metrics.requests.labels(route, str(reply.status)).inc()
        if reply.stream is not None:
            return await _send_stream(receive, send, reply.status, reply.stream)
        return await _send_full(send, reply.status, reply.body,
                                [(b"content-type", reply.media_type.encode("latin-1"))])

    async def models(request: Request) -> Response:
        seen: dict[str, dict] = {}
        for b in proxy.fleet.backends:
            for m in b.models:
                seen.setdefault(m["id"], m)
        return JSONResponse({"object": "list", "data": list(seen.values())})

    async def health(request: Request) -> Response:
        bs = [{"url": b.url, "healthy": b.healthy, "inflight": b.inflight, "engine": b.engine,
               "max_model_len": proxy.fleet.max_len(b)} for b in proxy.fleet.backends]
        ok = any(b["healthy"] for b in bs)
        return JSONResponse({"status": "ok" if ok else "no healthy backend", "scorer": proxy.router.name,
                             "inflight": proxy.fleet.inflight, "backends": bs}, status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        return Response(proxy.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    async def regimes(request: Request) -> Response:
        pair = proxy._monitor_pair()
        doc = {"detector": cfg.detector, "scorer": proxy.router.name, "params": dict(proxy.router.params),
               "backends": [b.url for b in proxy.fleet.backends],
               "switches": [{"time": s.time, "from": s.from_scorer, "to": s.to_scorer, "reason": s.reason}
                            for s in proxy.router.switches[-50:]]}
        doc["prefix_index"] = {"block_size": proxy.tracker.block_size, "counts": dict(proxy.tracker.counts),
                               "exact": {u: proxy.tracker.exact_blocks(u) for u in proxy.kv_subscribers},
                               "kv_events": {u: {**s.counts, "last_error": s.last_error}
                                             for u, s in proxy.kv_subscribers.items()}}
        if pair is not None:
            with pair[1]:
                doc["monitor"] = pair[0].state()
        return Response(json.dumps(doc, default=float), media_type="application/json")

    async def admin_backends(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"backends": [b.url for b in proxy.fleet.backends]})
        try:
            raw = await _read_body(request, 1 << 16)
            doc = json.loads(raw)
            if not isinstance(doc, dict) or not all(isinstance(doc.get(k, []), list) for k in ("add", "remove")):
                raise RequestError('expected {"add": [URL, ...], "remove": [URL, ...]}')
            add = [normalise_url(u) for u in doc.get("add", [])]
            remove = [normalise_url(u) for u in doc.get("remove", [])]
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _err(400, "the request body is not valid JSON")
        except (RequestError, ValueError) as exc:
            return _err(400, str(exc))
        await apply_membership([b.url for b in proxy.fleet.backends if b.url not in remove] + add)
        return JSONResponse({"backends": [b.url for b in proxy.fleet.backends]})

    async def apply_membership(urls: list[str]) -> None:
        from .upstream import fetch_models

        want = list(dict.fromkeys(urls))
        cur = [b.url for b in proxy.fleet.backends]
        if want == cur:
            return
        for u in cur:
            if u not in want:
                proxy.fleet.remove(u)
                proxy.log(f"backend {u} removed")
        for u in want:
            if proxy.fleet.add(u):
                proxy.tracker.slot(u)
                proxy.log(f"backend {u} added")
                b = proxy.fleet.by_url(u)
                await fetch_models(proxy._probe, b)
        proxy._build_monitor("backends changed")

    async def health_loop():
        from .upstream import check_health, fetch_models

        while True:
            await asyncio.sleep(cfg.health_interval)
            bs = list(proxy.fleet.backends)
            oks = await asyncio.gather(*(check_health(proxy._probe, b) for b in bs))
            for b, ok in zip(bs, oks):
                if ok:
                    b.health_failures = 0
                    if not b.healthy:
                        b.healthy = True
                        proxy.log(f"backend {b.url} readmitted: /health answered")
                        if not b.models:
                            await fetch_models(proxy._probe, b)
                else:
                    b.health_failures += 1
                    if b.healthy and b.health_failures >= 2:
                        proxy.backend_failed(b.url, "2 health checks failed")

    async def scrape_loop():
        from .upstream import scrape, snapshot_of

        while True:
            await asyncio.sleep(cfg.scrape_interval)
            bs = list(proxy.fleet.backends)
            now = proxy.now()
            oks = await asyncio.gather(*(scrape(proxy._probe, b, now) if b.healthy else _false() for b in bs))
            if [b.url for b in proxy.fleet.backends] != [b.url for b in bs]:
                continue  # membership changed while scraping: indices moved
            proxy.adopt_block_size()
            for i, (b, ok) in enumerate(zip(bs, oks)):
                snap = snapshot_of(b, i, now, stale=not ok)
                if snap is not None:
                    proxy.observe(snap)

    async def file_loop():
        path = cfg.backends_file
        last = None
        while True:
            try:
                st = os.stat(path)
                sig = (st.st_mtime_ns, st.st_size)
                if sig != last:
                    last = sig
                    urls = read_backends_file(path)
                    extra = [normalise_url(u) for u in cfg.static_backends]
                    await apply_membership(list(dict.fromkeys(extra + urls)))
            except (OSError, ValueError) as exc:
                proxy.log(f"--backends-file: {exc}; keeping the current backends")
                last = None
                await asyncio.sleep(max(cfg.health_interval, 1.0))
            await asyncio.sleep(0.5)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await proxy.start()
        tasks.append(asyncio.create_task(health_loop()))
        if cfg.scrape_interval > 0:
            tasks.append(asyncio.create_task(scrape_loop()))
        if cfg.backends_file:
            tasks.append(asyncio.create_task(file_loop()))
        for url, spec in cfg.kv_events.items():
            from .kv_subscriber import start_subscriber

            tasks.append(await start_subscriber(proxy, url, spec))
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await proxy.close()

    routes = [
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/regimes", regimes, methods=["GET"]),
        Route("/admin/backends", admin_backends, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    fast = {"/v1/completions": False, "/v1/chat/completions": True}

    async def asgi(scope, receive, send) -> None:
        if scope["type"] == "http":
            chat = fast.get(scope["path"])
            if chat is not None:
                if scope["method"] != "POST":
                    return await _send_full(send, 405, b"Method Not Allowed",
                                            [(b"allow", b"POST"), (b"content-type", b"text/plain; charset=utf-8")])
                return await completions(scope, receive, send, scope["path"], chat)
        await app(scope, receive, send)

    return asgi


async def _false() -> bool:
    return False
