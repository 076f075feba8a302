"""The ``lmetric`` command.

Subcommands:

* ``lmetric theory check|explain`` — the machine-checked theorems (:mod:`lmetric_theory.cli`).
* ``lmetric paper-checks`` — every claim of the paper with a verdict (:mod:`paper_checks`).

>>> main(["theory", "check", "--only", "T1"])  # doctest: +ELLIPSIS
id...
1 passed, 0 failed
0
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="lmetric", description="The LMetric toolkit: theory, paper checks.")
    parser.add_argument("command", choices=["theory", "paper-checks"], help="what to run")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "theory":
        from lmetric_theory.cli import main as theory_main

        return theory_main(rest, prog="lmetric theory")
    if command == "paper-checks":
        from paper_checks.report import main as checks_main

        return checks_main(rest, prog="lmetric paper-checks")
    parser.error(f"unknown command {command!r}")
    return 2
