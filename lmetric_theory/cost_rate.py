"""T11 — the cost-optimal exchange rate.

T7's marginal cost in the prefill-dominated limit, in units of kappa, is
``c_i = Q_i + P_i + BS_i P_i``. On the product's own indicators ``x = Q + P``,
``y = BS + 1``:

* **common uncached length P** (no instance holds the prefix):
  ``c_i = x_i + P y_i - P`` — exactly the linear rule with ``lam* = P`` (the constant
  ``-P`` does not change the order). So the product picks a cost-optimal instance
  iff ``P`` lies in the agreement interval ``[L, U]`` of its pick (T6, ties allowed);
* **per-instance P_i** (cache hits): ``c_i = x_i + P_i (y_i - 1)`` — the rate is set
  per instance, so no single ``lam`` is implied; a linear rule on ``(x, y)`` is
  cost-optimal on a state iff some cost minimiser is on the lower-left hull of the
  points ``(y_j, x_j)`` (T6); **no linear rule is cost-optimal** when every cost
  minimiser is off it — e.g. dominated in ``(y, x)``: ``(Q, P, BS) = (0, 100, 4)``
  costs 500 with ``(x, y) = (100, 5)``, ``(100, 1, 5)`` costs 106 with ``(101, 6)``;
* **decode and step terms**: ``Delta/kappa = x + P y - P + e`` with
  ``e = (T0/kappa) S* + D`` — linear in ``(x + e, y)`` with ``lam* = P``; with unequal
  ``e`` across instances the rule on ``(x, y)`` alone can again be beaten.

>>> from lmetric_theory.conditions import cost_optimal_rate, product_cost_optimal
>>> cost_optimal_rate([512, 512])
Fraction(512, 1)
>>> product_cost_optimal([0, 0], [100, 100], [0, 1])
True
"""

from __future__ import annotations

import math

import sympy as sp

from . import bruteforce as B
from .conditions import agreement_interval, cost_optimal_rate, linear_cost_optimal_rates, product_cost_optimal
from .cost_model import closed_form_cost
from .theorem import Step, Theorem, eq, holds, proves

__all__ = ["theorem", "NO_LINEAR_WITNESS"]

#: (Q, P, BS) of two instances on which the cheaper one is dominated in (y, x).
NO_LINEAR_WITNESS = ((0, 100, 4), (100, 1, 5))


