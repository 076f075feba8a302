"""The study's figures (PNG): latency CDFs per workload (the paper's Figure 21), load
sweeps (Figure 22), the λ sweep and the regime shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .study import SCORERS, StudyProfile, cdf_points

__all__ = ["write_figures"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _cdfs(raw, p: StudyProfile, path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(2, len(p.workloads), figsize=(3.2 * len(p.workloads), 5.6), squeeze=False)
    for j, wl in enumerate(p.workloads):
        for i, metric in enumerate(("ttft", "tpot")):
            ax = axes[i][j]
            for sc, q in cdf_points(raw, p, wl, metric).items():
                if q:
                    y = (np.arange(len(q)) + 0.5) / len(q)
                    ax.plot(np.asarray(q) * (1 if metric == "ttft" else 1000), y, label=sc, lw=1.2)
            ax.set_xscale("log")
            ax.set_xlabel("TTFT (s)" if metric == "ttft" else "TPOT (ms)")
            ax.set_title(f"{wl}", fontsize=9)
            ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("CDF")
    axes[1][0].set_ylabel("CDF")
    axes[0][-1].legend(fontsize=6)
    fig.suptitle(f"Latency CDFs at the paper's load, seed {p.seeds[0]} (cf. paper Figure 21)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _sweeps(doc, raw, p: StudyProfile, path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(2, len(p.workloads), figsize=(3.2 * len(p.workloads), 5.6), squeeze=False)
    for j, wl in enumerate(p.workloads):
        for i, metric in enumerate(("ttft_mean", "tpot_mean")):
            ax = axes[i][j]
            for sc in SCORERS:
                m, lo, hi = [], [], []
                for load in p.loads:
                    v = [raw[("sim", wl, sc, load, 1.0, s)]["summary"][metric.split("_")[0]]["mean"] for s in p.seeds]
                    m.append(np.mean(v))
                    lo.append(np.min(v))
                    hi.append(np.max(v))
                scale = 1 if metric == "ttft_mean" else 1000
                ax.errorbar(p.loads, np.array(m) * scale, yerr=[(np.array(m) - lo) * scale, (np.array(hi) - m) * scale],
                            label=sc, marker="o", ms=3, lw=1, capsize=2)
            ax.set_yscale("log")
            ax.set_xlabel("load (x the paper's scale factor)")
            ax.set_ylabel("mean TTFT (s)" if i == 0 else "mean TPOT (ms)")
            ax.set_title(wl, fontsize=9)
            ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6)
    fig.suptitle("Load sweep: mean over seeds, bars = min..max (cf. paper Figure 22)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _lambda(doc, p: StudyProfile, path: Path) -> None:
    plt = _plt()
    c = next(c for c in doc["claims"] if c["id"] == "P5")
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for r in c["rows"]:
        lams = [float(k[7:-1]) for k in r["lambdas"]]
        gaps = [v["mean"] for v in r["lambdas"].values()]
        line, = ax.plot(lams, gaps, marker="o", label=r["workload"])
        ax.axhline(r["lmetric_gap"]["mean"], color=line.get_color(), ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("λ of the linear rule (tokens/request)")
    ax.set_ylabel("mean TTFT vs the best λ")
    ax.set_title("λ sweep (dashed: untuned LMetric)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _regimes(doc, path: Path) -> None:
    plt = _plt()
    c = next(c for c in doc["claims"] if c["id"] == "P6")
    wls = [r["workload"] for r in c["rows"]]
    regs = sorted(c["rows"][0]["shares"]) if c["rows"] else []
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(wls)), 3.6))
    w = 0.8 / max(len(regs), 1)
    for i, reg in enumerate(regs):
        ax.bar(np.arange(len(wls)) + (i - len(regs) / 2 + 0.5) * w, [r["shares"][reg]["mean"] * 100 for r in c["rows"]],
               w, label=reg)
    ax.set_xticks(np.arange(len(wls)), wls, rotation=20, fontsize=8)
    ax.set_ylabel("% of decisions flagged")
    ax.set_title("Regime shares (online monitor, LMetric routing)", fontsize=10)
    ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_figures(doc: dict, raw: dict, p: StudyProfile, out: Path) -> list[str]:
    """Write the four PNGs into ``out``; their file names."""
    names = ["latency_cdfs.png", "load_sweeps.png", "lambda_sweep.png", "regime_shares.png"]
    _cdfs(raw, p, out / names[0])
    _sweeps(doc, raw, p, out / names[1])
    _lambda(doc, p, out / names[2])
    _regimes(doc, out / names[3])
    return names
