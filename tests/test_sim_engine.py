"""Correctness of the simulated vLLM-v1 instance (closed forms, conservation, cache)."""

import math

import numpy as np
import pytest

from analyzers.router.router import Router
from analyzers.sim.block_pool import BlockPool
from analyzers.sim.cluster import Cluster
from analyzers.sim.engine import Instance
from analyzers.sim.profiles import get_profile
from analyzers.sim.request import Request
from analyzers.sim.workloads import ideal_reuse, load_workload


def _closed_form_single(profile, prompt, output):
    """TTFT and TPOT of one request alone, from the step-time model directly."""
    c, ttft = 0, 0.0
    while c < prompt:
        n = min(profile.max_num_batched_tokens, prompt - c)
        ttft += profile.t0 + max(profile.w, profile.k * n) + profile.a_p * n * (c + n / 2)
        c += n
    decode = [profile.t0 + max(profile.w, profile.k) + profile.a_d * (prompt + j + 1) for j in range(output - 1)]
    return ttft / 1000, (sum(decode) / len(decode) / 1000) if decode else None


@pytest.mark.parametrize("profile", ["a100", "h100", "h200", "h20", "h20-moe"])
@pytest.mark.parametrize("prompt,output", [(1, 1), (100, 7), (4096, 2), (10_000, 50), (33_333, 300)])
def test_single_request_matches_the_step_model_closed_form(profile, prompt, output):
    prof = get_profile(profile)
    inst = Instance(0, prof)
    inst.add(Request(0, 0.0, prompt, output), [], now=0.0)
    inst.advance_to(math.inf)
    (res,) = inst.results
    ttft, tpot = _closed_form_single(prof, prompt, output)
    assert res.ttft == pytest.approx(ttft, rel=1e-12)  # float summation order only
    if tpot is None:
        assert res.tpot is None and res.finish == res.first_token
    else:
        assert res.tpot == pytest.approx(tpot, rel=1e-9)


def test_profiles_sanity_figures_from_design():
    # DESIGN.md §6: a fresh 2K-token prompt on Qwen2.5-7B takes ~40 ms on H100 and ~0.3 s on H20 (±15%)
    assert _closed_form_single(get_profile("h100"), 2048, 1)[0] == pytest.approx(0.040, rel=0.15)
    assert _closed_form_single(get_profile("h20"), 2048, 1)[0] == pytest.approx(0.30, rel=0.15)
    # KV capacity: H20 + Qwen2.5-7B ~1.2-1.3M tokens; H20 + Qwen3-30B-A3B ~220K tokens (DESIGN.md §6, ±10%)
    assert get_profile("h20").kv_tokens == pytest.approx(1.25e6, rel=0.1)
    assert get_profile("h20-moe").kv_tokens == pytest.approx(2.2e5, rel=0.1)


def test_unknown_profile_and_override():
    with pytest.raises(KeyError, match="unknown profile 'b200'"):
        get_profile("b200")
    assert get_profile("h100", kv_blocks=10).kv_blocks == 10
    with pytest.raises(TypeError):
        get_profile("h100", nonsense=1)


def test_block_pool_lru_eviction_order_and_tail_first_free():
    pool = BlockPool(4)
    a = pool.allocate(2)
    pool.cache(a, [1, 2])
    pool.free(a)                       # freed tail first: block of hash 2 is evicted before hash 1
    b = pool.allocate(3)               # two never-used blocks, then the least recently freed (hash 2)
    assert pool.match([1, 2]) == 1
    pool.check_invariants()
    pool.free(b)
    assert pool.num_free == 4


def test_hits_capped_so_the_last_token_is_recomputed():
    prof = get_profile("h100")
    inst = Instance(0, prof)
    hashes = list(range(100, 104))
    inst.add(Request(0, 0.0, 64, 1, tuple(hashes)), hashes, now=0.0)
    inst.advance_to(math.inf)
    inst.add(Request(1, 10.0, 64, 1, tuple(hashes)), hashes, now=10.0)
    inst.advance_to(math.inf)
    assert inst.results[1].cached_tokens == 48  # 4 full blocks cached, capped at (64 - 1) // 16 = 3 blocks


def _run(reqs, n=4, profile="h100", scorer="lmetric", seed=0, **kw):
    cl = Cluster(n, get_profile(profile) if isinstance(profile, str) else profile, **kw.pop("cluster", {}))
    return cl, cl.run(reqs, Router(scorer, rng=np.random.default_rng(seed)), **kw)


