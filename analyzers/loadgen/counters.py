"""The engines' own prompt-token counters, read before and after a run.

The cached-prompt-token figure of a comparison comes from the engines, not from the
router or the client: ``prompt_tokens_cached_total`` and ``prompt_tokens_total`` as
normalised by :func:`analyzers.telemetry.parse_exposition` (llama.cpp:
``llamacpp:prompt_tokens_cached_total`` and computed + cached).

>>> before = {"a": {"prompt_tokens_total": 100.0, "prompt_tokens_cached_total": 40.0}}
>>> after = {"a": {"prompt_tokens_total": 1100.0, "prompt_tokens_cached_total": 840.0}}
>>> counters_delta(before, after)
{'prompt_tokens_total': 1000.0, 'prompt_tokens_cached_total': 800.0}
>>> counters_delta(after, before)
Traceback (most recent call last):
...
ValueError: a: prompt_tokens_total went back from 1100.0 to 100.0 (engine restarted during the run?)
"""

from __future__ import annotations

__all__ = ["COUNTERS", "read_counters", "counters_delta"]

COUNTERS = ("prompt_tokens_total", "prompt_tokens_cached_total")


def read_counters(base_urls: list[str], timeout_s: float = 10.0) -> dict[str, dict[str, float]]:
    """``{url: {counter: value}}`` from each engine's ``/metrics`` (raises on an unreadable engine)."""
    import httpx

    from analyzers.telemetry import parse_exposition

    out = {}
    with httpx.Client(timeout=timeout_s, trust_env=False) as client:
        for url in base_urls:
            r = client.get(url.rstrip("/") + "/metrics")
            r.raise_for_status()
            m = parse_exposition(r.content)
            out[url] = {k: m.counters[k] for k in COUNTERS if k in m.counters}
    return out


def counters_delta(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> dict[str, float]:
    """Summed increase of each counter over the engines; a counter going back is an error."""
    total = {k: 0.0 for k in COUNTERS}
    for url, b in before.items():
        a = after.get(url, {})
        for k in COUNTERS:
            if k not in b or k not in a:
                raise ValueError(f"{url}: counter {k} missing")
            if a[k] < b[k]:
                raise ValueError(f"{url}: {k} went back from {b[k]} to {a[k]} (engine restarted during the run?)")
            total[k] += a[k] - b[k]
    return total
