"""The sidecar: a telemetry source -> the regime monitor -> events, HTTP, router control."""

from .service import Sidecar, resume_offset
from .sources import JsonlSource, PrometheusScraper, TargetStatus, check_url, jsonl_records, parse_metrics
from .text import class_label, transition_line

__all__ = ["Sidecar", "resume_offset", "JsonlSource", "PrometheusScraper", "TargetStatus", "check_url",
           "jsonl_records", "parse_metrics", "class_label", "transition_line"]
