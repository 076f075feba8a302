"""Hypothesis strategies shared by the theory tests: exact positive fractions."""

from fractions import Fraction

from hypothesis import strategies as st

__all__ = ["pos_fraction", "nonneg_int", "instances"]


def pos_fraction(max_num: int = 10_000, max_den: int = 50):
    return st.builds(Fraction, st.integers(1, max_num), st.integers(1, max_den))


nonneg_int = st.integers(0, 5_000)


def instances(min_size: int = 2, max_size: int = 12):
    """Lists of (x, y) with positive exact fractions."""
    return st.lists(st.tuples(pos_fraction(), pos_fraction(200, 8)), min_size=min_size, max_size=max_size)
