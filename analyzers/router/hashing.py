"""Chained prefix-block hashes of a token sequence, vectorised.

Block ``i`` of a prompt is identified by a hash of the whole prefix ``t[0 : (i+1)B]``
(``B`` the block size), so equal prefixes give equal hash chains and a block's hash
depends on its parent's, as in the engines' own prefix caches. The hash is a
polynomial over the 64-bit integers followed by a finaliser:

    H(L) = sum_{j < L} m(t_j) * b^j   (mod 2^64),   m(t) = (t XOR k) * c  (mod 2^64), c odd,
    h(L) = fmix64(H(L) XOR L * c2)

``H`` at every block end is one ``cumsum`` over the prompt (numpy's unsigned
arithmetic wraps modulo 2^64), and a chain can be *continued* from a parent's raw
``H`` and length (:meth:`BlockHasher.extend`) — what the exact prefix index needs to
map an engine's ``BlockStored`` tokens onto the same chain. ``b`` and ``k`` come from
the seed, so two hashers with the same seed and block size agree. This is a fast
non-cryptographic hash: collisions between honest prompts are ~2^-64 per pair, but a
client who knows the seed could construct them (they would only mislead a routing
hint, never a response).

>>> hasher = BlockHasher(block_size=4, seed=0)
>>> a = hasher.hashes([1, 2, 3, 4, 5, 6, 7, 8, 9])
>>> b = hasher.hashes([1, 2, 3, 4, 5, 6, 7, 0])
>>> len(a), a[0] == b[0], a[1] == b[1]
(2, True, False)
>>> raw, length = hasher.state([1, 2, 3, 4])
>>> hasher.extend(raw, length, [5, 6, 7, 8])[0][0] == a[1]
True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["BlockHasher"]

_C1 = np.uint64(0x9E3779B97F4A7C15)
_C2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)


def _fmix(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser (a bijection on uint64), elementwise."""
    x = x ^ (x >> _S33)
    x = x * _M1
    x = x ^ (x >> _S33)
    x = x * _M2
    return x ^ (x >> _S33)


class BlockHasher:
    """Prefix-block hash chains for one block size; caches the powers of ``b``."""

    def __init__(self, block_size: int = 16, seed: int = 0):
        if not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
        self.block_size = block_size
        g = np.random.default_rng(seed)
        self._base = np.uint64(int(g.integers(1, 2**62)) * 2 + 1)
        self._key = np.uint64(int(g.integers(0, 2**63)))
        self._pow = np.ones(1, dtype=np.uint64)

    def _powers(self, n: int) -> np.ndarray:
        if self._pow.shape[0] < n:
            size = max(n, 2 * self._pow.shape[0])
            p = np.full(size, self._base, dtype=np.uint64)
            p[0] = 1
            self._pow = np.cumprod(p, dtype=np.uint64)
        return self._pow[:n]

    def _terms(self, tokens, offset: int) -> np.ndarray:
        t = np.asarray(tokens, dtype=np.uint64)
        return ((t ^ self._key) * _C1) * self._powers(offset + t.shape[0])[offset:]

    def _finish(self, raw: np.ndarray, lengths: np.ndarray) -> list[int]:
        return _fmix(raw ^ (lengths * _C2)).tolist()

    def hashes(self, tokens: Sequence[int] | np.ndarray) -> list[int]:
        """Hashes of every *full* block of ``tokens`` (Python ints in [0, 2^64))."""
        bs = self.block_size
        n = (len(tokens) // bs) * bs
        if n == 0:
            return []
        raw = np.cumsum(self._terms(tokens[:n], 0), dtype=np.uint64)[bs - 1::bs]
        return self._finish(raw, np.arange(bs, n + 1, bs, dtype=np.uint64))

    def state(self, tokens: Sequence[int] | np.ndarray) -> tuple[int, int]:
        """``(H, L)`` of a whole prefix: what :meth:`extend` continues from."""
        if len(tokens) == 0:
            return 0, 0
        return int(np.sum(self._terms(tokens, 0), dtype=np.uint64)), len(tokens)

    def extend(self, raw: int, length: int, tokens: Sequence[int] | np.ndarray) -> tuple[list[int], list[tuple[int, int]]]:
        """Continue a chain whose prefix has state ``(raw, length)`` by ``tokens``
        (full blocks only): the new blocks' hashes and their ``(H, L)`` states."""
        bs = self.block_size
        n = (len(tokens) // bs) * bs
        if n == 0:
            return [], []
        cum = np.cumsum(self._terms(tokens[:n], length), dtype=np.uint64)[bs - 1::bs] + np.uint64(raw)
        lengths = np.arange(length + bs, length + n + 1, bs, dtype=np.uint64)
        return self._finish(cum, lengths), list(zip(cum.tolist(), lengths.tolist()))
