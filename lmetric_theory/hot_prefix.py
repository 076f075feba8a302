"""T8 — the hot-prefix condition (paper Equation 2) and the product's affinity ratio.

Fluid model: ``N`` identical instances, total arrival rate ``Lambda``; a prefix class
has arrival share ``x`` and is cached on the holder set ``M`` (``|M| = m``). Keeping the
class on its holders is feasible without overloading them iff the per-holder class
load does not exceed the balanced per-instance load::

    x Lambda / m <= Lambda / N      <=>   x <= m / N,

since ``x Lambda/m - Lambda/N = Lambda (x N - m)/(m N)``. The paper's form
``x/(1-x) <= m/(N-m)`` (class load per holder versus other load per non-holder) is the
same condition: with ``u = 1 - x`` and ``r = N - m``,
``x/u - m/r = (x r - m u)/(u r)`` and ``x N - m = x r - m u``.

Affinity: a class request stays on holder ``i`` rather than non-holder ``j`` while
``(BS_i + 1)/(BS_j + 1) < A`` with ``A = (Q_j + P_j)/(Q_i + P_i)``, because
``S_i - S_j = (Q_i + P_i)(BS_j + 1)((BS_i+1)/(BS_j+1) - A)``. With empty queues and a
cached share ``h`` of an ``n``-token prompt, ``A = 1/(1-h) -> inf`` as ``h -> 1``: a
port without the queue term piles the class onto its holders at any load. The
reference keeps ``P_i >= 1`` and adds ``Q_i``: ``A <= (Q_j + n)/(Q_i + 1)``, and
``A -> (Q_j + n)/Q_i`` when the holder has a backlog.

>>> from lmetric_theory.conditions import hot_prefix_condition, hot_prefix_ratio_form
>>> hot_prefix_condition(0.25, 4, 16), hot_prefix_ratio_form(0.25, 4, 16)
(True, True)
"""

from __future__ import annotations

import sympy as sp

import math
from fractions import Fraction

from . import bruteforce as B
from .conditions import affinity_ratio, exact_value, hot_prefix_condition, hot_prefix_ratio_form, stays_on_holder
from .theorem import Step, Theorem, eq, gt, proves

__all__ = ["theorem", "affinity_ratio_expr"]


def affinity_ratio_expr():
    """``A(h) = (Q_j + n) / (Q_i + n (1 - h))`` as a sympy expression in
    ``Q_i, Q_j, n, h`` (holder has cached share ``h``, non-holder none)."""
    Qi, Qj = sp.symbols("Q_i Q_j", nonnegative=True)
    n = sp.Symbol("n", positive=True)
    h = sp.Symbol("h", positive=True)
    return (Qj + n) / (Qi + n * (1 - h)), (Qi, Qj, n, h)


