"""Sidecar: sources (JSONL, follow, stdin, Prometheus scrape), outputs (events, HTTP), demo."""

import io
import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.cli import main
from analyzers.detector.monitor import RegimeMonitor
from analyzers.sidecar.exposition import serve
from analyzers.sidecar.service import Sidecar
from analyzers.sidecar.sources import PrometheusScraper, jsonl_records, parse_metrics

VLLM_NEW = """# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{model_name="m",engine="0"}} {run}
vllm:num_requests_waiting{{model_name="m",engine="0"}} 2
vllm:kv_cache_usage_perc{{model_name="m",engine="0"}} 0.25
# TYPE vllm:prefix_cache_queries counter
vllm:prefix_cache_queries_total{{model_name="m",engine="0"}} {q}
vllm:prefix_cache_hits_total{{model_name="m",engine="0"}} 100
"""
VLLM_OLD = """vllm:num_requests_running{model_name="m"} 1
vllm:num_requests_waiting{model_name="m"} 0
vllm:gpu_cache_usage_perc{model_name="m"} 0.75
vllm:gpu_prefix_cache_queries_total{model_name="m"} 10
vllm:gpu_prefix_cache_hits_total{model_name="m"} 5
"""
SGLANG = """sglang:num_running_reqs 4
sglang:num_queue_reqs 1
sglang:token_usage 0.5
sglang:cache_hit_rate 0.3
"""


def test_parse_metrics_current_legacy_and_sglang_names():
    a = parse_metrics(VLLM_NEW.format(run=3, q=1000), 0, 1.0)
    assert (a["num_running"], a["num_waiting"], a["kv_usage"], a["prefix_cache_queries_total"]) == (3, 2, 0.25, 1000)
    b = parse_metrics(VLLM_OLD, 1, 1.0)
    assert (b["kv_usage"], b["prefix_cache_hits_total"]) == (0.75, 5)
    c = parse_metrics(SGLANG, 2, 1.0)
    assert (c["num_running"], c["num_waiting"], c["kv_usage"]) == (4, 1, 0.5)


def _server(texts):
    """A local HTTP server returning texts[i] on /metrics/i; texts[i] = None answers 500."""
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            i = int(self.path.rsplit("/", 1)[-1])
            body = texts[i]() if callable(texts[i]) else texts[i]
            if body is None:
                self.send_response(500)
                self.end_headers()
                return
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_scraper_reads_instances_and_marks_a_dead_one_stale_not_dropped():
    state = {"q": 1000, "alive": True}
    texts = [lambda: VLLM_NEW.format(run=3, q=state["q"]), VLLM_OLD,
             lambda: SGLANG if state["alive"] else None]
    srv = _server(texts)
    try:
        urls = [f"http://127.0.0.1:{srv.server_port}/metrics/{i}" for i in range(3)]
        sc = PrometheusScraper(urls)
        first = sc.scrape(1.0)
        assert [s["instance"] for s in first] == [0, 1, 2] and not any(s.get("stale") for s in first)
        state["alive"] = False
        state["q"] = 10  # counter reset
        second = sc.scrape(2.0)
        assert second[2]["stale"] is True and second[2]["num_running"] == 4 and second[2]["time"] == 2.0
        assert sc.failures == [0, 0, 1]
        m = RegimeMonitor(3)
        for s in first + second:
            m.process(s)
        assert m.notes["counter_reset"] == 1 and not m.bad_records and m.records["snapshot"] == 6
        sc.close()
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("mode", ["r", "rb"])  # text: one readline a line; binary: blocks split at newlines
def test_jsonl_source_follows_a_growing_file_and_counts_bad_lines(tmp_path, mode):
    path = tmp_path / "t.jsonl"
    path.write_text('{"kind": "snapshot", "time": 0, "instance": 0, "num_running": 1, "num_waiting": 0, "kv_usage": 0.1}\n')
    stop = threading.Event()
    got = []

    def writer():
        with path.open("a") as fh:
            time.sleep(0.3)
            fh.write("{broken\n")
            fh.flush()
            fh.write('{"kind": "snapshot", "time": 1, "instance": 0, "num_running": 2, ')
            fh.flush()
            time.sleep(0.3)
            fh.write('"num_waiting": 0, "kv_usage": 0.2}\n')
            fh.flush()
        time.sleep(0.4)
        stop.set()

    threading.Thread(target=writer).start()
    with path.open(mode) as fh:
        for rec in jsonl_records(fh, follow=True, poll_s=0.05, stop=stop):
            got.append(rec)
    assert [r["kind"] for r in got] == ["snapshot", "unparsable", "snapshot"] and got[1]["line"] == 2


