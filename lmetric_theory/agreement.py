"""T6 — the agreement interval of product and linear over N instances.

For a candidate instance ``k`` (by default the product's pick ``argmin x_j y_j``, all
factors positive), linear(lam) ranks ``k`` first (ties allowed) iff ``lam`` lies in
``[L, U]`` with

* ``L = max(0, max_{y_j > y_k} s_j)``, ``s_j = (x_k - x_j) / (y_j - y_k)``,
* ``U = min_{y_j < y_k} t_j``,       ``t_j = (x_j - x_k) / (y_k - y_j)``  (``+inf`` if none),

and every ``j`` with ``y_j = y_k`` has ``x_j >= x_k``: because
``(x_k + lam y_k) - (x_j + lam y_j)`` equals ``(y_k - y_j)(lam - t_j)`` for a lighter
``j`` and ``(y_j - y_k)(s_j - lam)`` for a heavier one. Computable in O(N).

Emptiness. The interval is empty iff ``k`` is dominated or some ``s_a > t_b``; by the
three-point lemma ``s_a - t_b = (y_a - y_b)/((y_a - y_k)(y_k - y_b)) (x_k - chord_ab(y_k))``
that is iff ``k`` lies strictly above a chord of two points bracketing ``y_k`` — i.e.
iff ``k`` is not on the lower-left hull of the points ``(y_j, x_j)`` — the boundary of
their convex hull plus the positive quadrant (a dominated point can sit on the plain
lower convex hull, e.g. ``(1, 1)`` and ``(5, 2)``, yet no ``lam > 0`` picks it); then no
linear combination reproduces that choice.

The product's own pick is never in that case: with ``lam_k = x_k / y_k`` (the pick's
own rate, the tangent of the hyperbola ``x y = x_k y_k`` at ``k``),
``x_j + lam_k y_j - 2 x_k = x_k (y_k - y_j)^2/(y_j y_k) + w/y_j >= 0`` where
``w = x_j y_j - x_k y_k >= 0``, so ``lam_k`` is always in ``[L, U]``. Every single
decision of the product is some linear rule's decision — but the rate ``lam_k``
moves with the state, which is why no *fixed* ``lam`` reproduces the product (T5).
The interval is empty for picks made by other rules (stale snapshots, ports with zero
factors, threshold and min-max rules), which is what the detector tests.

>>> import numpy as np
>>> from lmetric_theory.conditions import agreement_interval
>>> agreement_interval(np.array([10., 6., 1.]), np.array([1., 2., 3.]))
AgreementInterval(pick=2, lower=Fraction(0, 1), upper=Fraction(9, 2), empty=False)
>>> agreement_interval(np.array([10., 6., 1.]), np.array([1., 5.5, 10.]), pick=1).empty
True
"""

from __future__ import annotations

import math
from fractions import Fraction

import sympy as sp

from . import bruteforce as B
from .conditions import agreement_interval, on_lower_left_hull
from .theorem import Step, Theorem, eq, ge, gt, proves

__all__ = ["theorem", "interval_closed_form"]


def interval_closed_form():
    """The symbolic bounds: returns ``(s_j, t_j)`` as sympy expressions in
    ``x_k, y_k, x_j, y_j``; ``L = max(0, max s_j)`` over heavier, ``U = min t_j`` over lighter."""
    xk, yk, xj, yj = sp.symbols("x_k y_k x_j y_j", positive=True)
    return (xk - xj) / (yj - yk), (xj - xk) / (yk - yj)


