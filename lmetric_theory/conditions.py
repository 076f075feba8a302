"""Numeric predicates of the theorems, for online use (numpy only, no sympy).

Every function here is the fast counterpart of a theorem in :mod:`lmetric_theory`
and is what the regime detector calls per decision. Units:

* ``x`` — KV-cache indicator in tokens (LMetric: ``Q + P``, queued plus uncached prompt
  tokens); ``y`` — load indicator in requests (LMetric: ``BS + 1``).
* ``lam`` — exchange rate of a linear rule ``x + lam*y``, in tokens per request.
* ``speeds`` — relative processing speed of each instance (dimensionless, any scale).
* ``share`` — fraction of arrivals in a prefix class (0..1); ``holders`` and
  ``instances`` are counts.

Ties go to the lowest index everywhere (the reference router's policy).

>>> import numpy as np
>>> agreement_interval(np.array([10., 4., 1.]), np.array([1., 2., 30.]))
AgreementInterval(pick=1, lower=0.107..., upper=6.0, empty=False)
>>> hot_prefix_condition(share=0.5, holders=4, instances=16)
False
>>> herding_window(x_i=100, y_i=1, runner_up=400, p=100)
2
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "AgreementInterval",
    "ZeroFactor",
    "product_scores",
    "linear_scores",
    "argmin_first",
    "pairwise_exchange_rate",
    "break_even_rate",
    "diverges",
    "agreement_interval",
    "on_lower_left_hull",
    "hot_prefix_condition",
    "hot_prefix_ratio_form",
    "affinity_ratio",
    "stays_on_holder",
    "zero_factor",
    "speed_normalised_scores",
    "heterogeneity_flip",
    "speed_dispersion",
    "herding_window",
    "herds",
    "marginal_cost",
    "cost_cross_term",
]


def product_scores(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``x * y`` per instance (lower is better)."""
    return np.asarray(x, dtype=float) * np.asarray(y, dtype=float)


def linear_scores(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """``x + lam * y`` per instance (lower is better)."""
    return np.asarray(x, dtype=float) + lam * np.asarray(y, dtype=float)


def argmin_first(scores: np.ndarray) -> int:
    """Index of the smallest score; ties go to the lowest index."""
    return int(np.argmin(scores))


def pairwise_exchange_rate(x_i, y_i, x_j, y_j):
    """T3: the exchange rate ``lam_ij = mean(x) / mean(y)`` the product uses on a pair."""
    return (np.asarray(x_i, float) + x_j) / (np.asarray(y_i, float) + y_j)


def break_even_rate(x_i, y_i, x_j, y_j):
    """T5: ``r = (x_j - x_i) / (y_i - y_j)``; ``nan`` where ``y_i == y_j``."""
    dy = np.asarray(y_i, float) - y_j
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dy != 0, (np.asarray(x_j, float) - x_i) / np.where(dy != 0, dy, 1.0), np.nan)


def diverges(x_i, y_i, x_j, y_j, lam):
    """T5: True where product and linear(``lam``) strictly prefer opposite instances.

    Equivalent (T5) to the break-even rate lying strictly between ``lam`` and the
    pair's own rate ``lam_ij``.

    >>> bool(diverges(1.0, 3.0, 4.0, 1.0, lam=1.0))
    False
    >>> bool(diverges(1.0, 3.0, 4.0, 1.0, lam=2.0))
    True
    """
    d_prod = np.asarray(x_i, float) * y_i - np.asarray(x_j, float) * y_j
    d_lin = (np.asarray(x_i, float) - x_j) + lam * (np.asarray(y_i, float) - y_j)
    return d_prod * d_lin < 0


@dataclass(frozen=True)
class AgreementInterval:
    """T6: the candidate ``pick`` and the exchange rates ``lam`` in ``[lower, upper]``
    for which the linear rule ranks that pick first (ties allowed); ``empty`` when none."""

    pick: int
    lower: float
    upper: float
    empty: bool


