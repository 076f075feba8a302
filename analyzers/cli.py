"""The ``lmetric`` command.

Subcommands:

* ``lmetric theory check|explain`` — the machine-checked theorems (:mod:`lmetric_theory.cli`).
* ``lmetric paper-checks`` — every claim of the paper with a verdict (:mod:`paper_checks`).
* ``lmetric simulate`` / ``lmetric sweep`` — replay workloads on a simulated cluster (:mod:`analyzers.sim`).

>>> main(["theory", "check", "--only", "T1"])  # doctest: +ELLIPSIS
id...
1 passed, 0 failed
0
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

__all__ = ["main", "COMMANDS"]

# command -> (module, function); imported only when used
COMMANDS = {
    "theory": ("lmetric_theory.cli", "main"),
    "paper-checks": ("paper_checks.report", "main"),
    "simulate": ("analyzers.sim.cli", "main_simulate"),
    "sweep": ("analyzers.sim.cli", "main_sweep"),
    "lambda-sweep": ("analyzers.sim.lambda_sweep", "main"),
    "detector": ("analyzers.detector.cli", "main"),
    "sidecar": ("analyzers.sidecar.cli", "main"),
    "serve": ("analyzers.serve.cli", "main"),
    "replay": ("analyzers.loadgen.cli", "main"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="lmetric", description="The LMetric toolkit: theory, paper checks, simulation.")
    parser.add_argument("command", choices=list(COMMANDS), help="what to run; `lmetric COMMAND --help` for its options")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        parser.error(f"unknown command {command!r}; known: {', '.join(COMMANDS)}")
    module, func = COMMANDS[command]
    from lmetric_theory.cli import run_command

    return run_command(getattr(importlib.import_module(module), func), rest, prog=f"lmetric {command}")
