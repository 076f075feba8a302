"""λ-sweep: run the linear family ``(Q+P) + λ(BS+1)`` over a grid and report the best λ.

Used to test the paper's "no tuning needed" claim: the best λ moves with the workload
(theorem T2 says a fixed λ cannot suit every state), while LMetric has nothing to tune.

>>> cfg = SimConfig(workload="api", instances=2, profile="h100", limit=150, telemetry_interval=None)
>>> res = lambda_sweep(cfg, [10.0, 1000.0])     # in this process; pass RunOptions(jobs=2) for workers
>>> sorted(r["lambda"] for r in res.rows), res.best_lambda in (10.0, 1000.0)
([10.0, 1000.0], True)
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from analyzers.runs import RunError, RunOptions, add_run_arguments, interrupted_message, options_from_args, run_tasks

from .runner import SimConfig, build_workload
from .tasks import sim_task

__all__ = ["LambdaSweep", "lambda_sweep", "DEFAULT_LAMBDAS", "main"]

DEFAULT_LAMBDAS = (1.0, 10.0, 30.0, 100.0, 300.0, 1_000.0, 3_000.0, 10_000.0, 30_000.0, 100_000.0)
METRICS = ("ttft_mean", "ttft_p99", "tpot_mean", "tpot_p99", "e2e_mean")


@dataclass(frozen=True)
class LambdaSweep:
    rows: list[dict]
    best_lambda: float
    metric: str
    lmetric: dict


def _row_of(summary: dict) -> dict:
    return {"ttft_mean": summary["ttft"]["mean"], "ttft_p99": summary["ttft"]["p99"], "tpot_mean": summary["tpot"]["mean"],
            "tpot_p99": summary["tpot"]["p99"], "e2e_mean": summary["e2e"]["mean"],
            "cache_hit_ratio": summary["cache_hit_ratio"]}


def lambda_sweep(cfg: SimConfig, lambdas: Sequence[float] = DEFAULT_LAMBDAS, metric: str = "ttft_mean",
                 opts: RunOptions | None = None, on_row: Callable[[dict], None] | None = None) -> LambdaSweep:
    """Simulate ``linear`` for each λ (same workload) and LMetric once; best λ by ``metric``.

    The runs go through :func:`analyzers.runs.run_tasks` with ``opts`` (default: in this
    process, no cache); ``on_row`` gets each row as its run finishes."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}")
    if not lambdas or any(not lam > 0 for lam in lambdas):
        raise ValueError("lambdas must be a non-empty list of positive numbers")
    opts = opts or RunOptions(jobs=1, progress="off")
    tasks = [sim_task(replace(cfg, scorer="linear", params={"lambda": float(lam)}), label=f"linear({lam:g})")
             for lam in lambdas]
    tasks.append(sim_task(replace(cfg, scorer="lmetric", params={}), label="lmetric"))
    n = len(lambdas)

    def row(i: int, res: dict) -> dict:
        head = {"lambda": float(lambdas[i])} if i < n else {"scorer": "lmetric"}
        return {**head, **_row_of(res["summary"])}

    results = run_tasks(tasks, opts, title="lambda-sweep",
                        on_result=None if on_row is None else (lambda i, t, r: on_row(row(i, r))))
    rows = [row(i, r) for i, r in enumerate(results[:n])]
    lm = row(n, results[n])
    best = min(rows, key=lambda r: r[metric])
    return LambdaSweep(rows, best["lambda"], metric, lm)


def main(argv: Sequence[str] | None = None, prog: str = "lmetric lambda-sweep") -> int:
    from analyzers.argcheck import Parser, writable_dir, writable_file

    from .cli import add_sim_arguments, check_sim_args, config_from_args
    from .workloads import WorkloadError

    p = Parser(prog=prog, description="Grid-search the linear rule's exchange rate and compare with LMetric.")
    add_sim_arguments(p)
    p.add_argument("--lambdas", default=",".join(f"{v:g}" for v in DEFAULT_LAMBDAS), help="comma-separated λ grid")
    p.add_argument("--metric", default="ttft_mean", choices=METRICS, help="what 'best' minimises (default ttft_mean)")
    p.add_argument("--out", metavar="FILE", help="write the rows as JSON (rows also go to FILE.partial.jsonl as they finish)")
    add_run_arguments(p)
    a = p.parse_args(argv)
    partial = None
    try:
        lambdas = [float(v) for v in a.lambdas.split(",") if v.strip()]
    except ValueError:
        p.error(f"--lambdas must be comma-separated numbers, got {a.lambdas!r}")
    if not lambdas or not all(math.isfinite(v) and v >= 0 for v in lambdas):
        p.error("--lambdas must be finite numbers >= 0")
    why = check_sim_args(a, ["linear"])
    if not why and a.out:  # the report's folder is created, as for every other output
        why = writable_dir(str(Path(a.out).parent)) or writable_file(a.out)
    if why:
        p.error(why)
    try:
        cfg = replace(config_from_args(a, "linear"), telemetry_interval=None, params={})
        build_workload(cfg)  # bad workload settings fail here, before any run starts
        default_cache = str(Path(a.out).parent / ".lmetric-cache") if a.out else "~/.cache/lmetric/runs"
        opts = options_from_args(a, default_cache=default_cache)
        if a.out:
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            partial = Path(str(a.out) + ".partial.jsonl").open("w")
        on_row = None if partial is None else (lambda r: (partial.write(json.dumps(r) + "\n"), partial.flush()))
        res = lambda_sweep(cfg, lambdas, a.metric, opts=opts, on_row=on_row)
    except (ValueError, WorkloadError, RunError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\n" + interrupted_message(opts, str(a.out) + ".partial.jsonl" if a.out else None), file=sys.stderr)
        return 130
    finally:
        if partial is not None:
            partial.close()
    print(f"{'lambda':>10}  {'TTFT mean':>10}  {'TTFT p99':>10}  {'TPOT mean':>10}  {'hit':>6}")
    for r in res.rows:
        mark = "  <- best" if r["lambda"] == res.best_lambda else ""
        print(f"{r['lambda']:>10g}  {r['ttft_mean']:>10.3f}  {r['ttft_p99']:>10.3f}  {r['tpot_mean'] * 1000:>8.1f}ms  "
              f"{r['cache_hit_ratio']:>6.1%}{mark}")
    lm = res.lmetric
    print(f"{'lmetric':>10}  {lm['ttft_mean']:>10.3f}  {lm['ttft_p99']:>10.3f}  {lm['tpot_mean'] * 1000:>8.1f}ms  "
          f"{lm['cache_hit_ratio']:>6.1%}")
    print(f"best λ by {res.metric} on {a.trace or a.workload} x{a.scale:g}: {res.best_lambda:g}")
    if a.out:
        Path(a.out).write_text(json.dumps({"rows": res.rows, "best_lambda": res.best_lambda, "lmetric": lm}, indent=2))
    return 0
