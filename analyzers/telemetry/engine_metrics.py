"""What real serving engines expose, parsed into one normalised shape.

One parser for the Prometheus text of vLLM (current and legacy names), SGLang and
llama.cpp's ``llama-server``, plus llama.cpp's ``/slots`` and ``/props`` JSON (it has
no KV-usage gauge). The router (``lmetric serve``) and the sidecar's scraper both read
engines through here, so a metric name is mapped in exactly one place.

Normalisation (per exposition, label sets combined):

* gauges ``running`` and ``waiting`` — summed over label sets (one vLLM process can
  expose several data-parallel ``engine`` labels);
* ``kv_usage`` — fraction 0..1, *averaged* over label sets (a percentage above 1 is
  divided by 100); ``None`` when the engine has no such gauge (llama.cpp: use
  :func:`parse_slots`);
* ``block_size``, ``num_blocks`` — from ``vllm:cache_config_info`` /
  ``sglang:cache_config_info`` labels where exposed;
* ``max_num_seqs`` — from any ``*_config_info`` label named ``max_num_seqs`` or
  ``max_running_requests``, or SGLang's ``sglang:max_running_requests`` gauge;
  ``None`` when not exposed (vLLM 0.32 does not; llama.cpp: ``total_slots`` of
  ``/props``);
* ``counters`` — monotone totals under engine-independent names:

  ==========================  =============================================================
  name                        source
  ==========================  =============================================================
  prompt_tokens_total         all prompt tokens (vLLM, SGLang); llama.cpp: computed + cached
  prompt_tokens_cached_total  prompt tokens served from the prefix cache
  generation_tokens_total     output tokens (llama.cpp ``tokens_predicted_total``)
  prefix_cache_queries_total  vLLM (tokens); llama.cpp: = prompt_tokens_total
  prefix_cache_hits_total     vLLM (tokens); llama.cpp: = prompt_tokens_cached_total
  num_preemptions_total       vLLM
  steps_total                 engine steps: vLLM ``iteration_tokens_total_count``,
                              llama.cpp ``n_decode_total``
  step_tokens_total           tokens scheduled over those steps (vLLM
                              ``iteration_tokens_total_sum``)
  prompt_seconds_total        llama.cpp ``prompt_seconds_total``; vLLM
                              ``request_prefill_time_seconds_sum``
  generation_seconds_total    llama.cpp ``tokens_predicted_seconds_total``; vLLM
                              ``request_decode_time_seconds_sum``
  ==========================  =============================================================

  A counter the engine does not expose is absent (never a made-up zero).

Malformed text raises :class:`ExpositionError` (a ``ValueError``) with a one-line
reason; it never raises anything else.

>>> m = parse_exposition('''# TYPE vllm:num_requests_running gauge
... vllm:num_requests_running{engine="0",model_name="m"} 3.0
... vllm:num_requests_waiting{engine="0",model_name="m"} 1.0
... vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
... vllm:prefix_cache_hits_total{engine="0",model_name="m"} 400.0
... ''')
>>> m.engine, m.running, m.waiting, m.kv_usage, m.counters["prefix_cache_hits_total"]
('vllm', 3.0, 1.0, 0.25, 400.0)
>>> parse_exposition("llamacpp:requests_processing 2\\nllamacpp:requests_deferred 1\\n").kv_usage is None
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["EngineMetrics", "SlotsState", "ExpositionError", "parse_exposition", "parse_slots", "parse_props",
           "to_snapshot", "MAX_EXPOSITION_BYTES"]

MAX_EXPOSITION_BYTES = 16 * 1024 * 1024  # a real vLLM exposition is ~60 KB

# normalised gauge -> sample names, current first, then legacy / other engines
_GAUGES: dict[str, tuple[str, ...]] = {
    "running": ("vllm:num_requests_running", "sglang:num_running_reqs", "llamacpp:requests_processing"),
    "waiting": ("vllm:num_requests_waiting", "sglang:num_queue_reqs", "llamacpp:requests_deferred"),
    "kv_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage"),
}
_COUNTERS: dict[str, tuple[str, ...]] = {
    "prompt_tokens_total": ("vllm:prompt_tokens_total", "sglang:prompt_tokens_total"),
    "prompt_tokens_cached_total": ("vllm:prompt_tokens_cached_total", "sglang:cached_tokens_total",
                                   "llamacpp:prompt_tokens_cached_total"),
    "generation_tokens_total": ("vllm:generation_tokens_total", "sglang:generation_tokens_total",
                                "llamacpp:tokens_predicted_total"),
    "prefix_cache_queries_total": ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
    "prefix_cache_hits_total": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
    "num_preemptions_total": ("vllm:num_preemptions_total", "vllm:num_preemptions"),
    "steps_total": ("vllm:iteration_tokens_total_count", "llamacpp:n_decode_total"),
    "step_tokens_total": ("vllm:iteration_tokens_total_sum",),
    "prompt_seconds_total": ("llamacpp:prompt_seconds_total", "vllm:request_prefill_time_seconds_sum"),
    "generation_seconds_total": ("llamacpp:tokens_predicted_seconds_total", "vllm:request_decode_time_seconds_sum"),
}
_LLAMA_UNCACHED_PROMPT = "llamacpp:prompt_tokens_total"  # llama.cpp counts computed (uncached) prompt tokens only
_CONFIG_INFO = ("vllm:cache_config_info", "sglang:cache_config_info")
_MAX_SEQS_LABELS = ("max_num_seqs", "max_running_requests")
_MAX_SEQS_GAUGES = ("sglang:max_running_requests", "vllm:max_num_seqs")


class ExpositionError(ValueError):
    """The text is not a usable Prometheus exposition of a known engine."""


@dataclass(frozen=True)
class EngineMetrics:
    """One engine's state from one exposition (see the module docstring for names)."""

    engine: str
    running: float | None = None
    waiting: float | None = None
    kv_usage: float | None = None
    block_size: int | None = None
    num_blocks: int | None = None
    max_num_seqs: int | None = None
    counters: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SlotsState:
    """llama.cpp ``/slots``: ``busy`` of ``n_slots`` processing; ``tokens_in_use`` KV
    cells held by the requests in flight (prompt + decoded so far) out of
    ``n_ctx_total`` (the sum of the slots' contexts); ``kv_usage`` their ratio."""

    n_slots: int
    busy: int
    n_ctx_total: int
    tokens_in_use: int

    @property
    def kv_usage(self) -> float:
        return min(1.0, self.tokens_in_use / self.n_ctx_total) if self.n_ctx_total > 0 else 0.0


