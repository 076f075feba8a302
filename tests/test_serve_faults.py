"""``lmetric serve`` under faults: each fault of issue 8 is one test on fake backends.

After every test the proxy's in-flight accounting is back to 0 and no upstream
connection is left busy (checked through aiohttp's connector, the only place that knows,
and the proxy's own count of upstream answers not yet released or closed).
"""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from analyzers.serve.cli import main as serve_main, parse_args
from analyzers.serve.proxy import ServeConfig
from tests.serve_fakes import FakeBackend, ProxyThread, wait_until

READ_TIMEOUT = 0.6  # s; the proxy's bound on a silent backend in these tests


def _busy_connections(px) -> int:
    acquired = px.proxy.session.connector._acquired  # aiohttp TCPConnector: connections handed out (no public API)
    return len(acquired) + px.proxy.upstream_open


def _clean(px) -> None:
    assert wait_until(lambda: px.proxy.fleet.inflight == 0, 5.0), "in-flight accounting did not return to 0"
    assert all(b.inflight == 0 and b.queued_prefill == 0 for b in px.proxy.fleet.backends)
    assert wait_until(lambda: _busy_connections(px) == 0, 5.0), "an upstream connection leaked"


@pytest.fixture
def make_fleet(tmp_path):
    started = []

    def make(n=2, health_interval=0.1, **kw):
        fakes = [FakeBackend(f"b{i}", **kw).start() for i in range(n)]
        cfg = ServeConfig(backends=[f.url for f in fakes], read_timeout=READ_TIMEOUT, connect_timeout=1.0,
                          health_interval=health_interval, scrape_interval=0.2, telemetry=str(tmp_path / "t.jsonl"))
        px = ProxyThread(cfg).start()
        started.append((fakes, px))
        return fakes, px

    yield make
    for fakes, px in started:
        _clean(px)
        px.stop()
        for f in fakes:
            f.stop()


def _sse(client, path, body):
    lines = []
    with client.stream("POST", path, json={**body, "stream": True}) as r:
        status = r.status_code
        for line in r.iter_lines():
            if line.startswith("data: "):
                lines.append(line[6:])
    return status, lines


def test_backend_killed_mid_stream_gives_an_sse_error_event(make_fleet):
    fakes, px = make_fleet(2)
    for f in fakes:
        f.mode = "die"  # two events, then the connection drops
    with httpx.Client(base_url=px.url, timeout=10) as c:
        t = time.monotonic()
        status, lines = _sse(c, "/v1/completions", {"prompt": "tell me a story"})
        assert time.monotonic() - t < 5
    assert status == 200
    assert len(lines) == 3 and "error" in json.loads(lines[-1])  # 2 real events, then one error event, then close
    assert "broke off the stream" in json.loads(lines[-1])["error"]["message"]


def test_dead_backend_retried_ejected_and_readmitted(make_fleet):
    fakes, px = make_fleet(2, health_interval=2.0)  # slow health checks: the request finds b0 dead first
    dead = fakes[0]
    dead.stop()  # connection refused from now on; b0 is the idle-fleet argmin
    with httpx.Client(base_url=px.url, timeout=10) as c:
        r = c.post("/v1/completions", json={"prompt": "first after the crash"})
        assert r.status_code == 200 and r.json()["choices"][0]["text"] == "from b1"  # retried once on b1
        assert px.proxy.metrics.retries._value.get() == 1
        assert not px.proxy.fleet.backends[0].healthy
        for i in range(5):  # ejected: nothing is sent its way
            assert c.post("/v1/completions", json={"prompt": f"while down {i}"}).json()["choices"][0]["text"] == "from b1"
        dead.start()  # same port
        assert wait_until(lambda: px.proxy.fleet.backends[0].healthy, 10.0), "not readmitted"
        texts = {c.post("/v1/completions", json={"prompt": "x" * 64 * (i + 1)}).json()["choices"][0]["text"]
                 for i in range(6)}
        assert "from b0" in texts


def test_all_backends_dead_gives_502_then_503(make_fleet):
    fakes, px = make_fleet(2, health_interval=2.0)
    for f in fakes:
        f.stop()
    with httpx.Client(base_url=px.url, timeout=10) as c:
        r = c.post("/v1/completions", json={"prompt": "anyone?"})
        assert r.status_code == 502 and "failed before answering" in r.json()["error"]["message"]
        r = c.post("/v1/completions", json={"prompt": "anyone now?"})
        assert r.status_code == 503 and "no backend available" in r.json()["error"]["message"]
    for f in fakes:
        f.start()
    assert wait_until(lambda: all(b.healthy for b in px.proxy.fleet.backends), 10.0)


