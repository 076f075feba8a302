"""All claims of the paper that the toolkit checks, in report order.

>>> [c.id for c in all_claims()]
['A1', 'A2', 'A3']
"""

from __future__ import annotations

from .analytical import analytical_claims
from .claim import Claim

__all__ = ["all_claims"]


def all_claims() -> tuple[Claim, ...]:
    """Analytical claims now; the simulation claims (TTFT/TPOT) join with the simulator."""
    return analytical_claims()
