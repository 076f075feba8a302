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

import math

import sympy as sp

from . import bruteforce as B
from .conditions import break_even_rate, diverges
from .theorem import Step, Theorem, eq, gt, proves

__all__ = ["theorem", "divergence_region"]


def divergence_region(lam, xbar, ybar):
    """Closed form in the (dx, dy) plane at fixed pair means: returns a sympy boolean
    in symbols ``dx, dy`` true exactly where product and linear(lam) disagree."""
    dx, dy = sp.symbols("dx dy", real=True)
    return sp.Lt((dx + lam * dy) * (ybar * dx + xbar * dy), 0), (dx, dy)


def _parts():
    # a trade-off pair, i the heavier one: y_i = y_j + e with e > 0 (swapping i and j
    # flips the sign of both differences and leaves r and lam_ij unchanged)
    xi, xj, yj, lam, e = sp.symbols("x_i x_j y_j lambda e", positive=True)
    yi = yj + e
    r = (xj - xi) / e
    xbar, ybar = (xi + xj) / 2, (yi + yj) / 2
    lam_ij = xbar / ybar
    d_lin = (xi + lam * yi) - (xj + lam * yj)
    d_prod = xi * yi - xj * yj
    return (
        eq(d_lin, e * (lam - r)),
        eq(d_prod, e * ybar * (lam_ij - r)),
        eq(d_lin * d_prod, e**2 * ybar * (lam - r) * (lam_ij - r)),
        gt(sp.cancel(d_lin * d_prod / ((lam - r) * (lam_ij - r)))),
        eq(d_lin * d_prod, ((xi - xj) + lam * (yi - yj)) * (ybar * (xi - xj) + xbar * (yi - yj))),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    lin, prod, both, sign, plane = _parts()
    return [
        proves("linear difference = (y_i - y_j)(lam - r)", lin),
        proves("product difference = (y_i - y_j) ybar (lam_ij - r)", prod),
        proves("their product = (y_i - y_j)^2 ybar (lam - r)(lam_ij - r)", both),
        proves("(y_i - y_j)^2 ybar > 0 on a trade-off pair: disagree <=> (lam - r)(lam_ij - r) < 0", sign),
        proves("in the (dx, dy) plane: D_lin D_prod = (dx + lam dy)(ybar dx + xbar dy)", plane),
    ]


def _falsify(rng, samples: int) -> list[str]:
    found = []
    if not (B.rejects(diverges, float("nan"), 1, 1, 1, 1) and B.rejects(diverges, 1, 1, 1, 1, float("inf"))):
        found.append("T5 diverges accepted a non-finite number")
    for _ in range(samples):
        xi, yi, xj, yj, lam = B.rand_pos(rng, 5)
        r = (xj - xi) / (yi - yj) if yi != yj else None
        lam_ij = (xi + xj) / (yi + yj)
        pick = rng.random()
        if r is not None and r > 0 and pick < 0.3:
            lam = r  # the boundary: linear ties
        elif pick < 0.45:
            lam = lam_ij
        prod, lin = xi * yi - xj * yj, (xi + lam * yi) - (xj + lam * yj)
        strict = (prod < 0 and lin > 0) or (prod > 0 and lin < 0)
        ber = float(break_even_rate(xi, yi, xj, yj))
        if (r is None and not math.isnan(ber)) or (r is not None and not B.close(ber, r)):
            found.append(B.report("T5 break_even_rate", (xi, yi, xj, yj), ber, r))
        got = bool(diverges(xi, yi, xj, yj, lam))
        if got != strict:
            found.append(B.report("T5 diverges", (xi, yi, xj, yj, lam), got, strict))
        region, (sdx, sdy) = divergence_region(lam, (xi + xj) / 2, (yi + yj) / 2)
        if bool(region.subs({sdx: xi - xj, sdy: yi - yj})) != strict:
            found.append(B.report("T5 divergence_region", (xi, yi, xj, yj, lam), not strict, strict))
        if r is not None and strict != (min(lam, lam_ij) < r < max(lam, lam_ij)):
            found.append(B.report("T5 statement", (xi, yi, xj, yj, lam), "r between lam and lam_ij", strict))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T5",
        name="Pairwise divergence region",
        statement="On a trade-off pair, product and linear(lam) strictly prefer different instances iff the break-even "
        "rate r = (x_j - x_i)/(y_i - y_j) lies strictly between lam and the pair's own rate lam_ij = xbar/ybar.",
        sympy_statement=_statement,
        proof=_proof,
        numeric=diverges,
        holds_for={"reference": "holds", "noqueue": "holds where both factors are positive",
                   "plain": "holds where both factors are positive"},
        model_assumptions=("y_i != y_j (a pair with y_i = y_j is decided by x alone, by both rules); "
                           "e = y_i - y_j > 0 without loss of generality",),
        falsify=_falsify,
    )
