"""Theorem objects and the machinery that machine-checks them.

A :class:`Theorem` bundles a plain-language statement, the sympy statement with its
assumptions, a *proof* (a function returning :class:`Step` records, each carrying a
sympy verdict), and the numeric counterpart from :mod:`lmetric_theory.conditions`.

A proof passes only when every step's verdict is exactly ``True``; sympy's ``None``
(unknown) counts as a failure, as does ``False`` or an exception.

>>> import sympy as sp
>>> x = sp.Symbol("x", positive=True)
>>> th = Theorem(id="TX", name="square is positive", statement="x^2 > 0 for x > 0",
...              assumptions=("x > 0",), sympy_statement=lambda: sp.Gt(x**2, 0),
...              proof=lambda: [positive("x^2 is positive", x**2)])
>>> check_theorem(th).status
'PASS'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
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
    "exact",
]


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


def identity(claim: str, lhs: sp.Expr, rhs: sp.Expr) -> Step:
    """Step proving ``lhs == rhs`` identically: ``simplify(lhs - rhs) == 0``.

    >>> a, b = sp.symbols("a b")
    >>> identity("square of a sum", (a + b)**2, a**2 + 2*a*b + b**2).passed
    True
    >>> identity("wrong", (a + b)**2, a**2 + b**2).passed
    False
    """
    diff = sp.simplify(sp.expand(lhs - rhs))
    return Step(claim, sp.Eq(lhs, rhs, evaluate=False), diff == 0, "simplify(lhs - rhs) == 0")


def positive(claim: str, expr: sp.Expr) -> Step:
    """Step proving ``expr > 0`` from the symbols' declared assumptions.

    >>> y = sp.Symbol("y", positive=True)
    >>> positive("y + 1 > 0", y + 1).verdict
    True
    >>> positive("unknown sign", sp.Symbol("z", real=True)).verdict is None
    True
    """
    return Step(claim, sp.Gt(expr, 0, evaluate=False), _as_verdict(expr.is_positive), "assumptions: is_positive")


def nonnegative(claim: str, expr: sp.Expr) -> Step:
    """Step proving ``expr >= 0`` from the symbols' declared assumptions."""
    return Step(claim, sp.Ge(expr, 0, evaluate=False), _as_verdict(expr.is_nonnegative), "assumptions: is_nonnegative")


def truth(claim: str, statement: sp.Basic, value: object, method: str) -> Step:
    """Step whose verdict was computed by the caller (e.g. a limit or a substitution)."""
    return Step(claim, statement, _as_verdict(value), method)


def holds(claim: str, relation: sp.Basic) -> Step:
    """Step for a concrete relation that sympy evaluates (e.g. a witness check).

    >>> holds("1/2 < 1", sp.Lt(sp.Rational(1, 2), 1)).passed
    True
    """
    return Step(claim, relation, _as_verdict(relation), "exact evaluation")


def exact(value: object) -> sp.Expr:
    """An exact sympy number from an int, Fraction, float (its exact binary value),
    numeric string or sympy number.

    >>> from fractions import Fraction
    >>> exact(Fraction(1592, 43)), exact("0.1"), exact(2)
    (1592/43, 1/10, 2)
    """
    if isinstance(value, sp.Basic):
        return value
    return sp.Rational(value)


@dataclass(frozen=True)
class Theorem:
    """A registered, machine-checkable theorem.

    ``holds_for`` maps a score family name (see :mod:`lmetric_theory.score_families`)
    to a short verdict, e.g. ``"holds"`` or ``"fails: a zero factor ties any load"``.
    """

    id: str
    name: str
    statement: str
    assumptions: tuple[str, ...]
    sympy_statement: Callable[[], sp.Basic]
    proof: Callable[[], Sequence[Step]]
    numeric: Callable[..., object] | None = None
    holds_for: Mapping[str, str] = field(default_factory=dict)
    closed_form: str = ""


@dataclass(frozen=True)
class TheoremResult:
    """Outcome of checking one theorem: ``PASS``, ``FAIL`` or ``ERROR``."""

    id: str
    name: str
    status: str
    seconds: float
    steps: tuple[Step, ...]
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


def check_theorem(theorem: Theorem) -> TheoremResult:
    """Run a theorem's proof; PASS only if it has steps and every verdict is ``True``."""
    start = time.perf_counter()
    try:
        steps = tuple(theorem.proof())
    except Exception as exc:  # a proof that crashes is a failed proof, reported as such
        return TheoremResult(theorem.id, theorem.name, "ERROR", time.perf_counter() - start, (), f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    ok = bool(steps) and all(s.passed for s in steps)
    failed = [s.claim for s in steps if not s.passed]
    error = "" if ok else ("no proof steps" if not steps else "unproved: " + "; ".join(failed))
    return TheoremResult(theorem.id, theorem.name, "PASS" if ok else "FAIL", seconds, steps, error)
