"""Telemetry records shared by simulator, router and detector (see :mod:`.schema`)."""

from .schema import InstanceSnapshot, JsonlWriter, RoutingDecision, record_from_dict, write_jsonl

__all__ = ["InstanceSnapshot", "RoutingDecision", "JsonlWriter", "record_from_dict", "write_jsonl"]
