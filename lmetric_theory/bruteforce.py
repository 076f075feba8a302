"""Independent brute force for the falsifiers: random exact states and plain loops.

Nothing here uses :mod:`lmetric_theory.conditions`; the falsifier of each theorem
compares a numeric predicate against these loops on seeded random states in exact
rationals. Values are small so that ties and boundaries are drawn often.

>>> import random
>>> rng = random.Random(0)
>>> all(v > 0 for v in rand_pos(rng, 5))
True
>>> argmin([3, 1, 1]), argmins([3, 1, 1])
(1, {1, 2})
"""

from __future__ import annotations

import random
from fractions import Fraction

__all__ = ["rand_pos", "rand_nonneg_int", "rand_pos_int", "argmin", "argmins", "linear_picks", "report"]


def _one(rng: random.Random) -> Fraction:
    if rng.random() < 0.5:
        return Fraction(rng.randint(1, 6))
    return Fraction(rng.randint(1, 60), rng.randint(1, 8))


def rand_pos(rng: random.Random, n: int) -> list[Fraction]:
    """``n`` positive rationals, small so that ties are common."""
    return [_one(rng) for _ in range(n)]


def rand_nonneg_int(rng: random.Random, n: int, hi: int = 6) -> list[int]:
    """``n`` integers in ``[0, hi]`` (sometimes up to ``50 * hi``)."""
    top = hi if rng.random() < 0.6 else 50 * hi
    return [rng.randint(0, top) for _ in range(n)]


def rand_pos_int(rng: random.Random, n: int, hi: int = 6) -> list[int]:
    """``n`` integers in ``[1, hi]`` (sometimes up to ``50 * hi``)."""
    return [v + 1 for v in rand_nonneg_int(rng, n, hi - 1)]


def argmin(values) -> int:
    """First index of the minimum (the reference router's tie rule)."""
    best = min(values)
    for i, v in enumerate(values):
        if v == best:
            return i
    raise AssertionError("unreachable")


def argmins(values) -> set[int]:
    """Every index attaining the minimum."""
    best = min(values)
    return {i for i, v in enumerate(values) if v == best}


def linear_picks(x, y, lam) -> set[int]:
    """The instances linear(``lam``) ranks first (ties included)."""
    return argmins([a + lam * b for a, b in zip(x, y)])


def report(name: str, state: object, got: object, want: object) -> str:
    """One counterexample line."""
    return f"{name}: state {state}: predicate {got!r}, brute force {want!r}"


def rate_candidates(x, y) -> set[Fraction]:
    """Exchange rates that witness every linear pick: the argmin set of ``x + lam y``
    changes only at pairwise break-even rates, so the positive rates, the midpoints
    between them and points beyond both ends cover every possible pick set."""
    n = len(x)
    rates = sorted({(x[j] - x[i]) / (y[i] - y[j]) for i in range(n) for j in range(n)
                    if y[i] != y[j] and (x[j] - x[i]) / (y[i] - y[j]) > 0})
    cands = set(rates) | {(a + b) / 2 for a, b in zip(rates, rates[1:])}
    cands |= {rates[0] / 2, rates[-1] * 2} if rates else {Fraction(1)}
    return cands


def exists_rate(x, y, targets) -> bool:
    """Is there ``lam > 0`` for which linear ranks one of ``targets`` first (ties allowed)?"""
    targets = set(targets)
    return any(linear_picks(x, y, lam) & targets for lam in rate_candidates(x, y))


def rejects(fn, *args, **kwargs) -> bool:
    """Whether ``fn(*args, **kwargs)`` refuses its input with a ``ValueError``."""
    try:
        fn(*args, **kwargs)
    except ValueError:
        return True
    return False


def close(got, want, rel: float = 1e-12) -> bool:
    """Float ``got`` within a relative ``rel`` of the exact ``want`` (the documented
    tolerance of the real-valued helpers, which return floats)."""
    w = float(want)
    return abs(float(got) - w) <= rel * max(1.0, abs(w))
