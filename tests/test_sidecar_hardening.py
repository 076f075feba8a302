"""Sidecar hardening (issue 9): no input stops it, lifecycle, HTTP, scrape-only regimes."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzers.cli import main
from analyzers.detector.monitor import RegimeMonitor
from analyzers.detector.regimes import HotPrefixDetector
from analyzers.sidecar.exposition import ServeError, serve


# ---------------------------------------------------------------- a clean stream with regimes
def clean_stream(n=4, t_end=400.0):
    """Snapshots every second per instance (instance 0 pinned at max_num_seqs with a
    growing queue in [100, 200) s; instance n-1 three times slower from 150 s) and a
    decision every 0.1 s (no output_tokens, so batching cannot change a figure)."""
    out = []
    steps = [0] * n
    tokens = [0] * n
    busy = [0.0] * n
    waiting = 0
    rid = 0
    t = 0.0
    while t < t_end:
        if abs(t - round(t)) < 1e-9:
            for i in range(n):
                steps[i] += 100
                tokens[i] += 30_000
                busy[i] += (3.0 if i == n - 1 and t >= 150 else 1.0) * 1700.0
                sat = i == 0 and 100 <= t < 200
                waiting = waiting + 1 if sat else 0 if i == 0 else waiting
                out.append({"kind": "snapshot", "time": round(t, 3), "instance": i, "num_running": 8 if sat else 3,
                            "num_waiting": waiting if sat else 0, "kv_usage": 0.4, "max_num_seqs": 8,
                            "steps_total": steps[i], "prompt_tokens_total": tokens[i], "busy_ms_total": busy[i]})
        rid += 1
        out.append({"kind": "decision", "time": round(t + 0.05, 3), "request_id": rid, "chosen": rid % n,
                    "scorer": "lmetric", "prompt_tokens": 1000, "cached_tokens": [0] * n,
                    "queued_prefill_tokens": [100 * (j + 1) for j in range(n)], "batch_size": [3] * n,
                    "scores": [float(1100 * (j + 1) * 4) for j in range(n)], "prefix_class": rid % 50})
        t = round(t + 0.1, 3)
    return out


def bad_lines(rng: random.Random, clean: list) -> list[bytes]:
    """One bad line of a random kind (every kind the issue lists, and more)."""
    dec = dict(rng.choice([r for r in clean if r["kind"] == "decision"]))
    snap = dict(rng.choice([r for r in clean if r["kind"] == "snapshot"]))
    kinds = [
        lambda: b'{"kind": "decision", "time": 1.0, \xff\xfe bad bytes}',
        lambda: b"\xc3\x28" + json.dumps(dec).encode(),
        lambda: b'{"kind": "decision", "time": ' + b"9" * 400 + b"}",
        lambda: b'{"kind": "snapshot", "time": ' + b"7" * 5000 + b"}",
        lambda: b"[" * 100_000 + b"]" * 100_000,
        lambda: b'{"a":' * 5000 + b"1" + b"}" * 5000,
        lambda: json.dumps({**dec, "prefix_class": [1, 2]}).encode(),
        lambda: json.dumps({**dec, "prefix_class": {"a": 1}}).encode(),
        lambda: json.dumps({**dec, "output_tokens": "many"}).encode(),
        lambda: json.dumps({**dec, "output_tokens": [1]}).encode(),
        lambda: json.dumps({**dec, "output_tokens": {"n": 1}}).encode(),
        lambda: json.dumps({**dec, "snapshot_age": "old"}).encode(),
        lambda: json.dumps({**dec, "snapshot_age": [0.1]}).encode(),
        lambda: json.dumps({**dec, "snapshot_age": {"s": 1}}).encode(),
        lambda: json.dumps({**dec, "scores": [[1.0]] * len(dec["scores"])}).encode(),
        lambda: json.dumps({**dec, "chosen": True}).encode(),
        lambda: json.dumps({**dec, "time": 1e9, "request_id": -1}).encode(),
        lambda: json.dumps({**snap, "time": 1e9}).encode(),
        lambda: json.dumps(dec).encode(),  # a duplicate decision
        lambda: json.dumps(snap).encode(),  # a duplicate (or out-of-order) snapshot
        lambda: json.dumps({**dec, "queued_prefill_tokens": [1e300] * len(dec["scores"])}).encode(),
        lambda: json.dumps({**snap, "num_waiting": 10**30}).encode(),
        lambda: json.dumps({**dec, "request_id": {"x": 1}}).encode(),
        lambda: json.dumps({**dec, "scorer": 5}).encode(),
        lambda: json.dumps({**snap, "stale": "yes"}).encode(),
        lambda: json.dumps({**snap, "kv_usage": float("nan")}).encode().replace(b"NaN", b"NaN"),
        lambda: b"",
        lambda: b"   ",
        lambda: b"not json at all",
        lambda: b"42",
        lambda: b"null",
        lambda: b'{"kind": 17}',
        lambda: json.dumps({**dec, "batch_size": "3"}).encode(),
    ]
    return [rng.choice(kinds)() for _ in range(1)]


def _events(path) -> list[tuple]:
    """Regime transitions of an events file, without run ids, sequence numbers or offsets."""
    out = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        if d["kind"] == "transition":
            out.append((d["time"], d["regime"], d["transition"], d["key"], d["reason"]))
    return out


@pytest.mark.slow
def test_ten_thousand_bad_lines_of_every_kind_change_no_regime_event(tmp_path, capsys):
    clean = clean_stream()
    clean_path, dirty_path = tmp_path / "clean.jsonl", tmp_path / "dirty.jsonl"
    clean_path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in clean))
    rng = random.Random(9)
    lines = [json.dumps(r).encode() for r in clean]
    dirty: list[bytes] = lines[:20]
    n_bad = 0
    for i in range(20, len(lines)):
        while rng.random() < 0.65:  # copies are made of records already in the stream
            dirty.extend(bad_lines(rng, clean[max(0, i - 40):i]))
            n_bad += 1
        dirty.append(lines[i])
    assert n_bad >= 10_000
    dirty_path.write_bytes(b"\n".join(dirty) + b"\n")
    for path, ev in ((clean_path, tmp_path / "e1.jsonl"), (dirty_path, tmp_path / "e2.jsonl")):
        assert main(["sidecar", "--source", str(path), "--instances", "4", "--events", str(ev)]) == 0
    want, got = _events(tmp_path / "e1.jsonl"), _events(tmp_path / "e2.jsonl")
    regimes = {(r, k) for _, r, k, _, _ in want}
    assert {("saturation", "enter"), ("saturation", "exit"), ("heterogeneity", "enter")} <= regimes
    assert got == want
    err = capsys.readouterr().err.rsplit("\nrun ", 1)[-1]  # the dirty run's summary
    dropped = int(re.search(r"dropped\s+([\d,]+)", err).group(1).replace(",", ""))
    assert dropped >= n_bad - 100  # every bad line is counted (a few duplicates may collide with clean ones)
    for reason in ("non_utf8", "unparsable", "wrong_type", "future", "duplicate", "out_of_range", "empty_line"):
        assert re.search(rf"dropped: {reason}\s+[1-9]", err), reason


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.binary(max_size=80),
                          st.sampled_from([b'{"kind": "decision"', b'{"kind": "snapshot", "time": 1, "instance": 0, '
                                           b'"num_running": 1, "num_waiting": 0, "kv_usage": 0.5}', b"\xff", b"\n",
                                           b'"chosen": true', b"[[[[", b"1e999", b"-0"])), max_size=30))
def test_fuzz_bytes_through_the_cli_never_raise(chunks):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as fh:
        fh.write(b"".join(chunks))
    try:
        assert main(["sidecar", "--source", fh.name, "--instances", "2", "--json"]) == 0
    finally:
        os.unlink(fh.name)


def test_a_future_record_does_not_move_the_clock_and_notes_are_not_drops():
    m = RegimeMonitor(2)
    snap = {"kind": "snapshot", "instance": 0, "num_running": 1, "num_waiting": 0, "kv_usage": 0.1}
    dec = {"kind": "decision", "request_id": 1, "chosen": 0, "scorer": "x", "prompt_tokens": 10,
           "cached_tokens": [0, 0], "queued_prefill_tokens": [0, 0], "batch_size": [1, 1]}
    m.process({**snap, "time": 1.0})
    m.process({**dec, "time": 1.0})
    m.process({**dec, "time": 1e9, "request_id": 2})
    m.process({**snap, "time": 1e9})
    assert m.bad_records["future"] == 2
    assert m.process({**dec, "time": 2.0, "request_id": 3}) == [] and m.records["decision"] == 2
    m.process({**dec, "time": 2.0, "request_id": 3})
    assert m.bad_records["duplicate"] == 1
    m.process({**snap, "time": 20.0})  # a 19 s gap: a note, not a drop
    assert m.notes["gap"] == 1 and "gap" not in m.bad_records and m.records["snapshot"] == 2


def test_per_class_state_is_bounded():
    d = HotPrefixDetector(min_arrivals=1)
    d.max_keys = 100
    for k in range(5000):
        d._feed(True, float(k), {}, key=k)  # every class gets a test (a positive bit)
        d._feed(False, float(k), {}, key=k)
    assert len(d._tests) <= 101


# ---------------------------------------------------------------- CLI
BAD_ARGS = [
    ["theory", "check", "--only", "T99"], ["theory", "nope"], ["paper-checks", "--only", "Z9"],
    ["paper-checks", "--window", "abc"], ["paper-checks", "--seed", "x"],
    ["simulate", "--scale", "nan"], ["simulate", "--scale", "inf"], ["simulate", "--scale", "-1"],
    ["simulate", "--instances", "0"], ["simulate", "--instances", "-3"], ["simulate", "--window", "-5"],
    ["simulate", "--param", "lambda=-5", "--scorer", "linear"], ["simulate", "--param", "lambda=nan", "--scorer", "linear"],
    ["simulate", "--slo-ttft", "-1"], ["simulate", "--limit", "0"], ["simulate", "--out", "/proc/nope"],
    ["simulate", "--trace", "/no/such/trace.jsonl"], ["simulate", "--speeds", "1,x"], ["simulate", "--scorer", "nosuch"],
    ["simulate", "--param", "nosuch=1"], ["simulate", "--telemetry-interval", "0"],
    ["sweep", "--param", "nosuch=1"], ["sweep", "--scales", "1,nan"], ["sweep", "--scales", "x"],
    ["sweep", "--out", "/proc/nope"], ["sweep", "--scorers", "nope"],
    ["lambda-sweep", "--lambdas", "-5"], ["lambda-sweep", "--lambdas", "nan"], ["lambda-sweep", "--lambdas", "a,b"],
    ["lambda-sweep", "--out", "/proc/nope/x.json"], ["lambda-sweep", "--scale", "nan"],
    ["detector", "nope"], ["detector", "evaluate", "--scenarios", "nope"], ["detector", "evaluate", "--lambdas", "nan"],
    ["detector", "evaluate", "--traces", "nope"], ["detector", "evaluate", "--out", "/proc/nope"],
    ["sidecar", "--scale", "nan", "--source", "sim:api"], ["sidecar", "--instances", "0", "--source", "-"],
    ["sidecar", "--duration", "-1", "--source", "-"], ["sidecar", "--interval", "0", "--source", "-"],
    ["sidecar", "--events", "/proc/nope/e.jsonl", "--source", "-"], ["sidecar", "--events", "/", "--source", "-"],
    ["sidecar", "--source", "/"], ["sidecar", "--source", "/no/such"], ["sidecar", "--scrape", "notaurl"],
    ["sidecar", "--scrape", "ftp://x/metrics"], ["sidecar", "--http", "nonsense", "--source", "-"],
    ["sidecar", "--http", "127.0.0.1:99999", "--source", "-"], ["sidecar", "--http", "127.0.0.1:x", "--source", "-"],
    ["sidecar", "--resume", "--source", "-"], ["sidecar", "--follow", "--source", "-"],
    ["sidecar", "--source", "sim:nope"], ["sidecar", "--limit", "-1", "--source", "sim:api"],
    ["sidecar", "--max-num-seqs", "0", "--scrape", "http://127.0.0.1:1/metrics"],
    ["sidecar", "--scrape", "http://127.0.0.1:1/metrics", "--instances", "3"],
    ["nosuchcommand"],
    ["serve"], ["serve", "--port", "99999", "--backend", "http://127.0.0.1:1"], ["serve", "--backend", "notaurl"],
    ["serve", "--backend", "http://127.0.0.1:1", "--scrape-interval", "nan"],
    ["serve", "--backend", "http://127.0.0.1:1", "--scorer", "nosuch"],
    ["serve", "--backend", "http://127.0.0.1:1", "--events", "/proc/nope/e.jsonl"],
]


@pytest.mark.parametrize("argv", BAD_ARGS, ids=[" ".join(a)[:60] for a in BAD_ARGS])
def test_every_bad_argument_is_one_line_and_nonzero(argv, capsys):
    def hang(*_):
        raise TimeoutError(f"hung on {argv}")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(30)
    try:
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    err = capsys.readouterr().err
    assert code not in (0, None), (argv, err)
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("usage:") and not ln.startswith(" ")]
    assert len(lines) == 1 and "error" in lines[0], (argv, err)


def test_busy_port(capsys):
    m, lock = RegimeMonitor(1), threading.Lock()
    server, _ = serve(m, lock, "127.0.0.1", 0)
    try:
        with pytest.raises(ServeError, match="already in use"):
            serve(m, lock, "127.0.0.1", server.server_port)
        assert main(["sidecar", "--source", "-", "--http", f"127.0.0.1:{server.server_port}"]) == 2
        err = capsys.readouterr().err
        assert "address already in use" in err and "Traceback" not in err
    finally:
        server.shutdown()
        server.server_close()


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1 cannot be bound)")
def test_serves_on_ipv6_loopback():
    m, lock = RegimeMonitor(1), threading.Lock()
    s6, _ = serve(m, lock, "::1", 0)
    try:
        with httpx.Client(timeout=5) as c:
            assert c.get(f"http://[::1]:{s6.server_port}/health").json()["status"] == "ok"
    finally:
        s6.shutdown()
        s6.server_close()


def test_an_idle_half_request_does_not_block_others():
    m = RegimeMonitor(1)
    server, _ = serve(m, threading.Lock(), "127.0.0.1", 0, timeout_s=2.0)
    try:
        held = [socket.create_connection(("127.0.0.1", server.server_port)) for _ in range(3)]
        for s in held:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        t = time.monotonic()
        with httpx.Client(timeout=2) as c:
            for path in ("/health", "/regimes", "/metrics"):
                assert c.get(f"http://127.0.0.1:{server.server_port}{path}").status_code == 200
        assert time.monotonic() - t < 1.0
        for s in held:
            s.close()
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- lifecycle
@pytest.mark.parametrize("null_line", [False, True])
def test_resume_continues_after_the_last_record_without_duplicates(tmp_path, null_line):
    """``null_line``: a line holding JSON ``null`` early in the replayed part (a record,
    dropped as ``not_an_object``; it used to pass for the source's caught-up marker and
    end the quiet replay there, so the rest was reported twice)."""
    clean = clean_stream()
    lines = [json.dumps(r).encode() + b"\n" for r in clean]
    if null_line:
        lines[100] = b"null\n"
    half = 512 * 4  # a whole number of 512-record runs, so batching is the same
    src = tmp_path / "t.jsonl"
    src.write_bytes(b"".join(lines[:half]))
    ev = tmp_path / "ev.jsonl"
    assert main(["sidecar", "--source", str(src), "--instances", "4", "--events", str(ev)]) == 0
    with src.open("ab") as fh:
        fh.write(b"".join(lines[half:]))
    assert main(["sidecar", "--source", str(src), "--instances", "4", "--events", str(ev), "--resume"]) == 0
    full = tmp_path / "full.jsonl"
    assert main(["sidecar", "--source", str(src), "--instances", "4", "--events", str(full)]) == 0
    assert _events(ev) == _events(full) and _events(full)
    docs = [json.loads(x) for x in ev.read_text().splitlines()]
    runs = list(dict.fromkeys(d["run"] for d in docs))
    assert len(runs) == 2
    for r in runs:
        seqs = [d["seq"] for d in docs if d["run"] == r]
        assert seqs == list(range(1, len(seqs) + 1))


def test_follow_reads_appended_lines_through_the_cli(tmp_path):
    clean = clean_stream()
    lines = [json.dumps(r).encode() + b"\n" for r in clean]
    src, ev = tmp_path / "t.jsonl", tmp_path / "ev.jsonl"
    src.write_bytes(b"".join(lines[:1000]))

    def writer():
        with src.open("ab") as fh:
            for k in range(1000, len(lines), 700):
                time.sleep(0.1)
                fh.write(b"".join(lines[k:k + 700]))
                fh.flush()

    w = threading.Thread(target=writer)
    w.start()
    code = main(["sidecar", "--source", str(src), "--follow", "--duration", "3", "--instances", "4", "--events", str(ev)])
    w.join()
    assert code == 0
    regimes = {(e[1], e[2]) for e in _events(ev)}
    assert {("saturation", "enter"), ("saturation", "exit"), ("heterogeneity", "enter")} <= regimes


def test_sigterm_on_an_idle_stdin_stops_promptly_with_the_summary():
    proc = subprocess.Popen([sys.executable, "-m", "analyzers", "sidecar", "--source", "-", "--instances", "2"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.5)
    t = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - t < 3 and proc.returncode == 0, err
    assert b"(stopped)" in err and b"Traceback" not in err


def test_sigint_stops_a_long_simulation_promptly_with_the_summary():
    proc = subprocess.Popen([sys.executable, "-m", "analyzers", "sidecar", "--source", "sim:api", "--instances", "4",
                             "--duration", "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(4)
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert time.monotonic() - t < 3 and proc.returncode == 0, err
    assert b"(stopped)" in err and b"Traceback" not in err


def test_a_closed_stdout_is_not_a_traceback(tmp_path):
    src = tmp_path / "t.jsonl"
    src.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in clean_stream()))
    ev = tmp_path / "ev.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "analyzers", "sidecar", "--source", str(src), "--instances", "4",
                             "--json", "--events", str(ev)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    proc.wait(timeout=60)
    assert proc.returncode == 0 and b"Traceback" not in err and b"BrokenPipe" not in err
    assert ("saturation", "enter") in {(e[1], e[2]) for e in _events(ev)}  # the events file is complete


# ---------------------------------------------------------------- scrape-only regimes
def vllm_exposition(running, waiting, steps, step_tokens, gen, prefill_s, decode_s):
    return f"""# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="m"}} {running}
