"""T1 — hyper-parameter cancellation.

For positive weights ``a, b``: ``(a x_i)(b y_i) < (a x_j)(b y_j)  <=>  x_i y_i < x_j y_j``,
because the difference factors as ``a b (x_i y_i - x_j y_j)`` with ``a b > 0``. Equal
powers ``x^k y^k = (x y)^k`` (k > 0) order the same way since ``t -> t^k`` is strictly
increasing on t > 0. Unequal powers ``x^a y^b`` (a != b) are a different rule: a
two-instance witness separates them.

>>> (xi, yi), (xj, yj) = power_witness(2, 1)
>>> bool(xi * yi < xj * yj), bool(xi**2 * yi > xj**2 * yj)
(True, True)
"""

from __future__ import annotations

import sympy as sp

from .conditions import argmin_first
from .theorem import Step, Theorem, exact, holds, identity, positive

__all__ = ["theorem", "power_witness"]


def power_witness(a, b) -> tuple[tuple[sp.Expr, sp.Expr], tuple[sp.Expr, sp.Expr]]:
    """Two instances ``i, j`` where ``x y`` prefers ``i`` but ``x^a y^b`` prefers ``j``.

    ``i = (q, 1/(2q))``, ``j = (1, 1)`` with ``q = 2^m``,
    ``m = sign(a-b) * (floor(b/|a-b|) + 1)``: then ``x_i y_i = 1/2 < 1`` while
    ``x_i^a y_i^b = 2^(m(a-b) - b) > 1``. Requires ``a, b > 0`` and ``a != b``.
    """
    a, b = exact(a), exact(b)
    if a <= 0 or b <= 0 or a == b:
        raise ValueError("power_witness needs positive exponents a != b")
    m = (sp.floor(b / abs(a - b)) + 1) * sp.sign(a - b)
    q = sp.Integer(2) ** m
    return (q, 1 / (2 * q)), (sp.Integer(1), sp.Integer(1))


def _proof() -> list[Step]:
    a, b, k, t = sp.symbols("a b k t", positive=True)
    xi, yi, xj, yj = sp.symbols("x_i y_i x_j y_j", positive=True)
    steps = [
        identity("the scaled difference factors through a*b",
                 (a * xi) * (b * yi) - (a * xj) * (b * yj), a * b * (xi * yi - xj * yj)),
        positive("the common factor a*b is positive, so the sign (the order) is kept", a * b),
        identity("equal powers are a power of the product", xi**k * yi**k, (xi * yi) ** k),
        positive("t -> t^k is strictly increasing on t > 0 (derivative k t^(k-1) > 0)", sp.diff(t**k, t)),
    ]
    for ea, eb in ((2, 1), (1, 3), (sp.Rational(1, 2), sp.Rational(3, 2))):
        (wxi, wyi), (wxj, wyj) = power_witness(ea, eb)
        steps.append(holds(f"witness a={ea}, b={eb}: the product prefers i", sp.Lt(wxi * wyi, wxj * wyj)))
        steps.append(holds(f"witness a={ea}, b={eb}: x^a y^b prefers j", sp.Gt(wxi**ea * wyi**eb, wxj**ea * wyj**eb)))
    return steps


def _statement() -> sp.Basic:
    a, b = sp.symbols("a b", positive=True)
    xi, yi, xj, yj = sp.symbols("x_i y_i x_j y_j", positive=True)
    return sp.Equivalent(sp.Lt(a * xi * b * yi, a * xj * b * yj), sp.Lt(xi * yi, xj * yj))


def numeric(x, y, a: float = 1.0, b: float = 1.0) -> bool:
    """True when the scaled product picks the same instance as the plain product."""
    import numpy as np

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    return argmin_first((a * x) * (b * y)) == argmin_first(x * y)


def theorem() -> Theorem:
    return Theorem(
        id="T1",
        name="Hyper-parameter cancellation",
        statement="Positive weights on either factor never change the product's order; equal powers neither; "
        "unequal powers x^a y^b (a != b) give a different rule.",
        assumptions=("x_i, y_i, x_j, y_j > 0", "a, b, k > 0"),
        sympy_statement=_statement,
        proof=_proof,
        numeric=numeric,
        holds_for={"reference": "holds", "noqueue": "holds (scaling a zero keeps it zero)", "plain": "holds"},
        closed_form="(a x_i)(b y_i) - (a x_j)(b y_j) = a b (x_i y_i - x_j y_j)",
    )
