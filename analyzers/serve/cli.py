"""``lmetric serve``: the reference router as an OpenAI-compatible proxy.

    lmetric serve --backend http://127.0.0.1:8081 --backend http://127.0.0.1:8082 \\
                  --telemetry serve.jsonl --events events.jsonl --port 8000

Every bad argument gives one ``lmetric serve: error: ...`` line and exit status 2.
With ``--port 0`` a free port is chosen; the bound URL is printed on one line
(``lmetric serve: listening on http://127.0.0.1:PORT``) to stdout and stderr.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from typing import Sequence

__all__ = ["main", "parse_args"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage block
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive(kind, name):
    def conv(v: str):
        try:
            x = kind(v)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a {'number' if kind is float else 'whole number'}, got {v!r}") from None
        if not x > 0 or x != x or x == float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be positive and finite, got {v!r}")
        return x
    return conv


def _port(v: str) -> int:
    try:
        p = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {v!r}") from None
    if not 0 <= p <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {p}")
    return p


def _kv_spec(v: str) -> tuple[str, dict]:
    """``BACKEND=tcp://HOST:PORT[,replay=tcp://HOST:PORT][,bind]`` (``bind``: the engine's
    publisher connects to us — vLLM does so when its endpoint is not a wildcard)."""
    from .fleet import normalise_url

    backend, eq, rest = v.partition("=")
    if not eq or not rest:
        raise argparse.ArgumentTypeError(f"expected BACKEND=tcp://HOST:PORT[,replay=tcp://HOST:PORT][,bind], got {v!r}")
    try:
        backend = normalise_url(backend)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    parts = rest.split(",")
    spec = {"endpoint": parts[0], "replay": None, "bind": False}
    for extra in parts[1:]:
        k, eq, val = extra.partition("=")
        if k == "bind" and not eq:
            spec["bind"] = True
        elif k == "replay" and eq:
            spec["replay"] = val
        else:
            raise argparse.ArgumentTypeError(f"unknown --kv-events option {extra!r} (replay=tcp://HOST:PORT or bind)")
    for ep in filter(None, (spec["endpoint"], spec["replay"])):
        host, _, port = ep.removeprefix("tcp://").rpartition(":")
        if not ep.startswith("tcp://") or not host or not port.isdigit():
            raise argparse.ArgumentTypeError(f"KV-event endpoint must look like tcp://HOST:PORT, got {ep!r}")
    return backend, spec


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Route OpenAI-compatible requests over a fleet of engines with LMetric.")
    p.add_argument("--backend", action="append", default=[], metavar="URL", help="engine base URL (repeatable)")
    p.add_argument("--backends-file", metavar="FILE", help="one backend URL per line; re-read when it changes")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port (0: pick a free one and print it)")
    p.add_argument("--scorer", default="lmetric", help="routing rule (see `lmetric simulate --help`); default lmetric")
    p.add_argument("--param", action="append", metavar="NAME=VALUE", help="scorer parameter (repeatable)")
    p.add_argument("--detector", choices=("act", "watch", "off"), default="act",
                   help="act: fall back while a regime lasts; watch: report only; off: no detector")
    p.add_argument("--telemetry", metavar="FILE", help="append decision and snapshot records (JSONL, flushed)")
    p.add_argument("--events", metavar="FILE", help="append regime transitions and actions (JSONL)")
    p.add_argument("--kv-events", action="append", default=[], type=_kv_spec, metavar="BACKEND=tcp://HOST:PORT[,replay=...][,bind]",
                   help="subscribe to a vLLM backend's ZMQ KV events (exact prefix index); add ',bind' when the engine's endpoint is not a wildcard (vLLM then connects to us)")
    p.add_argument("--scrape-interval", type=_positive(float, "--scrape-interval"), default=1.0, metavar="S",
                   help="seconds between /metrics scrapes (default 1)")
    p.add_argument("--health-interval", type=_positive(float, "--health-interval"), default=2.0, metavar="S",
                   help="seconds between health checks (default 2)")
    p.add_argument("--block-size", type=_positive(int, "--block-size"),
                   help="prefix block size in tokens (default: the engines' own, from vllm:cache_config_info, else 16)")
    p.add_argument("--tokenizer", choices=("approx", "backend"), default="approx",
                   help="approx: UTF-8 bytes / 4 (default); backend: the engines' /tokenize, cached")
    p.add_argument("--max-model-len", type=_positive(int, "--max-model-len"), metavar="TOKENS",
                   help="context limit for backends that do not report one")
    p.add_argument("--connect-timeout", type=_positive(float, "--connect-timeout"), default=2.0, metavar="S")
    p.add_argument("--read-timeout", type=_positive(float, "--read-timeout"), default=120.0, metavar="S",
                   help="longest silence from a backend before 504 / a stream error (default 120)")
    p.add_argument("--max-body-bytes", type=_positive(int, "--max-body-bytes"), default=8 * 2**20)
    p.add_argument("--cache-blocks", type=_positive(int, "--cache-blocks"), default=100_000,
                   help="approximate index: blocks remembered per backend (LRU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-level", choices=("critical", "error", "warning", "info", "debug"), default="warning",
                   help="uvicorn's log level (default warning: no access log)")
    return p


def parse_args(argv: Sequence[str], prog: str = "lmetric serve"):
    """Parse and check the arguments; returns ``(namespace, ServeConfig)`` or exits 2.

    >>> a, cfg = parse_args(["--backend", "http://127.0.0.1:8081/v1", "--param", "lambda=300", "--scorer", "linear"])
    >>> cfg.backends, cfg.scorer, cfg.params, cfg.detector
    (['http://127.0.0.1:8081'], 'linear', {'lambda': 300.0}, 'act')
    """
    from analyzers.router.scorers import SCORERS, parse_params

    from .app import read_backends_file
    from .fleet import normalise_url
    from .proxy import ServeConfig

    p = build_parser(prog)
    a = p.parse_args(argv)
    try:
        backends = [normalise_url(u) for u in a.backend]
        static = list(backends)
        if a.backends_file:
            backends += read_backends_file(a.backends_file)
    except FileNotFoundError:
        p.error(f"--backends-file {a.backends_file}: no such file")
    except (OSError, UnicodeDecodeError) as exc:
        p.error(f"--backends-file {a.backends_file}: {exc}")
    except ValueError as exc:
        p.error(str(exc))
    backends = list(dict.fromkeys(backends))
    if not backends and not a.backends_file:
        p.error("give at least one --backend URL (or --backends-file)")
    if a.scorer not in SCORERS:
        p.error(f"unknown scorer {a.scorer!r}; known: {', '.join(SCORERS)}")
    try:
        params = parse_params(a.param)
        SCORERS[a.scorer].params(params)
    except ValueError as exc:
        p.error(str(exc))
    except KeyError as exc:
        p.error(exc.args[0])
    kv = dict(a.kv_events)
    for url in kv:
        if url not in backends:
            p.error(f"--kv-events names {url}, which is not a --backend")
    for path in (a.telemetry, a.events):
        if path:
            try:
                open(path, "a").close()
            except OSError as exc:
                p.error(f"cannot write {path}: {exc.strerror}")
    cfg = ServeConfig(backends=backends, scorer=a.scorer, params=params, detector=a.detector, telemetry=a.telemetry,
                      events=a.events, block_size=a.block_size, tokenizer=a.tokenizer, max_model_len=a.max_model_len,
                      cache_blocks=a.cache_blocks, connect_timeout=a.connect_timeout, read_timeout=a.read_timeout,
                      health_interval=a.health_interval, scrape_interval=a.scrape_interval,
                      max_body_bytes=a.max_body_bytes, seed=a.seed, backends_file=a.backends_file, kv_events=kv,
                      static_backends=static)
    return a, cfg


def main(argv: Sequence[str] | None = None, prog: str = "lmetric serve") -> int:
    import uvicorn

    class _Server(uvicorn.Server):
        """Records the signals that stopped it (uvicorn re-raises them after its graceful
        shutdown, but a re-raised SIGINT can be lost as the event loop closes)."""

        def __init__(self, config) -> None:
            super().__init__(config)
            self.signals: list[int] = []

        def handle_exit(self, sig, frame) -> None:
            self.signals.append(sig)
            super().handle_exit(sig, frame)

    from .app import make_app
    from .proxy import Proxy

    a, cfg = parse_args(list(sys.argv[1:] if argv is None else argv), prog)
    sock = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((a.host, a.port))
    except (OSError, OverflowError) as exc:
        sock.close()
        print(f"{prog}: error: cannot bind {a.host}:{a.port}: {getattr(exc, 'strerror', None) or exc}", file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
    proxy = Proxy(cfg, out=sys.stdout)

    def ready():
        line = f"{prog}: listening on {url} ({len(cfg.backends)} backends, scorer {cfg.scorer}, detector {cfg.detector})"
        print(line, flush=True)
        print(line, file=sys.stderr, flush=True)

    config = uvicorn.Config(make_app(proxy, on_ready=ready), log_level=a.log_level, access_log=False,
                            timeout_graceful_shutdown=5, lifespan="on", loop="uvloop", http="httptools")
    server = _Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled once it has shut down
        server.signals.append(signal.SIGINT)
    finally:
        sock.close()
    if signal.SIGINT in server.signals:  # also when the re-raised signal got lost with the loop (seen under load)
        print(f"{prog}: interrupted, stopped", file=sys.stderr, flush=True)
        return 130
    return 0
