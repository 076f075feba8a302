"""T3 — exact pairwise linearisation of the product.

``x_i y_i - x_j y_j = ybar (x_i - x_j) + xbar (y_i - y_j)`` with pair means
``xbar = (x_i+x_j)/2``, ``ybar = (y_i+y_j)/2``. Dividing by ``ybar > 0``: on every
pair the product is the linear rule with the state-dependent exchange rate
``lam_ij = xbar / ybar``.

>>> from lmetric_theory.conditions import pairwise_exchange_rate
>>> float(pairwise_exchange_rate(100, 1, 300, 3))
100.0
"""

from __future__ import annotations

import sympy as sp

from . import bruteforce as B
from .score_families import linear_score, product_score
from .conditions import argmin_first, linear_scores, pairwise_exchange_rate, product_scores
from .theorem import Step, Theorem, eq, gt, proves

__all__ = ["theorem"]


def _symbols():
    return sp.symbols("x_i y_i x_j y_j", positive=True)


def _parts():
    xi, yi, xj, yj = _symbols()
    xbar, ybar = (xi + xj) / 2, (yi + yj) / 2
    lam_ij = xbar / ybar
    d_prod = product_score(xi, yi) - product_score(xj, yj)
    return (
        eq(d_prod, ybar * (xi - xj) + xbar * (yi - yj)),
        gt(ybar),
        eq(d_prod / ybar, linear_score(xi, yi, lam_ij) - linear_score(xj, yj, lam_ij)),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    ident, ybar_pos, linear = _parts()
    return [
        proves("product difference = ybar*dx + xbar*dy", ident),
        proves("the pair mean ybar is positive", ybar_pos),
        proves("divided by ybar it is the linear difference at lam_ij = xbar/ybar", linear),
    ]


def _falsify(rng, samples: int) -> list[str]:
    """The float rate must match the exact rate that makes D_prod = ybar D_lin
    (relative tolerance 1e-12: the predicate returns floats)."""
    found = []
    for _ in range(samples):
        xi, yi, xj, yj = B.rand_pos(rng, 4)
        d_prod = xi * yi - xj * yj
        ybar = (yi + yj) / 2
        # solve D_prod = ybar ((xi - xj) + lam (yi - yj)) for lam on a trade-off pair, else use the means
        lam = (d_prod / ybar - (xi - xj)) / (yi - yj) if yi != yj else (xi + xj) / (yi + yj)
        x, y = B.rand_pos(rng, 3), B.rand_pos(rng, 3)
        lam_s = B.rand_pos(rng, 1)[0]
        ps, ls = product_scores(x, y), linear_scores(x, y, lam_s)
        if not all(B.close(g, a * b) for g, a, b in zip(ps, x, y)) or \
                not all(B.close(g, a + lam_s * b) for g, a, b in zip(ls, x, y)):
            found.append(B.report("T3 product/linear scores", (x, y, lam_s), (ps, ls), "exact scores"))
        ints = [int(v) for v in B.rand_nonneg_int(rng, 4)]
        if argmin_first(ints) != B.argmin(ints):
            found.append(B.report("T3 argmin_first", ints, argmin_first(ints), B.argmin(ints)))
        got = float(pairwise_exchange_rate(xi, yi, xj, yj))
        if abs(got - float(lam)) > 1e-12 * abs(float(lam)):
            found.append(B.report("T3 pairwise_exchange_rate", (xi, yi, xj, yj), got, lam))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T3",
        name="Exact pairwise linearisation",
        statement="On every pair the product is a linear rule whose exchange rate lam_ij = xbar/ybar is set by the state.",
        sympy_statement=_statement,
        proof=_proof,
        numeric=pairwise_exchange_rate,
        holds_for={"reference": "holds", "noqueue": "identity holds; lam_ij = 0 when both P are 0",
                   "plain": "identity holds; lam_ij undefined when both BS are 0"},
        falsify=_falsify,
    )
