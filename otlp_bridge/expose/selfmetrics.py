"""The bridge's own metrics, rendered with prometheus_client after the translated series."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sized
from typing import TYPE_CHECKING

import prometheus_client
from prometheus_client import CollectorRegistry, Gauge, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from otlp_bridge import __version__
from otlp_bridge.store import DropReason, Store

if TYPE_CHECKING:
    from otlp_bridge.translate.result import IngestResult

prometheus_client.disable_created_metrics()

MAX_SOURCES = 256
OVERFLOW_SOURCE = "other"


class _StoreCollector:
    """Gauges and counters that live in the store, read at scrape time."""

    def __init__(self, store: Store, streams: Sized) -> None:
        self._store = store
        self.streams = streams

    def collect(self) -> Iterable[Metric]:
        store = self._store
        yield GaugeMetricFamily(
            "otlp_bridge_series", "Live translated series (a histogram counts once).", value=store.live_series
        )
        yield GaugeMetricFamily("otlp_bridge_streams", "Incoming OTLP metric streams tracked.", value=len(self.streams))
        yield CounterMetricFamily(
            "openclaw_prometheus_series_dropped",
            "Prometheus metric series dropped because the exporter series cap was reached.",
            value=store.dropped_observations,
        )
        dropped = CounterMetricFamily(
            "otlp_bridge_series_dropped",
            "Observations refused because a cap was reached, by cap.",
            labels=["reason"],
        )
        for reason in DropReason:
            dropped.add_metric([reason.value], store.dropped_by_reason.get(reason, 0))
        yield dropped
        unplaced = CounterMetricFamily(
            "otlp_bridge_unplaced_observations",
            "Observations above a sender's last bucket bound that could not be placed in the official buckets "
            "(they are counted in +Inf only), by family.",
            labels=["family"],
        )
        for family, count in sorted(store.unplaced.items()):
            unplaced.add_metric([family], count)
        yield unplaced
        yield CounterMetricFamily(
            "otlp_bridge_series_expired",
            "Series removed after --series-ttl without updates.",
            value=store.expired_total,
        )


class _LivenessCollector:
    """``otlp_bridge_last_receive_timestamp_seconds``: a source leaves it when the bridge forgets the source."""

    def __init__(self, last_receive: dict[tuple[str, str], float]) -> None:
        self._last_receive = last_receive

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "otlp_bridge_last_receive_timestamp_seconds",
            "Unix time of the last accepted request per signal and source (sources silent for --series-ttl are "
            "removed).",
            labels=["signal", "source"],
        )
        for (signal, source), at in sorted(self._last_receive.items()):
            family.add_metric([signal, source], at)
        yield family


class SelfMetrics:
    """The bridge's own families. ``streams``: the translator's stream table, counted at scrape time (also given
    later with ``watch_streams``)."""

    def __init__(self, store: Store, streams: Sized = ()) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=False)
        info = Gauge("otlp_bridge_build_info", "otlp-bridge build information.", ["version"], registry=registry)
        info.labels(__version__).set(1)
        ProcessCollector(registry=registry)
        self.requests = prometheus_client.Counter(
            "otlp_bridge_requests",
            "OTLP requests by signal and outcome.",
            ["signal", "outcome"],
            registry=registry,
        )
        self.points = prometheus_client.Counter(
            "otlp_bridge_received_points",
            "Data points, spans or log records received, by signal and outcome.",
            ["signal", "outcome"],
            registry=registry,
        )
        self.bytes = prometheus_client.Counter(
            "otlp_bridge_received_bytes",
            "Request bytes received on the wire, by signal and outcome.",
            ["signal", "outcome"],
            registry=registry,
        )
        self.rejected = prometheus_client.Counter(
            "otlp_bridge_rejected_points",
            "Data points, spans or log records rejected, by reason.",
            ["signal", "reason"],
            registry=registry,
        )
        self.scrapes = prometheus_client.Counter(
            "otlp_bridge_scrape_requests",
            "Requests to the scrape and JSON endpoints, by the outcome of the scrape token check.",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("ok", "unauthorized", "forbidden"):
            self.scrapes.labels(outcome)
        self.scrape_duration = Gauge(
            "otlp_bridge_last_scrape_duration_seconds",
            "Time spent rendering the previous scrape.",
            registry=registry,
        )
        # The children of the hot path's counters (``labels`` costs a lock and a tuple each time): signal and outcome
        # are a few fixed values.
        self._request_counters: dict[tuple[str, str], tuple[prometheus_client.Counter, prometheus_client.Counter]] = {}
        self._accepted: dict[str, prometheus_client.Counter] = {}
        self.last_receive: dict[tuple[str, str], float] = {}  # (signal, source) → Unix time
        self._signals: Counter[str] = Counter()  # source → how many signals it has in last_receive
        for signal in ("metrics", "traces", "logs"):
            for outcome in ("ok", "partial"):
                self.requests.labels(signal, outcome)
        self._store_collector = _StoreCollector(store, streams)
        registry.register(self._store_collector)
        registry.register(_LivenessCollector(self.last_receive))

    def watch_streams(self, streams: Sized) -> None:
        self._store_collector.streams = streams

    def family_names(self) -> frozenset[str]:
        """The name of every family exposed (a counter's with ``_total``)."""
        return frozenset(
            f"{family.name}_total" if family.type == "counter" else family.name for family in self.registry.collect()
        )

    def received(self, signal: str, source: str, now: float) -> None:
        """Note a request from ``source``; past ``MAX_SOURCES`` sources, new ones count as ``other``."""
        key = (signal, source)
        if key not in self.last_receive:
            if source not in self._signals and len(self._signals) >= MAX_SOURCES:
                key = (signal, OVERFLOW_SOURCE)
            if key not in self.last_receive:
                self._signals[key[1]] += 1
        self.last_receive[key] = now

    def expire_sources(self, cutoff: float) -> list[str]:
        """Forget every (signal, source) not heard from since ``cutoff``; returns the sources gone entirely."""
        gone = []
        for key, at in list(self.last_receive.items()):
            if at < cutoff:
                del self.last_receive[key]
                source = key[1]
                self._signals[source] -= 1
                if not self._signals[source]:
                    del self._signals[source]
                    gone.append(source)
        return sorted(gone)

    def count_request(self, signal: str, outcome: str, wire: int, result: IngestResult | None) -> None:
        """Count one OTLP request, its bytes on the wire and what it did with its points."""
        counters = self._request_counters.get((signal, outcome))
        if counters is None:
            counters = self._request_counters[signal, outcome] = (
                self.requests.labels(signal, outcome),
                self.bytes.labels(signal, outcome),
            )
        counters[0].inc()
        counters[1].inc(wire)
        if result is not None:
            self.count_points(signal, result)

    def count_points(self, signal: str, result: IngestResult) -> None:
        """Count what one request did with its points: each accepted or rejected once."""
        if result.accepted:
            accepted = self._accepted.get(signal)
            if accepted is None:
                accepted = self._accepted[signal] = self.points.labels(signal, "accepted")
            accepted.inc(result.accepted)
        if result.rejected:
            self.points.labels(signal, "rejected").inc(result.rejected)
            for reason, count in result.reasons.items():
                self.rejected.labels(signal, reason).inc(count)

    def text(self) -> str:
        return str(generate_latest(self.registry).decode())

    def openmetrics(self) -> str:
        return str(generate_openmetrics(self.registry).decode())
