"""The divergence detector's regret test and its evidence-chosen fallbacks (issue 10, item 3)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzers.detector import DivergenceDetector, MitigationPolicy, RegimeMonitor
from analyzers.detector.output_length import OutputLengths
from analyzers.detector.regimes import Transition
from analyzers.router.context import DecisionContext
from analyzers.router.router import Router
from analyzers.router.scorers import SCORERS
from analyzers.telemetry.schema import RoutingDecision


def _dec(i, scorer="lmetric", cached=(1784, 0), q=(30000, 0), bs=(5, 0), prompt=1800, out=None, cls=None):
    return RoutingDecision(time=float(i), request_id=i, chosen=0, scorer=scorer, prompt_tokens=prompt,
                           cached_tokens=list(cached), queued_prefill_tokens=list(q), batch_size=list(bs),
                           output_tokens=out, prefix_class=cls)


# ------------------------------------------------------------------ output lengths per prefix class
@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=80), st.sampled_from([0.1, 0.5, 0.9]),
       st.integers(1, 40))
def test_output_quantile_is_the_exact_lower_quantile_of_the_window(values, q, window):
    o = OutputLengths(q=q, window=window, min_samples=1)
    for v in values:
        o.observe(1, v)
    last = sorted(values[-window:])
    assert o.expected(1) == last[min(int(q * len(last)), len(last) - 1)]


def test_output_lengths_learn_a_class_within_its_window_and_fall_back_to_the_fleet():
    o = OutputLengths(window=8, min_samples=3)
    for k in range(100):
        o.observe(k % 2, 100 if k % 2 == 0 else 5000)   # class 0 short, class 1 long outputs
    assert (o.expected(0), o.expected(1)) == (100.0, 5000.0)
    assert o.expected(None) == o.fleet() and o.expected(42) == o.fleet()   # unseen: the fleet median
    for _ in range(8):
        o.observe(0, 3000)                               # class 0 changes: one window later it is learned
    assert o.expected(0) == 3000.0


def _lengths_state(o: OutputLengths):
    return (list(o._global.order), o._global.sorted, [(k, list(w.order), w.sorted) for k, w in o._classes.items()],
            o._cache, o._global_q)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from([None, 0, 1, 2, 3, 4, 5]),
                                   st.one_of(st.integers(0, 50), st.sampled_from([-1.0, float("nan")]))),
                         max_size=30), max_size=5), st.sampled_from([3, 10]))
def test_output_lengths_observe_many_leaves_the_state_of_observe_one_by_one(runs, max_classes):
    """Runs of (class, length) pairs — bad lengths, no class, more classes than kept (3) or
    not (10), more values than a window holds — through observe_many leave the state
    observe() one by one leaves (window order, sorted values, class order), quantiles
    read in between."""
    a, b = (OutputLengths(window=3, global_window=5, min_samples=1, max_classes=max_classes) for _ in range(2))
    for run in runs:
        for c, v in run:
            a.observe(c, v)
        b.observe_many(run)
        assert [a.expected(c) for c in (None, 0, 1, 4)] == [b.expected(c) for c in (None, 0, 1, 4)]
        assert _lengths_state(a) == _lengths_state(b)


def test_output_lengths_bound_memory_and_ignore_bad_values():
    o = OutputLengths(max_classes=10, min_samples=1)
    for k in range(1000):
        o.observe(k, 7)
    assert len(o._classes) == 10
    o.observe(5, float("nan"))
    o.observe(5, -3)
    assert o.expected(999) == 7.0
    with pytest.raises(ValueError):
        OutputLengths(q=1.5)


# ------------------------------------------------------------------ the cost-model scorer is the detector's model
@settings(max_examples=80, deadline=None)
@given(st.integers(2, 8).flatmap(lambda n: st.tuples(
    st.integers(1, 8000), st.lists(st.integers(0, 8000), min_size=n, max_size=n),
    st.lists(st.integers(0, 20000), min_size=n, max_size=n), st.lists(st.integers(0, 80), min_size=n, max_size=n))),
    st.floats(0.5, 10), st.floats(0.01, 1.0), st.integers(1, 4000))
def test_router_cost_model_with_calibrated_params_scores_like_the_detector(state, t0, kappa, out):
    prompt, cached, q, bs = state
    cached = [min(c, prompt - 1) for c in cached]
    d = DivergenceDetector(t0_ms=t0, kappa_ms=kappa)
    for _ in range(5):
        d.outputs.observe(None, out)
    params = SCORERS["cost-model"].params(d.cost_model_params())
    ctx = DecisionContext.build(prompt, cached_tokens=cached, running=bs, waiting=[0] * len(bs), queued_prefill=q)
    router_scores = SCORERS["cost-model"].score(ctx, params, {})
    x = np.array(q, float) + np.maximum(prompt - np.array(cached, float), 1)
    b = np.array(bs, float)
    p = np.maximum(prompt - np.array(cached, float), 1)
    tau = params["tau_tokens"] / np.maximum(4096 - b, 1)
    mine = x * (1 + tau) + b * p + np.where(b + 1 > 32, b * params["output"], 0.0)
    np.testing.assert_allclose(router_scores, mine, rtol=1e-12)   # same formula, float rounding only


def test_cost_model_defaults_are_the_prefill_dominated_limit():
    ctx = DecisionContext.build(1000, cached_tokens=[992, 0], running=[3, 1], waiting=[1, 0], queued_prefill=[0, 500])
    # (Q+P) + BS*P: 8 + 4*8 = 40 and 1500 + 1*1000 = 2500 (DESIGN.md T7, prefill-dominated limit)
    assert SCORERS["cost-model"].score(ctx, {}, {}).tolist() == [40.0, 2500.0]


# ------------------------------------------------------------------ which rule the evidence favours
def test_a_port_piling_onto_a_busy_holder_is_sent_back_to_the_reference():
    d = DivergenceDetector(min_dwell=0.0)
    for i in range(60):   # noqueue: 16*6 = 96 < 1800 -> the holder behind 30,000 queued tokens
        d.update(_dec(i, scorer="lmetric-noqueue"))
    assert d.active and d.family is None and d._last_family == "lmetric-noqueue"   # watch mode judged the port
    assert d.favoured() == ("lmetric", {})


def test_no_fallback_when_no_candidate_is_cheaper():
    d = DivergenceDetector(min_dwell=0.0)
    for i in range(60):   # every rule picks the idle, cold instance: nothing to gain
        d.update(_dec(i, cached=(0, 0), q=(5000, 0), bs=(20, 0)))
    assert not d.active and d.favoured() is None


def test_the_judged_rule_is_the_one_each_decision_names():
    d = DivergenceDetector(min_dwell=0.0)
    for i in range(60):   # the reference picks the idle instance here: no regret although a port would pile on
        d.update(_dec(i, scorer="lmetric"))
    assert not d.active
    d2 = DivergenceDetector(min_dwell=0.0, family="lmetric-noqueue")   # fixed by a policy: the port's pick is judged
    for i in range(60):
        d2.update(_dec(i, scorer="lmetric"))
    assert d2.active


def _policy_run(base, decisions, port_dwell=0.0):
    router = Router(base, rng=np.random.default_rng(0))
    policy = MitigationPolicy(router)
    det = DivergenceDetector(min_dwell=0.0, port_dwell=port_dwell)
    mon = RegimeMonitor(2, detectors=[det], policy=policy)
    for rec in decisions:
        mon.process(rec)
    return router, policy, det


def test_policy_switches_a_port_to_the_favoured_rule_and_reverts():
    decs = [_dec(i, scorer="lmetric-noqueue") for i in range(60)]
    decs += [_dec(60 + i, scorer="lmetric", cached=(0, 0), q=(0, 0), bs=(0, 0)) for i in range(400)]
    router, policy, det = _policy_run("lmetric-noqueue", decs)
    switches = [a.action for a in policy.actions]
    assert switches[0] == "scorer -> lmetric" and switches[-1] == "scorer -> lmetric-noqueue", switches
    assert router.name == "lmetric-noqueue" and not det.active
    # by default a port's fallback lasts port_dwell = 600 s: the same stream (460 s) never reverts
    router, policy, det = _policy_run("lmetric-noqueue", decs, port_dwell=600.0)
    assert router.name == "lmetric" and det.active and len(policy.actions) == 1


def test_a_port_blind_to_the_queue_is_flagged_even_when_costs_are_close():
    # decode-heavy: big batches make the decode term dominate every cost (regret small), but the
    # port sends the request behind 6,000 queued tokens where the reference finds an empty queue
    d = DivergenceDetector(min_dwell=0.0)
    for i in range(60):
        d.update(_dec(i, scorer="lmetric-noqueue", cached=(0, 0), q=(6000, 0), bs=(40, 41), out=3000))
    ev = d.evidence["None"]
    assert d.active and ev["regret"] < d.margin < ev["queue_blind"], ev
    assert d.favoured() == ("lmetric", {})


def test_policy_keeps_its_rule_when_no_fallback_is_favoured():
    router, policy, det = _policy_run("lmetric", [_dec(i) for i in range(5)])
    det._feed(True, 10.0, {"why": "forced"})   # not reached by the data: force the regime on
    for _ in range(40):
        trs = det._feed(True, 10.0, {"why": "forced"})
        policy.apply(trs, {"divergence": det})
    policy.apply([Transition(11.0, "divergence", "enter", reason="forced")], {"divergence": det})
    assert router.name == "lmetric"
    assert any(a.action.startswith("keep lmetric") for a in policy.actions)


def test_the_detector_learns_each_class_output_length_from_earlier_decisions():
    d = DivergenceDetector()
    for i in range(6):
        d.update(_dec(2 * i, out=5000, cls=3))
        d.update(_dec(2 * i + 1, out=100, cls=4))
    assert (d.outputs.expected(3), d.outputs.expected(4)) == (5000.0, 100.0)
    assert d.outputs.expected(None) in (100.0, 5000.0)   # the fleet's lower median of an even 50/50 mix


@pytest.mark.parametrize("scorer", ["lmetric", "lmetric-noqueue", "round-robin"])
def test_single_decision_path_equals_a_one_row_batch_bit_for_bit(scorer):
    from analyzers.detector.validate import DecisionBatch, DecisionView

    rng = np.random.default_rng(7)
    a, b = DivergenceDetector(min_dwell=0.0), DivergenceDetector(min_dwell=0.0)
    ta, tb = [], []
    for i in range(600):
        n = 6
        prompt = int(rng.integers(100, 9000))
        hot = rng.random() < 0.5
        rec = RoutingDecision(time=i * 0.1, request_id=i, chosen=0, scorer=scorer, prompt_tokens=prompt,
                              cached_tokens=[int(c) for c in rng.integers(0, prompt, n)] if hot else [0] * n,
                              queued_prefill_tokens=[int(q) for q in rng.integers(0, 40_000, n)],
                              batch_size=[int(x) for x in rng.integers(0, 80, n)],
                              output_tokens=int(rng.integers(1, 4000)), prefix_class=int(rng.integers(0, 5)))
        v = DecisionView.of(rec)
        ta += a.update(rec, (), v)
        tb += b.update_batch([rec], [v], DecisionBatch(v.cached[None], v.q[None], v.bs[None], v.p[None], v.x[None],
                                                       v.y[None]))
    assert [t.to_dict() for t in ta] == [t.to_dict() for t in tb] and ta   # transitions, evidence included
    assert a._mean_cost == b._mean_cost and a.disagreements == b.disagreements and list(a._p) == list(b._p)


def test_divergence_quiet_runs_in_bulk_keep_the_bookkeeping_of_one_by_one():
    """A quiet run (no regret: alike instances) past the weight floor (batches of 40) fed as
    one vectorised run leaves what the one-by-one path leaves: the picks' prefill, the
    beyond-the-floor average, disagreements, the learned output lengths, the event count."""
    from analyzers.detector.validate import RecordValidator

    raws = [dict(_dec(i, cached=(0, 0, 0), q=(100, 100, 100), bs=(40 + i % 3, 40 + i % 3, 40 + i % 3), out=50 + i,
                      cls=i % 4).to_dict()) for i in range(40)]
    bulk, one = DivergenceDetector(), DivergenceDetector()
    pairs, batch = RecordValidator(3).check_decisions(raws)
    assert bulk.update_batch([r for r, _ in pairs], [v for _, v in pairs], batch) == []
    for r, v in pairs:
        assert one.update(r, (), v) == []
    for d in (bulk, one):
        assert d._test().enter_test.n == 40 and not d.active
    assert bulk._beyond == one._beyond > 0.4 and list(bulk._p) == list(one._p) and bulk.disagreements == one.disagreements
    assert bulk.events == one.events == 40 and _lengths_state(bulk.outputs) == _lengths_state(one.outputs)


def test_zero_factor_runs_flag_dominated_zero_picks_as_one_by_one():
    """A port picking a zero-scored instance while another zero-scored one has a smaller batch:
    fed as vectorised runs, the zero-factor flag enters as it does one record at a time (the
    run is not taken for a quiet one)."""
    from analyzers.detector import RegimeMonitor

    raws = []
    for i in range(60):
        d = _dec(i, scorer="lmetric-plain", cached=(0, 0, 0), q=(0, 0, 0), bs=(3, 1, 2)).to_dict()
        d["scores"] = [0.0, 0.0, 5.0]
        raws.append(d)
    runs, one = RegimeMonitor(3), RegimeMonitor(3)
    runs.process_many(raws)
    for d in raws:
        one.process(d)
    assert runs.by_regime["zero_factor"].active and one.by_regime["zero_factor"].active
    assert [t.to_dict() for t in runs.transitions] == [t.to_dict() for t in one.transitions]
