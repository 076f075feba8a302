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
