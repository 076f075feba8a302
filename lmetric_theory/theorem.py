"""Theorem objects and the machinery that machine-checks them.

A :class:`Theorem` bundles a plain-language statement, the sympy statement (a
conjunction of relations), a *proof* (a function returning :class:`Step` records, each
carrying a sympy verdict), the numeric counterpart from :mod:`lmetric_theory.conditions`
and a *falsifier* that tests that predicate against an independent brute force.

:func:`check_theorem` passes a theorem only when all of these hold:

1. every proof step's verdict is exactly ``True`` (sympy's ``None`` — unknown — fails);
2. every clause of the sympy statement is the statement of a passed step (the
   statement follows from the proof, it is not a separate string that can drift); the
   displayed closed form (:attr:`Theorem.closed_form`) and the symbolic assumptions
   (:attr:`Theorem.assumptions`) are generated from that same sympy statement;
3. each clause evaluates to ``True`` at ``samples`` random exact rational points that
   satisfy its symbols' assumptions (an independent check of the algebra);
4. the theorem's falsifier finds no counterexample on ``samples`` seeded random
   states in exact rationals (``fractions.Fraction``).

>>> import random
>>> import sympy as sp
>>> x = sp.Symbol("x", positive=True)
>>> th = Theorem(id="TX", name="square is positive", statement="x^2 > 0 for x > 0",
...              sympy_statement=lambda: gt(x**2), proof=lambda: [proves("x^2 is positive", gt(x**2))])
>>> check_theorem(th, rng=random.Random(0), samples=5).status
'PASS'
>>> th.closed_form, th.assumptions
('x**2 > 0', ('x > 0',))
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from fractions import Fraction  # noqa: F401  (the doctests use it)
from typing import Callable, Mapping, Sequence

import sympy as sp

__all__ = [
    "Step",
    "Theorem",
    "TheoremResult",
    "check_theorem",
    "identity",
    "positive",
    "nonnegative",
    "truth",
    "holds",
    "proves",
    "exact",
    "eq",
    "gt",
    "ge",
    "clauses",
    "symbol_assumptions",
    "falsify_clauses",
    "DEFAULT_SAMPLES",
    "DEFAULT_SEED",
]

DEFAULT_SAMPLES = 40
DEFAULT_SEED = 2026


@dataclass(frozen=True)
class Step:
    """One proof step: what is claimed, the sympy statement, and sympy's verdict.

    ``verdict`` is what sympy returned: ``True`` (proved), ``False`` (refuted) or
    ``None`` (sympy could not decide). Only ``True`` passes.
    """

    claim: str
    statement: sp.Basic
    verdict: bool | None
    method: str

    @property
    def passed(self) -> bool:
        return self.verdict is True


def _as_verdict(value: object) -> bool | None:
    if value is True or value is sp.true:
        return True
    if value is False or value is sp.false:
        return False
    return None


def eq(lhs: sp.Expr, rhs: sp.Expr) -> sp.Basic:
    """An unevaluated ``lhs = rhs`` clause (structurally comparable)."""
    return sp.Eq(lhs, rhs, evaluate=False)


def gt(expr: sp.Expr, rhs: sp.Expr = sp.Integer(0)) -> sp.Basic:
    """An unevaluated ``expr > rhs`` clause (``rhs`` defaults to 0)."""
    return sp.Gt(expr, rhs, evaluate=False)


def ge(expr: sp.Expr, rhs: sp.Expr = sp.Integer(0)) -> sp.Basic:
    """An unevaluated ``expr >= rhs`` clause (``rhs`` defaults to 0)."""
    return sp.Ge(expr, rhs, evaluate=False)


def _diff(rel: sp.Basic) -> sp.Expr:
    return rel.lhs - rel.rhs


def proves(claim: str, relation: sp.Basic) -> Step:
    """Prove one relation symbolically from its symbols' assumptions.

    ``Eq``: ``simplify(lhs - rhs) == 0``; ``>``/``>=``/``<``/``<=``: the sign of
    ``lhs - rhs`` from the assumptions (``is_positive`` and friends).

    >>> a, b = sp.symbols("a b")
    >>> proves("square of a sum", eq((a + b)**2, a**2 + 2*a*b + b**2)).passed
    True
    >>> proves("wrong", eq((a + b)**2, a**2 + b**2)).passed
    False
    >>> proves("vacuous", eq(a + b, b + a)).verdict is None   # the same expression twice proves nothing
    True
    """
    d = _diff(relation).doit()
    if relation.lhs == relation.rhs:
        return Step(claim, relation, None, "vacuous: both sides are the same expression")
    if isinstance(relation, sp.Eq) and (relation.lhs.doit().is_infinite or relation.rhs.doit().is_infinite):
        return Step(claim, relation, relation.lhs.doit() == relation.rhs.doit(), "evaluate both sides (infinite)")
    if isinstance(relation, sp.Eq):
        return Step(claim, relation, sp.simplify(sp.expand(d)) == 0, "simplify(lhs - rhs) == 0")
    if isinstance(relation, sp.StrictGreaterThan):
        return Step(claim, relation, _as_verdict(d.is_positive), "assumptions: lhs - rhs > 0")
    if isinstance(relation, sp.GreaterThan):
        return Step(claim, relation, _as_verdict(d.is_nonnegative), "assumptions: lhs - rhs >= 0")
    if isinstance(relation, sp.StrictLessThan):
        return Step(claim, relation, _as_verdict(d.is_negative), "assumptions: lhs - rhs < 0")
    if isinstance(relation, sp.LessThan):
        return Step(claim, relation, _as_verdict(d.is_nonpositive), "assumptions: lhs - rhs <= 0")
    raise TypeError(f"proves() takes Eq, <, <=, > or >=, not {type(relation).__name__}")


def identity(claim: str, lhs: sp.Expr, rhs: sp.Expr) -> Step:
    """Step proving ``lhs == rhs`` identically: ``simplify(lhs - rhs) == 0``.

    >>> a, b = sp.symbols("a b")
    >>> identity("square of a sum", (a + b)**2, a**2 + 2*a*b + b**2).passed
    True
    >>> identity("wrong", (a + b)**2, a**2 + b**2).passed
    False
    """
    return proves(claim, eq(lhs, rhs))


def positive(claim: str, expr: sp.Expr) -> Step:
    """Step proving ``expr > 0`` from the symbols' declared assumptions.

    >>> y = sp.Symbol("y", positive=True)
    >>> positive("y + 1 > 0", y + 1).verdict
    True
    >>> positive("unknown sign", sp.Symbol("z", real=True)).verdict is None
    True
    """
    return proves(claim, gt(expr))


def nonnegative(claim: str, expr: sp.Expr) -> Step:
    """Step proving ``expr >= 0`` from the symbols' declared assumptions."""
    return proves(claim, ge(expr))


