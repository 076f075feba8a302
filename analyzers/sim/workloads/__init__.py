"""Workloads: bundled real traces, seeded generators fitted to published statistics,
replay transforms and workload statistics."""

from .errors import WorkloadError
from .registry import WORKLOADS, load_trace_file, load_workload, transform
from .stats import WorkloadStats, ideal_reuse, workload_stats
from .synthetic import SPECS, TARGETS, generate
from .traces import bundled_path, load_azure, load_mooncake, load_weka

__all__ = ["WorkloadError", "WORKLOADS", "load_workload", "load_trace_file", "transform", "WorkloadStats",
           "ideal_reuse", "workload_stats", "SPECS", "TARGETS", "generate", "bundled_path", "load_azure",
           "load_mooncake", "load_weka"]
