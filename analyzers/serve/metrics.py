"""The proxy's Prometheus metrics, in their own registry (no global state).

``lmetric_serve_requests_total{route,code}``, ``lmetric_serve_errors_total{kind}``,
``lmetric_serve_retries_total``, ``lmetric_serve_backend_inflight{backend}``,
``lmetric_serve_backend_queued_prefill_tokens{backend}``, ``lmetric_serve_backend_healthy{backend}``,
``lmetric_serve_decision_seconds`` (histogram: tokenise + hash + index lookup + score),
``lmetric_serve_added_latency_seconds`` (histogram: request arrival to the upstream
request being sent), ``lmetric_serve_fallbacks_total{regime}`` and
``lmetric_serve_scorer_info{scorer}``, plus the detector's own series
(``lmetric_regime_active{regime}`` ...) when a detector runs.

>>> from analyzers.serve.fleet import Fleet
>>> m = ServeMetrics(Fleet(["http://127.0.0.1:1"]), monitor=lambda: None, scorer=lambda: "lmetric")
>>> m.requests.labels("/v1/completions", "200").inc()
>>> b"lmetric_serve_requests_total" in m.render()
True
"""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

__all__ = ["ServeMetrics"]

_LAT_BUCKETS = (5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 1.0)


class _StateCollector:
    def __init__(self, fleet, monitor: Callable, scorer: Callable):
        self.fleet, self.monitor, self.scorer = fleet, monitor, scorer

    def collect(self):
        inflight = GaugeMetricFamily("lmetric_serve_backend_inflight", "requests in flight per backend", labels=["backend"])
        queued = GaugeMetricFamily("lmetric_serve_backend_queued_prefill_tokens",
                                   "prefill tokens sent and not yet computed (proxy accounting)", labels=["backend"])
        healthy = GaugeMetricFamily("lmetric_serve_backend_healthy", "1 while the backend is admitted", labels=["backend"])
        for b in self.fleet.backends:
            inflight.add_metric([b.url], b.inflight)
            queued.add_metric([b.url], b.queued_prefill)
            healthy.add_metric([b.url], 1.0 if b.healthy else 0.0)
        scorer = GaugeMetricFamily("lmetric_serve_scorer_info", "the live scorer (1)", labels=["scorer"])
        scorer.add_metric([self.scorer()], 1.0)
        out = [inflight, queued, healthy, scorer]
        mon = self.monitor()
        if mon is not None:
            from analyzers.sidecar.exposition import MonitorCollector

            out.extend(MonitorCollector(*mon).collect())
        return out


class ServeMetrics:
    def __init__(self, fleet, monitor: Callable, scorer: Callable):
        """``monitor()`` returns ``(RegimeMonitor, lock)`` or ``None``; ``scorer()`` the live scorer name."""
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.requests = Counter("lmetric_serve_requests", "requests answered", ["route", "code"], registry=r)
        self.errors = Counter("lmetric_serve_errors", "errors by kind", ["kind"], registry=r)
        self.retries = Counter("lmetric_serve_retries", "requests retried on another backend", registry=r)
        self.fallbacks = Counter("lmetric_serve_fallbacks", "detector actions taken (act mode)", ["regime"], registry=r)
        self.decision = Histogram("lmetric_serve_decision_seconds", "routing decision time (tokenise, hash, look up, score)",
                                  buckets=_LAT_BUCKETS, registry=r)
        self.added = Histogram("lmetric_serve_added_latency_seconds",
                               "proxy time from request arrival to the upstream request being sent",
                               buckets=_LAT_BUCKETS, registry=r)
        r.register(_StateCollector(fleet, monitor, scorer))

    def render(self) -> bytes:
        return generate_latest(self.registry)
