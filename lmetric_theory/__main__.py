"""``python -m lmetric_theory check|explain`` — same as ``lmetric theory ...``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