vllm:num_requests_waiting{{engine="0",model_name="m"}} {waiting}
vllm:kv_cache_usage_perc{{engine="0",model_name="m"}} 0.5
# TYPE vllm:iteration_tokens_total histogram
vllm:iteration_tokens_total_count{{engine="0",model_name="m"}} {steps}
vllm:iteration_tokens_total_sum{{engine="0",model_name="m"}} {step_tokens}
# TYPE vllm:prompt_tokens counter
vllm:prompt_tokens_total{{engine="0",model_name="m"}} {step_tokens - gen}
vllm:generation_tokens_total{{engine="0",model_name="m"}} {gen}
# TYPE vllm:request_prefill_time_seconds histogram
vllm:request_prefill_time_seconds_count{{engine="0",model_name="m"}} {steps // 10}
vllm:request_prefill_time_seconds_sum{{engine="0",model_name="m"}} {prefill_s}
# TYPE vllm:request_decode_time_seconds histogram
vllm:request_decode_time_seconds_count{{engine="0",model_name="m"}} {steps // 10}
vllm:request_decode_time_seconds_sum{{engine="0",model_name="m"}} {decode_s}
"""


class FakeEngines:
    """Local vLLM-like endpoints on 127.0.0.1 whose counters advance per scrape:
    ``/metrics/0`` saturates (8 running of max 8, queue growing), ``/metrics/1`` is
    3x slower per token, ``/metrics/2`` is normal, ``/metrics/9`` never answers."""

    def __init__(self):
        self.k = [0, 0, 0]
        self.hang = threading.Event()
        self.dark = threading.Event()  # set: /metrics/2 stops answering
        fe = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                i = int(self.path.rsplit("/", 1)[-1])
                if i == 9 or (i == 2 and fe.dark.is_set()):
                    fe.hang.wait(10)
                    return
                fe.k[i] += 1
                k = fe.k[i]
                slow = 3.0 if i == 1 else 1.0
                body = vllm_exposition(8 if i == 0 else 3, k if i == 0 else 0, 100 * k, 30_000 * k, 3_000 * k,
                                       slow * 1.2 * k, slow * 0.5 * k).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def url(self, i):
        return f"http://127.0.0.1:{self.srv.server_port}/metrics/{i}"

    def close(self):
        self.hang.set()
        self.srv.shutdown()
        self.srv.server_close()


@pytest.mark.slow
def test_scrape_only_run_flags_the_saturated_and_the_slow_instance(tmp_path, capsys):
    fe = FakeEngines()
    try:
        ev = tmp_path / "ev.jsonl"
        code = main(["sidecar", *sum((["--scrape", fe.url(i)] for i in range(3)), []), "--interval", "0.05",
                     "--duration", "4", "--max-num-seqs", "8", "--events", str(ev)])
        assert code == 0
    finally:
        fe.close()
    docs = [json.loads(x) for x in ev.read_text().splitlines()]
    enters = {d["regime"]: d for d in docs if d["kind"] == "transition" and d["transition"] == "enter"}
    assert "saturation" in enters and enters["saturation"]["evidence"]["instance"] == 0
    assert "heterogeneity" in enters and enters["heterogeneity"]["evidence"]["instances"][0] == 1  # the slowest


def test_a_hung_target_keeps_the_interval_and_is_reported_with_its_reason(tmp_path, capsys):
    from analyzers.sidecar.sources import PrometheusScraper

    fe = FakeEngines()
    try:
        sc = PrometheusScraper([fe.url(2), fe.url(9)], timeout_s=0.2)
        t = time.monotonic()
        for k in range(5):
            snaps = sc.scrape(float(k))
        took = (time.monotonic() - t) / 5
        assert took < 0.35, took  # one hung target costs at most the timeout per round
        assert [s["instance"] for s in snaps] == [0]  # the hung one never answered: no snapshot
        st = [s.to_dict(4.0) for s in sc.status]
        assert st[0]["up"] and not st[1]["up"] and ("timeout" in st[1]["reason"] or "hanging" in st[1]["reason"])
        sc.close()
    finally:
        fe.close()


# ---------------------------------------------------------------- README examples
def _readme_sidecar_commands():
    """The sidecar block of the README, continuation lines joined, comments dropped."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "README.md").read_text()
    block = text.split("# the detector as a sidecar", 1)[1].split("\n\n", 1)[0]
    cmds, cur = [], ""
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip() if "  #" in line else line.strip()
        if not line:
            continue
        cur += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            cmds.append(cur.strip())
            cur = ""
    return cmds


@pytest.mark.slow
def test_readme_sidecar_examples_work_as_written_in_a_fresh_directory(tmp_path):
    import shlex

    cmds = _readme_sidecar_commands()
    assert len(cmds) >= 5
    for cmd in cmds:
        argv = shlex.split(cmd)
        assert argv[0] == ".venv/bin/lmetric", cmd
        if argv[1:] == ["sidecar"] or argv[1] == "detector":
            continue  # the demo and the evaluation have tests of their own (minutes each)
        full = [sys.executable, "-m", "analyzers", *argv[1:]]
        if "--follow" in argv:  # serves until stopped: it must read the file, keep running, and stop on SIGTERM
            proc = subprocess.Popen(full, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(4)
            assert proc.poll() is None, proc.communicate()[1]
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
            assert proc.returncode == 0 and b"Traceback" not in err, err
            continue
        if "--scrape" in argv:  # unreachable example hosts: it must keep running, say why, and stop on SIGTERM
            proc = subprocess.Popen(full, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(4)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
            assert proc.returncode == 0 and b"Traceback" not in err, err
            assert b"http://vllm-0:8000/metrics" in err and b"NO" in err  # the targets table says they are down
            continue
        proc = subprocess.run(full, cwd=tmp_path, capture_output=True, timeout=600)
        err = proc.stderr.decode()
        assert b"Traceback" not in proc.stderr, (cmd, err)
        assert proc.returncode == 0 or "address already in use" in err, (cmd, err)


@pytest.mark.slow
def test_a_target_that_goes_dark_raises_staleness_and_shows_in_health(tmp_path):
    fe = FakeEngines()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    ev = tmp_path / "ev.jsonl"
    argv = ["sidecar", *sum((["--scrape", fe.url(i)] for i in range(3)), []), "--interval", "0.05", "--timeout", "0.1",
            "--stale-after", "0.3", "--duration", "3", "--events", str(ev), "--http", f"127.0.0.1:{port}"]
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("code", main(argv)))
    th.start()
    try:
        time.sleep(0.8)
        fe.dark.set()
        time.sleep(1.2)
        with httpx.Client(timeout=2) as c:
            health = c.get(f"http://127.0.0.1:{port}/health").json()
            regimes = c.get(f"http://127.0.0.1:{port}/regimes").json()
            metrics = c.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        th.join(timeout=20)
        fe.close()
    assert result["code"] == 0
    assert health["status"] == "degraded" and health["targets_up"] == "2/3"
    down = [t for t in health["targets"] if not t["up"]]
    assert down[0]["url"] == fe.url(2) and ("timeout" in down[0]["reason"] or "hanging" in down[0]["reason"])
    assert "staleness" in regimes["active"] and regimes["targets"][2]["up"] is False
    assert re.search(r'lmetric_target_up\{instance="2",reason="[^"]+",url="[^"]+/metrics/2"\} 0.0', metrics)
    docs = [json.loads(x) for x in ev.read_text().splitlines()]
    assert any(d["kind"] == "target" and d["instance"] == 2 and not d["up"] for d in docs)
    assert any(d["kind"] == "transition" and d["regime"] == "staleness" and d["transition"] == "enter" for d in docs)


def test_heartbeat_when_stdout_is_not_a_terminal(tmp_path, capsys):
    src = tmp_path / "t.jsonl"
    src.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in clean_stream(t_end=50.0)))
    assert main(["sidecar", "--source", str(src), "--follow", "--duration", "1.2", "--heartbeat", "0.3",
                 "--instances", "4"]) == 0
    beats = [ln for ln in capsys.readouterr().err.splitlines() if "records read" in ln]
    assert len(beats) >= 2 and "regimes active" in beats[-1]


# ---------------------------------------------------------------- real captured expositions
FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "engines"


def test_parse_metrics_on_real_vllm_under_load_has_what_the_detectors_need():
    from analyzers.sidecar.sources import parse_metrics

    s = parse_metrics((FIXTURES / "vllm_cpu_real_metrics_under_load.txt").read_text(), 0, 1.0)
    # values from the capture: 4 running, 4 waiting, 489 engine steps (iteration_tokens_total_count),
    # prefill + decode request seconds summed (99.07442 s)
    assert (s["num_running"], s["num_waiting"], s["steps_total"]) == (4, 4, 489)
    assert s["busy_ms_total"] == pytest.approx(99074.42, abs=0.01) and 0 < s["kv_usage"] < 1
    assert "max_num_seqs" not in s  # vLLM does not expose it: --max-num-seqs supplies it


def test_llamacpp_scrape_reads_slots_and_props_for_kv_usage_and_the_slot_cap():
    from analyzers.sidecar.sources import PrometheusScraper

    bodies = {"/metrics": (FIXTURES / "xll_metrics_4req_2slots.txt").read_bytes(),
              "/slots": (FIXTURES / "xll_slots_during.json").read_bytes(),
              "/props": (FIXTURES / "xll_props.json").read_bytes()}

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            body = bodies.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        sc = PrometheusScraper([f"http://127.0.0.1:{srv.server_port}/metrics"], timeout_s=2.0)
        (snap,) = sc.scrape(1.0)
        sc.close()
    finally:
        srv.shutdown()
        srv.server_close()
    props = json.loads(bodies["/props"])
    assert snap["max_num_seqs"] == props["total_slots"] and 0 < snap["kv_usage"] <= 1
    assert snap["num_running"] == 2 and snap["num_waiting"] == 2 and snap["busy_ms_total"] > 0
    m = RegimeMonitor(1)
    m.process(snap)
    assert m.records["snapshot"] == 1 and not m.bad_records


# (huge integers too: in-process producers hand Python ints of any size to the monitor)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.sampled_from([10**400, -10**400, 2**64 + 1, 2**63])
                    | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=8)
