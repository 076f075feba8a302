"""Telemetry records shared by simulator, router and detector (see :mod:`.schema`), and
the parser of what real engines expose (:mod:`.engine_metrics`)."""

from .engine_metrics import EngineMetrics, ExpositionError, SlotsState, parse_exposition, parse_props, parse_slots, to_snapshot
from .schema import InstanceSnapshot, JsonlWriter, RoutingDecision, record_from_dict, write_jsonl

__all__ = ["InstanceSnapshot", "RoutingDecision", "JsonlWriter", "record_from_dict", "write_jsonl", "EngineMetrics",
           "ExpositionError", "SlotsState", "parse_exposition", "parse_props", "parse_slots", "to_snapshot"]
