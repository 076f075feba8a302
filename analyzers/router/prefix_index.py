"""Per-instance prefix index over chained 16-token block hashes.

Two ways to feed it:

* :class:`ExactPrefixIndex` — the engine's own cache state: ``stored`` / ``removed``
  / ``cleared`` events (the simulator's block pool, vLLM KV events). One dictionary
  maps a block hash to the bitmask of instances holding it, so a lookup walks the
  prompt's hashes once for all instances together: at block ``i`` the instances still
  matching are ``alive &= holders[h_i]``, and an instance that drops out has matched
  ``i`` blocks. Cost O(matched blocks), independent of the number of instances (up to
  Python's big-int masks).
* :class:`ApproxPrefixIndex` — the router's own routed prompts, an LRU of at most
  ``capacity_blocks`` hashes per instance (what SGLang and production-stack do). It
  walks groups of 16 blocks instead (one mask per group, exact block-level answers);
  see the class.

Both cap the hit the way the engine does when asked (``cap_tokens``).

>>> idx = ApproxPrefixIndex(n_instances=3, capacity_blocks=100)
>>> idx.insert(1, [10, 11, 12])
>>> idx.match([10, 11, 99]).tolist()
[0, 2, 0]
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict, deque
from itertools import accumulate, compress, count, islice, repeat
from operator import and_, eq, itemgetter, mod, neg, not_, or_
from typing import Iterable, Sequence

import numpy as np

__all__ = ["ExactPrefixIndex", "ApproxPrefixIndex"]

BLOCK = 16


class _BitmaskIndex:
    def __init__(self, n_instances: int):
        if n_instances < 1:
            raise ValueError("an index needs at least one instance")
        self.n = n_instances
        self._holders: dict[int, int] = {}

    def _add(self, inst: int, h: int) -> None:
        self._holders[h] = self._holders.get(h, 0) | (1 << inst)

    def _drop(self, inst: int, h: int) -> None:
        m = self._holders.get(h)
        if m is None:
            return
        m &= ~(1 << inst)
        if m:
            self._holders[h] = m
        else:
            del self._holders[h]

    def match(self, hashes: Sequence[int], limit: int | None = None, among: int | None = None) -> np.ndarray:
        """Matched leading blocks per instance (stops at each instance's first miss);
        with ``among`` (a bitmask of instances) only those are matched, the others get 0.

        The running intersection ``alive_i = alive_{i-1} & holders[h_i]`` is computed
        in chunks by ``itertools.accumulate`` (C speed). It only ever loses bits, so
        it is numerically non-increasing and the block where each instance drops out
        is found by bisection; the walk stops once no instance is alive."""
        out = np.zeros(self.n, dtype=np.int64)
        get = self._holders.get
        alive = (1 << self.n) - 1 if among is None else among & ((1 << self.n) - 1)
        n = len(hashes) if limit is None else max(min(limit, len(hashes)), 0)
        i = 0
        step = 16
        while i < n and alive:
            end = min(i + step, n)
            acc = list(accumulate(map(get, hashes[i:end], repeat(0, end - i)), and_, initial=alive))
            # acc[0] = alive before block i; acc[j] = alive after block i + j - 1
            last = acc[-1]
            k = 0
            while alive != last:
                k = bisect_right(acc, -alive, lo=k, key=neg)  # first position whose mask lost bits
                dead = alive & ~acc[k]
                while dead:
                    low = dead & -dead
                    out[low.bit_length() - 1] = i + k - 1
                    dead ^= low
                alive = acc[k]
            i = end
            step = min(step * 2, 1024)
        while alive:
            low = alive & -alive
            out[low.bit_length() - 1] = n
            alive ^= low
        return out

    def cached_tokens(self, hashes: Sequence[int], prompt_tokens: int) -> np.ndarray:
        """Hit in tokens per instance, capped at ``prompt - 1`` like the engine."""
        return BLOCK * self.match(hashes, limit=(prompt_tokens - 1) // BLOCK)

    def __len__(self) -> int:
        return len(self._holders)


class ExactPrefixIndex(_BitmaskIndex):
    """Mirror of the engines' prefix caches, fed by their events."""

    def stored(self, inst: int, hashes: Iterable[int]) -> None:
        for h in hashes:
            self._add(inst, h)

    def removed(self, inst: int, hashes: Iterable[int]) -> None:
        for h in hashes:
            self._drop(inst, h)

    def cleared(self, inst: int) -> None:
        bit = 1 << inst
        for h in [h for h, m in self._holders.items() if m & bit]:
            self._drop(inst, h)


class ApproxPrefixIndex:
    """The router's guess of each cache: prompts it routed, LRU-bounded per instance.

    Per instance an LRU (``OrderedDict``, least recently used first) mapping each block
    hash it was sent to the block's position in its prompt; nothing per block is shared
    between instances. Lookups skip whole *groups* of ``G = group_blocks`` blocks: a
    group (blocks ``gG .. gG + G - 1`` of a prompt) is keyed by the hash of its last
    block ``z``, and ``groups[z]`` holds the instances known to cache all ``G`` of its
    blocks, so a full hit of ``n`` blocks costs ``n / G`` lookups. Where an instance's
    bit is missing (or not trusted, below) that group, and the partial group at the end,
    are checked block by block in the instance's own LRU, so the answer is exactly the
    block-level match as long as every *trusted* set bit is true.

    Why the bits can be trusted. The hashes must be prefix-chained (a hash identifies
    its whole prefix, hence its position, as :class:`~analyzers.router.hashing.BlockHasher`'s
    do), so every prompt containing ``z`` contains its whole group. An insert sets the
    bits of the prompt's full groups; evicting ``z`` clears its group's bit. A group can
    then be wrong only if a block ``b`` before ``z`` was evicted while ``z`` stays: ``b``
    is older than ``z``, so both were last touched by the same insert (a later touch of
    ``z`` would have touched ``b`` too), whose blocks sit together in the LRU in prompt
    order; eviction takes the oldest first, so the oldest block left — the LRU's front
    — lies in that group, strictly after its first position. So after every eviction
    the front is remembered when its position is not a multiple of ``G``, and a lookup
    whose prompt contains that block does not trust that instance's bit for the group
    around it (at most one such group per instance). A block-by-block check that finds
    a whole group held sets its bit (a repair; the same argument covers it). Block-by-block
    checks of several instances in one group (a prefix many instances cache that ends
    inside a group) start from the runs earlier checks found (:meth:`_runs`), guarded by
    the same front rule, so they cost about one probe per block plus two per instance.
    Inputs of fewer than ``G`` blocks (or non-chained ones that short) only use the block path.
    """

    def __init__(self, n_instances: int, capacity_blocks: int, group_blocks: int = 16):
        if n_instances < 1:
            raise ValueError("an index needs at least one instance")
        if capacity_blocks < 1:
            raise ValueError("capacity_blocks must be at least 1")
        if not isinstance(group_blocks, int) or group_blocks < 1:
            raise ValueError("group_blocks must be a positive integer")
        self.n = n_instances
        self.capacity = capacity_blocks
        self.group = group_blocks
        self._lru: list[OrderedDict[int, int]] = [OrderedDict() for _ in range(n_instances)]  # hash -> position
        self._groups: dict[int, int] = {}  # group key (its last block's hash) -> bitmask of instances holding it all
        self._front: dict[int, tuple[int, int]] = {}  # instance -> (hash, position) of its LRU front, if mid-group
        self._runs_seen: dict[int, int] = {}  # block hash -> instances that held its group from the start up to it

    def insert(self, inst: int, hashes: Sequence[int], present: int = 0) -> None:
        """Record that ``inst`` now caches ``hashes`` (most recently used, in order):
        for each hash in order, "insert it if missing, then move it to the most recent
        end", then evict the least recently used beyond ``capacity``. ``present``: how
        many leading hashes a match just found on ``inst`` (only moved, not looked up
        again; a wrong count is detected and costs a slower path, never a wrong state).
        C-level bulk operations: one move per block, one store per new block, one mask
        update per full group."""
        lru = self._lru[inst]
        n = len(hashes)
        present = min(max(int(present), 0), n)
        try:
            deque(map(lru.move_to_end, islice(hashes, present)), maxlen=0)
        except KeyError:  # not all present after all: the general path below moves everything again
            present = 0
        if present < n:
            rest = hashes[present:]
            before = len(lru)
            lru.update(zip(rest, range(present, n)))
            if len(lru) - before < len(rest):  # some were cached already: move them (and the rest) in order
                deque(map(lru.move_to_end, rest), maxlen=0)
        g = self.group
        full = n - n % g
        if full:
            keys = hashes[g - 1:full:g]
            groups = self._groups
            bit = 1 << inst
            groups.update(zip(keys, map(or_, map(groups.get, keys, repeat(0, len(keys))), repeat(bit, len(keys)))))
        extra = len(lru) - self.capacity
        if extra > 0:
            self._evict(inst, extra)

    def _evict(self, inst: int, k: int) -> None:
        """Drop ``inst``'s ``k`` least recently used hashes, clear the groups whose last
        block went, and remember the new front when it is mid-group."""
        lru = self._lru[inst]
        g = self.group
        old = list(map(lru.popitem, repeat(False, k)))  # popitem(last=False): the oldest first
        ends = compress(map(itemgetter(0), old), map(eq, map(mod, map(itemgetter(1), old), repeat(g)), repeat(g - 1)))
        groups = self._groups
        keep = ~(1 << inst)
        for z in ends:
            m = groups.get(z)
            if m is not None:
                m &= keep
                if m:
                    groups[z] = m
                else:
                    del groups[z]
        front = next(iter(lru.items()), None)
        if front is not None and front[1] % g:
            self._front[inst] = front
        else:
            self._front.pop(inst, None)

    def match(self, hashes: Sequence[int], limit: int | None = None, among: int | None = None) -> np.ndarray:
        """Matched leading blocks per instance (stops at each instance's first miss);
        with ``among`` (a bitmask of instances) only those are matched, the others get 0.

        Groups first: the running intersection of the (trusted) group masks
        (``itertools.accumulate``) finds the first group some alive instance is not known
        to hold in full; those instances are checked block by block in that group (a
        miss ends their match, a full group repairs the bit) and the walk goes on from
        the next group. The blocks after the last full group are checked block by block."""
        out = np.zeros(self.n, dtype=np.int64)
        alive = (1 << self.n) - 1 if among is None else among & ((1 << self.n) - 1)
        n = len(hashes) if limit is None else max(min(limit, len(hashes)), 0)
        if not alive or n == 0:
            return out
        g = self.group
        groups = self._groups
        ng = n // g
        distrust: dict[int, int] = {}  # group index -> instances whose bit there is not trusted
        for inst, (h, pos) in self._front.items():
            if pos < n and (alive >> inst) & 1 and hashes[pos] == h:
                distrust[pos // g] = distrust.get(pos // g, 0) | (1 << inst)
        i = 0  # next group to examine
        while i < ng and alive:
            end = min(i + 32, ng)
            masks = list(map(groups.get, hashes[i * g + g - 1:end * g:g], repeat(0, end - i)))
            for gi, m in distrust.items():
                if i <= gi < end:
                    masks[gi - i] &= ~m
            acc = list(accumulate(masks, and_, initial=alive))
            if acc[-1] == alive:
                i = end
                continue
            p = bisect_right(acc, -alive, key=neg)  # acc[p] is the first that lost bits: group i + p - 1
            i += p - 1
            lo = i * g
            for low, inst, j in self._runs(hashes, lo, lo + g, alive ^ acc[p], distrust.get(i, 0)):
                if j < lo + g:
                    out[inst] = j
                    alive ^= low
                else:  # the whole group is held: repair its bit (sound, see the class docstring)
                    groups[hashes[lo + g - 1]] = groups.get(hashes[lo + g - 1], 0) | low
            i += 1
        lo = ng * g
        if lo < n and alive:
            for _, inst, j in self._runs(hashes, lo, n, alive, distrust.get(ng, 0)):
                out[inst] = j
        else:
            while alive:
                low = alive & -alive
                alive ^= low
                out[low.bit_length() - 1] = n
        return out

    def _runs(self, hashes: Sequence[int], lo: int, hi: int, weak: int, untrusted: int) -> list[tuple[int, int, int]]:
        """``(bit, instance, first missing position in [lo, hi))`` for each instance of
        ``weak``, block by block in its own LRU (``lo`` starts a group).

        With several instances to check, the runs learnt by earlier checks come first:
        ``runs[h] = instances that held their group's blocks from its start up to h``.
        Such a run is used only if ``h`` is still cached and the instance's group is not
        distrusted (the front rule covers a run exactly as it covers a group: a block
        evicted before ``h`` while ``h`` stays puts the front inside the group), so the
        check starts after it; what a check finds is learnt in turn. Bounded: the table
        is emptied when it passes 65,536 entries (only speed depends on it)."""
        lrus = self._lru
        runs = self._runs_seen
        start: dict[int, int] = {}
        rem = weak & ~untrusted
        if rem & (rem - 1) and runs:  # two or more instances: one probe per block for all of them
            probes = list(map(runs.get, hashes[lo:hi], repeat(0, hi - lo)))
            for idx in range(hi - lo - 1, -1, -1):
                m = probes[idx] & rem
                if m:
                    rem ^= m
                    while m:
                        low = m & -m
                        m ^= low
                        start[low.bit_length() - 1] = lo + idx + 1
                    if not rem:
                        break
        out = []
        learnt: dict[int, int] = {}  # run end -> instances
        while weak:
            low = weak & -weak
            weak ^= low
            inst = low.bit_length() - 1
            lru = lrus[inst]
            s = start.get(inst, lo)
            if s > lo and hashes[s - 1] not in lru:
                s = lo
            j = s if s == hi or hashes[s] not in lru else _first_miss(lru, hashes, s + 1, hi)
            if j > lo:
                learnt[j] = learnt.get(j, 0) | low
            out.append((low, inst, j))
        for j, m in learnt.items():
            runs[hashes[j - 1]] = runs.get(hashes[j - 1], 0) | m
        if len(runs) > 65_536:
            runs.clear()
        return out

    def cached_tokens(self, hashes: Sequence[int], prompt_tokens: int) -> np.ndarray:
        """Hit in tokens per instance, capped at ``prompt - 1`` like the engine."""
        return BLOCK * self.match(hashes, limit=(prompt_tokens - 1) // BLOCK)

    def holders(self) -> dict[int, int]:
        """``hash -> bitmask of instances caching it`` (built on demand: diagnostics, tests)."""
        out: dict[int, int] = {}
        for inst, lru in enumerate(self._lru):
            bit = 1 << inst
            for h in lru:
                out[h] = out.get(h, 0) | bit
        return out

    def __len__(self) -> int:
        """Distinct hashes cached by any instance."""
        return len(set().union(*self._lru))

    def size(self, inst: int) -> int:
        return len(self._lru[inst])

    def trim(self, inst: int, keep: int) -> int:
        """Evict ``inst``'s least recently used hashes until at most ``keep`` remain
        (a correction when the engine reports fewer cached tokens than predicted);
        returns how many were evicted."""
        k = len(self._lru[inst]) - max(keep, 0)
        if k <= 0:
            return 0
        self._evict(inst, k)
        return k


def _first_miss(lru, hashes: Sequence[int], lo: int, hi: int) -> int:
    """First index in ``[lo, hi)`` whose hash ``lru`` lacks (``hi`` if none)."""
    return next(compress(count(lo), map(not_, map(lru.__contains__, hashes[lo:hi]))), hi)
