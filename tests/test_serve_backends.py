"""What ``lmetric serve`` reads from backends: real vLLM and llama.cpp expositions (captured
fixtures served by fakes), llama.cpp ``/slots`` and ``/props``, reported cached tokens,
and the backends' ``/tokenize``."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from analyzers.serve.proxy import ServeConfig
from tests.serve_fakes import FakeBackend, ProxyThread, wait_until

ENG = Path(__file__).parent / "fixtures" / "engines"


@pytest.fixture
def run(tmp_path):
    started = []

    def start(fakes, **kw):
        for f in fakes:
            f.start()
        kw.setdefault("scrape_interval", 0.1)
        kw.setdefault("health_interval", 1.0)
        cfg = ServeConfig(backends=[f.url for f in fakes], telemetry=str(tmp_path / "t.jsonl"), **kw)
        px = ProxyThread(cfg).start()
        started.append((fakes, px))
        return px

    yield start
    for fakes, px in started:
        assert wait_until(lambda: px.proxy.fleet.inflight == 0, 5.0)
        px.stop()
        for f in fakes:
            f.stop()


def _snapshots(px):
    lines = Path(px.proxy.cfg.telemetry).read_text().splitlines()
    return [json.loads(ln) for ln in lines if '"snapshot"' in ln]


def test_vllm_and_llamacpp_state_is_scraped(run):
    vllm = FakeBackend("vllm", metrics_text=(ENG / "vllm_cpu_real_metrics_under_load.txt").read_text())
    llama = FakeBackend("llama", metrics_text=(ENG / "xll_metrics_4req_2slots.txt").read_text(),
                        slots=json.loads((ENG / "xll_slots_during.json").read_text()),
                        props=json.loads((ENG / "xll_props.json").read_text()))
    px = run([vllm, llama])
    assert wait_until(lambda: all(b.scrape_time is not None for b in px.proxy.fleet.backends), 5.0)
    v, ll = px.proxy.fleet.backends
    # the captures: vLLM running 4 / waiting 4 / KV 0.0442 / 128-token blocks; llama.cpp 2 processing, 2 deferred,
    # /slots 842 of 4096 cells in use, /props n_ctx 2048 per slot and 2 slots
    assert (v.engine, v.running, v.waiting, v.block_size) == ("vllm", 4, 4, 128)
    assert v.kv_usage == pytest.approx(0.04419889502762431)
    assert (ll.engine, ll.running, ll.waiting, ll.max_model_len, ll.max_num_seqs) == ("llamacpp", 2, 2, 2048, 2)
    assert ll.kv_usage == pytest.approx(842 / 4096) and ll.total_tokens == 842
    assert wait_until(lambda: {s["instance"] for s in _snapshots(px)} == {0, 1}, 5.0)
    snaps = _snapshots(px)
    by_inst = {s["instance"]: s for s in snaps}
    assert by_inst[0]["num_running"] == 4 and by_inst[0]["num_waiting"] == 4
    assert by_inst[1]["kv_usage"] == pytest.approx(842 / 4096) and by_inst[1]["max_num_seqs"] == 2
    # a decision sees BS = max(scraped running + waiting, own in-flight)
    r = httpx.post(px.url + "/v1/completions", json={"prompt": "hi there"}, timeout=10)
    assert r.status_code == 200
    assert px.proxy.sidecar.monitor.records["snapshot"] >= 2


def test_llamacpp_context_limit_from_props(run):
    llama = FakeBackend("llama", props=json.loads((ENG / "xll_props.json").read_text()),
                        metrics_text=(ENG / "xll_metrics_after.txt").read_text())
    px = run([llama])
    r = httpx.post(px.url + "/v1/completions", json={"prompt": "w" * 4 * 2100}, timeout=10)  # 2100 approx tokens
    assert r.status_code == 400
    assert "maximum context length is 2048 tokens" in r.json()["error"]["message"]
    assert llama.received == 0


@pytest.mark.parametrize("style,stream", [("usage", False), ("usage", True), ("timings", False), ("timings", True)])
def test_reported_cached_tokens_correct_the_approximate_index(run, style, stream):
    """The backend says 0 prompt tokens were cached where the proxy predicted a hit: the
    backend's LRU in the approximate index is trimmed (PrefixTracker.shrink = 0.9)."""
    f = FakeBackend("b", cached_tokens=0, timings=(style == "timings"))
    px = run([f])
    prompt = "A long shared system prompt. " * 30
    body = {"prompt": prompt, "stream": stream, "stream_options": {"include_usage": True}}
    with httpx.Client(base_url=px.url, timeout=10) as c:
        for _ in range(2):
            r = c.post("/v1/completions", json=body)
            assert r.status_code == 200
    tr = px.proxy.tracker
    assert wait_until(lambda: tr.counts["reports"] == 2, 5.0)
    assert tr.counts["overpredicted"] == 1  # the first request predicted 0 (nothing routed yet): not an error
    slot = tr.slot(f.url)
    n_blocks = len(tr.hashes(list(range((len(prompt) + 3) // 4))))
    assert tr.approx.size(slot) == int(n_blocks * 0.9)  # trimmed after the second report


def test_backend_tokenizer_is_cached_and_used_for_counts(run):
    f = FakeBackend("b", max_model_len=100)
    px = run([f], tokenizer="backend")
    with httpx.Client(base_url=px.url, timeout=10) as c:
        # the fake's /tokenize gives one token per character: 150 characters exceed 100 tokens,
        # although the bytes/4 approximation (38 tokens) would not
        r = c.post("/v1/completions", json={"prompt": "x" * 150})
        assert r.status_code == 400 and "has 150 input tokens" in r.json()["error"]["message"]
        for _ in range(3):
            assert c.post("/v1/completions", json={"prompt": "short prompt"}).status_code == 200
    assert f.tokenize_calls == 2 and px.proxy.counts.get("tokenize_cache_hit") == 2


def test_block_size_follows_the_engines(run):
    """Two vLLM backends exposing block_size=128 (the real capture): the approximate index
    uses 128-token blocks, so predicted hits are multiples of 128."""
    text = (ENG / "vllm_cpu_real_metrics.txt").read_text()
    fakes = [FakeBackend(f"v{i}", metrics_text=text) for i in range(2)]
    px = run(fakes)
    assert px.proxy.tracker.block_size == 128
    prompt = "p" * 4 * 300  # 300 approximate tokens: 2 whole 128-token blocks
    with httpx.Client(base_url=px.url, timeout=10) as c:
        for _ in range(2):
            assert c.post("/v1/completions", json={"prompt": prompt}).status_code == 200
    dec = [json.loads(ln) for ln in Path(px.proxy.cfg.telemetry).read_text().splitlines() if '"decision"' in ln][-1]
    assert sorted(dec["cached_tokens"]) == [0, 256]
