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


def cpu_model() -> str:
    """The CPU model from ``/proc/cpuinfo`` (``"unknown CPU"`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def load_average() -> str:
    """``"<1m> <5m> <15m>"`` load average."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return " ".join(f"{x:.2f}" for x in load)


def machine_line() -> str:
    """``CPU: <model> x <cores>, load average <1m> <5m> <15m>`` for the figures' context."""
    return f"CPU: {cpu_model()} x {os.cpu_count()}, load average {load_average()}"