def agreement_interval(x: np.ndarray, y: np.ndarray, pick: int | None = None) -> AgreementInterval:
    """T6 in O(N): for candidate ``pick`` (default: the product's argmin),
    ``L = max(0, max_{y_j>y_k} (x_k-x_j)/(y_j-y_k))``, ``U = min_{y_j<y_k} (x_j-x_k)/(y_k-y_j)``;
    empty iff ``L > U``, ``U <= 0`` or an equal-``y`` instance has a smaller ``x``.
    For the product's own pick it is never empty (``x_k/y_k`` lies inside).

    Requires positive ``x`` and ``y``.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size == 0:
        raise ValueError("x and y must be non-empty 1-D arrays of equal length")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("agreement_interval needs positive indicators (T6 assumes x, y > 0)")
    k = argmin_first(x * y) if pick is None else int(pick)
    if not 0 <= k < x.size:
        raise ValueError(f"pick {k} is not an instance index (0..{x.size - 1})")
    dy = y - y[k]
    dx = x - x[k]
    above = dy > 0
    below = dy < 0
    lower = float(np.max(-dx[above] / dy[above])) if above.any() else 0.0
    lower = max(lower, 0.0)
    upper = float(np.min(dx[below] / -dy[below])) if below.any() else math.inf
    level_beaten = bool(np.any((dy == 0) & (dx < 0)))
    return AgreementInterval(pick=k, lower=lower, upper=upper, empty=lower > upper or upper <= 0 or level_beaten)


def on_lower_left_hull(x: np.ndarray, y: np.ndarray, k: int) -> bool:
    """Whether point ``k`` of the points ``(y_j, x_j)`` minimises ``x + lam*y`` for some
    ``lam > 0`` — the brute-force side of T6 (O(N^2), for tests and notebooks).

    Point k is not on the lower-left hull iff some ``b, a`` with ``y_b < y_k < y_a``
    put k strictly above the chord between them, or some point weakly dominates it.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    xk, yk = x[k], y[k]
    others = np.arange(x.size) != k
    if np.any(others & (x <= xk) & (y <= yk) & ((x < xk) | (y < yk))):
        return False
    left = np.flatnonzero(y < yk)
    right = np.flatnonzero(y > yk)
    for b in left:
        t = (y[right] - yk) / (y[right] - y[b])
        chord = x[right] + (x[b] - x[right]) * t
        if np.any(xk > chord + 1e-12 * max(1.0, abs(xk))):
            return False
    return True


def hot_prefix_condition(share: float, holders: int, instances: int) -> bool:
    """T8 (paper Equation 2): a class with arrival ``share`` cached on ``holders`` of
    ``instances`` can stay on its holders without overloading them iff
    ``share <= holders / instances``."""
    if instances <= 0 or not 0 <= holders <= instances:
        raise ValueError("need 0 <= holders <= instances and instances > 0")
    return share * instances <= holders


def hot_prefix_ratio_form(share: float, holders: int, instances: int) -> bool:
    """T8, the paper's own form ``x/(1-x) <= |M|/(N-|M|)`` (needs 0 < x < 1, 0 < |M| < N)."""
    if not (0 < share < 1 and 0 < holders < instances):
        raise ValueError("ratio form needs 0 < share < 1 and 0 < holders < instances")
    return share / (1 - share) <= holders / (instances - holders)


def affinity_ratio(q_holder, p_holder, q_other, p_other):
    """T8: ``A = (Q_j + P_j) / (Q_i + P_i)`` for a holder ``i`` and a non-holder ``j``.

    The holder keeps the request while ``(BS_i+1)/(BS_j+1) < A``; ``inf`` when the
    holder's first factor is 0 (ports with a full hit and no queue term).

    >>> float(affinity_ratio(0, 100, 0, 1000))
    10.0
    >>> float(affinity_ratio(0, 0, 0, 1000))
    inf
    """
    num = np.asarray(q_other, float) + p_other
    den = np.asarray(q_holder, float) + p_holder
    with np.errstate(divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)


def stays_on_holder(q_holder, p_holder, bs_holder, q_other, p_other, bs_other):
    """T8: the product keeps a class request on the holder (strictly better score)."""
    a = affinity_ratio(q_holder, p_holder, q_other, p_other)
    return (np.asarray(bs_holder, float) + 1) < a * (np.asarray(bs_other, float) + 1)


