"""Randomised scenarios (analyzers/detector/random_scenarios.py) and the randomised
evaluation's arithmetic and targets (analyzers/detector/random_eval.py)."""

import math
from dataclasses import replace

import numpy as np
import pytest

from analyzers.detector.random_eval import FA_MAX, GAP, PLAIN_TOLERANCE, WITHIN, Outcome, outcomes, random_tasks, \
    summarise, target_lines
from analyzers.detector.random_scenarios import DURATION, FAMILIES, RANGES, build_random_scenario, draw_params, \
    parse_scenario_id, scenario_id
from analyzers.sim.request import BLOCK_SIZE

API_RATE = 24.0  # the api generator's published rate (analyzers/sim/workloads/synthetic.py SPECS["api"])


@pytest.mark.parametrize("family", FAMILIES)
def test_parameters_stay_in_their_ranges_and_depend_only_on_family_and_seed(family):
    draws = [draw_params(family, s) for s in range(40)]
    assert draws[7] == draw_params(family, 7)  # same (family, seed) -> same draw
    assert len({tuple(sorted(d.items())) for d in draws}) == 40  # different seeds -> different draws
    for d in draws:
        for name, (lo, hi) in RANGES[family].items():
            assert lo <= d[name] <= hi, (name, d[name])
            if isinstance(lo, int):
                assert isinstance(d[name], int)
        if "regime_s" in d:  # the window ends at least 20 s before the horizon
            assert d["onset"] + d["regime_s"] <= DURATION - 20.0 + 1e-9
        if family == "hot_prefix":
            assert d["template_len"] == BLOCK_SIZE * d["template_blocks"]
    # the draws cover their ranges (40 uniform draws: each lands in the outer quarters with
    # probability 1 - 2 * 0.75**40 > 0.9999), so a generator stuck on one value fails
    # (two-valued ones take both: all 40 equal has probability 2 * 0.5**40)
    for name, (lo, hi) in RANGES[family].items():
        vals = [d[name] for d in draws]
        if isinstance(lo, int) and hi - lo == 1:
            assert set(vals) == {lo, hi}, name
        elif name != "regime_s":  # regime_s is cut to the horizon
            assert min(vals) < lo + 0.25 * (hi - lo) and max(vals) > hi - 0.25 * (hi - lo), name


def test_the_same_seed_builds_the_same_scenario_and_another_seed_another():
    a, b, c = (build_random_scenario("hot_prefix", s) for s in (5, 5, 6))
    assert a == b and a.requests == b.requests and a.params == b.params
    assert a.requests != c.requests and a.params != c.params
    assert a.name == scenario_id("hot_prefix", 5) == "hot_prefix~5" and parse_scenario_id(a.name) == ("hot_prefix", 5)


def test_bad_family_or_seed_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown family 'hot'; known: clean, hot_prefix"):
        build_random_scenario("hot", 0)
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="seed must be an integer >= 0"):
            draw_params("clean", bad)
    assert parse_scenario_id("clean~x") is None and parse_scenario_id("nope~1") is None


def _arrivals(sc):
    return np.array([r.arrival for r in sc.requests])


def test_clean_and_heterogeneity_load_snapshots_and_labels():
    for seed in (0, 1, 2):
        sc = build_random_scenario("clean", seed)
        p = sc.params
        assert sc.labels == {} and sc.commit_updates
        assert sc.snapshot_interval == (p["snapshot_interval"] if p["stale_snapshots"] else None)
        # the api generator's rate x load over 300 s: a Poisson count of sessions (~7,000),
        # 10% covers its noise (sd ~1.2%) and the generator's rounding
        assert len(sc.requests) == pytest.approx(API_RATE * p["load"] * DURATION, rel=0.10)
    sc = build_random_scenario("heterogeneity", 4)
    p = sc.params
    assert sc.speed_changes == ((p["onset"], p["slow_instance"], p["slow_factor"]),)
    assert sc.labels == {"heterogeneity": [(p["onset"], DURATION)]}


def test_hot_prefix_template_share_and_window():
    for seed in (0, 3):
        sc = build_random_scenario("hot_prefix", seed)
        p = sc.params
        a, b = p["onset"], p["onset"] + p["regime_s"]
        assert sc.labels == {"hot_prefix": [(a, pytest.approx(b, abs=1e-3))],
                             "hot_prefix_paper": [(a, pytest.approx(b, abs=1e-3))]}
        first = 2**40  # the template's first block id (random_scenarios._TEMPLATE_ID)
        hot = [r for r in sc.requests if r.hash_ids[:1] == (first,)]
        burst = [r for r in hot if r.output_len != 50 or a <= r.arrival]  # the warm trickle has 50-token outputs
        assert all(a <= r.arrival < b for r in burst)
        assert all(len(r.hash_ids) * BLOCK_SIZE >= p["template_len"] for r in hot)
        assert all(p["template_len"] + 32 <= r.prompt_len < p["template_len"] + 160 for r in hot)
        warm = [r for r in hot if r.arrival < a]
        assert len(warm) == (len(np.arange(10.0, a, 10.0)) if p["warm"] else 0)
        t = _arrivals(sc)
        inside = int(np.sum((t >= a) & (t < b)))
        # share of the window's arrivals: Poisson counts of a few thousand, 0.04 absolute covers 5 sd
        assert len(burst) / inside == pytest.approx(p["hot_share"], abs=0.04)
        med = float(np.median([r.output_len for r in burst]))
        assert med == pytest.approx(p["hot_out_median"], rel=0.1)  # sample median of >= 500 draws, sigma <= 0.6