def _parts():
    x, u, m, r, lam = sp.symbols("x u m r Lambda", positive=True)
    N = m + r
    Qi, Bi, Qj, Pj, Bj = sp.symbols("Q_i BS_i Q_j P_j BS_j", nonnegative=True)
    Pi = sp.Symbol("P_i", positive=True)  # reference: P >= 1
    A = (Qj + Pj) / (Qi + Pi)
    expr, (qi, qj, n, h) = affinity_ratio_expr()
    return (
        eq(x * lam / m - lam / N, lam * (x * N - m) / (m * N)),
        gt(sp.cancel((x * lam / m - lam / N) / (x * N - m))),
        eq(x / u - m / r, (x * r - m * u) / (u * r)),
        eq((x * N - m).subs(x, 1 - u), (x * r - m * u).subs(x, 1 - u)),
        gt(sp.cancel((x / u - m / r) / (x * r - m * u))),
        eq((Qi + Pi) * (Bi + 1) - (Qj + Pj) * (Bj + 1), (Qi + Pi) * (Bj + 1) * ((Bi + 1) / (Bj + 1) - A)),
        gt(sp.cancel(((Qi + Pi) * (Bi + 1) - (Qj + Pj) * (Bj + 1)) / ((Bi + 1) / (Bj + 1) - A))),
        eq(sp.Subs(expr, (qi, h), (0, 1 - 1 / n)), qj + n),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    fluid, fluid_sign, ratio, same, ratio_sign, gap, gap_sign, cap = _parts()
    expr, (qi, qj, n, h) = affinity_ratio_expr()
    qi_pos = sp.Symbol("Q_i", positive=True)
    return [
        proves("fluid: per-holder class load minus fair share = Lambda (x N - m)/(m N)", fluid),
        proves("the factor Lambda/(m N) is positive, so feasible <=> x <= m/N", fluid_sign),
        proves("ratio form (u = 1 - x, r = N - m): x/u - m/r = (x r - m u)/(u r)", ratio),
        proves("and x N - m = x r - m u when x + u = 1", same),
        proves("u r > 0, so Equation 2 <=> x <= m/N", ratio_sign),
        proves("S_i - S_j = (Q_i+P_i)(BS_j+1)((BS_i+1)/(BS_j+1) - A)", gap),
        proves("reference: (Q_i+P_i)(BS_j+1) > 0 since P_i >= 1", gap_sign),
        proves("ports (empty queues): A(h) -> oo as the cached share h -> 1",
               eq(sp.Limit(expr.subs({qi: 0, qj: 0}), h, 1, "-"), sp.oo)),
        proves("reference with a holder backlog Q_i > 0: A(h) -> (Q_j + n)/Q_i, finite",
               eq(sp.Limit(expr.subs(qi, qi_pos), h, 1, "-"), (qj + n) / qi_pos)),
        proves("reference with an idle holder: P_i >= 1 caps A at Q_j + n (h = 1 - 1/n)", cap),
    ]


def _falsify(rng, samples: int) -> list[str]:
    """Equation 2 (both forms) against the fluid check, with many draws exactly on the
    boundary share = |M|/N (as a Fraction and as a float); the affinity predicate
    against the exact product comparison."""
    found = []
    for bad in ((0.5, 5, 4), (0.5, -1, 4), (0.5, 0, 0)):
        if not B.rejects(hot_prefix_condition, *bad):
            found.append(f"T8 hot_prefix_condition accepted {bad}")
    if float(affinity_ratio(0, 1, 0, 4096)) != 4096 or float(affinity_ratio(0, 0, 0, 4096)) != math.inf or \
            float(affinity_ratio(0, 0, 0, 0)) != math.inf:
        found.append("T8 the reference caps the affinity ratio at Q_j + n (P_i >= 1); a zero factor makes it infinite")
    edges = ((0.5, 0, 4, False), (0, 0, 1, True), (1, 4, 4, True), (0.25, 1, 4, True), (Fraction(1, 4), 1, 4, True))
    if [hot_prefix_condition(s, m, n) for s, m, n, _ in edges] != [w for *_, w in edges] or exact_value(0.0) != 0:
        found.append("T8 edge inputs (no holders, every holder, one instance, exact zero) decided wrongly")
    for bad in ((0, 1, 4), (1, 1, 4), (0.5, 0, 4), (0.5, 4, 4), (float("nan"), 1, 4)):
        if not B.rejects(hot_prefix_ratio_form, *bad):
            found.append(f"T8 hot_prefix_ratio_form accepted {bad}")
    for _ in range(samples):
        n = rng.randint(2, 40)
        m = rng.randint(1, n - 1)
        mode = rng.random()
        if mode < 0.35:
            share = Fraction(m, n)
        elif mode < 0.6:
            share = m / n  # a float on the boundary
        else:
            share = Fraction(rng.randint(1, 999), 1000)
        exact_share = Fraction(m, n) if isinstance(share, float) else share  # m / n rounds to itself
        total = Fraction(1000)
        fluid_ok = exact_share * total / m <= total / n  # per-holder class load within the fair share
        got = (hot_prefix_condition(share, m, n), hot_prefix_ratio_form(share, m, n))
        if got != (fluid_ok, fluid_ok):
            found.append(B.report("T8 Equation 2", (share, m, n), got, fluid_ok))
        qi, qj, bi, bj = B.rand_nonneg_int(rng, 4, 4)
        pi, pj = B.rand_pos_int(rng, 2, 8)
        if rng.random() < 0.35:  # a tie: the holder is not strictly better
            qj, bj, pj = 0, 0, (qi + pi) * (bi + 1)
        num, den = rng.randint(0, 50), rng.randint(1, 50)
        q = Fraction(num, den)
        if exact_value(num / den) != q or exact_value(-num / den) != -q:
            found.append(B.report("T8 float reading", num / den, exact_value(num / den), q))
        a = float(affinity_ratio(qi, pi, qj, pj))
        a0 = float(affinity_ratio(0, 0, qj, pj))
        if not B.close(a, Fraction(qj + pj, qi + pi)) or a0 != math.inf:
            found.append(B.report("T8 affinity_ratio", (qi, pi, qj, pj), (a, a0), Fraction(qj + pj, qi + pi)))
        want = (qi + pi) * (bi + 1) < (qj + pj) * (bj + 1)
        if bool(stays_on_holder(qi, pi, bi, qj, pj, bj)) != want:
            found.append(B.report("T8 stays_on_holder", (qi, pi, bi, qj, pj, bj), not want, want))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T8",
        name="Hot-prefix condition and affinity ratio",
        statement="A prefix class with arrival share x cached on |M| of N instances fits on its holders iff "
        "x/(1-x) <= |M|/(N-|M|) <=> x <= |M|/N; the product keeps it on a holder while "
        "(BS_i+1)/(BS_j+1) < A = (Q_j+P_j)/(Q_i+P_i), and A -> oo as the cached share -> 1 for the ports.",
        sympy_statement=_statement,
        proof=_proof,
        numeric=stays_on_holder,
        holds_for={"reference": "affinity ratio bounded by (Q_j + n)/(Q_i + 1)",
                   "noqueue": "affinity ratio unbounded (A = oo on a full hit)",
                   "plain": "affinity ratio unbounded"},
        model_assumptions=("fluid model: identical instances, class confined to holders, the rest balanced",
                           "x = share, u = 1 - x, m = |M|, r = N - |M| (0 < x < 1, 0 < |M| < N for the ratio form)"),
        falsify=_falsify,
    )
