"""``lmetric sidecar``: the regime detector as a sidecar on a telemetry stream.

    lmetric sidecar                                   # demo on the embedded default
    lmetric sidecar --source telemetry.jsonl --follow # a JSONL file, followed
    lmetric sidecar --source -                        # JSON lines on stdin
    lmetric sidecar --scrape http://10.0.0.5:8000/metrics --scrape ... --interval 0.1
    lmetric sidecar --source sim:api                  # an in-process simulation

Regime transitions and fallbacks go to stdout (``--json`` for JSON lines) and to
``--events FILE`` (appended, flushed per event); ``--http HOST:PORT`` serves
``/metrics``, ``/regimes`` and ``/health``.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import sys
import threading
import time
from typing import Sequence

__all__ = ["main"]


def _parse_hostport(v: str) -> tuple[str, int]:
    host, _, port = v.rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {v!r}") from None


def main(argv: Sequence[str] | None = None, prog: str = "lmetric sidecar") -> int:
    p = argparse.ArgumentParser(prog=prog, description="Flag LMetric's failure regimes on a telemetry stream.")
    p.add_argument("--source", metavar="SOURCE", help="JSONL file, '-' for stdin, or sim:WORKLOAD")
    p.add_argument("--scrape", action="append", metavar="URL", help="Prometheus endpoint of an instance (repeatable)")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes (default 1)")
    p.add_argument("--duration", type=float, help="stop scraping/following after this many seconds")
    p.add_argument("--follow", action="store_true", help="keep reading a JSONL file as it grows")
    p.add_argument("--instances", type=int, help="number of instances (default: number of --scrape URLs, else 16)")
    p.add_argument("--events", metavar="FILE", help="append regime transitions and actions as JSON lines")
    p.add_argument("--json", action="store_true", help="print events as JSON lines instead of text")
    p.add_argument("--http", type=_parse_hostport, metavar="HOST:PORT", help="serve /metrics, /regimes, /health")
    p.add_argument("--scale", type=float, default=1.0, help="sim: replay speed-up")
    p.add_argument("--limit", type=int, help="sim: first N requests")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.interval <= 0:
        p.error("--interval must be positive")
    if not a.source and not a.scrape:
        from .demo import run_demo

        return run_demo(seed=a.seed)
    if a.source and a.scrape:
        p.error("give --source or --scrape, not both")

    from analyzers.detector.monitor import RegimeMonitor

    from .service import Sidecar

    n = a.instances or (len(a.scrape) if a.scrape else 16)
    if n < 1:
        p.error("--instances must be at least 1")
    events_fh = open(a.events, "a", buffering=1) if a.events else None
    lock = threading.Lock()
    stop = threading.Event()
    router = None
    monitor = RegimeMonitor(n)
    if a.source and a.source.startswith("sim:"):
        import numpy as np

        from analyzers.detector.policy import MitigationPolicy
        from analyzers.router.router import Router

        router = Router("lmetric", rng=np.random.default_rng(a.seed))
        monitor = RegimeMonitor(n, policy=MitigationPolicy(router))
    sidecar = Sidecar(monitor, events=events_fh, human=None if a.json else sys.stdout,
                      json_out=sys.stdout if a.json else None, lock=lock)
    server = None
    if a.http:
        from .exposition import serve

        server, _ = serve(monitor, lock, *a.http)
        print(f"serving http://{a.http[0]}:{server.server_port}/metrics /regimes /health", file=sys.stderr, flush=True)
    prev = signal.signal(signal.SIGINT, lambda *_: stop.set())
    t_start = time.monotonic()
    code = 0
    try:
        if a.scrape:
            from .sources import PrometheusScraper

            scraper = PrometheusScraper(a.scrape)
            try:
                while not stop.is_set():
                    now = time.monotonic() - t_start
                    for snap in scraper.scrape(now):
                        sidecar.feed(snap)
                    if a.duration is not None and now >= a.duration:
                        break
                    stop.wait(a.interval)
            finally:
                scraper.close()
        elif a.source.startswith("sim:"):
            code = _run_sim(a, n, router, sidecar)
        else:
            from .sources import jsonl_records

            if a.duration is not None:
                threading.Timer(a.duration, stop.set).start()
            fh = sys.stdin if a.source == "-" else open(a.source)
            follow = a.follow and a.source != "-"
            try:
                records = jsonl_records(fh, follow=follow, stop=stop)
                if follow:  # live: one record at a time, for the lowest latency
                    for rec in records:
                        sidecar.feed(rec)
                        if stop.is_set():
                            break
                else:  # a file or a pipe: vectorised runs of up to 512 records
                    while not stop.is_set():
                        chunk = list(itertools.islice(records, 512))
                        if not chunk:
                            break
                        sidecar.feed_many(chunk)
            finally:
                if fh is not sys.stdin:
                    fh.close()
    except FileNotFoundError as exc:
        print(f"error: {exc.filename}: no such file", file=sys.stderr)
        code = 2
    except (ValueError, KeyError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        code = 2
    finally:
        signal.signal(signal.SIGINT, prev)
        if server is not None:
            server.shutdown()
            server.server_close()
        if events_fh is not None:
            events_fh.close()
    st = monitor.state()
    print(f"records: {st['records']}, bad records: {st['bad_records'] or 'none'}, transitions: "
          f"{len(monitor.transitions)}, active now: {st['active'] or 'none'}", file=sys.stderr)
    return code


def _run_sim(a, n: int, router, sidecar) -> int:
    from analyzers.sim.cluster import Cluster
    from analyzers.sim.profiles import get_profile
    from analyzers.sim.runner import SimConfig, build_workload
    from analyzers.sim.workloads import WORKLOADS, WorkloadError

    name = a.source[4:]
    if name not in WORKLOADS:
        print(f"error: unknown workload {name!r}; known: {', '.join(WORKLOADS)}", file=sys.stderr)
        return 2
    try:
        reqs = build_workload(SimConfig(workload=name, scale=a.scale, limit=a.limit, seed=a.seed))
    except WorkloadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    prof = get_profile("h20")
    Cluster(n, prof).run(reqs, router, record_decisions=False, known_speeds=False, on_telemetry=sidecar.feed)
    return 0
