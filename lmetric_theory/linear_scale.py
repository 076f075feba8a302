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

import sympy as sp

from .theorem import Step, Theorem, exact, holds, identity, positive

__all__ = ["theorem", "linear_scale_witness"]


def linear_scale_witness(lam1, lam2):
    """Two instances on which linear(lam1) and linear(lam2) pick differently (lam1 != lam2)."""
    lam1, lam2 = exact(lam1), exact(lam2)
    if lam1 <= 0 or lam2 <= 0 or lam1 == lam2:
        raise ValueError("need two different positive exchange rates")
    r = (lam1 + lam2) / 2
    return (sp.Integer(1), sp.Integer(2)), (1 + r, sp.Integer(1))


def _proof() -> list[Step]:
    lam, lam1, d = sp.symbols("lambda lambda_1 d", positive=True)
    lam2 = lam1 + d
    r = (lam1 + lam2) / 2
    (xi, yi), (xj, yj) = (sp.Integer(1), sp.Integer(2)), (1 + r, sp.Integer(1))
    steps = [
        identity("on the witness the linear difference is lam - r", (xi + lam * yi) - (xj + lam * yj), lam - r),
        positive("lam1 lies below r: linear(lam1) picks i", r - lam1),
        positive("lam2 lies above r: linear(lam2) picks j", lam2 - r),
    ]
    for l1, l2 in ((1, 2), (sp.Rational(1, 10), 300)):
        (wxi, wyi), (wxj, wyj) = linear_scale_witness(l1, l2)
        steps.append(holds(f"witness lam1={l1}: picks i", sp.Lt(wxi + l1 * wyi, wxj + l1 * wyj)))
        steps.append(holds(f"witness lam2={l2}: picks j", sp.Gt(wxi + l2 * wyi, wxj + l2 * wyj)))
    return steps


def _statement() -> sp.Basic:
    lam1, lam2 = sp.symbols("lambda_1 lambda_2", positive=True)
    return sp.Implies(sp.Ne(lam1, lam2), sp.Symbol("exists_state_with_different_picks"))


def theorem() -> Theorem:
    return Theorem(
        id="T2",
        name="Linear rule is not scale-free",
        statement="For any two different exchange rates there is a two-instance state where linear(lam1) "
        "and linear(lam2) pick different instances; the linear rule needs its rate tuned.",
        assumptions=("lam1, lam2 > 0, lam1 != lam2",),
        sympy_statement=_statement,
        proof=_proof,
        numeric=None,
        holds_for={"linear": "holds (the linear family is the subject)"},
        closed_form="i=(1,2), j=(1+r,1), r=(lam1+lam2)/2: linear difference = lam - r",
    )
