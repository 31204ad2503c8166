"""Prometheus metrics of one app, in its own registry (so several apps in one process never collide)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tunekit.serve.monitoring import Monitor

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServeMetrics:
    """Requests, latency, batch sizes, model time, predicted labels, drift and alert gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("tunekit_requests", "HTTP requests answered.", ["route", "method", "status"],
                                registry=r)
        self.latency = Histogram("tunekit_request_latency_seconds", "Time from request to response.",
                                 ["route", "status"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.batch_size = Histogram("tunekit_batch_size_texts", "Texts per micro-batch sent to the model.",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.model_time = Histogram("tunekit_model_seconds", "Model time per micro-batch.",
                                    buckets=LATENCY_BUCKETS_S, registry=r)
        self.predicted = Counter("tunekit_predicted_labels", "Predicted labels.", ["label"], registry=r)
        self.label_psi = Gauge("tunekit_label_drift_psi", "PSI of recent predicted labels vs. training labels.",
                               registry=r)
        self.length_psi = Gauge("tunekit_length_drift_psi", "PSI of recent input lengths vs. training texts.",
                                registry=r)
        self.alert_value = Gauge("tunekit_alert_value", "Current value of each alert rule.", ["alert"], registry=r)
        self.alert_firing = Gauge("tunekit_alert_firing", "1 while an alert rule fires.", ["alert"], registry=r)

    def observe_batch(self, texts: list[str], results: list[dict[str, Any]], model_seconds: float) -> None:
        self.batch_size.observe(len(texts))
        self.model_time.observe(model_seconds)
        for result in results:
            label = result.get("label")
            for name in label if isinstance(label, list) else [] if label is None else [label]:
                self.predicted.labels(str(name)).inc()
            for entity in result.get("entities") or []:
                self.predicted.labels(str(entity.get("label"))).inc()

    def observe_monitor(self, monitor: Monitor) -> None:
        for gauge, value in ((self.label_psi, monitor.label_psi), (self.length_psi, monitor.length_psi)):
            gauge.set(float("nan") if value is None else value)
        for state in monitor.states.values():
            self.alert_value.labels(state.name).set(float("nan") if state.value is None else state.value)
            self.alert_firing.labels(state.name).set(1.0 if state.firing else 0.0)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (not raw path, which would explode cardinality)."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route, str(status)).observe(time.perf_counter() - start)
