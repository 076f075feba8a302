"""The command-line options every multi-run command shares.

>>> import argparse
>>> p = argparse.ArgumentParser()
>>> add_run_arguments(p)
>>> o = options_from_args(p.parse_args(["--jobs", "2", "--no-cache"]), default_cache="out/.cache")
>>> o.jobs, o.cache_dir, o.scheduler
(2, None, None)
>>> options_from_args(p.parse_args([]), default_cache="out/.cache").cache_dir
'out/.cache'
"""

from __future__ import annotations

import argparse

from .executor import RunOptions

__all__ = ["add_run_arguments", "options_from_args"]


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("execution (parallel, resumable)")
    g.add_argument("--jobs", type=int, metavar="N", help="local worker processes (default: every core; 1 = in this process)")
    g.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on a Dask distributed cluster instead")
    g.add_argument("--cache-dir", metavar="DIR", help="where finished runs are cached (default: under the output folder); "
                   "a rerun reuses them, so an interrupted command resumes")
    g.add_argument("--no-cache", action="store_true", help="neither read nor write cached runs")
    g.add_argument("--progress", choices=("auto", "bar", "lines", "off"), default="auto",
                   help="progress display (default: a bar on a terminal, one line per run otherwise)")


def options_from_args(a: argparse.Namespace, default_cache: str | None) -> RunOptions:
    """:class:`RunOptions` from parsed arguments; raises ``ValueError`` with a one-line message."""
    cache = None if a.no_cache else (a.cache_dir or default_cache)
    return RunOptions(jobs=a.jobs, scheduler=a.scheduler, cache_dir=cache, progress=a.progress)
