"""Command-line argument checks shared by the ``lmetric`` commands: every bad argument
gives one line ``PROG: error: ...`` and exit status 2 — never a traceback or a hang.

>>> positive_float("0.5"), nonneg_int("0")
(0.5, 0)
>>> positive_float("nan")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: expected a finite number > 0, got 'nan'
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import NoReturn

__all__ = ["Parser", "positive_float", "nonneg_float", "positive_int", "nonneg_int", "writable_dir",
           "writable_file", "readable_file", "check_finite_params"]


class Parser(argparse.ArgumentParser):
    """``argparse`` with a one-line error (no usage block) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _float(v: str, ok, what: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {v!r}") from None
    if not (math.isfinite(x) and ok(x)):
        raise argparse.ArgumentTypeError(f"expected {what}, got {v!r}")
    return x


def _int(v: str, lo: int, what: str) -> int:
    try:
        x = int(v)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected {what}, got {v!r}") from None
    if x < lo:
        raise argparse.ArgumentTypeError(f"expected {what}, got {v!r}")
    return x


def positive_float(v: str) -> float:
    return _float(v, lambda x: x > 0, "a finite number > 0")


def nonneg_float(v: str) -> float:
    return _float(v, lambda x: x >= 0, "a finite number >= 0")


def positive_int(v: str) -> int:
    return _int(v, 1, "an integer >= 1")


def nonneg_int(v: str) -> int:
    return _int(v, 0, "an integer >= 0")


def writable_dir(path: str) -> str | None:
    """Why ``path`` cannot be used as an output directory (created if missing), or ``None``."""
    p = Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create directory {path!r}: {exc.strerror or exc}"
    if not p.is_dir():
        return f"{path!r} is not a directory"
    if not os.access(p, os.W_OK | os.X_OK):
        return f"directory {path!r} is not writable"
    return None


def writable_file(path: str) -> str | None:
    """Why ``path`` cannot be written (appended) as a file, or ``None``."""
    p = Path(path)
    if p.is_dir():
        return f"{path!r} is a directory"
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        return f"directory {str(parent)!r} does not exist"
    if (p.exists() and not os.access(p, os.W_OK)) or (not p.exists() and not os.access(parent, os.W_OK | os.X_OK)):
        return f"{path!r} is not writable"
    return None


def readable_file(path: str) -> str | None:
    """Why ``path`` cannot be read as a file, or ``None``."""
    p = Path(path)
    if not p.exists():
        return f"{path}: no such file"
    if p.is_dir():
        return f"{path!r} is a directory, not a file"
    if not os.access(p, os.R_OK):
        return f"{path!r} is not readable"
    return None


def check_finite_params(params: dict) -> str | None:
    """Scorer parameters: numbers must be finite and >= 0 (rates, weights, exchange rates).

    >>> check_finite_params({"lambda": -5.0})
    'parameter lambda=-5 must be a finite number >= 0'
    """
    for k, v in params.items():
        if isinstance(v, float) and not (math.isfinite(v) and v >= 0):
            return f"parameter {k}={v:g} must be a finite number >= 0"
    return None


def fail(prog: str, message: str) -> int:
    """Print ``PROG: error: message`` to stderr; returns 2 (the exit status)."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    return 2
