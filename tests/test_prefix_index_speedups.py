"""The fast prefix indexes against the plain reference implementation they replaced: same
matches, same LRU contents, on random workloads (the approximate index's group masks, with
groups of 1, 3, 4 and 16 blocks, evictions and trims), plus the one case the group masks
must not be trusted (a partial eviction inside a group)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers.router.hashing import BlockHasher
from analyzers.router.prefix_index import ApproxPrefixIndex, ExactPrefixIndex


class _RefApprox:
    """The pre-speed-up ApproxPrefixIndex, verbatim in behaviour."""

    def __init__(self, n, cap):
        self.n, self.cap = n, cap
        self.holders: dict[int, int] = {}
        self.lru = [OrderedDict() for _ in range(n)]

    def match(self, hashes, limit=None):
        out = np.zeros(self.n, dtype=np.int64)
        alive = (1 << self.n) - 1
        n = len(hashes) if limit is None else min(limit, len(hashes))
        i = 0
        while i < n and alive:
            m = self.holders.get(hashes[i], 0)
            dead = alive & ~m
            while dead:
                low = dead & -dead
                out[low.bit_length() - 1] = i
                dead ^= low
            alive &= m
            i += 1
        while alive:
            low = alive & -alive
            out[low.bit_length() - 1] = i
            alive ^= low
        return out

    def insert(self, inst, hashes):
        lru = self.lru[inst]
        for h in hashes:
            if h in lru:
                lru.move_to_end(h)
            else:
                lru[h] = None
                self.holders[h] = self.holders.get(h, 0) | (1 << inst)
        self.trim(inst, self.cap)

    def trim(self, inst, keep):
        lru, n = self.lru[inst], 0
        while len(lru) > keep:
            old, _ = lru.popitem(last=False)
            m = self.holders[old] & ~(1 << inst)
            if m:
                self.holders[old] = m
            else:
                del self.holders[old]
            n += 1
        return n


ops = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 7), st.integers(1, 90), st.integers(0, 200)),
               min_size=1, max_size=40)


@given(ops=ops, cap=st.integers(1, 120), n=st.integers(1, 6), group=st.sampled_from([16, 1, 3, 4]))
def test_fast_approx_index_equals_reference(ops, cap, n, group):
    """Group sizes 1, 3 and 4 put many group boundaries (and evictions that break
    groups) into prompts of at most 90 blocks; 16 is the default."""
    fast, ref = ApproxPrefixIndex(n, cap, group_blocks=group), _RefApprox(n, cap)
    # prompts: one of 8 "conversations" truncated at a random length; blocks chain through a shared system part
    convs = [[10_000 + j for j in range(20)] + [c * 1000 + j for j in range(70)] for c in range(8)]
    for inst, conv, length, limit in ops:
        inst %= n
        hashes = convs[conv][:length]
        assert fast.match(hashes, limit).tolist() == ref.match(hashes, limit).tolist()
        assert fast.match(hashes).tolist() == ref.match(hashes).tolist()
        fast.insert(inst, hashes, present=int(fast.match(hashes)[inst]))  # as the router calls it
        ref.insert(inst, hashes)
        assert list(fast._lru[inst]) == list(ref.lru[inst])
        assert fast.holders() == ref.holders
        if limit % 7 == 0:  # the proxy's correction path, on both
            assert fast.trim(inst, cap // 2) == ref.trim(inst, cap // 2)
        for other in convs:  # every conversation, at every length that ends a group or not
            for cut in (len(other), 47, 48, 20, 5):
                assert fast.match(other[:cut]).tolist() == ref.match(other[:cut]).tolist()


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 3), st.lists(st.integers(0, 30), max_size=30)), max_size=30),
       st.lists(st.integers(0, 30), max_size=40))
def test_fast_match_on_arbitrary_holder_patterns(events, query):
    """Non-monotone holder sets (an exact index with holes) match like the reference walk."""
    fast, ref = ExactPrefixIndex(4), _RefApprox(4, 10**9)
    for store, inst, hs in events:
        (fast.stored if store else fast.removed)(inst, hs)
    ref.holders = dict(fast._holders)
    assert fast.match(query).tolist() == ref.match(query).tolist()


def test_block_hasher_chains_and_extends():
    h = BlockHasher(16, seed=3)
    toks = np.arange(1000, dtype=np.uint32)
    full = h.hashes(toks)
    assert len(full) == 62 and len(set(full)) == 62
    raw, length = h.state(toks[:320])
    ext, states = h.extend(raw, length, toks[320:992])
    assert ext == full[20:] and states[-1][1] == 992
    other = toks.copy()
    other[500] += 1
    oh = h.hashes(other)
    assert oh[:31] == full[:31] and all(a != b for a, b in zip(oh[31:], full[31:]))  # 500 // 16 = 31
    assert BlockHasher(16, seed=4).hashes(toks) != full


def test_group_bit_not_trusted_after_a_partial_eviction():
    """Blocks 0-7 of a prompt in groups of 4; evicting its 6 oldest blocks leaves group 1
    (blocks 4-7) with its bit set but blocks 4 and 5 gone. Re-sending blocks 0-3 makes
    group 0 whole again, so only the front rule (the LRU front, block 6, sits inside
    group 1) stops the lookup from claiming all 8 blocks: the true match is 4."""
    prompt = [100 + j for j in range(8)]
    idx, ref = ApproxPrefixIndex(2, 100, group_blocks=4), _RefApprox(2, 100)
    for index in (idx, ref):
        index.insert(0, prompt)
        assert index.trim(0, 2) == 6
        index.insert(0, prompt[:4])
    assert ref.match(prompt).tolist() == [4, 0]
    assert idx.match(prompt).tolist() == [4, 0]
    idx.insert(0, prompt)  # the whole prompt again: all 8
    assert idx.match(prompt).tolist() == [8, 0] and idx.size(0) == 8


def test_approx_index_rejects_bad_sizes_and_reports_holders():
    with pytest.raises(ValueError):
        ApproxPrefixIndex(2, 10, group_blocks=0)
    with pytest.raises(ValueError):
        ApproxPrefixIndex(2, 0)
    idx = ApproxPrefixIndex(3, 10)
    idx.insert(0, [1, 2])
    idx.insert(2, [1, 5])
    assert idx.holders() == {1: 0b101, 2: 0b001, 5: 0b100} and len(idx) == 3