def _finite(v: float, name: str) -> float:
    if not math.isfinite(v) or v < 0:
        raise ExpositionError(f"{name} is {v!r}: expected a finite value >= 0")
    return v


def _int_label(labels: dict, *names: str) -> int | None:
    for n in names:
        v = labels.get(n)
        if v is None:
            continue
        try:
            out = int(float(v))
        except (TypeError, ValueError, OverflowError):
            continue
        if out > 0:
            return out
    return None


def parse_exposition(text: str | bytes) -> EngineMetrics:
    """Parse one ``/metrics`` body (see the module docstring). ``ExpositionError`` on junk,
    on a body larger than ``MAX_EXPOSITION_BYTES``, or when no known engine metric is present."""
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_EXPOSITION_BYTES:
            raise ExpositionError(f"exposition of {len(text)} bytes is larger than {MAX_EXPOSITION_BYTES}")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ExpositionError(f"exposition is not UTF-8 (byte {exc.start})") from None
    if not isinstance(text, str):
        raise ExpositionError(f"exposition must be text, got {type(text).__name__}")
    if len(text) > MAX_EXPOSITION_BYTES:
        raise ExpositionError(f"exposition of {len(text)} characters is larger than {MAX_EXPOSITION_BYTES}")
    from prometheus_client.parser import text_string_to_metric_families

    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    block_size = num_blocks = max_seqs = None
    try:
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                name, v = s.name, float(s.value)
                if name in _CONFIG_INFO:
                    block_size = block_size or _int_label(s.labels, "block_size")
                    num_blocks = num_blocks or _int_label(s.labels, "num_gpu_blocks", "num_blocks")
                if name.endswith("_info") and max_seqs is None:
                    max_seqs = _int_label(s.labels, *_MAX_SEQS_LABELS)
                sums[name] = sums.get(name, 0.0) + v
                counts[name] = counts.get(name, 0) + 1
    except ExpositionError:
        raise
    except Exception as exc:  # prometheus_client raises ValueError/KeyError/IndexError/TypeError on junk
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise ExpositionError(f"not a Prometheus exposition: {first}") from None

    def first(names: tuple[str, ...]) -> str | None:
        return next((n for n in names if n in sums), None)

    found = {}
    for key, names in _GAUGES.items():
        n = first(names)
        if n is not None:
            v = sums[n] / counts[n] if key == "kv_usage" else sums[n]
            found[key] = _finite(v, n)
    if "kv_usage" in found and found["kv_usage"] > 1.0:  # some exporters report percent
        found["kv_usage"] = min(found["kv_usage"] / 100.0, 1.0)
    counters: dict[str, float] = {}
    for key, names in _COUNTERS.items():
        n = first(names)
        if n is not None:
            counters[key] = _finite(sums[n], n)
    if _LLAMA_UNCACHED_PROMPT in sums:  # llama.cpp: computed + cached = all prompt tokens
        computed = _finite(sums[_LLAMA_UNCACHED_PROMPT], _LLAMA_UNCACHED_PROMPT)
        cached = counters.get("prompt_tokens_cached_total", 0.0)
        counters["prompt_tokens_total"] = computed + cached
        counters["prefix_cache_queries_total"] = computed + cached
        counters["prefix_cache_hits_total"] = cached
    gauge = first(_MAX_SEQS_GAUGES)
    if max_seqs is None and gauge is not None and sums[gauge] >= 1:
        max_seqs = int(_finite(sums[gauge], gauge))
    prefixes = {n.split(":", 1)[0] for n in sums if ":" in n}
    engine = next((e for e in ("vllm", "sglang", "llamacpp") if e in prefixes), "unknown")
    if engine == "unknown" or not (found or counters):
        raise ExpositionError("no vLLM, SGLang or llama.cpp metric in the exposition")
    return EngineMetrics(engine, found.get("running"), found.get("waiting"), found.get("kv_usage"), block_size,
                         num_blocks, max_seqs, counters)


