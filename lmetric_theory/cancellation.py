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

from fractions import Fraction

import sympy as sp

from . import bruteforce as B
from .conditions import exact_argmin
from .theorem import Step, Theorem, eq, exact, gt, proves

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


def _parts():
    a, b, k, t = sp.symbols("a b k t", positive=True)
    xi, yi, xj, yj = sp.symbols("x_i y_i x_j y_j", positive=True)
    scaled = (a * xi) * (b * yi) - (a * xj) * (b * yj)
    return (
        eq(scaled, a * b * (xi * yi - xj * yj)),
        gt(sp.cancel(scaled / (xi * yi - xj * yj))),
        gt(sp.diff(t**k, t)),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    scaled, sign, monotone = _parts()
    steps = [
        proves("the scaled difference factors through a*b", scaled),
        proves("scaled difference / plain difference = a*b > 0, so the sign (the order) is kept", sign),
        proves("x^k y^k = (x y)^k and t -> t^k is strictly increasing on t > 0 (derivative k t^(k-1) > 0)", monotone),
    ]
    return steps


def numeric(x, y, a: float = 1.0, b: float = 1.0) -> bool:
    """True when the scaled product picks the same instance as the plain product (exact)."""
    from .conditions import exact_value

    av, bv = exact_value(a), exact_value(b)
    xs = [exact_value(v) for v in x]
    ys = [exact_value(v) for v in y]
    return exact_argmin([(av * p) * (bv * q) for p, q in zip(xs, ys)]) == exact_argmin([p * q for p, q in zip(xs, ys)])


def _falsify(rng, samples: int) -> list[str]:
    found = []
    for _ in range(samples):
        n = rng.randint(2, 6)
        x, y = B.rand_pos(rng, n), B.rand_pos(rng, n)
        a, b = B.rand_pos(rng, 2)
        k = rng.randint(1, 4)
        same = B.argmin([(a * p) * (b * q) for p, q in zip(x, y)]) == B.argmin([p * q for p, q in zip(x, y)])
        if B.argmin([p**k * q**k for p, q in zip(x, y)]) != B.argmin([p * q for p, q in zip(x, y)]):
            found.append(B.report("T1 equal powers", (x, y, k), "different pick", "same pick"))
        if numeric(x, y, a, b) != same or not same:
            found.append(B.report("T1 numeric", (x, y, a, b), numeric(x, y, a, b), same))
    for bad in ((1, 1), (0, 2), (2, 0), (2, -1), (-1, 2)):
        try:
            power_witness(*bad)
            found.append(f"T1 power_witness{bad} accepted invalid exponents")
        except ValueError:
            pass
    for t in range(samples):
        ea, eb = B.rand_pos(rng, 2)
        if t % 2:  # close exponents need a long witness: the hard case
            eb = ea + Fraction(rng.choice((-1, 1)), rng.randint(2, 40))
        if ea == eb or eb <= 0:
            continue
        (wxi, wyi), (wxj, wyj) = power_witness(ea, eb)
        ea_s, eb_s = sp.Rational(ea.numerator, ea.denominator), sp.Rational(eb.numerator, eb.denominator)
        if not (wxi * wyi < wxj * wyj and bool(sp.Gt(wxi**ea_s * wyi**eb_s, wxj**ea_s * wyj**eb_s))):
            found.append(f"T1 power_witness({ea}, {eb}) does not separate the rules")
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T1",
        name="Hyper-parameter cancellation",
        statement="Positive weights on either factor never change the product's order; equal powers neither; "
        "unequal powers x^a y^b (a != b) give a different rule.",
        sympy_statement=_statement,
        proof=_proof,
        numeric=numeric,
        holds_for={"reference": "holds", "noqueue": "holds (scaling a zero keeps it zero)", "plain": "holds"},
        falsify=_falsify,
    )
