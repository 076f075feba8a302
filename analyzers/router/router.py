"""The reference router: one active scorer, commit-time updates, shadow scoring.

``choose(ctx)`` scores every instance with the active scorer, picks one, and returns a
:class:`Decision` explaining it: all scores, the margin to the runner-up, how many
instances tied, and what every *shadow* scorer would have picked (agreement and the
chosen instance's rank under each).

Commit-time updates: between telemetry refreshes the router adds its own decisions
to the snapshot it was given — the chosen instance gets ``BS += 1`` and ``Q += P`` —
and forgets them when a newer snapshot arrives (the snapshot time is
``ctx.time - ctx.snapshot_age``). With exact state (age 0) nothing is added.

Prefix hits: by default the context's ``cached_tokens`` (exact engine state). With
``prefix_index`` the router computes hits itself from ``ctx.block_hashes``: an
:class:`~analyzers.router.prefix_index.ExactPrefixIndex` fed by KV events, or an
:class:`~analyzers.router.prefix_index.ApproxPrefixIndex` that the router fills with
the prompts it routes.

``switch(name, ...)`` changes the active scorer at run time (the detector's mitigation
hook); every switch is recorded with its time and reason.

>>> import numpy as np
>>> from analyzers.router.context import DecisionContext
>>> r = Router("lmetric", rng=np.random.default_rng(0), shadow=("least-loaded",))
>>> ctx = DecisionContext.build(1000, cached_tokens=[992, 0], running=[3, 1], waiting=[1, 0], queued_prefill=[0, 500])
>>> d = r.choose(ctx)
>>> d.chosen, d.margin, d.shadow["least-loaded"].chosen, d.shadow["least-loaded"].agrees
(0, 2960.0, 1, False)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np

from .context import DecisionContext
from .prefix_index import ApproxPrefixIndex
from .scorers import ScorerSpec, get_scorer, pick

BLOCK = 16

__all__ = ["Router", "Decision", "ShadowResult", "SwitchRecord", "ClassPolicy"]


@dataclass(frozen=True)
class ShadowResult:
    """What another scorer would have done on the same decision."""

    chosen: int
    agrees: bool
    rank_of_chosen: int  # 0 = the shadow scorer also ranks the router's pick first


@dataclass(frozen=True)
class Decision:
    time: float
    request_id: int
    scorer: str
    chosen: int
    scores: np.ndarray
    margin: float          # runner-up score minus the chosen score (>= 0 for argmin pickers)
    tie_count: int         # instances sharing the best score
    shadow: Mapping[str, ShadowResult] = field(default_factory=dict)


@dataclass(frozen=True)
class ClassPolicy:
    """Routing restriction for one prefix class (the hot-prefix mitigations).

    ``exclude-holders`` (the paper's): never route the class to instances caching it.
    ``cap-holders`` (ours): skip a holder while its ``BS + 1`` exceeds ``(1 + slack)``
    times the mean ``BS + 1`` of the non-holders. Either falls back to all instances
    when it would exclude every one."""

    mode: str
    slack: float = 0.25

    def mask(self, ctx: DecisionContext) -> np.ndarray:
        holders = ctx.cached_tokens >= BLOCK
        if self.mode == "exclude-holders":
            m = holders
        elif self.mode == "cap-holders":
            y = ctx.batch_size + 1
            others = y[~holders]
            m = holders & (y > (1 + self.slack) * others.mean()) if others.size else np.zeros(ctx.n, bool)
        else:
            raise ValueError(f"unknown class policy mode {self.mode!r}")
        return m if not m.all() else np.zeros(ctx.n, bool)


@dataclass(frozen=True)
class SwitchRecord:
    time: float
    from_scorer: str
    to_scorer: str
    reason: str


def _margin_ties(scores: np.ndarray, k: int) -> tuple[float, int]:
    """``(margin, ties)``: the smallest *finite* score other than ``scores[k]`` minus
    ``scores[k]`` (``inf`` when there is none), and how many scores equal the minimum
    (0 when a score is NaN, as ``numpy.min`` propagates it). Python floats for small
    float64 fleets (a handful of numpy calls cost more there), numpy beyond 32
    instances or for other dtypes; both give the same numbers.

    >>> _margin_ties(np.array([3.0, 1.0, 1.0, np.inf]), 1)
    (0.0, 2)
    >>> _margin_ties(np.array([2.0, np.inf]), 0)
    (inf, 1)
    """
    if scores.shape[0] <= 32 and scores.dtype == np.float64:  # Python floats are float64: same arithmetic
        sl = scores.tolist()
        best = sl[k]
        others = [v for i, v in enumerate(sl) if i != k and v - v == 0.0]  # v - v is NaN for inf and NaN
        margin = min(others) - best if others else float("inf")
        ties = 0 if any(v != v for v in sl) else sl.count(min(sl))
        return float(margin), ties
    best = scores[k]
    fin = np.isfinite(scores)
    fin[k] = False
    margin = float(scores[fin].min() - best) if fin.any() else float("inf")
    return margin, int(np.count_nonzero(scores == scores.min()))


def _rank(scores: np.ndarray, k: int) -> int:
    return int(np.sum(scores < scores[k]))


class Router:
    """Transport-free routing core (the simulator and the HTTP proxy both call it)."""

    def __init__(self, scorer: str = "lmetric", params: Mapping[str, object] | None = None, *,
                 rng: np.random.Generator, shadow: Sequence[str] = (), commit_updates: bool = True,
                 shadow_params: Mapping[str, Mapping[str, object]] | None = None, prefix_index=None):
        self._rng = rng
        self.prefix_index = prefix_index
        self._shadow_rng = np.random.default_rng(rng.integers(2**63))  # shadows never perturb the active draws
        self.commit_updates = commit_updates
        self._set(scorer, params)
        self._shadow: list[tuple[ScorerSpec, dict, dict]] = []
        for name in shadow:
            spec = get_scorer(name)
            self._shadow.append((spec, spec.params((shadow_params or {}).get(name)), {}))
        self.switches: list[SwitchRecord] = []
        self._snap_time: float | None = None
        self._d_bs: np.ndarray | None = None
        self._d_q: np.ndarray | None = None
        self.decisions = 0
        self.class_policies: dict[int, ClassPolicy] = {}
        self.speed_estimate: np.ndarray | None = None
        self._pending_insert: tuple[ApproxPrefixIndex, int, Sequence[int], int] | None = None

    def _set(self, scorer: str, params: Mapping[str, object] | None) -> None:
        spec = get_scorer(scorer)
        self.spec = spec
        self.params = spec.params(params)
        self.state: dict = {}

    @property
    def name(self) -> str:
        return self.spec.name

    # -------------------------------------------------------------- control
    def switch(self, scorer: str, params: Mapping[str, object] | None = None, *, reason: str, time: float = 0.0) -> None:
        """Make ``scorer`` active (recorded with ``reason``); unknown names raise ``KeyError``."""
        old = self.spec.name
        self._set(scorer, params)
        self.switches.append(SwitchRecord(time, old, scorer, reason))

    def restrict_class(self, prefix_class: int, policy: ClassPolicy | None, *, reason: str, time: float = 0.0) -> None:
        """Set (or with ``None`` lift) a routing restriction for one prefix class; recorded like a switch."""
        if policy is None:
            if self.class_policies.pop(prefix_class, None) is not None:
                self.switches.append(SwitchRecord(time, f"class {prefix_class}: restricted", "unrestricted", reason))
            return
        self.class_policies[prefix_class] = policy
        self.switches.append(SwitchRecord(time, f"class {prefix_class}: unrestricted", f"{policy.mode}", reason))

    def set_commit_updates(self, on: bool, *, reason: str, time: float = 0.0) -> None:
        if on != self.commit_updates:
            self.commit_updates = on
            self.switches.append(SwitchRecord(time, f"commit updates {'off' if on else 'on'}",
                                              f"commit updates {'on' if on else 'off'}", reason))

    def on_snapshot(self, time: float) -> None:
        """Fresh telemetry arrived: drop commit-time estimates made before ``time``."""
        self._snap_time = time
        self._d_bs = self._d_q = None

    # -------------------------------------------------------------- decisions
    def _with_commits(self, ctx: DecisionContext) -> DecisionContext:
        snap_time = ctx.time - float(ctx.snapshot_age[0]) if ctx.n else ctx.time
        if self._snap_time is None or snap_time != self._snap_time or self._d_bs is None or self._d_bs.shape[0] != ctx.n:
            self._snap_time = snap_time
            self._d_bs = np.zeros(ctx.n)
            self._d_q = np.zeros(ctx.n)
        if not self.commit_updates or not self._d_bs.any():
            return ctx
        return replace(ctx, waiting=ctx.waiting + self._d_bs, queued_prefill=ctx.queued_prefill + self._d_q)

    def choose(self, ctx: DecisionContext, *, defer_index: bool = False) -> Decision:
        """Score, pick, shadow-score and commit one decision.

        With an :class:`~analyzers.router.prefix_index.ApproxPrefixIndex` the chosen
        instance's index learns the prompt's blocks. ``defer_index=True`` leaves that
        update pending until :meth:`flush_index` (a server runs it after the request
        is on its way); the next decision flushes it first, so every decision still
        sees every earlier routing."""
        if ctx.n == 0:
            raise ValueError("no instances to route to")
        self.flush_index()
        blocks = None
        if self.prefix_index is not None and ctx.block_hashes is not None:
            blocks = self.prefix_index.match(ctx.block_hashes)
            matched = BLOCK * blocks.astype(float)
            cap = BLOCK * ((ctx.prompt_tokens - 1) // BLOCK)
            ctx = replace(ctx, cached_tokens=np.minimum(matched, cap), cached_tokens_uncapped=matched)
        if self.speed_estimate is not None and self.speed_estimate.shape[0] == ctx.n:
            ctx = replace(ctx, speed=self.speed_estimate)
        view = self._with_commits(ctx)
        # self.params were merged with the defaults by ScorerSpec.params at switch time:
        # call the rule directly (ScorerSpec.score would merge them again on every decision)
        scores = np.asarray(self.spec.score_fn(view, self.params, self.state), dtype=float)
        if ctx.prefix_class is not None and ctx.prefix_class in self.class_policies:
            masked = self.class_policies[ctx.prefix_class].mask(view)
            if masked.any():
                scores = np.where(masked, np.inf, scores)
        k = pick(scores, self.spec.picker_for(self.params), self._rng, self.state, self.params)
        margin, ties = _margin_ties(scores, k)
        shadow = {}
        for spec, params, state in self._shadow:
            s = spec.score(view, params, state)
            sk = pick(s, spec.picker_for(params), self._shadow_rng, state, params)
            shadow[spec.name] = ShadowResult(sk, sk == k, _rank(s, k))
        if self.commit_updates and ctx.snapshot_age.any():
            self._d_bs[k] += 1
            self._d_q[k] += ctx.new_tokens[k]
        if isinstance(self.prefix_index, ApproxPrefixIndex) and ctx.block_hashes is not None:
            self._pending_insert = (self.prefix_index, int(k), ctx.block_hashes,
                                    int(blocks[k]) if blocks is not None else 0)
            if not defer_index:
                self.flush_index()
        self.decisions += 1
        return Decision(ctx.time, ctx.request_id, self.spec.name, int(k), scores, margin, ties, shadow)

    def flush_index(self) -> None:
        """Apply a deferred prefix-index update (no-op when none is pending)."""
        p = self._pending_insert
        if p is not None:
            self._pending_insert = None
            p[0].insert(p[1], p[2], present=p[3])  # the index the decision matched against

    # -------------------------------------------------------------- simulator hook
    def route(self, request, ctx: DecisionContext):
        d = self.choose(ctx)
        return d.chosen, d.scores
