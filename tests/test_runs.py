"""The executor: order, de-duplication, cache and resume, failures, local processes, Dask."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from analyzers.runs import ResultCache, RunError, RunOptions, Task, run_tasks

FN = "tests.run_helpers:record"


def _tasks(marker, n, delay=0.0):
    return [Task(FN, {"i": i, "marker_dir": str(marker), "delay": delay}, label=f"t{i}") for i in range(n)]


def _calls(marker, i):
    p = Path(marker) / str(i)
    return len(p.read_text().splitlines()) if p.exists() else 0


def test_results_in_task_order_and_duplicates_run_once(tmp_path):
    tasks = _tasks(tmp_path, 3)
    seen = []
    out = run_tasks(tasks + tasks[:1], RunOptions(jobs=1, progress="off"), on_result=lambda i, t, r: seen.append(i))
    assert [r["sq"] for r in out] == [0, 1, 4, 0]
    assert sorted(seen) == [0, 1, 2, 3]  # the duplicate (index 3) gets its result too
    assert [_calls(tmp_path, i) for i in range(3)] == [1, 1, 1]


def test_cache_makes_a_rerun_free_and_code_changes_invalidate_it(tmp_path, capsys):
    marker, cache = tmp_path / "m", tmp_path / "c"
    marker.mkdir()
    opts = RunOptions(jobs=1, cache_dir=str(cache), progress="lines")
    run_tasks(_tasks(marker, 3), opts, code="v1")
    assert run_tasks(_tasks(marker, 3), opts, code="v1")[2] == {"i": 2, "sq": 4}
    assert [_calls(marker, i) for i in range(3)] == [1, 1, 1]
    assert capsys.readouterr().err.count("(cached)") == 3
    run_tasks(_tasks(marker, 3), opts, code="v2")  # another code fingerprint: recomputed
    assert [_calls(marker, i) for i in range(3)] == [2, 2, 2]


def test_a_corrupt_cache_entry_is_recomputed(tmp_path):
    marker, cache = tmp_path / "m", tmp_path / "c"
    marker.mkdir()
    opts = RunOptions(jobs=1, cache_dir=str(cache), progress="off")
    run_tasks(_tasks(marker, 1), opts, code="v")
    (entry,) = list(cache.glob("??/*.json"))
    entry.write_text("{not json")
    assert run_tasks(_tasks(marker, 1), opts, code="v") == [{"i": 0, "sq": 0}]
    assert _calls(marker, 0) == 2
    assert json.loads(entry.read_text())["result"] == {"i": 0, "sq": 0}


def test_a_failing_run_is_one_line_error_and_finished_runs_stay_cached(tmp_path):
    marker, cache = tmp_path / "m", tmp_path / "c"
    marker.mkdir()
    tasks = _tasks(marker, 2) + [Task("tests.run_helpers:fail", {"msg": "bad input"}, label="broken")]
    with pytest.raises(RunError, match=r"run broken failed: ValueError: bad input"):
        run_tasks(tasks, RunOptions(jobs=1, cache_dir=str(cache), progress="off"), code="v")
    assert len(ResultCache(cache)) == 2


def test_something_else_at_the_scheduler_address_is_a_one_line_error(tmp_path):
    """A TCP service that is not Dask answers with bytes the client reads as a frame
    length of exabytes (seen on this network at tcp://10.0.0.5:8786: a MemoryError
    traceback): one RunError line instead."""
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)

    def answer() -> None:
        for _ in range(4):  # the client may retry; bounded
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"\xff" * 64)
                time.sleep(0.5)

    th = threading.Thread(target=answer, daemon=True)
    th.start()
    try:
        with pytest.raises(RunError, match=r"no Dask scheduler at tcp://127.0.0.1:\d+: the handshake failed") as err:
            run_tasks(_tasks(tmp_path, 1), RunOptions(scheduler=f"tcp://127.0.0.1:{srv.getsockname()[1]}",
                                                     progress="off", cache_dir=str(tmp_path / "c")))
        assert "\n" not in str(err.value)
    finally:
        srv.close()


def test_bad_options_are_refused():
    for kw, msg in (({"jobs": 0}, "--jobs"), ({"scheduler": "localhost:8786"}, "tcp://"), ({"progress": "x"}, "progress")):
        with pytest.raises(ValueError, match=msg):
            RunOptions(**kw)


@pytest.mark.slow
def test_local_processes_give_the_same_results(tmp_path):
    out = run_tasks(_tasks(tmp_path, 4), RunOptions(jobs=2, progress="off"))
    assert [r["sq"] for r in out] == [0, 1, 4, 9]
    pids = {Path(tmp_path / str(i)).read_text().strip() for i in range(4)}
    assert str(os.getpid()) not in pids  # ran in worker processes


@pytest.mark.slow
def test_interrupted_run_resumes_from_the_cache(tmp_path):
    """Ctrl-C (SIGINT) a 2-worker run after two results; the rerun reuses them and computes the rest."""
    marker, cache = tmp_path / "m", tmp_path / "c"
    marker.mkdir()
    script = textwrap.dedent(f"""
        import signal, sys
        # as in an interactive shell: a background-started test run inherits SIGINT ignored
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from analyzers.runs import RunOptions, Task, run_tasks
        tasks = [Task({FN!r}, {{"i": i, "marker_dir": {str(marker)!r}, "delay": 0.4}}, label=f"t{{i}}") for i in range(12)]
        try:
            run_tasks(tasks, RunOptions(jobs=2, cache_dir={str(cache)!r}, progress="lines"), code="v")
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    lines = []
    deadline = time.monotonic() + 60
    while len(lines) < 2 and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if line.startswith("["):
            lines.append(line)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, rest
    done_first = len(ResultCache(cache))
    assert 2 <= done_first < 12
    calls_before = {i: _calls(marker, i) for i in range(12)}
    out = run_tasks([Task(FN, {"i": i, "marker_dir": str(marker), "delay": 0.4}, label=f"t{i}") for i in range(12)],
                    RunOptions(jobs=1, cache_dir=str(cache), progress="off"), code="v")
    assert [r["sq"] for r in out] == [i * i for i in range(12)]
    recomputed = sum(_calls(marker, i) - calls_before[i] for i in range(12))
    assert recomputed == 12 - done_first  # every finished run came from the cache


@pytest.mark.slow
def test_dask_cluster_runs_the_same_tasks(tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        out = run_tasks(_tasks(tmp_path, 4), RunOptions(scheduler=cluster.scheduler_address, progress="off",
                                                          cache_dir=str(tmp_path / "c")), code="v")
    assert [r["sq"] for r in out] == [0, 1, 4, 9]
    assert len(ResultCache(tmp_path / "c")) == 4
