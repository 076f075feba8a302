"""vLLM KV events: decoding real captures, both encodings, the exact prefix index, and a
real pyzmq PUB + replay ROUTER publisher for gaps and restarts."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from analyzers.serve.kv_subscriber import apply_batch
from analyzers.serve.prefixes import PrefixTracker
from analyzers.telemetry.kv_events import (AllBlocksCleared, BlockRemoved, BlockStored, KVEventError, KVEventSubscriber,
                                           decode_batch, decode_message, decode_payload)
from tests.serve_fakes import wait_until

FIX = Path(__file__).parent / "fixtures" / "kv_events"
URL = "http://engine:8000"


def _positional(ev: dict) -> list:
    """A tagged map re-encoded as msgspec's positional tagged array (array_like=True)."""
    order = {"BlockStored": ("block_hashes", "parent_block_hash", "token_ids", "block_size", "lora_id", "medium"),
             "BlockRemoved": ("block_hashes", "medium"), "AllBlocksCleared": ()}[ev["type"]]
    return [ev["type"], *[ev.get(k) for k in order]]


def test_real_vllm_batch_decodes():
    raw = (FIX / "vllm_real_kv_batch_first.msgpack").read_bytes()
    b = decode_payload(raw)
    assert len(b.events) == 1 and isinstance(b.events[0], BlockStored)
    e = b.events[0]
    # from the capture: 3 blocks of 128 tokens, no parent, u64 hashes (vllm_real_kv_events.json, batch seq 0)
    assert len(e.block_hashes) == 3 and e.parent_block_hash is None and len(e.token_ids) == 384 and e.block_size == 128
    cap = json.loads((FIX / "vllm_real_kv_events.json").read_text())
    assert e.block_hashes == cap[0]["decoded"][1][0]["block_hashes"]
    assert raw.hex().startswith(cap[0]["payload_hex_head"]) and len(raw) == cap[0]["payload_len"]
    for m in cap:  # both captured batches through the frame decoder
        frames = [m["topic"].encode(), m["seq"].to_bytes(8, "big"), msgpack.packb(m["decoded"])]
        topic, seq, batch = decode_message(frames)
        assert (topic, seq) == ("kv-events", m["seq"]) and len(batch.events) == 1


def test_vllm033_sample_both_encodings():
    b = decode_payload((FIX / "vllm033_kv_event_batch_sample.msgpack").read_bytes())
    assert [type(e) for e in b.events] == [BlockStored, BlockRemoved, AllBlocksCleared] and b.dp_rank == 0
    doc = json.loads((FIX / "vllm033_kv_event_batch_sample.json").read_text())
    pos = decode_batch([doc[0], [_positional(e) for e in doc[1]], doc[2]])
    assert pos.events == b.events
    # 32-byte sha256 hashes decode to the same ints as their big-endian value
    h = [x.to_bytes(32, "big") for x in doc[1][0]["block_hashes"]]
    e = decode_batch([0.0, [{**doc[1][0], "block_hashes": h}]]).events[0]
    assert e.block_hashes == doc[1][0]["block_hashes"]


@pytest.mark.parametrize("payload,needle", [
    (b"", "not msgpack"), (msgpack.packb({"a": 1}), "a batch must be"), (msgpack.packb([1.0, "x"]), "a batch must be"),
    (msgpack.packb([1.0, [7]]), "must be a map or a tagged array"),
    (msgpack.packb([1.0, [{"type": "BlockStored", "block_hashes": "x", "token_ids": []}]]), "block_hashes must be a list"),
    (msgpack.packb([1.0, [{"type": "BlockStored", "block_hashes": [1.5], "token_ids": []}]]), "int or bytes"),
    (msgpack.packb([1.0, [{"type": "BlockStored", "block_hashes": [1], "token_ids": [-1]}]]), "token_ids"),
    (msgpack.packb([1.0, [{"no": "type"}]]), "no type tag"),
])
def test_malformed_payloads_raise_one_line(payload, needle):
    with pytest.raises(KVEventError) as exc:
        decode_payload(payload)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_unknown_event_types_are_skipped():
    assert decode_batch([1.0, [{"type": "SomethingNew"}, ["AllBlocksCleared"]]]).events == [AllBlocksCleared()]


