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
from collections import deque
from itertools import accumulate, chain, compress, count, islice, repeat
from operator import and_, itemgetter, neg, not_, or_
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

    Per instance an LRU of the block hashes it was sent: a plain ``dict`` in the order
    of their last use (a use pops and re-adds the hash, eviction takes the first ones);
    nothing per block is shared between instances. Lookups skip
    whole *groups* of ``G = group_blocks`` blocks: a group (blocks ``gG .. gG + G - 1``
    of a prompt) is keyed by the hash of its last block, and ``groups[key]`` holds the
    instances known to cache all ``G`` of its blocks, so a full hit of ``n`` blocks
    costs ``n / G`` lookups; where an instance's bit is missing, that group (and the
    partial group at the end) is checked block by block in the instance's own LRU,
    so the result is exactly the block-level match whatever the group bits say, as long
    as they are *sound* (a set bit means all ``G`` blocks are held).

    Soundness needs the hashes to be prefix-chained (a hash identifies its whole prefix
    and its position, as :class:`~analyzers.router.hashing.BlockHasher`'s do): every
    prompt containing a group's last block ``z`` contains the whole group. Each LRU entry
    remembers the group key it had in the prompt that last touched it, and evicting it
    clears that group's bit. A block ``b`` of a group whose last touch did not contain
    ``z`` was touched after ``z`` (any touch of ``z`` touches ``b``), so ``z`` is older,
    is evicted first and clears the bit before ``b`` goes; nothing sets it again
    without touching ``b``. Inserts set the bits of the prompt's full groups; a
    block-by-block check that finds a whole group held sets it too (a repair).
    Short or non-chained inputs of fewer than ``G`` blocks only use the block path.
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
        # per instance: block hash -> key of its group in the prompt that last touched it (None: partial group)
        self._lru: list[dict[int, int | None]] = [{} for _ in range(n_instances)]
        self._groups: dict[int, int] = {}  # group key -> bitmask of instances holding all its blocks

    def insert(self, inst: int, hashes: Sequence[int], present: int = 0) -> None:
        """Record that ``inst`` now caches ``hashes`` (most recently used, in order):
        for each hash in order, "insert it if missing, then move it to the most recent
        end", then evict the least recently used beyond ``capacity``. C-level bulk
        operations throughout: one pop and one store per block, one group-mask update
        per full group. ``present`` (how many leading hashes a match just found
        on ``inst``) is accepted for compatibility and not needed."""
        lru = self._lru[inst]
        g = self.group
        n = len(hashes)
        full = n - n % g
        keys = hashes[g - 1:full:g]
        vals = chain(chain.from_iterable(map(repeat, keys, repeat(g, len(keys)))), repeat(None, n - full))
        deque(map(lru.pop, hashes, repeat(None, n)), maxlen=0)  # a plain dict keeps insertion order:
        lru.update(zip(hashes, vals))                            # popped and re-added = most recent
        if full:
            groups = self._groups
            bit = 1 << inst
            groups.update(zip(keys, map(or_, map(groups.get, keys, repeat(0, len(keys))), repeat(bit, len(keys)))))
        extra = len(lru) - self.capacity
        if extra > 0:
            self._evict(inst, extra)

    def _evict(self, inst: int, k: int) -> None:
        """Drop ``inst``'s ``k`` least recently used hashes and the group bits they break."""
        lru = self._lru[inst]
        old = list(islice(lru.items(), k))
        deque(map(lru.__delitem__, map(itemgetter(0), old)), maxlen=0)
        keys = dict.fromkeys(map(itemgetter(1), old))
        keys.pop(None, None)
        groups = self._groups
        keep = ~(1 << inst)
        for key in keys:
            m = groups.get(key)
            if m is not None:
                m &= keep
                if m:
                    groups[key] = m
                else:
                    del groups[key]

    def match(self, hashes: Sequence[int], limit: int | None = None, among: int | None = None) -> np.ndarray:
        """Matched leading blocks per instance (stops at each instance's first miss);
        with ``among`` (a bitmask of instances) only those are matched, the others get 0.

        Groups first: the running intersection of the group masks (``itertools.accumulate``)
        finds the first group some alive instance is not known to hold in full; those
        instances are checked block by block in that group (a miss ends their match, a
        full group repairs the bit) and the walk goes on from the next group. The blocks
        after the last full group are checked block by block."""
        out = np.zeros(self.n, dtype=np.int64)
        alive = (1 << self.n) - 1 if among is None else among & ((1 << self.n) - 1)
        n = len(hashes) if limit is None else max(min(limit, len(hashes)), 0)
        if not alive or n == 0:
            return out
        g = self.group
        lrus = self._lru
        groups = self._groups
        ng = n // g
        i = 0  # next group to examine
        while i < ng and alive:
            end = min(i + 32, ng)
            keys = hashes[i * g + g - 1:end * g:g]
            acc = list(accumulate(map(groups.get, keys, repeat(0, len(keys))), and_, initial=alive))
            if acc[-1] == alive:
                i = end
                continue
            p = bisect_right(acc, -alive, key=neg)  # acc[p] is the first that lost bits: group i + p - 1
            i += p - 1
            lo = i * g
            weak = alive ^ acc[p]
            while weak:
                low = weak & -weak
                weak ^= low
                inst = low.bit_length() - 1
                lru = lrus[inst]
                j = _first_miss(lru, hashes, lo, lo + g) if hashes[lo] in lru else lo
                if j < lo + g:
                    out[inst] = j
                    alive ^= low
                else:  # the whole group is held: repair its bit (sound, see the class docstring)
                    groups[hashes[lo + g - 1]] = groups.get(hashes[lo + g - 1], 0) | low
            i += 1
        lo = ng * g
        while alive:
            low = alive & -alive
            alive ^= low
            inst = low.bit_length() - 1
            lru = lrus[inst]
            out[inst] = _first_miss(lru, hashes, lo, n) if lo < n and hashes[lo] in lru else lo if lo < n else n
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
