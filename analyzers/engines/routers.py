"""Routers in front of a fleet, each in its own process: ``lmetric serve`` and the two Rust
peer routers installed from PyPI by ``make bench-install`` (``sglang-router`` 0.3.2,
``vllm-router`` 0.1.17), so they can be compared on the same backends.

The command builders are pure (they only assemble argv); :func:`start_router` runs one.

>>> spec = router_spec("sglang:cache_aware", ["http://127.0.0.1:9001", "http://127.0.0.1:9002"], port=9000,
...                    metrics_port=9100)
>>> spec.argv[1:4], spec.argv[-6:]
(['-m', 'sglang_router.launch_router', '--host'], ['--policy', 'cache_aware', '--prometheus-host', '127.0.0.1', '--prometheus-port', '9100'])
>>> router_spec("lmetric:round-robin", ["http://127.0.0.1:9001"], port=9000).argv[3:]
['serve', '--host', '127.0.0.1', '--port', '9000', '--backend', 'http://127.0.0.1:9001', '--scorer', 'round-robin']
>>> router_spec("nginx:rr", ["http://127.0.0.1:9001"], port=9000)
Traceback (most recent call last):
...
ValueError: unknown router 'nginx' in 'nginx:rr'; known: lmetric, sglang, vllm
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import dataclass, field

from .process import ManagedProcess, free_port

__all__ = ["RouterSpec", "router_spec", "start_router", "router_available", "ROUTERS"]

# router kind -> (policies it accepts, python module that must be importable)
ROUTERS = {
    "lmetric": (None, "analyzers.serve"),
    "sglang": (("cache_aware", "round_robin", "random", "power_of_two"), "sglang_router"),
    "vllm": (("cache_aware", "round_robin", "random", "power_of_two", "consistent_hash", "sticky_least_loaded"),
             "vllm_router"),
}


@dataclass(frozen=True)
class RouterSpec:
    """``label`` is ``KIND:POLICY`` (e.g. ``lmetric:lmetric``, ``sglang:cache_aware``)."""

    label: str
    argv: list[str]
    url: str
    ready_path: str = "/health"
    extra: dict = field(default_factory=dict)


def router_available(kind: str) -> bool:
    """Whether the router's package is installed (the Rust routers need ``make bench-install``)."""
    return kind in ROUTERS and importlib.util.find_spec(ROUTERS[kind][1]) is not None


def router_spec(label: str, backends: list[str], port: int, host: str = "127.0.0.1", metrics_port: int | None = None,
                extra_args: list[str] | None = None) -> RouterSpec:
    """The command that runs router ``label`` (``KIND:POLICY``) on ``host:port`` in front of ``backends``."""
    kind, _, policy = label.partition(":")
    if kind not in ROUTERS:
        raise ValueError(f"unknown router {kind!r} in {label!r}; known: {', '.join(ROUTERS)}")
    if not policy:
        raise ValueError(f"{label!r}: give KIND:POLICY (e.g. {kind}:round_robin)")
    if not backends:
        raise ValueError("give at least one backend URL")
    allowed = ROUTERS[kind][0]
    if allowed is not None and policy not in allowed:
        raise ValueError(f"{kind} router has no policy {policy!r}; known: {', '.join(allowed)}")
    url = f"http://{host}:{port}"
    if kind == "lmetric":
        argv = [sys.executable, "-m", "analyzers", "serve", "--host", host, "--port", str(port)]
        for b in backends:
            argv += ["--backend", b]
        argv += ["--scorer", policy]
    else:
        mport = metrics_port if metrics_port is not None else free_port(host)
        if kind == "sglang":
            argv = [sys.executable, "-m", "sglang_router.launch_router"]
        else:
            exe = shutil.which("vllm-router", path=_bindir()) or "vllm-router"
            argv = [exe]
        argv += ["--host", host, "--port", str(port), "--log-level", "warn" if kind == "sglang" else "warning",
                 "--worker-urls", *backends, "--policy", policy,
                 "--prometheus-host", host, "--prometheus-port", str(mport)]
    return RouterSpec(label, argv + list(extra_args or []), url)


def _bindir() -> str:
    import os

    return os.path.dirname(sys.executable)


def start_router(label: str, backends: list[str], port: int | None = None, ready_timeout_s: float = 60.0,
                 cpus: set[int] | None = None, extra_args: list[str] | None = None) -> ManagedProcess:
    """Start router ``label`` on a free port (or ``port``) and wait until its ``/health`` answers."""
    spec = router_spec(label, backends, port if port is not None else free_port(), extra_args=extra_args)
    return ManagedProcess(label.replace(":", "-"), spec.argv, spec.url, ready_path=spec.ready_path,
                          ready_timeout_s=ready_timeout_s, cpus=cpus).start()
