"""Each scorer against hand-computed decisions on small states (peers' documented behaviour)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers.router.context import DecisionContext
from analyzers.router.scorers import SCORERS, get_scorer, parse_params, pick
from lmetric_theory import conditions as C

CLI_NAMES = ["lmetric", "lmetric-noqueue", "lmetric-plain", "linear", "cost-model", "lmetric-speed", "least-loaded",
             "least-prefill", "round-robin", "random", "vllm-v1", "vllm-v1-2026", "bailian", "bailian-deterministic",
             "dynamo", "sglang", "llm-d", "aibrix", "preble", "load-balancer", "predicted-ttft"]


def ctx(prompt=1000, cached=None, running=None, waiting=None, queued=None, kv=None, tokens=None,
        speed=None, uncapped=None):
    given_ = [v for v in (cached, running, waiting, queued, kv, tokens, speed) if v is not None]
    n = len(given_[0]) if given_ else 3
    zeros = (0,) * n
    cached, running, waiting = (zeros if v is None else v for v in (cached, running, waiting))
    c = DecisionContext.build(prompt, cached, running, waiting, queued_prefill=queued, kv_usage=kv, total_tokens=tokens,
                              speed=speed)
    if uncapped is not None:
        from dataclasses import replace
        c = replace(c, cached_tokens_uncapped=np.asarray(uncapped, float))
    return c


def choose(name, c, params=None, seed=0, state=None):
    spec = get_scorer(name)
    p = spec.params(params)
    state = {} if state is None else state
    s = spec.score(c, p, state)
    return pick(s, spec.picker_for(p), np.random.default_rng(seed), state, p), s


def test_every_cli_name_is_registered_and_runs_with_defaults():
    assert sorted(SCORERS) == sorted(CLI_NAMES)
    c = ctx(cached=(992, 0, 512), running=(2, 0, 5), waiting=(1, 0, 0), queued=(0, 300, 100), kv=(0.2, 0.1, 0.7),
            tokens=(5000, 300, 9000))
    for name in CLI_NAMES:
        k, s = choose(name, c)
        assert 0 <= k < 3 and s.shape == (3,)
        spec = get_scorer(name)
        assert spec.formula and spec.source and spec.tie_policy


def test_lmetric_reference_hand_computed():
    # (Q+P)(BS+1): i0 = (0+8)*(4+1) = 40, i1 = (500+1000)*(1+1) = 3000, i2 = (0+1000)*(0+1) = 1000
    k, s = choose("lmetric", ctx(cached=(992, 0, 0), running=(3, 1, 0), waiting=(1, 0, 0), queued=(0, 500, 0)))
    assert s.tolist() == [40.0, 3000.0, 1000.0] and k == 0


def test_ties_go_to_the_lowest_index_and_idle_all_equal():
    k, s = choose("lmetric", ctx())
    assert k == 0 and len(set(s.tolist())) == 1
    assert choose("vllm-v1", ctx(running=(1, 0, 0)))[0] == 1   # 4W+R: first engine with the minimum


def test_ports_have_a_zero_factor_on_a_full_match_the_reference_does_not():
    # a 1024-token prompt fully cached on instance 1 (64 blocks); the cap leaves P = 16 for the reference
    c = ctx(prompt=1024, cached=(0, 1008, 0), uncapped=(0, 1024, 0), running=(0, 40, 0), waiting=(0, 10, 0))
    k_port, s_port = choose("lmetric-noqueue", c)
    assert s_port[1] == 0.0 and k_port == 1     # T4: zero at any load
    k_ref, s_ref = choose("lmetric", c)
    assert s_ref.tolist() == [1024.0, 16 * 51, 1024.0] and k_ref == 1   # still wins here: affinity 64 > 51
    heavier = ctx(prompt=1024, cached=(0, 1008, 0), uncapped=(0, 1024, 0), running=(0, 60, 0), waiting=(0, 10, 0))
    assert choose("lmetric", heavier)[0] == 0   # the reference lets go once (BS+1) passes the affinity ratio 64
    assert choose("lmetric-noqueue", heavier)[0] == 1   # the port never does
    assert choose("lmetric-plain", ctx(prompt=1024, cached=(0, 0, 0), running=(0, 5, 0)))[0] == 0  # idle ties at 0


def test_hot_prefix_state_ports_pile_on_reference_does_not_tied_to_t8():
    # 64 class requests of 8192 tokens whose 8176 first tokens are cached only on instance 0; commit-time
    # updates add each to the chosen instance (BS += 1, Q += P) as the router does between snapshots.
    n_inst, prompt, cap = 4, 8192, 8176
    def run(name):
        bs = np.zeros(n_inst); q = np.zeros(n_inst); picks = []
        for _ in range(64):
            c = DecisionContext.build(prompt, [cap, 0, 0, 0], bs, np.zeros(n_inst), queued_prefill=q)
            from dataclasses import replace
            c = replace(c, cached_tokens_uncapped=np.array([prompt, 0, 0, 0], float))
            k, _ = choose(name, c)
            picks.append(k); bs[k] += 1; q[k] += c.new_tokens[k]
        return picks
    port = run("lmetric-noqueue")
    ref = run("lmetric")
    assert set(port) == {0}                       # piles every request onto the holder
    assert 0 < ref.count(0) < 64 and set(ref) == {0, 1, 2, 3}
    # T8: the reference moves away exactly when (BS_i+1)/(BS_j+1) reaches the affinity ratio (Q_j+P_j)/(Q_i+P_i)
    first_away = ref.index(next(k for k in ref if k != 0))
    q0, p0 = 16 * first_away, 16
    assert not C.stays_on_holder(q0, p0, first_away, 0, prompt, 0)
    assert C.stays_on_holder(16 * (first_away - 1), p0, first_away - 1, 0, prompt, 0)


def test_reference_also_piles_on_when_equation_2_fails_converse_case():
    # T8's converse: when the affinity ratio is large and the other instances are busy, the reference too
    # keeps the class on its holder although its load is several times the others'
    c = ctx(prompt=32_768, cached=(32_752, 0, 0), running=(30, 8, 8), waiting=(0, 0, 0))
    k, s = choose("lmetric", c)
    assert k == 0 and c.batch_size[0] > 3 * c.batch_size[1]
    assert C.stays_on_holder(0, 16, 30, 0, 32_768, 8)


def test_linear_and_cost_model_and_speed_hand_computed():
    c = ctx(cached=(0, 900), running=(2, 0), waiting=(0, 0), queued=(0, 0), speed=(1.0, 0.25))
    _, lin = choose("linear", c, {"lambda": 300})
    assert lin.tolist() == [1000 + 300 * 3, 100 + 300 * 1]
    _, cm = choose("cost-model", c)
    assert cm.tolist() == [1000 + 2 * 1000, 100 + 0]
    k, sp = choose("lmetric-speed", c)
    assert sp.tolist() == [3000.0, 400.0] and k == 1


def test_round_robin_cycles_and_random_is_seeded():
    state = {}
    assert [choose("round-robin", ctx(), state=state)[0] for _ in range(5)] == [0, 1, 2, 0, 1]
    a = [choose("random", ctx(), seed=s)[0] for s in range(20)]
    assert set(a) == {0, 1, 2} and a == [choose("random", ctx(), seed=s)[0] for s in range(20)]


def test_vllm_v1_2026_kv_penalty_and_rotating_start():
    # max(inflight, W+R) + 6 W max(0, U-0.5): i0 = 3 + 6*2*0.4 = 7.8, i1 = 4 + 0 = 4
    _, s = choose("vllm-v1-2026", ctx(running=(1, 4), waiting=(2, 0), kv=(0.9, 0.3)))
    assert s.tolist() == pytest.approx([7.8, 4.0])
    state = {}
    picks = [choose("vllm-v1-2026", ctx(), state=state)[0] for _ in range(4)]
    assert picks == [0, 1, 2, 0]   # equal loads: the scan start rotates after every pick (PR #47420)


def test_bailian_normalised_score_and_proportional_pick():
    c = ctx(cached=(500, 0, 1000 - 16), running=(4, 0, 8), tokens=(100, 0, 200))
    _, s = choose("bailian-deterministic", c)
    # goodness = (hit_n + (1 - bs_n) + (1 - tok_n)) / 3 with min-max normalisation
    hit = np.array([500, 0, 984]) / 1000
    hit_n = (hit - hit.min()) / (hit.max() - hit.min())
    good = (hit_n + (1 - np.array([0.5, 0, 1])) + (1 - np.array([0.5, 0, 1]))) / 3
    assert (-s).tolist() == pytest.approx(good.tolist())
    picks = [choose("bailian", c, seed=i)[0] for i in range(3000)]
    freq = np.bincount(picks, minlength=3) / 3000
    assert freq == pytest.approx(good / good.sum(), abs=0.03)  # proportional pick; 3000 draws, ±0.03


def test_dynamo_cost_and_softmax_temperature():
    c = ctx(cached=(320, 0), queued=(160, 0), tokens=(1760, 0))
    _, s = choose("dynamo", c)
    # prefill_blocks = (Q + P)/16 = (160 + 680)/16 = 52.5 and 1000/16; decode = (1760 - 160)/16 = 100 and 0
    assert s.tolist() == [52.5 + 100, 62.5]
    hot = [choose("dynamo", c, {"temperature": 1.0}, seed=i)[0] for i in range(400)]
    assert 0 < hot.count(0) < 400   # T > 0 samples both; T = 0 is the deterministic argmin
    assert {choose("dynamo", c, seed=i)[0] for i in range(20)} == {1}


def test_sglang_both_default_sets():
    balanced = ctx(cached=(600, 0, 0), running=(10, 9, 9))
    assert choose("sglang", balanced)[0] == 0                               # match 0.6 > 0.5 (Rust)
    low = ctx(cached=(400, 0, 0), running=(10, 9, 9))
    assert choose("sglang", low)[0] == 1                                    # 0.4 <= 0.5: least loaded
    assert choose("sglang", low, {"preset": "python"})[0] == 0              # 0.4 > 0.3 (Python CLI)
    imbalanced = ctx(cached=(990, 0, 0), running=(40, 2, 3))
    assert choose("sglang", imbalanced)[0] == 1                             # 38 > 32 and 40 > 1.1*2
    assert choose("sglang", imbalanced, {"preset": "python"})[0] == 0       # 38 <= 64: cache path
    with pytest.raises(ValueError, match="preset"):
        choose("sglang", low, {"preset": "go"})


def test_llm_d_weighted_profile_and_random_ties():
    c = ctx(cached=(500, 0, 0), waiting=(4, 0, 2), kv=(0.5, 0.0, 0.2))
    _, s = choose("llm-d", c)
    # 3*prefix + 2*queue + 2*(1-U): i0 = 1.5 + 0 + 1.0, i1 = 0 + 2 + 2, i2 = 0 + 1 + 1.6
    assert (-s).tolist() == pytest.approx([2.5, 4.0, 2.6])
    assert {choose("llm-d", ctx(), seed=i)[0] for i in range(30)} == {0, 1, 2}  # all equal: random among ties


def test_aibrix_imbalance_then_prefix_within_mean_plus_sigma():
    assert choose("aibrix", ctx(cached=(900, 0, 0), running=(12, 1, 3)))[0] == 1   # 12 - 1 > 8: least request
    c = ctx(cached=(900, 800, 0), running=(6, 2, 1))
    # mean 3, sigma 2.16: instance 0 (R=6) is above mean + sigma, so the best eligible match is instance 1
    assert choose("aibrix", c)[0] == 1
    assert choose("aibrix", ctx(running=(3, 1, 2)))[0] == 1   # no match anywhere: least request


def test_preble_exploit_and_explore():
    exploit = ctx(cached=(800, 700, 0), running=(5, 2, 0))
    assert choose("preble", exploit)[0] == 1   # both hold more cached than new: least-loaded holder
    explore = ctx(cached=(300, 0, 0), running=(0, 0, 3), queued=(0, 100, 0))
    k, s = choose("preble", explore)
    assert s.tolist() == [700.0, 1100.0, 1000.0 + 3 * 45] and k == 0


def test_load_balancer_is_lexicographic_batch_then_queued_tokens_with_rotating_ties():
    # BS (1, 1, 2, 1), Q (900, 50, 0, 50): fewest requests first (0, 1, 3), then fewest queued tokens (1, 3)
    c = ctx(running=(1, 1, 2, 1), waiting=(0, 0, 0, 0), queued=(900, 50, 0, 50))
    state = {}
    picks = [choose("load-balancer", c, state=state)[0] for _ in range(4)]
    assert picks == [1, 1, 3, 3]  # the scan start rotates 0, 1, 2, 3: the tie (1, 3) goes to the first one scanned
    _, s = choose("load-balancer", c)
    assert np.argsort(s, kind="stable").tolist() == [1, 3, 0, 2]
    # a huge queue never outweighs one request less: BS first, exactly
    assert choose("load-balancer", ctx(running=(1, 2), queued=(10**9, 0)))[0] == 0


def test_tie_policy_is_a_parameter_of_every_scorer():
    idle = ctx(running=(0, 0, 0, 0))
    state = {}
    assert [choose("lmetric", idle, state=state)[0] for _ in range(3)] == [0, 0, 0]           # default: lowest index
    state = {}
    assert [choose("lmetric", idle, {"ties": "rotating"}, state=state)[0] for _ in range(5)] == [0, 1, 2, 3, 0]
    state = {}
    assert [choose("load-balancer", idle, {"ties": "lowest"}, state=state)[0] for _ in range(3)] == [0, 0, 0]
    draws = {choose("vllm-v1", idle, {"ties": "random"}, seed=s)[0] for s in range(40)}
    assert draws == {0, 1, 2, 3}                                                              # uniform among ties
    state = {}
    assert [choose("dynamo", idle, {"ties": "rotating"}, state=state)[0] for _ in range(3)] == [0, 1, 2]  # softmax T=0
    for name in CLI_NAMES:  # every scorer accepts the parameter
        assert get_scorer(name).params({"ties": "rotating"})["ties"] == "rotating"
    with pytest.raises(KeyError, match="ties must be one of lowest, rotating, random"):
        get_scorer("lmetric").params({"ties": "first"})


def test_predicted_ttft_joins_the_fastest_predicted_instance():
    # h20 constants: an idle instance 2,048 fresh tokens = 315.1 ms; one with 4,096 queued = 955.0 ms; one with the
    # prompt cached but 8,192 queued: X = 8192 + 16, 3 steps: 6 + 0.15*8208 + 2.8e-6*(16*(2032+8) + 8192*2048) = 1284.27
    c = ctx(prompt=2048, cached=(0, 0, 2032), running=(0, 0, 0), waiting=(0, 1, 2), queued=(0, 4096, 8192))
    k, s = choose("predicted-ttft", c)
    assert k == 0 and [round(v, 1) for v in s.tolist()] == [315.1, 955.0, 1284.3]
    k, _ = choose("predicted-ttft", ctx(prompt=2048, cached=(0, 2032), running=(0, 0), waiting=(0, 0), queued=(0, 0)))
    assert k == 1  # cached prefix, no queue: faster


def test_parse_params_and_unknown_parameters():
    assert parse_params(["lambda=3e2"]) == {"lambda": 300.0}
    with pytest.raises(ValueError, match="NAME=VALUE"):
        parse_params(["lambda"])
    with pytest.raises(KeyError, match="no parameter 'lam'"):
        get_scorer("linear").params({"lam": 1})
    with pytest.raises(KeyError, match="unknown scorer 'fastest'"):
        get_scorer("fastest")


# ------------------------------------------------------------------ properties
state_st = st.integers(2, 9).flatmap(lambda n: st.tuples(
    st.integers(1, 20_000),
    st.lists(st.floats(0, 1), min_size=n, max_size=n),
    st.lists(st.integers(0, 64), min_size=n, max_size=n),
    st.lists(st.integers(0, 32), min_size=n, max_size=n),
    st.lists(st.integers(0, 50_000), min_size=n, max_size=n),
    st.lists(st.floats(0, 1), min_size=n, max_size=n),
    st.lists(st.integers(0, 200_000), min_size=n, max_size=n)))


def _ctx_from(draw):
    prompt, frac, run, wait, q, kv, tok = draw
    cached = [16 * int(f * ((prompt - 1) // 16)) for f in frac]
    return DecisionContext.build(prompt, cached, run, wait, queued_prefill=q, kv_usage=kv, total_tokens=tok)


@given(state_st, st.sampled_from(CLI_NAMES), st.integers(0, 2**31))
def test_every_pick_is_a_valid_instance(draw, name, seed):
    c = _ctx_from(draw)
    k, s = choose(name, c, seed=seed)
    assert 0 <= k < c.n and np.all(~np.isnan(s))


DETERMINISTIC = ["lmetric", "lmetric-noqueue", "lmetric-plain", "linear", "cost-model", "lmetric-speed",
                 "least-loaded", "least-prefill", "vllm-v1", "bailian-deterministic", "sglang", "aibrix", "preble",
                 "load-balancer", "predicted-ttft"]


@given(state_st, st.sampled_from(DETERMINISTIC), st.randoms(use_true_random=False))
def test_deterministic_scorers_are_invariant_to_instance_order_up_to_ties(draw, name, rnd):
    c = _ctx_from(draw)
    perm = np.array(rnd.sample(range(c.n), c.n))
    from dataclasses import replace
    pc = replace(c, cached_tokens=c.cached_tokens[perm], running=c.running[perm], waiting=c.waiting[perm],
                 queued_prefill=c.queued_prefill[perm], kv_usage=c.kv_usage[perm], total_tokens=c.total_tokens[perm],
                 speed=c.speed[perm], snapshot_age=c.snapshot_age[perm])
    _, s = choose(name, c)
    kp, sp = choose(name, pc)
    assert sp.tolist() == s[perm].tolist()                 # scores move with their instances
    assert s[perm[kp]] == s.min()                          # the pick is a best instance of the original order


@given(state_st, st.floats(1e-3, 1e3), st.floats(1e-3, 1e3))
def test_lmetric_pick_never_changes_under_positive_rescaling_t1(draw, a, b):
    c = _ctx_from(draw)
    x = c.queued_prefill + c.new_tokens
    y = c.batch_size + 1
    assert C.argmin_first((a * x) * (b * y)) == choose("lmetric", c)[0]


def test_linear_pick_changes_under_rescaling_t2():
    c = ctx(cached=(900, 0), running=(5, 0), waiting=(0, 0))
    assert choose("linear", c, {"lambda": 10})[0] == 0
    assert choose("linear", c, {"lambda": 1000})[0] == 1


def test_a_numeric_parameter_given_a_non_number_is_a_one_line_value_error():
    from analyzers.router.scorers import SCORERS

    for bad in ("abc", True, None, [1]):
        with pytest.raises(ValueError, match="parameter output must be a number"):
            SCORERS["cost-model"].params({"output": bad})
    assert SCORERS["cost-model"].params({"output": 3})["output"] == 3   # ints are numbers
    assert SCORERS["linear"].params({"ties": "rotating"})["ties"] == "rotating"   # generic string parameters pass
