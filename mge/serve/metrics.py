"""Prometheus metrics of one server (prometheus-client, in a registry of its own).

========================================== ==========================================
``mge_serve_requests_total``               requests by endpoint, model and HTTP status
``mge_serve_request_duration_seconds``     request latency histogram by endpoint, model
``mge_serve_queue_depth``                  requests waiting for a batch, by model
``mge_serve_batch_size``                   rows per executed batch (histogram), by model
``mge_serve_batch_requests``               requests merged into each batch (histogram)
``mge_serve_inference_duration_seconds``   network time per batch (histogram), by model
========================================== ==========================================

Example:
    >>> metrics = ServeMetrics()
    >>> metrics.batch_done("m", rows=4, requests=3, seconds=0.01)
    >>> b"mge_serve_batch_size_count" in metrics.render()
    True
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0)


class ServeMetrics:
    """The collectors; also the batcher's :class:`~mge.serve.batcher.BatchObserver`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("mge_serve_requests", "HTTP requests by endpoint, model and "
                                "status code", ["endpoint", "model", "status"],
                                registry=self.registry)
        self.latency = Histogram("mge_serve_request_duration_seconds", "HTTP request latency",
                                 ["endpoint", "model"], buckets=_LATENCY_BUCKETS,
                                 registry=self.registry)
        self.depth = Gauge("mge_serve_queue_depth", "requests waiting for a batch", ["model"],
                           registry=self.registry)
        self.batch_rows = Histogram("mge_serve_batch_size", "rows per executed batch",
                                    ["model"], buckets=_BATCH_BUCKETS, registry=self.registry)
        self.batch_requests = Histogram("mge_serve_batch_requests",
                                        "requests merged into one batch", ["model"],
                                        buckets=_BATCH_BUCKETS, registry=self.registry)
        self.inference = Histogram("mge_serve_inference_duration_seconds",
                                   "network run time per batch", ["model"],
                                   buckets=_LATENCY_BUCKETS, registry=self.registry)

    def request_done(self, endpoint: str, model: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, model, str(status)).inc()
        self.latency.labels(endpoint, model).observe(seconds)

    def queue_depth(self, model: str, depth: int) -> None:
        self.depth.labels(model).set(depth)

    def batch_done(self, model: str, rows: int, requests: int, seconds: float) -> None:
        self.batch_rows.labels(model).observe(rows)
        self.batch_requests.labels(model).observe(requests)
        self.inference.labels(model).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format served at ``/metrics``."""
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "ServeMetrics"]
