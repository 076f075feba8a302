"""``lmetric simulate`` and ``lmetric sweep``: replay a workload on a simulated cluster.

Writes into ``--out``: ``requests.csv`` (one row per request, with ``ttft``),
``telemetry.jsonl`` (instance snapshots and routing decisions), ``summary.json``
and PNG plots; prints a summary table. With ``--detector watch|act`` the regime
monitor runs in the loop (:mod:`analyzers.detector.in_loop`) and ``detector.jsonl``
holds its transitions and actions.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from analyzers.argcheck import (Parser, check_finite_params, nonneg_int, positive_float, positive_int,
                               readable_file, writable_dir)
from analyzers.detector.in_loop import DETECTOR_MODES, DetectorLoop
from analyzers.router.scorers import GENERIC_PARAMS, SCORERS, parse_params
from analyzers.telemetry.schema import JsonlWriter

from .metrics import per_instance, summarise
from .profiles import PROFILES
from .runner import SimConfig, build_workload, run_simulation
from .workloads import WORKLOADS, WorkloadError

__all__ = ["main_simulate", "main_sweep", "add_sim_arguments", "config_from_args"]


def add_sim_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workload", default="mooncake-conversation", choices=WORKLOADS, metavar="NAME",
                   help=f"bundled trace or generator: {', '.join(WORKLOADS)} (default: mooncake-conversation)")
    p.add_argument("--trace", metavar="PATH", help="your own trace (.jsonl Mooncake, .csv Azure, .json/dir WEKA)")
    p.add_argument("--instances", type=positive_int, default=16, help="number of instances (default 16)")
    p.add_argument("--profile", default="h20", choices=list(PROFILES), help="hardware/model profile (default h20)")
    p.add_argument("--profile-file", metavar="JSON", help="your own profile: a JSON object with the Profile fields "
                   "(name, t0, w, k, a_p, a_d, kv_blocks; times in ms)")
    p.add_argument("--kv-blocks", type=positive_int, help="override the profile's KV capacity (16-token blocks)")
    p.add_argument("--max-num-seqs", type=positive_int, help="override max_num_seqs")
    p.add_argument("--chunk", type=positive_int, help="override max_num_batched_tokens (the step token budget)")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="scorer parameter, repeatable (e.g. lambda=300)")
    p.add_argument("--scale", type=positive_float, default=1.0, help="replay speed-up factor (default 1.0)")
    p.add_argument("--window", type=positive_float, metavar="SECONDS", help="keep this many seconds of the (scaled) replay")
    p.add_argument("--limit", type=positive_int, metavar="N", help="keep the first N requests")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed for generators and random scorers (default 0)")
    p.add_argument("--snapshot-interval", type=positive_float, metavar="SECONDS",
                   help="route on snapshots refreshed this often (stale telemetry); default: exact state")
    p.add_argument("--no-commit-updates", action="store_true", help="router does not add its own decisions between snapshots")
    p.add_argument("--speeds", metavar="V1,V2,...", help="relative instance speeds (heterogeneous cluster)")
    p.add_argument("--slo-ttft", type=positive_float, default=2.0, help="TTFT SLO in seconds for attainment (default 2)")
    p.add_argument("--slo-tpot", type=positive_float, default=0.1, help="TPOT SLO in seconds for attainment (default 0.1)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def check_sim_args(a: argparse.Namespace, scorers: Sequence[str]) -> str | None:
    """Why the common simulation arguments cannot run (one line), or ``None``: unknown
    or non-finite/negative ``--param`` values, a missing ``--trace`` or profile file,
    ``--speeds`` that are not positive numbers."""
    try:
        params = parse_params(a.param)
    except ValueError as exc:
        return str(exc)
    why = check_finite_params(params)
    if why:
        return why
    for s in scorers:  # each chosen scorer's own parameters, by type (a number where one is expected)
        if s in SCORERS:
            try:
                SCORERS[s].params({k: v for k, v in params.items() if k in SCORERS[s].defaults})
            except (KeyError, ValueError) as exc:
                return exc.args[0]
    for key in params:  # every --param must belong to at least one chosen scorer
        if key != "picker" and not any(key in SCORERS[s].defaults for s in scorers if s in SCORERS):
            known = sorted({k for s in scorers if s in SCORERS for k in SCORERS[s].defaults})
            return f"no chosen scorer has a parameter {key!r} (parameters: {', '.join(known) or 'none'})"
    for path in (a.trace, a.profile_file):
        if path is not None and not Path(path).is_dir():
            why = readable_file(path)
            if why:
                return why
    if a.speeds is not None:
        try:
            v = [float(x) for x in a.speeds.split(",")]
        except ValueError:
            return f"--speeds must be comma-separated numbers, got {a.speeds!r}"
        if not v or not all(math.isfinite(x) and x > 0 for x in v):
            return "--speeds must be finite numbers > 0"
    return None


def config_from_args(a: argparse.Namespace, scorer: str) -> SimConfig:
    overrides = {}
    if a.kv_blocks is not None:
        overrides["kv_blocks"] = a.kv_blocks
    if a.max_num_seqs is not None:
        overrides["max_num_seqs"] = a.max_num_seqs
    if a.chunk is not None:
        overrides["max_num_batched_tokens"] = a.chunk
    speeds = None
    if a.speeds:
        try:
            speeds = tuple(float(v) for v in a.speeds.split(","))
        except ValueError:
            raise ValueError(f"--speeds must be comma-separated numbers, got {a.speeds!r}") from None
        if any(v <= 0 for v in speeds):
            raise ValueError("--speeds must all be positive")
        if len(speeds) != a.instances:
            raise ValueError(f"--speeds has {len(speeds)} values for {a.instances} instances")
    for name, v in (("--scale", a.scale), ("--window", a.window), ("--snapshot-interval", a.snapshot_interval)):
        if v is not None and v <= 0:
            raise ValueError(f"{name} must be positive")
    if a.instances < 1:
        raise ValueError("--instances must be at least 1")
    if a.limit is not None and a.limit < 1:
        raise ValueError("--limit must be at least 1")
    custom = None
    if a.profile_file:
        from .profiles import load_profile

        custom = load_profile(a.profile_file)
    return SimConfig(custom_profile=custom, workload=a.workload, trace=a.trace, instances=a.instances, profile=a.profile,
                     profile_overrides=overrides, scorer=scorer, params=parse_params(a.param), scale=a.scale,
                     window=a.window, limit=a.limit, seed=a.seed, snapshot_interval=a.snapshot_interval,
                     commit_updates=not a.no_commit_updates, speeds=speeds)


def _progress(total: int, quiet: bool, label: str):
    if quiet:
        return None, None
    if not sys.stderr.isatty():  # a log or a pipe: a plain line every 10% (a bar would print nothing)
        import contextlib
        import time

        t0 = time.monotonic()
        step = max(1, total // 10)

        def line(n: int) -> None:
            if n % step == 0 or n == total:
                print(f"{label}: {n:,}/{total:,} requests, {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)

        return contextlib.nullcontext(), line
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.console import Console

    prog = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True)
    task = prog.add_task(label, total=total)
    every = max(1, total // 200)

    def update(n: int) -> None:
        if n % every == 0 or n == total:
            prog.update(task, completed=n)

    return prog, update


def _write_requests_csv(results, path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["rid", "instance", "arrival", "prompt_tokens", "output_tokens", "cached_tokens", "ttft", "tpot",
                    "e2e", "queue_delay", "preemptions", "rejected"])
        fmt = lambda v: "" if v is None else f"{v:.6f}"  # noqa: E731
        for r in results:
            w.writerow([r.rid, r.instance, f"{r.arrival:.6f}", r.prompt_len, r.output_len, r.cached_tokens, fmt(r.ttft),
                        fmt(r.tpot), fmt(r.e2e), fmt(r.queue_delay), r.preemptions, r.rejected])


def _jsonable(v):
    """numpy scalars and arrays in an event's evidence -> plain JSON values (else text)."""
    for conv in ("item", "tolist"):
        if hasattr(v, conv):
            return getattr(v, conv)()
    return str(v)


