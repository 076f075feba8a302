"""Workload requests (immutable) and their per-request results.

A trace gives prefix-chained block ids at its own granularity (Mooncake: 512 tokens,
WEKA: 64, synthetic: 16). The engine caches 16-token blocks, so an id ``h`` of a
``g``-token block expands into ``g/16`` sub-blocks ``(h, 0..g/16-1)``; only full
16-token blocks of the prompt get a hash (the last block is partial).

>>> r = Request(rid=0, arrival=0.0, prompt_len=1100, output_len=10, hash_ids=(7, 9, 4), hash_block=512)
>>> len(r.block_hashes())   # 1100 // 16 full blocks
68
>>> r.block_hashes()[:2] == [encode_hash(0, 7, 0, 32), encode_hash(0, 7, 1, 32)]
True
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Request", "RequestResult", "encode_hash", "BLOCK_SIZE"]

BLOCK_SIZE = 16


def encode_hash(namespace: int, block_id: int, sub: int, subs_per_block: int) -> int:
    """One integer per 16-token block: namespace, trace block id and sub-block index."""
    return ((namespace << 40) + block_id) * subs_per_block + sub


@dataclass(frozen=True, slots=True)
class Request:
    """One request of a workload. ``arrival`` in seconds; ``hash_ids`` at ``hash_block``
    tokens per id; ``namespace`` keeps ids of different conversations apart."""

    rid: int
    arrival: float
    prompt_len: int
    output_len: int
    hash_ids: tuple[int, ...] = ()
    hash_block: int = BLOCK_SIZE
    namespace: int = 0
    session: str | None = None

    def block_hashes(self) -> list[int]:
        """Hashes of the prompt's full 16-token blocks, prefix-chained via the trace ids."""
        n_full = self.prompt_len // BLOCK_SIZE
        per = self.hash_block // BLOCK_SIZE
        ns = self.namespace
        out = [((ns << 40) + h) * per + s for h in self.hash_ids for s in range(per)]
        return out[:n_full]


@dataclass(frozen=True, slots=True)
class RequestResult:
    """What happened to one request. Times in seconds; ``None`` where not reached.

    ``ttft`` = first token − arrival; ``tpot`` = (finish − first token)/(output − 1);
    ``queue_delay`` = first scheduled − arrival; ``rejected`` names why a request was
    refused (e.g. prompt + output longer than ``max_model_len`` or the KV capacity).
    """

    rid: int
    instance: int
    arrival: float
    prompt_len: int
    output_len: int
    cached_tokens: int
    first_scheduled: float | None
    first_token: float | None
    finish: float | None
    preemptions: int
    rejected: str = ""

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.arrival

    @property
    def tpot(self) -> float | None:
        if self.finish is None or self.first_token is None or self.output_len <= 1:
            return None
        return (self.finish - self.first_token) / (self.output_len - 1)

    @property
    def e2e(self) -> float | None:
        return None if self.finish is None else self.finish - self.arrival

    @property
    def queue_delay(self) -> float | None:
        return None if self.first_scheduled is None else self.first_scheduled - self.arrival