@pytest.mark.parametrize("mode,status,needle", [("500", 502, "answered HTTP 500: internal error: out of cheese"),
                                                ("garbage", 502, "invalid JSON: <html>definitely not json")])
def test_backend_500_or_garbage_gives_502(make_fleet, mode, status, needle):
    fakes, px = make_fleet(2)
    for f in fakes:
        f.mode = mode
    with httpx.Client(base_url=px.url, timeout=10) as c:
        r = c.post("/v1/completions", json={"prompt": "hello"})
        assert r.status_code == status and needle in r.json()["error"]["message"]
        assert "\n" not in r.json()["error"]["message"]
        if mode == "garbage":  # a stream request answered with a non-SSE body is garbage too
            r = c.post("/v1/completions", json={"prompt": "hello", "stream": True})
            assert r.status_code == 502


def test_hanging_backends_give_504_within_the_bound(make_fleet):
    fakes, px = make_fleet(2, hang_s=20.0)
    for f in fakes:
        f.mode = "hang"
    with httpx.Client(base_url=px.url, timeout=10) as c:
        t = time.monotonic()
        r = c.post("/v1/completions", json={"prompt": "are you there"})
        took = time.monotonic() - t
    assert r.status_code == 504 and "no answer within" in r.json()["error"]["message"]
    assert took < 2 * READ_TIMEOUT + 3.0  # one try and one retry, each bounded by the read timeout (the fakes hang 20 s)
    assert sum(f.received for f in fakes) == 2  # tried once, retried once, then given up (connections closed: _clean)


def test_hanging_mid_stream_ends_with_an_error_event(make_fleet):
    fakes, px = make_fleet(1, chunks=3, delay=2 * READ_TIMEOUT)  # a silence longer than the read timeout
    with httpx.Client(base_url=px.url, timeout=10) as c:
        status, lines = _sse(c, "/v1/completions", {"prompt": "slow"})
    assert status == 200 and len(lines) == 2 and "stalled" in json.loads(lines[-1])["error"]["message"]


def test_client_disconnect_cancels_upstream(make_fleet):
    fakes, px = make_fleet(1, chunks=200, delay=0.02)
    f = fakes[0]
    with httpx.Client(base_url=px.url, timeout=10) as c:
        with c.stream("POST", "/v1/completions", json={"prompt": "long", "stream": True}) as r:
            it = r.iter_lines()
            got = [next(it) for _ in range(3)]
        assert got[0].startswith("data: ")
    assert wait_until(lambda: f.cancelled == 1, 5.0), "upstream stream not cancelled"
    assert f.completed == 0


def test_backends_file_change_loses_no_request(tmp_path):
    fakes = [FakeBackend(f"b{i}", delay=0.02).start() for i in range(3)]
    bf = tmp_path / "backends.txt"
    bf.write_text(f"# fleet\n{fakes[0].url}\n{fakes[1].url}\n")
    cfg = ServeConfig(backends=[fakes[0].url, fakes[1].url], backends_file=str(bf), health_interval=0.1,
                      scrape_interval=0.2, read_timeout=5.0)
    px = ProxyThread(cfg).start()
    results, stop = [], threading.Event()

    def load(k):
        with httpx.Client(base_url=px.url, timeout=10) as c:
            i = 0
            while not stop.is_set():
                r = c.post("/v1/completions", json={"prompt": f"worker {k} request {i}"})
                results.append(r.status_code)
                i += 1

    workers = [threading.Thread(target=load, args=(k,)) for k in range(4)]
    try:
        for w in workers:
            w.start()
        time.sleep(0.3)
        bf.write_text(f"{fakes[1].url}\n{fakes[2].url}\n")
        assert wait_until(lambda: [b.url for b in px.proxy.fleet.backends] == [fakes[1].url, fakes[2].url], 5.0)
        time.sleep(0.3)  # requests routed to b0 just before the change finish (each takes 0.02 s)
        before = fakes[0].received
        time.sleep(0.5)
        stop.set()
        for w in workers:
            w.join(10)
        assert len(results) > 20 and set(results) == {200}  # nothing lost while the fleet changed
        assert fakes[0].received == before and fakes[2].received > 0
        with httpx.Client(base_url=px.url, timeout=10) as c:  # the admin endpoint does the same
            r = c.post("/admin/backends", json={"add": [fakes[0].url], "remove": [fakes[2].url]})
            assert r.json()["backends"] == [fakes[1].url, fakes[0].url]
            assert c.post("/admin/backends", content=b"nope").status_code == 400
        _clean(px)
    finally:
        stop.set()
        px.stop()
        for f in fakes:
            f.stop()


