"""The status page's own bookkeeping: what each sender exported and which requests were refused, by cause.

Bounded: at most ``MAX_SOURCES`` senders (later ones are counted as ``other``, like the self-metrics' sources), one
entry per refusal cause and listener, and one count of unattributed log exports per service a sender has; every value
that came from a sender is cut to ``MAX_VALUE_CHARS``.
Pure and synchronous; ``now`` is passed in.
"""

from __future__ import annotations

import statistics
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric, ScopeMetrics
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from otlp_bridge.expose.selfmetrics import MAX_SOURCES, OVERFLOW_SOURCE
from otlp_bridge.receive.codec import Encoding, ExportRequest
from otlp_bridge.translate.result import IngestResult
from otlp_bridge.translate.senders import MAX_VALUE_CHARS, SenderKey, identify

GAPS = 9  # export gaps kept per sender to estimate its flush interval
_TEMPORALITY = {
    AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA: "delta",
    AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE: "cumulative",
}


OVERFLOW = SenderKey(OVERFLOW_SOURCE, "", "")


class Arrival(NamedTuple):
    """How a request came: its encoding, whether it was gzipped, and the peer's address (``""`` if unknown)."""

    encoding: Encoding
    gzipped: bool
    peer: str


@dataclass(slots=True)
class Sender:
    key: SenderKey
    last: dict[str, float] = field(default_factory=dict)  # signal → when its last export arrived
    gaps: deque[float] = field(default_factory=lambda: deque(maxlen=GAPS))  # between its last metric exports
    exports: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)  # reason → points
    temporality: set[str] = field(default_factory=set)
    encodings: set[tuple[Encoding, bool]] = field(default_factory=set)  # and gzipped
    peer: str = ""  # of its last export

    @property
    def last_seen(self) -> float:
        return max(self.last.values())

    @property
    def interval(self) -> float | None:
        """The gateway's flush interval as its metric exports show it (the median of the last gaps: after its event
        loop was blocked, OpenClaw sends late and then twice in a few milliseconds)."""
        return statistics.median(self.gaps) if self.gaps else None


@dataclass(slots=True)
class Refusal:
    """The requests of one listener refused for one cause (an outcome of the self-metrics)."""

    listener: str  # "otlp" or "scrape"
    cause: str
    status: int
    count: int = 0
    at: float = 0.0
    peer: str = ""
    where: str = ""  # the signal of the last one (OTLP) or its path (scrape)
    message: str = ""


class StatusBook:
    """Per-sender exports and per-cause refusals since the bridge started (senders leave after ``--series-ttl``)."""

    def __init__(self) -> None:
        self.senders: dict[SenderKey, Sender] = {}
        self.refusals: dict[tuple[str, str], Refusal] = {}
        self.unattributed: Counter[str] = Counter()  # service → log exports not told apart among its senders
        self.exports = 0

    def exported(
        self, signal: str, message: ExportRequest | None, result: IngestResult, arrival: Arrival, now: float
    ) -> None:
        """Note an accepted request; its points count for every sender it carries (OpenClaw sends one). Without the
        decoded ``message`` (the whole-export path took it), its senders are ``result.senders``."""
        self.exports += 1
        senders = (
            ((identify(resource), temporality) for resource, temporality in _resources(message))
            if message is not None
            else ((sender.key, sender.temporality) for sender in result.senders)
        )
        for key, temporality in senders:
            sender = self._sender(key, arrival.peer)
            if sender is None:
                self.unattributed[key.service] += 1
                continue
            sender.peer = arrival.peer
            previous = sender.last.get(signal)
            if signal == "metrics" and previous is not None and now > previous:
                sender.gaps.append(now - previous)
            sender.last[signal] = now
            sender.exports += 1
            sender.accepted += result.accepted
            sender.rejected.update(result.reasons)
            sender.encodings.add((arrival.encoding, arrival.gzipped))
            if temporality:
                sender.temporality.add(temporality)

    def refused(
        self, listener: str, cause: str, status: int, peer: str | None, where: str, message: str, now: float
    ) -> None:
        refusal = self.refusals.get((listener, cause))
        if refusal is None:
            refusal = self.refusals[listener, cause] = Refusal(listener, cause, status)
        refusal.status = status
        refusal.count += 1
        refusal.at = now
        refusal.peer = (peer or "unknown")[:MAX_VALUE_CHARS]
        refusal.where = where[:MAX_VALUE_CHARS]
        refusal.message = message[:MAX_VALUE_CHARS]

    def expire(self, cutoff: float) -> None:
        """Forget senders not heard from since ``cutoff``, and the unattributed logs of services left without one."""
        for key in [key for key, sender in self.senders.items() if sender.last_seen < cutoff]:
            del self.senders[key]
        services = {key.service for key in self.senders}
        for service in [service for service in self.unattributed if service not in services]:
            del self.unattributed[service]

    def _sender(self, key: SenderKey, peer: str) -> Sender | None:
        """The sender of a resource. OpenClaw's log records name only the service (every gateway's default is
        ``openclaw``): they count for the sender of that name at their peer's address, and for none (None) when no
        or several senders of that name are there; a row of the service name alone is made only while it has no
        sender."""
        if not key.host and not key.instance:
            same = [sender for sender in self.senders.values() if sender.key.service == key.service]
            if same:
                there = [sender for sender in same if sender.peer == peer]
                return there[0] if len(there) == 1 else None
        found = self.senders.get(key)
        if found is not None:
            return found
        # the gateway's log records came before its metrics: their row becomes its row
        lone = self.senders.get(SenderKey(key.service, "", ""))
        if lone is not None and lone.peer == peer and lone.key != OVERFLOW:
            found = self.senders[key] = self.senders.pop(lone.key)
            found.key = key
            return found
        if len(self.senders) >= MAX_SOURCES:
            key = OVERFLOW
            found = self.senders.get(key)
            if found is not None:
                return found
        sender = self.senders[key] = Sender(key)
        return sender


def _resources(message: ExportRequest) -> Iterator[tuple[Resource, str]]:
    """Each resource of a request with the temporality of its first sum or histogram (``""`` if none)."""
    if isinstance(message, ExportMetricsServiceRequest):
        for block in message.resource_metrics:
            yield block.resource, _temporality(block.scope_metrics)
        return
    blocks = message.resource_spans if isinstance(message, ExportTraceServiceRequest) else message.resource_logs
    for events in blocks:
        yield events.resource, ""


def _temporality(scopes: Iterable[ScopeMetrics]) -> str:
    for scope in scopes:
        for metric in scope.metrics:
            temporality = _aggregation_temporality(metric)
            if temporality is not None:
                return _TEMPORALITY.get(temporality, "unspecified")
    return ""


def _aggregation_temporality(metric: Metric) -> AggregationTemporality.ValueType | None:
    """The temporality of a sum or histogram; None for the kinds without one (gauge, summary)."""
    kind = metric.WhichOneof("data")
    if kind == "sum":
        return metric.sum.aggregation_temporality
    if kind == "histogram":
        return metric.histogram.aggregation_temporality
    if kind == "exponential_histogram":
        return metric.exponential_histogram.aggregation_temporality
    return None
