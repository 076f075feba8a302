"""A child process that serves HTTP: started, waited for, measured and stopped.

Every engine and router the tests and benchmarks run lives in its own process (a crash or
a hang there cannot take the test process down), in its own session (so a stop reaches
its children), with its output in a log file (never a pipe that could fill and block),
and, on Linux, a parent-death signal (so it dies with the process that started it).

>>> port = free_port()
>>> 1024 <= port <= 65535
True
>>> p = ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(30)"], url="http://127.0.0.1:1")
>>> p.start().alive()
True
>>> p.rss_mib() > 0
True
>>> p.stop()
>>> p.alive()
False
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

__all__ = ["ManagedProcess", "StartError", "free_port", "wait_http"]


class StartError(RuntimeError):
    """A managed process did not become ready; the message ends with its log's tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen | None = None, interval_s: float = 0.1) -> float:
    """Poll ``url`` until it answers 200; return the seconds waited.

    Bounded: raises :class:`TimeoutError` after ``timeout_s``, :class:`ChildProcessError` as
    soon as ``proc`` (if given) has exited."""
    import httpx

    t0 = time.monotonic()
    deadline = t0 + timeout_s
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            if proc is not None and proc.poll() is not None:
                raise ChildProcessError(f"exited with code {proc.returncode} before {url} answered")
            try:
                if client.get(url).status_code == 200:
                    return time.monotonic() - t0
            except httpx.HTTPError:
                pass
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{url} did not answer 200 within {timeout_s:.0f} s")
            time.sleep(interval_s)


def _child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    os.setsid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except OSError:
            pass


@dataclass
class ManagedProcess:
    """One command run as a child process that serves ``url`` (its base URL).

    ``ready_path`` is polled (``url + ready_path``) by :meth:`start` until 200, for at most
    ``ready_timeout_s``; ``start_seconds`` records how long that took."""

    name: str
    argv: list[str]
    url: str
    ready_path: str | None = None
    ready_timeout_s: float = 60.0
    env: dict[str, str] | None = None
    cpus: set[int] | None = None
    log_path: str | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)
    start_seconds: float | None = None

    def start(self) -> "ManagedProcess":
        if self.proc is not None:
            raise RuntimeError(f"{self.name} already started")
        if self.log_path is None:
            fd, self.log_path = tempfile.mkstemp(prefix=f"lmetric-{self.name}-", suffix=".log")
            os.close(fd)
        env = dict(os.environ)
        env.update(self.env or {})
        t0 = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env, preexec_fn=_child_setup, close_fds=True)
        if self.cpus and hasattr(os, "sched_setaffinity"):
            try:
                os.sched_setaffinity(self.proc.pid, self.cpus)
            except OSError:
                pass
        if self.ready_path is not None:
            try:
                wait_http(self.url + self.ready_path, self.ready_timeout_s, self.proc)
            except (TimeoutError, ChildProcessError) as exc:
                tail = self.log_tail()
                self.stop()
                raise StartError(f"{self.name}: {exc}; log {self.log_path}:\n{tail}") from None
        self.start_seconds = time.monotonic() - t0
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_mib(self) -> float:
        """Resident memory of the process (MiB, from ``/proc``); 0.0 where unavailable."""
        if not self.alive():
            return 0.0
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return 0.0

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except (OSError, TypeError):
            return ""

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM to the process group, then SIGKILL after ``grace_s``; idempotent."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def __enter__(self) -> "ManagedProcess":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()
