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

from .conditions import stays_on_holder
from .theorem import Step, Theorem, identity, positive, truth

__all__ = ["theorem", "affinity_ratio_expr"]


def affinity_ratio_expr():
    """``A(h) = (Q_j + n) / (Q_i + n (1 - h))`` as a sympy expression in
    ``Q_i, Q_j, n, h`` (holder has cached share ``h``, non-holder none)."""
    Qi, Qj = sp.symbols("Q_i Q_j", nonnegative=True)
    n = sp.Symbol("n", positive=True)
    h = sp.Symbol("h", positive=True)
    return (Qj + n) / (Qi + n * (1 - h)), (Qi, Qj, n, h)


def _proof() -> list[Step]:
    x, u, m, r, lam = sp.symbols("x u m r Lambda", positive=True)
    N = m + r
    Qi, Pi, Bi, Qj, Pj, Bj = sp.symbols("Q_i P_i BS_i Q_j P_j BS_j", nonnegative=True)
    Pi1 = sp.Symbol("P_i", positive=True)  # reference: P >= 1
    A = (Qj + Pj) / (Qi + Pi)
    expr, (qi, qj, n, h) = affinity_ratio_expr()
    qi_pos = sp.Symbol("Q_i", positive=True)
    limit_port = sp.limit(expr.subs({qi: 0, qj: 0}), h, 1, "-")
    limit_ref = sp.limit(expr.subs(qi, qi_pos), h, 1, "-")
    return [
        identity("fluid: per-holder class load minus fair share = Lambda (x N - m)/(m N)",
                 x * lam / m - lam / N, lam * (x * N - m) / (m * N)),
        positive("the factor Lambda/(m N) is positive, so feasible <=> x <= m/N", lam / (m * N)),
        identity("ratio form (u = 1 - x, r = N - m): x/u - m/r = (x r - m u)/(u r)", x / u - m / r, (x * r - m * u) / (u * r)),
        identity("and x N - m = x r - m u when x + u = 1", (x * N - m).subs(x, 1 - u), (x * r - m * u).subs(x, 1 - u)),
        positive("u r > 0, so Equation 2 <=> x <= m/N", u * r),
        identity("S_i - S_j = (Q_i+P_i)(BS_j+1)((BS_i+1)/(BS_j+1) - A)",
                 (Qi + Pi) * (Bi + 1) - (Qj + Pj) * (Bj + 1), (Qi + Pi) * (Bj + 1) * ((Bi + 1) / (Bj + 1) - A)),
        positive("reference: (Q_i+P_i)(BS_j+1) > 0 since P_i >= 1", (Qi + Pi1) * (Bj + 1)),
        truth("ports (empty queues): A(h) -> oo as the cached share h -> 1",
              sp.Eq(sp.Limit(expr.subs({qi: 0, qj: 0}), h, 1, "-"), sp.oo, evaluate=False), limit_port == sp.oo, "sympy.limit"),
        truth("reference with a holder backlog Q_i > 0: A(h) -> (Q_j + n)/Q_i, finite",
              sp.Eq(sp.Limit(expr, h, 1, "-"), (qj + n) / qi_pos, evaluate=False),
              sp.simplify(limit_ref - (qj + n) / qi_pos) == 0, "sympy.limit"),
        identity("reference with an idle holder: P_i >= 1 caps A at Q_j + n (h = 1 - 1/n)",
                 expr.subs({qi: 0, h: 1 - 1 / n}), qj + n),
    ]


def _statement() -> sp.Basic:
    x, m, N = sp.symbols("x m N", positive=True)
    return sp.Equivalent(sp.Le(x / (1 - x), m / (N - m)), sp.Le(x, m / N))


def theorem() -> Theorem:
    return Theorem(
        id="T8",
        name="Hot-prefix condition and affinity ratio",
        statement="A prefix class with arrival share x cached on |M| of N instances fits on its holders iff "
        "x/(1-x) <= |M|/(N-|M|) <=> x <= |M|/N; the product keeps it on a holder while "
        "(BS_i+1)/(BS_j+1) < A = (Q_j+P_j)/(Q_i+P_i), and A -> oo as the cached share -> 1 for the ports.",
        assumptions=("fluid model: identical instances, class confined to holders, the rest balanced",
                     "0 < x < 1, 0 < |M| < N for the ratio form", "reference: P_i >= 1"),
        sympy_statement=_statement,
        proof=_proof,
        numeric=stays_on_holder,
        holds_for={"reference": "affinity ratio bounded by (Q_j + n)/(Q_i + 1)",
                   "noqueue": "affinity ratio unbounded (A = oo on a full hit)",
                   "plain": "affinity ratio unbounded"},
        closed_form="x/(1-x) <= |M|/(N-|M|) <=> x <= |M|/N;  A(h) = (Q_j + n)/(Q_i + n(1-h))",
    )
