"""Fake OpenAI-compatible backends and an in-process proxy for the ``lmetric serve`` tests.

A :class:`FakeBackend` is a small Starlette app on uvicorn in a thread, bound to an
ephemeral port on 127.0.0.1. Its behaviour is switched at run time through
``fake.mode``: ``ok`` (answers, streams ``chunks`` SSE events ``delay`` s apart),
``500``, ``garbage`` (200 with a non-JSON body), ``hang`` (never answers; bounded at
``hang_s``), ``die`` (streams two events then drops the connection), ``down``
(``/health`` fails). It counts what it saw: ``received``, ``active``, ``cancelled``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["FakeBackend", "ServerThread", "ProxyThread", "wait_until"]


def wait_until(pred, timeout: float = 5.0, step: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


class ServerThread:
    """Run an ASGI app on uvicorn in a daemon thread on ``host:port`` (0 = ephemeral)."""

    def __init__(self, app, port: int = 0, host: str = "127.0.0.1"):
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        cfg = uvicorn.Config(app, log_level="critical", access_log=False, lifespan="on", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> "ServerThread":
        self.thread.start()
        if not wait_until(lambda: self.server.started, 10.0):
            raise RuntimeError("server did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10.0)
        self.sock.close()


class FakeBackend:
    def __init__(self, name: str = "fake", port: int = 0, max_model_len: int = 4096, chunks: int = 5,
                 delay: float = 0.01, hang_s: float = 30.0, cached_tokens: int = 0, metrics_text: str | None = None,
                 slots: list | None = None, props: dict | None = None, timings: bool = False):
        self.name = name
        self.mode = "ok"
        self.max_model_len = max_model_len
        self.chunks = chunks
        self.delay = delay
        self.hang_s = hang_s
        self.cached_tokens = cached_tokens
        self.metrics_text, self.slots, self.props, self.timings = metrics_text, slots, props, timings
        self.tokenize_calls = 0
        self.received = 0
        self.active = 0
        self.cancelled = 0
        self.completed = 0
        self.bodies: list[dict] = []
        self.headers: list[dict] = []
        self._port = port
        self.thread: ServerThread | None = None

    # ------------------------------------------------------------------ app
    def app(self) -> Starlette:
        async def completions(request: Request) -> Response:
            body = json.loads(await request.body())
            self.received += 1
            self.bodies.append(body)
            self.headers.append(dict(request.headers))
            mode = self.mode
            if mode == "500":
                return PlainTextResponse("internal error: out of cheese", status_code=500)
            if mode == "garbage":
                return PlainTextResponse("<html>definitely not json", status_code=200)
            if mode == "hang":
                self.active += 1
                try:
                    await asyncio.sleep(self.hang_s)
                except asyncio.CancelledError:
                    self.cancelled += 1
                    raise
                finally:
                    self.active -= 1
                return PlainTextResponse("late", status_code=200)
            chat = request.url.path.endswith("chat/completions")
            usage = {"prompt_tokens": 10, "completion_tokens": self.chunks, "total_tokens": 10 + self.chunks}
            extra = {}
            if self.timings:  # llama.cpp style: timings.cache_n
                extra["timings"] = {"cache_n": self.cached_tokens, "prompt_n": 10}
            else:
                usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
            if not body.get("stream"):
                await asyncio.sleep(self.delay)
                self.completed += 1
                choice = ({"index": 0, "message": {"role": "assistant", "content": f"from {self.name}"},
                           "finish_reason": "stop"} if chat else {"index": 0, "text": f"from {self.name}", "finish_reason": "stop"})
                return JSONResponse({"id": "x", "object": "chat.completion" if chat else "text_completion",
                                     "model": "fake", "backend": self.name, "choices": [choice], "usage": usage, **extra})
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

            async def gen():
                self.active += 1
                try:
                    for i in range(self.chunks):
                        if mode == "die" and i == 2:
                            raise RuntimeError("backend killed mid-stream")
                        delta = {"index": 0, "delta": {"content": f"t{i} "}} if chat else {"index": 0, "text": f"t{i} "}
                        yield f"data: {json.dumps({'id': 'x', 'model': 'fake', 'backend': self.name, 'choices': [delta], 'usage': None})}\n\n"
                        await asyncio.sleep(self.delay)
                    if include_usage:
                        yield f"data: {json.dumps({'id': 'x', 'model': 'fake', 'choices': [], 'usage': usage, **extra})}\n\n"
                    yield "data: [DONE]\n\n"
                    self.completed += 1
                except (asyncio.CancelledError, GeneratorExit):
                    self.cancelled += 1
                    raise
                finally:
                    self.active -= 1

            return StreamingResponse(gen(), media_type="text/event-stream")

        async def health(request: Request) -> Response:
            return PlainTextResponse("down", status_code=503) if self.mode == "down" else PlainTextResponse("ok")

        async def models(request: Request) -> Response:
            if self.props is not None:  # llama.cpp: no max_model_len in /v1/models
                return JSONResponse({"object": "list", "data": [{"id": "fake", "object": "model"}]})
            return JSONResponse({"object": "list", "data": [{"id": "fake", "object": "model",
                                                             "max_model_len": self.max_model_len, "owned_by": self.name}]})

        async def metrics(request: Request) -> Response:
            if self.metrics_text is not None:
                return PlainTextResponse(self.metrics_text)
            return PlainTextResponse(f"vllm:num_requests_running{{engine=\"0\"}} {self.active}\n"
                                     f"vllm:num_requests_waiting{{engine=\"0\"}} 0\n"
                                     f"vllm:kv_cache_usage_perc{{engine=\"0\"}} 0.1\n")

        async def slots(request: Request) -> Response:
            return JSONResponse(self.slots) if self.slots is not None else PlainTextResponse("no", status_code=404)

        async def props(request: Request) -> Response:
            return JSONResponse(self.props) if self.props is not None else PlainTextResponse("no", status_code=404)

        async def tokenize(request: Request) -> Response:
            self.tokenize_calls += 1
            body = json.loads(await request.body())
            text = body.get("prompt") or body.get("content") or ""
            return JSONResponse({"tokens": [ord(c) % 50000 for c in text]})

        return Starlette(routes=[Route("/v1/completions", completions, methods=["POST"]),
                                 Route("/v1/chat/completions", completions, methods=["POST"]),
                                 Route("/health", health), Route("/v1/models", models), Route("/metrics", metrics),
                                 Route("/tokenize", tokenize, methods=["POST"]), Route("/slots", slots),
                                 Route("/props", props)])

    def start(self) -> "FakeBackend":
        self.thread = ServerThread(self.app(), port=self._port).start()
        self._port = self.thread.port
        return self

    def stop(self) -> None:
        if self.thread is not None:
            self.thread.stop()
            self.thread = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"


class ProxyThread:
    """An in-process ``lmetric serve`` (the real app) on an ephemeral port."""

    def __init__(self, cfg):
        from analyzers.serve.app import make_app
        from analyzers.serve.proxy import Proxy

        self.proxy = Proxy(cfg, out=None)
        self.thread = ServerThread(make_app(self.proxy))
        self.url = self.thread.url

    def start(self) -> "ProxyThread":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.thread.stop()