_DEC = {"kind": "decision", "time": 5.0, "request_id": 7, "chosen": 1, "scorer": "lmetric", "prompt_tokens": 900,
        "cached_tokens": [0, 16], "queued_prefill_tokens": [10, 20], "batch_size": [1, 2], "scores": [1.0, 2.0],
        "snapshot_age": 0.1, "session": None, "prefix_class": 3, "output_tokens": 50}
_SNAP = {"kind": "snapshot", "time": 5.0, "instance": 1, "num_running": 2, "num_waiting": 1, "kv_usage": 0.3,
         "steps_total": 10, "busy_ms_total": 5.0, "prompt_tokens_total": 100, "max_num_seqs": 8, "stale": False,
         "age_s": 0.0}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_DEC) + sorted(f"s:{k}" for k in _SNAP)), JSON, st.booleans())
def test_any_value_in_any_field_is_accepted_or_counted(field, value, batched):
    base, key = (dict(_SNAP), field[2:]) if field.startswith("s:") else (dict(_DEC), field)
    base[key] = value
    m = RegimeMonitor(2)
    # nine of it: the vectorised path, each run's records told apart so a run can be accepted in bulk
    stream = [{**base, "request_id": k} if key != "request_id" else dict(base) for k in range(9)] if batched else [base]
    m.process_many(stream) if batched else m.process(base)
    assert sum(m.records.values()) == len(stream)
    accepted = sum(v for k, v in m.records.items() if k != "bad")
    assert m.records["bad"] == sum(m.bad_records.values())
    assert accepted + m.records["bad"] == len(stream)


