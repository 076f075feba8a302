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
(the queued backlog's interference, sunk whatever the decision): the two pick alike
whenever ``Q_i BS_i`` is the same on every instance (e.g. all queues empty); when
they do not, T12 bounds what the product overpays. The no-queue port ``P (BS+1)``
equals ``Delta/kappa - Q``.

The closed form ``Delta`` is checked against :func:`simulate_marginal_cost` — a
brute-force step simulation of A1–A5 — on seeded random states in exact rationals
every time the theorem is checked.

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

from . import bruteforce as B
from .conditions import cost_cross_term, marginal_cost
from .score_families import BS as FBS
from .score_families import FAMILIES
from .score_families import P as FP
from .score_families import Q as FQ
from .theorem import Step, Theorem, eq, proves

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


def _parts():
    T0, kappa = sp.symbols("T_0 kappa", positive=True)
    D, S = sp.symbols("D S", nonnegative=True)
    Q, P, BS = FQ, FP, FBS  # the score families' own symbols (integers >= 0)
    delta = closed_form_cost(Q, P, BS, t0=T0, kappa=kappa, steps=S, decode_tokens=D)
    c = (Q + P) + BS * P  # prefill-dominated limit, in units of kappa
    Qi, Pi, Bi, Qj, Pj = sp.symbols("Q_i P_i BS_i Q_j P_j", nonnegative=True)
    Bj = sp.Symbol("BS_j", positive=True)
    S_i, S_j = (Qi + Pi) * (Bi + 1), (Qj + Pj) * (Bj + 1)
    c_i, c_j = (Qi + Pi) + Bi * Pi, (Qj + Pj) + Bj * Pj
    equal_cross = {Qj: Qi * Bi / Bj}  # Q_j BS_j = Q_i BS_i
    return (
        eq((delta / kappa).subs({T0: 0, D: 0}), c),
        eq(FAMILIES["reference"].score, c + Q * BS),
        eq(FAMILIES["noqueue"].score, c - Q),
        eq(FAMILIES["plain"].score, FAMILIES["reference"].score - Q * BS - (Q + P)),
        eq((S_i - S_j).xreplace(equal_cross), (c_i - c_j).xreplace(equal_cross)),
    )


def _statement() -> sp.Basic:
    return sp.And(*_parts(), evaluate=False)


def _proof() -> list[Step]:
    limit, reference, noqueue, plain, equal = _parts()
    return [
        proves("prefill-dominated limit (T0 S*, kappa D -> 0): Delta/kappa = (Q+P) + BS P", limit),
        proves("reference product = cost + Q*BS (cross term)", reference),
        proves("no-queue port P(BS+1) = cost - Q", noqueue),
        proves("plain port P*BS = reference - Q*BS - (Q + P) = cost - Q - P", plain),
        proves("equal cross terms Q_i BS_i = Q_j BS_j: product and cost differences coincide", equal),
    ]


def _falsify(rng, samples: int) -> list[str]:
    """Brute force A1-A5 against the closed form, and the predicate against it."""
    found = []
    one = Fraction(1)
    if simulate_marginal_cost(2, (5,), 5, 2 + 1 + 2, one, one).steps < 1:  # budget = BS + 2: the least valid one
        found.append("T7 the least valid budget BS + 2 was refused")
    for bad in ((0, (), 0, 10), (0, (0,), 5, 10), (-1, (), 5, 10), (2, (5,), 5, 4), (0, (), 5, 1)):
        if not B.rejects(simulate_marginal_cost, *bad, t0=one, kappa=one):
            found.append(f"T7 simulate_marginal_cost accepted {bad}")
    for _ in range(samples):
        d = rng.randint(0, 3)
        queue = tuple(rng.randint(1, 30) for _ in range(rng.randint(0, 3)))
        p = rng.randint(1, 50)
        budget = rng.randint(d + len(queue) + 2, 70)
        t0 = Fraction(rng.randint(0, 4), rng.randint(1, 3))
        kappa = Fraction(1, rng.randint(1, 20))
        r = simulate_marginal_cost(d, queue, p, budget, t0, kappa)
        q, bs = sum(queue), d + len(queue)
        want = closed_form_cost(q, p, bs, t0=t0, kappa=kappa, steps=r.steps, decode_tokens=r.decode_tokens)
        if r.total != want:
            found.append(B.report("T7 closed form", (d, queue, p, budget, t0, kappa), r.total, want))
        one_step = d + q + p <= budget  # A3: everything fits in one step's budget
        if one_step != (r.steps == 1) or (one_step and r.decode_tokens != d):
            found.append(B.report("T7 one-step regime", (d, queue, p, budget), (r.steps, r.decode_tokens), (1, d)))
        if closed_form_cost(q, p, bs) != q + p + bs * p:
            found.append(B.report("T7 closed form defaults", (q, p, bs), closed_form_cost(q, p, bs), q + p + bs * p))
        if float(cost_cross_term(q, bs)) != q * bs:
            found.append(B.report("T7 cost_cross_term", (q, bs), float(cost_cross_term(q, bs)), q * bs))
        got = float(marginal_cost(q, p, bs))
        if got != float(q + p + bs * p):
            found.append(B.report("T7 marginal_cost", (q, p, bs), got, q + p + bs * p))
    return found


def theorem() -> Theorem:
    return Theorem(
        id="T7",
        name="Cost model: marginal latency of a routing decision",
        statement="Under A1-A5 routing to i costs Delta_i = T0 S* + kappa(D + Q + P) + kappa BS P (checked against a "
        "brute-force step simulation); in the prefill-dominated limit the reference product is that cost plus the "
        "cross term Q*BS, so the two pick alike when Q*BS is equal across instances.",
        sympy_statement=_statement,
        proof=_proof,
        numeric=marginal_cost,
        holds_for={"reference": "cost + Q*BS", "noqueue": "cost - Q (exact when queues are empty)",
                   "plain": "cost - Q - P"},
        model_assumptions=("A1 residents stay for the horizon", "A2 step time T0 + kappa*n",
                           "A3 chunk budget C > BS+1, decodes first", "A4 FCFS, new request at the tail",
                           "A5 cost = own TTFT + delay added to residents",
                           "limit: T0 S* and kappa D negligible (prefill-dominated)"),
        falsify=_falsify,
    )