def _nonneg_int(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ExpositionError(f"{what} must be a number >= 0, got {v!r}"[:160])
    return int(v)


def parse_slots(obj) -> SlotsState:
    """llama.cpp ``/slots`` (a JSON list of slots) -> :class:`SlotsState`.

    A processing slot holds ``n_prompt_tokens + next_token[0].n_decoded`` KV cells.

    >>> s = parse_slots([{"id": 0, "n_ctx": 2048, "is_processing": True, "n_prompt_tokens": 421,
    ...                   "next_token": [{"n_decoded": 11}]}, {"id": 1, "n_ctx": 2048, "is_processing": False}])
    >>> s.busy, s.n_slots, s.tokens_in_use, round(s.kv_usage, 4)
    (1, 2, 432, 0.1055)
    """
    if not isinstance(obj, list):
        raise ExpositionError(f"/slots must be a JSON list, got {type(obj).__name__}")
    n_ctx = busy = used = 0
    for i, slot in enumerate(obj):
        if not isinstance(slot, dict):
            raise ExpositionError(f"/slots entry {i} is not an object")
        n_ctx += _nonneg_int(slot.get("n_ctx", 0), f"slot {i} n_ctx")
        if slot.get("is_processing") is True:
            busy += 1
            used += _nonneg_int(slot.get("n_prompt_tokens", 0), f"slot {i} n_prompt_tokens")
            nxt = slot.get("next_token")
            if isinstance(nxt, list) and nxt and isinstance(nxt[0], dict):
                used += _nonneg_int(nxt[0].get("n_decoded", 0), f"slot {i} n_decoded")
    return SlotsState(len(obj), busy, n_ctx, used)


def parse_props(obj) -> dict:
    """llama.cpp ``/props`` -> ``{"total_slots": int | None, "n_ctx": int | None}``.

    >>> parse_props({"total_slots": 2, "default_generation_settings": {"n_ctx": 2048}})
    {'total_slots': 2, 'n_ctx': 2048}
    """
    if not isinstance(obj, dict):
        raise ExpositionError(f"/props must be a JSON object, got {type(obj).__name__}")
    slots = obj.get("total_slots")
    gen = obj.get("default_generation_settings")
    n_ctx = gen.get("n_ctx") if isinstance(gen, dict) else None
    if n_ctx is None:
        n_ctx = obj.get("n_ctx")
    return {"total_slots": _nonneg_int(slots, "total_slots") if slots is not None else None,
            "n_ctx": _nonneg_int(n_ctx, "n_ctx") if n_ctx is not None else None}


_SNAPSHOT_COUNTERS = ("prefix_cache_queries_total", "prefix_cache_hits_total", "num_preemptions_total",
                      "steps_total", "prompt_tokens_total", "generation_tokens_total")


def to_snapshot(m: EngineMetrics, instance: int, time: float, slots: SlotsState | None = None,
                max_num_seqs: int | None = None) -> dict:
    """An ``InstanceSnapshot`` dict (``kind: snapshot``) from parsed metrics.

    ``slots`` supplies llama.cpp's KV usage and slot count; ``max_num_seqs`` overrides
    what the engine exposes (e.g. a ``--max-num-seqs`` flag). ``busy_ms_total`` is
    llama.cpp's prompt + generation seconds (request-summed: an upper bound on busy
    time when slots overlap). Fields the engine cannot supply are left out, never zeroed.

    >>> m = parse_exposition("llamacpp:requests_processing 2\\nllamacpp:requests_deferred 2\\n")
    >>> s = to_snapshot(m, 0, 1.5, slots=SlotsState(2, 2, 4096, 1024))
    >>> s["num_running"], s["num_waiting"], s["kv_usage"], s["max_num_seqs"]
    (2, 2, 0.25, 2)
    """
    snap: dict = {"kind": "snapshot", "time": time, "instance": instance}
    if m.running is not None:
        snap["num_running"] = int(round(m.running))
    if m.waiting is not None:
        snap["num_waiting"] = int(round(m.waiting))
    kv = m.kv_usage if m.kv_usage is not None else (slots.kv_usage if slots is not None else None)
    if kv is not None:
        snap["kv_usage"] = kv
    for c in _SNAPSHOT_COUNTERS:
        if c in m.counters:
            snap[c] = int(round(m.counters[c]))
    secs = [m.counters[c] for c in ("prompt_seconds_total", "generation_seconds_total") if c in m.counters]
    if m.engine == "llamacpp" and secs:
        snap["busy_ms_total"] = round(1000.0 * sum(secs), 3)
    cap = max_num_seqs or m.max_num_seqs or (slots.n_slots if slots is not None else None)
    if cap:
        snap["max_num_seqs"] = int(cap)
    return snap
