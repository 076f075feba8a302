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

Exactness. Every predicate that *decides* something (a pick, a disagreement, a
condition, an interval) computes in exact rationals (:class:`fractions.Fraction`), so
its boundaries are exact: ints and Fractions are taken as they are, and a float is read
as the simplest fraction that rounds to it (``0.1`` is 1/10, ``5/6`` in floating point
is 5/6), so a boundary typed or computed in floating point is decided as meant.
Real-valued helpers (scores, rates, costs) return floats.

>>> import numpy as np
>>> agreement_interval(np.array([10., 4., 1.]), np.array([1., 2., 30.]))
AgreementInterval(pick=1, lower=Fraction(3, 28), upper=Fraction(6, 1), empty=False)
>>> hot_prefix_condition(share=0.5, holders=4, instances=16)
False
>>> herding_window(x_i=100, y_i=1, runner_up=400, p=100)
2
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

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
    "hot_prefix_condition_many",
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
    "exact_value",
    "exact_argmin",
]


def _simplest_between(lo_n: int, lo_d: int, hi_n: int, hi_d: int) -> tuple[int, int]:
    """``(p, q)``: the fraction ``p/q`` (coprime) with the smallest denominator strictly
    inside ``(lo_n/lo_d, hi_n/hi_d)`` (``0 <= lo < hi``, positive denominators;
    ``hi_d = 0`` is +infinity), by continued fractions in integer arithmetic: with
    ``n = floor(lo)``, the answer is ``n + 1`` if that is below ``hi``, else
    ``n + 1/x`` for ``x`` the simplest fraction inside ``(1/(hi - n), 1/(lo - n))``.

    >>> _simplest_between(1, 3, 1, 2), _simplest_between(0, 1, 0, 0)   # (1/3, 1/2) -> 2/5; (0, inf) -> 1
    ((2, 5), (1, 1))
    """
    terms = []
    while True:
        n = lo_n // lo_d
        if hi_d == 0 or (n + 1) * hi_d < hi_n:
            p, q = n + 1, 1
            break
        terms.append(n)
        r = lo_n - n * lo_d  # lo - n = r/lo_d; r = 0: 1/(lo - n) is +infinity
        lo_n, lo_d, hi_n, hi_d = hi_d, hi_n - n * hi_d, lo_d, r
    for n in reversed(terms):
        p, q = n * p + q, p
    return p, q


def exact_value(v) -> Fraction:
    """``v`` as an exact rational: ints, bools and Fractions as they are; a float (or
    numpy float) as the simplest fraction that rounds to it — so ``0.1`` is 1/10 and
    ``5/6`` computed in floating point is 5/6, and a boundary computed or typed in
    floating point is decided as meant. ``ValueError`` on nan/inf.

    >>> exact_value(0.1), exact_value(5 / 6), exact_value(3), exact_value(Fraction(1, 3))
    (Fraction(1, 10), Fraction(5, 6), Fraction(3, 1), Fraction(1, 3))
    >>> exact_value(0.30000000000000004) > Fraction(3, 10)
    True
    """
    if isinstance(v, Fraction):
        return v
    if isinstance(v, (int, np.integer)):
        return Fraction(int(v))
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"need a finite number, got {f!r}")
    if f == 0:
        return Fraction(0)
    a = abs(f)
    an, ad = a.as_integer_ratio()  # the rounding interval of a: halfway to each neighbour
    ln, ld = math.nextafter(a, 0.0).as_integer_ratio()
    hn, hd = math.nextafter(a, math.inf).as_integer_ratio()
    p, q = _simplest_between(an * ld + ln * ad, 2 * ad * ld, an * hd + hn * ad, 2 * ad * hd)
    return Fraction(p if f > 0 else -p, q)


def _float_gt(lhs: float, rhs: float) -> bool | None:
    """``lhs > rhs`` decided in floating point when the two are far enough apart that
    rounding cannot flip it (relative gap above 1e-9, some 10^6 times the error of the
    few float operations behind ``lhs``); ``None`` near the boundary, where the caller
    decides exactly. Only a speed-up: results are those of the exact comparison.

    >>> _float_gt(3.0, 1.0), _float_gt(1.0, 3.0), _float_gt(0.1 + 0.2, 0.3)
    (True, False, None)
    """
    if not (math.isfinite(lhs) and math.isfinite(rhs)):
        return None
    if abs(lhs - rhs) > 1e-9 * max(abs(lhs), abs(rhs), 1.0):
        return lhs > rhs
    return None


