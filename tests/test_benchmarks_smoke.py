"""The benchmarks still run (quick inputs, in a subprocess since they pin themselves to
one core); their speed targets are judged by `make bench`, not here."""

import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.parametrize("module,expect", [
    ("benchmarks.bench_simulator", "decode macro steps"),
    ("benchmarks.bench_router", "decisions/s"),
    ("benchmarks.bench_detector", "decision records through the monitor"),
    ("benchmarks.bench_des", "readmission after preemption"),
])
def test_benchmark_runs(module, expect):
    proc = subprocess.run([sys.executable, "-m", module, "--quick"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert expect in proc.stdout


@pytest.mark.slow
def test_executor_benchmark_runs():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_executor", "--quick", "--no-detector"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "speed-up with 2 workers" in proc.stdout
