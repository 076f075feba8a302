"""All claims of the paper that the toolkit checks, in report order.

>>> from paper_checks.simulation import PROFILES, Study
>>> [c.id for c in all_claims(Study(PROFILES["tiny"]))]
['A1', 'A2', 'A3', 'P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7']
"""

from __future__ import annotations

from .analytical import analytical_claims
from .claim import Claim
from .simulation import PROFILES, Study, simulation_claims

__all__ = ["all_claims"]


def all_claims(study: Study | None = None) -> tuple[Claim, ...]:
    """Analytical claims, then the simulation claims of ``study`` (default: the quick profile)."""
    return analytical_claims() + simulation_claims(study or Study(PROFILES["quick"]))
