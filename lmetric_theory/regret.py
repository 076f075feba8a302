"""T12 — the product's regret against the cost-optimal pick.

With T7's cost ``c_i = S_i - Q_i BS_i + e_i`` (``S_i = (Q_i+P_i)(BS_i+1)`` the product,
``e_i = (T0/kappa) S*_i + D_i`` the step and decode terms, 0 in the prefill-dominated
limit), the product's pick ``k`` (``S_k <= S_j`` for all ``j``, so ``S_j* = S_k + w``
with ``w >= 0``) overpays the cost-optimal ``j*`` by

    R = c_k - c_j* = Q_j* BS_j* - Q_k BS_k + (e_k - e_j*) - w
      <= Q_j* BS_j* - Q_k BS_k + (e_k - e_j*) <= max_i Q_i BS_i + (max e - min e),

in units of kappa per decision (times kappa: seconds of total latency). Summed over
the decisions of a trace and divided by the requests, it bounds the product's *myopic*
excess of mean latency per request on its own trajectory; a simulator run compares
it with the measured mean TTFT gap to the cost-model rule (notebook 04).

>>> from lmetric_theory.conditions import regret
>>> r = regret([100, 0], [10, 10], [3, 20])
>>> r.regret <= r.bound <= r.cap
True
"""

from __future__ import annotations

import sympy as sp

from . import bruteforce as B
from .conditions import regret
from .cost_model import closed_form_cost
from .theorem import Step, Theorem, eq, proves

__all__ = ["theorem"]


def _parts():
    Sk, w, Qk, Bk, Qj, Bj, ek, ej, m1, m2 = sp.symbols("S_k w Q_k BS_k Q_j BS_j e_k e_j m_1 m_2", nonnegative=True)
    Sj = Sk + w  # the product picked k: S_j* >= S_k
    cost = lambda S, Q, BS, e: S - Q * BS + e  # noqa: E731
    R = cost(Sk, Qk, Bk, ek) - cost(Sj, Qj, Bj, ej)
    bound = Qj * Bj - Qk * Bk + (ek - ej)
    cap = (Qj * Bj + m1) + ((ek - ej) + m2)  # max Q BS = Q_j* BS_j* + m1, max e - min e = e_k - e_j* + m2
    T0, kappa = sp.symbols("T_0 kappa", positive=True)
    Pk, Pj, Ssk, Ssj, Dk, Dj = sp.symbols("P_k P_j S*_k S*_j D_k D_j", nonnegative=True)
    dk = closed_form_cost(Qk, Pk, Bk, t0=T0, kappa=kappa, steps=Ssk, decode_tokens=Dk)
    dj = closed_form_cost(Qj, Pj, Bj, t0=T0, kappa=kappa, steps=Ssj, decode_tokens=Dj)
    prod = lambda Q, P, BS: (Q + P) * (BS + 1)  # noqa: E731
    return (
        sp.Le(R, bound, evaluate=False),
        sp.Le(bound, cap, evaluate=False),
        eq(dk - dj, kappa * ((prod(Qk, Pk, Bk) - prod(Qj, Pj, Bj)) + Qj * Bj - Qk * Bk)
           + T0 * (Ssk - Ssj) + kappa * (Dk - Dj)),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    upper, cap, seconds = _parts()
    return [
        proves("regret R = c_k - c_j* with S_j* = S_k + w, w >= 0: R <= Q_j* BS_j* - Q_k BS_k + (e_k - e_j*)", upper),
        proves("<= max Q BS + (max e - min e)", cap),
        proves("in seconds: Delta_k - Delta_j* = kappa (S_k - S_j* + Q_j* BS_j* - Q_k BS_k) + T0 (S*_k - S*_j*) "
               "+ kappa (D_k - D_j*)", seconds),
    ]


def _falsify(rng, samples: int) -> list[str]:
    found = []
    for _ in range(samples):
        n = rng.randint(2, 6)
        q, bs = B.rand_nonneg_int(rng, n), B.rand_nonneg_int(rng, n)
        p = B.rand_pos_int(rng, n, 8)
        extra = B.rand_nonneg_int(rng, n, 3) if rng.random() < 0.5 else [0] * n
        k = B.argmin([(a + b) * (c + 1) for a, b, c in zip(q, p, bs)])
        costs = [a + b + c * b + e for a, b, c, e in zip(q, p, bs, extra)]
        j = B.argmin(costs)
        r = regret(q, p, bs, extra)
        cross = [a * c for a, c in zip(q, bs)]
        want = (k, j, costs[k] - costs[j])
        if (r.pick, r.best, r.regret) != want:
            found.append(B.report("T12 regret", (q, p, bs, extra), r, want))
        if not (0 <= r.regret <= r.bound <= r.cap == max(cross) + max(extra) - min(extra)):
            found.append(B.report("T12 bound", (q, p, bs, extra), r, "0 <= regret <= bound <= cap"))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T12",
        name="Regret of the product",
        statement="The product's excess marginal cost per decision over the cost-optimal pick j* is at most "
        "Q_j* BS_j* - Q_k BS_k <= max Q BS (units of kappa), plus (e_k - e_j*) <= max e - min e with the step and "
        "decode terms e = (T0/kappa) S* + D.",
        sympy_statement=_statement,
        proof=_proof,
        numeric=regret,
        holds_for={"reference": "holds", "noqueue": "its cross term is -Q: regret <= Q_k - Q_j* + ...",
                   "plain": "not applicable"},
        model_assumptions=("T7 cost model A1-A5", "k the product's argmin, j* a cost minimiser: S_j* = S_k + w",
                           "max Q BS = Q_j* BS_j* + m_1 and max e - min e = e_k - e_j* + m_2"),
        falsify=_falsify,
    )
