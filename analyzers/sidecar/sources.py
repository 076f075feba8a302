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

import json
import time as _time
from typing import IO, Iterator, Sequence

__all__ = ["JsonlSource", "jsonl_records", "parse_metrics", "PrometheusScraper", "METRIC_MAP"]

# snapshot field -> metric sample names, current first, then legacy / other engines
METRIC_MAP: dict[str, tuple[str, ...]] = {
    "num_running": ("vllm:num_requests_running", "sglang:num_running_reqs"),
    "num_waiting": ("vllm:num_requests_waiting", "sglang:num_queue_reqs"),
    "kv_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage"),
    "prefix_cache_queries_total": ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    "prefix_cache_hits_total": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    "num_preemptions_total": ("vllm:num_preemptions_total",),
    "prompt_tokens_total": ("vllm:prompt_tokens_total", "sglang:prompt_tokens_total"),
    "generation_tokens_total": ("vllm:generation_tokens_total", "sglang:generation_tokens_total"),
}
_INT_FIELDS = {"num_running", "num_waiting", "prefix_cache_queries_total", "prefix_cache_hits_total",
               "num_preemptions_total", "prompt_tokens_total", "generation_tokens_total"}


MAX_LINE = 1 << 20  # bytes; a longer line is dropped as ``too_long`` (memory bound)


class JsonlSource:
    """JSON lines from a binary (or text) stream, one dict per line, never raising.

    Each line is decoded on its own, so a bad byte costs only its line. Bad lines
    become marker records the validator counts: ``{"kind": "non_utf8"}``,
    ``"unparsable"`` (not JSON, an integer of more than 4,300 digits, nesting too deep),
    ``"too_long"`` (over ``max_line`` bytes), ``"empty_line"``; a JSON value that is not
    an object is passed on (dropped as ``not_an_object``). ``offset`` is the byte offset
    just after the last line yielded (for ``--resume``). With ``follow``, appended lines
    are read as they come (like ``tail -f``) until ``stop`` (a ``threading.Event``) is set.

    >>> import io
    >>> src = JsonlSource(io.BytesIO(b'{"kind": "x"}\\n\\xff\\n\\n[1]\\n{"a": 1}'))
    >>> [r.get("kind", "?") if isinstance(r, dict) else r for r in src], src.offset
    (['x', 'non_utf8', 'empty_line', [1], '?'], 29)
    """

    def __init__(self, fh: IO, *, follow: bool = False, poll_s: float = 0.2, stop=None, max_line: int = MAX_LINE,
                 offset: int = 0):
        self.fh, self.follow, self.poll_s, self.stop, self.max_line = fh, follow, poll_s, stop, max_line
        self.offset = offset
        self.line_no = 0

    def __iter__(self) -> Iterator:
        fh, limit = self.fh, self.max_line + 1
        buf = b""
        skipping = False  # inside an over-long line: discard up to its newline
        while True:
            chunk = fh.readline(limit)
            if isinstance(chunk, str):
                chunk = chunk.encode("utf-8", "surrogateescape")
            if not chunk:
                if not self.follow or (self.stop is not None and self.stop.is_set()):
                    if buf and not skipping:
                        self.line_no += 1
                        self.offset += len(buf)
                        yield _parse(buf, self.line_no)
                    return
                _time.sleep(self.poll_s)
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
    if not line.strip():
        return {"kind": "empty_line", "line": line_no}
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return {"kind": "non_utf8", "line": line_no}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        return {"kind": "unparsable", "line": line_no, "error": exc.msg}
    except (ValueError, RecursionError) as exc:  # > 4,300-digit integers, nesting too deep
        return {"kind": "unparsable", "line": line_no, "error": str(exc)[:80]}


def parse_metrics(text: str, instance: int, time: float) -> dict:
    """A snapshot dict from one Prometheus exposition (samples summed over label sets).
    Missing gauges are absent from the dict (the validator then drops the record)."""
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            values[s.name] = values.get(s.name, 0.0) + float(s.value)
    snap: dict = {"kind": "snapshot", "time": time, "instance": instance}
    for field, names in METRIC_MAP.items():
        for name in names:
            if name in values:
                v = values[name]
                snap[field] = int(round(v)) if field in _INT_FIELDS else v
                break
    if "kv_usage" in snap and snap["kv_usage"] > 1.0:  # some exporters report percent
        snap["kv_usage"] = snap["kv_usage"] / 100.0
    return snap


class PrometheusScraper:
    """Scrape ``urls`` (one instance each, in order). An instance that stops answering
    is reported with its last values and ``stale: true`` — marked, never dropped."""

    def __init__(self, urls: Sequence[str], timeout_s: float = 2.0, client=None):
        import httpx

        if not urls:
            raise ValueError("give at least one --scrape URL")
        self.urls = list(urls)
        self._client = client or httpx.Client(timeout=timeout_s)
        self._last: dict[int, dict] = {}
        self.failures = [0] * len(self.urls)

    def scrape(self, now: float) -> list[dict]:
        out = []
        for i, url in enumerate(self.urls):
            try:
                resp = self._client.get(url)
                resp.raise_for_status()
                snap = parse_metrics(resp.text, i, now)
                self._last[i] = snap
            except Exception as exc:  # network errors, bad status, unparsable text: mark stale
                self.failures[i] += 1
                prev = self._last.get(i)
                snap = ({**prev, "time": now, "stale": True} if prev else
                        {"kind": "snapshot", "time": now, "instance": i, "stale": True, "error": str(exc)[:200]})
            out.append(snap)
        return out

    def close(self) -> None:
        self._client.close()
