"""Metrics translation: a decoded ``ExportMetricsServiceRequest`` → increments of ``openclaw_*`` series.

Each metric of a request takes the fast path (``otlp_bridge.translate.fast``: the same streams in the same bytes as
its previous export, values kept until the store is read) or the general path (``otlp_bridge.translate.general``:
every point walked); both apply points through one set of per-point rules (``otlp_bridge.translate.rules``). This
module routes each metric, names the sources, settles before a read and expires idle state.

Pure and synchronous; ``now`` is passed in.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from otlp_bridge.bounded import BoundedDict
from otlp_bridge.store import Labels, Series, Store
from otlp_bridge.translate import fast, wire
from otlp_bridge.translate.attributes import attribute_dict
from otlp_bridge.translate.fast import KnownMetric
from otlp_bridge.translate.general import OPENCLAW_SCOPE, GeneralPath
from otlp_bridge.translate.labels import label_pair, normalize_value
from otlp_bridge.translate.mapping import METRIC_SPECS, specs_by_metric
from otlp_bridge.translate.result import IngestResult, TranslateOptions
from otlp_bridge.translate.rules import Rules

__all__ = ["IngestResult", "MetricsTranslator", "TranslateOptions", "sender_prefix", "source_name"]

SEMCONV_PREFIX = "gen_ai."  # OpenClaw metrics named by the semantic conventions, never prefixed


@functools.lru_cache(maxsize=4096)
def source_name(resource_key: bytes, source_attributes: tuple[str, ...]) -> str:
    """The source a serialised resource belongs to: the values of ``source_attributes`` joined by ``:``."""
    attributes = attribute_dict(Resource.FromString(resource_key).attributes)
    values = [attributes[key] for key in source_attributes if key in attributes]
    return normalize_value(":".join(values), "unknown")


class MetricsTranslator:
    """Routes each metric of a request to the fast or the general path; writes into a ``Store``."""

    def __init__(self, store: Store, options: TranslateOptions) -> None:
        self.store = store
        self.options = options
        self.rules = Rules(store)
        self.general = GeneralPath(
            self.rules, specs_by_metric(options.metric_name_prefix, options.spans_complete), options
        )
        self.streams = self.general.streams
        self.known: dict[tuple[bytes, str, str], KnownMetric] = {}
        # When each sender (serialised resource) last sent a request: its delta streams live as long as it does.
        self.heard: BoundedDict[bytes, float] = BoundedDict(options.max_streams)
        store.add_settler(self.settle_steps)

    def source_name(self, resource_key: bytes) -> str:
        """The source of a serialised resource (``--source-attributes``)."""
        return source_name(resource_key, self.options.source_attributes)

    # -- the request ----------------------------------------------------------------------------------------
    def apply(self, request: ExportMetricsServiceRequest, now: float, body: bytes | None = None) -> IngestResult:
        """Translate a decoded request; ``body``, the protobuf it was decoded from, spares re-encoding each metric
        for the fast path."""
        result = IngestResult()
        encoded = wire.metric_slices(body) if body is not None else None
        if encoded is not None and len(encoded) != sum(
            len(scope.metrics) for resource in request.resource_metrics for scope in resource.scope_metrics
        ):
            encoded = None
        index = 0
        prefix = self.options.metric_name_prefix
        prefixed = False
        unprefixed = ""
        for resource_metrics in request.resource_metrics:
            resource_key = resource_metrics.resource.SerializeToString()
            self.heard[resource_key] = now
            source = self.source_name(resource_key)
            result.sources.add(source)
            label = self.options.source_label
            extra: Labels = (label_pair(label, source),) if label else ()
            for scope_metrics in resource_metrics.scope_metrics:
                scope = sys.intern(scope_metrics.scope.name)
                for metric in scope_metrics.metrics:
                    raw = encoded[index] if encoded is not None else metric.SerializeToString()
                    index += 1
                    if scope == OPENCLAW_SCOPE:
                        name = metric.name
                        if name.startswith(prefix):
                            prefixed = True
                        elif not name.startswith(SEMCONV_PREFIX):
                            unprefixed = name
                    self._metric(metric, raw, scope, resource_key, extra, now, result)
        if not prefixed:
            result.unprefixed = unprefixed
        return result

    def _metric(
        self,
        metric: Metric,
        raw: bytes,
        scope: str,
        resource_key: bytes,
        extra: Labels,
        now: float,
        result: IngestResult,
    ) -> None:
        key = (resource_key, scope, sys.intern(metric.name))  # (one name object for every sender)
        known = self.known.pop(key, None)
        if known is not None:
            if known.take(raw, now):
                self.known[key] = known
                result.accepted += known.layout.points
                if known.woken:
                    fast.wake(known, self.rules, now, result)
                if known.eager:
                    self._settle(known)
                return
            self._settle(known)  # what it kept comes before this export
        known = self.general.translate(metric, raw, resource_key, scope, extra, now, result)
        if known is not None:
            if len(self.known) >= self.options.max_streams:
                self.settle()
                self.known.clear()
            self.known[key] = known

    # -- settling -------------------------------------------------------------------------------------------
    def settle(self) -> None:
        """Apply what the fast path kept to the series."""
        for _ in self.settle_steps():
            pass

    def settle_steps(self) -> Iterator[None]:
        """``settle``, one known metric at a time (the store runs this before it is read). Metrics taken or added
        between steps are settled by the next read."""
        for known in list(self.known.values()):
            if known.unsettled:
                self._settle(known)
                yield

    def _settle(self, known: KnownMetric) -> None:
        fast.settle(known, self.rules)

    # -- expiry ---------------------------------------------------------------------------------------------
    def expire(self, now: float) -> int:
        """Drop stream state idle for the series TTL, then the series themselves.

        The fast path does not visit streams, so liveness flows here: known metric → its streams → their series.
        A delta stream also lives while its sender sends any metric: a delta exporter (the OpenTelemetry SDKs) sends
        no point for a counter that did not move, and its running total must not go while the sender lives."""
        cutoff = now - self.store.ttl
        self.settle()
        heard = self.heard
        for resource_key, when in list(heard.items()):
            if when < cutoff:
                del heard[resource_key]
        for key, known in list(self.known.items()):
            if known.last_seen < cutoff:
                del self.known[key]
                continue
            for stream in known.streams:
                stream.last_seen = max(stream.last_seen, known.last_seen)
        for stream_key, stream in list(self.streams.items()):
            if stream.delta:
                stream.last_seen = max(stream.last_seen, heard.get(stream_key[0][0], stream.last_seen))
            if stream.last_seen < cutoff:
                del self.streams[stream_key]
                continue
            for target in stream.targets:
                series = target.series
                if isinstance(series, Series) and series.last_seen < stream.last_seen:
                    series.last_seen = stream.last_seen
        return self.store.expire(now)


def sender_prefix(name: str) -> str | None:
    """The ``metricNamePrefix`` an OpenClaw metric was most likely sent with (None when its name is unknown)."""
    sources = (spec.source for spec in METRIC_SPECS if not spec.source.startswith(SEMCONV_PREFIX))
    known = [source for source in sources if name.endswith(source)]
    return name[: -len(max(known, key=len))] if known else None
