"""The relay's self-metrics, on the bridge's self-metrics registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# What became of a notification, then the webhook request's own errors (the outcomes of otlp_bridge.errors).
OUTCOMES = (
    "delivered",
    "duplicate",
    "retry",
    "rejected",
    "bad_request",
    "unauthorized",
    "forbidden",
    "too_large",
    "timeout",
)
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry, action: str) -> None:
        self.notifications = Counter(
            "otlp_bridge_alert_notifications",
            "Alertmanager notifications by relay action and outcome (delivered, duplicate, retry: Alertmanager was"
            " told to retry, rejected: OpenClaw refused for good, or the webhook request's own error).",
            ["action", "outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "otlp_bridge_alert_delivery_failures",
            "Failed posts to OpenClaw's hook API by cause (timeout, unreachable, http_<status>, too_large).",
            ["action", "cause"],
            registry=registry,
        )
        self.latency = Histogram(
            "otlp_bridge_alert_delivery_duration_seconds",
            "Time OpenClaw took to answer a hook post.",
            ["action"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.last_success = Gauge(
            "otlp_bridge_alert_last_success_timestamp_seconds",
            "Unix time OpenClaw last accepted a relayed notification.",
            ["action"],
            registry=registry,
        )
        for outcome in OUTCOMES:
            self.notifications.labels(action, outcome)
        self.latency.labels(action)
