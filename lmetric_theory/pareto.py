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

from . import bruteforce as B
from .score_families import BS as FBS
from .score_families import FAMILIES
from .score_families import P as FP
from .score_families import Q as FQ
from .conditions import ZeroFactor, zero_factor
from .theorem import Step, Theorem, eq, gt, holds, proves

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


def _parts():
    xi, yi = sp.symbols("x_i y_i", positive=True)
    d1p, d2p = sp.symbols("d_1^+ d_2^+", positive=True)
    d1n, d2n = sp.symbols("d_1 d_2", nonnegative=True)
    gap = lambda d1, d2: (xi + d1) * (yi + d2) - xi * yi  # noqa: E731
    Qs, Ps, Bs = sp.symbols("Q P BS", nonnegative=True)
    return (
        eq(gap(d1n, d2n), xi * d2n + yi * d1n + d1n * d2n),
        gt(sp.expand(gap(d1p, d2n))),
        gt(sp.expand(gap(d1n, d2p))),
        gt((Qs + (Ps + 1)) * (Bs + 1)),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    gap, worse_kv, worse_load, ref = _parts()
    steps = [
        proves("the score gap to a dominating shift", gap),
        proves("strictly worse KV factor (d1 > 0, d2 >= 0): dominated instance scores higher", worse_kv),
        proves("strictly worse load (d1 >= 0, d2 > 0): dominated instance scores higher", worse_load),
        proves("reference factors are positive: x = Q + P with P >= 1, y = BS + 1", ref),
    ]
    for fam, zero in (("reference", False), ("noqueue", True), ("plain", True)):
        f = FAMILIES[fam]
        steps.append(holds(f"{fam} {f.description}: x_min = {f.x_min}, y_min = {f.y_min}, "
                           f"{'a zero factor' if zero else 'no zero factor'}",
                           sp.Eq(sp.Integer(int(f.has_zero_factor)), sp.Integer(int(zero)), evaluate=False)))
        at_min = sp.Subs(f.score, (FQ, FP, FBS), (0, f.x_min, 0))  # the smallest score the family allows
        if not zero:
            steps.append(holds("reference: its smallest score (Q = 0, P = 1, BS = 0) is positive",
                               sp.Gt(at_min, 0, evaluate=False)))
            continue
        steps.append(holds(f"{fam}: its smallest score is 0", sp.Eq(at_min, 0, evaluate=False)))
        (wxi, wyi), (wxj, wyj) = zero_factor_witness(fam)
        le, lt = (lambda a, b: sp.Le(a, b, evaluate=False)), (lambda a, b: sp.Lt(a, b, evaluate=False))
        steps.append(holds(f"{fam}: j dominates i", sp.And(le(wxj, wxi), le(wyj, wyi),
                                                           sp.Or(lt(wxj, wxi), lt(wyj, wyi), evaluate=False), evaluate=False)))
        steps.append(holds(f"{fam}: yet the scores tie at zero, so lowest index picks dominated i",
                           sp.Eq(sp.Mul(wxi, wyi, evaluate=False), sp.Mul(wxj, wyj, evaluate=False), evaluate=False)))
    return steps


def _dominated(x, y, k):
    return any(j != k and x[j] <= x[k] and y[j] <= y[k] and (x[j] < x[k] or y[j] < y[k]) for j in range(len(x)))


def _falsify(rng, samples: int) -> list[str]:
    found = []
    for _ in range(samples):
        n = rng.randint(2, 6)
        # positive factors: the product never picks a dominated instance
        x, y = B.rand_pos(rng, n), B.rand_pos(rng, n)
        k = B.argmin([a * b for a, b in zip(x, y)])
        if _dominated(x, y, k):
            found.append(B.report("T4 positive factors", (x, y), k, "a dominated pick"))
        # zero factors (ports): the predicate against the brute force
        x, y = B.rand_nonneg_int(rng, n, 3), B.rand_nonneg_int(rng, n, 3)
        s = [a * b for a, b in zip(x, y)]
        k = B.argmin(s)
        want = ZeroFactor(tuple(i for i, v in enumerate(s) if v == 0), s.count(s[k]), k, _dominated(x, y, k))
        got = zero_factor(x, y)
        if got != want:
            found.append(B.report("T4 zero_factor", (x, y), got, want))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T4",
        name="Pareto consistency",
        statement="With positive factors the product never prefers a dominated instance; with a zero factor "
        "(the ports) a dominated instance can tie and win — why the reference adds Q and the +1.",
        sympy_statement=_statement,
        proof=_proof,
        numeric=zero_factor,
        holds_for={"reference": "holds (x >= 1, y >= 1)", "noqueue": "fails: full hit gives P = 0 at any load",
                   "plain": "fails: an idle instance gives BS = 0"},
        falsify=_falsify,
    )
