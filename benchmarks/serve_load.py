"""A lean HTTP/1.1 streaming load client (raw asyncio) and machine facts for the serving benchmarks.

The client keeps ``streams`` keep-alive connections, each sending streamed chat requests one
after another, and records per request: time to the first body chunk of the stream (TTFB —
the first SSE event), time to the end, and whether the stream completed (HTTP 200, SSE
ending with ``data: [DONE]`` and the terminating chunk). Anything else — a refused or
reset connection, another status, a truncated stream, a timeout — is a *lost* request.
It is lean on purpose: the client shares a core with the fake backends and must not be
the bottleneck of what it measures.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

from benchmarks._common import machine_line  # noqa: F401  (re-exported for the serving benchmarks)

__all__ = ["LoadResult", "run_load", "make_bodies", "machine_line"]


@dataclass
class LoadResult:
    sent: int = 0
    completed: int = 0
    lost: int = 0
    wall_s: float = 0.0
    ttfb_s: list[float] = field(default_factory=list)
    total_s: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def pct(self, which: str, q: float) -> float:
        xs = getattr(self, which)
        return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")

    @property
    def req_per_s(self) -> float:
        return self.completed / self.wall_s if self.wall_s > 0 else 0.0


def _request_bytes(host: str, path: str, body: bytes) -> bytes:
    return (b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % (path.encode(), host.encode(), len(body))) + body


async def _read_response(reader: asyncio.StreamReader, t0: float) -> tuple[float | None, str | None]:
    """Read one response; returns (ttfb or None, error or None)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1] if b" " in head else b"?"
    lower = head.lower()
    if status != b"200":
        # drain a Content-Length body to keep the connection usable
        if b"content-length:" in lower:
            n = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(n)
            return None, f"HTTP {status.decode(errors='replace')}"
        return None, f"HTTP {status.decode(errors='replace')} (connection dropped)"
    ttfb = None
    body = bytearray()
    if b"transfer-encoding: chunked" in lower:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            data = await reader.readexactly(size + 2)
            if ttfb is None and b"data:" in data:
                ttfb = time.perf_counter() - t0
            body += data[:-2]
    elif b"content-length:" in lower:
        n = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        body += await reader.readexactly(n)
        ttfb = time.perf_counter() - t0
    else:
        return None, "response without length or chunked encoding"
    if not body.rstrip().endswith(b"data: [DONE]"):
        return ttfb, "stream did not end with data: [DONE]"
    return ttfb, None


async def _conn_loop(url: str, bodies: list[bytes], next_index, deadline: float, res: LoadResult, timeout_s: float,
                     start_delay: float = 0.0):
    if start_delay > 0:
        await asyncio.sleep(start_delay)
    u = urlsplit(url)
    host, port = u.hostname, u.port or 80
    hosthdr = f"{host}:{port}"
    reader = writer = None
    while time.perf_counter() < deadline:
        i = next_index()
        if i is None:
            break
        res.sent += 1
        t0 = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=1 << 20), timeout_s)
            writer.write(_request_bytes(hosthdr, "/v1/chat/completions", bodies[i % len(bodies)]))
            ttfb, err = await asyncio.wait_for(_read_response(reader, t0), timeout_s)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ValueError, IndexError) as exc:
            ttfb, err = None, type(exc).__name__
        if err is None:
            res.completed += 1
            res.ttfb_s.append(ttfb)
            res.total_s.append(time.perf_counter() - t0)
        else:
            res.lost += 1
            res.errors[err] = res.errors.get(err, 0) + 1
            if writer is not None:
                writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def make_bodies(n: int, seed: int = 0, n_prefixes: int = 4, model: str = "fake-model") -> list[bytes]:
    """``n`` distinct streamed chat requests sharing ``n_prefixes`` system prompts (~1 KB each)."""
    rng = np.random.default_rng(seed)
    systems = [f"System prompt {k}: " + " ".join(f"w{int(x)}" for x in rng.integers(0, 5000, 180))
               for k in range(n_prefixes)]
    out = []
    for i in range(n):
        doc = {"model": model, "stream": True, "stream_options": {"include_usage": True}, "max_tokens": 8,
               "messages": [{"role": "system", "content": systems[i % n_prefixes]},
                            {"role": "user", "content": f"question {i} " + " ".join(f"q{int(x)}" for x in rng.integers(0, 9999, 12))}]}
        out.append(json.dumps(doc).encode())
    return out


async def _run(urls: list[str], streams: int, bodies: list[bytes], total: int | None, seconds: float | None,
               timeout_s: float, ramp_s: float = 0.0) -> LoadResult:
    res = LoadResult()
    counter = iter(range(total if total is not None else 10**12))

    def next_index():
        return next(counter, None)

    deadline = time.perf_counter() + (seconds if seconds is not None else 10**9)
    t0 = time.perf_counter()
    await asyncio.gather(*(_conn_loop(urls[k % len(urls)], bodies, next_index, deadline, res, timeout_s,
                                      ramp_s * k / streams) for k in range(streams)))
    res.wall_s = time.perf_counter() - t0
    return res


def run_load(urls: list[str], streams: int, bodies: list[bytes], total: int | None = None,
             seconds: float | None = None, timeout_s: float = 30.0, ramp_s: float = 0.0) -> LoadResult:
    """``streams`` concurrent keep-alive streams spread over ``urls``; stop after ``total`` requests
    or ``seconds`` (whichever is given; both bound the run). Stream ``k`` starts after
    ``ramp_s * k / streams`` s: with ``ramp_s`` 0 all streams start together and, with
    requests of equal length, stay in step (bursts of ``streams`` requests); with ``ramp_s``
    one request length the arrivals are spread evenly (~``streams / ramp_s`` requests/s)."""
    if total is None and seconds is None:
        raise ValueError("give total or seconds (the load must be bounded)")
    if not ramp_s >= 0:
        raise ValueError("ramp_s must be >= 0")
    return asyncio.run(_run(urls, streams, bodies, total, seconds, timeout_s, ramp_s))
