"""Every claim of the LMetric paper as an executable check with a verdict.

>>> from paper_checks import all_claims
>>> len(all_claims()) >= 3
True
"""

from .claim import Claim, CheckOutcome, ClaimResult, run_claim
from .registry import all_claims
from .report import run_all

__all__ = ["Claim", "CheckOutcome", "ClaimResult", "run_claim", "all_claims", "run_all"]