def _same_counts_both_ways(stream: list) -> None:
    """A run of nine through process_many and one by one: every record counted, the same way."""
    runs, one = RegimeMonitor(2), RegimeMonitor(2)
    runs.process_many(stream)
    for rec in stream:
        one.process(rec)
    assert runs.records == one.records and runs.bad_records == one.bad_records
    assert sum(runs.records.values()) == len(stream) == 9


@pytest.mark.parametrize("big", [10**400, -10**400, 2**64 + 1, None])
@pytest.mark.parametrize("field", sorted(_DEC))
def test_a_huge_integer_or_null_in_any_decision_field_is_counted_on_both_paths(field, big):
    """Python ints of any size (in-process producers) or null in any field, in a vectorised
    run of nine and one at a time: the same verdicts, counted, never an OverflowError."""
    stream = [{**_DEC, "request_id": k, field: big} if field != "request_id" else {**_DEC, "time": 5.0 + k, field: big}
              for k in range(9)]
    _same_counts_both_ways(stream)


def test_runs_of_512_and_one_record_at_a_time_give_the_same_events_and_counts():
    """The file path (runs of 512, vectorised) and the --follow path (one record at a time)
    give the same events — evidence included — and the same state: counts of accepted,
    dropped by reason, notes, detector statistics (issue 9: speed work must not change an
    output). The stream has regimes and bad lines of every kind; it has no output_tokens and
    no policy acts, the two things the batch path defines per run (RegimeMonitor.process_many)."""
    import io
    import itertools

    from analyzers.sidecar.service import Sidecar
    from analyzers.sidecar.sources import JsonlSource

    clean = clean_stream(t_end=260.0)
    rng = random.Random(4)
    lines: list[bytes] = []
    for i, rec in enumerate(clean):
        while i >= 20 and rng.random() < 0.3:
            lines.extend(bad_lines(rng, clean[max(0, i - 40):i]))
        lines.append(json.dumps(rec).encode())
        if rec["kind"] == "decision" and i % 97 == 0:
            lines.append(lines[-1])  # a duplicate of the decision just read
    data = b"\n".join(lines) + b"\n"
    runs, one = (Sidecar(RegimeMonitor(4), events=io.StringIO()) for _ in range(2))
    src = iter(JsonlSource(io.BytesIO(data)))
    while chunk := list(itertools.islice(src, 512)):  # as `lmetric sidecar --source FILE` does
        runs.feed_many(chunk)
    for rec in JsonlSource(io.BytesIO(data)):
        one.feed(rec)
    events = runs.events.getvalue()
    assert events == one.events.getvalue()
    assert {"saturation", "heterogeneity"} <= {json.loads(e)["regime"] for e in events.splitlines()}
    a, b = runs.monitor.state(), one.monitor.state()
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    assert a["bad_records"]["non_utf8"] and a["bad_records"]["future"] and a["bad_records"]["duplicate"]


