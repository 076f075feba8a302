"""A paper claim as an executable check with a verdict.

>>> c = Claim("C0", "demo", "a wording", "what we check", lambda rng: CheckOutcome(True, "ok"))
>>> import numpy as np
>>> run_claim(c, np.random.default_rng(0)).verdict
'PASS'
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Claim", "CheckOutcome", "ClaimResult", "run_claim"]


@dataclass(frozen=True)
class CheckOutcome:
    """What a check found: whether the claim held, and the evidence in words and numbers."""

    passed: bool
    details: str


@dataclass(frozen=True)
class Claim:
    """One claim: id, short title, the paper's wording, what we check, and the check.

    The check receives a seeded ``numpy.random.Generator`` and returns a :class:`CheckOutcome`.
    """

    id: str
    title: str
    wording: str
    checked: str
    check: Callable[[np.random.Generator], CheckOutcome]
    kind: str = "analytical"


@dataclass(frozen=True)
class ClaimResult:
    id: str
    title: str
    wording: str
    checked: str
    verdict: str
    details: str
    seconds: float


def run_claim(claim: Claim, rng: np.random.Generator) -> ClaimResult:
    """Run one check; an exception is an ``ERROR`` verdict with its message."""
    start = time.perf_counter()
    try:
        out = claim.check(rng)
        verdict, details = ("PASS" if out.passed else "FAIL"), out.details
    except Exception as exc:  # reported, never swallowed silently
        verdict, details = "ERROR", f"{type(exc).__name__}: {exc}"
    return ClaimResult(claim.id, claim.title, claim.wording, claim.checked, verdict, details, time.perf_counter() - start)
