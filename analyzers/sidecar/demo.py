"""The README's main job: the sidecar on an embedded default.

A simulated 16-instance H20 cluster replays 600 s of the bundled Mooncake
conversation trace (replayed 1.5x faster) with an injected hot-prefix burst (requests
sharing a 12K-token template, [150, 350) s) and instance 0 slowing to 0.3x at 100 s.
It runs twice — plain LMetric (the detector only watching) and LMetric with the
detector's fallbacks — and prints the regimes found, the fallbacks applied, and
TTFT/TPOT of both.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from typing import IO

import numpy as np

from analyzers.detector.closed_loop import run_closed_loop
from analyzers.detector.scenarios import Scenario
from analyzers.sim.metrics import summarise
from analyzers.sim.profiles import get_profile
from analyzers.sim.request import BLOCK_SIZE, Request
from analyzers.sim.workloads import bundled_path, load_mooncake, transform

from .text import short_hash, transition_line

__all__ = ["demo_scenario", "run_demo", "regime_spans", "regime_effect"]


def plain_action(action: str) -> str:
    """A policy action in words, prefix classes as short hashes.

    >>> plain_action("restrict class 1099511627776: cap-holders")
    'class f280245a: skip the instances that cache it while they are more than 25% busier than the rest'
    """
    m = re.match(r"(restrict|lift) class (\S+?)(?:: (\S+))?$", action)
    if not m:
        return action.replace("scorer -> ", "route with ")
    label = f"class {short_hash(int(m.group(2)) if m.group(2).lstrip('-').isdigit() else m.group(2))}"
    if m.group(1) == "lift":
        return f"{label}: route it normally again"
    how = {"cap-holders": "skip the instances that cache it while they are more than 25% busier than the rest",
           "exclude-holders": "send it away from the instances that cache it"}.get(m.group(3), m.group(3))
    return f"{label}: {how}"


def regime_spans(transitions, end: float) -> dict[str, list[tuple[float, float]]]:
    """Per regime, the time intervals it was flagged (any key), merged; an unclosed
    regime lasts until ``end``.

    >>> from analyzers.detector.regimes import Transition
    >>> regime_spans([Transition(1.0, "x", "enter"), Transition(5.0, "x", "exit")], 10.0)
    {'x': [(1.0, 5.0)]}
    """
    open_: dict = {}
    raw: dict[str, list] = {}
    for tr in transitions:
        k = (tr.regime, tr.key)
        if tr.kind == "enter":
            open_.setdefault(k, tr.time)
        elif k in open_:
            raw.setdefault(tr.regime, []).append((open_.pop(k), tr.time))
    for (regime, _), t0 in open_.items():
        raw.setdefault(regime, []).append((t0, end))
    out = {}
    for regime, iv in raw.items():
        merged: list = []
        for a, b in sorted(iv):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        out[regime] = merged
    return out


def regime_effect(plain, mitigated, intervals, slack: float = 0.02) -> dict:
    """TTFT (mean, p99) and TPOT (mean) of the requests arriving inside ``intervals``, in
    the plain and the mitigated run (matched by request id), and a one-line verdict:
    *helped* when no figure is more than ``slack`` worse and one is more than ``slack``
    better, *hurt* when none is better and one worse, *mixed* otherwise."""
    def inside(r):
        return any(a <= r.arrival < b for a, b in intervals)

    m_by = {r.rid: r for r in mitigated}
    pairs = [(r, m_by[r.rid]) for r in plain if inside(r) and r.rid in m_by]
    fig = {}
    for name, get, stat in (("TTFT mean", lambda r: r.ttft, np.mean), ("TTFT p99", lambda r: r.ttft,
                                                                        lambda v: np.percentile(v, 99)),
                            ("TPOT mean", lambda r: r.tpot, np.mean)):
        both = [(get(a), get(b)) for a, b in pairs if get(a) is not None and get(b) is not None]
        if both:
            fig[name] = (float(stat([x for x, _ in both])), float(stat([y for _, y in both])))
    rel = {k: (b - a) / a for k, (a, b) in fig.items() if a > 0}
    better = [k for k, v in rel.items() if v < -slack]
    worse = [k for k, v in rel.items() if v > slack]
    verdict = ("helped" if better and not worse else "hurt" if worse and not better else
               "had a mixed effect" if worse else "made no clear difference")

    def fmt(k, v):
        return f"{v * 1000:.1f} ms" if k.startswith("TPOT") else f"{v:.2f} s"

    span = ", ".join(f"{a:.0f}-{b:.0f} s" for a, b in intervals)
    figs = "; ".join(f"{k} {fmt(k, a)} -> {fmt(k, b)} ({rel.get(k, 0.0):+.1%})" for k, (a, b) in fig.items())
    detail = "; ".join(x for x in (", ".join(better) + " better" if better else "",
                                   ", ".join(worse) + " worse" if worse else "") if x)
    sentence = f"flagged {span}, {len(pairs):,} requests: {figs}. The fallback {verdict}" + (
        f" ({detail})." if detail else ".")
    return {"requests": len(pairs), "figures": fig, "relative": rel, "verdict": verdict, "sentence": sentence}


def demo_scenario(seed: int = 0, window: float = 600.0, scale: float = 1.5) -> Scenario:
    rng = np.random.default_rng(np.random.SeedSequence([seed, 11]))
    base = transform(load_mooncake(bundled_path("mooncake_conversation")), scale=scale, window=window)
    t0, t1 = 0.25 * window, 0.25 * window + 200.0
    n_hot = int(len(base) / window * (t1 - t0) * 0.6)
    template = list(range(2**40, 2**40 + 12_288 // BLOCK_SIZE))
    hot = []
    for i, t in enumerate(np.sort(rng.uniform(t0, t1, n_hot))):
        own = int(rng.integers(32, 160))
        blocks = template + [2**41 + i * 64 + j for j in range(-(-own // BLOCK_SIZE))]
        hot.append(Request(10**7 + i, float(t), 12_288 + own, int(rng.integers(200, 600)), tuple(blocks), BLOCK_SIZE))
    reqs = sorted(base + hot, key=lambda r: (r.arrival, r.rid))
    reqs = [replace(r, rid=i) for i, r in enumerate(reqs)]
    return Scenario("demo", "Mooncake conversation x1.5 + hot-prefix burst + slow instance", reqs, get_profile("h20"),
                    n_instances=16, labels={"hot_prefix": [(t0, t1)], "heterogeneity": [(window / 6, window)]},
                    speed_changes=((window / 6, 0, 0.3),))


def run_demo(out: IO[str] | None = None, seed: int = 0) -> int:
    out = sys.stdout if out is None else out
    sc = demo_scenario(seed)
    print(f"LMetric sidecar demo: {sc.description}\n{len(sc.requests)} requests on {sc.n_instances} x "
          f"{sc.profile.name}; injected: hot prefix in {sc.labels['hot_prefix'][0]} s, instance 0 at 0.3x "
          f"from {sc.speed_changes[0][0]:.0f} s\n", file=out, flush=True)
    runs = {}
    for mode in ("lmetric", "detector"):
        print(f"running {'plain LMetric (detector watching)' if mode == 'lmetric' else 'LMetric + detector fallbacks'} ...",
              file=out, flush=True)
        runs[mode] = run_closed_loop(sc, mode, seed=seed)
    mon = runs["detector"].monitor
    print("\nRegimes found (LMetric + detector):", file=out)
    if not mon.transitions:
        print("  none", file=out)
    for tr in mon.transitions:
        print("  " + transition_line(tr), file=out)
    print("\nFallbacks applied:", file=out)
    if not mon.policy.actions:
        print("  none", file=out)
    for a in mon.policy.actions:
        print(f"  [{a.time:9.2f}s] {a.regime:<17} {plain_action(a.action)}", file=out)
    bad = ", ".join(f"{k} {v}" for k, v in sorted(mon.bad_records.items())) or "none"
    print(f"\nTelemetry: {sum(mon.records.values()):,} records, dropped: {bad}", file=out)
    print("\nDid the fallback help? (requests arriving while each regime was flagged, same requests in both runs)",
          file=out)
    end = runs["detector"].result.makespan
    spans = regime_spans(mon.transitions, end)
    if not spans:
        print("  no regime was flagged", file=out)
    acted = {a.regime for a in mon.policy.actions}
    for regime, iv in spans.items():
        e = regime_effect(runs["lmetric"].result.results, runs["detector"].result.results, iv)
        if regime not in acted:
            print(f"  {regime}: watched only, no fallback in this run ({e['requests']:,} requests while flagged).",
                  file=out)
            continue
        print(f"  {regime}: {e['sentence']}", file=out)
    print(f"\n{'whole run':<34}{'TTFT mean':>10}{'TTFT p99':>10}{'TPOT mean':>11}{'TPOT p99':>10}", file=out)
    for mode, label in (("lmetric", "LMetric (no mitigation)"), ("detector", "LMetric + detector (mitigated)")):
        s = summarise(runs[mode].result.results, runs[mode].result.makespan)
        print(f"{label:<34}{s.ttft.mean:>9.3f}s{s.ttft.p99:>9.3f}s{s.tpot.mean * 1000:>9.1f}ms{s.tpot.p99 * 1000:>8.1f}ms",
              file=out)
    return 0
