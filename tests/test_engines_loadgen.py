"""Fast checks of the engine launchers and the load generator, against the instant fake
OpenAI backend (a real HTTP server in its own process) — no model needed."""

from __future__ import annotations

import random
import sys
import time

import httpx
import pytest

from analyzers.engines import ManagedProcess, StartError, free_port, router_spec
from analyzers.engines.fake_openai import MODEL
from analyzers.engines.llamacpp import main as llamacpp_main
from analyzers.loadgen import (PrefixWorkload, build_sessions, counters_delta, format_table, interleave,
                               read_counters, replay_sync, summarise)


@pytest.fixture(scope="module")
def fake():
    port = free_port()
    p = ManagedProcess("fake", [sys.executable, "-m", "analyzers.engines.fake_openai", "--port", str(port),
                                "--chunks", "3", "--max-seconds", "300"],
                       f"http://127.0.0.1:{port}", ready_path="/health", ready_timeout_s=30).start()
    yield p
    p.stop()
    assert not p.alive()


def _sessions(n_prompts=2, sessions=2, turns=2):
    w = PrefixWorkload(n_prompts=n_prompts, sessions_per_prompt=sessions, turns=turns, system_words=30,
                       user_words=4, max_tokens=3)
    return w, interleave(build_sessions(w, random.Random(0)), random.Random(1))


@pytest.mark.parametrize("api", ["chat", "completions"])
@pytest.mark.parametrize("stream", [True, False])
def test_replay_records_every_request_with_usage(fake, api, stream):
    w, sessions = _sessions()
    run = replay_sync(fake.url, sessions, concurrency=3, stream=stream, api=api, model=MODEL, max_tokens=3)
    assert len(run.results) == w.n_requests
    assert all(r.ok and r.error is None for r in run.results), run.results[0]
    assert all(r.completion_tokens == 3 and r.prompt_tokens > 0 and r.cached_tokens == 0 for r in run.results)
    # each session's turns in order, each later turn carrying the history (a longer prompt)
    for sid in {r.session_id for r in run.results}:
        turns = [r for r in run.results if r.session_id == sid]
        assert [r.turn for r in turns] == list(range(w.turns))
        assert turns[1].prompt_tokens > turns[0].prompt_tokens
    s = summarise("fake", run)
    assert s.requests == w.n_requests and s.errors == 0
    assert (s.ttft_mean_s is not None) == stream  # TTFT exists for streams only
    if stream:
        assert 0 < s.ttft_mean_s <= s.ttft_p99_s <= max(r.latency_s for r in run.results)
    assert s.out_tok_per_s == pytest.approx(3 * w.n_requests / run.wall_s)


def test_replay_against_a_dead_port_records_errors_and_ends():
    _, sessions = _sessions(1, 1, 2)
    t0 = time.monotonic()
    run = replay_sync(f"http://127.0.0.1:{free_port()}", sessions, concurrency=1, timeout_s=5)
    assert time.monotonic() - t0 < 10
    assert [r.ok for r in run.results] == [False, False]
    assert run.results[0].error.startswith("APIConnectionError")
    s = summarise("dead", run)
    assert s.errors == 2 and s.ttft_mean_s is None and s.first_error.startswith("APIConnectionError")
    assert "| dead | 2 | 2 |" in format_table([s])


def test_replay_rejects_bad_arguments():
    with pytest.raises(ValueError, match="api must be"):
        replay_sync("http://127.0.0.1:1", [], api="embeddings")
    with pytest.raises(ValueError, match="concurrency"):
        replay_sync("http://127.0.0.1:1", [], concurrency=0)


def test_engine_counters_before_after(fake):
    before = read_counters([fake.url])
    _, sessions = _sessions(1, 1, 1)
    replay_sync(fake.url, sessions, concurrency=1, model=MODEL)
    after = read_counters([fake.url])
    d = counters_delta(before, after)
    assert d["prompt_tokens_total"] > 0 and d["prompt_tokens_cached_total"] == 0


def test_fake_backend_rejects_junk_with_400(fake):
    r = httpx.post(fake.url + "/v1/chat/completions", content=b"{not json", trust_env=False)
    assert r.status_code == 400 and "bad JSON" in r.json()["error"]["message"]
    assert httpx.get(fake.url + "/nope", trust_env=False).status_code == 404


def test_workload_validation():
    with pytest.raises(ValueError, match="turns must be an integer"):
        PrefixWorkload(turns=0)
    with pytest.raises(ValueError, match="n_prompts"):
        PrefixWorkload(n_prompts=True)


def test_start_error_when_the_child_exits_early():
    p = ManagedProcess("early", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                       f"http://127.0.0.1:{free_port()}", ready_path="/health", ready_timeout_s=30)
    with pytest.raises(StartError, match=r"exited with code 3.*\n.*boom"):
        p.start()
    assert not p.alive()


def test_start_error_after_a_bounded_wait():
    p = ManagedProcess("mute", [sys.executable, "-c", "import time; time.sleep(60)"],
                       f"http://127.0.0.1:{free_port()}", ready_path="/health", ready_timeout_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(StartError, match="did not answer 200 within 1 s"):
        p.start()
    assert time.monotonic() - t0 < 15
    assert not p.alive(), "the process that never became ready is stopped"


def test_llamacpp_entry_rejects_bad_settings(capsys):
    assert llamacpp_main(["--port", "1", "--n-parallel", "0"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "llamacpp: n_parallel must be >= 1, got 0"


def test_router_spec_rejects_unknown_policies():
    with pytest.raises(ValueError, match="sglang router has no policy 'lmetric'"):
        router_spec("sglang:lmetric", ["http://127.0.0.1:1"], port=1)
    with pytest.raises(ValueError, match="give KIND:POLICY"):
        router_spec("vllm", ["http://127.0.0.1:1"], port=1)
    with pytest.raises(ValueError, match="at least one backend"):
        router_spec("lmetric:lmetric", [], port=1)


def test_replay_cli_prints_the_summary_row(fake, capsys):
    from analyzers.cli import main

    rc = main(["replay", "--url", fake.url, "--engine", fake.url, "--model", MODEL, "--prompts", "1", "--sessions", "2",
               "--turns", "2", "--system-words", "20"])
    out = capsys.readouterr().out
    assert rc == 0, out
    row = [line for line in out.splitlines() if line.startswith(f"| {fake.url} |")]
    assert len(row) == 1 and row[0].startswith(f"| {fake.url} | 4 | 0 |"), out
    assert "| 0 / " in row[0], "engine counters read: 0 cached tokens on the fake"


def test_replay_cli_unreachable_engine_is_one_line(capsys):
    from analyzers.cli import main

    dead = f"http://127.0.0.1:{free_port()}"
    assert main(["replay", "--url", dead, "--engine", dead]) == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith("lmetric replay: cannot read engine counters: ConnectError") and "\n" not in out
