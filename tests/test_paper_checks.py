"""The paper-check report: verdicts, exit codes, JSON, bad input."""

import json

import numpy as np

import pytest

from paper_checks import CheckOutcome, Claim, run_all
from paper_checks.analytical import analytical_claims
from paper_checks.report import main


def test_every_analytical_claim_passes_with_its_evidence():
    results = run_all(analytical_claims(), seed=0)
    assert [r.verdict for r in results] == ["PASS"] * len(results)
    assert all(r.wording and r.checked and "PASS" in r.details for r in results)


def test_results_do_not_depend_on_the_seed_for_the_verdict():
    assert {r.verdict for r in run_all(analytical_claims(), seed=12345)} == {"PASS"}


def test_report_prints_claim_wording_check_and_verdict(capsys):
    assert main(["--only", "A1,A2,A3"]) == 0
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


def _fake_raw(profile, factor, noise):
    """Raw study results where LMetric's TTFT/TPOT is ``factor`` x every baseline's, +-``noise`` by seed."""
    from paper_checks.study import SCORERS

    raw = {}
    for wl in profile.workloads:
        for load in profile.loads:
            for i, seed in enumerate(profile.seeds):
                for sc in SCORERS:
                    f = (factor * (1 + noise * (i - 1))) if sc == "lmetric" else 1.0
                    s = {m: {"mean": f, "p99": 2 * f} for m in ("ttft", "tpot")}
                    raw[("sim", wl, sc, load, 1.0, seed)] = {"summary": s}
    return raw


@pytest.mark.parametrize("factor,noise,passes", [(1.0, 0.0, False),   # zero change
                                                 (0.97, 0.0, False),  # below the stated minimum effect (5%)
                                                 (0.6, 0.9, False),   # large but noisy: the interval reaches -5%
                                                 (0.6, 0.05, True)])
def test_verdict_rule_rejects_zero_small_and_noisy_changes(factor, noise, passes):
    from paper_checks.study import PROFILES, _versus

    p = PROFILES["tiny"]
    c = _versus(_fake_raw(p, factor, noise), p, "P1", ("vllm-v1",), "ttft_mean")
    assert c["passed"] is passes
    assert len(c["rows"]) == len(p.workloads)


def test_window_must_be_positive(capsys):
    assert main(["--window", "0"]) == 2
    assert "--window must be positive" in capsys.readouterr().err
