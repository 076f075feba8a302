"""One-line AST mutation testing of ``lmetric_theory`` against ``lmetric theory check``.

Each mutant changes one node of one module: a comparison flipped (``<`` <-> ``<=``,
``>`` <-> ``>=``, ``==`` <-> ``!=``), an arithmetic operator swapped (``+`` <-> ``-``,
``*`` <-> ``/``, ``**`` -> ``*``), an integer constant moved by one, ``and`` <-> ``or``,
a ``not`` or unary minus dropped, ``min`` <-> ``max``, or a sympy symbol assumption
removed (``positive=True`` / ``nonnegative=True`` / ``nonzero=True`` dropped). The
statement of every theorem is a sympy expression in the same modules, so statement
mutations are among these. Docstrings and prose (claims, names, messages) are not
mutated: they are documentation, not mathematics; nor are the falsifiers, their
brute force and the random-point sampler (``_falsify`` and friends, ``bruteforce.py``,
``theorem._draw``): they are the test oracle. A mutant is *killed* when
``check`` exits non-zero (or crashes, or exceeds the timeout).

Run ``python -m tests.mutation [--limit N] [--seed S]`` (``make mutation``); it prints
the kill figure and every survivor. The test suite uses :func:`mutants` and
:func:`load_mutant` to prove that a statement mutation makes ``check`` fail.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "lmetric_theory"
SKIP_FILES = {"__init__.py", "__main__.py", "cli.py", "bruteforce.py"}
#: the falsifiers and their brute force are the test oracle (like a test suite), not mutated
HARNESS = {"_falsify", "_rationalisable", "_loop", "_dominated", "_probe_points", "_no_falsifier", "_draw"}
PROSE_CALLS = {"proves", "identity", "positive", "nonnegative", "holds", "truth", "report", "ValueError", "TypeError",
               "KeyError", "AttributeError"}
CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult}
ASSUMPTIONS = {"positive", "nonnegative", "nonzero"}


@dataclass(frozen=True)
class Mutant:
    file: str
    index: int  # the index-th mutation site of the file, in walk order
    line: int
    kind: str
    source_line: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} [{self.kind}] {self.source_line.strip()}"


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            body = getattr(node, "body", [])
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _prose_nodes(tree: ast.AST) -> set[int]:
    """Nodes inside prose: arguments of claim/report/exception calls, keyword strings."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
            if name in PROSE_CALLS:
                first = node.args[:1] if name not in {"ValueError", "TypeError", "KeyError", "AttributeError"} else node.args
                for a in first:
                    ids.update(id(n) for n in ast.walk(a))
        if isinstance(node, ast.JoinedStr):
            ids.update(id(n) for n in ast.walk(node))
    return ids


def _harness_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in HARNESS:
            ids.update(id(n) for n in ast.walk(node))
    return ids


def _sites(tree: ast.AST):
    """Yield (node, kind, apply) for every mutation site, in a deterministic order."""
    skip = _docstring_nodes(tree) | _prose_nodes(tree) | _harness_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in CMP_SWAP:
                    yield node, f"compare {type(op).__name__}->{CMP_SWAP[type(op)].__name__}", \
                        (lambda n, i=i: n.ops.__setitem__(i, CMP_SWAP[type(n.ops[i])]()))
        elif isinstance(node, ast.BinOp) and any(isinstance(s, ast.Constant) and isinstance(s.value, str)
                                                 for s in (node.left, node.right)):
            continue  # string concatenation: a message, prose
        elif isinstance(node, ast.BinOp) and type(node.op) in BIN_SWAP:
            yield node, f"operator {type(node.op).__name__}->{BIN_SWAP[type(node.op)].__name__}", \
                (lambda n: setattr(n, "op", BIN_SWAP[type(n.op)]()))
        elif isinstance(node, ast.AugAssign) and type(node.op) in BIN_SWAP:
            yield node, f"operator {type(node.op).__name__}=->{BIN_SWAP[type(node.op)].__name__}=", \
                (lambda n: setattr(n, "op", BIN_SWAP[type(n.op)]()))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield node, f"constant {node.value}->{node.value + 1}", (lambda n: setattr(n, "value", n.value + 1))
        elif isinstance(node, ast.BoolOp):
            other = ast.Or if isinstance(node.op, ast.And) else ast.And
            yield node, f"boolean {type(node.op).__name__}->{other.__name__}", (lambda n, o=other: setattr(n, "op", o()))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            yield node, f"drop {type(node.op).__name__}", (lambda n: setattr(n, "op", ast.UAdd()))
        elif isinstance(node, ast.Name) and node.id in {"min", "max"}:
            yield node, f"call {node.id}->{'max' if node.id == 'min' else 'min'}", \
                (lambda n: setattr(n, "id", "max" if n.id == "min" else "min"))
        elif isinstance(node, ast.Call):
            for i, kw in enumerate(node.keywords):
                if kw.arg in ASSUMPTIONS and isinstance(kw.value, ast.Constant) and kw.value.value is True:
                    yield node, f"assumption {kw.arg}=True removed", (lambda n, i=i: n.keywords.pop(i))


def mutants(files: list[str] | None = None) -> list[Mutant]:
    """Every mutation site of the package (or of ``files``), in a stable order."""
    out = []
    names = files or sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in SKIP_FILES)
    for name in names:
        text = (PACKAGE / name).read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        for i, (node, kind, _) in enumerate(_sites(tree)):
            line = getattr(node, "lineno", 0)
            out.append(Mutant(name, i, line, kind, lines[line - 1] if line else ""))
    return out


