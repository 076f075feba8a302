"""Figures like the paper's: latency CDFs per scorer, load sweeps, per-instance load.

All functions write a PNG and return its path; matplotlib runs headless (Agg).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from analyzers.telemetry.schema import InstanceSnapshot

from .request import RequestResult

__all__ = ["plot_cdfs", "plot_load_sweep", "plot_instance_series"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, axes, path, legend: bool = True) -> Path:
    """Legend on the first panel, grid everywhere, write the PNG and close the figure."""
    for ax in axes:
        ax.grid(alpha=0.3)
    if legend:
        axes[0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_cdfs(by_scorer: Mapping[str, Sequence[RequestResult]], path: str | Path) -> Path:
    """TTFT and TPOT CDFs, one line per scorer."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, results in by_scorer.items():
        for ax, metric in zip(axes, ("ttft", "tpot")):
            v = np.sort([getattr(r, metric) for r in results if getattr(r, metric) is not None])
            if v.size:
                ax.plot(v, np.arange(1, v.size + 1) / v.size, label=name)
    for ax, label in zip(axes, ("TTFT (s)", "TPOT (s)")):
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("CDF")
    return _save(plt, fig, axes, path)


def plot_load_sweep(rows: Sequence[Mapping[str, float | str]], path: str | Path) -> Path:
    """Mean and P99 of TTFT and TPOT against request rate, one line per scorer.
    ``rows`` hold ``scorer, rate, ttft_mean, ttft_p99, tpot_mean, tpot_p99``."""
    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6))
    keys = ("ttft_mean", "ttft_p99", "tpot_mean", "tpot_p99")
    for scorer in dict.fromkeys(r["scorer"] for r in rows):
        mine = sorted((r for r in rows if r["scorer"] == scorer), key=lambda r: r["rate"])
        for ax, key in zip(axes, keys):
            ax.plot([r["rate"] for r in mine], [r[key] for r in mine], "o-", label=scorer)
    for ax, key in zip(axes, keys):
        ax.set_xlabel("request rate (req/s)")
        ax.set_ylabel(key.replace("_", " ") + " (s)")
        ax.set_yscale("log")
    return _save(plt, fig, axes, path)


def plot_instance_series(snapshots: Sequence[InstanceSnapshot], n_instances: int, path: str | Path) -> Path:
    """Per-instance batch size (running + waiting) and cumulative prefix-cache hit rate over time."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for i in range(n_instances):
        mine = [s for s in snapshots if s.instance == i]
        if not mine:
            continue
        t = [s.time for s in mine]
        axes[0].plot(t, [s.num_running + s.num_waiting for s in mine], lw=0.8)
        hits = np.array([s.prefix_cache_hits_total for s in mine], float)
        queries = np.maximum(np.array([s.prefix_cache_queries_total for s in mine], float), 1)
        axes[1].plot(t, hits / queries, lw=0.8)
    axes[0].set_ylabel("batch size (running + waiting)")
    axes[1].set_ylabel("prefix-cache hit rate (cumulative)")
    for ax in axes:
        ax.set_xlabel("time (s)")
    return _save(plt, fig, axes, path, legend=False)
