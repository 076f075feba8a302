"""Everything that runs on data.

* :mod:`analyzers.sim` — the cluster simulator (vLLM-v1 instances, real traces);
* :mod:`analyzers.router` — the reference router (every scorer, prefix index, shadow scoring);
* :mod:`analyzers.detector` — the online regime detector and its mitigation policy;
* :mod:`analyzers.sidecar` — the detector as a service on telemetry streams;
* :mod:`analyzers.telemetry` — the record schema they share;
* :mod:`analyzers.cli` — the ``lmetric`` command.

Subpackages are imported on use; importing :mod:`analyzers` does no work.
"""

__all__ = ["sim", "router", "detector", "sidecar", "telemetry", "cli"]
