"""Router core: decisions explained, shadow scoring, switches, commit-time state, prefix index."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers.router.context import DecisionContext
from analyzers.router.prefix_index import ApproxPrefixIndex, ExactPrefixIndex
from analyzers.router.router import Router, _margin_ties
from analyzers.router.scorers import get_scorer, pick
from analyzers.sim.cluster import Cluster
from analyzers.sim.profiles import get_profile
from analyzers.sim.workloads import load_workload


def rng(seed=0):
    return np.random.default_rng(seed)


def _ctx(**kw):
    base = dict(prompt_tokens=2000, cached_tokens=[1984, 0, 512, 0], running=[6, 1, 2, 0], waiting=[1, 0, 0, 2],
                queued_prefill=[0, 800, 100, 3000], kv_usage=[0.6, 0.1, 0.3, 0.2], total_tokens=[9000, 800, 3000, 3500])
    base.update(kw)
    return DecisionContext.build(**base)


def test_decision_explains_margin_ties_and_scores():
    d = Router("lmetric", rng=rng()).choose(_ctx())
    s = sorted(d.scores.tolist())
    assert d.chosen == int(np.argmin(d.scores)) and d.margin == s[1] - s[0] and d.tie_count == 1
    d2 = Router("lmetric", rng=rng()).choose(DecisionContext.build(100, [0, 0], [0, 0], [0, 0]))
    assert d2.tie_count == 2 and d2.margin == 0.0 and d2.chosen == 0


SHADOWS = ("least-loaded", "vllm-v1", "bailian", "dynamo", "llm-d", "linear", "sglang")


def test_shadow_records_agree_with_recomputing_each_shadow_directly():
    router = Router("lmetric", rng=rng(3), shadow=SHADOWS)
    shadow_rng = np.random.default_rng(np.random.default_rng(3).integers(2**63))  # the router's shadow stream
    states = {name: {} for name in SHADOWS}
    for i in range(200):
        c = _ctx(running=list(rng(i).integers(0, 10, 4)), cached_tokens=list(16 * rng(i + 1).integers(0, 124, 4)))
        d = router.choose(c)
        for name in SHADOWS:
            spec = get_scorer(name)
            p = spec.params()
            s = spec.score(c, p, states[name])
            k = pick(s, spec.picker_for(p), shadow_rng, states[name], p)
            rec = d.shadow[name]
            assert rec.chosen == k and rec.agrees == (k == d.chosen)
            assert rec.rank_of_chosen == int(np.sum(s < s[d.chosen]))


def test_shadows_do_not_change_the_active_scorers_random_draws():
    a = Router("bailian", rng=rng(5))
    b = Router("bailian", rng=rng(5), shadow=("random", "bailian"))
    cs = [_ctx(running=list(rng(i).integers(0, 10, 4))) for i in range(100)]
    assert [b.choose(c).chosen for c in cs] == [a.choose(c).chosen for c in cs]


def test_switch_is_recorded_and_takes_effect():
    r = Router("lmetric", rng=rng())
    c = _ctx()
    first = r.choose(c).chosen
    r.switch("least-loaded", reason="hot prefix on instance 0", time=12.5)
    assert r.name == "least-loaded" and r.choose(c).scorer == "least-loaded"
    assert r.switches[-1].reason == "hot prefix on instance 0" and r.switches[-1].from_scorer == "lmetric"
    assert first == 0
    with pytest.raises(KeyError):
        r.switch("nope", reason="x")


def test_commit_time_updates_between_snapshots_and_reconciliation():
    r = Router("lmetric", rng=rng())
    base = DecisionContext.build(1000, [0, 0], [0, 0], [0, 0], snapshot_age=[0.05, 0.05])
    picks = []
    for i in range(4):
        c = replace(base, time=10.0 + 0.01 * i, snapshot_age=np.full(2, 0.05 + 0.01 * i))  # same snapshot (t=9.95)
        picks.append(r.choose(c).chosen)
    assert picks == [0, 1, 0, 1]       # each commit adds BS+1, Q+P to the chosen instance
    fresh = replace(base, time=11.0, snapshot_age=np.full(2, 0.0))
    assert r.choose(fresh).chosen == 0  # a fresh snapshot replaces the estimates
    no_updates = Router("lmetric", rng=rng(), commit_updates=False)
    assert [no_updates.choose(replace(base, time=10 + 0.01 * i)).chosen for i in range(4)] == [0, 0, 0, 0]


def test_exact_index_fed_by_simulated_kv_events_matches_every_engine_cache():
    idx = ExactPrefixIndex(4)
    cl = Cluster(4, get_profile("h100", kv_blocks=3000), kv_event_sink=idx)
    reqs = load_workload("chatbot", rng(1), limit=500, scale=3)
    checked = []

    def check(_n):
        for r in reqs[len(checked) % len(reqs):][:3]:
            hs = r.block_hashes()
            want = [inst.pool.match(hs) for inst in cl.instances]
            assert idx.match(hs).tolist() == want
        checked.append(1)

    cl.run(reqs, Router("lmetric", rng=rng()), on_progress=check, telemetry_interval=None)
    assert len(checked) == len(reqs) and len(idx) > 0
    assert sum(i.pool.evictions for i in cl.instances) > 0   # the comparison covered evictions too


def test_approx_index_lru_capacity_and_router_uses_it():
    idx = ApproxPrefixIndex(2, capacity_blocks=4)
    idx.insert(0, [1, 2, 3])
    idx.insert(0, [7, 8])            # 5 blocks > 4: the least recently used (1) goes
    assert idx.size(0) == 4 and idx.match([1, 2]).tolist() == [0, 0] and idx.match([2, 3]).tolist() == [2, 0]
    idx.insert(0, [2])               # touching 2 keeps it; 3 is next to go
    idx.insert(0, [9])
    assert idx.match([2]).tolist() == [1, 0] and idx.match([3]).tolist() == [0, 0]
    router = Router("lmetric", rng=rng(), prefix_index=ApproxPrefixIndex(2, 1000))
    hs = list(range(100, 160))
    c = replace(DecisionContext.build(960, [0, 0], [0, 3], [0, 0]), block_hashes=hs)
    first = router.choose(c).chosen
    c2 = replace(DecisionContext.build(960, [0, 0], [3, 0], [0, 0]), block_hashes=hs)
    d2 = router.choose(c2)
    assert first == 0 and d2.chosen == 0      # the router's own index remembers instance 0 holds the prompt
    assert d2.scores[0] < d2.scores[1]


def test_exact_index_events_and_cap():
    idx = ExactPrefixIndex(3)
    idx.stored(1, [5, 6, 7])
    idx.stored(2, [5])
    assert idx.match([5, 6, 7, 8]).tolist() == [0, 3, 1]
    assert idx.cached_tokens([5, 6, 7], prompt_tokens=48).tolist() == [0, 32, 16]   # cap: (48-1)//16 = 2 blocks
    idx.removed(1, [6])
    assert idx.match([5, 6, 7]).tolist() == [0, 1, 1]
    idx.cleared(2)
    assert idx.match([5]).tolist() == [0, 1, 0]
    with pytest.raises(ValueError):
        ExactPrefixIndex(0)


def _decide_sequence(defer: bool, seed: int):
    """Sixty decisions over eight prompts sharing prefixes, with the index update deferred
    (flushed only by the next decision) or applied at once; picks and final index state."""
    g = np.random.default_rng(seed)
    idx = ApproxPrefixIndex(4, capacity_blocks=40, group_blocks=4)
    router = Router("lmetric", rng=rng(), prefix_index=idx)
    prompts = [[1000 * (p % 3) + b for b in range(int(g.integers(2, 20)))] for p in range(8)]
    picks = []
    for i in range(60):
        hs = prompts[int(g.integers(8))]
        ctx = replace(DecisionContext.build(16 * len(hs) + 5, np.zeros(4), g.integers(0, 4, 4), np.zeros(4)),
                      block_hashes=hs, request_id=i)
        picks.append(router.choose(ctx, defer_index=defer).chosen)
    router.flush_index()
    return picks, idx.holders()


@pytest.mark.parametrize("seed", range(5))
def test_deferred_index_update_gives_the_same_decisions(seed):
    """``defer_index`` (serve defers the same way through ``PrefixTracker.routed``) moves the
    insert after the decision but the next decision applies it first: the same picks and
    the same index as inserting at once."""
    assert _decide_sequence(True, seed) == _decide_sequence(False, seed)


def test_deferred_index_update_is_pending_until_flushed():
    idx = ApproxPrefixIndex(2, capacity_blocks=100)
    router = Router("lmetric", rng=rng(), prefix_index=idx)
    ctx = replace(DecisionContext.build(100, [0, 0], [0, 3], [0, 0]), block_hashes=[5, 6, 7])
    k = router.choose(ctx, defer_index=True).chosen
    assert idx.size(k) == 0
    router.flush_index()
    router.flush_index()  # a second flush is a no-op
    assert idx.size(k) == 3 and idx.match([5, 6, 7]).tolist()[k] == 3


def _margin_ties_reference(scores, k):
    """The computation ``Router.choose`` used before the small-fleet fast path."""
    others = np.concatenate((scores[:k], scores[k + 1:]))
    finite = others[np.isfinite(others)]
    margin = float(finite.min() - scores[k]) if finite.size else float("inf")
    return margin, int(np.sum(scores == scores.min()))


@given(st.lists(st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e300, -3.0, np.inf, -np.inf, np.nan]), min_size=1, max_size=70),
       st.data())
def test_margin_and_ties_equal_the_numpy_reference(values, data):
    scores = np.array(values)
    k = data.draw(st.integers(0, len(values) - 1))
    got, want = _margin_ties(scores, k), _margin_ties_reference(scores, k)
    assert got[1] == want[1]
    assert got[0] == want[0] or (np.isnan(got[0]) and np.isnan(want[0]))


def test_margin_and_ties_keep_the_arrays_dtype():
    """A custom scorer's float32 scores: the margin is computed in float32, as before."""
    s = np.array([63696.16796875, 26978.671875, 4097.3525390625, 1652.7635498046875, 81327.0234375], np.float32)
    assert _margin_ties(s, 3) == _margin_ties_reference(s, 3) == (2444.5888671875, 1)  # float64: 2444.58898...


def test_a_deferred_insert_goes_to_the_index_the_decision_matched():
    idx = ApproxPrefixIndex(2, capacity_blocks=100)
    router = Router("lmetric", rng=rng(), prefix_index=idx)
    ctx = replace(DecisionContext.build(100, [0, 0], [0, 3], [0, 0]), block_hashes=[5, 6, 7])
    k = router.choose(ctx, defer_index=True).chosen
    router.prefix_index = ExactPrefixIndex(2)      # swapped before the flush
    router.choose(replace(ctx, block_hashes=None))  # flushes the pending insert first
    assert idx.size(k) == 3
