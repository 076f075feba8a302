"""Task functions for the executor tests (importable by worker processes)."""

import os
import time
from pathlib import Path


def record(i: int, marker_dir: str, delay: float = 0.0) -> dict:
    """Append one line to ``marker_dir/i`` (counts the calls), sleep ``delay``, return ``{"i": i, "sq": i*i}``."""
    with open(Path(marker_dir) / str(i), "a") as fh:
        fh.write(f"{os.getpid()}\n")
    time.sleep(delay)
    return {"i": i, "sq": i * i}


def fail(msg: str) -> dict:
    raise ValueError(msg)
