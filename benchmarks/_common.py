"""Helpers shared by the benchmarks."""

from __future__ import annotations

import argparse
import os

__all__ = ["parse_args_one_core"]


def parse_args_one_core(doc: str, argv=None) -> argparse.Namespace:
    """Parse ``--quick`` and pin the process to one core (the targets are per core)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs (a smoke run)")
    a = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    return a
