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

from .theorem import DEFAULT_SAMPLES, DEFAULT_SEED, Theorem, TheoremResult, check_theorem

__all__ = ["main", "build_parser", "run_check", "explain", "run_command"]


def run_command(fn, *args, **kwargs) -> int:
    """Run a command's ``main`` for the console: a reader that closes the pipe early
    (``lmetric theory check --json | head``) ends it quietly with status 141 (as a
    shell reports SIGPIPE) instead of a ``BrokenPipeError`` traceback.

    >>> run_command(lambda: 3)
    3
    """
    try:
        code = fn(*args, **kwargs)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        import os

        try:  # nothing more can reach the reader; keep the interpreter's final flush from failing too
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (in-process callers)
            pass
        return 141


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0 or value > 100_000:
        raise argparse.ArgumentTypeError(f"expected an integer in 0..100000, got {value}")
    return value


def build_parser(prog: str = "lmetric theory") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Machine-checked theorems of multiplicative routing (T1-T13).")
    sub = p.add_subparsers(dest="command", required=True, metavar="{check,explain}")
    c = sub.add_parser("check", help="verify every theorem; exit 1 if any fails")
    fmt = c.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON document for machines")
    fmt.add_argument("--latex", action="store_true", help="print statements and key steps as LaTeX")
    c.add_argument("--only", metavar="IDS", help="comma-separated theorem ids, e.g. T1,T6")
    c.add_argument("--seed", type=_nonneg_int, default=DEFAULT_SEED,
                   help=f"seed of the falsification states (default {DEFAULT_SEED})")
    c.add_argument("--samples", type=_nonneg_int, default=DEFAULT_SAMPLES,
                   help=f"random exact states per theorem and per statement clause (default {DEFAULT_SAMPLES}; "
                   "0 skips falsification)")
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
    rows = [(r.id, r.name, r.status, str(len(r.steps)), str(r.samples), f"{r.seconds:.3f}") for r in results]
    heads = ("id", "theorem", "status", "steps", "samples", "seconds")
    w = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(heads)]
    fmt = lambda row: (f"{row[0]:<{w[0]}}  {row[1]:<{w[1]}}  {row[2]:<{w[2]}}  {row[3]:>{w[3]}}  "  # noqa: E731
                       f"{row[4]:>{w[4]}}  {row[5]:>{w[5]}}")
    print(fmt(heads), file=out)
    for r, row in zip(results, rows):
        print(fmt(row), file=out)
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
              out: TextIO | None = None, seed: int = DEFAULT_SEED, samples: int = DEFAULT_SAMPLES) -> int:
    """Check ``theorems`` (proofs, statements, falsification on ``samples`` states drawn
    from ``random.Random(seed)``); print a table (or JSON / LaTeX); return the exit code."""
    import random

    out = sys.stdout if out is None else out
    rng = random.Random(seed)
    results = [check_theorem(t, rng=rng, samples=samples) for t in theorems]
    if as_json:
        doc = {
            "passed": all(r.passed for r in results),
            "seed": seed,
            "theorems": [
                {"id": r.id, "name": r.name, "status": r.status, "seconds": round(r.seconds, 6), "error": r.error,
                 "samples": r.samples, "counterexamples": list(r.counterexamples),
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
    print("\nStatement (sympy, proved by the steps below):", file=out)
    from .theorem import clauses

    for c in clauses(th.sympy_statement()):
        print(f"  {render(c)}", file=out)
    if th.holds_for:
        print("Score families:", file=out)
        for fam, verdict in th.holds_for.items():
            print(f"  {fam:<10} {verdict}", file=out)
    print("\nProof:", file=out)
    for i, s in enumerate(r.steps, 1):
        mark = "ok " if s.passed else "NO "
        print(f"  {i:>2}. [{mark}] {s.claim}", file=out)
        print(f"        {render(s.statement)}   ({s.method})", file=out)
    print(f"\nFalsification: {r.samples} random exact states per clause and for the numeric predicate; "
          f"{len(r.counterexamples)} counterexamples.", file=out)
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
            return run_check(_select(theorems, args.only), as_json=args.json, as_latex=args.latex,
                             seed=args.seed, samples=args.samples)
        from .registry import get_theorem

        return explain(get_theorem(args.theorem, tuple(theorems)), as_latex=args.latex)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
