"""The serving benchmark still runs (quick: 20 streams through ``lmetric serve`` in front of
instant fake backends) and loses no request; its speed targets are judged by
``make bench-serve``, not here."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_serve_quick_runs_and_loses_nothing():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_serve", "--quick"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| lmetric:round-robin | 20 | 40 | 0 |" in proc.stdout, proc.stdout  # 20 streams x 2 requests, 0 lost
    assert "proxy requests lost over all latency runs: 0" in proc.stdout
    assert "load average" in proc.stdout


def test_load_client_spreads_stream_starts_and_rejects_a_bad_ramp(monkeypatch):
    import asyncio

    from benchmarks import serve_load

    starts = []

    async def fake_loop(url, bodies, next_index, deadline, res, timeout_s, start_delay=0.0):
        starts.append(start_delay)

    monkeypatch.setattr(serve_load, "_conn_loop", fake_loop)
    asyncio.run(serve_load._run(["http://127.0.0.1:9"], 4, [b"{}"], 4, None, 1.0, ramp_s=2.0))
    assert starts == [0.0, 0.5, 1.0, 1.5]  # stream k starts after ramp * k / streams s
    with pytest.raises(ValueError, match="ramp_s"):
        serve_load.run_load(["http://127.0.0.1:9"], 1, [b"{}"], total=1, ramp_s=-1.0)


@pytest.mark.parametrize("args", [["--streams", "abc"], ["--streams", "0"], ["--streams", ","], ["--ramp", "-1"],
                                  ["--ramp", "nan"], ["--per-stream", "0"], ["--seconds", "-1"],
                                  ["--targets", "bogus:x"], ["--targets", "lmetric"]])
def test_bad_arguments_are_one_line_errors(args, capsys):
    from benchmarks.bench_serve import main

    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "error:" in err, err
