"""The paper's measured claims P1–P7 as a reproduction study.

Runs (through :mod:`analyzers.runs`: parallel, cached, resumable), for each of the
paper's four workloads (the seeded generators fitted to its traces, at its replay scale
factor, 16 simulated H20s, the MoE profile for the Qwen3 workloads):

* every scorer of :data:`SCORERS` at every load multiplier of the profile (1 = the
  paper's scale factor) and every seed — the load sweep (Figure 22) and, at load 1, the
  latency CDFs (Figure 21);
* LMetric and the two main baselines at other KV-cache capacities (load 1);
* the linear rule over a λ grid (load 1) — P5;
* the regime monitor watching replays of the bundled traces and the generators — P6;
* labelled detector scenarios — P7.

:func:`analyse` turns the raw results into claims with verdicts (rules in
:mod:`.stats`): P1–P4 hold on a workload when the 95% interval of the per-seed relative
change lies below ``-MIN_EFFECT``; P5 when LMetric's gap to the best λ has its upper
bound <= ``EPSILON`` on every workload and every fixed λ has a lower bound > ``DELTA``
on some workload; P6 when every regime's share of decisions is <= ``RARE`` on every
workload; P7 when the P99 TTFT degradation before detection has its upper bound <=
``DEGRADATION`` on every scenario.

>>> p = PROFILES["tiny"]
>>> len(study_tasks(p)[0]) > 0
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from analyzers.runs import RunOptions, Task, run_tasks
from analyzers.sim.profiles import get_profile
from analyzers.sim.runner import SimConfig
from analyzers.sim.tasks import sim_task

from .stats import Interval, interval, reduction_holds, relative_changes

__all__ = ["StudyProfile", "PROFILES", "WORKLOADS", "SCORERS", "study_tasks", "run_study", "analyse", "MIN_EFFECT",
           "EPSILON", "DELTA", "RARE", "DEGRADATION", "PAPER"]

# workload, profile, the paper's replay scale factor (DESIGN.md §7)
WORKLOADS = (("chatbot", "h20-moe", 5.6), ("api", "h20", 5.5), ("coder", "h20-moe", 2.4), ("toolagent", "h20-moe", 1.6))
SCORERS = ("lmetric", "vllm-v1", "bailian", "bailian-deterministic", "dynamo", "predicted-ttft")
PRODUCTION = ("bailian", "bailian-deterministic")
TRACES = ("mooncake-conversation", "mooncake-synthetic", "azure-code", "azure-conv", "weka-coding")
MIN_EFFECT = 0.05   # P1-P4: a reduction must exceed 5% with 95% confidence
EPSILON = 0.10      # P5: LMetric within 10% of the best λ ...
DELTA = 0.10        # ... while every fixed λ loses more than 10% somewhere
RARE = 0.05         # P6: a regime is rare below 5% of decisions
DEGRADATION = 0.20  # P7: detected before P99 TTFT degrades by more than 20%
PAPER = {"P1": -0.92, "P2": -0.52, "P3": -0.21, "P4": -0.20}


@dataclass(frozen=True)
class StudyProfile:
    name: str
    window: float | None          # seconds of each (scaled) replay; None = whole
    seeds: tuple[int, ...]
    loads: tuple[float, ...]      # multipliers of the paper's scale factor
    lambdas: tuple[float, ...]
    capacities: tuple[float, ...]  # KV-capacity multipliers besides 1 (load 1)
    regime_workloads: tuple[str, ...]
    regime_window: float | None
    p7_scenarios: tuple[str, ...]
    p7_cutoff: float | None
    workloads: tuple[str, ...] = tuple(w for w, _, _ in WORKLOADS)
    instances: int = 16
    quantiles: int = 50


PROFILES = {
    # the golden-file test's profile: every claim exercised, seconds of CPU
    "tiny": StudyProfile("tiny", window=8.0, seeds=(0, 1, 2), loads=(1.0, 1.5), lambdas=(100.0, 10_000.0),
                         capacities=(0.1,), regime_workloads=("toolagent", "mooncake-conversation"), regime_window=8.0,
                         p7_scenarios=("heterogeneity",), p7_cutoff=230.0, workloads=("chatbot", "toolagent"),
                         quantiles=20),
    "quick": StudyProfile("quick", window=45.0, seeds=(0, 1, 2), loads=(0.5, 1.0, 1.5), lambdas=(10.0, 100.0, 1_000.0,
                          10_000.0), capacities=(0.1,), regime_workloads=("chatbot", "api", "coder", "toolagent",
                          "mooncake-conversation", "azure-conv"), regime_window=45.0,
                          p7_scenarios=("heterogeneity", "saturation", "staleness"), p7_cutoff=420.0),
    "full": StudyProfile("full", window=600.0, seeds=(0, 1, 2, 3, 4), loads=(0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0),
                         lambdas=(1.0, 10.0, 30.0, 100.0, 300.0, 1_000.0, 3_000.0, 10_000.0, 100_000.0),
                         capacities=(0.05, 0.1, 0.3, 2.0), regime_workloads=("chatbot", "api", "coder", "toolagent") + TRACES,
                         regime_window=600.0, p7_scenarios=("hot_prefix", "hot_prefix_port", "heterogeneity", "staleness",
                                                            "decode_heavy", "saturation"), p7_cutoff=None),
}

_WL = {w: (prof, scale) for w, prof, scale in WORKLOADS}


def _sim(p: StudyProfile, wl: str, scorer: str, load: float, seed: int, cap: float = 1.0,
         params: dict | None = None) -> Task:
    prof, scale = _WL[wl]
    over = {} if cap == 1.0 else {"kv_blocks": int(get_profile(prof).kv_blocks * cap)}
    cfg = SimConfig(workload=wl, profile=prof, profile_overrides=over, scale=scale * load, window=p.window, seed=seed,
                    instances=p.instances, scorer=scorer, params=params or {}, telemetry_interval=None)
    q = p.quantiles if (load == 1.0 and cap == 1.0) else 0
    return sim_task(cfg, label=f"{wl} {scorer}{'' if not params else str(params)} x{load:g} kv{cap:g} s{seed}",
                    quantiles=q)


def study_tasks(p: StudyProfile) -> tuple[list[Task], list[tuple]]:
    """Every run of the study as (tasks, keys); keys name what each result is."""
    tasks, keys = [], []

    def add(key, task):
        keys.append(key)
        tasks.append(task)

    for wl in p.workloads:
        for seed in p.seeds:
            for load in p.loads:
                for sc in SCORERS:
                    add(("sim", wl, sc, load, 1.0, seed), _sim(p, wl, sc, load, seed))
            for cap in p.capacities:
                for sc in ("lmetric", "vllm-v1", "bailian", "bailian-deterministic"):
                    add(("sim", wl, sc, 1.0, cap, seed), _sim(p, wl, sc, 1.0, seed, cap))
            for lam in p.lambdas:
                add(("sim", wl, f"linear({lam:g})", 1.0, 1.0, seed),
                    _sim(p, wl, "linear", 1.0, seed, params={"lambda": float(lam)}))
    for wl in p.regime_workloads:
        prof, scale = _WL.get(wl, ("h20", 1.0))
        seeds = p.seeds if wl in _WL else p.seeds[:1]  # trace replays are deterministic: one run
        for seed in seeds:
            add(("regime", wl, seed), Task("paper_checks.tasks:regime_shares",
                                           {"workload": wl, "profile": prof, "scale": scale, "window": p.regime_window,
                                            "seed": seed, "instances": p.instances}, label=f"regimes {wl} s{seed}"))
    for name in p.p7_scenarios:
        for seed in p.seeds:
            add(("p7", name, seed), Task("paper_checks.tasks:detection_margin",
                                         {"scenario": name, "seed": seed, "cutoff": p.p7_cutoff},
                                         label=f"detection {name} s{seed}"))
    return tasks, keys


def run_study(p: StudyProfile, opts: RunOptions | None = None, on_result=None) -> dict:
    """Run (or reuse from the cache) every task; ``{key: result}``."""
    tasks, keys = study_tasks(p)
    results = run_tasks(tasks, opts or RunOptions(jobs=1, progress="off"), on_result=on_result,
                        title=f"paper-checks {p.name}")
    return dict(zip(keys, results))


# ----------------------------------------------------------------------------- analysis
def _metric(res: dict, metric: str) -> float:
    m, stat = metric.split("_")
    return float(res["summary"][m][stat])


def _series(raw: dict, p: StudyProfile, wl: str, scorer: str, metric: str, load: float = 1.0,
            cap: float = 1.0) -> list[float]:
    return [_metric(raw[("sim", wl, scorer, load, cap, s)], metric) for s in p.seeds]


CHANGE = (-1.0, math.inf)  # a latency ratio minus one never falls below -100%


def _change(raw, p, wl, base, metric, load=1.0, cap=1.0) -> Interval:
    return interval(relative_changes(_series(raw, p, wl, "lmetric", metric, load, cap),
                                     _series(raw, p, wl, base, metric, load, cap)), bounds=CHANGE)


def _versus(raw: dict, p: StudyProfile, cid: str, baselines: Sequence[str], metric: str) -> dict:
    rows = []
    ok = True
    for wl in p.workloads:
        for base in baselines:
            ci = _change(raw, p, wl, base, metric)
            holds = reduction_holds(ci, MIN_EFFECT)
            ok &= holds
            sweep = {load: _change(raw, p, wl, base, metric, load) for load in p.loads}
            worst_load = min(sweep, key=lambda x: sweep[x].mean)
            rows.append({"workload": wl, "baseline": base, "change": ci.to_dict(), "holds": holds,
                         "sweep": {f"{k:g}": v.to_dict() for k, v in sweep.items()},
                         "largest_gap_load": worst_load, "largest_gap": sweep[worst_load].to_dict(),
                         "p99_change": _change(raw, p, wl, base, metric.replace("mean", "p99")).to_dict()})
    return {"id": cid, "passed": ok, "paper": PAPER[cid], "metric": metric, "rows": rows,
            "rule": f"95% CI of the per-seed change of mean {metric.split('_')[0].upper()} at the paper's load lies "
                    f"below -{MIN_EFFECT:.0%} on every workload"}


def _no_tuning(raw: dict, p: StudyProfile) -> dict:
    lam_keys = [f"linear({lam:g})" for lam in p.lambdas]
    per_wl, ok_lm = [], True
    gaps_by_lambda = {k: [] for k in lam_keys}
    for wl in p.workloads:
        means = {k: float(np.mean(_series(raw, p, wl, k, "ttft_mean"))) for k in lam_keys}
        best = min(means, key=means.get)
        best_s = _series(raw, p, wl, best, "ttft_mean")
        lm_gap = interval(relative_changes(_series(raw, p, wl, "lmetric", "ttft_mean"), best_s), bounds=CHANGE)
        ok = math.isfinite(lm_gap.hi) and lm_gap.hi <= EPSILON
        ok_lm &= ok
        row = {"workload": wl, "best_lambda": best, "lmetric_gap": lm_gap.to_dict(), "lmetric_within": ok, "lambdas": {}}
        for k in lam_keys:
            g = interval(relative_changes(_series(raw, p, wl, k, "ttft_mean"), best_s), bounds=CHANGE)
            gaps_by_lambda[k].append(g)
            row["lambdas"][k] = g.to_dict()
        per_wl.append(row)
    loses = {k: any(math.isfinite(g.lo) and g.lo > DELTA for g in gs) for k, gs in gaps_by_lambda.items()}
    ok = ok_lm and all(loses.values()) and len(p.workloads) > 1
    return {"id": "P5", "passed": ok, "rows": per_wl, "every_fixed_lambda_loses": loses,
            "best_lambdas": sorted({r["best_lambda"] for r in per_wl}),
            "rule": f"LMetric's mean-TTFT gap to the best λ of the grid has CI upper bound <= {EPSILON:.0%} on every "
                    f"workload, and every fixed λ has CI lower bound > {DELTA:.0%} on some workload"}


def _regimes(raw: dict, p: StudyProfile) -> dict:
    rows, ok = [], True
    for wl in p.regime_workloads:
        runs = [v for k, v in raw.items() if k[0] == "regime" and k[1] == wl]
        regs = sorted(runs[0]["shares"])
        shares = {}
        for reg in regs:
            vals = [r["shares"][reg] for r in runs]
            ci = interval(vals, bounds=(0.0, 1.0)) if len(vals) > 1 else Interval(vals[0], vals[0], vals[0], 1)  # trace
            shares[reg] = ci.to_dict()
            ok &= ci.hi <= RARE
        rows.append({"workload": wl, "decisions": int(np.mean([r["decisions"] for r in runs])), "shares": shares,
                     "kind": "generator" if wl in _WL else "trace (deterministic, one run)"})
    return {"id": "P6", "passed": ok, "rows": rows,
            "rule": f"the share of decisions flagged in each regime (online monitor, LMetric routing) has CI upper "
                    f"bound <= {RARE:.0%} on every trace and generator"}


def _detection(raw: dict, p: StudyProfile) -> dict:
    rows, ok = [], True
    for name in p.p7_scenarios:
        runs = [raw[("p7", name, s)] for s in p.seeds]
        deg = interval([r["degradation"] for r in runs], bounds=CHANGE)
        unm = interval([r["unmitigated"] for r in runs if r["unmitigated"] is not None], bounds=CHANGE)
        delays = [r["delay_s"] for r in runs]
        holds = math.isfinite(deg.hi) and deg.hi <= DEGRADATION
        ok &= holds
        rows.append({"scenario": name, "regime": runs[0]["regime"], "degradation": deg.to_dict(),
                     "unmitigated": unm.to_dict(), "delays_s": delays, "detected": sum(d is not None for d in delays),
                     "holds": holds})
    return {"id": "P7", "passed": ok, "rows": rows,
            "rule": f"the P99 TTFT of requests arriving between the regime's onset and its first flag, against the "
                    f"100 s before the onset, has CI upper bound <= +{DEGRADATION:.0%} on every scenario "
                    "(an undetected regime counts its whole interval)"}


def _context(raw: dict, p: StudyProfile) -> dict:
    """Absolute figures, baseline ordering, cache capacity and tie-free explanations."""
    out = {"absolute": [], "ordering": [], "capacity": []}
    for wl in p.workloads:
        for sc in SCORERS:
            for metric in ("ttft_mean", "ttft_p99", "tpot_mean", "tpot_p99"):
                vals = _series(raw, p, wl, sc, metric)
                out["absolute"].append({"workload": wl, "scorer": sc, "metric": metric,
                                        **interval(vals).to_dict()})
        order = sorted(SCORERS, key=lambda s: np.mean(_series(raw, p, wl, s, "ttft_mean")))
        ratio = interval(relative_changes(_series(raw, p, wl, "bailian", "ttft_mean"),
                                          _series(raw, p, wl, "vllm-v1", "ttft_mean")), bounds=CHANGE)
        ratio_det = interval(relative_changes(_series(raw, p, wl, "bailian-deterministic", "ttft_mean"),
                                              _series(raw, p, wl, "vllm-v1", "ttft_mean")), bounds=CHANGE)
        hit = {sc: float(np.mean([raw[("sim", wl, sc, 1.0, 1.0, s)]["summary"]["cache_hit_ratio"] for s in p.seeds]))
               for sc in SCORERS}
        out["ordering"].append({"workload": wl, "by_mean_ttft": order, "bailian_vs_vllm": ratio.to_dict(),
                                "bailian_det_vs_vllm": ratio_det.to_dict(), "cache_hit_ratio": hit})
        for cap in (1.0, *p.capacities):
            row = {"workload": wl, "capacity": cap}
            for base in ("vllm-v1", "bailian", "bailian-deterministic"):
                row[base] = _change(raw, p, wl, base, "ttft_mean", 1.0, cap).to_dict()
            row["lmetric_hit"] = float(np.mean([raw[("sim", wl, "lmetric", 1.0, cap, s)]["summary"]["cache_hit_ratio"]
                                                for s in p.seeds]))
            out["capacity"].append(row)
    return out


def analyse(p: StudyProfile, raw: dict) -> dict:
    """Claims with verdicts and the context tables, as JSON data."""
    claims = [
        _versus(raw, p, "P1", ("vllm-v1",), "ttft_mean"),
        _versus(raw, p, "P2", PRODUCTION, "ttft_mean"),
        _versus(raw, p, "P3", ("vllm-v1",), "tpot_mean"),
        _versus(raw, p, "P4", PRODUCTION, "tpot_mean"),
        _no_tuning(raw, p),
        _regimes(raw, p),
        _detection(raw, p),
    ]
    return {"profile": asdict(p), "claims": claims, "context": _context(raw, p),
            "thresholds": {"min_effect": MIN_EFFECT, "epsilon": EPSILON, "delta": DELTA, "rare": RARE,
                           "degradation": DEGRADATION}}


def cdf_points(raw: dict, p: StudyProfile, wl: str, metric: str = "ttft") -> dict[str, list[float]]:
    """Quantiles (seed of the first run) per scorer at the paper's load, for Figure 21."""
    s0 = p.seeds[0]
    return {sc: raw[("sim", wl, sc, 1.0, 1.0, s0)][f"{metric}_quantiles"] for sc in SCORERS}


def rows_for_json(raw: dict) -> list[dict[str, Any]]:
    """The raw results with their keys (the JSON report's ``runs``)."""
    out = []
    for k, v in raw.items():
        if k[0] == "sim":
            s = v["summary"]
            out.append({"kind": "sim", "workload": k[1], "scorer": k[2], "load": k[3], "capacity": k[4], "seed": k[5],
                        "ttft_mean": s["ttft"]["mean"], "ttft_p99": s["ttft"]["p99"], "tpot_mean": s["tpot"]["mean"],
                        "tpot_p99": s["tpot"]["p99"], "cache_hit_ratio": s["cache_hit_ratio"],
                        "completed": s["completed"], "preemptions": s["preemptions"]})
        elif k[0] == "regime":
            out.append({"kind": "regime", "workload": k[1], "seed": k[2], **v})
        else:
            out.append({"kind": "detection", "seed": k[2], **v})
    return out
