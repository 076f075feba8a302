"""Confidence intervals over seeds and the verdict rule a zero or noisy change cannot pass.

Each comparison is paired by seed (both scorers replay the same generated workload), so
the unit is the per-seed relative change ``d_s = metric(LMetric)/metric(baseline) - 1``.
Over ``n`` seeds: mean ``d̄``, sample standard deviation ``s``, and the two-sided 95%
Student-t interval ``d̄ ± t_{0.975, n-1} s / sqrt(n)``. With one seed the interval is
unbounded, so nothing passes on one seed.

Verdict: a claimed *reduction* holds on a workload when the whole interval lies below
``-min_effect`` (the stated minimum effect), i.e. ``hi < -min_effect``; a zero change or
a noisy one (interval reaching ``-min_effect``) fails.

>>> ci = interval([-0.30, -0.25, -0.35])
>>> round(ci.mean, 3), round(ci.lo, 3), round(ci.hi, 3)
(-0.3, -0.424, -0.176)
>>> reduction_holds(ci, 0.05), reduction_holds(interval([-0.3, 0.02, -0.4]), 0.05)
(True, False)
>>> interval([0.1]).hi
inf
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

__all__ = ["Interval", "interval", "reduction_holds", "relative_changes"]


@dataclass(frozen=True)
class Interval:
    """Mean and two-sided confidence interval of per-seed values."""

    mean: float
    lo: float
    hi: float
    n: int

    def fmt(self, pct: bool = True) -> str:
        f = (lambda v: f"{v:+.1%}") if pct else (lambda v: f"{v:.4g}")
        if not math.isfinite(self.lo):
            return f"{f(self.mean)} (n={self.n}, no interval)"
        return f"{f(self.mean)} [{f(self.lo)}, {f(self.hi)}]"

    def to_dict(self) -> dict:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, "n": self.n}


def interval(values: Sequence[float], conf: float = 0.95, bounds: tuple[float, float] = (-math.inf, math.inf)) -> Interval:
    """Student-t interval of the mean of ``values`` (NaNs dropped), clipped to ``bounds``
    (e.g. a relative change of a latency cannot fall below -100%, a share lies in [0, 1]).

    >>> round(interval([-0.9, -0.99, -0.5], bounds=(-1.0, math.inf)).lo, 3)
    -1.0
    """
    v = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    n = len(v)
    if n == 0:
        return Interval(math.nan, -math.inf, math.inf, 0)
    mean = sum(v) / n
    if n == 1:
        return Interval(mean, -math.inf, math.inf, 1)
    from scipy.stats import t

    sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    half = float(t.ppf(0.5 + conf / 2, n - 1)) * sd / math.sqrt(n)
    return Interval(mean, max(mean - half, bounds[0]), min(mean + half, bounds[1]), n)


def relative_changes(ours: Sequence[float], base: Sequence[float]) -> list[float]:
    """Per-seed ``ours/base - 1`` (pairs with a zero or missing baseline are dropped)."""
    return [o / b - 1.0 for o, b in zip(ours, base) if b and not math.isnan(b) and not math.isnan(o)]


def reduction_holds(ci: Interval, min_effect: float) -> bool:
    """The whole interval lies below ``-min_effect``."""
    return math.isfinite(ci.hi) and ci.hi < -min_effect