def _write_events(events: list[dict], path: Path) -> None:
    with path.open("w") as fh:
        for ev in events:
            fh.write(json.dumps(ev, default=_jsonable) + "\n")


def _detector_row(d: dict) -> tuple[str, object]:
    trans = sum(sum(c.values()) for c in d["transitions"].values())
    per = ", ".join(f"{r} {'/'.join(f'{k} {v}' for k, v in c.items())}" for r, c in d["transitions"].items())
    active = ", ".join(d["active_at_end"]) or "none"
    scorer = d["final_scorer"] + ("" if d["final_scorer"] == d["base_scorer"] else f" (from {d['base_scorer']})")
    return (f"detector ({d['mode']})", f"{trans} transitions{f' ({per})' if per else ''}, {d['actions']} actions; "
                                       f"active at the end: {active}; final scorer {scorer}")


def _table(rows: list[tuple[str, object]]) -> str:
    w = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{w}}  {v}" for k, v in rows)


def _summary_rows(s, res) -> list[tuple[str, object]]:
    ms = lambda x: f"{x * 1000:.1f} ms"  # noqa: E731
    sec = lambda x: f"{x:.3f} s"  # noqa: E731
    return [
        ("scorer", res.scorer), ("requests", f"{s.requests} ({s.completed} completed, {s.rejected} rejected)"),
        ("TTFT mean / p50 / p90 / p99", " / ".join(sec(v) for v in (s.ttft.mean, s.ttft.p50, s.ttft.p90, s.ttft.p99))),
        ("TPOT mean / p50 / p90 / p99", " / ".join(ms(v) for v in (s.tpot.mean, s.tpot.p50, s.tpot.p90, s.tpot.p99))),
        ("E2E mean / p99", f"{sec(s.e2e.mean)} / {sec(s.e2e.p99)}"),
        ("queueing delay mean / p99", f"{sec(s.queue_delay.mean)} / {sec(s.queue_delay.p99)}"),
        ("throughput", f"{s.throughput_rps:.2f} req/s, {s.output_tokens_per_s:.0f} output tok/s"),
        ("prefix-cache hit ratio", f"{s.cache_hit_ratio:.1%}"),
        (f"SLO attainment (TTFT<={s.slo_ttft_s}s, TPOT<={s.slo_tpot_s}s)", f"{s.slo_attainment:.1%}"),
        ("preemptions", s.preemptions),
        ("simulated time / steps / wall", f"{res.makespan:.0f} s / {res.sim_steps} / {res.wall_seconds:.1f} s"),
    ]


