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

from .conditions import pairwise_exchange_rate
from .theorem import Step, Theorem, identity, positive

__all__ = ["theorem"]


def _symbols():
    return sp.symbols("x_i y_i x_j y_j", positive=True)


def _proof() -> list[Step]:
    xi, yi, xj, yj = _symbols()
    xbar, ybar = (xi + xj) / 2, (yi + yj) / 2
    lam_ij = xbar / ybar
    return [
        identity("product difference = ybar*dx + xbar*dy", xi * yi - xj * yj, ybar * (xi - xj) + xbar * (yi - yj)),
        positive("the pair mean ybar is positive", ybar),
        identity("divided by ybar it is the linear difference at lam_ij = xbar/ybar",
                 (xi * yi - xj * yj) / ybar, (xi + lam_ij * yi) - (xj + lam_ij * yj)),
    ]


def _statement() -> sp.Basic:
    xi, yi, xj, yj = _symbols()
    return sp.Eq(xi * yi - xj * yj, (yi + yj) / 2 * (xi - xj) + (xi + xj) / 2 * (yi - yj))


def theorem() -> Theorem:
    return Theorem(
        id="T3",
        name="Exact pairwise linearisation",
        statement="On every pair the product is a linear rule whose exchange rate lam_ij = xbar/ybar is set by the state.",
        assumptions=("x_i, y_i, x_j, y_j > 0 (the identity itself holds for all reals)",),
        sympy_statement=_statement,
        proof=_proof,
        numeric=pairwise_exchange_rate,
        holds_for={"reference": "holds", "noqueue": "identity holds; lam_ij = 0 when both P are 0",
                   "plain": "identity holds; lam_ij undefined when both BS are 0"},
        closed_form="x_i y_i - x_j y_j = ybar (x_i - x_j) + xbar (y_i - y_j);  lam_ij = (x_i + x_j)/(y_i + y_j)",
    )
