"""T2 — the linear rule is not scale-free.

For any exchange rates ``0 < lam1 < lam2`` the two-instance state
``i = (x=1, y=2)``, ``j = (x=1+r, y=1)`` with ``r = (lam1+lam2)/2`` makes linear(lam1)
pick ``i`` and linear(lam2) pick ``j``, because
``(x_i + lam y_i) - (x_j + lam y_j) = lam - r``.

>>> (xi, yi), (xj, yj) = linear_scale_witness(1, 3)
>>> bool(xi + 1 * yi < xj + 1 * yj), bool(xi + 3 * yi > xj + 3 * yj)
(True, True)
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp

from . import bruteforce as B
from .score_families import linear_score
from .theorem import Step, Theorem, eq, exact, gt, proves

__all__ = ["theorem", "linear_scale_witness"]


def linear_scale_witness(lam1, lam2):
    """Two instances on which linear(lam1) and linear(lam2) pick differently (lam1 != lam2)."""
    lam1, lam2 = exact(lam1), exact(lam2)
    if lam1 <= 0 or lam2 <= 0 or lam1 == lam2:
        raise ValueError("need two different positive exchange rates")
    r = (lam1 + lam2) / 2
    return (sp.Integer(1), sp.Integer(2)), (1 + r, sp.Integer(1))


def _parts():
    lam, lam1, d = sp.symbols("lambda lambda_1 d", positive=True)
    lam2 = lam1 + d
    r = (lam1 + lam2) / 2
    (xi, yi), (xj, yj) = (sp.Integer(1), sp.Integer(2)), (1 + r, sp.Integer(1))
    diff = sp.Add(linear_score(xi, yi, lam), sp.Mul(-1, linear_score(xj, yj, lam), evaluate=False), evaluate=False)
    return (
        eq(diff, lam - r),
        gt(-diff.subs(lam, lam1)),
        gt(diff.subs(lam, lam2)),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    diff, below, above = _parts()
    steps = [
        proves("on the witness the linear difference is lam - r", diff),
        proves("lam1 lies below r: linear(lam1) picks i", below),
        proves("lam2 = lam1 + d lies above r: linear(lam2) picks j", above),
    ]
    return steps


def _falsify(rng, samples: int) -> list[str]:
    found = []
    for bad in ((1, 1), (0, 2), (2, 0), (2, -1), (-1, 2)):
        try:
            linear_scale_witness(*bad)
            found.append(f"T2 linear_scale_witness{bad} accepted invalid rates")
        except ValueError:
            pass
    for _ in range(samples):
        l1, l2 = B.rand_pos(rng, 2)
        if l1 == l2:
            continue
        (xi, yi), (xj, yj) = linear_scale_witness(l1, l2)
        x = [Fraction(str(xi)), Fraction(str(xj))]
        y = [Fraction(str(yi)), Fraction(str(yj))]
        p1, p2 = B.linear_picks(x, y, l1), B.linear_picks(x, y, l2)
        if len(p1) != 1 or len(p2) != 1 or p1 == p2:
            found.append(B.report("T2 witness", (l1, l2), (p1, p2), "two different strict picks"))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T2",
        name="Linear rule is not scale-free",
        statement="For any two different exchange rates there is a two-instance state where linear(lam1) "
        "and linear(lam2) pick different instances (i=(1,2), j=(1+r,1), r=(lam1+lam2)/2); the linear rule needs its "
        "rate tuned.",
        sympy_statement=_statement,
        proof=_proof,
        numeric=linear_scale_witness,
        holds_for={"linear": "holds (the linear family is the subject)"},
        falsify=_falsify,
    )
