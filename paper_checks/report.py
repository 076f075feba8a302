"""``python -m paper_checks`` / ``lmetric paper-checks``: every claim with its verdict."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Sequence

import numpy as np

from .claim import Claim, ClaimResult, run_claim
from .registry import all_claims

__all__ = ["main", "run_all"]


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


def main(argv: Sequence[str] | None = None, prog: str = "python -m paper_checks",
         claims: Sequence[Claim] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Check every claim of the LMetric paper and print a verdict.")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--seed", type=int, default=0, help="seed of the numeric experiments (default 0)")
    parser.add_argument("--only", metavar="IDS", help="comma-separated claim ids, e.g. A1,A3")
    parser.add_argument("--window", type=float, default=300.0,
                        help="seconds of each replay the simulation claims run (default 300)")
    args = parser.parse_args(argv)
    if args.window <= 0:
        print("error: --window must be positive", file=sys.stderr)
        return 2
    claims = list(all_claims(args.window) if claims is None else claims)
    if args.only:
        wanted = {i.strip().upper() for i in args.only.split(",") if i.strip()}
        unknown = wanted - {c.id for c in claims}
        if unknown:
            print(f"error: unknown claim id(s) {', '.join(sorted(unknown))}; known: {', '.join(c.id for c in claims)}",
                  file=sys.stderr)
            return 2
        claims = [c for c in claims if c.id in wanted]
    results = run_all(claims, args.seed)
    if args.json:
        json.dump({"passed": all(r.verdict == "PASS" for r in results), "claims": [asdict(r) for r in results]},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print(results)
    return 0 if results and all(r.verdict == "PASS" for r in results) else 1
