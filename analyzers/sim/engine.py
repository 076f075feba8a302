"""One vLLM-v1-like serving instance, advanced lazily in time.

Scheduling (per step, mirroring vLLM v1):

1. One token budget per step (``max_num_batched_tokens``) shared by decodes and
   prefill chunks. Running requests first, in order: a decode takes one token, a
   prefilling request takes ``min(remaining, budget)``.
2. If a running request cannot get a KV block, the newest running request is
   preempted (recompute: its blocks are freed but stay cached, its computed tokens
   reset to 0, it goes to the *front* of the waiting queue); repeat until allocation
   succeeds or the request preempted itself. After any preemption no waiting
   request is admitted in that step. Every full block of a request is hashed when
   computed, generated tokens included (vLLM v1), so a readmitted request hits the
   blocks of its prompt *and* of the tokens it had generated, while they stay cached.
3. Then waiting requests FCFS while budget and ``max_num_seqs`` allow; a new request
   first takes its prefix-cache hit (longest cached run of leading 16-token blocks,
   capped so the last prompt token is recomputed), then a chunk cut to the leftover
   budget. A request whose blocks do not fit stops admission.

Step time ``T = (T0 + max(W, k N) + a_p sum n(c + n/2) + a_d sum ctx) / speed`` (ms).
The first output token is emitted at the end of the step that finishes the prefill;
each later step emits one token.

Laziness: the instance holds the step in flight (scheduled at its start, completed at
its end). ``advance_to(t)`` completes every step ending by ``t``. A stretch of pure
decode steps (nothing admissible waiting) is scheduled as one *macro step* with a
closed-form duration; ``add()`` during a macro step truncates it at the step in
progress, so a new request is admitted exactly at the next step boundary.

>>> from analyzers.sim.profiles import get_profile
>>> from analyzers.sim.request import Request
>>> inst = Instance(0, get_profile("h100"))
>>> inst.add(Request(0, 0.0, 2048, 3), [], now=0.0)
>>> inst.advance_to(float("inf"))
>>> [round(x, 4) for x in (inst.results[0].ttft, inst.results[0].finish)]
[0.0418, 0.0559]
"""

from __future__ import annotations

import math
from collections import deque
from typing import Callable

from .block_pool import BlockPool
from .profiles import Profile
from .request import BLOCK_SIZE, Request, RequestResult

__all__ = ["Instance", "LiveRequest"]


class LiveRequest:
    """Mutable state of a request on an instance."""

    __slots__ = ("req", "hashes", "own_hashes", "computed", "emitted", "blocks", "n_reg", "cached_tokens", "first_scheduled",
                 "first_token", "finish", "preemptions", "admitted_once")

    def __init__(self, req: Request, hashes: list[int]):
        self.req = req
        self.hashes = hashes
        self.own_hashes = False  # ``hashes`` is the caller's list until generated blocks extend it
        self.computed = 0
        self.emitted = 0
        self.blocks: list[int] = []
        self.n_reg = 0
        self.cached_tokens = 0
        self.first_scheduled: float | None = None
        self.first_token: float | None = None
        self.finish: float | None = None
        self.preemptions = 0
        self.admitted_once = False

    @property
    def remaining_prefill(self) -> int:
        return self.req.prompt_len + self.emitted - self.computed


class _Step:
    __slots__ = ("start", "end", "items", "macro", "n_steps", "base_ms", "slope_ms")

    def __init__(self, start, end, items, macro=False, n_steps=1, base_ms=0.0, slope_ms=0.0):
        self.start, self.end, self.items = start, end, items
        self.macro, self.n_steps, self.base_ms, self.slope_ms = macro, n_steps, base_ms, slope_ms


def _macro_elapsed_s(j: int, base_ms: float, slope_ms: float) -> float:
    """Duration of the first ``j`` steps of a decode stretch: sum_{s<j} (base + slope*s)."""
    return (j * base_ms + slope_ms * j * (j - 1) / 2) / 1000.0


