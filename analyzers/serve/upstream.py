"""Talking to backends outside the request path: health, models, limits, scrapes,
tokenisation. Every call is bounded by the client's timeouts and never raises on a
bad answer (it returns ``None`` or leaves the state as it was, counting the failure).
"""

from __future__ import annotations

import json

import httpx

from analyzers.telemetry.schema import InstanceSnapshot

from .fleet import Backend

__all__ = ["check_health", "fetch_models", "scrape", "tokenize", "snapshot_of"]


async def _get_json(client: httpx.AsyncClient, url: str):
    try:
        r = await client.get(url)
        if r.status_code != 200:
            return None
        return r.json()
    except (httpx.HTTPError, json.JSONDecodeError, UnicodeDecodeError, ValueError):
        return None


async def check_health(client: httpx.AsyncClient, b: Backend) -> bool:
    """``GET /health`` answered 200 (vLLM, SGLang, llama.cpp all serve it)."""
    try:
        r = await client.get(b.url + "/health")
        await r.aclose()
        return r.status_code == 200
    except httpx.HTTPError:
        return False


async def fetch_models(client: httpx.AsyncClient, b: Backend) -> None:
    """Models and the context limit: vLLM's ``max_model_len`` in ``/v1/models``,
    else llama.cpp's per-slot ``n_ctx`` from ``/props``."""
    doc = await _get_json(client, b.url + "/v1/models")
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        models = [m for m in doc["data"] if isinstance(m, dict) and isinstance(m.get("id"), str)]
        b.models = models
        lens = [m.get("max_model_len") for m in models if isinstance(m.get("max_model_len"), int)]
        if lens:
            b.max_model_len = max(lens)
    if b.max_model_len is None:
        props = await _get_json(client, b.url + "/props")
        if isinstance(props, dict):
            dgs = props.get("default_generation_settings")
            n_ctx = dgs.get("n_ctx") if isinstance(dgs, dict) else None
            if isinstance(n_ctx, int) and n_ctx > 0:
                b.max_model_len = n_ctx
                b.engine = "llamacpp"
            slots = props.get("total_slots")
            if isinstance(slots, int) and slots > 0:
                b.max_num_seqs = slots


async def scrape(client: httpx.AsyncClient, b: Backend, now: float) -> bool:
    """Refresh running / waiting / KV usage from ``/metrics`` (and ``/slots`` for
    llama.cpp, which has no KV gauge). Returns whether the scrape succeeded."""
    from analyzers.telemetry.engine_metrics import parse_exposition, parse_slots

    try:
        r = await client.get(b.url + "/metrics")
        if r.status_code != 200:
            raise ValueError(f"HTTP {r.status_code}")
        m = parse_exposition(r.text)
    except (httpx.HTTPError, ValueError, UnicodeDecodeError):
        b.scrape_failures += 1
        return False
    slots = None
    if m.engine == "llamacpp":
        doc = await _get_json(client, b.url + "/slots")
        if doc is not None:
            try:
                slots = parse_slots(doc)
            except ValueError:
                slots = None
    b.metrics, b.slots = m, slots
    b.engine = m.engine if m.engine != "unknown" else b.engine
    b.running = int(round(m.running or 0))
    b.waiting = int(round(m.waiting or 0))
    b.kv_usage = m.kv_usage if m.kv_usage is not None else (slots.kv_usage if slots is not None else None)
    if m.block_size:
        b.block_size = int(m.block_size)
    if m.max_num_seqs:
        b.max_num_seqs = int(m.max_num_seqs)
    if slots is not None:
        b.total_tokens = int(slots.tokens_in_use)
        b.max_num_seqs = b.max_num_seqs or slots.n_slots
    elif m.kv_usage is not None and m.num_blocks and m.block_size:
        b.total_tokens = int(m.kv_usage * m.num_blocks * m.block_size)
    b.scrape_time = now
    return True


def snapshot_of(b: Backend, instance: int, now: float, stale: bool) -> InstanceSnapshot | None:
    """The telemetry snapshot of a backend (the detector's input), or ``None`` when the
    engine exposes no running / waiting / KV figures at all."""
    from analyzers.telemetry.engine_metrics import to_snapshot

    if b.metrics is None:
        return None
    d = to_snapshot(b.metrics, instance, now, slots=b.slots, max_num_seqs=b.max_num_seqs)
    if not all(k in d for k in ("num_running", "num_waiting", "kv_usage")):
        return None
    d.update(queued_prefill_tokens=int(b.queued_prefill), total_tokens=int(b.total_tokens), stale=stale)
    return InstanceSnapshot.from_dict(d)


async def tokenize(client: httpx.AsyncClient, b: Backend, text: str) -> list[int] | None:
    """Token ids from the backend's ``/tokenize`` (vLLM: ``prompt``, llama.cpp:
    ``content``; both keys are sent), or ``None``."""
    body = {"prompt": text, "content": text}
    if b.models:
        body["model"] = b.models[0]["id"]
    try:
        r = await client.post(b.url + "/tokenize", json=body)
        if r.status_code != 200:
            return None
        toks = r.json().get("tokens")
    except (httpx.HTTPError, json.JSONDecodeError, UnicodeDecodeError, ValueError, AttributeError):
        return None
    if isinstance(toks, list) and all(isinstance(t, int) and not isinstance(t, bool) and 0 <= t < 2**32 for t in toks):
        return toks
    return None
