"""T11-T13 as brute-force property tests on exact fractions, the predicates' exact
boundaries (issue 10), and statement mutations that must make ``check`` fail."""

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmetric_theory import conditions as C
from lmetric_theory import cost_rate, hot_prefix, linearisation
from lmetric_theory.cli import main
from lmetric_theory.registry import get_theorem
from lmetric_theory.theorem import check_theorem

from .mutation import load_mutant, mutants
from .strategies import pos_fraction


def argmins(values):
    best = min(values)
    return {i for i, v in enumerate(values) if v == best}


def first(values):
    return min(argmins(values))


def rates(x, y):
    """Every exchange rate that can change linear's pick set, midpoints and ends."""
    r = sorted({(x[j] - x[i]) / (y[i] - y[j]) for i in range(len(x)) for j in range(len(x))
                if y[i] != y[j] and (x[j] - x[i]) / (y[i] - y[j]) > 0})
    c = set(r) | {(a + b) / 2 for a, b in zip(r, r[1:])}
    return c | ({r[0] / 2, r[-1] * 2} if r else {Fraction(1)})


states = st.integers(2, 6).flatmap(lambda n: st.tuples(
    st.lists(st.integers(0, 40), min_size=n, max_size=n),    # Q
    st.lists(st.integers(1, 40), min_size=n, max_size=n),    # P
    st.lists(st.integers(0, 12), min_size=n, max_size=n),    # BS
    st.lists(st.integers(0, 30), min_size=n, max_size=n)))   # extra = T0 S*/kappa + D


# T11 ---------------------------------------------------------------------------------
@given(states, st.integers(1, 40))
def test_t11_common_p_product_cost_optimal_iff_p_in_its_interval(state, p):
    q, _, bs, _ = state
    x, y = [a + p for a in q], [b + 1 for b in bs]
    k = first([a * b for a, b in zip(x, y)])
    brute = k in argmins([a + p + b * p for a, b in zip(q, bs)])
    ai = C.agreement_interval(x, y)
    assert C.product_cost_optimal(q, p, bs) == brute == (ai.lower <= p <= ai.upper)
    assert C.cost_optimal_rate([p] * len(q)) == p
    # linear(P) always picks a cost-optimal instance: lam* = P
    assert argmins([a + p * b for a, b in zip(x, y)]) == argmins([a + p + b * p for a, b in zip(q, bs)])


@given(states)
def test_t11_some_linear_rule_is_cost_optimal_iff_a_minimiser_is_on_the_hull(state):
    q, p, bs, extra = state
    x, y = [a + b for a, b in zip(q, p)], [b + 1 for b in bs]
    best = argmins([a + b + c * b + e for a, b, c, e in zip(q, p, bs, extra)])
    brute = any(linear & best for linear in (argmins([a + lam * b for a, b in zip(x, y)]) for lam in rates(x, y)))
    got = C.linear_cost_optimal_rates(q, p, bs, extra)
    assert bool(got) == brute
    assert all(ai.pick in best and not ai.empty for ai in got)


def test_t11_no_linear_rule_witness():
    (qa, pa, ba), (qb, pb, bb) = cost_rate.NO_LINEAR_WITNESS
    assert C.cost_optimal_picks([qa, qb], [pa, pb], [ba, bb]) == (1,)
    assert C.linear_cost_optimal_rates([qa, qb], [pa, pb], [ba, bb]) == ()
    assert C.cost_optimal_rate([pa, pb]) is None


# T12 ---------------------------------------------------------------------------------
@given(states)
def test_t12_regret_is_exact_and_bounded(state):
    q, p, bs, extra = state
    k = first([(a + b) * (c + 1) for a, b, c in zip(q, p, bs)])
    cost = [a + b + c * b + e for a, b, c, e in zip(q, p, bs, extra)]
    j = first(cost)
    r = C.regret(q, p, bs, extra)
    assert (r.pick, r.best, r.regret) == (k, j, cost[k] - cost[j])
    cross = [a * c for a, c in zip(q, bs)]
    assert 0 <= r.regret <= cross[j] - cross[k] + extra[k] - extra[j] == r.bound
    assert r.bound <= max(cross) + max(extra) - min(extra) == r.cap


