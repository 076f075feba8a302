"""All claims of the paper that the toolkit checks, in report order.

>>> [c.id for c in all_claims()]
['A1', 'A2', 'A3', 'S1', 'S2', 'S3', 'S4', 'S5']
"""

from __future__ import annotations

from .analytical import analytical_claims
from .claim import Claim
from .simulation import simulation_claims

__all__ = ["all_claims"]


def all_claims(window_s: float = 300.0) -> tuple[Claim, ...]:
    """Analytical claims, then the simulation claims (``window_s`` seconds of each replay)."""
    return analytical_claims() + simulation_claims(window_s)
