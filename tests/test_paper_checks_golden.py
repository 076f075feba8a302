"""Golden file: the study's numbers on the tiny profile against committed reference output.

The simulator, the scorers and the detector are deterministic for a seed, so the
reference reproduces to float rounding: floats must agree to a relative 1e-6 (absolute
1e-9 near zero), integers, strings and verdicts exactly. A difference means the
simulator, a scorer, the detector or the study's statistics changed: re-measure, state
the reason in the commit, and regenerate with

    LMETRIC_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_paper_checks_golden.py
"""

import json
import math
import os
from pathlib import Path

import pytest

from paper_checks.report import main

GOLDEN = Path(__file__).parent / "golden" / "paper_checks_tiny.json"
REL, ABS = 1e-6, 1e-9


def _diff(a, b, path="$"):
    """Paths where ``a`` and ``b`` differ beyond the tolerances."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}: keys {sorted(set(a) ^ set(b))}"] if set(a) != set(b) else []
        for k in sorted(set(a) & set(b)):
            out += _diff(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
            return [] if a == b else [f"{path}: {a!r} != {b!r}"]
        fa, fb = float(a), float(b)
        if math.isnan(fa) and math.isnan(fb) or fa == fb:
            return []
        return [] if math.isclose(fa, fb, rel_tol=REL, abs_tol=ABS) else [f"{path}: {fa!r} != {fb!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def test_diff_sees_a_changed_number():
    assert _diff({"x": [1.0, 2.0]}, {"x": [1.0, 2.0 * (1 + 1e-9)]}) == []
    assert _diff({"x": [1.0, 2.0]}, {"x": [1.0, 2.001]}) == ["$.x[1]: 2.0 != 2.001"]
    assert _diff({"ok": True}, {"ok": False}) == ["$.ok: True != False"]


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory):
    """``lmetric paper-checks --profile tiny`` once (simulation claims only), in this process."""
    out = tmp_path_factory.mktemp("pc")
    code = main(["--profile", "tiny", "--only", "P1,P2,P3,P4,P5,P6,P7", "--out", str(out), "--jobs", "1",
                 "--progress", "lines"])
    return out, code


@pytest.mark.slow
def test_tiny_study_matches_the_committed_reference(tiny_report):
    out, _ = tiny_report
    full = json.loads((out / "report.json").read_text())
    doc = {k: full[k] for k in ("profile", "claims", "context", "thresholds")}
    if os.environ.get("LMETRIC_REGEN_GOLDEN"):
        GOLDEN.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    ref = json.loads(GOLDEN.read_text())
    diffs = _diff(ref, doc)
    assert not diffs, f"{len(diffs)} difference(s), first: " + "; ".join(diffs[:5])


@pytest.mark.slow
def test_report_folder_has_markdown_json_figures_and_a_rerun_resumes(tiny_report, capsys):
    out, code = tiny_report
    assert code in (0, 1)  # verdicts are measured; 2 would be an error
    md = (out / "report.md").read_text()
    assert "| P1 | TTFT vs vLLM-v1 |" in md and "![latency_cdfs.png](latency_cdfs.png)" in md
    for png in ("latency_cdfs.png", "load_sweeps.png", "lambda_sweep.png", "regime_shares.png"):
        assert (out / png).stat().st_size > 10_000
    doc = json.loads((out / "report.json").read_text())
    assert [v["id"] for v in doc["verdicts"]] == ["P1", "P2", "P3", "P4", "P5", "P6", "P7"]
    assert all(v["verdict"] in ("PASS", "FAIL") for v in doc["verdicts"]), doc["verdicts"]
    assert doc["environment"]["cpu"] and len(doc["runs"]) > 100
    capsys.readouterr()
    assert main(["--profile", "tiny", "--only", "P1", "--out", str(out), "--jobs", "1", "--progress", "lines"]) in (0, 1)
    err = capsys.readouterr().err  # every run of the rerun comes from the cache written by the first
    assert err.count("(cached)") == len(doc["runs"]) and "s)" not in err.replace("(cached)", "")
