"""Command line for the theory: ``check`` verifies every theorem, ``explain`` prints one.

>>> main(["check", "--only", "T3"])  # doctest: +ELLIPSIS
id  ...
T3  ...PASS...
0
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence, TextIO

from .theorem import Theorem, TheoremResult, check_theorem

__all__ = ["main", "build_parser", "run_check", "explain"]


def build_parser(prog: str = "lmetric theory") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Machine-checked theorems of multiplicative routing (T1-T10).")
    sub = p.add_subparsers(dest="command", required=True, metavar="{check,explain}")
    c = sub.add_parser("check", help="verify every theorem; exit 1 if any fails")
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON document for machines")
    fmt.add_argument("--latex", action="store_true", help="print statements and key steps as LaTeX")
    c.add_argument("--only", metavar="IDS", help="comma-separated theorem ids, e.g. T1,T6")
    e = sub.add_parser("explain", help="print one theorem with its assumptions and proof steps")
    e.add_argument("theorem", help="theorem id, e.g. T6")
    e.add_argument("--latex", action="store_true", help="render the statement and steps as LaTeX")
    return p


def _select(theorems: Sequence[Theorem], only: str | None) -> list[Theorem]:
    if not only:
        return list(theorems)
    from .registry import get_theorem

    return [get_theorem(i, tuple(theorems)) for i in only.split(",") if i.strip()]


def _table(results: Sequence[TheoremResult], out: TextIO) -> None:
    rows = [(r.id, r.name, r.status, f"{r.seconds:.3f}") for r in results]
    w = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(("id", "theorem", "status", "seconds"))]
    print(f"{'id':<{w[0]}}  {'theorem':<{w[1]}}  {'status':<{w[2]}}  {'seconds':>{w[3]}}", file=out)
    for r, row in zip(results, rows):
        print(f"{row[0]:<{w[0]}}  {row[1]:<{w[1]}}  {row[2]:<{w[2]}}  {row[3]:>{w[3]}}", file=out)
        if not r.passed:
            print(f"{'':<{w[0]}}  ! {r.error}", file=out)
    n_ok = sum(r.passed for r in results)
    print(f"{n_ok} passed, {len(results) - n_ok} failed", file=out)


def _latex(results: Sequence[TheoremResult], theorems: Sequence[Theorem], out: TextIO) -> None:
    import sympy as sp

    for th, r in zip(theorems, results):
        print(f"% {th.id} {th.name} [{r.status}]", file=out)
        print(rf"\paragraph{{{th.id} {th.name}}} {th.statement}", file=out)
        print(r"\[" + sp.latex(th.sympy_statement()) + r"\]", file=out)
        for s in r.steps:
            print(rf"% {s.claim} -- {'proved' if s.passed else 'NOT PROVED'}", file=out)
            print(r"\[" + sp.latex(s.statement) + r"\]", file=out)


def run_check(theorems: Sequence[Theorem], *, as_json: bool = False, as_latex: bool = False,
              out: TextIO | None = None) -> int:
    """Check ``theorems``; print a table (or JSON / LaTeX); return the exit code."""
    out = sys.stdout if out is None else out
    results = [check_theorem(t) for t in theorems]
    if as_json:
        doc = {
            "passed": all(r.passed for r in results),
            "theorems": [
                {"id": r.id, "name": r.name, "status": r.status, "seconds": round(r.seconds, 6), "error": r.error,
                 "steps": [{"claim": s.claim, "method": s.method, "verdict": s.verdict} for s in r.steps]}
                for r in results
            ],
        }
        json.dump(doc, out, indent=2)
        out.write("\n")
    elif as_latex:
        _latex(results, theorems, out)
    else:
        _table(results, out)
    return 0 if results and all(r.passed for r in results) else 1


def explain(th: Theorem, *, as_latex: bool = False, out: TextIO | None = None) -> int:
    """Print one theorem: statement, assumptions, closed form, per-family validity, proof steps."""
    out = sys.stdout if out is None else out
    import sympy as sp

    r = check_theorem(th)
    render = sp.latex if as_latex else sp.sstr
    print(f"{th.id}  {th.name}  [{r.status}]", file=out)
    print(f"\n{th.statement}\n", file=out)
    print("Assumptions:", file=out)
    for a in th.assumptions:
        print(f"  - {a}", file=out)
    print(f"\nStatement (sympy): {render(th.sympy_statement())}", file=out)
    if th.closed_form:
        print(f"Closed form: {th.closed_form}", file=out)
    if th.holds_for:
        print("Score families:", file=out)
        for fam, verdict in th.holds_for.items():
            print(f"  {fam:<10} {verdict}", file=out)
    print("\nProof:", file=out)
    for i, s in enumerate(r.steps, 1):
        mark = "ok " if s.passed else "NO "
        print(f"  {i:>2}. [{mark}] {s.claim}", file=out)
        print(f"        {render(s.statement)}   ({s.method})", file=out)
    if r.error:
        print(f"\n{r.error}", file=out)
    return 0 if r.passed else 1


def main(argv: Sequence[str] | None = None, theorems: Sequence[Theorem] | None = None,
         prog: str = "lmetric theory") -> int:
    """Entry point; ``theorems`` defaults to the catalogue (tests inject their own)."""
    args = build_parser(prog).parse_args(argv)
    if theorems is None:
        from .registry import catalogue

        theorems = catalogue()
    try:
        if args.command == "check":
            return run_check(_select(theorems, args.only), as_json=args.json, as_latex=args.latex)
        from .registry import get_theorem

        return explain(get_theorem(args.theorem, tuple(theorems)), as_latex=args.latex)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
