"""T10 — staleness and herding.

With snapshot age ``delta`` and arrival rate ``Lambda`` about ``Lambda delta``
decisions see one snapshot. Without commit-time updates the score does not depend
on how many requests were already sent (``d g/d m = 0``), so all of them go to one
instance. With updates (``x += P``, ``y += 1`` per commit) instance ``i`` absorbs
requests until ``g(m) = (x_i + m P)(y_i + m) - S_j > 0`` (``S_j`` the runner-up).
``g`` is increasing for ``m >= 0`` and ``g(0) <= 0``, so the herding window is
``m* = floor(m+) + 1`` with ``m+`` the positive root

    m+ = (-(x_i + P y_i) + sqrt((x_i + P y_i)^2 + 4 P (S_j - x_i y_i))) / (2 P).

Herding beyond what fresh state allows happens when ``Lambda delta > m*``.

>>> from lmetric_theory.conditions import herding_window
>>> herding_window(x_i=1000, y_i=2, runner_up=9000, p=500)
3
"""

from __future__ import annotations

import sympy as sp

from .conditions import herding_window
from .theorem import Step, Theorem, holds, identity, positive

__all__ = ["theorem", "herding_root"]


def herding_root():
    """The positive root ``m+`` as a sympy expression in ``x_i, y_i, S_j, P``."""
    xi, yi, Sj, P = sp.symbols("x_i y_i S_j P", positive=True)
    b = xi + P * yi
    return (-b + sp.sqrt(b**2 + 4 * P * (Sj - xi * yi))) / (2 * P), (xi, yi, Sj, P)


def _proof() -> list[Step]:
    root, (xi, yi, Sj, P) = herding_root()
    m = sp.Symbol("m", nonnegative=True)
    g = (xi + m * P) * (yi + m) - Sj
    g_noupdate = xi * yi - Sj  # no commit-time update: the state never moves
    steps = [
        identity("without commit-time updates the score does not move: dg/dm = 0",
                 sp.diff(g_noupdate + 0 * m, m), sp.Integer(0)),
        positive("with updates g is strictly increasing for m >= 0: g'(m) = P(y_i+m) + (x_i+mP) > 0", sp.diff(g, m)),
        identity("m+ is a root of g", sp.expand(g.subs(m, root)), sp.Integer(0)),
    ]
    # exact example: x=1000, y=2, S_j=9000, P=500: m+ = (-2000 + sqrt(18e6))/1000 = 2.24
    ex = {xi: 1000, yi: 2, Sj: 9000, P: 500}
    mplus = root.subs(ex)
    mstar = sp.floor(mplus) + 1
    gex = g.subs(ex)
    steps += [
        holds("example: m* = floor(m+) + 1 = 3", sp.Eq(mstar, 3)),
        holds("example: after m*-1 commits i still wins (g <= 0)", sp.Le(gex.subs(m, mstar - 1), 0)),
        holds("example: after m* commits the pick moves (g > 0)", sp.Gt(gex.subs(m, mstar), 0)),
    ]
    return steps


def _statement() -> sp.Basic:
    root, _ = herding_root()
    return sp.Eq(sp.Symbol("m_star"), sp.floor(root) + 1)


def theorem() -> Theorem:
    return Theorem(
        id="T10",
        name="Staleness and herding",
        statement="About Lambda*delta decisions share one snapshot; without commit-time updates they all go to one "
        "instance; with updates one instance absorbs m* = least m with (x_i + mP)(y_i + m) > S_j requests.",
        assumptions=("all requests in the window have the same P on the argmin", "runner-up state unchanged during the window",
                     "x_i, y_i, P > 0"),
        sympy_statement=_statement,
        proof=_proof,
        numeric=herding_window,
        holds_for={"reference": "holds", "noqueue": "holds; with P = 0 the window is unbounded",
                   "plain": "holds; with P = 0 the window is unbounded"},
        closed_form="m* = floor(m+) + 1, m+ = (-(x_i+P y_i) + sqrt((x_i+P y_i)^2 + 4P(S_j - x_i y_i)))/(2P)",
    )
