"""Randomised labelled scenarios: each family draws its parameters from a seeded generator.

The labelled scenarios of :mod:`.scenarios` fix one onset, one share, one slow factor;
a detector tuned on them may fail on any other. Here every parameter a regime depends
on is drawn per seed, from the ranges in :data:`RANGES` (uniform on ``[lo, hi]``;
integers inclusive), and recorded in ``Scenario.params`` so every result can be traced
to what was drawn. The workloads reuse the builders of :mod:`.scenarios` (the ``api``
generator, the H20 profile, 8 instances) over a shorter horizon of :data:`DURATION`
seconds so that one closed-loop run takes seconds.

Families (the regime's true interval, in seconds, is the label):

* ``clean`` — API calls at a random load; no regime.
* ``hot_prefix`` — a template of ``template_len`` tokens (plus 32–160 own tokens)
  takes a share ``hot_share`` of the arrivals in ``[onset, onset + regime_s)``; hot
  outputs are log-normal (``hot_out_median``, ``hot_out_sigma``); with ``warm`` = 1 a
  trickle (one request every 10 s) from 10 s leaves the template cached on an instance
  or two before the burst. Labels ``hot_prefix`` and ``hot_prefix_paper``.
* ``decode_heavy`` — outputs of the arrivals in the window are re-drawn log-normal
  (``out_median``, ``out_sigma``), clipped to 8,192. Label ``divergence``.
* ``heterogeneity`` — instance ``slow_instance`` slows to ``slow_factor`` at ``onset``
  (to the end; speeds unknown to the router). Label ``heterogeneity``.
* ``staleness`` — snapshots every ``snapshot_interval`` s, no commit-time updates; a
  trickle with ``bursts`` bursts of ``burst_s`` s at ``burst_scale`` x the generator's
  rate (the first at ``onset``, the second ``gap_s`` after the first ends). Label
  ``staleness``.
* ``saturation`` — ``max_num_seqs`` sequences per instance and a burst at
  ``burst_scale`` x in the window. Label ``saturation`` (its action is an alert only).

Every family but ``staleness`` also draws ``load`` (the arrival-rate scale of the
background API calls, x the generator's 24 req/s) and ``snapshot_interval``: with
``stale_snapshots`` = 0 the router reads exact state, otherwise snapshots every
``snapshot_interval`` s *with* commit-time updates (no staleness regime: T10's herding
needs the router's own updates to be off), so a flag there is a false alarm.

The parameters come from one stream of ``SeedSequence([seed, 11, crc32(family)])`` and
the workload from another, so the same ``(family, seed)`` always gives the same
scenario and one family's draws do not depend on which other families exist.

>>> sc = build_random_scenario("heterogeneity", seed=3)
>>> sc == build_random_scenario("heterogeneity", seed=3)
True
>>> lo, hi = RANGES["heterogeneity"]["slow_factor"]
>>> lo <= sc.params["slow_factor"] <= hi and sc.labels == {"heterogeneity": [(sc.params["onset"], DURATION)]}
True
"""

from __future__ import annotations

import math
import zlib
from dataclasses import replace

import numpy as np

from analyzers.sim.profiles import get_profile
from analyzers.sim.request import BLOCK_SIZE, Request

from .scenarios import N_INSTANCES, Scenario, _api, _burst, _renumber

__all__ = ["FAMILIES", "RANGES", "DURATION", "draw_params", "build_random_scenario", "scenario_id",
           "parse_scenario_id"]

DURATION = 300.0
FAMILIES = ("clean", "hot_prefix", "decode_heavy", "heterogeneity", "staleness", "saturation")

