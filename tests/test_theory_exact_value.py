"""``exact_value`` in integer arithmetic equals the Fraction-based reading it replaced
(the simplest fraction inside a float's rounding interval), on every kind of float."""

import math
import random
from fractions import Fraction

import pytest

from lmetric_theory.conditions import exact_value


def _reference(v: float) -> Fraction:
    """The previous implementation (Fraction recursion), kept here as the oracle."""

    def between(lo, hi):
        n = math.floor(lo)
        if hi is None or n + 1 < hi:
            return Fraction(n + 1)
        return n + 1 / between(1 / (hi - n), None if lo == n else 1 / (lo - n))

    if v == 0:
        return Fraction(0)
    a = abs(v)
    lo = (Fraction(a) + Fraction(math.nextafter(a, 0.0))) / 2
    hi = (Fraction(a) + Fraction(math.nextafter(a, math.inf))) / 2
    q = between(lo, hi)
    return q if v > 0 else -q


def _floats(rng: random.Random, n: int):
    for _ in range(n):
        kind = rng.randrange(5)
        if kind == 0:  # a ratio of small integers computed in floating point
            yield rng.randint(-1000, 1000) / rng.randint(1, 1000)
        elif kind == 1:  # any magnitude
            yield rng.uniform(-1, 1) * 10.0 ** rng.randint(-300, 300)
        elif kind == 2:  # decimal-looking values (snapshot ages, rates)
            yield round(rng.uniform(0, 100), rng.randint(0, 6))
        elif kind == 3:  # integers up to and past 2**53
            yield float(rng.randint(0, 2**60))
        else:  # raw bit patterns: subnormals and everything else
            yield abs(rng.uniform(-1, 1)) * 5e-324 * rng.randint(1, 2**20)


def test_exact_value_matches_the_fraction_reference():
    rng = random.Random(20261129)
    vals = list(_floats(rng, 3000)) + [5e-324, 2.2250738585072014e-308, 0.1, 1 / 3, 2.0**53, 2.0**53 + 2, 1e308,
                                       0.30000000000000004, -0.0, 4.2, 21.4]
    for v in vals:
        assert exact_value(v) == _reference(v), v


def test_overflowing_neighbour_and_non_finite_still_fail_loudly():
    with pytest.raises(ValueError):
        exact_value(math.inf)
    with pytest.raises(ValueError):
        exact_value(math.nan)
    with pytest.raises(OverflowError):  # the largest float has no finite upper neighbour (as before)
        _reference(1.7976931348623157e308)
    with pytest.raises(OverflowError):
        exact_value(1.7976931348623157e308)


def test_simplest_between_is_the_smallest_denominator_strictly_inside():
    from lmetric_theory.conditions import _simplest_between

    def brute(lo: Fraction, hi: Fraction) -> Fraction:
        q = 1
        while True:
            p = math.floor(lo * q) + 1  # the least p with p/q > lo
            if Fraction(p, q) < hi:
                return Fraction(p, q)
            q += 1

    rng = random.Random(7)
    for _ in range(2000):
        a, b = sorted(Fraction(rng.randint(0, 60), rng.randint(1, 12)) for _ in range(2))
        if a == b:
            continue
        p, q = _simplest_between(a.numerator, a.denominator, b.numerator, b.denominator)
        assert Fraction(p, q) == brute(a, b) and math.gcd(p, q) == 1, (a, b)
    assert _simplest_between(5, 2, 0, 0) == (3, 1)  # (5/2, +inf)
