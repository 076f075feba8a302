"""The paper-check report: verdicts, exit codes, JSON, bad input."""

import json

import numpy as np

from paper_checks import CheckOutcome, Claim, all_claims, run_all
from paper_checks.report import main


def test_every_analytical_claim_passes_with_its_evidence():
    results = run_all(all_claims(), seed=0)
    assert [r.verdict for r in results] == ["PASS"] * len(results)
    assert all(r.wording and r.checked and "PASS" in r.details for r in results)


def test_results_do_not_depend_on_the_seed_for_the_verdict():
    assert {r.verdict for r in run_all(all_claims(), seed=12345)} == {"PASS"}


def test_report_prints_claim_wording_check_and_verdict(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert '"the hyper-parameters cancel out during comparison"' in out
    assert "[PASS] A2" in out and "3 passed, 0 failed" in out


def test_failing_and_crashing_claims_make_the_report_fail(capsys):
    bad = Claim("X1", "bad", "wording", "checked", lambda rng: CheckOutcome(False, "did not hold"))
    boom = Claim("X2", "boom", "wording", "checked", lambda rng: 1 / 0)
    assert main(["--json"], claims=[bad, boom]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["passed"] is False
    assert [c["verdict"] for c in doc["claims"]] == ["FAIL", "ERROR"]
    assert "ZeroDivisionError" in doc["claims"][1]["details"]


def test_only_selects_and_rejects_unknown_ids(capsys):
    assert main(["--only", "a1"]) == 0
    assert "[PASS] A1" in capsys.readouterr().out
    assert main(["--only", "A9"]) == 2
    assert "unknown claim id(s) A9" in capsys.readouterr().err


def test_claims_receive_independent_seeded_generators():
    seen = []
    rec = lambda rng: seen.append(rng.integers(0, 2**32)) or CheckOutcome(True, "")  # noqa: E731
    run_all([Claim("R1", "", "", "", rec), Claim("R2", "", "", "", rec)], seed=3)
    first = list(seen)
    seen.clear()
    run_all([Claim("R1", "", "", "", rec), Claim("R2", "", "", "", rec)], seed=3)
    assert seen == first and first[0] != first[1]
    assert isinstance(first[0], np.integer)