def test_conservation_every_request_completes_once_and_kv_stays_within_capacity():
    reqs = load_workload("chatbot", np.random.default_rng(3), limit=800, scale=4)
    prof = get_profile("h100", kv_blocks=4000)
    cl = Cluster(4, prof)
    checks = []

    def check(_n):
        for inst in cl.instances:
            inst.pool.check_invariants()
            assert 0 <= inst.pool.usage <= 1
        checks.append(1)

    res = cl.run(reqs, Router("lmetric", rng=np.random.default_rng(0)), on_progress=check, telemetry_interval=0.5)
    assert sorted(r.rid for r in res.results) == list(range(len(reqs)))
    done = [r for r in res.results if not r.rejected]
    assert all(r.finish is not None for r in done)
    assert all(r.prompt_len + r.output_len > prof.kv_tokens for r in res.results if r.rejected)
    assert len(done) > 0.95 * len(reqs)
    assert all(0 <= r.cached_tokens < r.prompt_len for r in done)
    assert all(r.arrival <= r.first_scheduled <= r.first_token <= r.finish for r in done)
    assert len(checks) == len(reqs)
    assert all(0 <= s.kv_usage <= 1 for s in res.snapshots)


def test_infinite_cache_single_instance_reuse_equals_the_traces_ideal_reuse():
    # arrivals slowed 1000x so no request overlaps another: every reusable block is cached
    reqs = load_workload("mooncake-conversation", np.random.default_rng(0), limit=300, scale=0.001)
    prof = get_profile("h100", kv_blocks=2_000_000)
    _, res = _run(reqs, n=1, profile=prof, telemetry_interval=None)
    measured = sum(r.cached_tokens for r in res.results) / sum(r.prompt_len for r in res.results)
    assert measured == pytest.approx(ideal_reuse(reqs), abs=1e-12)
    assert measured > 0.05  # the first 300 requests of the trace reuse ~8%


@pytest.mark.slow
def test_littles_law_on_a_steady_synthetic_load():
    # time-average number in system from telemetry (sampled every 0.1 s) vs lambda * W from the
    # per-request results; tolerance 5% (sampling error of a 600 s window)
    reqs = load_workload("api", np.random.default_rng(11), window=600)
    _, res = _run(reqs, n=4, profile="h100", telemetry_interval=0.1)
    t_end = max(r.arrival for r in reqs)
    snaps = [s for s in res.snapshots if 60 <= s.time <= t_end]
    times = sorted({s.time for s in snaps})
    in_system = [sum(s.num_running + s.num_waiting for s in snaps if s.time == t) for t in times]
    L = float(np.mean(in_system))
    mine = [r for r in res.results if 60 <= r.arrival <= t_end - 60]
    lam = len(mine) / (t_end - 120)
    W = float(np.mean([r.e2e for r in mine]))
    assert L == pytest.approx(lam * W, rel=0.05)


def test_preemption_under_small_kv_and_everyone_still_finishes():
    reqs = [Request(i, 0.01 * i, 3000, 400) for i in range(12)]
    prof = get_profile("h100", kv_blocks=600)  # 9600 tokens: three requests' prompts fit, their outputs do not
    _, res = _run(reqs, n=1, profile=prof, telemetry_interval=None)
    assert sum(r.preemptions for r in res.results) > 0
    assert all(r.finish is not None for r in res.results)


def test_oversized_requests_are_rejected_with_a_reason_not_wedged():
    prof = get_profile("h100", kv_blocks=200)  # 3200 tokens
    reqs = [Request(0, 0.0, 5000, 10), Request(1, 0.1, 500, 10), Request(2, 0.2, 200_000, 1)]
    _, res = _run(reqs, n=2, profile=prof, telemetry_interval=None)
    by = {r.rid: r for r in res.results}
    assert "KV blocks" in by[0].rejected and "max_model_len" in by[2].rejected
    assert by[1].finish is not None and not by[1].rejected
    assert by[0].instance == -1 and by[0].ttft is None


def test_macro_decode_steps_give_identical_results():
    reqs = load_workload("chatbot", np.random.default_rng(5), limit=600, scale=3)
    outs = []
    for macro in (True, False):
        _, res = _run(reqs, n=3, cluster={"macro_steps": macro}, telemetry_interval=0.7)
        outs.append((res, [(r.instance, r.first_token, r.finish, r.cached_tokens) for r in res.results]))
    (ra, a), (rb, b) = outs
    assert ra.sim_steps == rb.sim_steps
    for x, y in zip(a, b):
        assert x[0] == y[0] and x[3] == y[3]
        assert x[1] == pytest.approx(y[1], abs=1e-9) and x[2] == pytest.approx(y[2], abs=1e-9)
    assert [(s.num_running, s.num_waiting, s.kv_usage) for s in ra.snapshots] == [(s.num_running, s.num_waiting, s.kv_usage) for s in rb.snapshots]
    assert np.allclose([s.time for s in ra.snapshots], [s.time for s in rb.snapshots], rtol=0, atol=1e-9)


