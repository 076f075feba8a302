"""The registry of theorems T1–T13.

Built on call (nothing is computed at import):

>>> [t.id for t in catalogue()]
['T1', 'T2', 'T3', 'T4', 'T5', 'T6', 'T7', 'T8', 'T9', 'T10', 'T11', 'T12', 'T13']
>>> get_theorem("t6").name
'Agreement interval over N instances'
"""

from __future__ import annotations

from .theorem import Theorem

__all__ = ["catalogue", "get_theorem"]


def catalogue() -> tuple[Theorem, ...]:
    """All registered theorems, in catalogue order."""
    from . import (agreement, cancellation, cost_model, cost_rate, divergence, heterogeneity, hidden_constants,
                   hot_prefix, linear_scale, linearisation, pareto, regret, staleness)

    modules = (cancellation, linear_scale, linearisation, pareto, divergence, agreement,
               cost_model, hot_prefix, heterogeneity, staleness, cost_rate, regret, hidden_constants)
    return tuple(m.theorem() for m in modules)


def get_theorem(theorem_id: str, theorems: tuple[Theorem, ...] | None = None) -> Theorem:
    """Look a theorem up by id (case-insensitive); ``KeyError`` lists the known ids."""
    theorems = catalogue() if theorems is None else theorems
    for th in theorems:
        if th.id.lower() == theorem_id.strip().lower():
            return th
    raise KeyError(f"unknown theorem {theorem_id!r}; known: {', '.join(t.id for t in theorems)}")