def _exact_array(a) -> np.ndarray:
    """Object array of Fractions (0-d for a scalar)."""
    arr = np.asarray(a, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        out[idx] = exact_value(v)
    return out


def _exact_list(a) -> list[Fraction]:
    arr = np.asarray(a, dtype=object)
    if arr.ndim != 1:
        raise ValueError("expected a 1-D array")
    return [exact_value(v) for v in arr]


def exact_argmin(values) -> int:
    """Index of the smallest value, compared exactly; ties go to the lowest index.

    >>> exact_argmin([0.3, Fraction(3, 10), 1])
    0
    """
    vals = [exact_value(v) for v in values]
    if not vals:
        raise ValueError("argmin of an empty sequence")
    best = min(vals)
    return vals.index(best)


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
    >>> bool(diverges(1.0, 3.0, 4.0, 1.0, lam=1.5))   # lam = r: linear ties, no strict disagreement
    False
    """
    xi, yi, xj, yj, lm = (_exact_array(v) for v in (x_i, y_i, x_j, y_j, lam))
    d_prod = xi * yi - xj * yj
    d_lin = (xi - xj) + lm * (yi - yj)
    return np.asarray(d_prod * d_lin < 0, dtype=bool)


@dataclass(frozen=True)
class AgreementInterval:
    """T6: the candidate ``pick`` and the exchange rates ``lam`` in ``[lower, upper]``
    for which the linear rule ranks that pick first (ties allowed); ``empty`` when none.
    ``lower`` and ``upper`` are exact (``Fraction``; ``upper`` is ``math.inf`` when
    unbounded); ``lower >= 0`` always."""

    pick: int
    lower: Fraction
    upper: Fraction | float
    empty: bool


def agreement_interval(x: np.ndarray, y: np.ndarray, pick: int | None = None) -> AgreementInterval:
    """T6 in O(N), exactly: for candidate ``pick`` (default: the product's argmin),
    ``L = max(0, max_{y_j>y_k} (x_k-x_j)/(y_j-y_k))``, ``U = min_{y_j<y_k} (x_j-x_k)/(y_k-y_j)``;
    empty iff ``L > U``, ``U <= 0`` or an equal-``y`` instance has a smaller ``x``.
    For the product's own pick it is never empty (``x_k/y_k`` lies inside).

    Requires positive ``x`` and ``y``.

    >>> agreement_interval([1, 2], [1, 5], pick=1).empty   # (1,1) dominates (2,5)
    True
    """
    xs, ys = _exact_list(x), _exact_list(y)
    if len(xs) != len(ys) or not xs:
        raise ValueError("x and y must be non-empty 1-D arrays of equal length")
    if any(v <= 0 for v in xs) or any(v <= 0 for v in ys):
        raise ValueError("agreement_interval needs positive indicators (T6 assumes x, y > 0)")
    k = exact_argmin([a * b for a, b in zip(xs, ys)]) if pick is None else int(pick)
    if not 0 <= k < len(xs):
        raise ValueError(f"pick {k} is not an instance index (0..{len(xs) - 1})")
    xk, yk = xs[k], ys[k]
    lower: Fraction = Fraction(0)
    upper: Fraction | float = math.inf
    level_beaten = False
    for j, (xj, yj) in enumerate(zip(xs, ys)):
        if j == k:
            continue
        if yj > yk:
            lower = max(lower, (xk - xj) / (yj - yk))
        elif yj < yk:
            upper = min(upper, (xj - xk) / (yk - yj))
        elif xj < xk:
            level_beaten = True
    return AgreementInterval(pick=k, lower=lower, upper=upper, empty=lower > upper or upper <= 0 or level_beaten)


def on_lower_left_hull(x: np.ndarray, y: np.ndarray, k: int) -> bool:
    """Whether point ``k`` of the points ``(y_j, x_j)`` minimises ``x + lam*y`` for some
    ``lam > 0`` (ties allowed) — the brute-force side of T6 (O(N^2), exact).

    "Lower-left hull" is the boundary of the convex hull of the points plus the
    positive quadrant: point k is off it iff some point weakly dominates it (smaller or
    equal in both, not equal in both) or some ``b, a`` with ``y_b < y_k < y_a`` put k
    strictly above the chord between them. (A dominated point can lie on the plain
    lower convex hull, e.g. ``(1, 1)`` and ``(5, 2)``; it is never on the lower-left hull.)

    >>> on_lower_left_hull([1, 2], [1, 5], 1)
    False
    """
    xs, ys = _exact_list(x), _exact_list(y)
    xk, yk = xs[k], ys[k]
    for j, (xj, yj) in enumerate(zip(xs, ys)):
        if j != k and xj <= xk and yj <= yk and (xj < xk or yj < yk):
            return False
    left = [j for j in range(len(xs)) if ys[j] < yk]
    right = [j for j in range(len(xs)) if ys[j] > yk]
    for b in left:
        for a in right:
            chord = xs[a] + (xs[b] - xs[a]) * (ys[a] - yk) / (ys[a] - ys[b])
            if xk > chord:
                return False
    return True


def hot_prefix_condition(share: float, holders: int, instances: int) -> bool:
    """T8 (paper Equation 2): a class with arrival ``share`` cached on ``holders`` of
    ``instances`` can stay on its holders without overloading them iff
    ``share <= holders / instances`` — decided exactly (a float share is read as the
    simplest fraction that rounds to it, so the boundary ``share = holders/instances``
    is feasible however it was computed).

    >>> hot_prefix_condition(0.3, 3, 10), hot_prefix_ratio_form(0.3, 3, 10)
    (True, True)
    """
    if instances <= 0 or not 0 <= holders <= instances:
        raise ValueError("need 0 <= holders <= instances and instances > 0")
    fast = _float_gt(float(share) * instances, float(holders)) if not isinstance(share, Fraction) else None
    if fast is not None:
        return not fast
    return exact_value(share) * instances <= holders


def hot_prefix_condition_many(shares, holders, instances: int) -> np.ndarray:
    """:func:`hot_prefix_condition` element-wise over arrays of shares and holder counts
    (same results: the float comparison where it is decided, the exact one of the scalar
    function on the few elements near the boundary).

    >>> hot_prefix_condition_many([0.3, 0.31, 0.2], [3, 3, 3], 10).tolist()
    [True, False, True]
    """
    s = np.asarray(shares, dtype=float)
    m = np.asarray(holders)
    if instances <= 0 or m.size and not ((m >= 0) & (m <= instances)).all():
        raise ValueError("need 0 <= holders <= instances and instances > 0")
    lhs, rhs = s * instances, m.astype(float)
    with np.errstate(invalid="ignore"):
        decided = np.isfinite(lhs) & np.isfinite(rhs) & (
            np.abs(lhs - rhs) > 1e-9 * np.maximum(np.maximum(np.abs(lhs), np.abs(rhs)), 1.0))
    out = ~(lhs > rhs)
    for i in np.flatnonzero(~decided).tolist():
        out[i] = hot_prefix_condition(float(s[i]), int(m[i]), instances)
    return out


def hot_prefix_ratio_form(share: float, holders: int, instances: int) -> bool:
    """T8, the paper's own form ``x/(1-x) <= |M|/(N-|M|)`` (needs 0 < x < 1, 0 < |M| < N),
    decided exactly like :func:`hot_prefix_condition`."""
    s = exact_value(share)
    if not (0 < s < 1 and 0 < holders < instances):
        raise ValueError("ratio form needs 0 < share < 1 and 0 < holders < instances")
    return s / (1 - s) <= Fraction(holders, instances - holders)


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
    """T8: the product keeps a class request on the holder (strictly better score),
    i.e. ``(Q_i+P_i)(BS_i+1) < (Q_j+P_j)(BS_j+1)``, decided exactly (equivalently
    ``(BS_i+1)/(BS_j+1) < A`` when ``Q_i + P_i > 0``).

    >>> bool(stays_on_holder(0, 100, 9, 0, 1000, 0))   # 100 * 10 = 1000 * 1: a tie, not strictly better
    False
    """
    qi, pi, bi, qj, pj, bj = (_exact_array(v) for v in (q_holder, p_holder, bs_holder, q_other, p_other, bs_other))
    return np.asarray((qi + pi) * (bi + 1) < (qj + pj) * (bj + 1), dtype=bool)


@dataclass(frozen=True)
class ZeroFactor:
    """T4: instances whose score is 0 because a factor is 0, and whether the pick is
    Pareto-dominated by *another* instance."""

    zero_instances: tuple[int, ...]
    tie_count: int
    pick: int
    pick_dominated: bool


def zero_factor(x: np.ndarray, y: np.ndarray) -> ZeroFactor:
    """T4 degeneracy check for ports with a zero factor (exact).

    >>> zero_factor(np.array([0., 0., 50.]), np.array([9., 1., 1.]))
    ZeroFactor(zero_instances=(0, 1), tie_count=2, pick=0, pick_dominated=True)
    >>> zero_factor([0, 0], [1, 1]).pick_dominated   # an identical twin does not dominate
    False
    """
    xs, ys = _exact_list(x), _exact_list(y)
    s = [a * b for a, b in zip(xs, ys)]
    k = exact_argmin(s)
    zeros = tuple(i for i, v in enumerate(s) if v == 0)
    ties = sum(1 for v in s if v == s[k])
    dominated = any(j != k and xs[j] <= xs[k] and ys[j] <= ys[k] and (xs[j] < xs[k] or ys[j] < ys[k])
                    for j in range(len(xs)))
    return ZeroFactor(zeros, ties, k, dominated)


def speed_normalised_scores(scores: np.ndarray, speeds: np.ndarray) -> np.ndarray:
    """T9: ``S_i / v_i`` — the product in time units on an instance of speed ``v_i``."""
    speeds = np.asarray(speeds, dtype=float)
    if np.any(speeds <= 0):
        raise ValueError("speeds must be positive")
    return np.asarray(scores, dtype=float) / speeds


def heterogeneity_flip(scores: np.ndarray, speeds: np.ndarray) -> bool:
    """T9: True when the plain product and the speed-normalised product pick different
    instances (exact; ties to the lowest index). On a pair ``i < j`` with
    ``r = S_i/S_j`` and ``rho = v_i/v_j`` the picks differ iff
    ``min(1, rho) < r <= max(1, rho)`` — strictly between 1 and rho when neither rule
    ties; at a tie (``r = 1`` or ``r = rho``) the lowest-index rule decides.

    >>> heterogeneity_flip([100, 100], [1, 2])   # r = 1: plain ties -> 0, normalised picks 1
    True
    """
    s, v = _exact_list(scores), _exact_list(speeds)
    if len(s) != len(v) or not s or any(u <= 0 for u in v):
        raise ValueError("scores and positive speeds must be non-empty and of equal length")
    return exact_argmin(s) != exact_argmin([a / b for a, b in zip(s, v)])


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
    pick moves. Closed form ``max(1, floor(m+) + 1)`` with ``m+`` the positive root of
    ``p m^2 + (x_i + p y_i) m + x_i y_i - runner_up`` (not ``ceil(m+)``: at an integer
    root the score ties the runner-up and the pick stays). Exact.

    >>> herding_window(x_i=1, y_i=1, runner_up=4, p=1)   # m+ = 1 exactly: (1+1)(1+1) = 4 ties
    2
    """
    args = (x_i, y_i, runner_up, p)
    if any(isinstance(v, Fraction) for v in args):
        fl = None   # exact arguments: always the exact comparison
        x, y, s, pp = (exact_value(v) for v in args)
    else:
        fl = tuple(float(v) for v in args)
        bad = next((v for v in fl if not math.isfinite(v)), None)
        if bad is not None:
            raise ValueError(f"need a finite number, got {bad!r}")
        x, y, s, pp = fl   # replaced by exact values only if a comparison lands near its boundary
    if pp < 0 or x < 0 or y < 0:
        raise ValueError("x_i, y_i and p must be non-negative")
    if pp == 0 and x == 0:
        return math.inf  # type: ignore[return-value]  # score never grows: absorbs everything
    exact: list = [] if fl is not None else [x, y, s, pp]

    def moved(m: int) -> bool:  # g(m) > 0: after m commits the runner-up wins
        if fl is not None:
            fast = _float_gt((fl[0] + m * fl[3]) * (fl[1] + m), fl[2])
            if fast is not None:
                return fast
        if not exact:
            exact.extend(exact_value(v) for v in args)
        ex, ey, es, ep = exact
        return (ex + m * ep) * (ey + m) > es

    # g is increasing: exponential search for a moved m, then bisection (exact, no float root)
    lo, hi = 0, 1
    while not moved(hi):
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if moved(mid):
            hi = mid
        else:
            lo = mid
    return hi


def herds(arrival_rate: float, snapshot_age: float, window: float) -> bool:
    """T10: ``arrival_rate * snapshot_age`` decisions share one snapshot; herding when
    that exceeds the herding window (requests/s times s versus requests), exactly.

    >>> herds(10, 0.3, 3)   # 10 * 0.3 = 3 decisions: exactly the window, no herding
    False
    """
    if window == math.inf:
        return False
    if not any(isinstance(v, Fraction) for v in (arrival_rate, snapshot_age, window)):
        fast = _float_gt(float(arrival_rate) * float(snapshot_age), float(window))
        if fast is not None:
            return fast
    return exact_value(arrival_rate) * exact_value(snapshot_age) > exact_value(window)


def marginal_cost(q, p, bs):
    """T7: marginal total latency (in units of the per-token time kappa) of routing a
    request with ``p`` uncached tokens to an instance with ``q`` queued prefill tokens
    and ``bs`` resident requests: ``(q + p) + bs * p``."""
    return np.asarray(q, float) + p + np.asarray(bs, float) * p


def cost_cross_term(q, bs):
    """T7: ``product - marginal_cost = q * bs`` — the queued backlog's interference,
    sunk whatever the routing decision, which the reference product double-counts."""
    return np.asarray(q, float) * np.asarray(bs, float)


# T11 --------------------------------------------------------------------------------
def _state(q, p, bs, extra=None):
    qs, bss = _exact_list(q), _exact_list(bs)
    ps = _exact_list(np.broadcast_to(np.asarray(p, dtype=object), (len(qs),)))
    es = [Fraction(0)] * len(qs) if extra is None else _exact_list(extra)
    if not (len(qs) == len(ps) == len(bss) == len(es)) or not qs:
        raise ValueError("q, p, bs (and extra) must be non-empty and of equal length")
    if any(v < 0 for v in qs + bss + es) or any(v < 1 for v in ps):
        raise ValueError("need q, bs, extra >= 0 and p >= 1")
    return qs, ps, bss, es


def _costs(qs, ps, bss, es):
    return [qv + pv + bv * pv + ev for qv, pv, bv, ev in zip(qs, ps, bss, es)]


def cost_optimal_picks(q, p, bs, extra=None) -> tuple[int, ...]:
    """T11: the instances minimising the marginal cost ``Q + P + BS*P (+ extra)``
    (T7, in units of kappa; ``extra`` = ``T0 S*/kappa + D``, the step and decode terms),
    exactly, in index order.

    >>> cost_optimal_picks([0, 100], [10, 1], [4, 5])   # costs 50 and 106
    (0,)
    """
    c = _costs(*_state(q, p, bs, extra))
    best = min(c)
    return tuple(i for i, v in enumerate(c) if v == best)


def cost_optimal_rate(p):
    """T11: with a common uncached length ``P`` on every instance the marginal cost is
    ``x + P y - P`` on ``x = Q + P``, ``y = BS + 1``: the linear rule with ``lam* = P``.
    Returns ``P`` (exact), or ``None`` when the instances' ``P`` differ (cache hits)
    and no single rate is implied.

    >>> cost_optimal_rate([512, 512, 512]), cost_optimal_rate([512, 16])
    (Fraction(512, 1), None)
    """
    ps = _exact_list(np.atleast_1d(np.asarray(p, dtype=object)))
    return ps[0] if all(v == ps[0] for v in ps) else None


def product_cost_optimal(q, p, bs, extra=None) -> bool:
    """T11: the product ``(Q+P)(BS+1)`` picks a cost-optimal instance. With a common
    ``P`` and no extra term this holds iff ``P`` lies in the agreement interval (T6)
    of the product's pick.

    >>> product_cost_optimal([0, 0], [100, 100], [0, 1]), product_cost_optimal([100, 0], [10, 10], [3, 20])
    (True, False)
    """
    qs, ps, bss, es = _state(q, p, bs, extra)
    k = exact_argmin([(qv + pv) * (bv + 1) for qv, pv, bv in zip(qs, ps, bss)])
    return k in cost_optimal_picks(qs, ps, bss, es)


def linear_cost_optimal_rates(q, p, bs, extra=None) -> tuple[AgreementInterval, ...]:
    """T11: for each cost-optimal instance ``j``, the rates ``lam > 0`` for which the
    linear rule on ``x = Q+P``, ``y = BS+1`` ranks ``j`` first (ties allowed) — the
    non-empty T6 intervals. An empty tuple: **no linear rule is cost-optimal** on this
    state (every cost minimiser is off the lower-left hull of ``(y, x)``, which needs
    per-instance ``P`` or the extra term; with a common ``P`` and no extra term
    ``lam = P`` always works).

    >>> linear_cost_optimal_rates([0, 100], [100, 1], [4, 5])   # the cheaper instance 1 is dominated in (y, x)
    ()
    """
    qs, ps, bss, es = _state(q, p, bs, extra)
    x = [qv + pv for qv, pv in zip(qs, ps)]
    y = [bv + 1 for bv in bss]
    out = []
    for j in cost_optimal_picks(qs, ps, bss, es):
        ai = agreement_interval(x, y, pick=j)
        if not ai.empty:
            out.append(ai)
    return tuple(out)


# T12 --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Regret:
    """T12: the product's pick ``k``, the cost-optimal ``best`` (lowest index), the exact
    excess marginal cost ``regret = c_k - c_best`` (units of kappa), the per-decision
    ``bound = Q_best BS_best - Q_k BS_k + e_k - e_best`` and the state-wide
    ``cap = max Q BS + max e - min e``; always ``0 <= regret <= bound <= cap``."""

    pick: int
    best: int
    regret: Fraction
    bound: Fraction
    cap: Fraction


def regret(q, p, bs, extra=None) -> Regret:
    """T12: the product's excess marginal cost over the cost-optimal pick on one state.

    >>> r = regret([100, 0], [10, 10], [3, 20])   # costs 140 and 210; products 440 and 210
    >>> (r.pick, r.best, r.regret, r.bound, r.cap)
    (1, 0, Fraction(70, 1), Fraction(300, 1), Fraction(300, 1))
    """
    qs, ps, bss, es = _state(q, p, bs, extra)
    k = exact_argmin([(qv + pv) * (bv + 1) for qv, pv, bv in zip(qs, ps, bss)])
    c = _costs(qs, ps, bss, es)
    j = exact_argmin(c)
    cross = [qv * bv for qv, bv in zip(qs, bss)]
    bound = cross[j] - cross[k] + es[k] - es[j]
    cap = max(cross) + max(es) - min(es)
    return Regret(k, j, c[k] - c[j], bound, cap)


# T13 --------------------------------------------------------------------------------
@dataclass(frozen=True)
class StabilityMap:
    """T13: the argmin of lines ``a_i + t b_i`` over ``t`` in ``[lo, hi]``: ``breaks``
    ``t_1 < ... < t_m`` (inside ``(lo, hi)``) and ``picks[i]``, the argmin on the open
    piece between consecutive breaks (lowest index among identical lines). At most N
    pieces (each line's argmin set is an interval). At a break the lowest-index rule
    decides among the tied lines (see :meth:`pick_at`)."""

    lo: Fraction
    hi: Fraction | float
    breaks: tuple[Fraction, ...]
    picks: tuple[int, ...]
    a: tuple[Fraction, ...]
    b: tuple[Fraction, ...]

    def pick_at(self, t) -> int:
        """The argmin at ``t`` exactly (lowest index on ties)."""
        tt = exact_value(t)
        return exact_argmin([ai + tt * bi for ai, bi in zip(self.a, self.b)])


def stability_intervals(a, b, lo=0, hi=None) -> StabilityMap:
    """T13: where the argmin of the lines ``a_i + t b_i`` changes on ``[lo, hi]``
    (``hi=None``: unbounded), exactly, in O(N) per piece and at most N pieces.

    >>> m = stability_intervals([0, 4, 10], [3, 1, 0])
    >>> m.breaks, m.picks
    ((Fraction(2, 1), Fraction(6, 1)), (0, 1, 2))
    """
    A, B = _exact_list(a), _exact_list(b)
    if len(A) != len(B) or not A:
        raise ValueError("a and b must be non-empty and of equal length")
    lo_f = exact_value(lo)
    hi_f = math.inf if hi is None else exact_value(hi)
    n = len(A)
    # just right of lo: smallest value, then smallest slope, then lowest index
    cur = min(range(n), key=lambda i: (A[i] + lo_f * B[i], B[i], i))
    breaks, picks, t = [], [cur], lo_f
    while True:
        cands = [(A[j] - A[cur]) / (B[cur] - B[j]) for j in range(n) if B[j] < B[cur]]
        cands = [c for c in cands if c > t]
        if not cands:
            break
        t_next = min(cands)
        if t_next >= hi_f:
            break
        nxt = min(range(n), key=lambda i: (A[i] + t_next * B[i], B[i], i))
        breaks.append(t_next)
        picks.append(nxt)
        cur, t = nxt, t_next
    return StabilityMap(lo_f, hi_f, tuple(breaks), tuple(picks), tuple(A), tuple(B))


def beta_stability(q, p, bs, alpha=1, lo=0, hi=None) -> StabilityMap:
    """T13: the pick of ``(Q + alpha P)(BS + beta)`` as ``beta`` varies: lines
    ``a_i = (Q_i + alpha P_i) BS_i``, ``b_i = Q_i + alpha P_i``.

    >>> beta_stability([0, 0], [100, 10], [0, 5]).breaks   # idle long prompt vs busy short one
    (Fraction(5, 9),)
    """
    qs, ps, bss, _ = _state(q, p, bs)
    al = exact_value(alpha)
    b = [qv + al * pv for qv, pv in zip(qs, ps)]
    return stability_intervals([bv * w for bv, w in zip(bss, b)], b, lo, hi)


def alpha_stability(q, p, bs, beta=1, lo=0, hi=None) -> StabilityMap:
    """T13: the pick of ``(Q + alpha P)(BS + beta)`` as ``alpha`` varies: lines
    ``a_i = Q_i (BS_i + beta)``, ``b_i = P_i (BS_i + beta)``.

    >>> alpha_stability([50, 0], [10, 100], [0, 0]).breaks
    (Fraction(5, 9),)
    """
    qs, ps, bss, _ = _state(q, p, bs)
    be = exact_value(beta)
    return stability_intervals([qv * (bv + be) for qv, bv in zip(qs, bss)],
                               [pv * (bv + be) for pv, bv in zip(ps, bss)], lo, hi)


def cost_optimal_betas(q, p, bs, alpha=1, extra=None, hi=None) -> tuple[tuple[Fraction, Fraction | float], ...]:
    """T13: the open pieces ``(start, end)`` of ``beta >= 0`` on which the product
    ``(Q + alpha P)(BS + beta)`` picks a cost-optimal instance (T7/T11 cost). Empty:
    no ``beta`` makes the product cost-optimal on this state.

    >>> cost_optimal_betas([0, 0], [100, 10], [0, 5])   # cost 100 vs 60: beta > 5/9 finds the cheaper one
    ((Fraction(5, 9), inf),)
    >>> cost_optimal_betas([100, 0], [10, 10], [3, 20])  # the cross term Q*BS = 300 hides the cheaper instance
    ()
    """
    qs, ps, bss, es = _state(q, p, bs, extra)
    best = set(cost_optimal_picks(qs, ps, bss, es))
    m = beta_stability(qs, ps, bss, alpha=alpha, hi=hi)
    edges = (m.lo,) + m.breaks + (m.hi,)
    return tuple((edges[i], edges[i + 1]) for i, k in enumerate(m.picks) if k in best)
