"""An instant OpenAI-compatible backend on raw asyncio, for proxy benchmarks and fast tests.

It answers ``POST /v1/chat/completions`` and ``/v1/completions`` (non-streaming JSON, or SSE
with ``stream: true``: a role chunk, ``chunks`` content chunks, a finish chunk, a usage
chunk when ``stream_options.include_usage`` is set, then ``data: [DONE]``), ``GET /health``,
``/v1/models`` and a llama.cpp-style ``/metrics`` (in-flight requests and prompt-token
counters), over HTTP/1.1 keep-alive. Nothing is computed: with ``chunk_delay_s = 0`` a
response costs only its bytes, so whatever latency a proxy in front adds is the proxy's.

Malformed requests get a 400 with a one-line reason; a connection that sends junk
headers is closed. Run one or more in a process with
``python -m analyzers.engines.fake_openai --port P [--port P2 ...]``.

>>> import asyncio, json
>>> async def demo():
...     srv = FakeOpenAI(chunks=3)
...     server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
...     port = server.sockets[0].getsockname()[1]
...     r, w = await asyncio.open_connection("127.0.0.1", port)
...     body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
...     w.write(b"POST /v1/chat/completions HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
...     head = await r.readuntil(b"\\r\\n\\r\\n")
...     n = int(head.split(b"Content-Length: ")[1].split(b"\\r\\n")[0])
...     doc = json.loads(await r.readexactly(n))
...     w.close(); server.close(); await server.wait_closed()
...     return head.split(b"\\r\\n")[0], doc["choices"][0]["message"]["content"], doc["usage"]["completion_tokens"]
>>> asyncio.run(demo())
(b'HTTP/1.1 200 OK', 'tok tok tok ', 3)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

__all__ = ["FakeOpenAI", "main"]

MODEL = "fake-model"
_MAX_HEAD = 64 * 1024
_MAX_BODY = 8 * 1024 * 1024


class FakeOpenAI:
    """The request handler (``asyncio.start_server(FakeOpenAI().handle, ...)``)."""

    def __init__(self, chunks: int = 4, chunk_delay_s: float = 0.0, model: str = MODEL):
        if not 1 <= chunks <= 10_000 or not 0 <= chunk_delay_s <= 60:
            raise ValueError("chunks must be in [1, 10000] and chunk_delay_s in [0, 60]")
        self.chunks, self.delay, self.model = chunks, chunk_delay_s, model
        self.inflight = 0
        self.requests = 0
        self.prompt_tokens = 0
        self.generated = 0

    # --- HTTP plumbing -------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                if len(head) > _MAX_HEAD:
                    return
                lines = head.decode("latin-1").split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) != 3:
                    return
                method, path = parts[0], parts[1]
                headers = {}
                for line in lines[1:]:
                    k, sep, v = line.partition(":")
                    if sep:
                        headers[k.strip().lower()] = v.strip()
                try:
                    n = int(headers.get("content-length", "0"))
                except ValueError:
                    n = -1
                if not 0 <= n <= _MAX_BODY or "chunked" in headers.get("transfer-encoding", "").lower():
                    await self._send(writer, 400, {"error": {"message": "need a Content-Length body up to 8 MiB"}})
                    return
                body = await reader.readexactly(n) if n else b""
                await self._dispatch(writer, method, path.split("?", 1)[0], body)
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _send(self, writer, status: int, doc, content_type: str = "application/json") -> None:
        payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
        writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                     % (status, reason.encode(), content_type.encode(), len(payload)) + payload)
        await writer.drain()

    async def _dispatch(self, writer, method: str, path: str, body: bytes) -> None:
        if method == "GET" and path == "/health":
            return await self._send(writer, 200, {"status": "ok"})
        if method == "GET" and path == "/v1/models":
            return await self._send(writer, 200, {"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}]})
        if method == "GET" and path == "/metrics":
            text = (f"llamacpp:prompt_tokens_total {self.prompt_tokens}\n"
                    f"llamacpp:prompt_tokens_cached_total 0\n"
                    f"llamacpp:tokens_predicted_total {self.generated}\n"
                    f"llamacpp:requests_processing {self.inflight}\n"
                    f"llamacpp:requests_deferred 0\n")
            return await self._send(writer, 200, text.encode(), "text/plain; version=0.0.4")
        if method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            try:
                req = json.loads(body)
                if not isinstance(req, dict):
                    raise ValueError("the body must be a JSON object")
            except ValueError as exc:
                return await self._send(writer, 400, {"error": {"message": f"bad JSON: {str(exc)[:80]}"}})
            self.inflight += 1
            try:
                await self._complete(writer, path.endswith("chat/completions"), req, len(body))
            finally:
                self.inflight -= 1
            return None
        return await self._send(writer, 404, {"error": {"message": f"no route {method} {path}"[:120]}})

    # --- completions ---------------------------------------------------------------------
    async def _complete(self, writer, chat: bool, req: dict, body_len: int) -> None:
        self.requests += 1
        prompt_tokens = max(1, body_len // 4)
        n = self.chunks
        self.prompt_tokens += prompt_tokens
        self.generated += n
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n,
                 "prompt_tokens_details": {"cached_tokens": 0}}
        rid = f"fake-{self.requests}"
        created = int(time.time())
        if not req.get("stream"):
            if chat:
                doc = {"id": rid, "object": "chat.completion", "created": created, "model": self.model,
                       "choices": [{"index": 0, "finish_reason": "length",
                                    "message": {"role": "assistant", "content": "tok " * n}}], "usage": usage}
            else:
                doc = {"id": rid, "object": "text_completion", "created": created, "model": self.model,
                       "choices": [{"index": 0, "finish_reason": "length", "text": "tok " * n, "logprobs": None}],
                       "usage": usage}
            return await self._send(writer, 200, doc)
        obj = "chat.completion.chunk" if chat else "text_completion"

        def chunk(choice: dict | None, extra: dict | None = None) -> bytes:
            doc = {"id": rid, "object": obj, "created": created, "model": self.model,
                   "choices": [choice] if choice is not None else []}
            if extra:
                doc.update(extra)
            data = b"data: " + json.dumps(doc).encode() + b"\n\n"
            return b"%x\r\n%s\r\n" % (len(data), data)

        def piece(text: str | None, finish: str | None = None, role: bool = False) -> dict:
            if chat:
                delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text else {})
                return {"index": 0, "delta": delta, "finish_reason": finish}
            return {"index": 0, "text": text or "", "finish_reason": finish, "logprobs": None}

        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        out = [chunk(piece(None, role=True))] if chat else []
        for _ in range(n):
            out.append(chunk(piece("tok ")))
            if self.delay:
                writer.write(b"".join(out))
                out = []
                await writer.drain()
                await asyncio.sleep(self.delay)
        out.append(chunk(piece(None, "length")))
        opts = req.get("stream_options")
        if isinstance(opts, dict) and opts.get("include_usage"):
            out.append(chunk(None, {"usage": usage}))
        done = b"data: [DONE]\n\n"
        out.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
        writer.write(b"".join(out))
        await writer.drain()


async def _serve(ports: list[int], host: str, handler: FakeOpenAI, max_seconds: float) -> None:
    servers = [await asyncio.start_server(handler.handle, host, p, backlog=4096, limit=_MAX_HEAD) for p in ports]
    for s in servers:
        print(f"fake_openai: listening on http://{host}:{s.sockets[0].getsockname()[1]}", flush=True)
    try:
        await asyncio.sleep(max_seconds)
    finally:
        for s in servers:
            s.close()


def main(argv=None) -> int:
    """Serve instant fake OpenAI backends on the given ports until killed (or ``--max-seconds``)."""
    ap = argparse.ArgumentParser(prog="python -m analyzers.engines.fake_openai", description=main.__doc__)
    ap.add_argument("--port", type=int, action="append", required=True, help="port to serve (repeatable)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--chunks", type=int, default=4, help="content chunks per streamed response (4)")
    ap.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between streamed chunks (0)")
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    a = ap.parse_args(argv)
    try:
        handler = FakeOpenAI(a.chunks, a.chunk_delay)
    except ValueError as exc:
        print(f"fake_openai: {exc}", file=sys.stderr)
        return 2
    asyncio.run(_serve(a.port, a.host, handler, a.max_seconds))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
