"""``python -m lmetric_theory check|explain`` — same as ``lmetric theory ...``."""

import sys

from .cli import main, run_command

if __name__ == "__main__":
    sys.exit(run_command(main))
