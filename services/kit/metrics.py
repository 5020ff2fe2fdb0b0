"""Prometheus metrics per app: requests, latency and response size by route template."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Any token is a valid HTTP method; a label taken as sent would let clients mint series.
STANDARD_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
OTHER_METHOD = "OTHER"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_SIZE_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)


class HttpMetrics:
    """The HTTP metrics of one app, in a registry of its own (several apps may share a process)."""

    def __init__(self, service: str, extra_labels: tuple[str, ...] = ()) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.extra_labels = extra_labels
        labels = ("method", "route", "status", *extra_labels)
        self.requests = Counter(
            "tern_http_requests",
            "HTTP requests served",
            labels,
            namespace="",
            registry=self.registry,
        )
        self.latency = Histogram(
            "tern_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ("method", "route"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.response_size = Histogram(
            "tern_http_response_size_bytes",
            "Bytes in HTTP response bodies",
            ("method", "route", *extra_labels),
            buckets=_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.service = service

    def observe(
        self,
        method: str,
        route: str,
        status: int,
        seconds: float,
        size: int,
        extra: tuple[str, ...] = (),
    ) -> None:
        """Count one answered request."""
        method = method_label(method)
        self.requests.labels(method, route, str(status), *extra).inc()
        self.latency.labels(method, route).observe(seconds)
        self.response_size.labels(method, route, *extra).observe(size)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def method_label(method: str) -> str:
    """The `method` label: a standard method, else "OTHER" (methods are case-sensitive)."""
    return method if method in STANDARD_METHODS else OTHER_METHOD
