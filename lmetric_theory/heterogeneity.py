"""T9 — heterogeneous instances: the scale stops cancelling.

If instance ``i`` processes at relative speed ``v_i``, its product measured in time is
``S_i / v_i`` (T7's cost divided by speed). A *common* scale cancels (T1) but
per-instance scales do not: with ``r = S_i/S_j`` and ``rho = v_i/v_j``,

    (S_i - S_j)(S_i/v_i - S_j/v_j) = (S_j^2 / v_i) (r - 1)(r - rho),

so the plain and the speed-normalised product pick differently iff ``r`` lies strictly
between 1 and ``rho``. With equal speeds (``rho = 1``) the factor ``(r - 1)^2 >= 0``:
never.

>>> import numpy as np
>>> from lmetric_theory.conditions import heterogeneity_flip
>>> heterogeneity_flip(np.array([100., 120.]), np.array([1., 2.]))
True
>>> heterogeneity_flip(np.array([100., 120.]), np.array([1., 1.]))
False
"""

from __future__ import annotations

import sympy as sp

from .conditions import heterogeneity_flip
from .theorem import Step, Theorem, identity, nonnegative, positive

__all__ = ["theorem"]


def _proof() -> list[Step]:
    Si, Sj, vi, vj, v = sp.symbols("S_i S_j v_i v_j v", positive=True)
    r, rho = Si / Sj, vi / vj
    rr = sp.Symbol("r", positive=True)
    return [
        identity("(S_i - S_j)(S_i/v_i - S_j/v_j) = (S_j^2/v_i)(r - 1)(r - rho)",
                 (Si - Sj) * (Si / vi - Sj / vj), Sj**2 / vi * (r - 1) * (r - rho)),
        positive("the factor S_j^2/v_i is positive: disagreement <=> (r - 1)(r - rho) < 0", Sj**2 / vi),
        identity("equal speeds: normalised difference is the plain one over v", Si / v - Sj / v, (Si - Sj) / v),
        nonnegative("equal speeds (rho = 1): (r - 1)(r - 1) >= 0, so no disagreement", (rr - 1) * (rr - 1)),
    ]


def _statement() -> sp.Basic:
    r, rho = sp.symbols("r rho", positive=True)
    return sp.Equivalent(sp.Symbol("plain_and_normalised_disagree"), sp.Lt((r - 1) * (r - rho), 0))


def theorem() -> Theorem:
    return Theorem(
        id="T9",
        name="Heterogeneous instances",
        statement="With per-instance speeds v_i the product no longer cancels the scale: the plain and the "
        "speed-normalised product S_i/v_i disagree on a pair iff S_i/S_j lies strictly between 1 and v_i/v_j.",
        assumptions=("S_i, S_j > 0", "v_i, v_j > 0 relative speeds (tokens per unit time)"),
        sympy_statement=_statement,
        proof=_proof,
        numeric=heterogeneity_flip,
        holds_for={"reference": "holds", "noqueue": "holds where scores are positive", "plain": "holds where scores are positive"},
        closed_form="disagree <=> (S_i/S_j - 1)(S_i/S_j - v_i/v_j) < 0",
    )
