"""Brute-force property tests of T1–T10 on exact fractions.

Each test re-derives the claim numerically by enumerating argmins directly and
compares with the theorem's closed form / numeric predicate.
"""

import math
from fractions import Fraction

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from lmetric_theory import conditions as C
from lmetric_theory.cancellation import power_witness
from lmetric_theory.cost_model import closed_form_cost, simulate_marginal_cost
from lmetric_theory.linear_scale import linear_scale_witness
from lmetric_theory.pareto import zero_factor_witness

from .strategies import instances, pos_fraction


def argmin(scores):
    """Exact argmin, lowest index on ties."""
    best = min(scores)
    return scores.index(best)


def argmins(scores):
    best = min(scores)
    return {i for i, s in enumerate(scores) if s == best}


# T1 ---------------------------------------------------------------------------------
@given(instances(), pos_fraction(), pos_fraction(), st.integers(1, 4))
def test_t1_positive_weights_and_equal_powers_keep_the_pick(pts, a, b, k):
    prod = [x * y for x, y in pts]
    assert argmin([(a * x) * (b * y) for x, y in pts]) == argmin(prod)
    assert argmin([x**k * y**k for x, y in pts]) == argmin(prod)


@given(st.fractions(Fraction(1, 4), 4, max_denominator=8), st.fractions(Fraction(1, 4), 4, max_denominator=8))
def test_t1_unequal_powers_witness_replays_numerically(a, b):
    assume(a != b)
    (xi, yi), (xj, yj) = power_witness(a, b)
    xi, yi, xj, yj = (float(v) for v in (xi, yi, xj, yj))
    assert xi * yi < xj * yj
    assert xi ** float(a) * yi ** float(b) > xj ** float(a) * yj ** float(b)


# T2 ---------------------------------------------------------------------------------
@given(pos_fraction(), pos_fraction())
def test_t2_linear_witness_separates_any_two_rates(l1, l2):
    assume(l1 != l2)
    (xi, yi), (xj, yj) = linear_scale_witness(l1, l2)
    xi, yi, xj, yj = (Fraction(str(v)) for v in (xi, yi, xj, yj))
    pick = lambda lam: argmin([xi + lam * yi, xj + lam * yj])  # noqa: E731
    assert pick(l1) != pick(l2)


# T3 ---------------------------------------------------------------------------------
@given(pos_fraction(), pos_fraction(), pos_fraction(), pos_fraction())
def test_t3_pairwise_product_is_linear_at_lam_ij(xi, yi, xj, yj):
    lam = (xi + xj) / (yi + yj)
    d_prod = xi * yi - xj * yj
    d_lin = (xi + lam * yi) - (xj + lam * yj)
    assert d_prod == (yi + yj) / 2 * d_lin
    # numeric counterpart agrees up to float rounding of the inputs (rel. 1e-12)
    assert math.isclose(float(C.pairwise_exchange_rate(float(xi), float(yi), float(xj), float(yj))), float(lam), rel_tol=1e-12)


# T4 ---------------------------------------------------------------------------------
@given(instances(), st.data())
def test_t4_product_never_picks_a_strictly_dominated_instance(pts, data):
    i = data.draw(st.integers(0, len(pts) - 1))
    d1 = data.draw(st.fractions(0, 100, max_denominator=10))
    d2 = data.draw(st.fractions(0, 100, max_denominator=10))
    assume(d1 > 0 or d2 > 0)
    x, y = pts[i]
    pts = pts + [(x + d1, y + d2)]  # the new last instance is dominated by i
    assert argmin([a * b for a, b in pts]) != len(pts) - 1
    assert pts[i][0] * pts[i][1] < pts[-1][0] * pts[-1][1]


def test_t4_zero_factor_witnesses_pick_the_dominated_instance():
    for fam in ("noqueue", "plain"):
        (xi, yi), (xj, yj) = zero_factor_witness(fam)
        zf = C.zero_factor(np.array([float(xi), float(xj)]), np.array([float(yi), float(yj)]))
        assert zf.pick == 0 and zf.pick_dominated and zf.tie_count == 2


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 20), st.integers(0, 30)), min_size=2, max_size=8))
def test_t4_reference_factors_are_positive_on_any_state(state):
    # reference: x = Q + P with P >= 1 (hit capped at prompt - 1), y = BS + 1
    for q, bs, p in state:
        assert q + max(p, 1) >= 1 and bs + 1 >= 1


