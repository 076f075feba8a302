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


def machine_line() -> str:
    """``CPU: <model> x <cores>, load average <1m> <5m> <15m>`` for the figures' context."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return f"CPU: {model} x {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
