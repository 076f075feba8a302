"""``python -m paper_checks`` / ``lmetric paper-checks``: every claim with its verdict.

The simulation claims (P1–P7) come from one study (:mod:`.study`) whose runs go
through :mod:`analyzers.runs` (``--jobs``, ``--scheduler``, a cache under the output
folder so an interrupted run resumes). Writes ``report.md``, ``report.json`` and the
PNG figures into ``--out`` and prints the verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .claim import Claim, ClaimResult, run_claim
from .registry import all_claims

__all__ = ["main", "run_all", "environment"]


def run_all(claims: Sequence[Claim], seed: int) -> list[ClaimResult]:
    """Run every claim with its own generator spawned from ``seed`` (order-independent)."""
    seeds = np.random.SeedSequence(seed).spawn(len(claims))
    return [run_claim(c, np.random.default_rng(s)) for c, s in zip(claims, seeds)]


def _print(results: Sequence[ClaimResult]) -> None:
    for r in results:
        print(f"[{r.verdict}] {r.id}  {r.title}")
        print(f"    paper:   \"{r.wording}\"")
        print(f"    checked: {r.checked}")
        print(f"    found:   {r.details}")
        print()
    n_pass = sum(r.verdict == "PASS" for r in results)
    print(f"{n_pass} passed, {len(results) - n_pass} failed")


def environment() -> dict:
    """CPU model and load average (every reported number carries them)."""
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "unknown"
    return {"cpu": cpu, "loadavg": load}


def main(argv: Sequence[str] | None = None, prog: str = "python -m paper_checks",
         claims: Sequence[Claim] | None = None) -> int:
    from analyzers.runs import RunError, add_run_arguments, interrupted_message, options_from_args

    from .simulation import PROFILES, Study

    parser = argparse.ArgumentParser(prog=prog, description="Check every claim of the LMetric paper and print a verdict.")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--seed", type=int, default=0, help="seed of the analytical experiments (default 0)")
    parser.add_argument("--only", metavar="IDS", help="comma-separated claim ids, e.g. A1,P3")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", dest="profile", action="store_const", const="quick",
                      help="the quick study (default; about 5 min on 2 cores)")
    size.add_argument("--full", dest="profile", action="store_const", const="full", help="the study at the paper's scale")
    size.add_argument("--profile", dest="profile", choices=list(PROFILES), help="a named study profile")
    parser.add_argument("--window", type=float, help="override the profile's replay window (seconds)")
    parser.add_argument("--out", default="results/paper-checks", metavar="DIR",
                        help="folder for report.md, report.json and the figures (default results/paper-checks)")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    if args.window is not None and not args.window > 0:
        print("error: --window must be positive", file=sys.stderr)
        return 2
    profile = PROFILES[args.profile or "quick"]
    if args.window is not None:
        profile = replace(profile, window=args.window, regime_window=args.window)
    out = Path(args.out)
    try:
        opts = options_from_args(args, default_cache=str(out / ".cache"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    study = Study(profile, opts)
    claims = list(all_claims(study) if claims is None else claims)
    if args.only:
        wanted = {i.strip().upper() for i in args.only.split(",") if i.strip()}
        unknown = wanted - {c.id for c in claims}
        if unknown:
            print(f"error: unknown claim id(s) {', '.join(sorted(unknown))}; known: {', '.join(c.id for c in claims)}",
                  file=sys.stderr)
            return 2
        claims = [c for c in claims if c.id in wanted]
    t0 = time.perf_counter()
    try:
        if any(c.kind == "simulation" for c in claims):
            study.get()  # the runs, before the checks (interruptible, resumable, one-line errors)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\n" + interrupted_message(opts), file=sys.stderr)
        return 130
    results = run_all(claims, args.seed)
    if study.doc is not None:
        from .figures import write_figures
        from .markdown import render
        from .study import rows_for_json

        out.mkdir(parents=True, exist_ok=True)
        env = {"profile": profile.name, "runs": len(study.raw), "wall_s": time.perf_counter() - t0,
               "jobs": opts.jobs or "all cores", "scheduler": opts.scheduler, **environment()}
        figures = write_figures(study.doc, study.raw, profile, out)
        doc = {"environment": env, "verdicts": [asdict(r) for r in results], **study.doc, "runs": rows_for_json(study.raw)}
        (out / "report.json").write_text(json.dumps(doc, indent=1, default=float))
        (out / "report.md").write_text(render(results, study.doc, env, figures))
    if args.json:
        json.dump({"passed": all(r.verdict == "PASS" for r in results), "claims": [asdict(r) for r in results]},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print(results)
        if study.doc is not None:
            print(f"wrote {out}/report.md, report.json and {len(figures)} figures")
    return 0 if results and all(r.verdict == "PASS" for r in results) else 1
