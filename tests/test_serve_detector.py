"""The detector in the loop of ``lmetric serve``: a real regime on fake backends switches
the live scorer (act mode), is reported everywhere, reverts when it clears, and an
external ``lmetric sidecar --follow`` on the telemetry file sees the same regimes."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import httpx
import pytest

from analyzers.serve.proxy import ServeConfig
from tests.serve_fakes import FakeBackend, ProxyThread, wait_until

# 64 bytes -> 16 approximate tokens: exactly one block, so a repeat is a *full* match (P_port = 0)
PROMPT = "0123456789abcdef" * 4


def _stream(url: str, prompt: str, out: list) -> None:
    with httpx.Client(timeout=20) as c:
        with c.stream("POST", url + "/v1/completions", json={"prompt": prompt, "stream": True}) as r:
            out.append(sum(1 for ln in r.iter_lines() if ln.startswith("data: ")))


@pytest.mark.slow
def test_zero_factor_switches_the_live_scorer_and_the_sidecar_agrees(tmp_path):
    """``lmetric-plain`` (P_port * BS) scores 0 both on the backend holding the whole prompt
    and on an idle one; its argmin keeps piling identical prompts on the busy holder (T4).
    The detector flags ``zero_factor`` and act mode switches to ``lmetric`` until it clears."""
    fakes = [FakeBackend(f"b{i}", chunks=40, delay=0.05).start() for i in range(2)]
    tel, events = tmp_path / "tel.jsonl", tmp_path / "events.jsonl"
    cfg = ServeConfig(backends=[f.url for f in fakes], scorer="lmetric-plain", detector="act", telemetry=str(tel),
                      events=str(events), scrape_interval=0.2, health_interval=1.0, read_timeout=10)
    px = ProxyThread(cfg).start()
    try:
        done: list = []
        workers = []
        for _ in range(10):  # one at a time, so each decision sees the previous ones in flight
            n0 = px.proxy.router.decisions
            w = threading.Thread(target=_stream, args=(px.url, PROMPT, done))
            w.start()
            workers.append(w)
            assert wait_until(lambda: px.proxy.router.decisions > n0, 5.0)
        assert wait_until(lambda: px.proxy.router.name == "lmetric", 5.0), "no fallback"
        reg = httpx.get(px.url + "/regimes", timeout=10).json()
        assert "zero_factor" in reg["monitor"]["active"] and reg["scorer"] == "lmetric"
        metrics = httpx.get(px.url + "/metrics", timeout=10).text
        assert 'lmetric_serve_fallbacks_total{regime="zero_factor"} 1.0' in metrics
        assert 'lmetric_regime_active{regime="zero_factor"} 1.0' in metrics
        for w in workers:
            w.join(20)
        assert done == [41] * 10  # 40 chunks + [DONE] each: nothing lost while the scorer changed
        # the fallback routes away from the holder; distinct prompts on an idle fleet clear the regime once the
        # detector's minimum dwell (30 s of record time, RegimeDetector's default) has passed
        enter_t = px.proxy.sidecar.monitor.transitions[-1].time
        with httpx.Client(base_url=px.url, timeout=10) as c:
            while px.proxy.now() < enter_t + 30.0:
                assert c.post("/v1/completions", json={"prompt": f"filler {px.proxy.now()}"}).status_code == 200
                threading.Event().wait(1.0)
            for i in range(100):
                assert c.post("/v1/completions", json={"prompt": f"other prompt {i}"}).status_code == 200
                if px.proxy.router.name == "lmetric-plain":
                    break
        assert px.proxy.router.name == "lmetric-plain", "fallback not reverted"
        acts = [json.loads(ln) for ln in events.read_text().splitlines()]
        kinds = [(a["regime"], a["transition"]) for a in acts if a["kind"] == "transition"]
        assert ("zero_factor", "enter") in kinds and ("zero_factor", "exit") in kinds
        assert any(a.get("action", "").startswith("scorer -> lmetric") for a in acts)
        inproc = [(t.regime, t.kind, t.time) for t in px.proxy.sidecar.monitor.transitions]
    finally:
        px.stop()
        for f in fakes:
            f.stop()
    # an external sidecar following the same telemetry file
    proc = subprocess.run([sys.executable, "-m", "analyzers", "sidecar", "--source", str(tel), "--follow",
                           "--duration", "2", "--instances", "2", "--json"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    outside = [(d["regime"], d["transition"], d["time"]) for d in map(json.loads, proc.stdout.splitlines())
               if d.get("kind") == "transition"]
    assert outside == inproc and ("zero_factor", "enter") in [(r, k) for r, k, _ in outside]