def test_events_file_is_appended_and_flushed_per_event(tmp_path):
    from analyzers.detector.regimes import SaturationDetector
    from analyzers.telemetry.schema import InstanceSnapshot

    ev = tmp_path / "events.jsonl"
    ev.write_text('{"kind": "earlier"}\n')
    with ev.open("a") as fh:
        sc = Sidecar(RegimeMonitor(1, detectors=[SaturationDetector(min_dwell=0.0)]), events=fh, human=io.StringIO())
        for k in range(60):
            sc.feed(InstanceSnapshot(time=float(k), instance=0, num_running=8, num_waiting=k, kv_usage=0.5, max_num_seqs=8))
            if sc.monitor.transitions:
                lines = ev.read_text().splitlines()  # visible before the file is closed
                assert json.loads(lines[-1])["regime"] == "saturation"
                break
    lines = ev.read_text().splitlines()
    assert lines[0] == '{"kind": "earlier"}' and json.loads(lines[1])["transition"] == "enter"


def test_http_metrics_regimes_health():
    m = RegimeMonitor(2)
    m.process({"kind": "snapshot", "time": 0.0, "instance": 0, "num_running": 1, "num_waiting": 0, "kv_usage": 0.1})
    m.process("junk")
    server, _ = serve(m, threading.Lock(), "127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        with httpx.Client(timeout=5) as c:
            metrics = c.get(base + "/metrics").text
            assert 'lmetric_regime_active{regime="hot_prefix"} 0.0' in metrics
            assert 'lmetric_bad_records_total{reason="not_an_object"} 1.0' in metrics
            assert 'lmetric_records_total{kind="snapshot"} 1.0' in metrics
            reg = c.get(base + "/regimes").json()
            assert reg["active"] == {} and "hot_prefix" in reg["regimes"] and reg["bad_records"] == {"not_an_object": 1}
            assert c.get(base + "/health").json()["status"] == "ok"
            assert c.get(base + "/nope").status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_sidecar_cli_on_stdin_with_bad_lines(tmp_path):
    lines = ['{"kind": "snapshot", "time": 0, "instance": 0, "num_running": 1, "num_waiting": 0, "kv_usage": 0.1}',
             "not json", '{"kind": "snapshot", "time": -1}']
    proc = subprocess.run([sys.executable, "-m", "analyzers", "sidecar", "--source", "-", "--instances", "2",
                           "--events", str(tmp_path / "e.jsonl")], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"dropped: unparsable\s+1\b", proc.stderr) and re.search(r"dropped: missing_field\s+1\b", proc.stderr)


def test_sidecar_cli_scrape_mode_with_http(tmp_path, capsys):
    srv = _server([VLLM_NEW.format(run=3, q=100), VLLM_OLD])
    try:
        urls = [f"http://127.0.0.1:{srv.server_port}/metrics/{i}" for i in range(2)]
        code = main(["sidecar", "--scrape", urls[0], "--scrape", urls[1], "--interval", "0.05", "--duration", "0.3",
                     "--http", "127.0.0.1:0"])
        assert code == 0
        err = capsys.readouterr().err
        assert "serving http://127.0.0.1:" in err and re.search(r"snapshots\s+\d", err)
    finally:
        srv.shutdown()
        srv.server_close()


def test_sidecar_cli_sim_source_and_errors(capsys):
    assert main(["sidecar", "--source", "sim:api", "--limit", "400", "--instances", "4"]) == 0
    assert re.search(r"decisions\s+400\b", capsys.readouterr().err)
    for bad in (["--source", "sim:nope"], ["--source", "/no/such/file.jsonl"]):
        with pytest.raises(SystemExit) as exc:
            main(["sidecar", *bad])
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown workload 'nope'" in err and "no such file" in err


def test_main_job_demo_prints_regimes_fallbacks_and_latency():
    out = io.StringIO()
    from analyzers.sidecar.demo import run_demo

    assert run_demo(out) == 0
    text = out.getvalue()
    for section in ("Regimes found", "Fallbacks applied", "LMetric (no mitigation)", "LMetric + detector (mitigated)"):
        assert section in text
    # the injected slow instance is found (frozen from the seeded demo; see the closing note)
    assert "heterogeneity     ENTER" in text and "route with lmetric-speed" in text
    # per regime with a fallback, a measured verdict; raw 2^40 class ids never shown
    assert re.search(r"heterogeneity: flagged .* The fallback (helped|hurt|had a mixed effect|made no clear difference)",
                     text)
    assert "1099511627776" not in text and "Equation 2" not in text


class _Pieces:
    """A binary stream whose ``read1`` returns the given piece sizes (then the rest)."""

    def __init__(self, data: bytes, sizes: list[int]):
        self.data, self.sizes, self.pos = data, list(sizes), 0

    def read1(self, n: int) -> bytes:
        k = min(n, self.sizes.pop(0) if self.sizes else n)
        out = self.data[self.pos:self.pos + k]
        self.pos += len(out)
        return out


class _LinesOnly:
    """A stream with ``readline`` only: JsonlSource reads it one line at a time."""

    def __init__(self, data: bytes):
        self.fh = io.BytesIO(data)

    def readline(self, n: int) -> bytes:
        return self.fh.readline(n)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\n", b"{}", b'{"kind": "x"}', b"[1]", b"\xff", b"  ", b"nul", b"7" * 9]),
                max_size=40),
       st.integers(1, 24), st.lists(st.integers(1, 30), max_size=20))