def test_t12_regret_is_zero_with_empty_queues_and_no_extra():
    # T7: with Q = 0 everywhere the product is the cost itself
    assert C.regret([0, 0, 0], [50, 10, 300], [3, 9, 0]).regret == 0


# T13 ---------------------------------------------------------------------------------
@given(states, pos_fraction(20, 4), pos_fraction(20, 4))
def test_t13_stability_intervals_are_the_exact_envelope(state, alpha, beta):
    q, p, bs, _ = state
    n = len(q)
    for m, score in ((C.beta_stability(q, p, bs, alpha=alpha), lambda t: [(a + alpha * b) * (c + t) for a, b, c in zip(q, p, bs)]),
                     (C.alpha_stability(q, p, bs, beta=beta), lambda t: [(a + t * b) * (c + beta) for a, b, c in zip(q, p, bs)])):
        assert len(m.picks) <= n and len(set(m.picks)) == len(m.picks)   # each line at most once: <= N pieces
        edges = [m.lo, *m.breaks, (m.breaks[-1] if m.breaks else m.lo) + 5]
        for piece, (lo, hi) in enumerate(zip(edges, edges[1:])):
            for t in (lo + (hi - lo) / 3, (lo + hi) / 2):
                assert m.picks[piece] == first(score(t))
        for t in m.breaks:
            assert m.pick_at(t) == first(score(t))


@given(states)
def test_t13_cost_optimal_betas(state):
    q, p, bs, _ = state
    best = argmins([a + b + c * b for a, b, c in zip(q, p, bs)])
    good = C.cost_optimal_betas(q, p, bs)
    m = C.beta_stability(q, p, bs)
    edges = [m.lo, *m.breaks, (m.breaks[-1] if m.breaks else m.lo) + 5]
    for lo, hi in zip(edges, edges[1:]):
        t = (lo + hi) / 2
        assert (first([(a + b) * (c + t) for a, b, c in zip(q, p, bs)]) in best) == any(s == lo for s, _ in good)


# exact boundaries (issue 10) ---------------------------------------------------------------
def test_hot_prefix_forms_agree_exactly_on_the_boundary():
    assert C.hot_prefix_condition(0.3, 3, 10) and C.hot_prefix_ratio_form(0.3, 3, 10)  # issue: was True / False
    for n in range(2, 65):
        for m in range(1, n):
            for share in (m / n, Fraction(m, n)):
                assert C.hot_prefix_condition(share, m, n) and C.hot_prefix_ratio_form(share, m, n), (share, m, n)
            above = Fraction(m, n) + Fraction(1, 10**9)
            assert not C.hot_prefix_condition(above, m, n) and not C.hot_prefix_ratio_form(above, m, n)


@given(pos_fraction(), pos_fraction(), pos_fraction(), pos_fraction())
def test_diverges_is_false_when_lam_equals_the_break_even_rate(xi, yi, xj, yj):
    if yi == yj or (xj - xi) / (yi - yj) <= 0:
        return
    r = (xj - xi) / (yi - yj)
    assert not C.diverges(xi, yi, xj, yj, r)  # linear ties at lam = r: no strict disagreement
    assert not C.diverges(float(xi), float(yi), float(xj), float(yj), float(r)) or float(r) != r


def test_diverges_at_float_break_even_rates():
    # 30 pairs whose break-even rate is exact in binary and decimal (issue: 30 wrong cases)
    for a in range(1, 31):
        xi, yi, xj, yj = a / 10, 3.0, a / 10 + 0.5, 1.0   # r = 0.5 / 2 = 0.25 exactly as meant
        assert not C.diverges(xi, yi, xj, yj, 0.25), a
        # D_lin = 2 lam - 0.5, D_prod = a/5 - 0.5: off the boundary the sign decides
        assert bool(C.diverges(xi, yi, xj, yj, 0.26)) == (a <= 2) and bool(C.diverges(xi, yi, xj, yj, 0.24)) == (a >= 3)