def test_decode_heavy_outputs_follow_the_drawn_distribution_inside_the_window_only():
    sc = build_random_scenario("decode_heavy", 2)
    p = sc.params
    a, b = p["onset"], p["onset"] + p["regime_s"]
    assert sc.labels == {"divergence": [(a, pytest.approx(b, abs=1e-3))]}
    ins = np.array([r.output_len for r in sc.requests if a <= r.arrival < b])
    out = np.array([r.output_len for r in sc.requests if not a <= r.arrival < b])
    # log-normal: the sample median within 10% (n > 2,000, sigma <= 1.2: sd of the log-median ~ 0.033)
    assert float(np.median(ins)) == pytest.approx(p["out_median"], rel=0.1)
    assert float(np.std(np.log(ins))) == pytest.approx(p["out_sigma"], rel=0.1)
    assert float(np.median(out)) == pytest.approx(39, rel=0.15)  # the api generator's published median output


def test_staleness_bursts_are_the_labelled_windows():
    for seed in (0, 1, 5):
        sc = build_random_scenario("staleness", seed)
        p = sc.params
        assert not sc.commit_updates and sc.snapshot_interval == p["snapshot_interval"]
        wins = sc.labels["staleness"]
        assert len(wins) == p["bursts"] and wins[0] == (p["onset"], pytest.approx(p["onset"] + p["burst_s"]))
        t = _arrivals(sc)
        ins = sum(int(np.sum((t >= x) & (t < y))) for x, y in wins)
        span = sum(y - x for x, y in wins)
        # burst rate ~ API_RATE * burst_scale (>= 24/s), the trickle <= 0.03 x 24/s
        assert ins / span > 0.5 * API_RATE * p["burst_scale"]
        assert (len(t) - ins) / (DURATION - span) < 2.0


def _res(p99, scores=None, params=None):
    out = {"row": {"ttft_p99": p99}}
    if scores is not None:
        out["scores"] = scores
    if params is not None:
        out["params"] = params
    return out


def _score(regime, fa, decisions=10_000):
    return {"regime": regime, "false_alarms": fa, "decisions": decisions, "labelled": False}


def test_outcomes_take_the_best_lambda_and_targets_flip_at_their_boundaries():
    # seed 0: plain 2.0, detector 2.038 (+1.9%: MET just inside), best λ 1.5 (plain +33% > 20%)
    # seed 1: plain 1.0, detector 1.0, best λ 0.95 (plain +5.3%: not a gap seed)
    res = {("clean", 0, None, "linear(100)"): _res(1.6), ("clean", 0, None, "linear(300)"): _res(1.5),
           ("clean", 0, "lmetric", "plain"): _res(2.0),
           ("clean", 0, "lmetric", "detector"): _res(2.0 * (1 + PLAIN_TOLERANCE - 0.001), [_score("staleness", 0)], {"load": 1}),
           ("clean", 1, None, "linear(100)"): _res(0.95), ("clean", 1, None, "linear(300)"): _res(0.95),
           ("clean", 1, "lmetric", "plain"): _res(1.0),
           ("clean", 1, "lmetric", "detector"): _res(1.0, [_score("staleness", 1), _score("divergence", 0)]),
           ("clean", 1, "lmetric", "only staleness"): _res(1.1)}
    outs = outcomes(res)
    assert [(o.seed, o.best_p99, o.best_lambda) for o in outs] == [(0, 1.5, 300.0), (1, 0.95, 100.0)]
    assert outs[0].params == {"load": 1} and outs[1].fa_by_regime == {"staleness": 1}
    assert outs[1].ablation_p99 == {"staleness": 1.1}
    (s,) = summarise(outs)
    assert s.gap_seeds == 1 and s.vs_best[2] == 0 and s.vs_best[1] == pytest.approx(2.038 / 1.5 - 1)
    assert s.fa_per_10k == (0.5, 1.0, 1) and s.ablation_vs_plain["staleness"] == (pytest.approx(0.1),) * 2 + (1,)
    lines = target_lines([s])
    assert lines[0].endswith("MET") and "worst +1.9% (seed 0)" in lines[0]
    assert "on 1 of 2 seeds" in lines[1] and lines[1].endswith("MISSED")  # +36% vs best λ > 10%
    assert "worst 1.00 (seed 1: staleness 1)" in lines[2] and lines[2].endswith("MISSED")  # 1/10k is not < 1
    # just past each boundary (0.1%) the verdict flips
    worse = [Outcome("clean", 0, "lmetric", 2.0, 2.0 * (1 + PLAIN_TOLERANCE + 0.001), 2.0 / (1 + GAP + 0.001),
                     300.0, 0, 10_001, {})]
    lines = target_lines(summarise(worse))
    assert lines[0].endswith("MISSED") and "on 1 of 1 seeds" in lines[1] and lines[2].endswith("MET")
    lines = target_lines(summarise([replace(worse[0], best_p99=2.0 / (1 + GAP - 0.001))]))
    assert "on 0 of 1 seeds" in lines[1] and "does not apply" in lines[1]
    inside = Outcome("hot_prefix", 0, "lmetric", 2.0, 1.0 * (1 + WITHIN - 0.001), 1.0, 30.0, 1, 10_000, {})
    lines = target_lines(summarise([inside]))
    assert lines[1].endswith("MET") and len(lines) == 2  # (c) is judged on clean only
    lines = target_lines(summarise([replace(inside, detector_p99=1.0 * (1 + WITHIN + 0.001))]))
    assert lines[1].endswith("MISSED")
    lines = target_lines(summarise([replace(worse[0], false_alarms=1, decisions=int(1e4 / FA_MAX) - 1)]))
    assert lines[2].endswith("MISSED")


