"""Telemetry records shared by simulator, router and detector (see :mod:`.schema`), and
the parser of what real engines expose (:mod:`.engine_metrics`), and vLLM's KV-cache
events (:mod:`.kv_events`)."""

from .engine_metrics import EngineMetrics, ExpositionError, SlotsState, parse_exposition, parse_props, parse_slots, to_snapshot
from .kv_events import (AllBlocksCleared, BlockRemoved, BlockStored, EventBatch, KVEventError, KVEventSubscriber,
                        decode_message, decode_payload)
from .schema import InstanceSnapshot, JsonlWriter, RoutingDecision, record_from_dict, write_jsonl

__all__ = ["InstanceSnapshot", "RoutingDecision", "JsonlWriter", "record_from_dict", "write_jsonl", "EngineMetrics",
           "ExpositionError", "SlotsState", "parse_exposition", "parse_props", "parse_slots", "to_snapshot",
           "AllBlocksCleared", "BlockRemoved", "BlockStored", "EventBatch", "KVEventError", "KVEventSubscriber",
           "decode_message", "decode_payload"]
