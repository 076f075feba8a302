"""Which prompt prefixes each backend caches: exact from KV events, else approximate.

Backends get a permanent *slot* (an instance index of the router's prefix indexes) the
first time they are seen, so adding or removing backends never renumbers an index.

* **Approximate** (:class:`~analyzers.router.prefix_index.ApproxPrefixIndex`): the
  prompts the proxy routed to a backend, LRU-bounded, at the proxy's block size.
  Corrected by what responses report (``usage.prompt_tokens_details.cached_tokens``,
  llama.cpp ``timings.cache_n``): when a backend reports *fewer* cached tokens than
  predicted, its cache evicts faster than the LRU assumes, so the backend's LRU is
  trimmed to ``shrink`` times its size (the prompt itself is cached again after the
  request, so its blocks stay). Prediction errors are counted.
* **Exact** (:class:`~analyzers.router.prefix_index.ExactPrefixIndex`) for backends
  with vLLM KV events: the engine's block hashes cannot be recomputed here (vLLM
  hashes with its own function and seed), so each ``BlockStored`` is mapped onto the
  proxy's own hash chain from its ``token_ids``: the proxy keeps, per backend,
  ``engine hash -> (own hash, chain state)``; a block whose parent is known continues
  the parent's chain, a block with no parent starts one. ``BlockRemoved`` looks the
  own hash up and drops it. This is exact as long as the proxy tokenises prompts as
  the engine does (``--tokenizer backend``, same chat template) and sees every event
  (gaps are replayed; a block whose parent was never seen is counted and skipped).
  LoRA and multimodal ``extra_keys`` are ignored.

>>> t = PrefixTracker(block_size=4, capacity_blocks=100)
>>> toks = list(range(20))
>>> t.cached(toks, ["http://a", "http://b"]).tolist()
[0.0, 0.0]
>>> t.routed("http://a", t.hashes(toks)); t.cached(toks, ["http://a", "http://b"]).tolist()
[16.0, 0.0]
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from analyzers.router.hashing import BlockHasher
from analyzers.router.prefix_index import ApproxPrefixIndex, ExactPrefixIndex

__all__ = ["PrefixTracker"]


class PrefixTracker:
    def __init__(self, block_size: int = 16, capacity_blocks: int = 100_000, slots: int = 256, seed: int = 0,
                 shrink: float = 0.9):
        self.block_size = block_size
        self.seed = seed
        self.hasher = BlockHasher(block_size, seed)
        self.slots_max = slots
        self.approx = ApproxPrefixIndex(slots, capacity_blocks)
        self.shrink = shrink
        self._slot: dict[str, int] = {}
        # exact path: per engine block size one index and hasher; per slot the engine-hash map
        self._exact: dict[int, ExactPrefixIndex] = {}
        self._exact_hasher: dict[int, BlockHasher] = {}
        self._exact_bs: dict[int, int] = {}
        self._map: dict[int, dict[int, tuple[int, int, int]]] = {}
        self.counts = Counter()
        self._pending: tuple[int, list[int], int] | None = None
        self._selections: dict[tuple[str, ...], tuple[np.ndarray, int]] = {}

    def set_block_size(self, block_size: int) -> None:
        """Use ``block_size`` for the approximate index from now on (it starts empty)."""
        self._pending = None  # hashes at the old block size: the new index starts empty anyway
        self.block_size = block_size
        self.hasher = BlockHasher(block_size, self.seed)
        self.approx = ApproxPrefixIndex(self.slots_max, self.approx.capacity)
        self.counts["block_size_changes"] += 1

    # ------------------------------------------------------------ slots
    def slot(self, url: str) -> int:
        s = self._slot.get(url)
        if s is None:
            if len(self._slot) >= self.slots_max:
                raise ValueError(f"too many distinct backends (at most {self.slots_max})")
            s = self._slot[url] = len(self._slot)
        return s

    def hashes(self, tokens) -> list[int]:
        return self.hasher.hashes(tokens)

    # ------------------------------------------------------------ lookups
    def cached(self, tokens, urls: list[str], hashes: list[int] | None = None) -> np.ndarray:
        """Predicted cached tokens of this prompt on each of ``urls`` (capped at prompt - 1,
        whole blocks, as the engines count)."""
        return self.lookup(tokens, urls, hashes)[0]

    def lookup(self, tokens, urls: list[str], hashes: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(capped, uncapped)`` predicted cached tokens on each of ``urls``: the
        engines' count (at most ``prompt - 1``, whole blocks) and the raw match (a full
        match counts every block: what the ports' zero factor sees)."""
        self.flush()
        n = len(tokens)
        k = len(urls)
        exact_bs = self._exact_bs
        if not exact_bs:  # the common case: every backend approximate
            key = tuple(urls)
            sel = self._selections.get(key)
            if sel is None:  # (slot indices, their bitmask) per candidate list, as the fleet rarely changes
                slots = [self.slot(u) for u in urls]
                if len(self._selections) >= 64:
                    self._selections.clear()
                sel = self._selections[key] = (np.array(slots, dtype=np.intp), sum(1 << s for s in set(slots)))
            bs = self.block_size
            h = self.hashes(tokens) if hashes is None else hashes
            out = self.approx.match(h, among=sel[1])[sel[0]] * float(bs)
            return np.minimum(out, float(bs * (max(n - 1, 0) // bs))), out
        out = np.zeros(k)
        slot = self._slot
        slots = [slot[u] if u in slot else self.slot(u) for u in urls]
        cap = np.zeros(k)
        approx_j = [j for j, s in enumerate(slots) if s not in exact_bs]
        if approx_j:
            bs = self.block_size
            h = self.hashes(tokens) if hashes is None else hashes
            among = 0
            for j in approx_j:
                among |= 1 << slots[j]
            m = self.approx.match(h, among=among)
            for j in approx_j:
                out[j] = bs * m[slots[j]]
                cap[j] = bs * (max(n - 1, 0) // bs)
        exact_j = [j for j, s in enumerate(slots) if s in exact_bs]
        by_bs: dict[int, np.ndarray] = {}
        for j in exact_j:
            bs = exact_bs[slots[j]]
            if bs not in by_bs:
                h = self._exact_hasher[bs].hashes(tokens)
                among = 0
                for jj in exact_j:
                    among |= 1 << slots[jj]
                by_bs[bs] = self._exact[bs].match(h, among=among)
            out[j] = bs * by_bs[bs][slots[j]]
            cap[j] = bs * (max(n - 1, 0) // bs)
        return np.minimum(out, cap), out

    def routed(self, url: str, hashes: list[int], matched_tokens: float = 0, *, defer: bool = False) -> None:
        """The proxy sent a prompt with these block hashes to ``url``, where
        ``matched_tokens`` (uncapped, from :meth:`lookup`) were already indexed.

        ``defer=True`` leaves the index update pending until :meth:`flush` (the proxy
        runs it once the request is on its way, off the request's added latency); every
        lookup, report and later routing flushes it first, so none is lost or reordered."""
        self.flush()
        s = self.slot(url)
        if s not in self._exact_bs:
            self._pending = (s, hashes, int(matched_tokens) // self.block_size)
            if not defer:
                self.flush()

    def flush(self) -> None:
        """Apply a deferred :meth:`routed` update (no-op when none is pending)."""
        p = self._pending
        if p is not None:
            self._pending = None
            self.approx.insert(p[0], p[1], present=p[2])

    def reported(self, url: str, predicted: float, reported: int) -> None:
        """A response said ``reported`` prompt tokens were cached; ``predicted`` was ours."""
        self.flush()
        s = self.slot(url)
        self.counts["reports"] += 1
        if reported < predicted:
            self.counts["overpredicted"] += 1
            if s not in self._exact_bs:
                self.counts["trimmed_blocks"] += self.approx.trim(s, int(self.approx.size(s) * self.shrink))
        elif reported > predicted + self.block_size:
            self.counts["underpredicted"] += 1

    # ------------------------------------------------------------ exact (KV events)
    def _exact_for(self, slot: int, block_size: int) -> ExactPrefixIndex:
        cur = self._exact_bs.get(slot)
        if cur is not None and cur != block_size:
            if self._map.get(slot):
                raise ValueError(f"engine block size changed from {cur} to {block_size}")
            self._exact[cur].cleared(slot)  # marked before its first event: adopt the engine's block size
        self._exact_bs[slot] = block_size
        if block_size not in self._exact:
            self._exact[block_size] = ExactPrefixIndex(self.slots_max)
            self._exact_hasher[block_size] = BlockHasher(block_size, self.seed)
        self._map.setdefault(slot, {})
        return self._exact[block_size]

    def block_stored(self, url: str, engine_hashes: list[int], parent: int | None, token_ids: list[int],
                     block_size: int | None = None) -> int:
        """Apply one ``BlockStored``; returns how many blocks were mapped."""
        s = self.slot(url)
        nb = len(engine_hashes)
        if nb == 0:
            return 0
        bs = block_size or (len(token_ids) // nb if len(token_ids) % nb == 0 else 0)
        if bs <= 0 or len(token_ids) != bs * nb:
            self.counts["bad_block_stored"] += 1
            return 0
        try:
            idx = self._exact_for(s, bs)
        except ValueError:
            self.counts["block_size_changed"] += 1
            return 0
        mp = self._map[s]
        if parent is None:
            raw, length = 0, 0
        elif parent in mp:
            _, raw, length = mp[parent]
        else:
            self.counts["unknown_parent"] += 1
            return 0
        own, states = self._exact_hasher[bs].extend(raw, length, token_ids)
        for eh, oh, (r, ln) in zip(engine_hashes, own, states):
            mp[eh] = (oh, r, ln)
        idx.stored(s, own)
        self.counts["blocks_stored"] += nb
        return nb

    def block_removed(self, url: str, engine_hashes: list[int]) -> None:
        s = self.slot(url)
        bs = self._exact_bs.get(s)
        if bs is None:
            return
        mp = self._map[s]
        own = [mp.pop(h)[0] for h in engine_hashes if h in mp]
        self._exact[bs].removed(s, own)
        self.counts["blocks_removed"] += len(own)

    def all_cleared(self, url: str) -> None:
        s = self.slot(url)
        bs = self._exact_bs.get(s)
        if bs is None:
            return
        self._map[s].clear()
        self._exact[bs].cleared(s)
        self.counts["cleared"] += 1

    def mark_exact(self, url: str, block_size: int | None = None) -> None:
        """Route ``url``'s lookups through the exact index from now on (before its
        first event arrives the index is empty: no hits predicted)."""
        s = self.slot(url)
        if s not in self._exact_bs:
            self._exact_for(s, block_size or self.block_size)

    def exact_blocks(self, url: str) -> int:
        """How many engine blocks the exact index holds for ``url``."""
        return len(self._map.get(self.slot(url), {}))

    def is_exact(self, url: str) -> bool:
        return self.slot(url) in self._exact_bs
