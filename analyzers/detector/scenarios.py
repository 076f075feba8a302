"""Labelled scenarios from the simulator, each with known regime intervals.

Every scenario is a seeded workload plus cluster settings plus the intervals
``(start, end)`` (seconds) during which a regime is truly present:

* ``clean`` — API calls at moderate load; no regime.
* ``hot_prefix`` — requests sharing a 12K-token template (plus 32–160 own tokens, and
  200–600 output tokens) take ~37% of the arrivals in [200, 400) s (Equation 2 fails
  on its few holders).
* ``hot_prefix_port`` — the same burst on a template already cached on one or two
  instances (a trickle since 20 s), routed by the no-queue port ``P(BS+1)`` that
  drops ``Q`` (T8: its affinity ratio is unbounded).
* ``heterogeneity`` — instance 0 slows to 0.3x at 200 s (speeds unknown to the router).
* ``staleness`` — 1 s snapshots without commit-time updates; a trickle of arrivals
  with bursts (~36 req/s) in [200, 260) and [400, 460) s.
* ``decode_heavy`` — outputs 10x longer in [200, 400) s.
* ``saturation`` — ``max_num_seqs`` 24 and a 7x burst in [200, 330) s.

>>> sc = build_scenario("hot_prefix", seed=0)
>>> sc.labels
{'hot_prefix': [(200.0, 400.0)], 'hot_prefix_paper': [(200.0, 400.0)]}
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from analyzers.sim.profiles import Profile, get_profile
from analyzers.sim.request import BLOCK_SIZE, Request
from analyzers.sim.workloads import generate

__all__ = ["Scenario", "SCENARIOS", "build_scenario"]

DURATION = 600.0
TEMPLATE = 12_288  # tokens of the hot prefix class's shared template
N_INSTANCES = 8


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    requests: list[Request]
    profile: Profile
    n_instances: int = N_INSTANCES
    labels: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    snapshot_interval: float | None = None
    commit_updates: bool = True
    speed_changes: tuple[tuple[float, int, float], ...] = ()
    scorer: str = "lmetric"
    params: dict = field(default_factory=dict)  # drawn parameters (randomised scenarios)


def _renumber(reqs: list[Request]) -> list[Request]:
    reqs = sorted(reqs, key=lambda r: (r.arrival, r.rid))
    return [replace(r, rid=i) for i, r in enumerate(reqs)]


def _api(rng, rate_scale: float, duration: float = DURATION) -> list[Request]:
    reqs = generate("api", rng, duration_s=duration * rate_scale)
    return [replace(r, arrival=r.arrival / rate_scale) for r in reqs]


def _burst(reqs_fn, rng, windows, rate_scale):
    """Extra arrivals at ``rate_scale`` (x the generator's published rate) inside ``windows``."""
    extra = []
    for a, b in windows:
        more = reqs_fn(rng, rate_scale, duration=b - a)
        extra += [replace(r, arrival=a + r.arrival, rid=10**7 + len(extra) + i) for i, r in enumerate(more)]
    return extra


def build_scenario(name: str, seed: int = 0) -> Scenario:
    """Build a labelled scenario (deterministic for ``seed``)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    h20 = get_profile("h20")
    base_scale = 1.2  # ~29 req/s of API calls on 8 H20s: busy but below the knee
    if name == "clean":
        return Scenario(name, "API calls at moderate load; no regime", _renumber(_api(rng, base_scale)), h20)
    if name in ("hot_prefix", "hot_prefix_port"):
        reqs = _api(rng, base_scale)
        n_hot = int(base_scale * 24 * 200 * 0.6)  # 0.6x the base arrivals in the window: share ~ 0.37
        times = np.sort(rng.uniform(200.0, 400.0, n_hot))
        template = list(range(2**40, 2**40 + TEMPLATE // BLOCK_SIZE))
        hot = []
        for i, t in enumerate(times):
            own = int(rng.integers(32, 160))
            blocks = template + [2**41 + i * 64 + j for j in range(-(-own // BLOCK_SIZE))]
            hot.append(Request(10**7 + i, float(t), TEMPLATE + own, int(rng.integers(200, 600)), tuple(blocks), BLOCK_SIZE,
                               session=f"hot-{i}"))
        labels = {"hot_prefix": [(200.0, 400.0)], "hot_prefix_paper": [(200.0, 400.0)]}
        if name == "hot_prefix":
            return Scenario(name, "a 12K-token template takes ~37% of arrivals in [200, 400) s", _renumber(reqs + hot),
                            h20, labels=labels)
        warm = []  # a trickle before the burst leaves the template cached on one or two instances
        for i, t in enumerate(np.arange(20.0, 200.0, 10.0)):
            own = int(rng.integers(32, 160))
            blocks = template + [2**42 + i * 64 + j for j in range(-(-own // BLOCK_SIZE))]
            warm.append(Request(2 * 10**7 + i, float(t), TEMPLATE + own, 50, tuple(blocks), BLOCK_SIZE))
        return Scenario(name, "the same burst on a warmed template, routed by the no-queue port P(BS+1)",
                        _renumber(reqs + hot + warm), h20, labels=labels, scorer="lmetric-noqueue")
    if name == "heterogeneity":
        return Scenario(name, "instance 0 slows to 0.3x at 200 s", _renumber(_api(rng, base_scale)), h20,
                        labels={"heterogeneity": [(200.0, DURATION)]}, speed_changes=((200.0, 0, 0.3),))
    if name == "staleness":
        wins = [(200.0, 260.0), (400.0, 460.0)]
        reqs = _api(rng, 0.01) + _burst(_api, rng, wins, 1.5)
        return Scenario(name, "1 s snapshots, no commit-time updates, arrival bursts", _renumber(reqs), h20,
                        labels={"staleness": wins}, snapshot_interval=1.0, commit_updates=False)
    if name == "decode_heavy":
        reqs = _api(rng, 1.0)
        reqs = [replace(r, output_len=r.output_len * 10) if 200 <= r.arrival < 400 else r for r in reqs]
        return Scenario(name, "outputs 10x longer in [200, 400) s", _renumber(reqs), h20,
                        labels={"divergence": [(200.0, 400.0)]})
    if name == "saturation":
        prof = get_profile("h20", max_num_seqs=24)
        wins = [(200.0, 330.0)]
        reqs = _api(rng, 0.5) + _burst(_api, rng, wins, 3.0)
        return Scenario(name, "max_num_seqs 24 and a 7x burst in [200, 330) s", _renumber(reqs), prof,
                        labels={"saturation": wins})
    raise KeyError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")


SCENARIOS = ("clean", "hot_prefix", "hot_prefix_port", "heterogeneity", "staleness", "decode_heavy", "saturation")