class Instance:
    """A serving instance: FCFS waiting queue, running batch, KV block pool."""

    def __init__(self, idx: int, profile: Profile, speed: float = 1.0,
                 on_finish: Callable[[RequestResult], None] | None = None, macro_steps: bool = True,
                 kv_listener=None):
        if speed <= 0:
            raise ValueError("instance speed must be positive")
        if profile.max_num_batched_tokens <= profile.max_num_seqs:
            raise ValueError("max_num_batched_tokens must exceed max_num_seqs (decodes must fit the budget)")
        self.idx = idx
        self.p = profile
        self.speed = speed
        self.macro_steps = macro_steps
        self.hash_generated = True  # cache generated-token blocks (vLLM v1); False: prompt blocks only
        self.pool = BlockPool(profile.kv_blocks, listener=kv_listener)
        self.time = 0.0
        self.running: list[LiveRequest] = []
        self.waiting: deque[LiveRequest] = deque()
        self.inflight: _Step | None = None
        self.results: list[RequestResult] = []
        self._on_finish = on_finish
        # counters (monotone), as an engine exports them
        self.prefix_queries = 0
        self.prefix_hits = 0
        self.preemptions = 0
        self.steps = 0
        self.busy_s = 0.0
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.last_step_ms = 0.0

    # ------------------------------------------------------------------ state
    @property
    def num_running(self) -> int:
        return len(self.running)

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)

    def queued_prefill_tokens(self) -> int:
        """Prefill tokens not yet computed: waiting requests plus prefilling running ones."""
        return sum(r.remaining_prefill for r in self.waiting) + sum(
            r.remaining_prefill for r in self.running if r.remaining_prefill > 0)

    def total_tokens(self) -> int:
        """Tokens held or queued: computed tokens of running + prompts of waiting."""
        return sum(r.computed for r in self.running) + sum(r.req.prompt_len + r.emitted for r in self.waiting)

    def cached_prefix_tokens(self, hashes: list[int], prompt_len: int) -> int:
        """Tokens of this prompt the instance would serve from cache right now."""
        return BLOCK_SIZE * self.pool.match(hashes, limit=(prompt_len - 1) // BLOCK_SIZE)

    def idle(self) -> bool:
        return not self.running and not self.waiting and self.inflight is None

    # ------------------------------------------------------------------ input
    def add(self, req: Request, hashes: list[int], now: float) -> None:
        """Queue a request that arrived at ``now`` (call ``advance_to(now)`` first)."""
        if self.inflight is None and not self.running and not self.waiting:
            self.time = max(self.time, now)
        elif self.inflight is not None and self.inflight.macro:
            self._truncate_macro(now)
        self.waiting.append(LiveRequest(req, hashes))

    # ------------------------------------------------------------------ time
    def advance_to(self, t: float) -> None:
        """Complete every step that ends by time ``t`` (seconds)."""
        while True:
            st = self.inflight
            if st is not None:
                if st.end > t:
                    if st.macro:
                        self._complete_macro_partial(t)
                    return
                self._complete(st)
                continue
            if not self.running and not self.waiting:
                return
            if not self._schedule():
                return

    def next_event_time(self) -> float:
        """End of the step in flight, or ``inf`` when idle."""
        return math.inf if self.inflight is None else self.inflight.end

    # ------------------------------------------------------------------ scheduling
    def _blocks_for(self, tokens: int) -> int:
        return -(-tokens // BLOCK_SIZE)

    def _schedule(self) -> bool:
        p = self.p
        start = self.time
        if self.macro_steps and self._try_macro(start):
            return True
        budget = p.max_num_batched_tokens
        items: list[tuple[LiveRequest, int, int]] = []
        preempted = False
        running = self.running
        pool = self.pool
        i = 0
        while i < len(running) and budget > 0:
            r = running[i]
            n = min(r.remaining_prefill, budget)
            need = self._blocks_for(r.computed + n) - len(r.blocks)
            self_preempted = False
            while need > pool.num_free:
                victim = running.pop()
                self._preempt(victim)
                preempted = True
                if victim is r:
                    self_preempted = True
                    break
            if self_preempted:
                break
            if need > 0:
                r.blocks.extend(pool.allocate(need))
            items.append((r, n, r.computed))
            budget -= n
            i += 1
        if not preempted:
            waiting = self.waiting
            while waiting and budget > 0 and len(running) < p.max_num_seqs:
                r = waiting[0]
                if r.req.arrival > start:
                    break
                hashes = r.hashes
                plen = r.req.prompt_len
                # every full block of the request is hashed, generated tokens included (vLLM v1), so a
                # readmitted request hits its own generated blocks too; capped at tokens - 1
                hit = pool.match(hashes, limit=(plen + r.emitted - 1) // BLOCK_SIZE) if r.computed == 0 else 0
                n = min(plen + r.emitted - hit * BLOCK_SIZE, budget)
                need = self._blocks_for(hit * BLOCK_SIZE + n) - hit
                if need > pool.free_after_touch(hashes, hit):
                    break
                waiting.popleft()
                r.blocks = pool.touch(hashes, hit)
                r.blocks.extend(pool.allocate(need))
                r.computed = hit * BLOCK_SIZE
                r.n_reg = hit
                self.prefix_queries += plen + r.emitted
                self.prefix_hits += hit * BLOCK_SIZE
                if not r.admitted_once:
                    r.admitted_once = True
                    r.cached_tokens = hit * BLOCK_SIZE
                    r.first_scheduled = start
                running.append(r)
                items.append((r, n, r.computed))
                budget -= n
        if not items:
            return False  # nothing schedulable (cannot happen with valid configs; guard against livelock)
        ms = self._step_ms(items)
        self.inflight = _Step(start, start + ms / 1000.0, items)
        self.last_step_ms = ms
        return True

    def _step_ms(self, items) -> float:
        p = self.p
        n_tok = 0
        attn = 0.0
        ctx = 0
        for r, n, c in items:
            n_tok += n
            if c >= r.req.prompt_len + r.emitted - 1 and n == 1 and r.emitted > 0:
                ctx += c + 1
            else:
                attn += n * (c + n / 2)
        return (p.t0 + max(p.w, p.k * n_tok) + p.a_p * attn + p.a_d * ctx) / self.speed

    def _register(self, r: LiveRequest) -> None:
        """Cache every full block computed so far. Blocks past the prompt's own hashes (the
        partial prompt tail plus generated tokens) get hashes unique to the request, as vLLM
        v1 hashes them by content; only this request can hit them (after a preemption).
        With ``hash_generated`` off only the prompt's hashed blocks are cached."""
        full = r.computed // BLOCK_SIZE
        hs = r.hashes
        if full > len(hs):
            if not self.hash_generated:
                full = len(hs)
            else:
                if not r.own_hashes:
                    hs = r.hashes = list(hs)
                    r.own_hashes = True
                rid = r.req.rid
                hs.extend(-1 - (rid << 24) - b for b in range(len(hs), full))  # negative: never a prompt hash
        if full > r.n_reg:
            self.pool.cache(r.blocks[r.n_reg:full], hs[r.n_reg:full])
            r.n_reg = full

    def _preempt(self, r: LiveRequest) -> None:
        self.pool.free(r.blocks)
        r.blocks = []
        r.computed = 0
        r.n_reg = 0
        r.preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(r)

    def _complete(self, st: _Step) -> None:
        self.inflight = None
        if st.macro:
            self._apply_decode_steps(st.n_steps, st.start, st.base_ms, st.slope_ms, more=False)
            self.time = st.end
            self._collect_finished(st.end)
            return
        end = st.end
        self.steps += 1
        self.busy_s += end - st.start
        for r, n, _c in st.items:
            r.computed += n
            plen = r.req.prompt_len
            if r.computed <= plen:
                self.prompt_tokens += n
            if r.computed >= BLOCK_SIZE * (r.n_reg + 1):
                self._register(r)
            if r.computed == plen + r.emitted:
                r.emitted += 1
                self.generation_tokens += 1
                if r.first_token is None:
                    r.first_token = end
        self.time = end
        self._collect_finished(end)

    def _collect_finished(self, end: float) -> None:
        done = [r for r in self.running if r.emitted >= r.req.output_len]
        if not done:
            return
        self.running = [r for r in self.running if r.emitted < r.req.output_len]
        for r in done:
            r.finish = end
            self.pool.free(r.blocks)
            r.blocks = []
            res = RequestResult(r.req.rid, self.idx, r.req.arrival, r.req.prompt_len, r.req.output_len,
                                r.cached_tokens, r.first_scheduled, r.first_token, end, r.preemptions)
            self.results.append(res)
            if self._on_finish is not None:
                self._on_finish(res)

    # ------------------------------------------------------------------ decode macro steps
    def _try_macro(self, start: float) -> bool:
        running = self.running
        if len(running) == 0 or any(r.remaining_prefill != 1 or r.emitted == 0 for r in running):
            return False
        p = self.p
        if self.waiting:
            head = self.waiting[0]
            blocked = len(running) >= p.max_num_seqs or len(running) >= p.max_num_batched_tokens
            if not blocked:
                plen = head.req.prompt_len
                hit = (self.pool.match(head.hashes, limit=(plen + head.emitted - 1) // BLOCK_SIZE)
                       if head.computed == 0 else 0)
                n = min(plen + head.emitted - hit * BLOCK_SIZE, p.max_num_batched_tokens - len(running))
                need = self._blocks_for(hit * BLOCK_SIZE + n) - hit
                blocked = need > self.pool.free_after_touch(head.hashes, hit)
            if not blocked:
                return False
        k_max = min(r.req.output_len - r.emitted for r in running)
        if k_max < 2:
            return False
        free = self.pool.num_free
        # largest k whose block needs fit the free pool (needs are monotone in k)
        lo, hi = 0, k_max
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._macro_blocks(mid) <= free:
                lo = mid
            else:
                hi = mid - 1
        k = lo
        if k < 2:
            return False
        n = len(running)
        base = p.t0 + max(p.w, p.k * n) + p.a_d * sum(r.computed + 1 for r in running)
        base_ms = base / self.speed
        slope_ms = p.a_d * n / self.speed
        end = start + _macro_elapsed_s(k, base_ms, slope_ms)
        self.inflight = _Step(start, end, [], macro=True, n_steps=k, base_ms=base_ms, slope_ms=slope_ms)
        self.last_step_ms = base_ms
        self._alloc_decode()
        return True

    def _macro_blocks(self, k: int) -> int:
        bf = self._blocks_for
        return sum(max(0, bf(r.computed + k) - len(r.blocks)) for r in self.running)

    def _alloc_decode(self) -> None:
        """Blocks for the decode step that starts now (vLLM allocates at schedule time)."""
        pool = self.pool
        bf = self._blocks_for
        for r in self.running:
            need = bf(r.computed + 1) - len(r.blocks)
            if need > 0:
                r.blocks.extend(pool.allocate(need))

    def _apply_decode_steps(self, j: int, start: float, base_ms: float, slope_ms: float, more: bool) -> None:
        """Apply ``j`` decode steps of a macro step; ``more``: another step starts right after."""
        if j <= 0:
            return
        pool = self.pool
        bf = self._blocks_for
        for r in self.running:
            need = bf(r.computed + j) - len(r.blocks)
            if need > 0:  # blocks of steps 2..j (step 1's were taken when the macro step was scheduled)
                r.blocks.extend(pool.allocate(need))
            r.computed += j
            r.emitted += j
            if r.computed >= BLOCK_SIZE * (r.n_reg + 1):
                self._register(r)
        if more:
            self._alloc_decode()
        n = len(self.running)
        self.generation_tokens += n * j
        self.steps += j
        self.busy_s += _macro_elapsed_s(j, base_ms, slope_ms)
        self.last_step_ms = base_ms + slope_ms * (j - 1)

    def _complete_macro_partial(self, t: float) -> None:
        """Apply the whole decode steps of the macro step that end by ``t``."""
        st = self.inflight
        j = self._steps_ended_by(st, t)
        if j <= 0:
            return
        new_start = st.start + _macro_elapsed_s(j, st.base_ms, st.slope_ms)
        if j >= st.n_steps:
            self._complete(st)
            return
        self._apply_decode_steps(j, st.start, st.base_ms, st.slope_ms, more=True)
        self.time = new_start
        rest = st.n_steps - j
        base_ms = st.base_ms + st.slope_ms * j
        self.inflight = _Step(new_start, st.end, [], macro=True, n_steps=rest, base_ms=base_ms, slope_ms=st.slope_ms)

    @staticmethod
    def _steps_ended_by(st: _Step, t: float) -> int:
        """Number of whole steps of a macro step that have ended by ``t``."""
        lo, hi = 0, st.n_steps
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if st.start + _macro_elapsed_s(mid, st.base_ms, st.slope_ms) <= t:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _truncate_macro(self, now: float) -> None:
        """A request arrived during a decode stretch: keep only the steps up to the one in progress."""
        self._complete_macro_partial(now)
        st = self.inflight
        if st is None:
            return
        # the step in progress at `now` finishes; later ones are cancelled
        keep = max(1, self._steps_ended_by(st, now) + 1)
        keep = min(keep, st.n_steps)
        st.n_steps = keep
        st.end = st.start + _macro_elapsed_s(keep, st.base_ms, st.slope_ms)