def truth(claim: str, statement: sp.Basic, value: object, method: str) -> Step:
    """Step whose verdict was computed by the caller (e.g. a limit or a substitution)."""
    return Step(claim, statement, _as_verdict(value), method)


def _evaluate(expr: sp.Basic) -> sp.Basic:
    """Evaluate an unevaluated boolean/relational tree on concrete numbers."""
    if isinstance(expr, (sp.core.relational.Relational, sp.logic.boolalg.BooleanFunction)):
        return expr.func(*[_evaluate(a) for a in expr.args])
    return expr.doit() if isinstance(expr, sp.Basic) else expr


def holds(claim: str, relation: sp.Basic) -> Step:
    """Step for a concrete relation that sympy evaluates exactly (e.g. a witness check);
    build it with ``evaluate=False`` so the step shows the relation, not just ``True``.

    >>> holds("1/2 < 1", sp.Lt(sp.Rational(1, 2), 1, evaluate=False)).passed
    True
    >>> holds("2 < 1", sp.Lt(2, 1, evaluate=False)).passed
    False
    """
    return Step(claim, relation, _as_verdict(_evaluate(relation)), "exact evaluation")


def exact(value: object) -> sp.Expr:
    """An exact sympy number from an int, Fraction, float (its exact binary value),
    numeric string or sympy number.

    >>> exact(Fraction(1592, 43)), exact("0.1"), exact(2)
    (1592/43, 1/10, 2)
    """
    if isinstance(value, sp.Basic):
        return value
    return sp.Rational(value)


