"""``lmetric detector evaluate`` — score the detectors (see :mod:`.evaluate`)."""

from __future__ import annotations

import sys
from typing import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None, prog: str = "lmetric detector") -> int:
    argv = list(argv or [])
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: {prog} evaluate [options]\n\n  evaluate   score the regime detectors on labelled and randomised "
              "scenarios and real traces (`evaluate --help`)")
        return 0 if argv else 2
    if argv[0] != "evaluate":
        print(f"error: unknown detector command {argv[0]!r} (expected 'evaluate')", file=sys.stderr)
        return 2
    from .evaluate import main as evaluate_main

    return evaluate_main(argv[1:], prog=f"{prog} evaluate")
