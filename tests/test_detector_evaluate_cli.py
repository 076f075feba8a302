"""`lmetric detector evaluate` through the executor, on shortened scenarios (in-process runs)."""

import json
from dataclasses import replace

from analyzers.detector import evaluate


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
