"""T10 — staleness and herding.

With snapshot age ``delta`` and arrival rate ``Lambda`` about ``Lambda delta``
decisions see one snapshot. Without commit-time updates the score does not depend
on how many requests were already sent, so all of them go to one instance. With
updates (``x += P``, ``y += 1`` per commit) instance ``i`` absorbs requests until
``g(m) = (x_i + m P)(y_i + m) - S_j > 0`` (``S_j`` the runner-up). With
``b = x_i + P y_i`` and the discriminant written as ``(x_i - P y_i)^2 + 4 P S_j > 0``,
``g(m) = P (m - m+)(m - m-)`` with ``m- < 0``, so for ``m >= 0``: ``g(m) > 0 <=> m > m+``,

    m+ = (-(x_i + P y_i) + sqrt((x_i - P y_i)^2 + 4 P S_j)) / (2 P),

and the herding window — the least integer ``m >= 1`` with ``m > m+`` — is
``max(1, floor(m+) + 1)`` by the definition of floor (not ``ceil(m+)``: at an integer
root the score ties the runner-up and, ties going to the lowest index, may stay; the
falsifier draws such integer roots on purpose).

Herding beyond what fresh state allows happens when ``Lambda delta > m*``.

>>> from lmetric_theory.conditions import herding_window
>>> herding_window(x_i=1000, y_i=2, runner_up=9000, p=500)
3
"""

from __future__ import annotations

import math

import sympy as sp

from . import bruteforce as B
from .conditions import herding_window, herds
from .theorem import Step, Theorem, eq, gt, proves

__all__ = ["theorem", "herding_root"]


def herding_root():
    """The roots ``(m+, m-)`` as sympy expressions in ``x_i, y_i, S_j, P``."""
    xi, yi, Sj, P = sp.symbols("x_i y_i S_j P", positive=True)
    b = xi + P * yi
    disc = (xi - P * yi) ** 2 + 4 * P * Sj
    return ((-b + sp.sqrt(disc)) / (2 * P), (-b - sp.sqrt(disc)) / (2 * P)), (xi, yi, Sj, P)


def _parts():
    (mp, mm), (xi, yi, Sj, P) = herding_root()
    m = sp.Symbol("m", nonnegative=True)
    g = (xi + m * P) * (yi + m) - Sj
    return (
        gt(sp.diff(g, m)),
        eq(g, P * (m - mp) * (m - mm)),
        gt(-mm),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    increasing, factored, negative_root = _parts()
    return [
        proves("with updates g is strictly increasing for m >= 0: g'(m) = P(y_i+m) + (x_i+mP) > 0", increasing),
        proves("g(m) = P (m - m+)(m - m-)", factored),
        proves("m- < 0, so for m >= 0: g(m) > 0 <=> m > m+; least such integer = floor(m+) + 1", negative_root),
    ]


def _loop(x, y, s, p):
    """Brute force: commit requests to i until its score exceeds the runner-up."""
    m = 1
    while (x + m * p) * (y + m) <= s:
        m += 1
    return m


def _falsify(rng, samples: int) -> list[str]:
    found = []
    if not (B.rejects(herding_window, -1, 1, 1, 1) and B.rejects(herding_window, 1, -1, 1, 1)
            and B.rejects(herding_window, 1, 1, 1, -1)):
        found.append("T10 herding_window accepted negative input")
    if herding_window(0, 3, 5, 0) != math.inf or herds(1e9, 1e9, math.inf):
        found.append("T10 a score that never grows must absorb every request (window inf, never herds)")
    (mp, _), (sx, sy, ss, sP) = herding_root()
    for t in range(samples):
        x, y, p = B.rand_pos(rng, 3)
        if rng.random() < 0.4:  # an integer root: the score ties the runner-up after m0 commits
            m0 = rng.randint(1, 5)
            s = (x + m0 * p) * (y + m0)
        else:
            s = x * y + B.rand_pos(rng, 1)[0] * rng.randint(0, 30)
        want = _loop(x, y, s, p)
        got = herding_window(x, y, s, p)
        if got != want:
            found.append(B.report("T10 herding_window", (x, y, s, p), got, want))
        if herding_window(x, y, s, 0) != _loop(x, y, s, 0) or herding_window(x, 0, s, p) != _loop(x, 0, s, p):
            found.append(B.report("T10 herding_window p=0", (x, y, s), herding_window(x, y, s, 0), _loop(x, y, s, 0)))
        rate, age = B.rand_pos(rng, 2)
        if herds(rate, age, want) != (rate * age > want):
            found.append(B.report("T10 herds", (rate, age, want), herds(rate, age, want), rate * age > want))
        if t < max(1, samples // 4):  # the closed form itself, evaluated exactly by sympy
            root = mp.xreplace({sx: sp.Rational(x), sy: sp.Rational(y), ss: sp.Rational(s), sP: sp.Rational(p)})
            closed = max(1, int(sp.floor(root)) + 1)
            if closed != want:
                found.append(B.report("T10 closed form", (x, y, s, p), closed, want))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T10",
        name="Staleness and herding",
        statement="About Lambda*delta decisions share one snapshot; without commit-time updates they all go to one "
        "instance; with updates one instance absorbs m* = least m >= 1 with (x_i + mP)(y_i + m) > S_j requests, "
        "m* = max(1, floor(m+) + 1).",
        sympy_statement=_statement,
        proof=_proof,
        numeric=herding_window,
        holds_for={"reference": "holds", "noqueue": "holds; with P = 0 the window is unbounded",
                   "plain": "holds; with P = 0 the window is unbounded"},
        model_assumptions=("all requests in the window have the same P on the argmin",
                           "runner-up state unchanged during the window"),
        falsify=_falsify,
    )
