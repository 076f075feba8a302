"""The sidecar's HTTP surface: ``/metrics`` (Prometheus exposition), ``/regimes`` (JSON
of the current state with evidence) and ``/health``; a WSGI app served in a thread.

Metrics are collected at scrape time from the monitor (no global registry):
``lmetric_regime_active{regime}``, ``lmetric_regime_transitions_total{regime,transition}``,
``lmetric_records_total{kind}``, ``lmetric_bad_records_total{reason}``,
``lmetric_product_cost_agreement``, ``lmetric_decision_margin_mean``,
``lmetric_decisions_total``, ``lmetric_record_notes_total{note}`` and, when scraping,
``lmetric_target_up{instance,url,reason}`` and ``lmetric_target_age_seconds{instance,url}``.
The server is threaded with a per-connection timeout: an idle or half-sent request
cannot block the others.
"""

from __future__ import annotations

import errno
import json
import socket
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from analyzers.detector.monitor import RegimeMonitor

__all__ = ["MonitorCollector", "make_app", "serve", "ServeError"]


class MonitorCollector:
    def __init__(self, monitor: RegimeMonitor, lock: threading.Lock, targets=None):
        self.monitor = monitor
        self.lock = lock
        self.targets = targets or (lambda: [])

    def collect(self):
        with self.lock:
            m = self.monitor
            active = GaugeMetricFamily("lmetric_regime_active", "1 while a regime is flagged", labels=["regime"])
            for d in m.detectors:
                active.add_metric([d.regime], 1.0 if d.active else 0.0)
            trans = CounterMetricFamily("lmetric_regime_transitions", "regime transitions", labels=["regime", "transition"])
            for (regime, kind), n in sorted(m.transition_counts.items()):
                trans.add_metric([regime, kind], n)
            recs = CounterMetricFamily("lmetric_records", "telemetry records read", labels=["kind"])
            for kind, n in sorted(m.records.items()):
                recs.add_metric([kind], n)
            bad = CounterMetricFamily("lmetric_bad_records", "records dropped or flagged, by reason", labels=["reason"])
            for reason, n in sorted(m.bad_records.items()):
                bad.add_metric([reason], n)
            st = m.state()
            agree = GaugeMetricFamily("lmetric_product_cost_agreement",
                                      "share of decisions where the product and the cost model pick alike")
            agree.add_metric([], st["product_cost_agreement"] if st["product_cost_agreement"] is not None else float("nan"))
            margin = GaugeMetricFamily("lmetric_decision_margin_mean", "mean score margin to the runner-up")
            margin.add_metric([], st["mean_margin"] if st["mean_margin"] is not None else float("nan"))
            dec = CounterMetricFamily("lmetric_decisions", "routing decisions read")
            dec.add_metric([], m.decisions)
            notes = CounterMetricFamily("lmetric_record_notes", "records accepted with a note, by note", labels=["note"])
            for note, n in sorted(m.notes.items()):
                notes.add_metric([note], n)
            targets = self.targets()
        up = GaugeMetricFamily("lmetric_target_up", "1 if the scraped instance answered its last scrape",
                               labels=["instance", "url", "reason"])
        age = GaugeMetricFamily("lmetric_target_age_seconds", "seconds since the instance last answered",
                                labels=["instance", "url"])
        for t in targets:
            up.add_metric([str(t["instance"]), t["url"], t["reason"] or ""], 1.0 if t["up"] else 0.0)
            age.add_metric([str(t["instance"]), t["url"]], float("nan") if t["age_s"] is None else t["age_s"])
        return [active, trans, recs, bad, notes, agree, margin, dec] + ([up, age] if targets else [])


def make_app(monitor: RegimeMonitor, lock: threading.Lock, started: float, targets=None):
    targets = targets or (lambda: [])
    registry = CollectorRegistry()
    registry.register(MonitorCollector(monitor, lock, targets))

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            body = generate_latest(registry)
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
            return [body]
        if path == "/regimes":
            with lock:
                doc = monitor.state()
            doc["targets"] = targets()
            body = json.dumps(doc, default=str).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if path == "/health":
            with lock:
                doc = {"uptime_s": round(time.time() - started, 3),
                       "records": sum(v for k, v in monitor.records.items() if k != "bad"),
                       "dropped": sum(monitor.bad_records.values()), "notes": sum(monitor.notes.values())}
            ts = targets()
            down = [t for t in ts if not t["up"]]
            doc = {"status": "degraded" if down else "ok", **doc,
                   "targets_up": f"{len(ts) - len(down)}/{len(ts)}" if ts else None, "targets": ts}
            body = json.dumps(doc).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics, /regimes or /health\n"]

    return app


class _Handler(WSGIRequestHandler):
    timeout = 5.0  # seconds for the request line, headers and body: a half-sent request cannot hold a thread

    def log_message(self, *args):  # no access log on stderr
        pass


class _Server(ThreadingMixIn, WSGIServer):
    """One thread per connection (daemon threads, bounded lifetime by the handler
    timeout), a listen backlog of 128, IPv4 or IPv6 by the host's form."""

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True


class ServeError(Exception):
    """The HTTP endpoint cannot be opened (a one-line reason)."""


def serve(monitor: RegimeMonitor, lock: threading.Lock, host: str, port: int, targets=None,
          timeout_s: float = 5.0) -> tuple[WSGIServer, threading.Thread]:
    """Start the HTTP server in a daemon thread; ``server.server_port`` is the bound port.
    ``ServeError`` with a one-line reason when the address is bad, in use or not allowed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    cls = type("_Server" + ("6" if family == socket.AF_INET6 else "4"), (_Server,), {"address_family": family})
    handler = type("_H", (_Handler,), {"timeout": timeout_s})
    try:
        server = make_server(host, port, make_app(monitor, lock, time.time(), targets), server_class=cls,
                             handler_class=handler)
    except OSError as exc:
        why = {errno.EADDRINUSE: "address already in use", errno.EACCES: "permission denied",
               errno.EADDRNOTAVAIL: "address not available on this machine"}.get(exc.errno, exc.strerror or str(exc))
        raise ServeError(f"cannot listen on {host}:{port}: {why}") from None
    except (OverflowError, ValueError, UnicodeError) as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from None
    th = threading.Thread(target=server.serve_forever, name="lmetric-sidecar-http", daemon=True)
    th.start()
    return server, th
