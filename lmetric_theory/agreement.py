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
iff ``k`` is not on the lower(-left) convex hull of the points ``(y_j, x_j)``; then no
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
AgreementInterval(pick=2, lower=0.0, upper=4.5, empty=False)
>>> agreement_interval(np.array([10., 6., 1.]), np.array([1., 5.5, 10.]), pick=1).empty
True
"""

from __future__ import annotations

import sympy as sp

from .conditions import agreement_interval
from .theorem import Step, Theorem, holds, identity, nonnegative, positive

__all__ = ["theorem", "interval_closed_form"]


def interval_closed_form():
    """The symbolic bounds: returns ``(s_j, t_j)`` as sympy expressions in
    ``x_k, y_k, x_j, y_j``; ``L = max(0, max s_j)`` over heavier, ``U = min t_j`` over lighter."""
    xk, yk, xj, yj = sp.symbols("x_k y_k x_j y_j", positive=True)
    return (xk - xj) / (yj - yk), (xj - xk) / (yk - yj)


def _proof() -> list[Step]:
    xk, yk, xj, yj, lam = sp.symbols("x_k y_k x_j y_j lambda", positive=True)
    u, v = sp.symbols("u v", positive=True)
    wn = sp.Symbol("w", nonnegative=True)
    s_j, t_j = interval_closed_form()
    d_lin = (xk + lam * yk) - (xj + lam * yj)
    xb, yb, xa = sp.symbols("x_b y_b x_a", positive=True)
    ya_, yk_ = yb + u + v, yb + u
    s_a = (xk - xa) / (ya_ - yk_)
    t_b = (xb - xk) / (yk_ - yb)
    chord = xb + (xa - xb) * (yk_ - yb) / (ya_ - yb)
    factor = (ya_ - yb) / ((ya_ - yk_) * (yk_ - yb))
    # tangent support of the product's pick: x_j y_j = x_k y_k + w with w >= 0
    xj_loser = (xk * yk + wn) / yj
    support = xj_loser + (xk / yk) * yj - 2 * xk
    steps = [
        identity("lighter j (y_j < y_k): linear difference = (y_k - y_j)(lam - t_j)", d_lin, (yk - yj) * (lam - t_j)),
        identity("heavier j (y_j > y_k): linear difference = (y_j - y_k)(s_j - lam)", d_lin, (yj - yk) * (s_j - lam)),
        identity("equal y: product difference = y_k * linear difference", xk * yk - xj * yk, yk * ((xk + lam * yk) - (xj + lam * yk))),
        positive("so equal-y instances order alike under both rules (y_k > 0)", yk),
        identity("three-point lemma: s_a - t_b = factor * (x_k - chord_ab(y_k))", s_a - t_b, factor * (xk - chord)),
        positive("the lemma's factor is positive when y_b < y_k < y_a", factor),
        identity("product's pick: x_j + (x_k/y_k) y_j - 2 x_k = x_k (y_k - y_j)^2/(y_j y_k) + w/y_j",
                 support, xk * (yk - yj) ** 2 / (yj * yk) + wn / yj),
        nonnegative("... >= 0: lam_k = x_k/y_k always ranks the product's pick first (interval never empty)",
                    xk * (yk - yj) ** 2 / (yj * yk) + wn / yj),
    ]
    # exact example: a middle point above the chord of its neighbours is no linear rule's pick
    X = [sp.Integer(10), sp.Integer(6), sp.Integer(1)]
    Y = [sp.Integer(1), sp.Rational(11, 2), sp.Integer(10)]
    k = 1
    s = (X[k] - X[2]) / (Y[2] - Y[k])
    t = (X[0] - X[k]) / (Y[k] - Y[0])
    ch = X[0] + (X[2] - X[0]) * (Y[k] - Y[0]) / (Y[2] - Y[0])
    steps += [
        holds("example: point 1 lies strictly above the chord of points 0 and 2", sp.Gt(X[k], ch)),
        holds("example: hence L > U, no linear rule picks it", sp.Gt(s, t)),
    ]
    return steps


def _statement() -> sp.Basic:
    return sp.Equivalent(sp.Symbol("interval_empty"), sp.Symbol("k_not_on_lower_convex_hull"))


def theorem() -> Theorem:
    return Theorem(
        id="T6",
        name="Agreement interval over N instances",
        statement="The exchange rates for which linear ranks an instance k first form an interval [L, U] computable "
        "in O(N); it is empty iff k is not on the lower convex hull of the points (y_j, x_j). For the product's own "
        "pick it is never empty: lam_k = x_k/y_k lies in it.",
        assumptions=("x_j, y_j > 0 for every instance", "ties count as agreement", "lam > 0"),
        sympy_statement=_statement,
        proof=_proof,
        numeric=agreement_interval,
        holds_for={"reference": "holds", "noqueue": "holds where all factors are positive",
                   "plain": "holds where all factors are positive"},
        closed_form="L = max(0, max_{y_j>y_k} (x_k-x_j)/(y_j-y_k)), U = min_{y_j<y_k} (x_j-x_k)/(y_k-y_j); "
        "empty <=> L > U or k dominated; product pick: x_k/y_k in [L, U]",
    )