def test_long_clean_decision_runs_take_the_bulk_paths_and_equal_one_at_a_time(monkeypatch):
    """Runs of clean decisions (a simulated 8-instance stream, like the benchmark's) are
    accepted in bulk and fed to quiet detectors in bulk; the result must equal one record at
    a time: events, dropped counts, notes, statistics. Future records interleaved one after
    every decision must never add up to a clock jump on either path (an accepted record
    restarts their count; the batch path once kept counting). Output lengths are left out:
    the batch path reads the expected output at the start of a run (documented)."""
    import numpy as np

    from analyzers.detector import regimes, validate
    from analyzers.router.router import Router
    from analyzers.sim.cluster import Cluster
    from analyzers.sim.profiles import get_profile
    from analyzers.sim.workloads import load_workload

    reqs = load_workload("api", np.random.default_rng(3), limit=4000)
    res = Cluster(8, get_profile("h20")).run(reqs, Router("lmetric", rng=np.random.default_rng(3)), telemetry_interval=None)
    stream = []
    for k, d in enumerate(res.decisions):
        rec = d.to_dict()
        rec["output_tokens"] = None
        stream.append(rec)
        if 1200 <= k < 2000:
            stream.append({**rec, "time": rec["time"] + 1e6 + k, "request_id": 10**9 + k})  # future, dropped
        if 2000 <= k < 3000 and k % 200 == 199:
            stream.append(dict(rec))  # the same decision again (a duplicate, dropped)
    taken = {"bulk": 0, "quiet": 0}
    run_keys, quiet_many = validate.RecordValidator._run_keys, regimes.RegimeDetector._quiet_many

    def counting_keys(self, *a):
        keys = run_keys(self, *a)
        taken["bulk"] += keys is not None
        return keys

    def counting_quiet(self, k):
        fed = quiet_many(self, k)
        taken["quiet"] += fed
        return fed

    monkeypatch.setattr(validate.RecordValidator, "_run_keys", counting_keys)
    monkeypatch.setattr(regimes.RegimeDetector, "_quiet_many", counting_quiet)
    runs, one = RegimeMonitor(8), RegimeMonitor(8)
    for i in range(0, len(stream), 512):
        runs.process_many(stream[i:i + 512])
    for rec in stream:
        one.process(rec)
    assert taken["bulk"] >= 4 and taken["quiet"] >= 4  # the bulk paths ran (runs without bad records)
    a, b = runs.state(), one.state()
    assert json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)
    assert [t.to_dict() for t in runs.transitions] == [t.to_dict() for t in one.transitions]
    # and every detector's and the validator's inner state, but what the batch path refreshes per run
    # (the exchange rate and calibrated coefficients, and the shadow mean costs that use them)
    per_run = {"_lam", "_lam_every", "_coef_every", "_mean_cost"}
    assert _plain(runs.validator, {"view", "notes"}) == _plain(one.validator, {"view", "notes"})  # (the last record's)
    for x, y in zip(runs.detectors, one.detectors):
        skip = per_run | {"_evidence"} if x.regime == "divergence" else per_run  # (its evidence shows the mean costs)
        assert _plain(x, skip) == _plain(y, skip), type(x).__name__
    assert a["bad_records"] == {"future": 800, "duplicate": 5} and "clock_jump" not in a["notes"]
    assert a["records"]["decision"] == 4000


