"""The sidecar: a telemetry source -> the regime monitor -> events, HTTP, router control."""

from .service import Sidecar
from .sources import PrometheusScraper, jsonl_records, parse_metrics

__all__ = ["Sidecar", "PrometheusScraper", "jsonl_records", "parse_metrics"]
