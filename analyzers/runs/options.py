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

__all__ = ["add_run_arguments", "options_from_args", "interrupted_message"]


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


def interrupted_message(opts: RunOptions, partial: str | None = None) -> str:
    """What a multi-run command prints on Ctrl-C: where finished runs are and how to resume.

    >>> interrupted_message(RunOptions(jobs=1, cache_dir="out/.cache"), "out/sweep.jsonl")
    'interrupted: finished runs are in out/sweep.jsonl and cached in out/.cache; rerun the same command to resume'
    >>> interrupted_message(RunOptions(jobs=1, cache_dir=None))
    'interrupted (no cache: a rerun starts over)'
    """
    where = [f"in {partial}"] if partial else []
    if opts.cache_dir:
        where.append(f"cached in {opts.cache_dir}")
        return f"interrupted: finished runs are {' and '.join(where)}; rerun the same command to resume"
    return f"interrupted: finished runs are {where[0]} (no cache: a rerun starts over)" if where else \
        "interrupted (no cache: a rerun starts over)"