def test_same_seed_same_results_and_random_scorer_depends_on_seed():
    reqs = load_workload("api", np.random.default_rng(2), limit=400)
    a = _run(reqs, scorer="random", seed=1, telemetry_interval=None)[1]
    b = _run(reqs, scorer="random", seed=1, telemetry_interval=None)[1]
    c = _run(reqs, scorer="random", seed=2, telemetry_interval=None)[1]
    assert [(r.instance, r.finish) for r in a.results] == [(r.instance, r.finish) for r in b.results]
    assert [r.instance for r in a.results] != [r.instance for r in c.results]


def test_slower_instance_gives_longer_latency():
    reqs = [Request(0, 0.0, 8000, 10), Request(1, 0.0, 8000, 10)]
    cl = Cluster(2, get_profile("h100"), speeds=[1.0, 0.5])

    class Each:
        name = "each"

        def route(self, req, ctx):
            return req.rid, None

    res = cl.run(reqs, Each(), telemetry_interval=None)
    assert res.results[1].ttft == pytest.approx(2 * res.results[0].ttft, rel=1e-12)


def test_stale_snapshots_herd_without_commit_updates_and_spread_with_them():
    # theorem T10: a burst inside one snapshot window goes to one instance without updates
    reqs = [Request(i, 1.0 + 0.001 * i, 2000, 50) for i in range(20)]
    picks = {}
    for commit in (False, True):
        cl = Cluster(4, get_profile("h100"))
        router = Router("lmetric", rng=np.random.default_rng(0), commit_updates=commit)
        res = cl.run(reqs, router, snapshot_interval=0.5, telemetry_interval=None)
        picks[commit] = {r.instance for r in res.results}
    assert picks[False] == {0}
    assert picks[True] == {0, 1, 2, 3}


def test_bad_configurations_raise_clear_errors():
    with pytest.raises(ValueError, match="at least one instance"):
        Cluster(0, get_profile("h100"))
    with pytest.raises(ValueError, match="speeds has 1 entries"):
        Cluster(2, get_profile("h100"), speeds=[1.0])
    with pytest.raises(ValueError, match="snapshot_interval must be positive"):
        Cluster(1, get_profile("h100")).run([Request(0, 0, 10, 1)], Router(rng=np.random.default_rng(0)), snapshot_interval=0)
    with pytest.raises(ValueError, match="max_num_batched_tokens must exceed max_num_seqs"):
        Instance(0, get_profile("h100", max_num_batched_tokens=64, max_num_seqs=256))


@pytest.mark.parametrize("hash_generated,hit_tokens", [(True, 112), (False, 64)])
def test_readmitted_request_reuses_its_generated_blocks_like_vllm_v1(hash_generated, hit_tokens):
    # Two 64-token prompts (4 hashed blocks each), 200 outputs, 24 KV blocks on one instance. Both
    # decode until the pool is full at 12 blocks each (B: 192 tokens computed, 12 full blocks hashed),
    # B (the newest) is preempted and frees its blocks tail first; A then grows from 12 to 17 blocks
    # (264 tokens), taking 5 of B's freed blocks from the head of the free queue, i.e. B's last 5.
    # vLLM v1 hashes every full block, generated tokens included, so B readmits with the 7 blocks
    # left (4 prompt + 3 generated = 112 tokens); caching prompt blocks only gives 4 blocks (64).
    inst = Instance(0, get_profile("h100", kv_blocks=24))
    inst.hash_generated = hash_generated
    a = Request(0, 0.0, 64, 200, tuple(range(10, 14)))
    b = Request(1, 0.0, 64, 200, tuple(range(20, 24)))
    inst.add(a, a.block_hashes(), 0.0)
    inst.add(b, b.block_hashes(), 0.0)
    inst.advance_to(math.inf)
    assert inst.preemptions == 1 and [r.preemptions for r in inst.results] == [0, 1]
    assert inst.prefix_hits == hit_tokens  # A and B hit nothing at first admission: this is B's readmission
    inst.pool.check_invariants()
    assert inst.pool.num_free == 24