def _parts():
    xk, yk, xj, yj, lam, e = sp.symbols("x_k y_k x_j y_j lambda e", positive=True)
    u, v = sp.symbols("u v", positive=True)
    wn = sp.Symbol("w", nonnegative=True)
    s_j, t_j = interval_closed_form()
    d_lin = (xk + lam * yk) - (xj + lam * yj)
    lighter = {yk: yj + e}   # y_j < y_k
    heavier = {yj: yk + e}   # y_j > y_k
    xb, yb, xa = sp.symbols("x_b y_b x_a", positive=True)
    ya_, yk_ = yb + u + v, yb + u
    s_a = (xk - xa) / (ya_ - yk_)
    t_b = (xb - xk) / (yk_ - yb)
    chord = xb + (xa - xb) * (yk_ - yb) / (ya_ - yb)
    factor = (ya_ - yb) / ((ya_ - yk_) * (yk_ - yb))
    # tangent support of the product's pick: x_j y_j = x_k y_k + w with w >= 0
    support = (xk * yk + wn) / yj + (xk / yk) * yj - 2 * xk
    bound = xk * (yk - yj) ** 2 / (yj * yk) + wn / yj
    return (
        eq(d_lin.xreplace(lighter), ((yk - yj) * (lam - t_j)).xreplace(lighter)),
        eq(d_lin.xreplace(heavier), ((yj - yk) * (s_j - lam)).xreplace(heavier)),
        eq(xk * yk - xj * yk, yk * ((xk + lam * yk) - (xj + lam * yk))),
        eq(s_a - t_b, factor * (xk - chord)),
        gt(factor),
        eq(support, bound),
        ge(bound),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    lighter, heavier, level, lemma, factor, support, nonneg = _parts()
    return [
        proves("lighter j (y_j = y_k - e): linear difference = (y_k - y_j)(lam - t_j)", lighter),
        proves("heavier j (y_j = y_k + e): linear difference = (y_j - y_k)(s_j - lam)", heavier),
        proves("equal y: product difference = y_k * linear difference (both rules order by x)", level),
        proves("three-point lemma: s_a - t_b = factor * (x_k - chord_ab(y_k))", lemma),
        proves("the lemma's factor is positive when y_b < y_k < y_a", factor),
        proves("product's pick: x_j + (x_k/y_k) y_j - 2 x_k = x_k (y_k - y_j)^2/(y_j y_k) + w/y_j", support),
        proves("... >= 0: lam_k = x_k/y_k always ranks the product's pick first (interval never empty)", nonneg),
    ]


def _rationalisable(x, y, k):
    """Brute force: is there lam > 0 with k among linear's argmins? The agreeing set is
    an interval whose ends are pairwise break-even rates: test each positive rate, the
    midpoints between them, and points beyond both ends."""
    rates = sorted({(x[j] - x[i]) / (y[i] - y[j]) for i in range(len(x)) for j in range(len(x))
                    if y[i] != y[j] and (x[j] - x[i]) / (y[i] - y[j]) > 0})
    cands = set(rates) | {(a + b) / 2 for a, b in zip(rates, rates[1:])}
    cands |= {rates[0] / 2, rates[-1] * 2} if rates else {Fraction(1)}
    return any(k in B.linear_picks(x, y, lam) for lam in cands)


def _falsify(rng, samples: int) -> list[str]:
    found = []
    for bad in (([0, 1], [1, 1], None), ([1, 1], [1, 0], None), ([1, 2], [1], None), ([1, 2], [1, 1], 2), ([1, 2], [1, 1], -1), ([], [], None)):
        if not B.rejects(agreement_interval, *bad):
            found.append(f"T6 agreement_interval accepted invalid input {bad}")
    # fixed boundary cases: dominated, equal x (weakly dominated), exactly on a chord (ties agree)
    for x, y, k, want in (([1, 2], [1, 5], 1, False), ([2, 2], [1, 3], 1, False), ([2, 2], [3, 1], 0, False),
                          ([3, 2], [1, 1], 0, False), ([3, 2, 1], [1, 2, 3], 1, True), ([3, 3, 1], [1, 2, 3], 1, False),
                          ([5, 5], [2, 2], 1, True), ([10, 6, 1], [1, 2, 5], 1, True), ([10, 8, 1], [1, 2, 5], 1, False)):
        if on_lower_left_hull(x, y, k) != want or agreement_interval(x, y, pick=k).empty == want:
            found.append(B.report("T6 boundary case", (x, y, k), not want, want))
    for _ in range(samples):
        n = rng.randint(2, 6)
        x, y = B.rand_pos(rng, n), B.rand_pos(rng, n)
        if n >= 3 and rng.random() < 0.3:  # put point 0 exactly on the chord of points 1 and 2
            t = Fraction(rng.randint(1, 3), 4)
            x[0], y[0] = x[1] + t * (x[2] - x[1]), y[1] + t * (y[2] - y[1])
            if x[0] <= 0 or y[0] <= 0:
                x[0], y[0] = x[1], y[1]
        prod_k = B.argmin([a * b for a, b in zip(x, y)])
        k = prod_k if rng.random() < 0.5 else rng.randrange(n)
        ai = agreement_interval(x, y, pick=k)
        want = _rationalisable(x, y, k)
        if ai.pick != k or (not ai.empty) != want or ai.lower < 0:
            found.append(B.report("T6 agreement_interval", (x, y, k), ai, want))
            continue
        if on_lower_left_hull(x, y, k) != want:
            found.append(B.report("T6 on_lower_left_hull", (x, y, k), not want, want))
        if k == prod_k and (ai.empty or not ai.lower <= x[k] / y[k] <= ai.upper):
            found.append(B.report("T6 product pick", (x, y), ai, "x_k/y_k inside"))
        if ai.empty:
            continue
        ends = [e for e in (ai.lower, ai.upper) if e != math.inf and e > 0]
        hi = ai.upper if ai.upper != math.inf else ai.lower + 2
        inside = ends + [(ai.lower + hi) / 2]
        outside = ([ai.upper * Fraction(1001, 1000)] if ai.upper != math.inf else []) + \
                  ([ai.lower * Fraction(999, 1000)] if ai.lower > 0 else [])
        if not all(k in B.linear_picks(x, y, lam) for lam in inside if lam > 0) or \
                any(k in B.linear_picks(x, y, lam) for lam in outside):
            found.append(B.report("T6 interval ends", (x, y, k), ai, "exact ends"))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T6",
        name="Agreement interval over N instances",
        statement="The exchange rates for which linear ranks an instance k first form an interval [L, U] computable "
        "in O(N); it is empty iff k is not on the lower-left hull of the points (y_j, x_j) (dominated, or above "
        "the chord of two points bracketing y_k). For the product's own pick it is never empty: lam_k = x_k/y_k lies "
        "in it.",
        sympy_statement=_statement,
        proof=_proof,
        numeric=agreement_interval,
        holds_for={"reference": "holds", "noqueue": "holds where all factors are positive",
                   "plain": "holds where all factors are positive"},
        model_assumptions=("ties count as agreement", "lam > 0"),
        falsify=_falsify,
    )