def test_exact_index_maps_engine_blocks_onto_prompt_hashes():
    """The real BlockStored (3 x 128 tokens) makes a prompt starting with those tokens hit
    exactly 3 blocks (capped at prompt - 1); removals and a clear take them away."""
    ev = decode_payload((FIX / "vllm_real_kv_batch_first.msgpack").read_bytes())
    tokens = list(ev.events[0].token_ids)
    t = PrefixTracker(block_size=16)
    t.mark_exact(URL)
    apply_batch(t, URL, ev)
    assert t.exact_blocks(URL) == 3
    assert t.cached(tokens + [5, 6, 7], [URL]).tolist() == [384.0]
    assert t.cached(tokens, [URL]).tolist() == [256.0]          # capped at 383 -> whole 128-blocks: 256
    assert t.cached(tokens[:200] + [9] * 300, [URL]).tolist() == [128.0]
    # a child block continues the chain from its parent's state
    child = [11] * 128
    apply_batch(t, URL, decode_batch([0.0, [{"type": "BlockStored", "block_hashes": [42], "token_ids": child,
                                                 "parent_block_hash": ev.events[0].block_hashes[-1], "block_size": 128}]]))
    assert t.cached(tokens + child + [1], [URL]).tolist() == [512.0]
    apply_batch(t, URL, decode_batch([0.0, [["BlockRemoved", [ev.events[0].block_hashes[1]], "GPU"]]]))
    assert t.cached(tokens + child + [1], [URL]).tolist() == [128.0]  # the chain breaks at the removed block
    apply_batch(t, URL, decode_batch([0.0, [["AllBlocksCleared"]]]))
    assert t.cached(tokens + [1], [URL]).tolist() == [0.0] and t.exact_blocks(URL) == 0
    # a block whose parent was never seen cannot be placed: counted, skipped
    apply_batch(t, URL, decode_batch([0.0, [{"type": "BlockStored", "block_hashes": [43], "token_ids": child,
                                                 "parent_block_hash": 999, "block_size": 128}]]))
    assert t.counts["unknown_parent"] == 1 and t.exact_blocks(URL) == 0


class FakePublisher:
    """vLLM's ZmqEventPublisher in miniature: PUB for live batches, ROUTER replaying its buffer."""

    def __init__(self):
        self.ctx = zmq.Context()
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind("tcp://127.0.0.1:*")
        self.endpoint = self.pub.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind("tcp://127.0.0.1:*")
        self.replay_endpoint = self.router.getsockopt(zmq.LAST_ENDPOINT).decode()
        self.buffer: dict[int, bytes] = {}
        self.replay_requests = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(50):
                continue
            ident, _, start = self.router.recv_multipart()
            start = int.from_bytes(start, "big", signed=True)
            self.replay_requests.append(start)
            for s in sorted(k for k in self.buffer if k >= start):
                self.router.send_multipart([ident, b"", s.to_bytes(8, "big", signed=True), self.buffer[s]])
            self.router.send_multipart([ident, b"", (-1).to_bytes(8, "big", signed=True), b""])

    def publish(self, seq: int, events: list, send: bool = True):
        payload = msgpack.packb([time.time(), events, 0])
        self.buffer[seq] = payload
        if send:
            self.pub.send_multipart([b"kv-events", seq.to_bytes(8, "big", signed=True), payload])

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.pub.close()
        self.router.close()
        self.ctx.term()


def _stored(h: int, parent, tokens):
    return {"type": "BlockStored", "block_hashes": [h], "parent_block_hash": parent, "token_ids": tokens, "block_size": 4}


def test_subscriber_replays_gaps_and_detects_restarts():
    pub = FakePublisher()
    applied, restarts = [], []
    sub = KVEventSubscriber(pub.endpoint, applied.append, replay_endpoint=pub.replay_endpoint,
                            restart=lambda: restarts.append(1)).start()
    try:
        assert sub.connected.wait(5)
        # slow joiner: repeat seq 0 until it is heard (repeats count as duplicates)
        pub.publish(0, [_stored(100, None, [1, 2, 3, 4])])
        assert wait_until(lambda: (pub.pub.send_multipart([b"kv-events", (0).to_bytes(8, "big"), pub.buffer[0]])
                                   or sub.counts["batches"] >= 1), 5.0, 0.05)
        pub.publish(1, [_stored(101, 100, [5, 6, 7, 8])])
        pub.publish(2, [_stored(102, 101, [9, 9, 9, 9])], send=False)   # lost on the wire, kept in the buffer
        pub.publish(3, [["BlockRemoved", [100], "GPU"]])
        assert wait_until(lambda: sub.counts["batches"] == 3, 5.0)
        assert sub.counts["gaps"] == 1 and sub.counts["replayed"] == 1 and sub.counts["lost"] == 0
        assert pub.replay_requests == [2]
        hashes = [e.block_hashes[0] for b in applied for e in b.events]
        assert hashes == [100, 101, 102, 100]  # the replayed batch applied in order, before seq 3
        pub.publish(0, [_stored(200, None, [1, 1, 1, 1])])  # a restarted engine starts again at 0
        assert wait_until(lambda: restarts == [1], 5.0) and sub.counts["restarts"] == 1
        pub.pub.send_multipart([b"kv-events", (1).to_bytes(8, "big"), b"\xc1garbage"])
        assert wait_until(lambda: sub.counts["bad"] == 1, 5.0)
    finally:
        sub.stop()
        pub.close()