def mutated_source(m: Mutant) -> str:
    """The module's source with mutant ``m`` applied."""
    tree = ast.parse((PACKAGE / m.file).read_text())
    for i, (node, kind, apply) in enumerate(_sites(tree)):
        if i == m.index:
            if kind == "drop Not":  # "not x" -> "x"
                node.op = ast.UAdd()
                return ast.unparse(_NotDropper(node).visit(tree))
            apply(node)
            return ast.unparse(ast.fix_missing_locations(tree))
    raise IndexError(f"no site {m.index} in {m.file}")


class _NotDropper(ast.NodeTransformer):
    def __init__(self, target):
        self.target = target

    def visit_UnaryOp(self, node):
        self.generic_visit(node)
        return node.operand if node is self.target else node


def load_mutant(m: Mutant):
    """Import the mutated module under a private name inside the package (for fast tests)."""
    name = f"lmetric_theory._mutant_{m.file[:-3]}_{m.index}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "lmetric_theory"
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    exec(compile(mutated_source(m), f"<mutant {m}>", "exec"), module.__dict__)
    return module


def _imports(name: str) -> set[str]:
    """Package modules ``name`` imports directly (``from .x import``, ``from . import x``)."""
    tree = ast.parse((PACKAGE / name).read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0] + ".py")
            else:
                out.update(a.name + ".py" for a in node.names)
    return out


def affected_theorems(name: str) -> list[str] | None:
    """Theorem ids whose module imports ``name`` (transitively); ``None`` means all of
    them (the checker, the predicates, the registry). Other theorems cannot see the
    mutation, so ``check --only`` these ids decides it exactly as a full check would."""
    import re

    if name in {"theorem.py", "conditions.py", "registry.py", "bruteforce.py"}:
        return None
    files = sorted(p.name for p in PACKAGE.glob("*.py"))
    deps = {f: _imports(f) for f in files}

    def closure(f, seen):
        for d in deps.get(f, ()):
            if d not in seen:
                seen.add(d)
                closure(d, seen)
        return seen

    ids = []
    for f in files:
        if f == name or name in closure(f, set()):
            ids += re.findall(r'id="(T\d+)"', (PACKAGE / f).read_text())
    return ids


def _run_check_in_child(root: str, samples: int, seed: int, timeout: float, only: list[str] | None = None) -> str:
    """Fork; the child imports the (mutated) package from ``root`` and runs check
    (restricted to ``only`` when given)."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            sys.path.insert(0, root)
            from lmetric_theory.cli import main

            argv = ["check", "--samples", str(samples), "--seed", str(seed)]
            code = main(argv + (["--only", ",".join(only)] if only else []))
            os._exit(0 if code == 0 else 1)
        except BaseException:
            os._exit(2)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return "survived" if code == 0 else ("killed" if code == 1 else "killed (crash)")
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "killed (timeout)"
        time.sleep(0.02)


def run(limit: int | None, seed: int, samples: int, timeout: float, out=sys.stdout) -> tuple[int, int, list[Mutant]]:
    """Run a seeded sample of ``limit`` mutants (all when None); return (killed, total, survivors)."""
    import numpy  # noqa: F401  warm the parent so forks start fast
    import sympy  # noqa: F401

    every = mutants()
    chosen = every if limit is None or limit >= len(every) else sorted(
        random.Random(seed).sample(every, limit), key=lambda m: (m.file, m.index))
    tmp = tempfile.mkdtemp(prefix="lmetric-mutants-")
    try:
        pkg = Path(tmp) / "lmetric_theory"
        shutil.copytree(PACKAGE, pkg, ignore=shutil.ignore_patterns("__pycache__"))
        baseline = _run_check_in_child(tmp, samples, seed, timeout)
        if baseline != "survived":
            raise SystemExit(f"unmutated check fails ({baseline}); fix it before mutation testing")
        killed, survivors = 0, []
        print(f"{len(chosen)} of {len(every)} mutation sites (seed {seed}), check --samples {samples}", file=out)
        for n, m in enumerate(chosen, 1):
            original = (pkg / m.file).read_text()
            (pkg / m.file).write_text(mutated_source(m))
            try:
                only = affected_theorems(m.file)
                verdict = _run_check_in_child(tmp, samples, seed, timeout, only) if only != [] else "survived"
            finally:
                (pkg / m.file).write_text(original)
            if verdict == "survived":
                survivors.append(m)
            else:
                killed += 1
            print(f"[{n:>4}/{len(chosen)}] {verdict:<17} {m}", file=out, flush=True)
        return killed, len(chosen), survivors
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=None, help="seeded sample of this many mutants (default: all)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--samples", type=int, default=40, help="check --samples for each mutant")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds per mutant before it counts as killed (a full check takes < 5 s)")
    p.add_argument("--list", action="store_true", help="list the mutation sites and exit")
    p.add_argument("--package", type=Path, default=None,
                   help="mutate a copy of this lmetric_theory directory (default: the one beside tests/)")
    args = p.parse_args(argv)
    if args.package is not None:
        global PACKAGE
        PACKAGE = args.package.resolve()
    if args.list:
        for m in mutants():
            print(m)
        return 0
    start = time.perf_counter()
    killed, total, survivors = run(args.limit, args.seed, args.samples, args.timeout)
    print(f"\nkilled {killed}/{total} = {killed / max(total, 1):.1%} in {time.perf_counter() - start:.0f} s; "
          f"{len(survivors)} survivors:")
    for m in survivors:
        print(f"  {m}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