# family -> parameter -> (lo, hi). Integer-valued parameters have integer bounds and are
# drawn inclusive. Ranges chosen around the labelled scenarios' values (scenarios.py):
# load 1.2, share ~0.37, template 12,288, outputs x10, slow factor 0.3, 1 s snapshots.
_COMMON = {"load": (0.7, 1.4), "stale_snapshots": (0, 1), "snapshot_interval": (0.1, 1.0)}
RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "clean": dict(_COMMON),
    "hot_prefix": {**_COMMON, "onset": (40.0, 120.0), "regime_s": (90.0, 160.0), "hot_share": (0.2, 0.5),
                   "template_blocks": (256, 1024), "hot_out_median": (100.0, 500.0), "hot_out_sigma": (0.1, 0.6),
                   "warm": (0, 1)},
    "decode_heavy": {**_COMMON, "load": (0.6, 1.2), "onset": (40.0, 120.0), "regime_s": (90.0, 160.0),
                     "out_median": (150.0, 600.0), "out_sigma": (0.3, 1.2)},
    "heterogeneity": {**_COMMON, "onset": (40.0, 150.0), "slow_instance": (0, N_INSTANCES - 1),
                      "slow_factor": (0.2, 0.5)},
    "staleness": {"snapshot_interval": (0.5, 2.0), "trickle": (0.005, 0.03), "onset": (40.0, 100.0),
                  "burst_s": (30.0, 60.0), "burst_scale": (1.0, 2.0), "bursts": (1, 2), "gap_s": (20.0, 60.0)},
    "saturation": {"load": (0.3, 0.7), "max_num_seqs": (16, 32), "onset": (40.0, 120.0), "regime_s": (60.0, 140.0),
                   "burst_scale": (2.0, 3.5)},
}
# template_blocks: 16-token blocks (4,096..16,384 tokens); params also carry template_len
# in tokens.
_TEMPLATE_ID = 2**40


def _family_rng(family: str, seed: int, stream: int) -> np.random.Generator:
    if family not in FAMILIES:
        raise KeyError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    ss = np.random.SeedSequence([int(seed), 11, zlib.crc32(family.encode())])
    return np.random.default_rng(ss.spawn(2)[stream])


def draw_params(family: str, seed: int) -> dict[str, float | int]:
    """The parameters of ``(family, seed)``: each uniform on its :data:`RANGES` interval
    (integers inclusive), drawn in the table's order; ``hot_prefix`` adds ``template_len``
    (tokens = 16 x ``template_blocks``) and ``regime_s`` is cut to end 20 s before the horizon.

    >>> p = draw_params("decode_heavy", 0)
    >>> sorted(p) == sorted(RANGES["decode_heavy"]) and 0.3 <= p["out_sigma"] <= 1.2
    True
    """
    rng = _family_rng(family, seed, 0)
    out: dict[str, float | int] = {}
    for name, (lo, hi) in RANGES[family].items():
        if isinstance(lo, int) and isinstance(hi, int):
            out[name] = int(rng.integers(lo, hi + 1))
        else:
            out[name] = round(float(rng.uniform(lo, hi)), 3)
    if "template_blocks" in out:
        out["template_len"] = int(out["template_blocks"]) * BLOCK_SIZE
    if "onset" in out and "regime_s" in out:  # keep the window inside the horizon, 20 s before its end
        out["regime_s"] = round(min(float(out["regime_s"]), DURATION - 20.0 - float(out["onset"])), 3)
    return out


def scenario_id(family: str, seed: int) -> str:
    """The name of a randomised scenario, ``family~seed`` (parsed back by :func:`parse_scenario_id`)."""
    return f"{family}~{int(seed)}"


def parse_scenario_id(name: str) -> tuple[str, int] | None:
    """``(family, seed)`` of a :func:`scenario_id`, or ``None`` for any other name.

    >>> parse_scenario_id("hot_prefix~7"), parse_scenario_id("hot_prefix")
    (('hot_prefix', 7), None)
    """
    fam, sep, seed = name.partition("~")
    if not sep or fam not in FAMILIES or not seed.isdigit():
        return None
    return fam, int(seed)


def _snapshots(p: dict) -> dict:
    return {"snapshot_interval": float(p["snapshot_interval"]) if p.get("stale_snapshots") else None}


def _lognormal(rng: np.random.Generator, median: float, sigma: float, size: int, hi: int = 8192) -> np.ndarray:
    return np.clip(np.rint(rng.lognormal(math.log(median), sigma, size=size)), 1, hi).astype(int)


