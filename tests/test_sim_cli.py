"""`lmetric simulate` / `lmetric sweep` end to end on small inputs."""

import csv
import json

import pytest

from analyzers.cli import main


def test_simulate_writes_requests_telemetry_summary_and_plots(tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["simulate", "--workload", "mooncake-conversation", "--instances", "4", "--profile", "h100",
                 "--scorer", "round-robin", "--scale", "2.0", "--limit", "150", "--out", str(out), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "TTFT mean / p50 / p90 / p99" in text and "150 (150 completed, 0 rejected)" in text
    rows = list(csv.DictReader((out / "requests.csv").read_text().splitlines()))
    assert len(rows) == 150 and all(float(r["ttft"]) > 0 for r in rows)
    assert {r["instance"] for r in rows} == {"0", "1", "2", "3"}
    kinds = [json.loads(line)["kind"] for line in (out / "telemetry.jsonl").read_text().splitlines()]
    assert kinds.count("decision") == 150 and "snapshot" in kinds
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["completed"] == 150 and summary["config"]["scale"] == 2.0
    assert (out / "latency_cdf.png").stat().st_size > 1000 and (out / "instances.png").is_file()


def test_simulate_several_scorers_with_params(tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["simulate", "--workload", "api", "--limit", "200", "--instances", "2", "--profile", "h100",
                 "--scorer", "lmetric,linear", "--param", "lambda=300", "--out", str(out), "--quiet", "--no-plots"]) == 0
    assert (out / "lmetric" / "requests.csv").is_file() and (out / "linear" / "requests.csv").is_file()
    assert json.loads((out / "linear" / "summary.json").read_text())["config"]["params"]["lambda"] == 300.0


@pytest.mark.parametrize("args,msg,exits", [
    (["--workload", "nope"], "invalid choice", True),       # argparse rejects it (exit 2 via SystemExit)
    (["--scorer", "best"], "unknown scorer(s) best", True),
    (["--profile", "tpu"], "invalid choice", True),
    (["--scale", "0"], "argument --scale: expected a finite number > 0, got '0'", True),
    (["--param", "gamma=1"], "no chosen scorer has a parameter 'gamma'", True),
    (["--speeds", "1,2"], "--speeds has 2 values for 16 instances", False),  # checked when the run is set up
])
def test_simulate_rejects_bad_options_clearly(tmp_path, capsys, args, msg, exits):
    argv = ["simulate", "--limit", "5", "--out", str(tmp_path), "--quiet", *args]
    if exits:
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    else:
        assert main(argv) == 2
    assert msg in capsys.readouterr().err


def test_simulate_reports_the_bad_trace_line(tmp_path, capsys):
    trace = tmp_path / "bad.jsonl"
    trace.write_text('{"timestamp": 0, "input_length": 100, "output_length": 3, "hash_ids": [1]}\nnot json\n')
    assert main(["simulate", "--trace", str(trace), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert f"{trace}:2: not valid JSON" in capsys.readouterr().err


def test_sweep_prints_rows_and_writes_the_plot(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sweep", "--workload", "api", "--limit", "150", "--instances", "2", "--profile", "h100",
                 "--scorers", "lmetric,round-robin", "--scales", "1,3", "--out", str(out), "--quiet"]) == 0
    rows = json.loads((out / "sweep.json").read_text())
    assert len(rows) == 4 and {r["scorer"] for r in rows} == {"lmetric", "round-robin"}
    assert (out / "load_sweep.png").is_file()


def test_sweep_writes_rows_as_they_finish_and_a_rerun_reuses_the_cache(tmp_path, capsys):
    out = tmp_path / "s"
    args = ["sweep", "--workload", "api", "--limit", "100", "--instances", "2", "--profile", "h100",
            "--scorers", "lmetric,vllm-v1", "--scales", "1,2", "--out", str(out), "--jobs", "1", "--progress", "lines"]
    assert main(args) == 0
    first = capsys.readouterr()
    assert len((out / "sweep.jsonl").read_text().splitlines()) == 4 and first.err.count("(cached)") == 0
    assert main(args) == 0
    again = capsys.readouterr()
    assert again.err.count("(cached)") == 4
    assert json.loads((out / "sweep.json").read_text())[0]["ttft_mean"] > 0
    assert main(args[:-4] + ["--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_simulate_with_a_user_profile_file(tmp_path, capsys):
    prof = tmp_path / "gpu.json"
    prof.write_text('{"name": "mygpu", "t0": 1.0, "w": 3.0, "k": 0.01, "a_p": 1e-7, "a_d": 1e-5, "kv_blocks": 50000}')
    assert main(["simulate", "--workload", "api", "--limit", "50", "--instances", "2", "--profile-file", str(prof),
                 "--out", str(tmp_path / "o"), "--quiet", "--no-plots"]) == 0
    assert "2 x mygpu" in capsys.readouterr().out
    prof.write_text('{"name": "bad", "t0": 1.0}')
    assert main(["simulate", "--limit", "5", "--profile-file", str(prof), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "missing profile field(s) w, k, a_p, a_d, kv_blocks" in capsys.readouterr().err


def test_lambda_sweep_writes_partial_rows_and_resumes(tmp_path, capsys):
    out = tmp_path / "sub" / "lam.json"
    args = ["lambda-sweep", "--workload", "api", "--limit", "120", "--instances", "2", "--profile", "h100",
            "--lambdas", "10,1000", "--out", str(out), "--jobs", "1", "--progress", "lines"]
    assert main(args) == 0
    assert len(out.with_name("lam.json.partial.jsonl").read_text().splitlines()) == 3  # two λ and LMetric
    assert json.loads(out.read_text())["best_lambda"] in (10.0, 1000.0)
    capsys.readouterr()
    assert main(args) == 0
    assert capsys.readouterr().err.count("(cached)") == 3