def main_simulate(argv: Sequence[str] | None = None, prog: str = "lmetric simulate") -> int:
    p = Parser(prog=prog, description="Replay a workload on a simulated vLLM-v1 cluster.")
    add_sim_arguments(p)
    p.add_argument("--scorer", default="lmetric", metavar="NAME[,NAME...]",
                   help=f"routing scorer(s); several run one after another. Known: {', '.join(SCORERS)}")
    p.add_argument("--out", default="results", metavar="DIR", help="output directory (default results/)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--telemetry-interval", type=positive_float, default=1.0, help="seconds between telemetry snapshots (default 1)")
    p.add_argument("--detector", default="off", choices=DETECTOR_MODES,
                   help="run the online regime monitor on every snapshot and decision: 'watch' logs what it finds, "
                        "'act' also lets its mitigation policy switch the router live; writes detector.jsonl "
                        "(transitions and actions) and a 'detector' section in summary.json (default off)")
    a = p.parse_args(argv)
    scorers = [s.strip() for s in a.scorer.split(",") if s.strip()]
    unknown = [s for s in scorers if s not in SCORERS]
    if not scorers or unknown:
        p.error(f"unknown scorer(s) {', '.join(unknown) or '(none)'}; known: {', '.join(SCORERS)}")
    why = check_sim_args(a, scorers) or writable_dir(a.out)
    if why:
        p.error(why)
    try:
        base = replace(config_from_args(a, scorers[0]), telemetry_interval=a.telemetry_interval)
        params = dict(base.params)
        for key in params:  # every --param must belong to at least one chosen scorer
            if not any(key in SCORERS[s].defaults or key in GENERIC_PARAMS for s in scorers):
                SCORERS[scorers[0]].params({key: params[key]})  # raises the KeyError naming the parameters
        cfgs = [replace(base, scorer=s, params={k: v for k, v in params.items()
                                                 if k in SCORERS[s].defaults or k in GENERIC_PARAMS})
                for s in scorers]
        requests = build_workload(cfgs[0])
    except (ValueError, KeyError, WorkloadError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    by_scorer = {}
    summaries = {}
    for cfg in cfgs:
        sub = out / cfg.scorer if len(cfgs) > 1 else out
        sub.mkdir(parents=True, exist_ok=True)
        progress, update = _progress(len(requests), a.quiet, f"simulate {cfg.scorer}")
        loops: list[DetectorLoop] = []

        def attach(router, profile, cfg=cfg):
            loops.append(DetectorLoop(a.detector, router, cfg.instances, budget=profile.max_num_batched_tokens))
            return loops[-1].feed

        hook = None if a.detector == "off" else attach
        try:
            if progress is not None:
                with progress:
                    res = run_simulation(cfg, requests, on_progress=update, attach=hook)
            else:
                res = run_simulation(cfg, requests, attach=hook)
        except (ValueError, KeyError, RuntimeError) as exc:
            print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
            return 2
        s = summarise(res.results, res.makespan, a.slo_ttft, a.slo_tpot)
        _write_requests_csv(res.results, sub / "requests.csv")
        with (sub / "telemetry.jsonl").open("w") as fh:
            w = JsonlWriter(fh, flush_each=False)
            for rec in sorted([*res.snapshots, *res.decisions], key=lambda r: r.time):
                w.write(rec)
        doc = {"config": res.config, "summary": s.to_dict(), "per_instance": per_instance(res.results, res.n_instances)}
        if loops:
            _write_events(loops[0].events, sub / "detector.jsonl")
            doc["detector"] = {**loops[0].summary(), "file": "detector.jsonl"}
        (sub / "summary.json").write_text(json.dumps(doc, indent=2, default=float))
        if not a.no_plots:
            from .plots import plot_instance_series

            plot_instance_series(res.snapshots, res.n_instances, sub / "instances.png")
        by_scorer[cfg.scorer] = res.results
        summaries[cfg.scorer] = s
        print(f"\n{cfg.scorer} on {cfg.trace or cfg.workload} x{cfg.scale:g}, {cfg.instances} x {res.profile.name}:")
        print(_table(_summary_rows(s, res) + ([_detector_row(doc["detector"])] if loops else [])))
        rej = [r for r in res.results if r.rejected]
        if rej:
            print(f"  rejected example: request {rej[0].rid}: {rej[0].rejected}")
    if not a.no_plots:
        from .plots import plot_cdfs

        plot_cdfs(by_scorer, out / "latency_cdf.png")
    files = (f"requests.csv, telemetry.jsonl, {'detector.jsonl, ' if a.detector != 'off' else ''}summary.json"
             f"{', instances.png' if not a.no_plots else ''}")
    if len(cfgs) > 1:
        print(f"\nwrote {', '.join(f'{out / c.scorer}/' for c in cfgs)} (each: {files})"
              + (f" and {out / 'latency_cdf.png'}" if not a.no_plots else ""))
    else:
        print(f"\nwrote {out}/ ({files}{', latency_cdf.png' if not a.no_plots else ''})")
    return 0


def main_sweep(argv: Sequence[str] | None = None, prog: str = "lmetric sweep") -> int:
    """Load sweep: every scorer at every scale; mean/P99 TTFT and TPOT against rate.

    The runs go through :func:`analyzers.runs.run_tasks` (parallel, cached, resumable);
    each finished row is appended to ``sweep.jsonl`` at once, ``sweep.json`` and the plot
    are written when all are done."""
    from analyzers.runs import RunError, add_run_arguments, interrupted_message, options_from_args, run_tasks

    from .tasks import sim_task

    p = Parser(prog=prog, description="Sweep load (replay scale) for several scorers.")
    add_sim_arguments(p)
    p.add_argument("--scorers", default="lmetric,vllm-v1,bailian", help="comma-separated scorers")
    p.add_argument("--scales", default="0.5,1,2,4", help="comma-separated replay scale factors")
    p.add_argument("--out", default="results/sweep", metavar="DIR", help="output directory")
    add_run_arguments(p)
    a = p.parse_args(argv)
    out = Path(a.out)
    try:
        scorers = [s.strip() for s in a.scorers.split(",") if s.strip()]
        bad = [s for s in scorers if s not in SCORERS]
        if bad or not scorers:
            raise ValueError(f"unknown scorer(s) {', '.join(bad) or '(none)'}; known: {', '.join(SCORERS)}")
        scales = [float(v) for v in a.scales.split(",")]
        if not scales or not all(math.isfinite(v) and v > 0 for v in scales):
            raise ValueError("--scales must be finite numbers > 0")
    except ValueError as exc:
        p.error(str(exc).replace("could not convert string to float: ", "--scales: not a number: "))
    why = check_sim_args(a, scorers[:1]) or writable_dir(a.out)
    if why:
        p.error(why)
    try:
        opts = options_from_args(a, default_cache=str(out / ".cache"))
        tasks, meta = [], []
        for scale in scales:
            a.scale = scale
            base = replace(config_from_args(a, scorers[0]), telemetry_interval=None)
            build_workload(base)  # bad workload settings fail here, before any run starts
            for scorer in scorers:
                cfg = replace(base, scorer=scorer, params=parse_params(a.param) if scorer == scorers[0] else {})
                if scorer == scorers[0]:
                    SCORERS[scorer].params(cfg.params)  # unknown parameter names: one-line error now
                tasks.append(sim_task(cfg, label=f"{scorer} x{scale:g}"))
                meta.append((scorer, scale))
    except (ValueError, KeyError, WorkloadError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    partial = (out / "sweep.jsonl").open("w")

    def row_of(i: int, res: dict) -> dict:
        scorer, scale = meta[i]
        s = res["summary"]
        span = res["arrival_span"] or 1.0
        return {"scorer": scorer, "scale": scale, "rate": s["requests"] / span, "ttft_mean": s["ttft"]["mean"],
                "ttft_p99": s["ttft"]["p99"], "tpot_mean": s["tpot"]["mean"], "tpot_p99": s["tpot"]["p99"],
                "cache_hit_ratio": s["cache_hit_ratio"], "completed": s["completed"]}

    def on_result(i: int, task, res: dict) -> None:
        row = row_of(i, res)
        partial.write(json.dumps(row) + "\n")
        partial.flush()
        print(f"scale {row['scale']:>5g}  rate {row['rate']:7.2f}/s  {row['scorer']:<22} TTFT mean {row['ttft_mean']:8.3f}s "
              f"p99 {row['ttft_p99']:8.3f}s  TPOT mean {row['tpot_mean'] * 1000:7.1f}ms p99 {row['tpot_p99'] * 1000:7.1f}ms"
              f"  hit {row['cache_hit_ratio']:.1%}", flush=True)

    try:
        results = run_tasks(tasks, opts, on_result=on_result, title="sweep")
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\n" + interrupted_message(opts, f"{out}/sweep.jsonl"), file=sys.stderr)
        return 130
    finally:
        partial.close()
    rows = [row_of(i, r) for i, r in enumerate(results)]
    (out / "sweep.json").write_text(json.dumps(rows, indent=2))
    from .plots import plot_load_sweep

    plot_load_sweep(rows, out / "load_sweep.png")
    print(f"wrote {out}/sweep.json and load_sweep.png")
    return 0
