"""Trace loaders, generators fitted to published statistics, replay transforms."""

import json

import numpy as np
import pytest

from analyzers.sim.workloads import (SPECS, TARGETS, WorkloadError, bundled_path, generate, ideal_reuse, load_azure,
                                     load_mooncake, load_weka, load_workload, transform, workload_stats)
from analyzers.sim.workloads.traces import TRACE_DIR


def test_bundled_traces_have_license_and_source():
    for d in TRACE_DIR.iterdir():
        assert (d / "LICENSE").is_file() and (d / "SOURCE.md").is_file(), d


@pytest.mark.parametrize("name,n,reuse", [
    # counts and ideal reuse from each trace's SOURCE.md (reuse at 512-token granularity there; ±0.01 here)
    ("mooncake_conversation", 12_031, 0.374),
    ("mooncake_synthetic", 3_993, 0.651),
])
def test_mooncake_traces_match_their_published_statistics(name, n, reuse):
    reqs = load_mooncake(bundled_path(name))
    assert len(reqs) == n
    assert ideal_reuse(reqs) == pytest.approx(reuse, abs=0.01)


def test_mooncake_expands_512_token_ids_into_16_token_blocks():
    r = load_mooncake(bundled_path("mooncake_conversation"))[0]
    hs = r.block_hashes()
    assert len(hs) == r.prompt_len // 16 and len(set(hs)) == len(hs)


def test_azure_and_weka_counts():
    assert len(load_azure(bundled_path("azure_llm_2023_code"))) == 8_819
    assert len(load_azure(bundled_path("azure_llm_2023_conv"))) == 19_366
    weka = load_weka(bundled_path("weka_claude_code_sample"), np.random.default_rng(0))
    assert len(weka) == 823 and len({r.session for r in weka}) == 21
    # SOURCE.md: ideal reuse inside each conversation 95.4% (namespaces keep conversations apart)
    assert ideal_reuse(weka) == pytest.approx(0.954, abs=0.005)


def test_weka_start_times_depend_on_the_seed_only():
    a = load_weka(bundled_path("weka_claude_code_sample"), np.random.default_rng(1))
    b = load_weka(bundled_path("weka_claude_code_sample"), np.random.default_rng(1))
    c = load_weka(bundled_path("weka_claude_code_sample"), np.random.default_rng(2))
    assert [r.arrival for r in a] == [r.arrival for r in b] != [r.arrival for r in c]


@pytest.mark.parametrize("content,msg", [
    ('{"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [1]}\n{oops\n', ":2: not valid JSON"),
    ('{"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": [1]}\n{"timestamp": 5}\n', ":2: field 'input_length'"),
    ('{"timestamp": -1, "input_length": 10, "output_length": 1}\n', ":1: field 'timestamp'"),
    ('{"timestamp": 0, "input_length": 10, "output_length": 1, "hash_ids": ["x"]}\n', ":1: field 'hash_ids'"),
    ("", "no requests"),
])
def test_malformed_mooncake_lines_name_the_line(tmp_path, content, msg):
    p = tmp_path / "t.jsonl"
    p.write_text(content)
    with pytest.raises(WorkloadError, match=msg):
        load_mooncake(p)


def test_malformed_azure_rows_name_the_line(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04,abc,3\n")
    with pytest.raises(WorkloadError, match=":3:"):
        load_azure(p)
    p.write_text("when,ctx,gen\n")
    with pytest.raises(WorkloadError, match="expected header"):
        load_azure(p)


def test_weka_subagents_share_the_parent_namespace(tmp_path):
    doc = {"id": "c1", "block_size": 64, "requests": [
        {"t": 0.0, "in": 200, "out": 5, "hash_ids": [1, 2, 3]},
        {"type": "subagent", "t": 10.0, "requests": [{"t": 1.0, "in": 130, "out": 2, "hash_ids": [1, 2, 9]}]}]}
    (tmp_path / "c1.json").write_text(json.dumps(doc))
    reqs = load_weka(tmp_path, np.random.default_rng(0))
    assert [r.arrival for r in reqs] == [0.0, 11.0]
    assert reqs[0].namespace == reqs[1].namespace
    assert ideal_reuse(reqs) == pytest.approx(128 / 330)  # 2 of the subagent's 64-token blocks hit


def test_transform_scale_window_limit():
    reqs = load_mooncake(bundled_path("mooncake_conversation"))
    fast = transform(reqs, scale=2.0)
    assert fast[-1].arrival == pytest.approx((reqs[-1].arrival - reqs[0].arrival) / 2)
    win = transform(reqs, scale=2.0, start=100, window=50)
    assert all(0 <= r.arrival < 50 for r in win) and [r.rid for r in win] == list(range(len(win)))
    assert len(transform(reqs, limit=7)) == 7
    with pytest.raises(WorkloadError, match="scale must be positive"):
        transform(reqs, scale=0)
    with pytest.raises(WorkloadError, match="no request falls"):
        transform(reqs, start=1e9, window=1)


def test_unknown_workload_and_trace_format(tmp_path):
    with pytest.raises(WorkloadError, match="unknown workload 'nope'"):
        load_workload("nope", np.random.default_rng(0))
    p = tmp_path / "t.parquet"
    p.write_text("x")
    with pytest.raises(WorkloadError, match="unknown trace format"):
        load_workload(None, np.random.default_rng(0), trace=p)


# Tolerances of the fitted generators against the published figures (DESIGN.md §7), over
# 1200 s and three seeds: rate ±10%; means, medians and p99s ±25%; ideal reuse ±0.08;
# follow-up share ±0.05. Log-normals fitted to median and p99, so means drift most.
REL = {"rate": 0.10, "input_mean": 0.25, "input_p50": 0.25, "input_p99": 0.25, "output_mean": 0.25,
       "output_p50": 0.25, "output_p99": 0.25}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generators_match_published_statistics(name, seed):
    reqs = generate(name, np.random.default_rng(seed), duration_s=1200)
    s = workload_stats(reqs)
    target = TARGETS[name]
    for key, tol in REL.items():
        if target.get(key) is not None:
            assert getattr(s, key) == pytest.approx(target[key], rel=tol), key
    assert s.ideal_reuse == pytest.approx(target["ideal_reuse"], abs=0.08)
    if target.get("follow_share") is not None:
        follow = 1 - s.sessions / s.requests
        assert follow == pytest.approx(target["follow_share"], abs=0.05)


def test_toolagent_has_four_first_blocks_three_dominant():
    reqs = generate("toolagent", np.random.default_rng(0), duration_s=600)
    firsts = [r.hash_ids[0] for r in reqs]
    values, counts = np.unique(firsts, return_counts=True)
    assert len(values) == 4
    assert np.sort(counts)[::-1][:3].sum() / counts.sum() > 0.97


def test_generators_are_deterministic_per_seed():
    a = generate("coder", np.random.default_rng(9), n_requests=300)
    b = generate("coder", np.random.default_rng(9), n_requests=300)
    assert a == b and len(a) == 300
    with pytest.raises(ValueError):
        generate("coder", np.random.default_rng(9))
