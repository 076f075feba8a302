"""T5 — the pairwise divergence region of product and linear(lam).

For a trade-off pair (``y_i != y_j``) define the break-even rate
``r = (x_j - x_i) / (y_i - y_j)``. Then

* ``D_lin = (x_i + lam y_i) - (x_j + lam y_j) = (y_i - y_j)(lam - r)``,
* ``D_prod = x_i y_i - x_j y_j = (y_i - y_j) ybar (lam_ij - r)``  (T3),

so ``D_lin D_prod = (y_i - y_j)^2 ybar (lam - r)(lam_ij - r)`` and the two rules
strictly disagree iff ``r`` lies strictly between ``lam`` and ``lam_ij``. In the
``(dx, dy) = (x_i - x_j, y_i - y_j)`` plane at fixed pair means this is the wedge
between the lines ``dx = -lam dy`` and ``dx = -(xbar/ybar) dy``.

>>> from lmetric_theory.conditions import diverges
>>> bool(diverges(1.0, 3.0, 4.0, 1.0, lam=1.0))   # r = 1.5, lam_ij = 1.25, lam = 1
False
>>> bool(diverges(1.0, 3.0, 4.0, 1.0, lam=2.0))   # r = 1.5 lies between 1.25 and 2
True
"""

from __future__ import annotations

import sympy as sp

from .conditions import diverges
from .theorem import Step, Theorem, identity, positive

__all__ = ["theorem", "divergence_region"]


def divergence_region(lam, xbar, ybar):
    """Closed form in the (dx, dy) plane at fixed pair means: returns a sympy boolean
    in symbols ``dx, dy`` true exactly where product and linear(lam) disagree."""
    dx, dy = sp.symbols("dx dy", real=True)
    return sp.Lt((dx + lam * dy) * (ybar * dx + xbar * dy), 0), (dx, dy)


def _proof() -> list[Step]:
    xi, yi, xj, yj, lam = sp.symbols("x_i y_i x_j y_j lambda", positive=True)
    e = sp.Symbol("e", real=True, nonzero=True)  # y_i - y_j of a trade-off pair
    r = (xj - xi) / (yi - yj)
    xbar, ybar = (xi + xj) / 2, (yi + yj) / 2
    lam_ij = xbar / ybar
    d_lin = (xi + lam * yi) - (xj + lam * yj)
    d_prod = xi * yi - xj * yj
    return [
        identity("linear difference = (y_i - y_j)(lam - r)", d_lin, (yi - yj) * (lam - r)),
        identity("product difference = (y_i - y_j) ybar (lam_ij - r)", d_prod, (yi - yj) * ybar * (lam_ij - r)),
        identity("their product = (y_i - y_j)^2 ybar (lam - r)(lam_ij - r)",
                 d_lin * d_prod, (yi - yj) ** 2 * ybar * (lam - r) * (lam_ij - r)),
        positive("(y_i - y_j)^2 > 0 on a trade-off pair", e**2),
        positive("ybar > 0", ybar),
        identity("in the (dx, dy) plane: D_lin D_prod = (dx + lam dy)(ybar dx + xbar dy)",
                 d_lin * d_prod, ((xi - xj) + lam * (yi - yj)) * (ybar * (xi - xj) + xbar * (yi - yj))),
    ]


def _statement() -> sp.Basic:
    lam, lam_ij, r = sp.symbols("lambda lambda_ij r", positive=True)
    return sp.Equivalent(sp.Symbol("disagree"), sp.Lt((lam - r) * (lam_ij - r), 0))


def theorem() -> Theorem:
    return Theorem(
        id="T5",
        name="Pairwise divergence region",
        statement="On a trade-off pair, product and linear(lam) pick differently iff the break-even rate "
        "r = (x_j - x_i)/(y_i - y_j) lies strictly between lam and the pair's own rate lam_ij = xbar/ybar.",
        assumptions=("x, y > 0", "y_i != y_j (a pair with y_i = y_j is decided by x alone, by both rules)", "lam > 0"),
        sympy_statement=_statement,
        proof=_proof,
        numeric=diverges,
        holds_for={"reference": "holds", "noqueue": "holds where both factors are positive",
                   "plain": "holds where both factors are positive"},
        closed_form="disagree <=> (lam - r)(lam_ij - r) < 0 <=> (dx + lam dy)(ybar dx + xbar dy) < 0",
    )
