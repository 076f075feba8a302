"""T4 — Pareto consistency, and the zero-factor failure of the ports.

If ``x_j = x_i + d1`` and ``y_j = y_i + d2`` with ``d1, d2 >= 0`` not both 0 and
``x_i, y_i > 0``, then ``x_j y_j - x_i y_i = x_i d2 + y_i d1 + d1 d2 > 0``: the product
never prefers a dominated instance. The reference score has ``x = Q + P >= 1`` and
``y = BS + 1 >= 1``. The ports do not: ``P (inflight+1)`` is 0 on a full hit at *any*
load, and ``P * BS`` is 0 on any idle instance, so a dominated instance can tie the
best and win by the lowest-index rule.

>>> (xi, yi), (xj, yj) = zero_factor_witness("noqueue")
>>> xi * yi == xj * yj and xj <= xi and yj < yi
True
"""

from __future__ import annotations

import sympy as sp

from .conditions import zero_factor
from .theorem import Step, Theorem, holds, identity, positive

__all__ = ["theorem", "zero_factor_witness"]


def zero_factor_witness(family: str):
    """Instances ``i`` (index 0) and ``j`` (index 1) where ``j`` dominates ``i`` yet the
    family's scores tie, so the lowest-index rule picks the dominated ``i``.

    ``noqueue``: ``i = (P=0, inflight+1=9)``, ``j = (P=0, inflight+1=1)`` — both fully cached.
    ``plain``: ``i = (P=500, BS=0)``, ``j = (P=10, BS=0)`` — both idle.
    """
    if family == "noqueue":
        return (sp.Integer(0), sp.Integer(9)), (sp.Integer(0), sp.Integer(1))
    if family == "plain":
        return (sp.Integer(500), sp.Integer(0)), (sp.Integer(10), sp.Integer(0))
    raise ValueError(f"no zero-factor witness for family {family!r} (the reference has none: both factors >= 1)")


def _proof() -> list[Step]:
    xi, yi = sp.symbols("x_i y_i", positive=True)
    d1p, d2p = sp.symbols("d_1 d_2", positive=True)
    d1n, d2n = sp.symbols("d_1 d_2", nonnegative=True)
    gap = lambda d1, d2: (xi + d1) * (yi + d2) - xi * yi  # noqa: E731
    Qs, Ps, Bs = sp.symbols("Q P BS", nonnegative=True)
    steps = [
        identity("the score gap to a dominating shift", gap(d1n, d2n), xi * d2n + yi * d1n + d1n * d2n),
        positive("strictly worse KV factor (d1 > 0, d2 >= 0): dominated instance scores higher", sp.expand(gap(d1p, d2n))),
        positive("strictly worse load (d1 >= 0, d2 > 0): dominated instance scores higher", sp.expand(gap(d1n, d2p))),
        positive("reference factors are positive: x = Q + P with P >= 1", Qs + (Ps + 1)),
        positive("reference factors are positive: y = BS + 1", Bs + 1),
    ]
    for fam in ("noqueue", "plain"):
        (wxi, wyi), (wxj, wyj) = zero_factor_witness(fam)
        steps.append(holds(f"{fam}: j dominates i", sp.And(sp.Le(wxj, wxi), sp.Le(wyj, wyi), sp.Or(sp.Lt(wxj, wxi), sp.Lt(wyj, wyi)))))
        steps.append(holds(f"{fam}: yet the scores tie at zero, so lowest index picks dominated i",
                           sp.Eq(wxi * wyi, wxj * wyj)))
    return steps


def _statement() -> sp.Basic:
    xi, yi, d1, d2 = sp.symbols("x_i y_i d_1 d_2", positive=True)
    return sp.Gt((xi + d1) * (yi + d2), xi * yi)


def theorem() -> Theorem:
    return Theorem(
        id="T4",
        name="Pareto consistency",
        statement="With positive factors the product never prefers a dominated instance; with a zero factor "
        "(the ports) a dominated instance can tie and win — why the reference adds Q and the +1.",
        assumptions=("x_i, y_i > 0", "d1, d2 >= 0, not both 0"),
        sympy_statement=_statement,
        proof=_proof,
        numeric=zero_factor,
        holds_for={"reference": "holds (x >= 1, y >= 1)", "noqueue": "fails: full hit gives P = 0 at any load",
                   "plain": "fails: an idle instance gives BS = 0"},
        closed_form="(x+d1)(y+d2) - x y = x d2 + y d1 + d1 d2",
    )
