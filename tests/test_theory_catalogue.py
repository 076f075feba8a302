"""Every theorem proves; broken statements fail; the CLI reports both."""

import json
import subprocess
import sys

import pytest
import sympy as sp

from lmetric_theory import catalogue, check_theorem
from lmetric_theory.cli import main
from lmetric_theory.theorem import Theorem, clauses, identity, positive


@pytest.mark.parametrize("theorem", catalogue(), ids=lambda t: t.id)
def test_theorem_proves(theorem):
    result = check_theorem(theorem)
    assert result.status == "PASS", result.error
    assert all(step.verdict is True for step in result.steps)
    assert theorem.statement and theorem.assumptions and theorem.closed_form
    assert result.samples > 0 and result.counterexamples == ()
    # the displayed closed form is generated from the statement the steps prove
    proved = {s.statement for s in result.steps}
    assert all(c in proved for c in clauses(theorem.sympy_statement()))
    assert theorem.closed_form == ";  ".join(sp.sstr(c) for c in clauses(theorem.sympy_statement()))
    # no clause compares an expression with itself
    assert all(c.lhs != c.rhs for c in clauses(theorem.sympy_statement()))


def test_catalogue_is_complete_and_ordered():
    assert [t.id for t in catalogue()] == [f"T{i}" for i in range(1, 14)]


def _broken_t3() -> Theorem:
    """T3 with the sign of the load term flipped: must not prove."""
    xi, yi, xj, yj = sp.symbols("x_i y_i x_j y_j", positive=True)
    return Theorem(
        id="T3-broken", name="broken linearisation", statement="wrong sign",
        sympy_statement=lambda: sp.Eq(xi * yi - xj * yj, (yi + yj) / 2 * (xi - xj) - (xi + xj) / 2 * (yi - yj), evaluate=False),
        proof=lambda: [identity("wrong", xi * yi - xj * yj, (yi + yj) / 2 * (xi - xj) - (xi + xj) / 2 * (yi - yj))],
    )


def _unknown_sign() -> Theorem:
    z = sp.Symbol("z", real=True)
    return Theorem(id="TU", name="undecidable", statement="z > 0", sympy_statement=lambda: sp.Gt(z, 0, evaluate=False),
                   proof=lambda: [positive("z > 0 is unknown for a real z", z)])


def _crashing() -> Theorem:
    def proof():
        raise ZeroDivisionError("boom")

    return Theorem(id="TC", name="crash", statement="", sympy_statement=lambda: sp.true, proof=proof)


def _empty() -> Theorem:
    return Theorem(id="TE", name="no steps", statement="", sympy_statement=lambda: sp.true, proof=lambda: [])


@pytest.mark.parametrize("factory,status", [(_broken_t3, "FAIL"), (_unknown_sign, "FAIL"), (_crashing, "ERROR"), (_empty, "FAIL")])
def test_broken_statements_fail(factory, status):
    assert check_theorem(factory()).status == status


def test_cli_fails_on_a_broken_statement(capsys):
    code = main(["check"], theorems=list(catalogue()) + [_broken_t3()])
    out = capsys.readouterr().out
    assert code == 1
    assert "T3-broken" in out and "FAIL" in out and "13 passed, 1 failed" in out


def test_cli_check_json(capsys):
    assert main(["check", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is True and len(doc["theorems"]) == 13
    assert all(t["status"] == "PASS" and t["steps"] for t in doc["theorems"])


def test_cli_check_latex(capsys):
    assert main(["check", "--latex", "--only", "T5"]) == 0
    out = capsys.readouterr().out
    assert r"\paragraph{T5" in out and r"\lambda" in out


def test_cli_explain(capsys):
    assert main(["explain", "t6"]) == 0
    out = capsys.readouterr().out
    assert "Agreement interval" in out and "Assumptions:" in out and "Proof:" in out and "[ok ]" in out


def test_cli_unknown_theorem(capsys):
    assert main(["explain", "T99"]) == 2
    assert "unknown theorem 'T99'" in capsys.readouterr().err


def test_module_entry_point_runs_in_a_fresh_process():
    proc = subprocess.run([sys.executable, "-m", "lmetric_theory", "check"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "13 passed, 0 failed" in proc.stdout


def test_conditions_path_does_not_import_sympy():
    code = "import sys, lmetric_theory.conditions; assert 'sympy' not in sys.modules, 'sympy imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