@dataclass(frozen=True)
class ZeroFactor:
    """T4: instances whose score is 0 because a factor is 0, and whether the pick is
    Pareto-dominated by another instance."""

    zero_instances: tuple[int, ...]
    tie_count: int
    pick: int
    pick_dominated: bool


def zero_factor(x: np.ndarray, y: np.ndarray) -> ZeroFactor:
    """T4 degeneracy check for ports with a zero factor.

    >>> zero_factor(np.array([0., 0., 50.]), np.array([9., 1., 1.]))
    ZeroFactor(zero_instances=(0, 1), tie_count=2, pick=0, pick_dominated=True)
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    s = x * y
    k = argmin_first(s)
    zeros = tuple(int(i) for i in np.flatnonzero(s == 0))
    ties = int(np.sum(s == s[k]))
    dominated = bool(np.any((x <= x[k]) & (y <= y[k]) & ((x < x[k]) | (y < y[k]))))
    return ZeroFactor(zeros, ties, k, dominated)


def speed_normalised_scores(scores: np.ndarray, speeds: np.ndarray) -> np.ndarray:
    """T9: ``S_i / v_i`` — the product in time units on an instance of speed ``v_i``."""
    speeds = np.asarray(speeds, dtype=float)
    if np.any(speeds <= 0):
        raise ValueError("speeds must be positive")
    return np.asarray(scores, dtype=float) / speeds


def heterogeneity_flip(scores: np.ndarray, speeds: np.ndarray) -> bool:
    """T9: True when the plain product and the speed-normalised product pick different
    instances. Pairwise this happens iff ``S_i/S_j`` lies strictly between 1 and
    ``v_i/v_j``."""
    return argmin_first(scores) != argmin_first(speed_normalised_scores(scores, speeds))


def speed_dispersion(speeds: np.ndarray) -> float:
    """T9: ``max(v)/min(v)`` — 1 means the scale cancels (T1); the plain product can
    be fooled only by score ratios inside ``(1, max/min)``."""
    speeds = np.asarray(speeds, dtype=float)
    if speeds.size == 0 or np.any(speeds <= 0):
        raise ValueError("speeds must be a non-empty array of positive numbers")
    return float(speeds.max() / speeds.min())


def herding_window(x_i: float, y_i: float, runner_up: float, p: float) -> int:
    """T10: least ``m >= 1`` with ``(x_i + m*p)(y_i + m) > runner_up``: how many
    consecutive requests the argmin absorbs under commit-time updates before the
    pick moves. Closed form ``floor(m+) + 1`` with ``m+`` the positive root of
    ``p m^2 + (x_i + p y_i) m + x_i y_i - runner_up``.
    """
    if p < 0 or x_i < 0 or y_i < 0:
        raise ValueError("x_i, y_i and p must be non-negative")
    c = x_i * y_i - runner_up
    if c > 0:
        return 1
    b = x_i + p * y_i
    if p == 0:
        if b == 0:
            return math.inf  # type: ignore[return-value]  # score never grows: absorbs everything
        return math.floor(-c / b) + 1
    root = (-b + math.sqrt(b * b - 4 * p * c)) / (2 * p)
    m = math.floor(root) + 1
    # guard the floating-point boundary: the definition, not the float root, decides
    while m > 1 and (x_i + (m - 1) * p) * (y_i + m - 1) > runner_up:
        m -= 1
    while (x_i + m * p) * (y_i + m) <= runner_up:
        m += 1
    return m


def herds(arrival_rate: float, snapshot_age: float, window: float) -> bool:
    """T10: ``arrival_rate * snapshot_age`` decisions share one snapshot; herding when
    that exceeds the herding window (requests/s times s versus requests)."""
    return arrival_rate * snapshot_age > window


def marginal_cost(q, p, bs):
    """T7: marginal total latency (in units of the per-token time kappa) of routing a
    request with ``p`` uncached tokens to an instance with ``q`` queued prefill tokens
    and ``bs`` resident requests: ``(q + p) + bs * p``."""
    return np.asarray(q, float) + p + np.asarray(bs, float) * p


def cost_cross_term(q, bs):
    """T7: ``product - marginal_cost = q * bs`` — the queued backlog's interference,
    sunk whatever the routing decision, which the reference product double-counts."""
    return np.asarray(q, float) * np.asarray(bs, float)
