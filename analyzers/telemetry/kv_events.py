"""vLLM KV-cache events over ZMQ: decoding, and a subscriber that keeps up with gaps and restarts.

Wire format (vLLM ``ZmqEventPublisher``): each message has three frames — topic
(bytes), sequence number (8 bytes, big-endian, signed) and a msgpack payload
``[ts, [event, ...], data_parallel_rank?]``. Events come in two encodings:

* tagged maps (current vLLM): ``{"type": "BlockStored", "block_hashes": [...], ...}``;
* positional tagged arrays (msgspec ``array_like``): ``["BlockStored", block_hashes,
  parent_block_hash, token_ids, block_size, lora_id, medium, ...]``,
  ``["BlockRemoved", block_hashes, medium]``, ``["AllBlocksCleared"]``.

Block hashes are ints or 32-byte ``bytes`` (sha256 hashing); bytes are read as
big-endian integers, so both kinds are plain ints downstream.

Replay (vLLM's ``replay_endpoint``, a ROUTER socket): a DEALER sends the first wanted
sequence number (8 bytes, big-endian); the publisher answers with
``[b"", seq, payload]`` frames from its buffer and ends with ``seq = -1`` and an
empty payload. Sequence numbers are per publisher and start at 0; a number lower
than the last seen means the engine restarted (its cache is empty now).

>>> import msgpack
>>> payload = msgpack.packb([1.5, [{"type": "BlockStored", "block_hashes": [7, 8], "parent_block_hash": None,
...                                  "token_ids": [1, 2, 3, 4], "block_size": 2}, ["BlockRemoved", [7], "GPU"],
...                                 ["AllBlocksCleared"]], 0])
>>> batch = decode_payload(payload)
>>> [type(e).__name__ for e in batch.events], batch.events[0].block_hashes, batch.events[1].block_hashes
(['BlockStored', 'BlockRemoved', 'AllBlocksCleared'], [7, 8], [7])
>>> decode_payload(b"\\xc1")
Traceback (most recent call last):
...
analyzers.telemetry.kv_events.KVEventError: payload is not msgpack (FormatError)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import msgpack

__all__ = ["BlockStored", "BlockRemoved", "AllBlocksCleared", "EventBatch", "KVEventError", "decode_payload",
           "decode_message", "SequenceTracker", "KVEventSubscriber", "replay"]


class KVEventError(ValueError):
    """A message that cannot be decoded (one-line reason)."""


@dataclass(frozen=True)
class BlockStored:
    block_hashes: list[int]
    parent_block_hash: int | None
    token_ids: list[int]
    block_size: int | None = None
    lora_id: int | None = None
    medium: str | None = None


@dataclass(frozen=True)
class BlockRemoved:
    block_hashes: list[int]
    medium: str | None = None


@dataclass(frozen=True)
class AllBlocksCleared:
    pass


@dataclass(frozen=True)
class EventBatch:
    ts: float
    events: list
    dp_rank: int | None = None


def _hash(h, what: str) -> int:
    if isinstance(h, bool):
        raise KVEventError(f"{what}: a hash must be an int or bytes, got bool")
    if isinstance(h, int):
        return h
    if isinstance(h, (bytes, bytearray)) and 0 < len(h) <= 64:
        return int.from_bytes(h, "big")
    raise KVEventError(f"{what}: a hash must be an int or bytes, got {type(h).__name__}")


def _hashes(v, what: str) -> list[int]:
    if not isinstance(v, (list, tuple)):
        raise KVEventError(f"{what}: block_hashes must be a list")
    return [_hash(h, what) for h in v]


def _ints(v, what: str) -> list[int]:
    if not isinstance(v, (list, tuple)) or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in v):
        raise KVEventError(f"{what}: token_ids must be a list of non-negative ints")
    return list(v)


_POSITIONAL = {"BlockStored": ("block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id", "medium"),
               "BlockRemoved": ("block_hashes", "medium"), "AllBlocksCleared": ()}


def decode_event(e):
    """One event (tagged map or positional tagged array) -> a typed event; ``None``
    for an event type this module does not use (counted by callers)."""
    if isinstance(e, dict):
        tag, fields = e.get("type"), e
    elif isinstance(e, (list, tuple)) and e and isinstance(e[0], str):
        tag = e[0]
        names = _POSITIONAL.get(tag)
        if names is None:
            return None
        fields = dict(zip(names, e[1:]))
    else:
        raise KVEventError(f"an event must be a map or a tagged array, got {type(e).__name__}")
    if tag == "BlockStored":
        parent = fields.get("parent_block_hash")
        bs = fields.get("block_size")
        if bs is not None and (not isinstance(bs, int) or isinstance(bs, bool) or bs <= 0):
            raise KVEventError("BlockStored: block_size must be a positive int")
        return BlockStored(_hashes(fields.get("block_hashes"), tag), None if parent is None else _hash(parent, tag),
                           _ints(fields.get("token_ids"), tag), bs, fields.get("lora_id"),
                           fields.get("medium") if isinstance(fields.get("medium"), str) else None)
    if tag == "BlockRemoved":
        return BlockRemoved(_hashes(fields.get("block_hashes"), tag),
                            fields.get("medium") if isinstance(fields.get("medium"), str) else None)
    if tag == "AllBlocksCleared":
        return AllBlocksCleared()
    if isinstance(tag, str):
        return None
    raise KVEventError("an event has no type tag")


def decode_payload(payload: bytes) -> EventBatch:
    """msgpack ``[ts, [events], dp_rank?]`` -> :class:`EventBatch` (unknown event
    types dropped); :class:`KVEventError` on anything malformed."""
    try:
        obj = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, TypeError) as exc:
        raise KVEventError(f"payload is not msgpack ({type(exc).__name__}{': ' + str(exc)[:80] if str(exc) else ''})") from None
    return decode_batch(obj)


def decode_batch(obj) -> EventBatch:
    """An already unpacked batch -> :class:`EventBatch`."""
    if not isinstance(obj, (list, tuple)) or len(obj) not in (2, 3):
        raise KVEventError("a batch must be [ts, [events], dp_rank?]")
    ts, events = obj[0], obj[1]
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not isinstance(events, (list, tuple)):
        raise KVEventError("a batch must be [ts, [events], dp_rank?]")
    dp = obj[2] if len(obj) == 3 and isinstance(obj[2], int) and not isinstance(obj[2], bool) else None
    out = [d for d in (decode_event(e) for e in events) if d is not None]
    return EventBatch(float(ts), out, dp)


def decode_message(frames) -> tuple[str, int, EventBatch]:
    """The three ZMQ frames ``[topic, seq, payload]`` -> ``(topic, seq, batch)``."""
    if len(frames) != 3:
        raise KVEventError(f"expected 3 frames (topic, seq, payload), got {len(frames)}")
    topic, seq, payload = (bytes(f) for f in frames)
    if len(seq) != 8:
        raise KVEventError(f"sequence frame must be 8 bytes, got {len(seq)}")
    return topic.decode("utf-8", "replace"), int.from_bytes(seq, "big", signed=True), decode_payload(payload)


class SequenceTracker:
    """What a new sequence number means, given the last one seen; ``observe`` also
    records it.

    >>> t = SequenceTracker()
    >>> [t.observe(s)[0] for s in (0, 1, 3, 3, 0)]
    ['ok', 'ok', 'gap', 'duplicate', 'restart']
    """

    def __init__(self):
        self.last: int | None = None

    def classify(self, seq: int) -> str:
        last = self.last
        if last is None or seq == last + 1:
            return "ok"
        if seq > last + 1:
            return "gap"
        return "duplicate" if seq == last else "restart"

    def observe(self, seq: int) -> tuple[str, int | None]:
        """``(kind, previous last)``; a duplicate leaves ``last`` as it was."""
        kind, prev = self.classify(seq), self.last
        if kind != "duplicate":
            self.last = seq
        return kind, prev


def replay(ctx, endpoint: str, start_seq: int, timeout_s: float = 2.0, max_messages: int = 100_000):
    """Ask a publisher's replay ROUTER for every buffered batch from ``start_seq``:
    returns ``[(seq, payload), ...]`` (possibly empty); bounded by ``timeout_s`` per
    reply and ``max_messages``."""
    import zmq

    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    out = []
    try:
        sock.connect(endpoint)
        sock.send_multipart([b"", start_seq.to_bytes(8, "big", signed=True)])
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        while len(out) < max_messages:
            if not poller.poll(int(timeout_s * 1000)):
                break
            frames = sock.recv_multipart()
            if len(frames) < 3:
                continue
            seq = int.from_bytes(frames[-2], "big", signed=True)
            if seq == -1 or not frames[-1]:
                break
            out.append((seq, frames[-1]))
    finally:
        sock.close()
    return out


class KVEventSubscriber:
    """A SUB socket on one publisher, in a daemon thread.

    Calls ``apply(batch)`` for every batch in sequence order, ``restart()`` when the
    sequence goes back (the engine restarted: its cache is empty), and on a gap
    fetches the missing batches from ``replay_endpoint`` (when given) before going
    on; batches that could not be recovered are counted in ``counts["lost"]`` and
    ``resync(lost)`` is called so the caller can drop what it can no longer trust.
    Malformed messages are counted (``counts["bad"]``) and skipped.

    ``bind``: vLLM's publisher *binds* when its endpoint is a wildcard (``tcp://*:5557``)
    and *connects* otherwise (``tcp://router-host:5557``); in the second case the
    subscriber must bind that address (``bind=True``). The replay socket always binds
    on the engine's side."""

    def __init__(self, endpoint: str, apply: Callable[[EventBatch], None], *, replay_endpoint: str | None = None,
                 restart: Callable[[], None] | None = None, resync: Callable[[int], None] | None = None,
                 topic: str = "", poll_ms: int = 100, bind: bool = False):
        self.endpoint, self.replay_endpoint = endpoint, replay_endpoint
        self.bind = bind
        self.apply, self.restart, self.resync = apply, restart, resync
        self.topic = topic
        self.poll_ms = poll_ms
        self.seq = SequenceTracker()
        self.counts: dict[str, int] = {"batches": 0, "bad": 0, "gaps": 0, "replayed": 0, "lost": 0, "restarts": 0,
                                       "duplicates": 0}
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> "KVEventSubscriber":
        self._thread = threading.Thread(target=self._run, name=f"kv-events {self.endpoint}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _bump(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def handle(self, seq: int, payload: bytes, ctx=None) -> None:
        """Apply one message (also the entry point for tests without sockets)."""
        try:
            batch = decode_payload(payload)
        except KVEventError as exc:
            self._bump("bad")
            self.last_error = str(exc)
            self.seq.observe(seq)
            return
        kind, prev = self.seq.observe(seq)
        if kind == "duplicate":
            self._bump("duplicates")
            return
        first_missing = None
        if kind == "restart":
            self._bump("restarts")
            if self.restart is not None:
                self.restart()
            if seq > 0:
                first_missing = 0  # the new engine published before we heard it
        elif kind == "gap":
            self._bump("gaps")
            first_missing = prev + 1
        if first_missing is not None:
            self._recover(first_missing, seq, ctx)
        self.apply(batch)
        self._bump("batches")

    def _recover(self, first: int, seq: int, ctx) -> None:
        """Replay batches ``first .. seq - 1``; count and report what stays lost."""
        got = []
        if self.replay_endpoint and ctx is not None:
            got = [(s, p) for s, p in replay(ctx, self.replay_endpoint, first) if first <= s < seq]
        have = set()
        for s, p in sorted(got):
            if s in have:
                continue
            try:
                b = decode_payload(p)
            except KVEventError:
                self._bump("bad")
                continue
            self.apply(b)
            have.add(s)
            self._bump("replayed")
        lost = (seq - first) - len(have)
        if lost > 0:
            self._bump("lost", lost)
            if self.resync is not None:
                self.resync(lost)

    def _run(self) -> None:
        import zmq

        ctx = zmq.Context()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, self.topic.encode())
        try:
            (sub.bind if self.bind else sub.connect)(self.endpoint)
            self.connected.set()
            poller = zmq.Poller()
            poller.register(sub, zmq.POLLIN)
            while not self._stop.is_set():
                if not poller.poll(self.poll_ms):
                    continue
                frames = sub.recv_multipart()
                if len(frames) != 3 or len(frames[1]) != 8:
                    self._bump("bad")
                    self.last_error = f"expected 3 frames with an 8-byte sequence, got {len(frames)} frames"
                    continue
                self.handle(int.from_bytes(frames[1], "big", signed=True), frames[2], ctx)
        except zmq.ZMQError as exc:
            self.last_error = f"{type(exc).__name__}: {exc}"
        finally:
            sub.close()
            ctx.term()