def clauses(statement: sp.Basic) -> tuple[sp.Basic, ...]:
    """The relations a statement conjoins (``And`` is flattened).

    >>> a = sp.Symbol("a", positive=True)
    >>> len(clauses(sp.And(gt(a), eq(a + a, 2 * a), evaluate=False)))
    2
    """
    if isinstance(statement, sp.And):
        return tuple(c for arg in statement.args for c in clauses(arg))
    return (statement,)


def _describe(sym: sp.Symbol) -> str:
    kind = "integer " if sym.is_integer else ""
    if sym.is_positive:
        rel = "> 0"
    elif sym.is_nonnegative:
        rel = ">= 0"
    elif sym.is_zero is False and sym.is_real:
        rel = "!= 0, real"
    elif sym.is_real:
        rel = "real"
    else:
        rel = "complex"
    return f"{sym} {kind}{rel}".replace(f"{sym} integer ", f"{sym} integer, ")


def symbol_assumptions(statement: sp.Basic) -> tuple[str, ...]:
    """The assumptions the statement's symbols carry, one line per symbol, sorted.

    >>> q = sp.Symbol("Q", nonnegative=True, integer=True)
    >>> symbol_assumptions(ge(q))
    ('Q integer, >= 0',)
    """
    syms = sorted(statement.free_symbols, key=lambda s: s.name)
    return tuple(_describe(s) for s in syms if isinstance(s, sp.Symbol))


def _draw(sym: sp.Symbol, rng: random.Random) -> sp.Rational:
    """A random exact value that satisfies the symbol's assumptions (small values,
    so that ties and boundaries are drawn often)."""
    if sym.is_integer:
        v = rng.randint(0, 6) if rng.random() < 0.7 else rng.randint(0, 500)
        if sym.is_positive:
            v = max(v, 1)
        if sym.is_nonnegative is not True and rng.random() < 0.5:
            v = -max(v, 1) if sym.is_zero is False else -v
        if sym.is_zero is False and v == 0:
            v = 1
        return sp.Integer(v)
    num = rng.randint(1, 6) if rng.random() < 0.6 else rng.randint(1, 999)
    den = 1 if rng.random() < 0.5 else rng.randint(1, 12)
    v = sp.Rational(num, den)
    if sym.is_nonnegative and not sym.is_positive and rng.random() < 0.15:
        v = sp.Integer(0)
    if sym.is_nonnegative is not True and rng.random() < 0.5:
        v = -v
    return v


def _sign_verdict(clause: sp.Basic, d: sp.Expr) -> bool | None:
    if isinstance(clause, sp.Eq):
        return d.is_zero
    if isinstance(clause, sp.StrictGreaterThan):
        return d.is_positive
    if isinstance(clause, sp.GreaterThan):
        return d.is_nonnegative
    if isinstance(clause, sp.StrictLessThan):
        return d.is_negative
    if isinstance(clause, sp.LessThan):
        return d.is_nonpositive
    return None


def falsify_clauses(statement: sp.Basic, rng: random.Random, samples: int) -> list[str]:
    """Evaluate every clause at ``samples`` random exact rational points that satisfy
    the symbols' assumptions; return the counterexamples found (empty: none).

    >>> a = sp.Symbol("a", positive=True)
    >>> falsify_clauses(gt(a - 1), random.Random(1), 20)[:1]  # doctest: +ELLIPSIS
    ['a - 1 > 0 fails at {a: ...}']
    """
    found: list[str] = []
    for clause in clauses(statement):
        if not isinstance(clause, sp.core.relational.Relational):
            found.append(f"{sp.sstr(clause)} is not a relation")
            continue
        syms = sorted(clause.free_symbols, key=lambda s: s.name)
        for _ in range(samples):
            vals = {s: _draw(s, rng) for s in syms}
            d = _diff(clause).xreplace(vals).doit()
            ok = _sign_verdict(clause, d)
            if ok is None:  # irrational value: let sympy simplify, then decide
                ok = _sign_verdict(clause, sp.simplify(d))
            if ok is not True:
                found.append(f"{sp.sstr(clause)} fails at {{{', '.join(f'{k}: {v}' for k, v in vals.items())}}}")
                break
    return found