def _plain(o, skip=frozenset(), depth=0):
    """An object's state as nested plain values, in order (floats by repr: NaN equals NaN)."""
    import collections

    import numpy as np

    assert depth < 12
    if isinstance(o, float):
        return repr(o)
    if o is None or isinstance(o, (bool, int, str, bytes)):
        return o
    if isinstance(o, np.ndarray):
        return ("ndarray", repr(o.tolist()))
    if isinstance(o, (list, tuple, collections.deque, set, frozenset)):
        items = sorted(o, key=repr) if isinstance(o, (set, frozenset)) else o
        return [type(o).__name__, *[_plain(x, skip, depth + 1) for x in items]]
    if isinstance(o, dict):
        return [type(o).__name__, *[(_plain(k, skip, depth + 1), _plain(v, skip, depth + 1)) for k, v in o.items()]]
    fields = vars(o) if hasattr(o, "__dict__") else {k: getattr(o, k) for k in getattr(o, "__slots__", ())}
    return [type(o).__name__, *[(k, _plain(v, skip, depth + 1)) for k, v in fields.items() if k not in skip]]


def test_hot_prefix_scenario_flags_the_same_on_runs_and_one_at_a_time():
    """The labelled hot-prefix scenario of a port (where both hot-prefix detectors flag)
    — its telemetry, decisions and snapshots — fed as the
    file path feeds it and one record at a time: the same transitions with the same evidence
    and the same inner state of both hot-prefix detectors (their class windows, tests,
    streaks) — the vectorised Equation 2 and window counts against the per-record ones.
    Output lengths are left out (the batch path reads them at the start of a run)."""
    import numpy as np

    from analyzers.detector.scenarios import build_scenario
    from analyzers.router.router import Router
    from analyzers.sim.cluster import Cluster

    sc = build_scenario("hot_prefix_port", seed=0)
    stream = []
    Cluster(sc.n_instances, sc.profile).run(
        sc.requests, Router(sc.scorer, rng=np.random.default_rng(0), commit_updates=sc.commit_updates),
        snapshot_interval=sc.snapshot_interval, record_decisions=False, known_speeds=False,
        on_telemetry=lambda r: stream.append({**r.to_dict(), "output_tokens": None} if r.kind == "decision" else r.to_dict()))
    runs, one = RegimeMonitor(sc.n_instances), RegimeMonitor(sc.n_instances)
    for i in range(0, len(stream), 512):
        runs.process_many(stream[i:i + 512])
    for rec in stream:
        one.process(rec)
    hot = [t.to_dict() for t in runs.transitions if t.regime.startswith("hot_prefix")]
    assert {t["regime"] for t in hot} == {"hot_prefix", "hot_prefix_paper"}
    assert hot == [t.to_dict() for t in one.transitions if t.regime.startswith("hot_prefix")]
    for regime in ("hot_prefix", "hot_prefix_paper"):
        assert _plain(runs.by_regime[regime]) == _plain(one.by_regime[regime]), regime


