"""`lmetric detector evaluate` through the executor, on shortened scenarios (in-process runs)."""

import json
from dataclasses import replace

import pytest

from analyzers.detector import evaluate
from analyzers.detector.random_scenarios import draw_params


def test_evaluate_writes_the_report_runs_as_they_finish_and_resumes(tmp_path, capsys, monkeypatch):
    real = evaluate._scenario_of

    def short(name, seed, **kw):  # the first 300 requests of each scenario keep this test to seconds
        sc = real(name, seed, **kw)
        return replace(sc, requests=sc.requests[:300])

    monkeypatch.setattr(evaluate, "_scenario_of", short)
    out = tmp_path / "det"
    args = ["--scenarios", "clean", "--labelled-runs", "full", "--families", "", "--traces", "", "--lambdas", "300,1000",
            "--out", str(out), "--jobs", "1",
            "--progress", "lines"]
    assert evaluate.main(args) == 0
    first = capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    assert [r["mode"] for r in report["end_to_end"]][:3] == ["lmetric", "lmetric+detector", "lmetric+paper-detector"]
    assert report["end_to_end"][3]["mode"].startswith("best linear(")
    assert len((out / "runs.jsonl").read_text().splitlines()) == 5 and "clean" in report["targets"]
    assert "Targets:" in first.out
    assert evaluate.main(args) == 0
    assert capsys.readouterr().err.count("(cached)") == 5
    assert evaluate.main(args[:-4] + ["--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def _short(monkeypatch, n=300):
    real = evaluate._scenario_of
    built = {}

    def short(name, seed, **kw):  # the first n requests keep each run to a fraction of a second
        if (name, seed) not in built:  # build each scenario once (in-process runs)
            sc = real(name, seed, **kw)
            built[name, seed] = replace(sc, requests=sc.requests[:n])
        return built[name, seed]

    monkeypatch.setattr(evaluate, "_scenario_of", short)


@pytest.mark.slow
def test_randomised_profile_prints_median_worst_targets_and_ablation_rows(tmp_path, capsys, monkeypatch):
    _short(monkeypatch)
    out = tmp_path / "det"
    args = ["--scenarios", "clean", "--families", "clean,decode_heavy", "--seeds", "2", "--seed", "3",
            "--scorers", "lmetric,lmetric-noqueue", "--lambdas", "300", "--ablation", "labelled", "--out", str(out),
            "--jobs", "1", "--progress", "off", "--no-cache"]
    assert evaluate.main(args) == 0
    text = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    # labelled clean (basic profile): plain, +detector, then 5 actions alone; +all is the +detector run
    modes = [r["mode"] for r in report["ablation"]]
    assert modes == ["lmetric+all"] + [f"lmetric+only {r}" for r in
                                       ("hot_prefix", "divergence", "heterogeneity", "zero_factor", "staleness")]
    assert "Ablation (each action alone" in text and "lmetric+only zero_factor" in text
    rnd = report["random"]
    # per (family, seed): 1 λ + 2 scorers x (plain, detector)
    assert len(rnd["runs"]) == 2 * 2 * (1 + 2 * 2) and rnd["seeds"] == [3, 4]
    assert all(r["params"] for r in rnd["runs"]) and {r["seed"] for r in rnd["runs"]} == {3, 4}
    dh = [r for r in rnd["runs"] if r["family"] == "decode_heavy" and r["seed"] == 4]
    assert dh[0]["params"] == draw_params("decode_heavy", 4)
    assert [(s["family"], s["scorer"], s["seeds"]) for s in rnd["summary"]] == [
        ("clean", "lmetric", 2), ("clean", "lmetric-noqueue", 2), ("decode_heavy", "lmetric", 2),
        ("decode_heavy", "lmetric-noqueue", 2)]
    lines = [ln for ln in text.splitlines() if "(a) detector vs plain P99 TTFT over 2 seeds: median" in ln]
    assert len(lines) == 4 and all(ln.rstrip().endswith(("MET", "MISSED")) and "worst" in ln for ln in lines)
    assert sum("(c) false alarms per 10k decisions over 2 seeds" in ln for ln in text.splitlines()) == 2
    assert "Randomised scenarios (2 seeds per family" in text and rnd["targets"]


def test_bad_flag_values_are_one_line_errors(tmp_path, capsys):
    base = ["--out", str(tmp_path / "o"), "--jobs", "1", "--no-cache"]
    cases = [(["--seeds", "-1"], "--seeds"), (["--seeds", "x"], "--seeds"),
             (["--families", "clean,bogus"], "unknown family bogus"),
             (["--families", "clean", "--seeds", "0"], "--seeds must be >= 1"),
             (["--scorers", "nope"], "--scorers must name scorers"), (["--scorers", ","], "--scorers must name"),
             (["--ablation", "some"], "--ablation"), (["--profile", "huge"], "--profile"),
             (["--labelled-runs", "most"], "--labelled-runs"),
             (["--scenarios", "", "--families", "", "--traces", ""], "nothing to run"),
             (["--lambdas", "1,nan"], "--lambdas")]
    for extra, needle in cases:
        with pytest.raises(SystemExit) as ex:
            evaluate.main(extra + base)
        err = capsys.readouterr().err
        assert ex.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert "Traceback" not in err


def test_help_says_what_each_profile_runs(capsys):
    with pytest.raises(SystemExit):
        evaluate.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "quick:" in text and "judgement:" in text and "x 20 seeds" in text and "x 1 seed x" in text