# T5 ---------------------------------------------------------------------------------
@given(pos_fraction(), pos_fraction(), pos_fraction(), pos_fraction(), pos_fraction())
def test_t5_disagreement_iff_break_even_between_rates(xi, yi, xj, yj, lam):
    assume(yi != yj)
    d_prod = xi * yi - xj * yj
    d_lin = (xi + lam * yi) - (xj + lam * yj)
    disagree = d_prod * d_lin < 0
    r = (xj - xi) / (yi - yj)
    lam_ij = (xi + xj) / (yi + yj)
    assert disagree == ((lam - r) * (lam_ij - r) < 0)
    assert disagree == (min(lam, lam_ij) < r < max(lam, lam_ij))
    assert bool(C.diverges(float(xi), float(yi), float(xj), float(yj), float(lam))) == disagree or abs(float(d_prod * d_lin)) < 1e-9


# T6 ---------------------------------------------------------------------------------
def _linear_ranks_first(pts, k, lam):
    s = [x + lam * y for x, y in pts]
    return s[k] == min(s)


def _rationalisable_bruteforce(pts, k):
    """Exists lam > 0 with k among linear's argmins? The set of such lam is an interval
    whose ends are pairwise break-even rates; test every break-even rate, the
    midpoints between them, and points beyond both ends."""
    rates = sorted({(xj - xi) / (yi - yj) for (xi, yi) in pts for (xj, yj) in pts if yi != yj and (xj - xi) / (yi - yj) > 0})
    cands = set(rates)
    cands.update((a + b) / 2 for a, b in zip(rates, rates[1:]))
    cands.add(rates[0] / 2 if rates else Fraction(1))
    cands.add(rates[-1] * 2 if rates else Fraction(1))
    return any(_linear_ranks_first(pts, k, lam) for lam in cands)


@given(instances(max_size=9))
def test_t6_interval_contains_exactly_the_agreeing_rates(pts):
    x = np.array([float(a) for a, _ in pts])
    y = np.array([float(b) for _, b in pts])
    ai = C.agreement_interval(x, y)
    k = argmin([a * b for a, b in pts])
    assert ai.pick == k and not ai.empty
    xk, yk = pts[k]
    assert _linear_ranks_first(pts, k, xk / yk)  # the pick's own rate always agrees
    # inside the interval linear ranks k first; just outside it does not
    lo, hi = Fraction(ai.lower), Fraction(ai.upper) if ai.upper != math.inf else None
    mid = (lo + hi) / 2 if hi is not None else lo + 1
    if mid > 0:
        assert _linear_ranks_first(pts, k, mid)
    if hi is not None:
        assert not _linear_ranks_first(pts, k, hi * Fraction(1001, 1000) + Fraction(1, 10**6))
    if lo > 0:
        assert not _linear_ranks_first(pts, k, lo * Fraction(999, 1000))


@given(instances(min_size=3, max_size=8), st.data())
def test_t6_empty_iff_not_on_lower_hull_for_any_pick(pts, data):
    k = data.draw(st.integers(0, len(pts) - 1))
    x = np.array([float(a) for a, _ in pts])
    y = np.array([float(b) for _, b in pts])
    ai = C.agreement_interval(x, y, pick=k)
    brute = _rationalisable_bruteforce(pts, k)
    assert (not ai.empty) == brute
    assert C.on_lower_left_hull(x, y, k) == brute


# T7 ---------------------------------------------------------------------------------
small_state = st.tuples(st.integers(0, 4), st.lists(st.integers(1, 40), max_size=4), st.integers(1, 60))


@given(small_state, st.integers(10, 64), st.fractions(0, 5, max_denominator=4), st.fractions(Fraction(1, 100), 1, max_denominator=100))
def test_t7_closed_form_matches_brute_force_step_simulation(state, budget, t0, kappa):
    d, queue, p = state
    assume(budget > d + len(queue) + 1)
    r = simulate_marginal_cost(d, tuple(queue), p, budget, t0, kappa)
    q, bs = sum(queue), d + len(queue)
    assert r.interference == kappa * p * bs
    assert r.ttft == t0 * r.steps + kappa * (r.decode_tokens + q + p)
    assert r.total == closed_form_cost(q, p, bs, t0=t0, kappa=kappa, steps=r.steps, decode_tokens=r.decode_tokens)
    if d + q + p <= budget:  # one-step regime: S* = 1, D = d
        assert r.steps == 1 and r.decode_tokens == d


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 300), st.integers(0, 30)), min_size=2, max_size=10))
def test_t7_product_is_cost_plus_cross_term_and_agrees_when_cross_terms_equal(state):
    q = np.array([s[0] for s in state], float)
    p = np.array([s[1] for s in state], float)
    bs = np.array([s[2] for s in state], float)
    prod = (q + p) * (bs + 1)
    cost = C.marginal_cost(q, p, bs)
    assert np.array_equal(prod, cost + C.cost_cross_term(q, bs))
    # with empty queues the cross term vanishes: product and cost pick alike
    assert C.argmin_first((p) * (bs + 1)) == C.argmin_first(C.marginal_cost(0 * q, p, bs))


