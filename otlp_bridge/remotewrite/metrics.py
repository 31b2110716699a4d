"""The remote-write self-metrics, one child per target (``url`` without credentials)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "otlp_bridge_remote_write_"
DROP_REASONS = ("queue_full", "rejected", "shutdown")
SEND_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class RemoteWriteMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, documentation: str, *labels: str) -> Counter:
            return Counter(PREFIX + name, documentation, ["url", *labels], registry=registry)

        def gauge(name: str, documentation: str) -> Gauge:
            return Gauge(PREFIX + name, documentation, ["url"], registry=registry)

        self.enqueued = counter("samples_enqueued", "Samples collected for the target and queued.")
        self.sent = counter("samples_sent", "Samples the target accepted (2xx).")
        self.retried = counter("samples_retried", "Samples sent again after a 5xx, a 429, a timeout or no answer.")
        self.dropped = counter(
            "samples_dropped",
            "Samples given up: queue_full (the oldest, when the queue is full), rejected (a 4xx other than 429), "
            "shutdown (unsent when the final flush ran out of time).",
            "reason",
        )
        self.requests = counter(
            "requests", 'Requests to the target by HTTP status code ("error" when no answer came, "timeout").', "code"
        )
        self.pending = gauge("queue_samples", "Samples waiting for the target, the batch being sent included.")
        self.last_success = gauge("last_success_timestamp_seconds", "Unix time the target last accepted a request.")
        self.duration = Histogram(
            PREFIX + "send_duration_seconds",
            "Time from sending a request to its answer (or failure).",
            ["url"],
            buckets=SEND_BUCKETS,
            registry=registry,
        )

    def target(self, url: str) -> None:
        """Create the target's children so that they show as zero before anything happens."""
        for counter in (self.enqueued, self.sent, self.retried):
            counter.labels(url)
        for reason in DROP_REASONS:
            self.dropped.labels(url, reason)
        self.pending.labels(url).set(0)
        self.last_success.labels(url).set(0)
        self.duration.labels(url)
