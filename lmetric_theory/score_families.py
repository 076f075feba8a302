"""The score families the theory compares, as sympy expressions.

Reference LMetric (the authors' router, policy ``lmetric-q``)::

    S_ref = (Q + P) * (BS + 1)

with Q the instance's queued prefill tokens, P = N - 16*hit the request's own uncached
tokens (P >= 1 because the last prompt token is always recomputed) and BS the running
plus waiting requests.

Ports that differ (each its own function in the theory):

* ``noqueue`` (SGLang gateway PR, llm-d ``lmetric-scorer``): ``P * (inflight + 1)``;
  no queue term and P may be 0 on a full (character-level) match, so a fully cached
  instance scores 0 at any load.
* ``plain``: ``P * BS``; both factors may be 0.

The linear family is ``x + lam * y`` with exchange rate ``lam > 0``; any ``alpha*x + beta*y``
with positive weights orders instances like ``lam = beta/alpha``.

>>> fam = FAMILIES["reference"]
>>> fam.score.subs({Q: 10, P: 5, BS: 2})
45
>>> fam.x_min, fam.y_min
(1, 1)
>>> FAMILIES["noqueue"].x_min
0
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["ScoreFamily", "FAMILIES", "Q", "P", "BS", "linear_score", "product_score"]

Q = sp.Symbol("Q", nonnegative=True, integer=True)
P = sp.Symbol("P", nonnegative=True, integer=True)
BS = sp.Symbol("BS", nonnegative=True, integer=True)


@dataclass(frozen=True)
class ScoreFamily:
    """A product score ``x * y`` with its KV-cache factor ``x`` and load factor ``y``.

    ``x_min``/``y_min`` are the smallest values each factor can take on a real
    state (they decide whether the zero-factor failure T4 applies).
    """

    name: str
    description: str
    x: sp.Expr
    y: sp.Expr
    x_min: int
    y_min: int

    @property
    def score(self) -> sp.Expr:
        return self.x * self.y

    @property
    def has_zero_factor(self) -> bool:
        return self.x_min == 0 or self.y_min == 0


FAMILIES: dict[str, ScoreFamily] = {
    "reference": ScoreFamily("reference", "(Q+P)(BS+1), P >= 1 (hit capped at N-1)", Q + P, BS + 1, 1, 1),
    "noqueue": ScoreFamily("noqueue", "P(inflight+1), P >= 0 (ports without queue term)", P, BS + 1, 0, 1),
    "plain": ScoreFamily("plain", "P*BS (no queue, no +1)", P, BS, 0, 0),
}


def product_score(x: sp.Expr, y: sp.Expr) -> sp.Expr:
    """The multiplicative rule's score ``x * y`` (lower is better)."""
    return x * y


def linear_score(x: sp.Expr, y: sp.Expr, lam: sp.Expr) -> sp.Expr:
    """The linear rule's score ``x + lam * y`` (lower is better)."""
    return x + lam * y
