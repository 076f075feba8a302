"""Telemetry sources for the sidecar: JSON lines (a file, optionally followed, or
stdin), Prometheus endpoints of vLLM / SGLang instances, and parsing helpers.

Malformed input never raises here: an unparsable JSON line becomes a
``{"kind": "unparsable", ...}`` record that the validator counts and drops.

>>> text = '''# TYPE vllm:num_requests_running gauge
... vllm:num_requests_running{model_name="m",engine="0"} 3.0
... vllm:num_requests_waiting{model_name="m",engine="0"} 1.0
... vllm:gpu_cache_usage_perc{model_name="m",engine="0"} 0.5
... vllm:prefix_cache_queries_total{model_name="m",engine="0"} 1000.0
... vllm:prefix_cache_hits_total{model_name="m",engine="0"} 400.0
... '''
>>> snap = parse_metrics(text, instance=2, time=10.0)
>>> snap["num_running"], snap["num_waiting"], snap["kv_usage"], snap["prefix_cache_hits_total"]
(3, 1, 0.5, 400)
"""

from __future__ import annotations

import time as _time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import IO, Iterator, Sequence

import orjson

from analyzers.telemetry.engine_metrics import (MAX_EXPOSITION_BYTES, ExpositionError, parse_exposition, parse_props,
                                                parse_slots, to_snapshot)

__all__ = ["IDLE", "JsonlSource", "jsonl_records", "parse_metrics", "PrometheusScraper", "TargetStatus", "check_url"]

MAX_LINE = 1 << 20  # bytes; a longer line is dropped as ``too_long`` (memory bound)


