"""The cluster event loop: N instances, a workload, a routing hook.

Arrivals are processed in ``(arrival, rid)`` order; before each decision every
instance is advanced lazily to the arrival time, so the run is deterministic for the
same inputs and seed.

The routing hook (see :class:`RoutingHook`) receives the request and a
:class:`~analyzers.router.context.DecisionContext`:

* **exact** (``snapshot_interval=None``): indicators read from the instances at the
  decision time;
* **stale** (``snapshot_interval=δ``): gauges come from the last snapshot, refreshed
  every δ seconds like a scraped deployment (``snapshot_age`` says how old); the hook's
  ``on_snapshot`` is called at each refresh so a router can reconcile its own
  commit-time updates. Prefix hits are exact in both modes (KV events are fast).

Requests whose prompt + output exceed ``max_model_len`` or one instance's KV capacity
are rejected up front with a reason, as vLLM does, instead of wedging an instance.

>>> from analyzers.sim.profiles import get_profile
>>> from analyzers.sim.request import Request
>>> class First:
...     name = "first"
...     def route(self, req, ctx): return 0, None
>>> res = Cluster(2, get_profile("h100")).run([Request(0, 0.0, 2048, 3)], First())
>>> round(res.results[0].ttft, 4), res.results[0].instance
(0.0418, 0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

import numpy as np

from analyzers.router.context import DecisionContext
from analyzers.telemetry.schema import InstanceSnapshot, RoutingDecision

from .engine import Instance
from .profiles import Profile
from .request import BLOCK_SIZE, Request, RequestResult

__all__ = ["Cluster", "RoutingHook", "SimResult"]


class RoutingHook(Protocol):
    """What the cluster needs from a router (an optional ``commit_updates`` attribute is
    copied into each decision record: whether the hook adds its own decisions to stale
    state)."""

    name: str

    def route(self, request: Request, ctx: DecisionContext) -> tuple[int, np.ndarray | None]:
        """Return the chosen instance and (optionally) every instance's score."""


@dataclass
class SimResult:
    """Everything a run produced."""

    results: list[RequestResult]
    snapshots: list[InstanceSnapshot]
    decisions: list[RoutingDecision]
    n_instances: int
    profile: Profile
    scorer: str
    makespan: float
    sim_steps: int
    wall_seconds: float = 0.0
    config: dict = field(default_factory=dict)


class _KvForwarder:
    """Tags one instance's block-pool events with its index."""

    __slots__ = ("sink", "idx")

    def __init__(self, sink, idx: int):
        self.sink, self.idx = sink, idx

    def stored(self, hashes):
        self.sink.stored(self.idx, hashes)

    def removed(self, hashes):
        self.sink.removed(self.idx, hashes)


