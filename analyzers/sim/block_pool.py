"""vLLM-v1-style KV block pool with a prefix cache.

* Blocks hold 16 tokens. A full prompt block gets the request's chained hash when it
  is computed; identical blocks are not de-duplicated (a second copy stays unhashed).
* Freed blocks keep their hash and go to the *tail* of the free queue; allocation pops
  the *head* (least recently freed first) and drops that block's hash. A finished
  request frees its blocks tail first, so its suffix is evicted before its prefix.
* A prefix hit is the longest run of leading hashes present in the cache (in use or
  free); touching a free cached block takes it off the free queue.

>>> pool = BlockPool(8)
>>> blocks = pool.allocate(3); pool.cache(blocks, [11, 12, 13])
>>> pool.free(blocks)                 # back to the tail, tail block first
>>> pool.match([11, 12, 99])
2
>>> pool.num_free, pool.usage
(8, 0.0)
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["BlockPool"]


class BlockPool:
    """Fixed-size pool of KV blocks with hash-addressed prefix caching."""

    __slots__ = ("num_blocks", "_free", "_ref", "_hash", "_by_hash", "evictions", "listener")

    def __init__(self, num_blocks: int, listener=None):
        """``listener`` (optional) receives KV events: ``stored(hashes)`` when blocks
        become cached and ``removed(hashes)`` when cached blocks are evicted."""
        if num_blocks <= 0:
            raise ValueError("the KV cache needs at least one block")
        self.num_blocks = num_blocks
        self._free: OrderedDict[int, None] = OrderedDict.fromkeys(range(num_blocks))
        self._ref = [0] * num_blocks
        self._hash: list[int | None] = [None] * num_blocks
        self._by_hash: dict[int, int] = {}
        self.evictions = 0
        self.listener = listener

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def usage(self) -> float:
        """Fraction of blocks in use (vLLM's ``kv_cache_usage_perc``)."""
        return 1.0 - len(self._free) / self.num_blocks

    def match(self, hashes: list[int], limit: int | None = None) -> int:
        """Number of leading ``hashes`` cached (stops at the first miss), at most ``limit``."""
        by_hash = self._by_hash
        n = len(hashes) if limit is None else min(limit, len(hashes))
        i = 0
        while i < n and hashes[i] in by_hash:
            i += 1
        return i

    def free_after_touch(self, hashes: list[int], n_hit: int) -> int:
        """Free blocks left once the first ``n_hit`` cached blocks are touched."""
        by_hash, ref = self._by_hash, self._ref
        in_free = sum(1 for h in hashes[:n_hit] if ref[by_hash[h]] == 0)
        return len(self._free) - in_free

    def touch(self, hashes: list[int], n_hit: int) -> list[int]:
        """Take references on the first ``n_hit`` cached blocks; returns their ids."""
        by_hash, ref, free = self._by_hash, self._ref, self._free
        out = []
        for h in hashes[:n_hit]:
            b = by_hash[h]
            if ref[b] == 0:
                del free[b]
            ref[b] += 1
            out.append(b)
        return out

    def allocate(self, n: int) -> list[int]:
        """Pop ``n`` blocks from the head of the free queue (evicting their hashes).
        The caller checks ``num_free`` first; asking for too many raises."""
        if n > len(self._free):
            raise RuntimeError(f"allocate({n}) with only {len(self._free)} free blocks")
        free, ref, hsh, by_hash = self._free, self._ref, self._hash, self._by_hash
        out = []
        evicted = []
        for _ in range(n):
            b, _ = free.popitem(last=False)
            h = hsh[b]
            if h is not None:
                if by_hash.get(h) == b:
                    del by_hash[h]
                    evicted.append(h)
                hsh[b] = None
                self.evictions += 1
            ref[b] = 1
            out.append(b)
        if evicted and self.listener is not None:
            self.listener.removed(evicted)
        return out

    def cache(self, blocks: list[int], hashes: list[int]) -> None:
        """Register computed full blocks under their hashes (first copy wins)."""
        hsh, by_hash = self._hash, self._by_hash
        stored = []
        for b, h in zip(blocks, hashes):
            if hsh[b] is None and h not in by_hash:
                hsh[b] = h
                by_hash[h] = b
                stored.append(h)
        if stored and self.listener is not None:
            self.listener.stored(stored)

    def free(self, blocks: list[int]) -> None:
        """Drop one reference per block, tail first; unreferenced blocks join the free tail."""
        ref, free = self._ref, self._free
        for b in reversed(blocks):
            ref[b] -= 1
            if ref[b] == 0:
                free[b] = None

    def cached_hashes(self) -> int:
        return len(self._by_hash)

    def check_invariants(self) -> None:
        """Raise ``AssertionError`` if the pool is inconsistent (for tests): free blocks
        are unreferenced, every block is free or referenced, the hash map is consistent."""
        ref, free = self._ref, self._free
        assert all(ref[b] == 0 for b in free), "a free block has references"
        assert all(r >= 0 for r in ref), "negative reference count"
        in_use = sum(1 for r in ref if r > 0)
        assert in_use + len(free) == self.num_blocks, "blocks lost or double counted"
        assert all(self._hash[b] == h for h, b in self._by_hash.items()), "hash map out of sync"
