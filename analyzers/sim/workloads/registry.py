"""Workloads by name, plus replay transforms (speed-up, time window, limit).

Names: ``mooncake-conversation``, ``mooncake-synthetic``, ``azure-code``,
``azure-conv``, ``weka-coding`` (bundled traces) and ``chatbot``, ``api``, ``coder``,
``toolagent`` (seeded generators). A user's own file: :func:`load_trace_file`.

>>> import numpy as np
>>> reqs = load_workload("azure-code", np.random.default_rng(0), scale=2.0, limit=100)
>>> len(reqs), reqs[0].arrival, [r.rid for r in reqs[:3]]
(100, 0.0, [0, 1, 2])
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..request import Request
from .errors import WorkloadError
from .synthetic import SPECS, generate
from .traces import bundled_path, load_azure, load_mooncake, load_weka

__all__ = ["WORKLOADS", "load_workload", "load_trace_file", "transform"]

TRACE_WORKLOADS: dict[str, Callable[[np.random.Generator], list[Request]]] = {
    "mooncake-conversation": lambda rng: load_mooncake(bundled_path("mooncake_conversation")),
    "mooncake-synthetic": lambda rng: load_mooncake(bundled_path("mooncake_synthetic")),
    "azure-code": lambda rng: load_azure(bundled_path("azure_llm_2023_code")),
    "azure-conv": lambda rng: load_azure(bundled_path("azure_llm_2023_conv")),
    "weka-coding": lambda rng: load_weka(bundled_path("weka_claude_code_sample"), rng),
}
WORKLOADS: tuple[str, ...] = tuple(TRACE_WORKLOADS) + tuple(SPECS)
SYNTHETIC_DEFAULT_DURATION_S = 1200.0  # the paper replays 1200 s


def load_trace_file(path: str | Path, rng: np.random.Generator) -> list[Request]:
    """A user's trace: ``.jsonl`` (Mooncake format), ``.csv`` (Azure format), or a
    ``.json`` file / directory of WEKA conversations."""
    path = Path(path)
    try:
        if path.is_dir() or path.suffix == ".json":
            return load_weka(path, rng)
        if path.suffix == ".jsonl":
            return load_mooncake(path)
        if path.suffix == ".csv":
            return load_azure(path)
    except UnicodeDecodeError:
        raise WorkloadError(f"{path}: not UTF-8 text (a trace is a text file)") from None
    raise WorkloadError(f"{path}: unknown trace format (expected .jsonl, .csv, .json or a directory)")


def transform(requests: Sequence[Request], *, scale: float = 1.0, window: float | None = None,
              start: float = 0.0, limit: int | None = None) -> list[Request]:
    """Replay speed-up ``scale`` (arrival times divided by it), keep the window
    ``[start, start + window)`` of the *scaled* timeline (shifted to 0), then the
    first ``limit`` requests; request ids are renumbered in arrival order."""
    if scale <= 0:
        raise WorkloadError(f"scale must be positive, got {scale}")
    if window is not None and window <= 0:
        raise WorkloadError(f"window must be positive, got {window}")
    if limit is not None and limit <= 0:
        raise WorkloadError(f"limit must be positive, got {limit}")
    reqs = sorted(requests, key=lambda r: (r.arrival, r.rid))
    if not reqs:
        raise WorkloadError("the workload is empty")
    t0 = reqs[0].arrival
    out = []
    for r in reqs:
        a = (r.arrival - t0) / scale
        if a < start:
            continue
        if window is not None and a >= start + window:
            break
        out.append((a - start, r))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise WorkloadError("no request falls in the chosen window")
    return [replace(r, rid=i, arrival=a) for i, (a, r) in enumerate(out)]


def load_workload(name: str | None, rng: np.random.Generator, *, trace: str | Path | None = None,
                  scale: float = 1.0, window: float | None = None, limit: int | None = None,
                  duration_s: float | None = None) -> list[Request]:
    """Load a named workload (or ``trace``) and apply :func:`transform`."""
    if trace is not None:
        reqs = load_trace_file(trace, rng)
    elif name in TRACE_WORKLOADS:
        reqs = TRACE_WORKLOADS[name](rng)
    elif name in SPECS:
        dur = duration_s or (window * scale if window else None)
        if dur is None and limit is None:
            dur = SYNTHETIC_DEFAULT_DURATION_S * scale
        reqs = generate(name, rng, duration_s=dur) if dur else generate(name, rng, n_requests=limit)
    else:
        raise WorkloadError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    return transform(reqs, scale=scale, window=window, limit=limit)