def build_random_scenario(family: str, seed: int = 0) -> Scenario:
    """The scenario of ``(family, seed)`` over :data:`DURATION` s, its drawn parameters in ``params``."""
    p = draw_params(family, seed)
    rng = _family_rng(family, seed, 1)
    h20 = get_profile("h20")
    name = scenario_id(family, seed)
    if family == "staleness":
        wins = [(p["onset"], round(p["onset"] + p["burst_s"], 3))]
        if p["bursts"] == 2:
            a = round(wins[0][1] + p["gap_s"], 3)
            wins.append((a, round(min(a + p["burst_s"], DURATION - 20.0), 3)))
        reqs = _api(rng, p["trickle"], DURATION) + _burst(_api, rng, wins, p["burst_scale"])
        return Scenario(name, "stale snapshots, no commit-time updates, arrival bursts", _renumber(reqs), h20,
                        labels={"staleness": wins}, snapshot_interval=float(p["snapshot_interval"]),
                        commit_updates=False, params=p)
    if family == "saturation":
        prof = get_profile("h20", max_num_seqs=int(p["max_num_seqs"]))
        wins = [(p["onset"], round(p["onset"] + p["regime_s"], 3))]
        reqs = _api(rng, p["load"], DURATION) + _burst(_api, rng, wins, p["burst_scale"])
        return Scenario(name, "few sequences per instance and a burst", _renumber(reqs), prof,
                        labels={"saturation": wins}, params=p)
    reqs = _api(rng, p["load"], DURATION)
    snap = _snapshots(p)
    if family == "clean":
        return Scenario(name, "API calls at a random load; no regime", _renumber(reqs), h20, params=p, **snap)
    if family == "heterogeneity":
        return Scenario(name, "one instance slows down (speeds unknown to the router)", _renumber(reqs), h20,
                        labels={"heterogeneity": [(p["onset"], DURATION)]},
                        speed_changes=((p["onset"], int(p["slow_instance"]), p["slow_factor"]),), params=p, **snap)
    a, b = p["onset"], round(p["onset"] + p["regime_s"], 3)
    if family == "decode_heavy":
        inside = [i for i, r in enumerate(reqs) if a <= r.arrival < b]
        outs = _lognormal(rng, p["out_median"], p["out_sigma"], len(inside))
        for i, o in zip(inside, outs):
            reqs[i] = replace(reqs[i], output_len=int(o))
        return Scenario(name, "long outputs in a window", _renumber(reqs), h20, labels={"divergence": [(a, b)]},
                        params=p, **snap)
    # hot_prefix: extra arrivals at share/(1-share) x the background rate in the window
    tl = int(p["template_len"])
    template = list(range(_TEMPLATE_ID, _TEMPLATE_ID + tl // BLOCK_SIZE))
    n_hot = int(rng.poisson(p["hot_share"] / (1.0 - p["hot_share"]) * 24.0 * p["load"] * (b - a)))
    times = np.sort(rng.uniform(a, b, n_hot))
    outs = _lognormal(rng, p["hot_out_median"], p["hot_out_sigma"], n_hot)
    hot = []
    for i, t in enumerate(times):
        own = int(rng.integers(32, 160))
        blocks = template + [2**41 + i * 64 + j for j in range(-(-own // BLOCK_SIZE))]
        hot.append(Request(10**7 + i, float(t), tl + own, int(outs[i]), tuple(blocks), BLOCK_SIZE, session=f"hot-{i}"))
    if p["warm"]:
        for i, t in enumerate(np.arange(10.0, a, 10.0)):
            own = int(rng.integers(32, 160))
            blocks = template + [2**42 + i * 64 + j for j in range(-(-own // BLOCK_SIZE))]
            hot.append(Request(2 * 10**7 + i, float(t), tl + own, 50, tuple(blocks), BLOCK_SIZE))
    return Scenario(name, "a shared template takes a share of the arrivals in a window", _renumber(reqs + hot), h20,
                    labels={"hot_prefix": [(a, b)], "hot_prefix_paper": [(a, b)]}, params=p, **snap)
