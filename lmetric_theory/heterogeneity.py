"""T9 — heterogeneous instances: the scale stops cancelling.

If instance ``i`` processes at relative speed ``v_i``, its product measured in time is
``S_i / v_i`` (T7's cost divided by speed). A *common* scale cancels (T1) but
per-instance scales do not: with ``r = S_i/S_j`` and ``rho = v_i/v_j``,

    (S_i - S_j)(S_i/v_i - S_j/v_j) = (S_j^2 / v_i) (r - 1)(r - rho),

so the two *strictly* prefer different instances iff ``r`` lies strictly between 1 and
``rho``. With ties (lowest index first, ``i < j``) the *picks* differ iff
``min(1, rho) < r <= max(1, rho)``: e.g. ``S = [100, 100]``, ``v = [1, 2]`` (``r = 1``)
— the plain product ties and picks 0, the normalised one picks 1. With equal speeds
(``rho = 1``) the interval is empty: never.

>>> import numpy as np
>>> from lmetric_theory.conditions import heterogeneity_flip
>>> heterogeneity_flip(np.array([100., 120.]), np.array([1., 2.]))
True
>>> heterogeneity_flip(np.array([100., 120.]), np.array([1., 1.]))
False
>>> heterogeneity_flip(np.array([100., 100.]), np.array([1., 2.]))
True
"""

from __future__ import annotations

import sympy as sp

from . import bruteforce as B
from .conditions import heterogeneity_flip, speed_dispersion, speed_normalised_scores
from .theorem import Step, Theorem, eq, gt, proves

__all__ = ["theorem"]


def _parts():
    Si, Sj, vi, vj, v = sp.symbols("S_i S_j v_i v_j v", positive=True)
    r, rho = Si / Sj, vi / vj
    return (
        eq((Si - Sj) * (Si / vi - Sj / vj), Sj**2 / vi * (r - 1) * (r - rho)),
        gt(sp.cancel((Si - Sj) * (Si / vi - Sj / vj) / ((r - 1) * (r - rho)))),
        eq(Si / v - Sj / v, (Si - Sj) / v),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    ident, sign, equal = _parts()
    return [
        proves("(S_i - S_j)(S_i/v_i - S_j/v_j) = (S_j^2/v_i)(r - 1)(r - rho)", ident),
        proves("the factor S_j^2/v_i is positive: strict disagreement <=> (r - 1)(r - rho) < 0", sign),
        proves("equal speeds: normalised difference is the plain one over v (never disagree)", equal),
    ]


def _falsify(rng, samples: int) -> list[str]:
    found = []
    for _ in range(samples):
        n = rng.randint(2, 5)
        s, v = B.rand_pos(rng, n), B.rand_pos(rng, n)
        if rng.random() < 0.3:
            s[1] = s[0]  # a tie of the plain product
        if speed_dispersion(v[:1]) != 1 or heterogeneity_flip(s[:1], v[:1]):
            found.append(B.report("T9 one instance", (s[:1], v[:1]), speed_dispersion(v[:1]), 1))
        norm = speed_normalised_scores(s, v)
        disp = speed_dispersion(v)
        if not all(B.close(g, a / b) for g, a, b in zip(norm, s, v)) or not B.close(disp, max(v) / min(v)):
            found.append(B.report("T9 speed helpers", (s, v), (norm, disp), "exact"))
        if not (B.rejects(heterogeneity_flip, s, [0] * n) and B.rejects(speed_normalised_scores, s, [0] * n)
                and B.rejects(speed_dispersion, [0] * n) and B.rejects(speed_dispersion, [])):
            found.append(f"T9 accepted a zero speed: {s}")
        want = B.argmin(s) != B.argmin([a / b for a, b in zip(s, v)])
        if heterogeneity_flip(s, v) != want:
            found.append(B.report("T9 heterogeneity_flip", (s, v), not want, want))
        r, rho = s[0] / s[1], v[0] / v[1]
        pair = B.argmin(s[:2]) != B.argmin([s[0] / v[0], s[1] / v[1]])
        if pair != (min(1, rho) < r <= max(1, rho)):
            found.append(B.report("T9 pairwise statement", (s[:2], v[:2]), not pair, pair))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T9",
        name="Heterogeneous instances",
        statement="With per-instance speeds v_i the product no longer cancels the scale: the plain and the "
        "speed-normalised product S_i/v_i strictly disagree on a pair iff r = S_i/S_j lies strictly between 1 and "
        "rho = v_i/v_j; with lowest-index ties the picks of i < j differ iff min(1, rho) < r <= max(1, rho).",
        sympy_statement=_statement,
        proof=_proof,
        numeric=heterogeneity_flip,
        holds_for={"reference": "holds", "noqueue": "holds where scores are positive", "plain": "holds where scores are positive"},
        falsify=_falsify,
    )
