"""The sidecar's HTTP surface: ``/metrics`` (Prometheus exposition), ``/regimes`` (JSON
of the current state with evidence) and ``/health``; a WSGI app served in a thread.

Metrics are collected at scrape time from the monitor (no global registry):
``lmetric_regime_active{regime}``, ``lmetric_regime_transitions_total{regime,transition}``,
``lmetric_records_total{kind}``, ``lmetric_bad_records_total{reason}``,
``lmetric_product_cost_agreement``, ``lmetric_decision_margin_mean``,
``lmetric_decisions_total``.
"""

from __future__ import annotations

import json
import threading
import time
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from analyzers.detector.monitor import RegimeMonitor

__all__ = ["MonitorCollector", "make_app", "serve"]


class MonitorCollector:
    def __init__(self, monitor: RegimeMonitor, lock: threading.Lock):
        self.monitor = monitor
        self.lock = lock

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
        return [active, trans, recs, bad, agree, margin, dec]


def make_app(monitor: RegimeMonitor, lock: threading.Lock, started: float):
    registry = CollectorRegistry()
    registry.register(MonitorCollector(monitor, lock))

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            body = generate_latest(registry)
            start_response("200 OK", [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")])
            return [body]
        if path == "/regimes":
            with lock:
                body = json.dumps(monitor.state(), default=float).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        if path == "/health":
            with lock:
                body = json.dumps({"status": "ok", "uptime_s": round(time.time() - started, 3),
                                   "records": sum(monitor.records.values()),
                                   "bad_records": sum(monitor.bad_records.values())}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: try /metrics, /regimes or /health\n"]

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):  # no access log on stderr
        pass


def serve(monitor: RegimeMonitor, lock: threading.Lock, host: str, port: int) -> tuple[WSGIServer, threading.Thread]:
    """Start the HTTP server in a daemon thread; ``server.server_port`` is the bound port."""
    server = make_server(host, port, make_app(monitor, lock, time.time()), handler_class=_Quiet)
    th = threading.Thread(target=server.serve_forever, name="lmetric-sidecar-http", daemon=True)
    th.start()
    return server, th