def test_oversized_prompt_is_rejected_like_vllm(make_fleet):
    fakes, px = make_fleet(2, max_model_len=256)
    with httpx.Client(base_url=px.url, timeout=10) as c:
        r = c.post("/v1/completions", json={"prompt": "y" * 4 * 300})  # 300 approximate tokens > 256
    assert r.status_code == 400
    msg = r.json()["error"]["message"]
    assert msg.startswith("This model's maximum context length is 256 tokens. However, your request has 300 input tokens.")
    assert sum(f.received for f in fakes) == 0


@pytest.mark.parametrize("payload,status,needle", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "must be a JSON object"),
    (b'{"prompt": 5}', 400, "'prompt' must be a string"),
    (b'{"prompt": "x", "stream": "yes"}', 400, "'stream' must be true or false"),
    (b'{"prompt": "x", "max_tokens": -1}', 400, "'max_tokens' must be a non-negative integer"),
    (b'{"model": "m"}', 400, "'prompt' is required"),
    (b"\xff\xfe", 400, "not valid JSON"),
])
def test_bad_client_input_gets_a_one_line_400(make_fleet, payload, status, needle):
    fakes, px = make_fleet(1)
    with httpx.Client(base_url=px.url, timeout=10) as c:
        r = c.post("/v1/completions", content=payload, headers={"content-type": "application/json"})
        assert r.status_code == status and needle in r.json()["error"]["message"]
        assert "\n" not in r.json()["error"]["message"]
        bad_chat = c.post("/v1/chat/completions", json={"messages": [{"role": 1, "content": "x"}]})
        assert bad_chat.status_code == 400 and "messages[0].role" in bad_chat.json()["error"]["message"]
        huge = c.post("/v1/completions", content=b'{"prompt": "' + b"z" * (9 * 2**20) + b'"}')
        assert huge.status_code == 413 and "exceeds the limit" in huge.json()["error"]["message"]
    assert fakes[0].received == 0


@pytest.mark.parametrize("argv,needle", [
    ([], "give at least one --backend"),
    (["--backend", "localhost:8000"], "must look like http://HOST:PORT"),
    (["--backend", "http://h:1", "--port", "70000"], "port must be in 0..65535"),
    (["--backend", "http://h:1", "--port", "x"], "expected a port number"),
    (["--backend", "http://h:1", "--scorer", "nope"], "unknown scorer 'nope'"),
    (["--backend", "http://h:1", "--param", "lambda"], "must look like NAME=VALUE"),
    (["--backend", "http://h:1", "--param", "zzz=1"], "has no parameter 'zzz'"),
    (["--backend", "http://h:1", "--detector", "maybe"], "invalid choice"),
    (["--backend", "http://h:1", "--scrape-interval", "0"], "must be positive"),
    (["--backend", "http://h:1", "--scrape-interval", "nan"], "must be positive"),
    (["--backend", "http://h:1", "--kv-events", "http://h:1"], "expected BACKEND=tcp://"),
    (["--backend", "http://h:1", "--kv-events", "http://h:2=tcp://h:5557"], "not a --backend"),
    (["--backend", "http://h:1", "--kv-events", "http://h:1=tcp://h"], "must look like tcp://HOST:PORT"),
    (["--backend", "http://h:1", "--backends-file", "/nonexistent/f"], "no such file"),
    (["--backend", "http://h:1", "--telemetry", "/nonexistent/dir/t.jsonl"], "cannot write"),
    (["--backend", "http://h:1", "--bogus"], "unrecognized arguments"),
])
def test_bad_cli_args_one_line_exit_2(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_port_in_use_is_one_line(capsys):
    fake = FakeBackend("x").start()
    try:
        assert serve_main(["--backend", fake.url, "--port", str(fake.thread.port)]) == 2
    finally:
        fake.stop()
    err = capsys.readouterr().err
    assert "cannot bind" in err and err.count("\n") == 1


def test_ctrl_c_stops_serve_with_one_line_and_no_traceback():
    import os
    import signal
    import subprocess
    import sys
    import time

    p = subprocess.Popen([sys.executable, "-m", "analyzers", "serve", "--backend", "http://127.0.0.1:9", "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        line = b""
        while b"listening" not in line and time.monotonic() < deadline:
            line = p.stdout.readline()
        assert b"listening" in line
        os.killpg(p.pid, signal.SIGINT)   # what a terminal's Ctrl-C sends: the whole process group
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130 and b"Traceback" not in err and b"interrupted, stopped" in err, err.decode()