def _no_falsifier(rng: random.Random, samples: int) -> list[str]:
    return []


@dataclass(frozen=True)
class Theorem:
    """A registered, machine-checkable theorem.

    ``sympy_statement`` returns the statement as one relation or an ``And`` of
    relations; each must be proved by a step of ``proof``. ``model_assumptions`` are
    the modelling assumptions that symbols cannot carry (the falsifier's brute force
    implements them). ``falsify(rng, samples)`` returns counterexamples of the numeric
    predicate against an independent brute force (an empty list: none found).
    ``holds_for`` maps a score family name to a short verdict.
    """

    id: str
    name: str
    statement: str
    sympy_statement: Callable[[], sp.Basic]
    proof: Callable[[], Sequence[Step]]
    numeric: Callable[..., object] | None = None
    holds_for: Mapping[str, str] = field(default_factory=dict)
    model_assumptions: tuple[str, ...] = ()
    falsify: Callable[[random.Random, int], Sequence[str]] = _no_falsifier

    @property
    def closed_form(self) -> str:
        """The statement's clauses rendered by sympy (generated, never hand-written)."""
        return ";  ".join(sp.sstr(c) for c in clauses(self.sympy_statement()))

    @property
    def assumptions(self) -> tuple[str, ...]:
        """Symbol assumptions of the statement (generated) followed by the model assumptions."""
        return symbol_assumptions(self.sympy_statement()) + tuple(self.model_assumptions)


@dataclass(frozen=True)
class TheoremResult:
    """Outcome of checking one theorem: ``PASS``, ``FAIL`` or ``ERROR``."""

    id: str
    name: str
    status: str
    seconds: float
    steps: tuple[Step, ...]
    error: str = ""
    samples: int = 0
    counterexamples: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


def check_theorem(theorem: Theorem, *, rng: random.Random | None = None, samples: int = DEFAULT_SAMPLES) -> TheoremResult:
    """Prove, statement-check and falsification-test one theorem (see the module doc).

    ``rng`` defaults to ``random.Random(DEFAULT_SEED)``; ``samples`` bounds both the
    random points per statement clause and the falsifier's random states.
    """
    rng = random.Random(DEFAULT_SEED) if rng is None else rng
    start = time.perf_counter()
    try:
        steps = tuple(theorem.proof())
        statement = theorem.sympy_statement()
        proved = {s.statement for s in steps if s.passed}
        unproved = [sp.sstr(c) for c in clauses(statement) if c not in proved]
        counter = list(falsify_clauses(statement, rng, samples)) if samples > 0 else []
        counter += list(theorem.falsify(rng, samples)) if samples > 0 else []
    except Exception as exc:  # a proof that crashes is a failed proof, reported as such
        return TheoremResult(theorem.id, theorem.name, "ERROR", time.perf_counter() - start, (),
                             f"{type(exc).__name__}: {exc}", samples)
    seconds = time.perf_counter() - start
    problems = []
    if not steps:
        problems.append("no proof steps")
    failed = [s.claim for s in steps if not s.passed]
    if failed:
        problems.append("unproved: " + "; ".join(failed))
    if unproved:
        problems.append("statement not proved by any step: " + "; ".join(unproved))
    if counter:
        problems.append(f"falsified ({len(counter)}): " + "; ".join(counter[:3]))
    status = "FAIL" if problems else "PASS"
    return TheoremResult(theorem.id, theorem.name, status, seconds, steps, " | ".join(problems), samples, tuple(counter))
