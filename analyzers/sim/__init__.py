"""Discrete-event simulation of a cluster of vLLM-v1-like instances replaying traces."""

from .cluster import Cluster, RoutingHook, SimResult
from .engine import Instance
from .lambda_sweep import LambdaSweep, lambda_sweep
from .metrics import Dist, Summary, per_instance, summarise
from .profiles import PROFILES, Profile, get_profile
from .request import Request, RequestResult
from .runner import SimConfig, build_workload, run_simulation

__all__ = ["Cluster", "RoutingHook", "SimResult", "Instance", "LambdaSweep", "lambda_sweep", "Dist", "Summary",
           "per_instance", "summarise", "PROFILES", "Profile", "get_profile", "Request", "RequestResult", "SimConfig",
           "build_workload", "run_simulation"]