@pytest.mark.parametrize("field", sorted(_DEC))
def test_a_run_whose_first_decision_lacks_a_field_is_counted_on_both_paths(field):
    """A vectorised run (nine decisions) whose records lack a field — the first one's
    ``cached_tokens`` sizes the run — gives the verdicts of one record at a time, never a
    KeyError (found attacking the batch path: eight lines ``{"kind": "decision"}`` crashed
    ``lmetric sidecar --source FILE``)."""
    stream = [{k: v for k, v in {**_DEC, "request_id": i}.items() if k != field} for i in range(9)]
    _same_counts_both_ways(stream)
    bare = RegimeMonitor(2)
    bare.process_many([{"kind": "decision"}] * 8)
    assert bare.bad_records == {"missing_field": 8}


def test_a_clean_run_counts_no_bad_records_entry():
    """A vectorised run without a bad record leaves the record counts — what ``state()``
    and the sidecar's JSON show — those of one record at a time: no ``"bad": 0`` entry."""
    stream = [{**_DEC, "request_id": i} for i in range(9)]
    runs, one = RegimeMonitor(2), RegimeMonitor(2)
    runs.process_many(stream)
    for rec in stream:
        one.process(rec)
    assert runs.state()["records"] == one.state()["records"] == {"decision": 9}


