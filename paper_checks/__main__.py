"""``python -m paper_checks``."""

import sys

from lmetric_theory.cli import run_command

from .report import main

if __name__ == "__main__":
    sys.exit(run_command(main))