class Cluster:
    """A cluster of identical (or speed-scaled) instances sharing one profile."""

    def __init__(self, n_instances: int, profile: Profile, speeds: Sequence[float] | None = None,
                 macro_steps: bool = True, kv_event_sink=None):
        """``kv_event_sink`` (optional) gets ``stored(instance, hashes)`` / ``removed(instance, hashes)``
        for every instance's cache, like vLLM KV events (e.g. an :class:`ExactPrefixIndex`)."""
        if n_instances < 1:
            raise ValueError("a cluster needs at least one instance")
        speeds = [1.0] * n_instances if speeds is None else list(speeds)
        if len(speeds) != n_instances:
            raise ValueError(f"speeds has {len(speeds)} entries for {n_instances} instances")
        self.profile = profile
        self.instances = [Instance(i, profile, speed=s, macro_steps=macro_steps,
                                   kv_listener=None if kv_event_sink is None else _KvForwarder(kv_event_sink, i))
                          for i, s in enumerate(speeds)]

    def _snapshot(self, inst: Instance, t: float) -> InstanceSnapshot:
        return InstanceSnapshot(
            time=t, instance=inst.idx, num_running=inst.num_running, num_waiting=inst.num_waiting,
            kv_usage=round(inst.pool.usage, 6), prefix_cache_queries_total=inst.prefix_queries,
            prefix_cache_hits_total=inst.prefix_hits, num_preemptions_total=inst.preemptions,
            queued_prefill_tokens=inst.queued_prefill_tokens(), total_tokens=inst.total_tokens(),
            steps_total=inst.steps, prompt_tokens_total=inst.prompt_tokens,
            generation_tokens_total=inst.generation_tokens, last_step_ms=round(inst.last_step_ms, 4),
            busy_ms_total=round(inst.busy_s * 1000.0, 4), max_num_seqs=self.profile.max_num_seqs)

    def _reject_reason(self, req: Request) -> str:
        p = self.profile
        if req.prompt_len < 1 or req.output_len < 1:
            return "prompt and output must have at least one token"
        if req.prompt_len + req.output_len > p.max_model_len:
            return f"prompt+output {req.prompt_len + req.output_len} > max_model_len {p.max_model_len}"
        if -(-(req.prompt_len + req.output_len) // BLOCK_SIZE) > p.kv_blocks:
            return f"prompt+output needs more than the {p.kv_blocks} KV blocks of an instance"
        return ""

    def run(self, requests: Iterable[Request], hook: RoutingHook, *, snapshot_interval: float | None = None,
            telemetry_interval: float | None = 1.0, record_decisions: bool = True,
            on_progress: Callable[[int], None] | None = None, known_speeds: bool = True,
            speed_changes: Sequence[tuple[float, int, float]] = (),
            on_telemetry: Callable[[InstanceSnapshot | RoutingDecision], None] | None = None) -> SimResult:
        """Replay ``requests`` through ``hook``; returns results, telemetry and counters.

        ``known_speeds``: the router sees each instance's relative speed (e.g. GPU type);
        otherwise it sees ones and must estimate them. ``speed_changes``: ``(time,
        instance, speed)`` events (a slow-down mid-run). ``on_telemetry`` receives every
        snapshot and decision as it is produced (a live detector's feed)."""
        import time as _time

        wall0 = _time.perf_counter()
        reqs = sorted(requests, key=lambda r: (r.arrival, r.rid))
        insts = self.instances
        n = len(insts)
        if snapshot_interval is not None and snapshot_interval <= 0:
            raise ValueError("snapshot_interval must be positive (or None for exact state)")
        if telemetry_interval is not None and telemetry_interval <= 0:
            raise ValueError("telemetry_interval must be positive (or None for no periodic snapshots)")
        rejected: list[RequestResult] = []
        snapshots: list[InstanceSnapshot] = []
        decisions: list[RoutingDecision] = []
        changes = sorted(speed_changes)
        for t_c, i_c, v_c in changes:
            if not 0 <= i_c < n or v_c <= 0:
                raise ValueError(f"bad speed change {(t_c, i_c, v_c)}: instance 0..{n - 1}, speed > 0")
        change_i = 0

        def speeds_now() -> np.ndarray:
            return np.array([i.speed for i in insts], dtype=float) if known_speeds else np.ones(n)

        def apply_changes(upto: float) -> None:
            nonlocal change_i
            while change_i < len(changes) and changes[change_i][0] <= upto:
                t_c, i_c, v_c = changes[change_i]
                insts[i_c].advance_to(t_c)
                insts[i_c].speed = v_c
                change_i += 1
        stale: list[InstanceSnapshot] | None = None
        stale_time = 0.0
        next_refresh = 0.0 if snapshot_interval is not None else math.inf
        next_tel = 0.0 if telemetry_interval is not None else math.inf

        def tick(upto: float, inclusive: bool) -> None:
            nonlocal next_refresh, next_tel, stale, stale_time
            while True:
                t_next = min(next_refresh, next_tel)
                if t_next > upto or (t_next == upto and not inclusive):
                    return
                for inst in insts:
                    inst.advance_to(t_next)
                snaps = [self._snapshot(inst, t_next) for inst in insts]
                if t_next == next_tel:
                    snapshots.extend(snaps)
                    next_tel += telemetry_interval
                    if on_telemetry is not None:
                        for sn in snaps:
                            on_telemetry(sn)
                if t_next == next_refresh:
                    stale, stale_time = snaps, t_next
                    next_refresh += snapshot_interval
                    on_snap = getattr(hook, "on_snapshot", None)
                    if on_snap is not None:
                        on_snap(t_next)

        for count, req in enumerate(reqs, 1):
            t = req.arrival
            apply_changes(t)
            tick(t, inclusive=True)
            for inst in insts:
                inst.advance_to(t)
            reason = self._reject_reason(req)
            if reason:
                rejected.append(RequestResult(req.rid, -1, t, req.prompt_len, req.output_len, 0, None, None, None, 0, reason))
                if on_progress is not None:
                    on_progress(count)
                continue
            hashes = req.block_hashes()
            matched = np.array([BLOCK_SIZE * inst.pool.match(hashes) for inst in insts], dtype=float)
            cached = np.minimum(matched, BLOCK_SIZE * ((req.prompt_len - 1) // BLOCK_SIZE))
            if stale is None:
                ctx = DecisionContext(
                    prompt_tokens=req.prompt_len, cached_tokens=cached,
                    running=np.array([i.num_running for i in insts], float),
                    waiting=np.array([i.num_waiting for i in insts], float),
                    queued_prefill=np.array([i.queued_prefill_tokens() for i in insts], float),
                    kv_usage=np.array([i.pool.usage for i in insts], float),
                    total_tokens=np.array([i.total_tokens() for i in insts], float),
                    speed=speeds_now(), snapshot_age=np.zeros(n), time=t, request_id=req.rid, session=req.session,
                    expected_output=req.output_len, cached_tokens_uncapped=matched, block_hashes=hashes,
                    prefix_class=hashes[0] if hashes else None)
            else:
                ctx = DecisionContext(
                    prompt_tokens=req.prompt_len, cached_tokens=cached,
                    running=np.array([s.num_running for s in stale], float),
                    waiting=np.array([s.num_waiting for s in stale], float),
                    queued_prefill=np.array([s.queued_prefill_tokens for s in stale], float),
                    kv_usage=np.array([s.kv_usage for s in stale], float),
                    total_tokens=np.array([s.total_tokens for s in stale], float),
                    speed=speeds_now(), snapshot_age=np.full(n, t - stale_time), time=t, request_id=req.rid,
                    session=req.session, expected_output=req.output_len, cached_tokens_uncapped=matched, block_hashes=hashes,
                    prefix_class=hashes[0] if hashes else None)
            k, scores = hook.route(req, ctx)
            k = int(k)
            if not 0 <= k < n:
                raise ValueError(f"routing hook {hook.name!r} returned instance {k} of {n}")
            if record_decisions or on_telemetry is not None:
                dec = RoutingDecision(
                    time=t, request_id=req.rid, chosen=k, scorer=hook.name, prompt_tokens=req.prompt_len,
                    cached_tokens=cached.astype(int).tolist(), queued_prefill_tokens=ctx.queued_prefill.astype(int).tolist(),
                    batch_size=ctx.batch_size.astype(int).tolist(),
                    scores=[] if scores is None else [float(s) for s in scores],
                    snapshot_age=float(ctx.snapshot_age[0]), session=req.session,
                    prefix_class=hashes[0] if hashes else None, output_tokens=req.output_len,
                    commit_updates=getattr(hook, "commit_updates", None))
                if record_decisions:
                    decisions.append(dec)
                if on_telemetry is not None:
                    on_telemetry(dec)
            insts[k].add(req, hashes, t)
            if on_progress is not None:
                on_progress(count)
        # drain: keep emitting telemetry until every instance is idle
        while True:
            busy = [inst for inst in insts if not inst.idle()]
            if not busy:
                break
            for inst in busy:
                if inst.inflight is None:
                    inst.advance_to(inst.time)  # schedules the next step
            horizon = min(inst.next_event_time() for inst in busy)
            if math.isinf(horizon):
                raise RuntimeError("instances hold requests they can never schedule (configuration too small)")
            if telemetry_interval is not None:
                tick(max(next_tel, horizon), inclusive=True)
            else:
                for inst in busy:
                    inst.advance_to(math.inf)
        results = [r for inst in insts for r in inst.results] + rejected
        results.sort(key=lambda r: r.rid)
        makespan = max((r.finish for r in results if r.finish is not None), default=0.0)
        if telemetry_interval is not None:
            snapshots.extend(self._snapshot(inst, makespan) for inst in insts)
        return SimResult(results=results, snapshots=snapshots, decisions=decisions, n_instances=n, profile=self.profile,
                         scorer=hook.name, makespan=makespan, sim_steps=sum(i.steps for i in insts),
                         wall_seconds=_time.perf_counter() - wall0,
                         config={"snapshot_interval": snapshot_interval, "telemetry_interval": telemetry_interval})
