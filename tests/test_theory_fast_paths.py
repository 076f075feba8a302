"""The float fast paths of the exact predicates decide exactly as the exact rationals do.

``herds``, ``hot_prefix_condition`` and ``herding_window`` compare in floating point
first and fall back to :func:`exact_value` arithmetic only within a relative 1e-9 of the
boundary (``conditions._float_gt``). These tests compare them with the plain exact
computation on random inputs and on inputs built to sit on, or one ulp off, a boundary.
"""

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from lmetric_theory import conditions as C
from lmetric_theory.conditions import exact_value as E

finite = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)


def _herding_exact(x, y, s, p):
    x, y, s, p = map(E, (x, y, s, p))
    m = 1
    while not (x + m * p) * (y + m) > s:
        m += 1
    return m


@settings(max_examples=300, deadline=None)
@given(finite, finite, finite)
def test_herds_fast_path_is_exact(rate, age, window):
    assert C.herds(rate, age, window) == (E(rate) * E(age) > E(window))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.integers(0, 64), st.sampled_from([-1, 0, 1]))
def test_herds_on_and_next_to_the_boundary(a, b, w, ulps):
    rate, age = a / 7, b / 3                      # rate * age = a*b/21 exactly as meant
    window = float(Fraction(a * b, 21))
    for _ in range(abs(ulps)):
        window = math.nextafter(window, math.inf if ulps > 0 else 0.0)
    assert C.herds(rate, age, window) == (E(rate) * E(age) > E(window))


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 64).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(0, n),
                                                      st.sampled_from([-1, 0, 1]))))
def test_hot_prefix_condition_fast_path_is_exact_at_the_boundary(case):
    n, m, k, ulps = case
    share = k / n
    for _ in range(abs(ulps)):
        share = math.nextafter(share, math.inf if ulps > 0 else 0.0)
    assert C.hot_prefix_condition(share, m, n) == (E(share) * n <= m)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 64).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.tuples(
    st.integers(0, n), st.integers(0, 4 * n), st.integers(1, 4 * n), st.sampled_from([-1, 0, 1])), max_size=20))))
def test_hot_prefix_condition_many_equals_the_scalar_condition(case):
    """The vectorised predicate equals the scalar one element by element on window shares
    count/total, on and one ulp beside the boundary m/n (where the exact path decides)."""
    n, rows = case
    shares, ms = [], []
    for m, count, total, ulps in rows:
        share = min(count, total) / total if ulps == 0 else m / n
        for _ in range(abs(ulps)):
            share = math.nextafter(share, math.inf if ulps > 0 else 0.0)
        shares.append(share)
        ms.append(m)
    got = C.hot_prefix_condition_many(shares, ms, n)
    assert got.dtype == bool and got.tolist() == [C.hot_prefix_condition(s, m, n) for s, m in zip(shares, ms)]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 500), st.integers(0, 50), st.integers(1, 300), st.integers(0, 20_000),
       st.sampled_from([0.0, 0.1, 1 / 3]))
def test_herding_window_fast_path_is_exact(x, y, p, extra, frac):
    s = (x + frac) * (y + 1) + extra           # often an exact tie at some m, sometimes off by a float
    assert C.herding_window(x + frac, y, s, p) == max(_herding_exact(x + frac, y, s, p), 1)