def test_proxy_routes_on_the_exact_index(tmp_path):
    """End to end: a backend's published BlockStored (the engine's view) is what the
    proxy's decision record reports as that backend's cached tokens, and it wins."""
    from analyzers.serve.prompts import approx_tokens
    from analyzers.serve.proxy import ServeConfig
    from analyzers.telemetry.schema import record_from_dict
    from tests.serve_fakes import FakeBackend, ProxyThread

    fakes = [FakeBackend(f"b{i}").start() for i in range(2)]
    pub = FakePublisher()
    tel = tmp_path / "t.jsonl"
    cfg = ServeConfig(backends=[f.url for f in fakes], telemetry=str(tel), scrape_interval=5.0, health_interval=5.0,
                      kv_events={fakes[1].url: {"endpoint": pub.endpoint, "replay": pub.replay_endpoint}})
    px = ProxyThread(cfg).start()
    try:
        prompt = "The quick brown fox jumps over the lazy dog. " * 8          # 360 bytes -> 90 approx tokens
        toks = approx_tokens(prompt).tolist()
        ev = [{"type": "BlockStored", "block_hashes": [1000 + i for i in range(5)], "parent_block_hash": None,
               "token_ids": toks[:80], "block_size": 16}]                      # the engine caches 5 blocks of 16
        pub.publish(0, ev)
        assert wait_until(lambda: (pub.pub.send_multipart([b"kv-events", (0).to_bytes(8, "big"), pub.buffer[0]])
                                   or px.proxy.tracker.exact_blocks(fakes[1].url) == 5), 5.0, 0.05)
        import httpx

        r = httpx.post(px.url + "/v1/completions", json={"prompt": prompt + "and then?"}, timeout=10)
        assert r.json()["choices"][0]["text"] == "from b1"
        dec = [record_from_dict(json.loads(ln)) for ln in tel.read_text().splitlines() if '"decision"' in ln][-1]
        assert dec.cached_tokens == [0, 80] and dec.chosen == 1
        reg = httpx.get(px.url + "/regimes", timeout=10).json()
        assert reg["prefix_index"]["exact"] == {fakes[1].url: 5}
    finally:
        px.stop()
        pub.close()
        for f in fakes:
            f.stop()


def test_subscriber_binds_when_the_engine_connects():
    """vLLM's PUB connects when its endpoint is not a wildcard; the subscriber then binds."""
    import socket

    with socket.socket() as s:  # a free loopback port for the subscriber to bind
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    applied = []
    sub = KVEventSubscriber(endpoint, applied.append, bind=True).start()
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    try:
        assert sub.connected.wait(5)
        pub.connect(endpoint)
        payload = msgpack.packb([time.time(), [_stored(7, None, [1, 2, 3, 4])], 0])
        # slow joiner: repeat seq 0 until it is heard (repeats count as duplicates)
        assert wait_until(lambda: pub.send_multipart([b"kv-events", (0).to_bytes(8, "big"), payload])
                          or sub.counts["batches"] >= 1, 5.0, 0.05)
        assert applied[0].events[0].block_hashes == [7] and sub.last_error is None
    finally:
        sub.stop()
        pub.close()
        ctx.term()


def test_kv_events_spec_accepts_bind_and_rejects_unknown_options():
    import argparse

    from analyzers.serve.cli import _kv_spec

    url, spec = _kv_spec("http://127.0.0.1:8000=tcp://127.0.0.1:5557,replay=tcp://127.0.0.1:5558,bind")
    assert spec == {"endpoint": "tcp://127.0.0.1:5557", "replay": "tcp://127.0.0.1:5558", "bind": True}
    assert _kv_spec("http://127.0.0.1:8000=tcp://127.0.0.1:5557")[1]["bind"] is False
    with pytest.raises(argparse.ArgumentTypeError, match="replay=tcp://HOST:PORT or bind"):
        _kv_spec("http://127.0.0.1:8000=tcp://127.0.0.1:5557,bind=yes")