def test_an_incomplete_seed_is_skipped_not_guessed():
    res = {("clean", 0, None, "linear(300)"): _res(1.0), ("clean", 0, "lmetric", "plain"): _res(1.0)}
    assert outcomes(res) == []


def test_random_tasks_run_the_lambda_grid_once_per_seed_and_both_modes_per_scorer():
    keys = [k for k, _ in random_tasks(["clean", "staleness"], [0, 1], ["lmetric", "lmetric-plain"], [30, 300],
                                       ablation=True)]
    assert len(keys) == 2 * 2 * (2 + 2 * (2 + 5))
    assert sum(1 for k in keys if k[2] is None) == 2 * 2 * 2  # the grid does not depend on the scorer
    (task,) = [t for k, t in random_tasks(["clean"], [3], ["lmetric-noqueue"], [], ablation=True)
               if k[3] == "only divergence"]
    assert task.config == {"scenario": "clean~3", "mode": "detector", "suffix": "+only divergence", "seed": 3,
                           "scorer": "lmetric-noqueue", "enabled": ["divergence"]}


def test_enabled_is_validated_by_run_closed_loop():
    from analyzers.detector.closed_loop import run_closed_loop

    sc = build_random_scenario("clean", 0)
    sc = replace(sc, requests=sc.requests[:50])
    with pytest.raises(ValueError, match="unknown regime"):
        run_closed_loop(sc, "detector", enabled=("hot",))
    with pytest.raises(ValueError, match="acting modes"):
        run_closed_loop(sc, "lmetric", enabled=("staleness",))


@pytest.mark.slow
def test_an_ablation_run_takes_only_its_own_action():
    """heterogeneity~2 (instance 0 slows to 0.31x at 64 s): with only the heterogeneity
    action the router switches to the speed-normalised product; with only staleness's
    action it never does, although the heterogeneity regime is still flagged."""
    from analyzers.detector.closed_loop import run_closed_loop

    sc = build_random_scenario("heterogeneity", 2)
    sc = replace(sc, requests=[r for r in sc.requests if r.arrival < sc.params["onset"] + 40])
    het = run_closed_loop(sc, "detector", enabled=("heterogeneity",))
    stale = run_closed_loop(sc, "detector", enabled=("staleness",))
    assert het.monitor.policy.actions and {a.regime for a in het.monitor.policy.actions} == {"heterogeneity"}
    assert any("lmetric-speed" in a.action for a in het.monitor.policy.actions)
    assert all(a.regime == "staleness" for a in stale.monitor.policy.actions)
    assert any(t.regime == "heterogeneity" for t in stale.monitor.transitions)
    assert stale.router.name == "lmetric" and het.router.name == "lmetric-speed"


def test_a_seed_without_a_ratio_is_left_out_of_median_and_worst():
    ok = Outcome("clean", 0, "lmetric", 1.0, 1.01, 0.9, 300.0, 0, 10_000, {})
    empty = replace(ok, seed=1, plain_p99=0.0)  # e.g. no finished request: no P99 to compare with
    assert math.isnan(empty.vs_plain)
    (s,) = summarise([ok, empty])
    assert s.seeds == 2 and s.vs_plain == (pytest.approx(0.01), pytest.approx(0.01), 0)
