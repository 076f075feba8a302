"""The paper's measured claims P1–P7, checked by the study in :mod:`.study`.

The paper's testbed (16 H20, Qwen3-30B-A3B / Qwen2.5-7B, Alibaba Bailian traces) is
not available; the study replays the seeded generators fitted to those traces'
published statistics at the paper's scale factors (and a load sweep around them) on 16
simulated H20 instances, over several seeds, and judges each claim by a rule a zero or
noisy change cannot pass (:mod:`.stats`). Magnitudes are reported next to the paper's.

>>> [c.id for c in simulation_claims(Study(PROFILES["tiny"]))]
['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7']
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from analyzers.runs import RunOptions

from .claim import CheckOutcome, Claim
from .study import PROFILES, StudyProfile, analyse, run_study

__all__ = ["Study", "simulation_claims", "PROFILES"]


@dataclass
class Study:
    """The study's runs and analysis, computed on first use and shared by the claims."""

    profile: StudyProfile
    opts: RunOptions = field(default_factory=lambda: RunOptions(jobs=1, progress="off"))
    raw: dict | None = None
    doc: dict | None = None
    seconds: float = 0.0

    def get(self) -> dict:
        if self.doc is None:
            t = time.perf_counter()
            self.raw = run_study(self.profile, self.opts)
            self.doc = analyse(self.profile, self.raw)
            self.seconds = time.perf_counter() - t
        return self.doc

    def claim(self, cid: str) -> dict:
        return next(c for c in self.get()["claims"] if c["id"] == cid)


def _pct(d: dict) -> str:
    lo, hi = d["lo"], d["hi"]
    if not np.isfinite(lo):
        return f"{d['mean']:+.0%} (no CI)"
    return f"{d['mean']:+.0%} [{lo:+.0%}, {hi:+.0%}]"


def _versus(study: Study, cid: str):
    def check(rng: np.random.Generator) -> CheckOutcome:
        c = study.claim(cid)
        parts = [f"{r['workload']} vs {r['baseline']}: {_pct(r['change'])}"
                 f"{'' if r['holds'] else ' (not shown)'}, largest gap {r['largest_gap']['mean']:+.0%} at "
                 f"x{r['largest_gap_load']:g} load" for r in c["rows"]]
        return CheckOutcome(c["passed"], f"{c['rule']} (paper: {c['paper']:+.0%}): " + "; ".join(parts))
    return check


def _p5(study: Study):
    def check(rng):
        c = study.claim("P5")
        parts = [f"{r['workload']}: best λ={r['best_lambda'][7:-1]}, LMetric {_pct(r['lmetric_gap'])}" for r in c["rows"]]
        losers = [k for k, v in c["every_fixed_lambda_loses"].items() if not v]
        return CheckOutcome(c["passed"], f"{c['rule']}: " + "; ".join(parts) + f"; best λ takes "
                            f"{len(c['best_lambdas'])} value(s); λ never losing > threshold: {', '.join(losers) or 'none'}")
    return check


def _p6(study: Study):
    def check(rng):
        c = study.claim("P6")
        parts = []
        for r in c["rows"]:
            top = max(r["shares"].items(), key=lambda kv: kv[1]["mean"])
            parts.append(f"{r['workload']}: max {top[0]} {top[1]['mean']:.1%} (upper {top[1]['hi']:.1%})")
        return CheckOutcome(c["passed"], f"{c['rule']}: " + "; ".join(parts))
    return check


def _p7(study: Study):
    def check(rng):
        c = study.claim("P7")
        parts = [f"{r['scenario']} ({r['regime']}): {_pct(r['degradation'])} before the flag, detected in "
                 f"{r['detected']}/{len(r['delays_s'])} seeds; unmitigated {_pct(r['unmitigated'])}" for r in c["rows"]]
        return CheckOutcome(c["passed"], f"{c['rule']}: " + "; ".join(parts))
    return check


def simulation_claims(study: Study) -> tuple[Claim, ...]:
    """The paper's simulation claims, all judged from one shared ``study``."""
    p = study.profile
    scope = (f"{len(p.workloads)} workloads at x{', x'.join(f'{v:g}' for v in p.loads)} the paper's scale factor, "
             f"{len(p.seeds)} seeds, {p.window:g} s replays on {p.instances} simulated H20 (profile {p.name})"
             if p.window else f"whole replays (profile {p.name})")
    return (
        Claim("P1", "TTFT vs vLLM-v1", "cuts TTFT by 92% against vLLM-v1's balancer", scope, _versus(study, "P1"),
              kind="simulation"),
        Claim("P2", "TTFT vs the production scheduler", "cuts TTFT by 52% against a production scheduler",
              scope + "; sampled and deterministic variants", _versus(study, "P2"), kind="simulation"),
        Claim("P3", "TPOT vs vLLM-v1", "cuts TPOT by 21% against vLLM-v1's balancer", scope, _versus(study, "P3"),
              kind="simulation"),
        Claim("P4", "TPOT vs the production scheduler", "cuts TPOT by 20% against a production scheduler",
              scope + "; sampled and deterministic variants", _versus(study, "P4"), kind="simulation"),
        Claim("P5", "No tuning needed", "needs no tuning", scope + "; linear rule over a λ grid", _p5(study),
              kind="simulation"),
        Claim("P6", "Failure regimes are rare", "the conditions where multiplication fails are rare",
              "share of routing decisions the online monitor flags per regime, on traces and generators", _p6(study),
              kind="simulation"),
        Claim("P7", "Failure regimes are detected in time", "the failure conditions can be detected",
              "labelled scenarios: P99 TTFT degradation before the regime is first flagged", _p7(study),
              kind="simulation"),
    )
