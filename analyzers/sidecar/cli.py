"""``lmetric sidecar``: the regime detector as a sidecar on a telemetry stream.

    lmetric sidecar                                   # demo on the embedded default
    lmetric sidecar --source telemetry.jsonl --follow # a JSONL file, followed
    lmetric sidecar --source -                        # JSON lines on stdin
    lmetric sidecar --scrape http://10.0.0.5:8000/metrics --scrape ... --interval 0.5
    lmetric sidecar --source sim:api                  # an in-process simulation
    lmetric sidecar --source sim:trace.jsonl          # ... of a trace file (.jsonl, .csv, .json, WEKA dir)

Regime transitions and fallbacks go to stdout (``--json`` for JSON lines) and to
``--events FILE`` (appended, flushed per event; every event carries the run id and a
sequence number); ``--http HOST:PORT`` serves ``/metrics``, ``/regimes`` and
``/health``. SIGINT/SIGTERM stop promptly and print the summary; ``--resume``
continues a file source after the last record a previous run processed.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import signal
import sys
import threading
import time
import uuid
from typing import Sequence

from analyzers.argcheck import Parser, nonneg_float, nonneg_int, positive_float, positive_int, readable_file, writable_file

__all__ = ["main", "sim_workload", "streaming_gc"]


def _parse_hostport(v: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPV6]:PORT`` or ``:PORT`` (127.0.0.1).

    >>> _parse_hostport("[::1]:9000"), _parse_hostport(":0")
    (('::1', 9000), ('127.0.0.1', 0))
    """
    import argparse

    host, sep, port = v.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {v!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        p = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT with a numeric port, got {v!r}") from None
    if not 0 <= p <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {p}")
    return host or "127.0.0.1", p


class _Stop(Exception):
    """Raised into a blocking read (or the simulation) to stop the run."""


def main(argv: Sequence[str] | None = None, prog: str = "lmetric sidecar") -> int:
    p = Parser(prog=prog, description="Flag LMetric's failure regimes on a telemetry stream.")
    p.add_argument("--source", metavar="SOURCE", help="JSONL telemetry file, '-' for stdin, or sim:WORKLOAD / "
                   "sim:TRACE: an in-process simulation of a bundled workload or of a trace file (.jsonl Mooncake, "
                   ".csv Azure, .json or directory WEKA; a workload name wins, write ./NAME for a file so named)")
    p.add_argument("--scrape", action="append", metavar="URL",
                   help="/metrics URL of a vLLM, SGLang or llama.cpp instance (repeatable; one instance each)")
    p.add_argument("--interval", type=positive_float, default=1.0, help="seconds between scrapes (default 1)")
    p.add_argument("--timeout", type=positive_float, help="per-target scrape timeout in seconds (default: the interval, "
                   "at most 2)")
    p.add_argument("--max-num-seqs", type=positive_int, metavar="N",
                   help="batch cap of the scraped engines when they do not expose it (saturation needs it)")
    p.add_argument("--stale-after", type=positive_float, metavar="SECONDS",
                   help="an instance silent this long raises staleness (default: 5 intervals, at least 5 s)")
    p.add_argument("--duration", type=nonneg_float, help="stop after this many seconds")
    p.add_argument("--follow", action="store_true", help="keep reading a JSONL file as it grows")
    p.add_argument("--resume", action="store_true",
                   help="file source: continue after the last record the previous run (same --events) processed")
    p.add_argument("--instances", type=positive_int, help="number of instances (default: number of --scrape URLs, else 16)")
    p.add_argument("--events", metavar="FILE", help="append regime transitions and actions as JSON lines")
    p.add_argument("--json", action="store_true", help="print events as JSON lines instead of text")
    p.add_argument("--http", type=_parse_hostport, metavar="HOST:PORT", help="serve /metrics, /regimes, /health")
    p.add_argument("--heartbeat", type=positive_float, default=5.0, metavar="SECONDS",
                   help="progress line on stderr this often when stdout is not a terminal (default 5)")
    p.add_argument("--scale", type=positive_float, default=1.0, help="sim: replay speed-up (workload or trace)")
    p.add_argument("--limit", type=positive_int, help="sim: first N requests")
    p.add_argument("--seed", type=nonneg_int, default=0)
    a = p.parse_args(argv)
    if not a.source and not a.scrape:
        if a.resume or a.follow:
            p.error("--resume and --follow need --source FILE")
        from .demo import run_demo

        return run_demo(seed=a.seed)
    if a.source and a.scrape:
        p.error("give --source or --scrape, not both")
    sim_requests = None
    if a.source and a.source.startswith("sim:"):
        sim_requests, why = sim_workload(a.source[4:], scale=a.scale, limit=a.limit, seed=a.seed)
        if why:
            p.error(f"--source: {why}")
    if a.scrape:
        from .sources import check_url

        for u in a.scrape:
            why = check_url(u)
            if why:
                p.error(f"--scrape: {why}")
    is_file = bool(a.source) and a.source != "-" and not a.source.startswith("sim:")
    if is_file:
        why = readable_file(a.source)
        if why:
            p.error(f"--source: {why}")
    if a.resume and not (is_file and a.events):
        p.error("--resume needs a --source FILE and the --events file of the earlier run")
    if a.follow and not is_file:
        p.error("--follow needs a --source FILE")
    if a.events:
        why = writable_file(a.events)
        if why:
            p.error(f"--events: {why}")
    if a.instances is not None and a.scrape and a.instances != len(a.scrape):
        p.error(f"--instances {a.instances} does not match the {len(a.scrape)} --scrape URL(s)")
    with streaming_gc():
        return _run(a, prog, sim_requests)


#: objects allocated between two young-generation collections while a stream runs (CPython's default: 700)
STREAM_GC_THRESHOLD = 10_000


class _GcOwner:
    """Who set the process-wide collector for streaming: the outermost of nested or
    overlapping :func:`streaming_gc` uses saves and restores, the others only count."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.saved: tuple[int, int, int] | None = None


_GC_OWNER = _GcOwner()  # the collector is one per process, so is its owner


@contextlib.contextmanager
def streaming_gc(threshold: int = STREAM_GC_THRESHOLD):
    """The garbage collector set for a long stream, restored on exit.

    Everything allocated before (modules, arguments, a caller's own data when run
    in-process) is long-lived: frozen, full collections no longer rescan it, so their
    cost follows the detectors' own state (a third of the CPU time of a 40,000-record
    file run inside a process holding those records, issue 9). Each parsed record
    allocates ~5 containers (its dict and lists) that die within its run of 512, so the
    young generation is collected every ``threshold`` allocations instead of every 700:
    on the 40,000-decision file of ``benchmarks.bench_detector``, 8 collections instead of
    443 and 1.4-2.2% of the run's CPU time instead of 9.5-9.8% (measured 2026-11-29 on the
    2-core AMD EPYC, load 0.8), the same bounded memory. Nested or overlapping uses (runs
    embedded in threads) share one setting: the first to enter sets it, the last to leave
    restores it.

    >>> import gc
    >>> before = gc.get_threshold()
    >>> with streaming_gc(5000):
    ...     gc.get_threshold()[0]
    5000
    >>> gc.get_threshold() == before
    True
    """
    with _GC_OWNER.lock:
        if _GC_OWNER.depth == 0:
            _GC_OWNER.saved = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(threshold, *_GC_OWNER.saved[1:])
        _GC_OWNER.depth += 1
    try:
        yield
    finally:
        with _GC_OWNER.lock:
            _GC_OWNER.depth -= 1
            if _GC_OWNER.depth == 0:
                gc.set_threshold(*_GC_OWNER.saved)
                gc.unfreeze()


TRACE_SUFFIXES = (".jsonl", ".csv", ".json")


def sim_workload(spec: str, *, scale: float = 1.0, limit: int | None = None, seed: int = 0) -> tuple[list | None, str | None]:
    """The requests of ``--source sim:SPEC`` and ``None``, or ``None`` and why not (one line).

    ``SPEC`` is a bundled workload name or else a trace file read by the loaders of
    ``lmetric simulate --trace`` (:func:`analyzers.sim.workloads.load_trace_file`);
    ``scale``/``limit``/``seed`` as in ``simulate``.

    >>> reqs, why = sim_workload("api", limit=5)
    >>> len(reqs), why
    (5, None)
    >>> sim_workload("nope")[1]  # doctest: +ELLIPSIS
    "unknown workload 'nope'; known: mooncake-conversation, ...; or a trace file (.jsonl, .csv, .json or a WEKA directory)"
    >>> sim_workload("/no/such/trace.jsonl")
    (None, '/no/such/trace.jsonl: no such file')
    """
    from pathlib import Path

    from analyzers.sim.runner import SimConfig, build_workload
    from analyzers.sim.workloads import WORKLOADS, WorkloadError

    if spec in WORKLOADS:
        cfg = SimConfig(workload=spec, scale=scale, limit=limit, seed=seed)
    else:
        path = Path(spec)
        if not spec:
            return None, "sim: needs a workload name or a trace file, e.g. sim:api or sim:trace.jsonl"
        if not path.exists():
            if path.suffix in TRACE_SUFFIXES or "/" in spec:
                return None, f"{spec}: no such file"
            return None, (f"unknown workload {spec!r}; known: {', '.join(WORKLOADS)}; "
                          "or a trace file (.jsonl, .csv, .json or a WEKA directory)")
        if not path.is_dir():
            why = readable_file(spec)
            if why:
                return None, why
            if path.suffix not in TRACE_SUFFIXES:
                return None, f"{spec}: unknown trace format (expected .jsonl Mooncake, .csv Azure, .json WEKA or a directory)"
        cfg = SimConfig(trace=spec, scale=scale, limit=limit, seed=seed)
    try:
        return build_workload(cfg), None
    except WorkloadError as exc:
        return None, str(exc)
    except OSError as exc:  # unreadable despite the checks (a race, a device error)
        return None, f"{spec}: {exc.strerror or exc}"


def _run(a, prog: str, sim_requests: list | None = None) -> int:
    from analyzers.detector.monitor import RegimeMonitor
    from analyzers.detector.regimes import default_detectors

    from .service import Sidecar
    from .text import print_summary

    n = a.instances or (len(a.scrape) if a.scrape else 16)
    stale_after = a.stale_after or max(5 * a.interval, 5.0)
    resume_at = 0
    if a.resume:
        from .service import resume_offset

        resume_at = resume_offset(a.events, os.path.abspath(a.source))
    run_id = uuid.uuid4().hex[:12]
    events_fh = open(a.events, "a", buffering=1) if a.events else None
    lock = threading.Lock()
    stop = threading.Event()
    router = None
    monitor = RegimeMonitor(n, detectors=default_detectors(n, max_age_s=stale_after))
    if a.source and a.source.startswith("sim:"):
        import numpy as np

        from analyzers.detector.policy import MitigationPolicy
        from analyzers.router.router import Router

        router = Router("lmetric", rng=np.random.default_rng(a.seed))
        monitor = RegimeMonitor(n, policy=MitigationPolicy(router))
    sidecar = Sidecar(monitor, events=events_fh, human=None if a.json else sys.stdout,
                      json_out=sys.stdout if a.json else None, lock=lock, run_id=run_id)
    sidecar.start_event({"source": os.path.abspath(a.source) if a.source and a.source != "-" and not
                         a.source.startswith("sim:") else (a.source or "scrape"), "resumed_at": resume_at or None})
    server = None
    if a.http:
        from .exposition import ServeError, serve

        try:
            server, _ = serve(monitor, lock, *a.http, targets=sidecar.targets)
        except ServeError as exc:
            if events_fh is not None:
                events_fh.close()
            print(f"{prog}: error: --http: {exc}", file=sys.stderr)
            return 2
        host = a.http[0] if ":" not in a.http[0] else f"[{a.http[0]}]"
        print(f"serving http://{host}:{server.server_port}/metrics /regimes /health", file=sys.stderr, flush=True)
    state = {"blocking": False}

    def on_signal(signum, frame):
        stop.set()
        if state["blocking"]:  # interrupt a blocking read (stdin) or the simulation
            state["blocking"] = False
            raise _Stop()

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, on_signal)
        if a.duration is not None:
            handlers[signal.SIGALRM] = signal.signal(signal.SIGALRM, on_signal)
            signal.setitimer(signal.ITIMER_REAL, max(a.duration, 1e-3))
    elif a.duration is not None:  # not the main thread (embedded use): no signals, a timer
        timer = threading.Timer(a.duration, stop.set)
        timer.daemon = True
        timer.start()
    beat = _Heartbeat(monitor, lock, a.heartbeat if not sys.stdout.isatty() else None, time.monotonic())
    code = 0
    try:
        if a.scrape:
            code = _run_scrape(a, n, sidecar, stop, beat)
        elif a.source.startswith("sim:"):  # stops at the next record once ``stop`` is set
            code = _run_sim(sim_requests, n, router, sidecar, stop, beat)
        else:
            code = _run_jsonl(a, sidecar, stop, beat, state, resume_at)
    except _Stop:
        pass
    except OSError as exc:  # an I/O error on the source (a vanished file, a device error)
        print(f"{prog}: error: {exc.strerror or exc}", file=sys.stderr)
        code = 2
    finally:
        state["blocking"] = False
        if threading.current_thread() is threading.main_thread():
            if a.duration is not None:
                signal.setitimer(signal.ITIMER_REAL, 0)
            for sig, h in handlers.items():
                signal.signal(sig, h)
        if server is not None:
            server.shutdown()
            server.server_close()
        sidecar.stop_event()
        if events_fh is not None:
            events_fh.close()
    print_summary(monitor, sidecar, run_id, stopped=stop.is_set())
    return code


class _Heartbeat:
    """A progress line on stderr every ``every`` seconds (``None``: never)."""

    def __init__(self, monitor, lock, every: float | None, t0: float):
        self.monitor, self.lock, self.every, self.t0 = monitor, lock, every, t0
        self.next = t0 + (every or 0)

    def __call__(self) -> None:
        if self.every is None:
            return
        now = time.monotonic()
        if now < self.next:
            return
        self.next = now + self.every
        with self.lock:
            m = self.monitor
            recs = sum(v for k, v in m.records.items() if k != "bad")
            bad = sum(m.bad_records.values())
            active = ", ".join(sorted(m.active())) or "none"
            t = m.last_time
        print(f"[{now - self.t0:7.1f}s wall] {recs:,} records read ({bad:,} dropped), stream time {t:.1f} s, "
              f"regimes active: {active}", file=sys.stderr, flush=True)


def _run_scrape(a, n: int, sidecar, stop: threading.Event, beat) -> int:
    from .sources import PrometheusScraper

    timeout = a.timeout or min(a.interval, 2.0)
    scraper = PrometheusScraper(a.scrape, timeout_s=timeout, max_num_seqs=a.max_num_seqs)
    sidecar.scraper = scraper
    t_start = time.monotonic()
    try:
        while not stop.is_set():
            t_round = time.monotonic()
            now = t_round - t_start
            snaps = scraper.scrape(now)
            sidecar.feed_many(snaps, batched=False)
            sidecar.report_targets(now)
            beat()
            stop.wait(max(0.0, a.interval - (time.monotonic() - t_round)))
    finally:
        scraper.close()
    return 0


def _run_jsonl(a, sidecar, stop: threading.Event, beat, state: dict, resume_at: int) -> int:
    from .sources import IDLE, JsonlSource

    fh = sys.stdin.buffer if a.source == "-" else open(a.source, "rb")
    follow = a.follow and a.source != "-"
    try:
        src = JsonlSource(fh, follow=follow, stop=stop, poll_s=0.05, idle_marker=follow)
        records = iter(src)
        if resume_at:  # rebuild the detectors' state quietly (same 512-record runs), then continue
            sidecar.quiet = True
            buf: list = []
            for rec in records:
                if rec is IDLE:  # (following) caught up before the resume point
                    break
                buf.append(rec)
                if src.offset >= resume_at or len(buf) == 512:
                    sidecar.feed_many(buf)
                    buf = []
                    if src.offset >= resume_at or stop.is_set():
                        break
            if buf:
                sidecar.feed_many(buf)
            sidecar.quiet = False
            if src.offset < resume_at:
                print(f"warning: {a.source} is shorter than the resume point ({resume_at} bytes): it was replaced "
                      "or truncated; nothing new was read", file=sys.stderr)
        state["blocking"] = a.source == "-"
        if follow:  # live: everything available at once (runs of up to 512), then wait for more
            buf: list = []
            for rec in records:
                if rec is not IDLE:
                    buf.append(rec)
                if buf and (rec is IDLE or len(buf) >= 512):
                    sidecar.position = src.offset
                    sidecar.feed_many(buf) if len(buf) > 1 else sidecar.feed(buf[0])
                    buf = []
                beat()
                if stop.is_set():
                    break
            if buf:
                sidecar.position = src.offset
                sidecar.feed_many(buf)
        else:  # a file or a pipe: vectorised runs of up to 512 records
            while not stop.is_set():
                state["blocking"] = a.source == "-"
                chunk = list(itertools.islice(records, 512))
                state["blocking"] = False
                if not chunk:
                    break
                sidecar.position = src.offset
                sidecar.feed_many(chunk)
                beat()
    finally:
        state["blocking"] = False
        sidecar.position = src.offset if "src" in locals() else None
        if fh is not sys.stdin.buffer:
            fh.close()
    return 0


def _run_sim(reqs: list, n: int, router, sidecar, stop: threading.Event, beat) -> int:
    """Simulate ``reqs`` (loaded and checked by :func:`sim_workload`) on ``n`` H20s."""
    from analyzers.sim.cluster import Cluster
    from analyzers.sim.profiles import get_profile

    prof = get_profile("h20")

    def on_telemetry(rec):
        if stop.is_set():
            raise _Stop()
        sidecar.feed(rec)
        beat()

    Cluster(n, prof).run(reqs, router, record_decisions=False, known_speeds=False, on_telemetry=on_telemetry)
    return 0