class _Idle:
    """The type of :data:`IDLE`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "IDLE"


IDLE = _Idle()  # what a following JsonlSource yields when it has caught up (never a parsed line)


class JsonlSource:
    """JSON lines from a binary (or text) stream, one dict per line, never raising.

    Each line is decoded on its own, so a bad byte costs only its line. Bad lines
    become marker records the validator counts: ``{"kind": "non_utf8"}``,
    ``"unparsable"`` (not JSON, an integer of more than 4,300 digits, nesting too deep),
    ``"too_long"`` (over ``max_line`` bytes), ``"empty_line"``; a JSON value that is not
    an object is passed on (dropped as ``not_an_object``). ``offset`` is the byte offset
    just after the last line yielded (for ``--resume``). With ``follow``, appended lines
    are read as they come (like ``tail -f``) until ``stop`` (a ``threading.Event``) is set;
    with ``idle_marker`` it yields :data:`IDLE` each time it has caught up with the writer
    (a sentinel, so a line holding JSON ``null`` stays a record, dropped as ``not_an_object``).

    >>> import io
    >>> src = JsonlSource(io.BytesIO(b'{"kind": "x"}\\n\\xff\\n\\n[1]\\n{"a": 1}'))
    >>> [r.get("kind", "?") if isinstance(r, dict) else r for r in src], src.offset
    (['x', 'non_utf8', 'empty_line', [1], '?'], 29)
    """

    def __init__(self, fh: IO, *, follow: bool = False, poll_s: float = 0.2, stop=None, max_line: int = MAX_LINE,
                 offset: int = 0, idle_marker: bool = False):
        self.fh, self.follow, self.poll_s, self.stop, self.max_line = fh, follow, poll_s, stop, max_line
        self.idle_marker = idle_marker
        self.offset = offset
        self.line_no = 0

    def __iter__(self) -> Iterator:
        read1 = getattr(self.fh, "read1", None)
        return self._blocks(read1) if read1 is not None else self._lines()

    def _caught_up(self, rest: bytes):
        """At the end of what the stream has now: when it ends (not following, or told to
        stop), yield ``rest`` (a last line without its newline) as a record and return True;
        when following, yield :data:`IDLE` if asked, wait ``poll_s`` and return False."""
        if not self.follow or (self.stop is not None and self.stop.is_set()):
            if rest:
                self.line_no += 1
                self.offset += len(rest)
                yield _parse(rest, self.line_no)
            return True
        if self.idle_marker:
            yield IDLE  # caught up: a consumer batching what is available flushes now
        _time.sleep(self.poll_s)
        return False

    def _blocks(self, read1) -> Iterator:
        """Binary buffered streams: blocks of up to 64 KiB (``read1``: what is available,
        never waiting for more), split at newlines — the records, offsets and line numbers
        of :meth:`_lines` on a stream read to its end (tested on random bytes), a third of
        its cost per line. Following a file being written, it is stricter: a line longer
        than ``max_line`` is ``too_long`` even when the writer paused in the middle of it
        (the line reader let such a line through as two reads)."""
        max_line, loads = self.max_line, orjson.loads
        pending = b""     # the start of a line whose newline has not come yet (at most max_line bytes)
        skipping = False  # inside an over-long line: discard up to its newline
        while True:
            data = read1(1 << 16)
            if isinstance(data, str):
                data = data.encode("utf-8", "surrogateescape")
            if not data:
                if (yield from self._caught_up(pending)):
                    return
                continue
            start = 0
            if skipping:
                nl = data.find(b"\n")
                if nl < 0:
                    self.offset += len(data)
                    continue
                self.offset += nl + 1
                start, skipping = nl + 1, False
            parts = (data[start:] if start else data).split(b"\n")
            rest = parts.pop()  # after the last newline: the start of a line still to come
            if parts and pending:
                parts[0], pending = pending + parts[0], b""
            for part in parts:  # each a whole line, its newline dropped (JSON allows trailing whitespace)
                self.line_no += 1
                size = len(part) + 1
                if size > max_line + 1:  # as _lines: reported once max_line + 1 bytes are read
                    self.offset += max_line + 1
                    yield {"kind": "too_long", "line": self.line_no}
                    self.offset += size - (max_line + 1)
                    continue
                self.offset += size
                try:
                    rec = loads(part)
                except orjson.JSONDecodeError:  # the marker _parse gives the line with its newline
                    rec = _parse(part + b"\n", self.line_no)
                yield rec
            if rest:
                pending += rest
                if len(pending) > max_line:
                    self.line_no += 1
                    self.offset += max_line + 1
                    yield {"kind": "too_long", "line": self.line_no}
                    self.offset += len(pending) - (max_line + 1)
                    pending, skipping = b"", True

    def _lines(self) -> Iterator:
        """Any stream (text streams too), one ``readline`` a line."""
        fh, limit = self.fh, self.max_line + 1
        buf = b""
        skipping = False  # inside an over-long line: discard up to its newline
        while True:
            chunk = fh.readline(limit)
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8", "surrogateescape")
            if not chunk:
                if (yield from self._caught_up(b"" if skipping else buf)):
                    return
                continue
            if skipping:
                self.offset += len(chunk)
                if chunk.endswith(b"\n"):
                    skipping = False
                continue
            buf += chunk
            if not buf.endswith(b"\n"):
                if len(buf) > self.max_line:
                    self.line_no += 1
                    self.offset += len(buf)
                    buf, skipping = b"", True
                    yield {"kind": "too_long", "line": self.line_no}
                continue  # else a partial line still being written
            self.line_no += 1
            line, buf = buf, b""
            self.offset += len(line)
            yield _parse(line, self.line_no)


def jsonl_records(fh: IO, *, follow: bool = False, poll_s: float = 0.2, stop=None) -> Iterator:
    """Yield one record per line of ``fh`` (see :class:`JsonlSource`)."""
    return iter(JsonlSource(fh, follow=follow, poll_s=poll_s, stop=stop))


def _parse(line: bytes, line_no: int):
    """One line -> its JSON value or a marker record. orjson (3-5x the stdlib's speed)
    rejects what the stdlib would turn into surprises: NaN/Infinity literals, numbers
    that overflow a double, nesting deeper than 1,024."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        if not line.strip():
            return {"kind": "empty_line", "line": line_no}
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return {"kind": "non_utf8", "line": line_no}
        return {"kind": "unparsable", "line": line_no, "error": str(exc).split(":", 1)[0][:80]}


def parse_metrics(text: str | bytes, instance: int, time: float, max_num_seqs: int | None = None) -> dict:
    """A snapshot dict from one Prometheus exposition of vLLM, SGLang or llama.cpp
    (parsed by :func:`analyzers.telemetry.engine_metrics.parse_exposition`; samples
    summed over label sets). Fields the engine does not expose are absent (a snapshot
    without ``kv_usage`` is then dropped by the validator as ``missing_field``).
    ``busy_ms_total`` is the engine's prompt + generation seconds where it reports them
    (llama.cpp ``*_seconds_total``; vLLM's request prefill/decode time sums) — summed
    over concurrent requests, so an upper bound on busy time that grows with slowness.
    ``ExpositionError`` (a ``ValueError``) on junk."""
    m = parse_exposition(text)
    snap = to_snapshot(m, instance, time, max_num_seqs=max_num_seqs)
    secs = [m.counters[c] for c in ("prompt_seconds_total", "generation_seconds_total") if c in m.counters]
    if secs and "busy_ms_total" not in snap:
        snap["busy_ms_total"] = round(1000.0 * sum(secs), 3)
    return snap


@dataclass
class TargetStatus:
    """One scraped instance: ``up`` after its last scrape, ``reason`` when down, the age
    of its last good answer."""

    instance: int
    url: str
    up: bool = False
    reason: str = "not scraped yet"
    last_ok: float | None = None
    failures: int = 0
    engine: str | None = None

    def to_dict(self, now: float) -> dict:
        return {"instance": self.instance, "url": self.url, "up": self.up, "engine": self.engine,
                "reason": None if self.up else self.reason, "failures": self.failures,
                "age_s": None if self.last_ok is None else round(max(now - self.last_ok, 0.0), 3)}


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be scraped (``None`` when it is an http(s) URL with a host).

    >>> check_url("http://10.0.0.5:8000/metrics") is None, check_url("notaurl")
    (True, "'notaurl' is not an http(s) URL")
    """
    import httpx

    try:
        u = httpx.URL(url)
        ok = u.scheme in ("http", "https") and bool(u.host)
        if ok:
            _ = u.port  # an out-of-range port raises here
    except Exception:  # httpx.InvalidURL and friends
        ok = False
    return None if ok else f"{url!r} is not an http(s) URL"


class PrometheusScraper:
    """Scrape ``urls`` (one instance each, in order) concurrently, each with its own
    ``timeout_s``: one round takes at most about ``timeout_s`` however many targets hang.

    An instance that stops answering is reported with its last values, ``stale: true``
    and ``age_s`` (seconds since its last answer) — marked, never dropped; one that never
    answered yields no snapshot. :attr:`status` says per target whether it is up and, if
    not, why (timeout, connection refused, HTTP status, unparsable exposition).
    llama.cpp has no KV-usage gauge: its ``/slots`` (same host) supplies it, and ``/props``
    its slot count as ``max_num_seqs``."""

    def __init__(self, urls: Sequence[str], timeout_s: float = 0.5, client=None, max_num_seqs: int | None = None):
        import httpx

        if not urls:
            raise ValueError("give at least one --scrape URL")
        for u in urls:
            why = check_url(u)
            if why:
                raise ValueError(why)
        self.urls = list(urls)
        self.timeout_s = timeout_s
        self.max_num_seqs = max_num_seqs
        self._client = client or httpx.Client(timeout=timeout_s, limits=httpx.Limits(max_connections=4 * len(urls) + 4))
        self._pool = ThreadPoolExecutor(max_workers=min(64, len(self.urls)), thread_name_prefix="lmetric-scrape")
        self._pending: dict[int, Future] = {}
        self._last: dict[int, dict] = {}
        self._props: dict[int, int | None] = {}
        self.status = [TargetStatus(i, u) for i, u in enumerate(self.urls)]

    @property
    def failures(self) -> list[int]:
        return [st.failures for st in self.status]

    def _get(self, url: str):
        resp = self._client.get(url)
        if resp.status_code != 200:
            raise _ScrapeError(f"HTTP {resp.status_code}")
        if len(resp.content) > MAX_EXPOSITION_BYTES:
            raise _ScrapeError("response too large")
        return resp

    def _fetch(self, i: int) -> tuple[dict, str]:
        """One target: ``(snapshot without time, engine)``; raises on any failure."""
        url = self.urls[i]
        m = parse_exposition(self._get(url).content)
        slots = None
        cap = self.max_num_seqs
        if m.engine == "llamacpp" and m.kv_usage is None:
            base = url.rsplit("/metrics", 1)[0] if "/metrics" in url else url.rstrip("/")
            try:
                slots = parse_slots(self._get(base + "/slots").json())
            except Exception:
                slots = None  # without /slots there is no KV usage: the snapshot is dropped as missing_field
            if cap is None and m.max_num_seqs is None:
                if i not in self._props:
                    try:
                        self._props[i] = parse_props(self._get(base + "/props").json())["total_slots"]
                    except Exception:
                        self._props[i] = None
                cap = self._props[i]
        snap = to_snapshot(m, i, 0.0, slots=slots, max_num_seqs=cap)
        secs = [m.counters[c] for c in ("prompt_seconds_total", "generation_seconds_total") if c in m.counters]
        if secs and "busy_ms_total" not in snap:
            snap["busy_ms_total"] = round(1000.0 * sum(secs), 3)
        return snap, m.engine

    def scrape(self, now: float) -> list[dict]:
        """One round at stream time ``now``: a snapshot per target that answered or has
        answered before."""
        t0 = _time.monotonic()
        busy = {i for i, f in self._pending.items() if not f.done()}
        for i in range(len(self.urls)):
            if i not in busy:
                self._pending[i] = self._pool.submit(self._fetch, i)
        wait(list(self._pending.values()), timeout=self.timeout_s)
        out = []
        for i, st in enumerate(self.status):
            fut = self._pending[i]
            snap = None
            if i in busy:
                reason = f"no answer for over {self.timeout_s:g} s (previous scrape still hanging)"
            elif not fut.done():
                reason = f"timeout after {self.timeout_s:g} s"
            else:
                try:
                    snap, st.engine = fut.result()
                    reason = ""
                except Exception as exc:  # network errors, bad status, unparsable text
                    reason = _reason(exc)
                del self._pending[i]
            if snap is not None:
                snap["time"] = now
                st.up, st.reason, st.last_ok = True, "", now
                self._last[i] = snap
            else:
                st.up, st.reason = False, reason
                st.failures += 1
                prev = self._last.get(i)
                if prev is not None:
                    snap = {**prev, "time": now, "stale": True, "age_s": round(now - st.last_ok, 6)}
            if snap is not None:
                out.append(snap)
        self.round_s = _time.monotonic() - t0
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


class _ScrapeError(Exception):
    pass


def _reason(exc: BaseException) -> str:
    """A one-line reason for a failed scrape."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unreachable"
    if isinstance(exc, ExpositionError):
        return f"bad exposition: {exc}"[:200]
    if isinstance(exc, _ScrapeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