def _parts():
    Qk, BSk, Qj, BSj, Q, BS, D, S = sp.symbols("Q_k BS_k Q_j BS_j Q BS D S", nonnegative=True)
    P, T0, kappa = sp.symbols("P T_0 kappa", positive=True)
    x, y, Pi = sp.symbols("x_i y_i P_i", positive=True)
    cost = lambda q, p, bs: q + p + bs * p  # noqa: E731  T7, prefill-dominated, units of kappa
    return (
        eq(cost(x - Pi, Pi, y - 1), x + Pi * y - Pi),
        eq(cost(Qk, P, BSk) - cost(Qj, P, BSj), ((Qk + P) + P * (BSk + 1)) - ((Qj + P) + P * (BSj + 1))),
        eq(closed_form_cost(Q, P, BS, t0=T0, kappa=kappa, steps=S, decode_tokens=D) / kappa,
           (Q + P) + P * (BS + 1) - P + (T0 / kappa * S + D)),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    linear, pairwise, decode = _parts()
    (qa, pa, ba), (qb, pb, bb) = NO_LINEAR_WITNESS
    ca, cb = qa + pa + ba * pa, qb + pb + bb * pb
    pinned = sp.Eq(sp.Tuple(ca, cb, qa + pa, ba + 1, qb + pb, bb + 1), sp.Tuple(500, 106, 100, 5, 101, 6), evaluate=False)
    return [
        proves("cost on x = Q + P, y = BS + 1: c_i = x_i + P_i y_i - P_i, a linear rule at the instance's own "
               "rate P_i", linear),
        proves("common P: cost differences are linear(P) differences, so the product is cost-optimal iff P is in "
               "its pick's T6 interval", pairwise),
        proves("with the step and decode terms: Delta/kappa = x + P y - P + (T0/kappa) S* + D", decode),
        holds("witness: costs (500, 106) and points (x, y) = (100, 5), (101, 6)", pinned),
        holds("witness: the cheaper instance b costs less", sp.Lt(cb, ca, evaluate=False)),
        holds("witness: yet b is dominated in (y, x), so no linear rule picks it",
              sp.And(sp.Gt(qb + pb, qa + pa, evaluate=False), sp.Gt(bb + 1, ba + 1, evaluate=False), evaluate=False)),
    ]


def _falsify(rng, samples: int) -> list[str]:
    found = []
    for bad in (([-1, 0], [1, 1], [0, 0]), ([0, 0], [0, 1], [0, 0]), ([0, 0], [1, 1], [0, -1]), ([0], [1, 1], [0]),
                ([0, 0], [1, 1], [0]), ([], [], [])):
        if not B.rejects(product_cost_optimal, *bad):
            found.append(f"T11 accepted an invalid state {bad}")
    if not B.rejects(product_cost_optimal, [0, 0], [1, 1], [0, 0], extra=[-1, 0]):
        found.append("T11 accepted a negative extra term")
    for _ in range(samples):
        n = rng.randint(2, 5)
        q, bs = B.rand_nonneg_int(rng, n), B.rand_nonneg_int(rng, n)
        p_common = B.rand_pos_int(rng, 1, 8)[0]
        # common P: product cost-optimal <=> P in the T6 interval of its pick <=> brute force
        x = [qv + p_common for qv in q]
        y = [bv + 1 for bv in bs]
        k = B.argmin([a * b for a, b in zip(x, y)])
        costs = [qv + p_common + bv * p_common for qv, bv in zip(q, bs)]
        brute = k in B.argmins(costs)
        ai = agreement_interval(x, y)
        got = (product_cost_optimal(q, p_common, bs), ai.lower <= p_common <= ai.upper, cost_optimal_rate([p_common] * n))
        if got != (brute, brute, p_common):
            found.append(B.report("T11 common P", (q, p_common, bs), got, (brute, brute, p_common)))
        # per-instance P and extra terms: is any linear rule cost-optimal?
        p = B.rand_pos_int(rng, n, 8)
        extra = B.rand_nonneg_int(rng, n, 3) if rng.random() < 0.5 else [0] * n
        x = [qv + pv for qv, pv in zip(q, p)]
        costs = [qv + pv + bv * pv + ev for qv, pv, bv, ev in zip(q, p, bs, extra)]
        want = B.exists_rate(x, y, B.argmins(costs))
        got_rates = linear_cost_optimal_rates(q, p, bs, extra)
        if bool(got_rates) != want:
            found.append(B.report("T11 linear_cost_optimal_rates", (q, p, bs, extra), got_rates, want))
        (qa, pa, ba), (qb, pb, bb) = NO_LINEAR_WITNESS
        if linear_cost_optimal_rates([qa, qb], [pa, pb], [ba, bb]) != () or \
                B.argmins([qa + pa + ba * pa, qb + pb + bb * pb]) != {1}:
            found.append("T11 the no-linear-rule witness is not one")
        if cost_optimal_rate([p_common]) != p_common:
            found.append(B.report("T11 cost_optimal_rate one instance", p_common, cost_optimal_rate([p_common]), p_common))
        want_rates = tuple(a for a in (agreement_interval(x, y, pick=j) for j in sorted(B.argmins(costs))) if not a.empty)
        if got_rates != want_rates:
            found.append(B.report("T11 intervals", (q, p, bs, extra), got_rates, want_rates))
        for ai in got_rates:  # inside each reported interval linear really is cost-optimal
            hi = ai.upper if ai.upper != math.inf else ai.lower + 1
            lam = (ai.lower + hi) / 2 if (ai.lower + hi) > 0 else hi
            if not B.linear_picks(x, y, lam) & B.argmins(costs):
                found.append(B.report("T11 interval", (q, p, bs, extra), ai, "cost-optimal inside"))
        if rng.random() < 0.5 and len(set(p)) > 1 and cost_optimal_rate(p) is not None:
            found.append(B.report("T11 cost_optimal_rate", p, cost_optimal_rate(p), None))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T11",
        name="Cost-optimal exchange rate",
        statement="With a common uncached length P the marginal cost (T7) is the linear rule with lam* = P, so the "
        "product is cost-optimal iff P lies in its pick's T6 interval; with per-instance P_i (cache hits) or unequal "
        "step/decode terms the rate moves per instance, and no linear rule is cost-optimal when every cost minimiser "
        "is off the lower-left hull of (y, x) (e.g. dominated).",
        sympy_statement=_statement,
        proof=_proof,
        numeric=product_cost_optimal,
        holds_for={"reference": "holds (x = Q + P, y = BS + 1)", "noqueue": "x = P: cost = x + P y - P + Q, Q breaks it",
                   "plain": "not applicable"},
        model_assumptions=("T7 cost model A1-A5", "x = Q + P, y = BS + 1 (the reference indicators)"),
        falsify=_falsify,
    )