def test_t9_ties_go_to_the_lowest_index():
    assert C.heterogeneity_flip([100, 100], [1, 2])       # r = 1 between rho = 2 and 1 (tie side)
    assert not C.heterogeneity_flip([100, 100], [2, 1])   # both pick 0
    # r = 2 = rho: plain picks 1 (100 < 200), the normalised scores tie (100, 100) -> 0: they differ
    assert C.heterogeneity_flip([200, 100], [2, 1])


def test_t6_dominated_point_is_off_the_lower_left_hull():
    assert not C.on_lower_left_hull([1, 2], [1, 5], 1)
    assert C.agreement_interval([1, 2], [1, 5], pick=1).empty


def test_agreement_interval_lower_bound_is_never_negative_zero():
    ai = C.agreement_interval([5, 5], [1, 2])  # heavier twin with the same x: rate 0
    assert ai.lower == 0 and math.copysign(1.0, float(ai.lower)) == 1.0 and not ai.empty


def test_zero_factor_never_counts_the_pick_as_dominating_itself():
    assert C.zero_factor([0, 0], [1, 1]).pick_dominated is False
    assert C.zero_factor([0], [0]).pick_dominated is False
    assert C.zero_factor([0, 0], [3, 1]).pick_dominated is True


@given(st.integers(1, 50), st.integers(1, 20), st.integers(1, 40), st.integers(0, 8))
def test_herding_window_at_integer_roots(x, y, p, m0):
    s = (x + m0 * p) * (y + m0)  # after m0 commits the score ties the runner-up: it still wins
    assert C.herding_window(x, y, s, p) == m0 + 1


def test_herds_exact_boundary():
    assert not C.herds(10, 0.3, 3) and C.herds(10, 0.31, 3)


# statement mutations make check fail ---------------------------------------------------------
def _statement_mutant(file, needle, kind):
    return next(m for m in mutants([file]) if needle in m.source_line and m.kind == kind)


def test_a_statement_mutation_makes_check_fail():
    m = _statement_mutant("linearisation.py", "eq(d_prod, ybar * (xi - xj) + xbar * (yi - yj))", "operator Add->Sub")
    assert check_theorem(linearisation.theorem()).status == "PASS"
    result = check_theorem(load_mutant(m).theorem(), rng=random.Random(0), samples=10)
    assert result.status == "FAIL" and "unproved" in result.error


def test_a_boundary_mutation_of_a_predicate_makes_check_fail(monkeypatch):
    m = _statement_mutant("conditions.py", "return exact_value(share) * instances <= holders", "compare LtE->Lt")
    monkeypatch.setattr(hot_prefix, "hot_prefix_condition", load_mutant(m).hot_prefix_condition)
    result = check_theorem(hot_prefix.theorem())
    assert result.status == "FAIL" and "falsified" in result.error


def test_an_assumption_removal_makes_check_fail():
    m = _statement_mutant("linearisation.py", 'sp.symbols("x_i y_i x_j y_j", positive=True)', "assumption positive=True removed")
    assert check_theorem(load_mutant(m).theorem(), samples=5).status == "FAIL"


def test_check_rejects_bad_options(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["check", "--samples", "many"])
    assert exc.value.code == 2 and "expected a non-negative integer" in capsys.readouterr().err


def test_check_catalogue_lists_t11_to_t13(capsys):
    assert main(["check", "--only", "T11,T12,T13", "--samples", "5"]) == 0
    out = capsys.readouterr().out
    assert all(t in out for t in ("T11", "T12", "T13")) and "3 passed, 0 failed" in out
    assert get_theorem("T12").numeric is C.regret


@pytest.mark.parametrize("argv", [["-m", "analyzers", "theory", "check", "--json"],
                                  ["-m", "lmetric_theory", "check", "--latex"]])
def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(argv):
    """``lmetric theory check --json | head -c 100``: status 141 (SIGPIPE's), stderr empty.
    The reader is gone before the command writes (the pipe's read end closed before it
    starts): reading 100 bytes first raced — output under the 64 KiB pipe buffer could
    all be written before the reader closed, and the command then rightly exits 0."""
    import os
    import subprocess
    import sys

    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([sys.executable, *argv], stdout=w, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(w)
    assert p.returncode == 141 and b"Traceback" not in p.stderr, p.stderr.decode()
