"""T13 — the product's hidden constants.

The reference score hides two constants: the ``+1`` in ``BS + 1`` and the unit weight
of ``P`` in ``Q + P``. Generalise to ``S_i(alpha, beta) = (Q_i + alpha P_i)(BS_i + beta)``:

* linear in ``beta``: ``S_i = (Q_i + alpha P_i) BS_i + beta (Q_i + alpha P_i)``;
* linear in ``alpha``: ``S_i = Q_i (BS_i + beta) + alpha P_i (BS_i + beta)``.

So as either constant varies the scores are N lines and the pick is their lower
envelope: the set of parameter values where line ``k`` is the argmin is an interval
(the difference of two lines is affine, so if ``k`` wins at two values it wins between
them), hence at most **N intervals** of stability, computed exactly in O(N) per
interval (:func:`lmetric_theory.conditions.stability_intervals`). Two lines cross at
``beta_kj = (a_j - a_k)/(b_k - b_j)``.

Cost-optimal ``beta``: against T7's cost ``c = Q + P + BS P`` (``alpha = 1``),
``S(beta) - c = Q BS + (beta - 1)(Q + P)``; the ``beta`` values on which the product is
cost-optimal are the stability intervals whose pick minimises ``c``
(:func:`lmetric_theory.conditions.cost_optimal_betas`) — possibly none.

>>> from lmetric_theory.conditions import beta_stability
>>> beta_stability([0, 0], [100, 10], [0, 5]).picks
(0, 1)
"""

from __future__ import annotations

import math

import sympy as sp

from . import bruteforce as B
from .conditions import alpha_stability, beta_stability, cost_optimal_betas, stability_intervals
from .theorem import Step, Theorem, eq, gt, proves

__all__ = ["theorem"]


