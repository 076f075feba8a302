"""One executor for every multi-run command: local processes, or a Dask cluster.

:func:`run_tasks` runs a list of :class:`~.tasks.Task` and returns their results in
order. Where the runs execute is a ``concurrent.futures.Executor``:

* ``jobs == 1`` — in this process, one after another (no pool);
* ``jobs > 1`` — a ``ProcessPoolExecutor`` of ``jobs`` workers (``forkserver``; the
  workers ignore Ctrl-C so the parent decides what stops);
* ``scheduler="tcp://host:port"`` — a Dask distributed cluster through
  ``Client.get_executor()``, the same interface, so there is one code path.

Tasks are submitted through a bounded window (twice the worker count), so a result is
handled as soon as it finishes: stored in the :class:`~.cache.ResultCache` (when a
cache directory is given) and passed to ``on_result`` (the command writes its partial
output there). A rerun finds finished runs in the cache and does not repeat them, so
an interrupted command resumes. Progress: a rich bar on a terminal, otherwise one
plain line per finished run on stderr.

>>> from analyzers.runs.tasks import Task
>>> run_tasks([Task("builtins:dict", {"a": i}) for i in range(3)], RunOptions(jobs=1, progress="off"))
[{'a': 0}, {'a': 1}, {'a': 2}]
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .cache import ResultCache
from .tasks import Task, call_task, code_fingerprint, module_digest

__all__ = ["RunOptions", "RunError", "run_tasks", "default_jobs"]


def default_jobs() -> int:
    """Cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class RunOptions:
    """Where and how runs execute. ``jobs=None``: every core; ``cache_dir=None``: no cache;
    ``progress``: ``auto`` (bar on a terminal, lines otherwise), ``bar``, ``lines`` or ``off``."""

    jobs: int | None = None
    scheduler: str | None = None
    cache_dir: str | None = None
    progress: str = "auto"

    def __post_init__(self):
        if self.jobs is not None and self.jobs < 1:
            raise ValueError("--jobs must be at least 1")
        if self.progress not in ("auto", "bar", "lines", "off"):
            raise ValueError("progress must be auto, bar, lines or off")
        if self.scheduler is not None and not self.scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://")):
            raise ValueError(f"--scheduler must be an address like tcp://HOST:PORT, got {self.scheduler!r}")


class RunError(RuntimeError):
    """A run failed; the message names it and the cause in one line."""


def _timed_call(fn: str, config: dict) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = call_task(fn, config)
    return out, time.perf_counter() - t0


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Inline(cf.Executor):
    """Runs each submission immediately in this process."""

    def submit(self, fn, /, *args, **kwargs):
        f: cf.Future = cf.Future()
        try:
            f.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # KeyboardInterrupt propagates to the caller below
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            f.set_exception(exc)
        return f


class _Progress:
    def __init__(self, total: int, mode: str, title: str):
        self.total, self.done, self.title = total, 0, title
        if mode == "auto":
            mode = "bar" if sys.stderr.isatty() else "lines"
        self.mode = mode
        self._bar = None
        if mode == "bar" and total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn(title), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.description}"), console=Console(stderr=True), transient=True)
            self._task = self._bar.add_task("", total=total)
            self._bar.start()

    def step(self, label: str, note: str) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=f"{label} ({note})")
        elif self.mode == "lines":
            print(f"[{self.done}/{self.total}] {self.title} {label} ({note})", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _make_executor(opts: RunOptions):
    """(executor, window, closer)."""
    if opts.scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise RunError("--scheduler needs dask[distributed] installed (pip install 'dask[distributed]')") from None
        try:
            client = Client(opts.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise RunError(f"cannot reach the Dask scheduler at {opts.scheduler}: {exc}") from None
        except Exception as exc:  # something else answers there (its bytes read as a Dask frame: any error)
            raise RunError(f"no Dask scheduler at {opts.scheduler}: the handshake failed "
                           f"({type(exc).__name__}: {str(exc)[:120]})") from None
        threads = sum(client.nthreads().values()) or 1
        ex = client.get_executor()

        def close(cancel: bool) -> None:
            ex.shutdown(wait=not cancel)
            client.close()

        return ex, 2 * threads, close
    jobs = opts.jobs or default_jobs()
    if jobs == 1:
        ex = _Inline()
        return ex, 1, lambda cancel: None
    import multiprocessing as mp

    ctx = mp.get_context("forkserver")
    ex = cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_ignore_sigint)

    def close(cancel: bool) -> None:
        if cancel:
            procs = list(getattr(ex, "_processes", {}).values())
            ex.shutdown(wait=False, cancel_futures=True)
            for p in procs:  # runs in progress are not waited for; finished ones are cached
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
        else:
            ex.shutdown(wait=True)

    return ex, 2 * jobs, close


def run_tasks(tasks: Sequence[Task], opts: RunOptions | None = None, *,
              on_result: Callable[[int, Task, Any], None] | None = None, title: str = "runs",
              code: str | None = None) -> list[Any]:
    """Run ``tasks``; results in task order. ``on_result(index, task, result)`` is called as
    each finishes (cached ones first). Runs with the same key execute once.

    A failing run raises :class:`RunError` after the others are cancelled; finished runs
    stay cached. ``KeyboardInterrupt`` cancels what is pending and propagates."""
    opts = opts or RunOptions()
    cache = ResultCache(opts.cache_dir) if opts.cache_dir else None
    code = code if code is not None else (code_fingerprint() if cache is not None else "")
    digests: dict[str, str] = {}
    if cache is not None:
        for t in tasks:
            if t.fn not in digests:
                digests[t.fn] = module_digest(t.fn)
    keys = [t.key(f"{code}:{digests.get(t.fn, '')}") for t in tasks]
    results: list[Any] = [None] * len(tasks)
    have: dict[str, Any] = {}
    by_key: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        by_key.setdefault(k, []).append(i)
    prog = _Progress(len(by_key), opts.progress, title)

    def deliver(k: str, value: Any) -> None:
        have[k] = value
        for i in by_key[k]:
            results[i] = value
            if on_result is not None:
                on_result(i, tasks[i], value)

    try:
        todo = []
        for k, idx in by_key.items():
            if cache is not None:
                found, value = cache.get(k)
                if found:
                    deliver(k, value)
                    prog.step(tasks[idx[0]].label, "cached")
                    continue
            todo.append(k)
        if todo:
            ex, window, close = _make_executor(opts)
            cancel = True
            try:
                queue = list(reversed(todo))
                pending: dict[cf.Future, str] = {}
                while queue or pending:
                    while queue and len(pending) < window:
                        k = queue.pop()
                        t = tasks[by_key[k][0]]
                        pending[ex.submit(_timed_call, t.fn, dict(t.config))] = k
                    done, _ = cf.wait(list(pending), return_when=cf.FIRST_COMPLETED)
                    for f in done:
                        k = pending.pop(f)
                        t = tasks[by_key[k][0]]
                        exc = f.exception()
                        if exc is not None:
                            raise RunError(f"run {t.label or t.fn} failed: {type(exc).__name__}: {exc}") from exc
                        value, secs = f.result()
                        if cache is not None:
                            cache.put(k, t, value, secs)
                        deliver(k, value)
                        prog.step(t.label, f"{secs:.1f} s")
                cancel = False
            finally:
                close(cancel)
    finally:
        prog.close()
    return results
