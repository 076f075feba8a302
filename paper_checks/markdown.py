"""The study as a Markdown report (verdicts, tables, figures, environment)."""

from __future__ import annotations

import math
from typing import Sequence

from .claim import ClaimResult

__all__ = ["render"]


def _pct(d: dict | None, digits: int = 1) -> str:
    if d is None or d.get("mean") is None or (isinstance(d["mean"], float) and math.isnan(d["mean"])):
        return "—"
    m = f"{d['mean']:+.{digits}%}"
    if not math.isfinite(d["lo"]):
        return f"{m} (n={d['n']})"
    if d["lo"] == d["hi"]:
        return f"{m} (exact)"
    return f"{m} [{d['lo']:+.{digits}%}, {d['hi']:+.{digits}%}]"


def render(results: Sequence[ClaimResult], doc: dict | None, env: dict, figures: Sequence[str]) -> str:
    L = ["# LMetric paper checks", ""]
    L.append(f"Profile `{env.get('profile')}`; {env.get('runs', 0)} runs; wall {env.get('wall_s', 0):.0f} s; "
             f"CPU {env.get('cpu')}; load average at the end {env.get('loadavg')}; jobs {env.get('jobs')}.")
    L += ["", "| id | claim | verdict | found |", "|---|---|---|---|"]
    for r in results:
        L.append(f"| {r.id} | {r.title} | **{r.verdict}** | {r.details.replace('|', '/')[:300]} |")
    L.append("")
    if doc is None:
        return "\n".join(L) + "\n"
    th = doc["thresholds"]
    L += ["## Rules", "",
          f"* P1–P4: per-seed paired change `LMetric/baseline − 1`; 95% Student-t interval over seeds; a reduction "
          f"holds when the whole interval is below −{th['min_effect']:.0%}.",
          f"* P5: LMetric's gap to the best λ ≤ {th['epsilon']:.0%} (upper bound) on every workload, and every fixed "
          f"λ loses > {th['delta']:.0%} (lower bound) somewhere.",
          f"* P6: every regime's share of decisions ≤ {th['rare']:.0%} (upper bound) on every workload.",
          f"* P7: P99 TTFT before the first flag ≤ +{th['degradation']:.0%} of the 100 s before onset (upper bound).",
          ""]
    for c in doc["claims"][:4]:
        L += [f"## {c['id']} ({'PASS' if c['passed'] else 'FAIL'}) — paper {c['paper']:+.0%}", "", c["rule"], "",
              "| workload | baseline | change at x1 load | P99 change | largest gap (load) |", "|---|---|---|---|---|"]
        for r in c["rows"]:
            L.append(f"| {r['workload']} | {r['baseline']} | {_pct(r['change'])} | {_pct(r['p99_change'])} | "
                     f"{_pct(r['largest_gap'])} (x{r['largest_gap_load']:g}) |")
        L.append("")
    p5 = doc["claims"][4]
    L += [f"## P5 ({'PASS' if p5['passed'] else 'FAIL'}) — no tuning", "", p5["rule"], "",
          "| workload | best λ | LMetric vs best | " + " | ".join(p5["rows"][0]["lambdas"]) + " |",
          "|---|---|---|" + "---|" * len(p5["rows"][0]["lambdas"])]
    for r in p5["rows"]:
        L.append(f"| {r['workload']} | {r['best_lambda']} | {_pct(r['lmetric_gap'])} | "
                 + " | ".join(_pct(v, 0) for v in r["lambdas"].values()) + " |")
    L += ["", f"Fixed λ losing more than the threshold somewhere: {p5['every_fixed_lambda_loses']}", ""]
    p6 = doc["claims"][5]
    regs = sorted(p6["rows"][0]["shares"]) if p6["rows"] else []
    L += [f"## P6 ({'PASS' if p6['passed'] else 'FAIL'}) — regime shares", "", p6["rule"], "",
          "| workload | kind | decisions | " + " | ".join(regs) + " |", "|---|---|---|" + "---|" * len(regs)]
    for r in p6["rows"]:
        L.append(f"| {r['workload']} | {r['kind']} | {r['decisions']} | "
                 + " | ".join(f"{r['shares'][g]['mean']:.2%}" for g in regs) + " |")
    p7 = doc["claims"][6]
    L += ["", f"## P7 ({'PASS' if p7['passed'] else 'FAIL'}) — detection before degradation", "", p7["rule"], "",
          "| scenario | regime | degradation before flag | unmitigated degradation | delays (s) |", "|---|---|---|---|---|"]
    for r in p7["rows"]:
        delays = ", ".join("—" if d is None else f"{d:.0f}" for d in r["delays_s"])
        L.append(f"| {r['scenario']} | {r['regime']} | {_pct(r['degradation'])} | {_pct(r['unmitigated'])} | {delays} |")
    ctx = doc["context"]
    L += ["", "## Why the magnitudes differ from the paper's", "",
          "### Baseline ordering (mean TTFT at the paper's load, best first) and cache hits", "",
          "| workload | order | bailian vs vLLM-v1 | bailian-deterministic vs vLLM-v1 | hit ratio (lmetric / vllm-v1 / bailian) |",
          "|---|---|---|---|---|"]
    for r in ctx["ordering"]:
        h = r["cache_hit_ratio"]
        L.append(f"| {r['workload']} | {' < '.join(r['by_mean_ttft'])} | {_pct(r['bailian_vs_vllm'], 0)} | "
                 f"{_pct(r['bailian_det_vs_vllm'], 0)} | {h['lmetric']:.0%} / {h['vllm-v1']:.0%} / {h['bailian']:.0%} |")
    L += ["", "### KV-cache capacity (LMetric's mean-TTFT change at the paper's load)", "",
          "| workload | capacity | vs vLLM-v1 | vs bailian | vs bailian-deterministic | LMetric hit ratio |",
          "|---|---|---|---|---|---|"]
    for r in ctx["capacity"]:
        L.append(f"| {r['workload']} | x{r['capacity']:g} | {_pct(r['vllm-v1'], 0)} | {_pct(r['bailian'], 0)} | "
                 f"{_pct(r['bailian-deterministic'], 0)} | {r['lmetric_hit']:.0%} |")
    L += ["", "### Absolute figures at the paper's load (mean over seeds [95% CI])", "",
          "| workload | scorer | TTFT mean (s) | TTFT P99 (s) | TPOT mean (ms) | TPOT P99 (ms) |", "|---|---|---|---|---|---|"]
    by = {}
    for a in ctx["absolute"]:
        by.setdefault((a["workload"], a["scorer"]), {})[a["metric"]] = a
    for (wl, sc), m in by.items():
        f = lambda k, s=1: f"{m[k]['mean'] * s:.3g}"  # noqa: E731
        L.append(f"| {wl} | {sc} | {f('ttft_mean')} | {f('ttft_p99')} | {f('tpot_mean', 1000)} | {f('tpot_p99', 1000)} |")
    L += ["", "## Figures", ""] + [f"![{f}]({f})" for f in figures]
    return "\n".join(L) + "\n"