def test_block_reader_yields_what_the_line_reader_yields(parts, max_line, sizes):
    """Records, line numbers and the offset after each (what --resume and events record) are
    those of one readline a line, over-long lines included, for any split into blocks."""
    from analyzers.sidecar.sources import JsonlSource

    data = b"".join(parts)

    def run(fh):
        src = JsonlSource(fh, max_line=max_line)
        return [(rec, src.offset, src.line_no) for rec in src], src.offset

    assert run(_Pieces(data, sizes)) == run(_LinesOnly(data))


def test_a_json_null_line_is_a_record_not_the_caught_up_marker():
    """Following, the source yields ``IDLE`` when caught up; a line holding ``null`` is
    a record (the validator drops it as ``not_an_object``, as in file mode)."""
    from analyzers.sidecar.sources import IDLE, JsonlSource

    stop = threading.Event()
    it = iter(JsonlSource(io.BytesIO(b'{"a": 1}\nnull\n'), follow=True, stop=stop, poll_s=0.01, idle_marker=True))
    got = [next(it), next(it), next(it)]
    stop.set()
    assert got[0] == {"a": 1} and got[1] is None and got[2] is IDLE


def test_overlapping_streaming_gc_uses_restore_the_collector():
    """Two runs that overlap and end in the order they began (threads embedding the CLI)."""
    import gc

    from analyzers.sidecar.cli import streaming_gc

    before = gc.get_threshold()
    a, b = streaming_gc(5000), streaming_gc(6000)
    a.__enter__()
    b.__enter__()
    assert gc.get_threshold()[0] == 5000
    a.__exit__(None, None, None)
    assert gc.get_threshold()[0] == 5000    # b still runs
    b.__exit__(None, None, None)
    assert gc.get_threshold() == before     # (each use restoring its own entry value left 5000 set)
