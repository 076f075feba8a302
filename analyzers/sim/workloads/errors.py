"""Errors raised while reading workloads."""

__all__ = ["WorkloadError"]


class WorkloadError(ValueError):
    """A trace or workload option is invalid; the message names the file and line."""