# T8 ---------------------------------------------------------------------------------
@given(st.fractions(Fraction(1, 1000), Fraction(999, 1000), max_denominator=1000), st.integers(2, 64), st.data())
def test_t8_equation_2_matches_the_fluid_feasibility_check(share, n, data):
    m = data.draw(st.integers(1, n - 1))
    total = Fraction(1000)
    fluid_ok = share * total / m <= total / n  # per-holder class load within the fair share
    assert (share / (1 - share) <= Fraction(m, n - m)) == fluid_ok
    assert C.hot_prefix_condition(float(share), m, n) == fluid_ok or abs(float(share) * n - m) < 1e-9
    assert C.hot_prefix_ratio_form(float(share), m, n) == fluid_ok or abs(float(share) * n - m) < 1e-9


@given(st.integers(0, 5000), st.integers(0, 4000), st.integers(0, 64), st.integers(0, 5000), st.integers(1, 8000), st.integers(0, 64))
def test_t8_stays_on_holder_iff_affinity_ratio_exceeds_load_ratio(qi, pi, bi, qj, pj, bj):
    assume(qi + pi > 0)
    exact = (qi + pi) * (bi + 1) < (qj + pj) * (bj + 1)
    a = Fraction(qj + pj, qi + pi)
    assert exact == (Fraction(bi + 1, bj + 1) < a)
    assert bool(C.stays_on_holder(qi, pi, bi, qj, pj, bj)) == exact or float((qi + pi) * (bi + 1)) == float((qj + pj) * (bj + 1))


def test_t8_affinity_unbounded_for_ports_bounded_for_reference():
    n = 4096
    ratios = [float(C.affinity_ratio(0, n - h, 0, n)) for h in (0, 2048, 4000, 4095)]
    assert ratios == sorted(ratios) and ratios[-1] == n
    assert float(C.affinity_ratio(0, 0, 0, n)) == float("inf")  # port: full hit, P = 0
    assert float(C.affinity_ratio(0, 1, 0, n)) == n  # reference: P >= 1 caps it at Q_j + n


# T9 ---------------------------------------------------------------------------------
@given(pos_fraction(), pos_fraction(), pos_fraction(100, 10), pos_fraction(100, 10))
def test_t9_flip_iff_score_ratio_between_one_and_speed_ratio(si, sj, vi, vj):
    plain = argmin([si, sj])
    norm = argmin([si / vi, sj / vj])
    strict_disagree = (si - sj) * (si / vi - sj / vj) < 0
    r, rho = si / sj, vi / vj
    assert strict_disagree == ((r - 1) * (r - rho) < 0)
    if strict_disagree:
        assert plain != norm
        assert C.heterogeneity_flip(np.array([float(si), float(sj)]), np.array([float(vi), float(vj)]))
    if vi == vj:
        assert plain == norm


# T10 --------------------------------------------------------------------------------
@given(st.integers(1, 5000), st.integers(1, 50), st.integers(0, 200_000), st.integers(1, 4000))
def test_t10_herding_window_matches_commit_time_update_loop(x, y, extra, p):
    runner_up = x * y + extra
    m = 0
    while (x + m * p) * (y + m) <= runner_up:
        m += 1
    assert C.herding_window(x, y, runner_up, p) == max(m, 1)


def test_t10_without_updates_every_decision_in_the_window_goes_to_one_instance():
    x = np.array([900.0, 1000.0, 1200.0])
    y = np.array([3.0, 3.0, 3.0])
    picks_stale = {C.argmin_first(x * y) for _ in range(50)}  # same snapshot, no updates
    assert picks_stale == {0}
    xs, ys, picks = x.copy(), y.copy(), []
    for _ in range(50):  # commit-time updates: x += P, y += 1 on the pick
        k = C.argmin_first(xs * ys)
        picks.append(k)
        xs[k] += 100
        ys[k] += 1
    first_run = next(i for i, k in enumerate(picks) if k != 0)
    runner_up = sorted(x * y)[1]
    assert first_run == C.herding_window(900, 3, runner_up, 100)
    assert C.herds(arrival_rate=100.0, snapshot_age=0.1, window=first_run) == (10 > first_run)
