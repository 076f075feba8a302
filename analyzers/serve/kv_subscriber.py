"""Feeding a backend's vLLM KV events into the proxy's exact prefix index.

The ZMQ subscriber (:class:`~analyzers.telemetry.kv_events.KVEventSubscriber`) runs
in its own thread; every decoded batch is handed to the event loop
(``call_soon_threadsafe``), so the prefix index is only ever touched from the loop
thread and batches apply in sequence order. An engine restart (the sequence went
back) clears that backend's index. Batches lost beyond the replay buffer are counted
(``/regimes`` -> ``kv_events``) but nothing is cleared: a lost ``BlockStored`` only
hides a prefix, a lost ``BlockRemoved`` leaves one stale entry until the engine
reuses the block.
"""

from __future__ import annotations

import asyncio

from analyzers.telemetry.kv_events import AllBlocksCleared, BlockRemoved, BlockStored, EventBatch, KVEventSubscriber

__all__ = ["apply_batch", "start_subscriber"]


def apply_batch(tracker, url: str, batch: EventBatch) -> None:
    """Apply one batch of events to ``tracker`` for backend ``url`` (GPU-tier events only).

    >>> from analyzers.serve.prefixes import PrefixTracker
    >>> from analyzers.telemetry.kv_events import decode_batch
    >>> t = PrefixTracker(block_size=2)
    >>> apply_batch(t, "http://e", decode_batch([0.0, [{"type": "BlockStored", "block_hashes": [7, 8],
    ...                                                  "parent_block_hash": None, "token_ids": [1, 2, 3, 4]}]]))
    >>> t.exact_blocks("http://e"), t.cached([1, 2, 3, 4, 5], ["http://e"]).tolist()
    (2, [4.0])
    """
    for e in batch.events:
        if isinstance(e, BlockStored):
            if e.medium not in (None, "GPU", "gpu"):
                continue  # offloaded tiers (CPU, disk) are not the engine's prefix cache proper
            tracker.block_stored(url, e.block_hashes, e.parent_block_hash, e.token_ids, e.block_size)
        elif isinstance(e, BlockRemoved):
            if e.medium not in (None, "GPU", "gpu"):
                continue
            tracker.block_removed(url, e.block_hashes)
        elif isinstance(e, AllBlocksCleared):
            tracker.all_cleared(url)


async def start_subscriber(proxy, url: str, spec: dict) -> asyncio.Task:
    """Start the subscriber thread for ``url``; the returned task stops it when cancelled."""
    loop = asyncio.get_running_loop()
    tracker = proxy.tracker
    tracker.mark_exact(url)

    def on_batch(batch):
        loop.call_soon_threadsafe(apply_batch, tracker, url, batch)

    def on_restart():
        loop.call_soon_threadsafe(tracker.all_cleared, url)
        loop.call_soon_threadsafe(proxy.log, f"backend {url}: KV-event sequence went back (engine restart); index cleared")

    sub = KVEventSubscriber(spec["endpoint"], on_batch, replay_endpoint=spec.get("replay"), restart=on_restart,
                            bind=bool(spec.get("bind")))
    proxy.kv_subscribers[url] = sub
    sub.start()

    async def keep():
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.get_running_loop().run_in_executor(None, sub.stop)

    return asyncio.create_task(keep())
