"""The telemetry contract shared by the simulator, the router and the detector.

Two record kinds, written as JSON lines with a ``kind`` field:

* ``snapshot`` — :class:`InstanceSnapshot`, what an engine's ``/metrics`` gives at a
  time: gauges (running, waiting, KV usage), counters (prefix-cache queries/hits in
  tokens, preemptions, steps, prompt/generation tokens, busy milliseconds), the last
  step time, ``max_num_seqs``, and the queued prefill tokens the simulator knows
  exactly (a real deployment estimates it). ``stale`` marks an instance that stopped
  answering (its last values are repeated) and ``age_s`` says for how long.
* ``decision`` — :class:`RoutingDecision`, one routing decision: per-candidate
  indicators (cached prefix tokens, queued prefill tokens, batch size, score), the
  choice, the prompt's prefix class (hash of its first block), when known the
  output length, and whether the router applied commit-time updates (its own earlier
  decisions added to the state it routed on; ``None`` when the emitter does not say).

Times are seconds since the start of the run (or Unix time for live sources).

>>> s = InstanceSnapshot(time=1.5, instance=3, num_running=4, num_waiting=1, kv_usage=0.25)
>>> InstanceSnapshot.from_dict(s.to_dict()) == s
True
>>> s.to_dict()["kind"]
'snapshot'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import IO, Iterable

__all__ = ["InstanceSnapshot", "RoutingDecision", "record_from_dict", "write_jsonl", "JsonlWriter"]


class _Record:
    """JSON mapping shared by the record types: ``kind`` plus the dataclass fields;
    unknown keys are ignored when reading (newer writers, extra labels)."""

    kind = "record"

    def to_dict(self) -> dict:
        # the fields are numbers, strings and flat lists of numbers: a shallow copy of each
        # list gives what dataclasses.asdict gives, ~10x faster (records are converted per event)
        out = {"kind": self.kind}
        for name in self.__dataclass_fields__:
            v = getattr(self, name)
            out[name] = list(v) if isinstance(v, list) else v
        return out

    @classmethod
    def from_dict(cls, d: dict):
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class InstanceSnapshot(_Record):
    """Per-instance state at ``time``. Counters are monotone totals (tokens or events)."""

    time: float
    instance: int
    num_running: int
    num_waiting: int
    kv_usage: float
    prefix_cache_queries_total: int = 0
    prefix_cache_hits_total: int = 0
    num_preemptions_total: int = 0
    queued_prefill_tokens: int = 0
    total_tokens: int = 0
    steps_total: int = 0
    prompt_tokens_total: int = 0
    generation_tokens_total: int = 0
    last_step_ms: float = 0.0
    busy_ms_total: float = 0.0
    max_num_seqs: int = 0
    stale: bool = False
    age_s: float = 0.0          # seconds since the instance last answered (scraped sources)

    kind = "snapshot"


@dataclass(frozen=True)
class RoutingDecision(_Record):
    """One routing decision with every candidate's indicators (lists indexed by instance)."""

    time: float
    request_id: int
    chosen: int
    scorer: str
    prompt_tokens: int
    cached_tokens: list[int] = field(default_factory=list)
    queued_prefill_tokens: list[int] = field(default_factory=list)
    batch_size: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    snapshot_age: float = 0.0
    session: str | None = None
    prefix_class: int | None = None
    output_tokens: int | None = None
    commit_updates: bool | None = None  # the router added its own decisions to the (stale) state it scored

    kind = "decision"


def record_from_dict(d: dict) -> InstanceSnapshot | RoutingDecision:
    """Parse one JSON object into its record type by ``kind``; ``ValueError`` otherwise."""
    kind = d.get("kind")
    if kind == "snapshot":
        return InstanceSnapshot.from_dict(d)
    if kind == "decision":
        return RoutingDecision.from_dict(d)
    raise ValueError(f"unknown telemetry record kind {kind!r}")


class JsonlWriter:
    """Appends records as JSON lines; with ``flush_each`` every record is flushed at
    once (nothing lost on a crash), otherwise the file's buffering applies."""

    def __init__(self, fh: IO[str], flush_each: bool = True):
        self._fh = fh
        self._flush_each = flush_each
        self.count = 0

    def write(self, record: InstanceSnapshot | RoutingDecision) -> None:
        self._fh.write(json.dumps(record.to_dict(), separators=(",", ":")) + "\n")
        if self._flush_each:
            self._fh.flush()
        self.count += 1


def write_jsonl(records: Iterable[InstanceSnapshot | RoutingDecision], fh: IO[str]) -> int:
    """Write records as JSON lines; returns how many."""
    w = JsonlWriter(fh)
    for r in records:
        w.write(r)
    return w.count