def _parts():
    Q, P, BS, ak, aj, bj = sp.symbols("Q P BS a_k a_j b_j", nonnegative=True)
    alpha, beta, e, u, v, t1, t2 = sp.symbols("alpha beta e u v t_1 t_2", positive=True)
    S = (Q + alpha * P) * (BS + beta)
    bk = bj + e  # line k is steeper than line j
    diff = lambda t: (ak + t * bk) - (aj + t * bj)  # noqa: E731
    s1, s2 = u / (u + v), v / (u + v)  # convex weights, both positive
    cost = Q + P + BS * P
    return (
        eq(S, (Q + alpha * P) * BS + beta * (Q + alpha * P)),
        eq(S, Q * (BS + beta) + alpha * P * (BS + beta)),
        eq(diff(s1 * t1 + s2 * t2), s1 * diff(t1) + s2 * diff(t2)),
        gt(s1),
        eq(s1 + s2, 1),
        gt(s2),
        eq(diff(beta), e * (beta - (aj - ak) / e)),
        eq(S.subs(alpha, 1) - cost, Q * BS + (beta - 1) * (Q + P)),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    in_beta, in_alpha, convex, w1, total, w2, crossing, cost = _parts()
    return [
        proves("linear in beta: S = (Q + alpha P) BS + beta (Q + alpha P)", in_beta),
        proves("linear in alpha: S = Q (BS + beta) + alpha P (BS + beta)", in_alpha),
        proves("the difference of two lines is affine: at a convex combination of t1, t2 it is the combination", convex),
        proves("the weights are convex: s1 > 0, s2 > 0, s1 + s2 = 1", w1),
        proves("... they sum to one", total),
        proves("... so if k wins at t1 and t2 it wins between: <= N stability intervals", w2),
        proves("two lines cross once, at beta_kj = (a_j - a_k)/(b_k - b_j)", crossing),
        proves("against T7's cost (alpha = 1): S(beta) - c = Q BS + (beta - 1)(Q + P)", cost),
    ]


def _probe_points(m):
    edges = (m.lo,) + m.breaks + ((m.hi,) if m.hi != math.inf else (m.breaks[-1] + 3 if m.breaks else m.lo + 3,))
    return [(edges[i] + edges[i + 1]) / 2 for i in range(len(edges) - 1)]


def _falsify(rng, samples: int) -> list[str]:
    found = []
    for _ in range(samples):
        n = rng.randint(2, 5)
        q, bs = B.rand_nonneg_int(rng, n), B.rand_nonneg_int(rng, n)
        p = B.rand_pos_int(rng, n, 8)
        alpha, beta = B.rand_pos(rng, 2)
        for name, m, score in (
            ("beta", beta_stability(q, p, bs, alpha=alpha),
             lambda t: [(a + alpha * b) * (c + t) for a, b, c in zip(q, p, bs)]),
            ("alpha", alpha_stability(q, p, bs, beta=beta),
             lambda t: [(a + t * b) * (c + beta) for a, b, c in zip(q, p, bs)]),
        ):
            pieces = len(m.picks)
            mids = _probe_points(m)
            ok = (pieces <= n and len(set(m.picks)) == pieces and list(m.breaks) == sorted(set(m.breaks))
                  and all(m.picks[i] == B.argmin(score(t)) for i, t in enumerate(mids))
                  and all(m.pick_at(t) == B.argmin(score(t)) for t in m.breaks)
                  and all(m.picks[i] != m.picks[i + 1] for i in range(pieces - 1)))
            if not ok:
                found.append(B.report(f"T13 {name}_stability", (q, p, bs, alpha, beta), m, "exact envelope"))
        # the defaults are the reference constants: alpha = beta = 1, beta from 0
        ref = (beta_stability(q, p, bs), alpha_stability(q, p, bs))
        if ref[0].lo != 0 or ref[1].lo != 0 or \
                ref[0].pick_at(0) != B.argmin([(a + b) * c for a, b, c in zip(q, p, bs)]) or \
                ref[1].pick_at(1) != B.argmin([(a + b) * (c + 1) for a, b, c in zip(q, p, bs)]):
            found.append(B.report("T13 default constants", (q, p, bs), ref, "alpha = beta = 1, from 0"))
        if not (B.rejects(stability_intervals, [1, 2], [1]) and B.rejects(stability_intervals, [], [])):
            found.append("T13 stability_intervals accepted mismatched lines")
        lo = B.rand_pos(rng, 1)[0]
        shifted = stability_intervals([(a + b) * c for a, b, c in zip(q, p, bs)], [a + b for a, b in zip(q, p)], lo=lo)
        probe = [t for t in _probe_points(shifted)]
        if shifted.lo != lo or any(k != B.argmin([(a + b) * (c + t) for a, b, c in zip(q, p, bs)])
                                   for k, t in zip(shifted.picks, probe)):
            found.append(B.report("T13 from lo", (q, p, bs, lo), shifted, "exact envelope from lo"))
        full = beta_stability(q, p, bs)
        if full.breaks:  # cut at a break: the piece ending there is kept, nothing after it
            cut = beta_stability(q, p, bs, hi=full.breaks[0])
            if cut.breaks or cut.picks != full.picks[:1]:
                found.append(B.report("T13 hi at a break", (q, p, bs), cut, full.picks[:1]))
        costs = [a + b + c * b for a, b, c in zip(q, p, bs)]
        best = B.argmins(costs)
        m = beta_stability(q, p, bs)
        good = cost_optimal_betas(q, p, bs)
        edges = (m.lo,) + m.breaks + (m.hi,)
        if any((s, e) not in list(zip(edges, edges[1:])) for s, e in good):
            found.append(B.report("T13 cost_optimal_betas pieces", (q, p, bs), good, "pieces of the stability map"))
        for lo, t in zip((m.lo,) + m.breaks, _probe_points(m)):
            inside = any(a == lo for a, _ in good)
            if inside != (B.argmin([(a + b) * (c + t) for a, b, c in zip(q, p, bs)]) in best):
                found.append(B.report("T13 cost_optimal_betas", (q, p, bs), good, f"beta={t}"))
                break
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T13",
        name="The product's hidden constants",
        statement="(Q + alpha P)(BS + beta) is linear in beta and in alpha, so the pick is the lower envelope of N "
        "lines: at most N intervals of beta (or alpha) on which it is stable, found exactly in O(N) each; the "
        "cost-optimal beta are the intervals whose pick minimises T7's cost (possibly none).",
        sympy_statement=_statement,
        proof=_proof,
        numeric=beta_stability,
        holds_for={"reference": "alpha = beta = 1", "noqueue": "Q = 0: lines through the origin in alpha",
                   "plain": "beta = 0, Q = 0"},
        model_assumptions=("alpha, beta > 0", "ties to the lowest index"),
        falsify=_falsify,
    )