def test_a_run_mixing_scorers_charges_each_port_only_its_own_decisions():
    """The divergence detector's shadow mean cost of a port (what its evidence shows and
    ``favoured`` reads) over a vectorised run that mixes scorers — a router switched mid-run
    — is the one of one record at a time: the EWMA over that port's decisions only, the
    rules in the same order (the batch path once charged each port every decision of the
    run: 6680.7 against 6452.9 here). Equal up to float rounding (the batch EWMA is a
    weighted sum: relative 1e-9)."""
    stream = [{**_DEC, "request_id": i, "time": 1.0 + i, "chosen": 0, "scorer": "lmetric-plain" if i % 2 else "lmetric",
               "queued_prefill_tokens": [100 * i, 5000 - 300 * i], "batch_size": [8, 1], "cached_tokens": [0, 0],
               "output_tokens": None} for i in range(16)]
    runs, one = RegimeMonitor(2), RegimeMonitor(2)
    runs.process_many(stream)
    for rec in stream:
        one.process(rec)
    a, b = runs.by_regime["divergence"]._mean_cost, one.by_regime["divergence"]._mean_cost
    assert list(a) == list(b) == ["lmetric", "cost-model", "linear", "lmetric-plain"]
    assert a == pytest.approx(b, rel=1e-9)
