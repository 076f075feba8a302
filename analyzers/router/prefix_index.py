"""Per-instance prefix index over chained 16-token block hashes.

One dictionary maps a block hash to the bitmask of instances holding it, so a lookup
walks the prompt's hashes once for all instances together: at block ``i`` the
instances still matching are ``alive &= holders[h_i]``, and an instance that drops
out has matched ``i`` blocks. Cost O(matched blocks), independent of the number of
instances (up to Python's big-int masks).

Two ways to feed it:

* :class:`ExactPrefixIndex` — the engine's own cache state: ``stored`` / ``removed``
  / ``cleared`` events (the simulator's block pool now; vLLM KV events later);
* :class:`ApproxPrefixIndex` — the router's own routed prompts, an LRU of at most
  ``capacity_blocks`` hashes per instance (what SGLang and production-stack do).

Both cap the hit the way the engine does when asked (``cap_tokens``).

>>> idx = ApproxPrefixIndex(n_instances=3, capacity_blocks=100)
>>> idx.insert(1, [10, 11, 12])
>>> idx.match([10, 11, 99]).tolist()
[0, 2, 0]
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict, deque
from itertools import accumulate, compress, islice, repeat
from operator import and_, neg, not_, or_
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


class ApproxPrefixIndex(_BitmaskIndex):
    """The router's guess of each cache: prompts it routed, LRU-bounded per instance."""

    def __init__(self, n_instances: int, capacity_blocks: int):
        super().__init__(n_instances)
        if capacity_blocks < 1:
            raise ValueError("capacity_blocks must be at least 1")
        self.capacity = capacity_blocks
        self._lru: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(n_instances)]

    def insert(self, inst: int, hashes: Sequence[int]) -> None:
        """Record that ``inst`` now caches ``hashes`` (most recently used, in order).

        Same result as, for each hash in order, "insert it if missing, then move it
        to the most recent end", done with C-level bulk operations: the Python-level
        work is proportional to the hashes that are new or evicted, not to the prompt."""
        lru = self._lru[inst]
        holders = self._holders
        bit = 1 << inst
        new = list(compress(hashes, map(not_, map(lru.__contains__, hashes))))
        if new:
            holders.update(zip(new, map(or_, map(holders.get, new, repeat(0, len(new))), repeat(bit, len(new)))))
            lru.update(dict.fromkeys(new))
        deque(map(lru.move_to_end, hashes), maxlen=0)
        extra = len(lru) - self.capacity
        if extra > 0:
            old = list(islice(lru, extra))
            deque(map(lru.pop, old), maxlen=0)
            masks = list(map(and_, map(holders.__getitem__, old), repeat(~bit, extra)))
            holders.update(zip(old, masks))
            deque(map(holders.__delitem__, compress(old, map(not_, masks))), maxlen=0)

    def size(self, inst: int) -> int:
        return len(self._lru[inst])

    def trim(self, inst: int, keep: int) -> int:
        """Evict ``inst``'s least recently used hashes until at most ``keep`` remain
        (a correction when the engine reports fewer cached tokens than predicted);
        returns how many were evicted."""
        lru = self._lru[inst]
        n = 0
        while len(lru) > max(keep, 0):
            old, _ = lru.popitem(last=False)
            self._drop(inst, old)
            n += 1
        return n
