"""T7 — the marginal total-latency cost of a routing decision, and when the product
minimises it.

Step-time model (assumptions A1–A5, stated once and used by both the algebra and the
brute-force simulator :func:`simulate_marginal_cost`):

* **A1 residents stay.** Instance ``i`` holds ``BS_i`` resident requests: ``d_i``
  decoding and a FCFS waiting queue with ``Q_i`` pending prefill tokens in total.
  None finishes within the horizon (the new request's first token); every resident,
  once prefilled, decodes one token per step.
* **A2 step time.** A step scheduling ``n`` tokens lasts ``T0 + kappa * n``
  (fixed cost plus cost per scheduled token; the weight floor and attention terms of
  the full simulator are dropped).
* **A3 chunked prefill.** Each step has a token budget ``C > BS_i + 1``: every decoder
  takes one token, then waiting prefills take the leftover budget FCFS.
* **A4 FCFS arrival.** The new request (``P_i`` uncached tokens) joins the tail.
* **A5 cost.** Marginal cost = the new request's TTFT + the delay its prefill adds to
  every resident's clock at the end of the horizon step.

Derivation. The new request only uses budget left over after the residents (A3, A4),
so every step keeps its other tokens and just grows by ``kappa * p_k`` where ``p_k``
is the new request's chunk (``sum p_k = P``). Hence every resident is delayed by
exactly ``kappa P`` and the new request's TTFT is the sum of the ``S*`` step times
until its prefill ends::

    Delta_i = T0 S*_i + kappa (D_i + Q_i + P_i) + kappa BS_i P_i

with ``D_i`` the decode tokens scheduled in those steps. In the prefill-dominated
limit (``T0 S*`` and ``kappa D`` negligible next to the prefill terms)::

    Delta_i / kappa = (Q_i + P_i) + BS_i P_i = (Q_i + P_i)(BS_i + 1) - Q_i BS_i.

So the reference product equals the marginal cost plus the cross term ``Q_i BS_i``
(the queued backlog's interference, sunk whatever the decision). Exact condition:
the product's pick ``k`` minimises the cost iff for every ``j``
``S_k - S_j <= Q_k BS_k - Q_j BS_j + (c_j - c_k)`` ... equivalently
``S_k - Q_k BS_k <= S_j - Q_j BS_j``; in particular they agree whenever ``Q_i BS_i`` is
the same on every instance (e.g. all queues empty). The no-queue port ``P (BS+1)``
equals ``Delta/kappa - Q``.

>>> from fractions import Fraction
>>> r = simulate_marginal_cost(decoders=2, queue=(30,), new_p=50, budget=64, t0=Fraction(1), kappa=Fraction(1, 10))
>>> r.interference == Fraction(1, 10) * 50 * 3
True
>>> r.ttft == r.steps * 1 + Fraction(1, 10) * (r.decode_tokens + 30 + 50)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from .conditions import marginal_cost
from .theorem import Step, Theorem, identity, positive

__all__ = ["theorem", "MarginalCost", "simulate_marginal_cost", "closed_form_cost"]


@dataclass(frozen=True)
class MarginalCost:
    """Brute-force outcome: the new request's TTFT, the delay added to residents,
    the number of steps until its first token and the decode tokens in those steps."""

    ttft: Fraction
    interference: Fraction
    steps: int
    decode_tokens: int

    @property
    def total(self) -> Fraction:
        return self.ttft + self.interference


def _run(decoders: int, queue: list[int], budget: int, t0: Fraction, kappa: Fraction, *,
         until_done: int | None, max_steps: int | None):
    """Step the instance; return (time, steps, decode_tokens). Stops when queue item
    ``until_done`` finishes its prefill, or after ``max_steps`` steps."""
    items = [[i, rem] for i, rem in enumerate(queue)]
    dec, t, steps, dtok = decoders, Fraction(0), 0, 0
    while True:
        if max_steps is not None and steps >= max_steps:
            return t, steps, dtok
        left = budget - dec
        if left <= 0:
            raise ValueError("budget must exceed the number of decoders (A3)")
        sched, done = 0, []
        for item in items:
            if left == 0:
                break
            take = min(item[1], left)
            item[1] -= take
            left -= take
            sched += take
            if item[1] == 0:
                done.append(item[0])
        t += t0 + kappa * (dec + sched)
        steps += 1
        dtok += dec
        if until_done is not None and until_done in done:
            return t, steps, dtok
        items = [it for it in items if it[1] > 0]
        dec += len(done)


def simulate_marginal_cost(decoders: int, queue: tuple[int, ...], new_p: int, budget: int,
                           t0: Fraction, kappa: Fraction) -> MarginalCost:
    """Brute-force A1–A5: run the instance step by step with and without the new
    request and measure its TTFT and the delay it adds to the residents."""
    if new_p < 1 or any(q < 1 for q in queue) or decoders < 0:
        raise ValueError("prefill sizes must be >= 1 and decoders >= 0")
    if budget <= decoders + len(queue) + 1:
        raise ValueError("A3 needs budget > BS + 1")
    t_with, steps, dtok = _run(decoders, list(queue) + [new_p], budget, t0, kappa,
                               until_done=len(queue), max_steps=None)
    residents = decoders + len(queue)
    if residents == 0:
        return MarginalCost(t_with, Fraction(0), steps, dtok)
    t_without, _, _ = _run(decoders, list(queue), budget, t0, kappa, until_done=None, max_steps=steps)
    return MarginalCost(t_with, residents * (t_with - t_without), steps, dtok)


def closed_form_cost(q, p, bs, *, t0=0, kappa=1, steps=0, decode_tokens=0):
    """``T0 S* + kappa (D + Q + P) + kappa BS P`` — the derived marginal cost."""
    return t0 * steps + kappa * (decode_tokens + q + p) + kappa * bs * p


def _proof() -> list[Step]:
    T0, kappa = sp.symbols("T_0 kappa", positive=True)
    Q, P, BS, D = sp.symbols("Q P BS D", nonnegative=True)
    S = sp.Symbol("S", integer=True, positive=True)
    k = sp.Symbol("k", integer=True)
    n, p, pn = sp.IndexedBase("n"), sp.IndexedBase("p"), sp.IndexedBase("p_new")
    ttft_sum = sp.Sum(T0 + kappa * (n[k] + p[k]), (k, 1, S))
    pull_constants = lambda e: e.replace(lambda a: isinstance(a, sp.Sum), sp.factor_terms)  # noqa: E731
    split = pull_constants(ttft_sum.expand().doit())
    split = split.subs({sp.Sum(p[k], (k, 1, S)): Q + P, sp.Sum(n[k], (k, 1, S)): D})
    per_resident = pull_constants(sp.Sum(kappa * pn[k], (k, 1, S)).expand().doit())
    per_resident = per_resident.subs(sp.Sum(pn[k], (k, 1, S)), P)
    delta = S * T0 + kappa * (D + Q + P) + kappa * BS * P
    c = (Q + P) + BS * P  # prefill-dominated limit, in units of kappa
    Qi, Pi, Bi, Qj, Pj, Bj = sp.symbols("Q_i P_i BS_i Q_j P_j BS_j", nonnegative=True)
    Bj_pos = sp.Symbol("BS_j", positive=True)
    S_i, S_j = (Qi + Pi) * (Bi + 1), (Qj + Pj) * (Bj + 1)
    c_i, c_j = (Qi + Pi) + Bi * Pi, (Qj + Pj) + Bj * Pj
    equal_cross = {Qj: Qi * Bi / Bj_pos, Bj: Bj_pos}
    return [
        identity("TTFT = sum of step times = T0 S* + kappa (D + Q + P)", split, S * T0 + kappa * (D + Q + P)),
        identity("each resident is delayed by kappa * (sum of the new chunks) = kappa P", per_resident, kappa * P),
        identity("marginal cost Delta = TTFT + BS * kappa P", S * T0 + kappa * (D + Q + P) + BS * kappa * P, delta),
        identity("prefill-dominated limit (T0 S*, kappa D -> 0): Delta/kappa = (Q+P) + BS P",
                 (delta / kappa).subs({T0: 0, D: 0}), c),
        identity("reference product = cost + Q*BS (cross term)", (Q + P) * (BS + 1), c + Q * BS),
        identity("no-queue port P(BS+1) = cost - Q", P * (BS + 1), c - Q),
        identity("exact condition: S_i - S_j = (c_i - c_j) + (Q_i BS_i - Q_j BS_j)",
                 S_i - S_j, (c_i - c_j) + (Qi * Bi - Qj * Bj)),
        identity("equal cross terms Q_i BS_i = Q_j BS_j: product and cost differences coincide",
                 (S_i - S_j - (c_i - c_j)).subs(equal_cross), sp.Integer(0)),
        positive("kappa > 0, so Delta and Delta/kappa order instances alike", kappa),
    ]


def _statement() -> sp.Basic:
    Q, P, BS = sp.symbols("Q P BS", nonnegative=True)
    return sp.Eq((Q + P) * (BS + 1), ((Q + P) + BS * P) + Q * BS)


def theorem() -> Theorem:
    return Theorem(
        id="T7",
        name="Cost model: marginal latency of a routing decision",
        statement="Under A1-A5 routing to i costs Delta_i = T0 S* + kappa(D + Q + P) + kappa BS P; in the "
        "prefill-dominated limit the reference product is that cost plus the cross term Q*BS, so argmin agree "
        "iff S_k - Q_k BS_k <= S_j - Q_j BS_j for all j (always when Q*BS is equal across instances).",
        assumptions=("A1 residents stay for the horizon", "A2 step time T0 + kappa*n", "A3 chunk budget C > BS+1, decodes first",
                     "A4 FCFS, new request at the tail", "A5 cost = own TTFT + delay added to residents",
                     "limit: T0 S* and kappa D negligible (prefill-dominated)"),
        sympy_statement=_statement,
        proof=_proof,
        numeric=marginal_cost,
        holds_for={"reference": "cost + Q*BS", "noqueue": "cost - Q (exact when queues are empty)",
                   "plain": "cost - Q - P"},
        closed_form="Delta = T0 S* + kappa (D + Q + P) + kappa BS P;  (Q+P)(BS+1) = [(Q+P) + BS P] + Q BS",
    )
