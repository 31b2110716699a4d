"""The general path: every point of a metric walked (in upb's serialisation) and applied through the per-point rules
(``otlp_bridge.translate.rules``), each to the stream it belongs to. A metric whose points were all taken, in a layout
the fast path can read, comes back as a ``KnownMetric`` (``otlp_bridge.translate.fast``) for its next export."""

from __future__ import annotations

import functools
import struct
import sys
from collections.abc import Sequence
from typing import NamedTuple

from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    ExponentialHistogramDataPoint,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
    SummaryDataPoint,
)

from otlp_bridge.bounded import BoundedDict
from otlp_bridge.store import DropReason, Kind, Labels, Series
from otlp_bridge.translate import wire
from otlp_bridge.translate.fast import KnownMetric, PlacedPoint, known_metric, known_shape, shared, start_seconds
from otlp_bridge.translate.mapping import Exactness, FamilySpec, Value
from otlp_bridge.translate.naming import metric_name, unit_word
from otlp_bridge.translate.result import IngestResult, Rejection, TranslateOptions
from otlp_bridge.translate.rules import MAX_NAME_LENGTH, Batch, Rules, Stream, Temporality

NO_RECORDED_VALUE = 1
SETTLED = IngestResult()  # what a known metric's batch answers to once its request is answered: nothing writes it
OPENCLAW_SCOPE = "openclaw"

# The bridge's own namespaces: the official families' and the self-metrics'.
RESERVED_PREFIXES = ("openclaw_", "otlp_bridge_")
UNMAPPED_PREFIX = "unmapped_"

DataPoints = (
    Sequence[NumberDataPoint]
    | Sequence[HistogramDataPoint]
    | Sequence[ExponentialHistogramDataPoint]
    | Sequence[SummaryDataPoint]
)
StreamPrefix = tuple[bytes, str, str, str, str]  # sender id, scope, metric, kind, family
StreamKey = tuple[StreamPrefix, bytes]  # and the point's attributes


@functools.lru_cache(maxsize=65536)
def _shared_key(key: bytes) -> bytes:
    return key


MAX_HELP_LENGTH = 200


def help_text(description: str) -> str:
    """A sender's description as HELP: whitespace collapsed, at most ``MAX_HELP_LENGTH`` characters (read from a
    bounded prefix, so a huge description costs no more than a short one)."""
    return " ".join(description[: 8 * MAX_HELP_LENGTH].split())[:MAX_HELP_LENGTH]


@functools.lru_cache(maxsize=4096)
def generic_spec(
    name: str, unit: str, kind: Kind, value: Value, help_text: str, reserved: frozenset[str] = frozenset()
) -> FamilySpec:
    """A family for a metric the OpenClaw mapping does not know, named by the standard rules; a name in the bridge's
    own namespaces (where it would pass for an official family) or one of ``reserved`` (its own families, also as
    OpenMetrics stems) gets ``unmapped_`` in front. Every argument is part of the cache key: callers bound their
    length (``help_text``, ``MAX_NAME_LENGTH``)."""
    prom_name = metric_name(name, unit, counter=kind is Kind.COUNTER, gauge=kind is Kind.GAUGE)
    stem = prom_name.removesuffix("_total")
    if prom_name.startswith(RESERVED_PREFIXES) or any(stem == own.removesuffix("_total") for own in reserved):
        prom_name = UNMAPPED_PREFIX + prom_name
    text = help_text or f"OTLP metric {name}."
    return FamilySpec(name, prom_name, kind, text, (), value, unit=unit_word(unit), exactness=Exactness.GENERIC)


def _generic_kind(metric: Metric, data_kind: str) -> tuple[Kind, Value] | None:
    if data_kind == "gauge":
        return Kind.GAUGE, Value.SUM
    if data_kind == "sum":
        return (Kind.COUNTER if metric.sum.is_monotonic else Kind.GAUGE), Value.SUM
    if data_kind == "histogram":
        return Kind.HISTOGRAM, Value.HISTOGRAM
    return None  # exponential histograms and summaries are not translated


def _data_points(metric: Metric, data_kind: str) -> DataPoints:
    if data_kind == "gauge":
        return metric.gauge.data_points
    if data_kind == "sum":
        return metric.sum.data_points
    if data_kind == "histogram":
        return metric.histogram.data_points
    if data_kind == "exponential_histogram":
        return metric.exponential_histogram.data_points
    return metric.summary.data_points


class Families(NamedTuple):
    """The families a metric feeds, and whether its labels are its attributes (a metric the mapping does not know)."""

    specs: tuple[FamilySpec, ...]
    dynamic: bool


def known_prefix(sender: bytes, scope: str, name: str, known: KnownMetric) -> StreamPrefix:
    """What the stream keys of a known metric's points start with (their attributes follow)."""
    return sender, scope, name, "histogram" if known.shape.histogram else "sum", known.shape.batch.specs[0].name


class GeneralPath:
    """Owns the stream table; applies metrics point by point. A stream of a known metric's point leaves the table
    while the known metric holds it (``hold``, ``release``): ``held`` counts those, which the stream cap counts too."""

    def __init__(self, rules: Rules, specs: dict[str, tuple[FamilySpec, ...]], options: TranslateOptions) -> None:
        self.rules = rules
        self.specs = specs
        self.max_streams = options.max_streams
        self.reserved = options.reserved_names
        self.streams: dict[StreamKey, Stream] = {}
        self.held = 0
        self._batches: BoundedDict[tuple[int, Labels, bool], Batch] = BoundedDict(4096)

    def translate(
        self,
        metric: Metric,
        raw: bytes,
        sender: bytes,
        scope: str,
        extra: Labels,
        now: float,
        result: IngestResult,
    ) -> KnownMetric | None:
        """Apply every point of ``metric``. Returns its ``KnownMetric`` (a layout of ``raw``, the bytes the next
        export will be compared with) when that export may take the fast path."""
        data_kind = metric.WhichOneof("data")
        if data_kind is None:
            return None
        points = _data_points(metric, data_kind)
        families = self._families(metric, data_kind, scope, len(points), result)
        if families is None:
            return None
        if not families.specs or not points:
            result.accepted += len(points)  # span-fed families under --spans-complete: counted from spans
            return None
        temporality = self._temporality(metric, data_kind, len(points), result)
        if temporality is None:
            return None
        batch = Batch(points, families.specs, extra, families.dynamic, now, result)
        rejected_before = result.rejected
        name = sys.intern(metric.name)
        prefix: StreamPrefix = (
            sender,
            scope,
            name,
            sys.intern(data_kind),
            families.specs[0].name,
        )  # one name, two units or kinds
        histogram = data_kind == "histogram"
        try:
            encoded_points = list(wire.data_points(metric.SerializeToString()))
        except (wire.WireError, IndexError, struct.error):
            result.reject(Rejection.INVALID, len(points))
            return None
        point_streams = [
            stream
            for index, encoded in enumerate(encoded_points)
            if (stream := self._point(encoded, prefix, histogram, temporality, batch, index)) is not None
        ]
        if temporality is Temporality.GAUGE or result.rejected != rejected_before:
            return None  # refused points are retried (and reported) every time
        if len(point_streams) != len(encoded_points) or len(set(map(id, point_streams))) != len(point_streams):
            return None
        return self._known(raw, point_streams, batch, temporality, histogram)

    def _families(
        self, metric: Metric, data_kind: str, scope: str, count: int, result: IngestResult
    ) -> Families | None:
        """The families of the metric; None (its points rejected) when it feeds none it can."""
        name = metric.name
        specs = self.specs.get(name) if scope == OPENCLAW_SCOPE else None
        if specs is not None:
            expected = "sum" if specs and specs[0].value is Value.SUM else "histogram"
            if specs and data_kind != expected:
                result.reject(Rejection.INVALID, count)
                return None
            return Families(specs, False)
        if len(name) > MAX_NAME_LENGTH or len(metric.unit) > MAX_NAME_LENGTH:
            result.reject(Rejection.NAME_TOO_LONG, count)  # the unit becomes part of the name
            return None
        kind = _generic_kind(metric, data_kind)
        if kind is None:
            result.reject(Rejection.UNSUPPORTED, count)
            return None
        spec = generic_spec(name, metric.unit, *kind, help_text(metric.description), self.reserved)
        if not spec.name:
            result.reject(Rejection.INVALID, count)  # Prometheus's rules leave nothing of the name
            return None
        return Families((spec,), True)

    @staticmethod
    def _temporality(metric: Metric, data_kind: str, count: int, result: IngestResult) -> Temporality | None:
        """How the metric's points are read; None (its points rejected) when they cannot be."""
        if data_kind == "histogram":
            raw = int(metric.histogram.aggregation_temporality)
            return Temporality(raw) if raw in (Temporality.CUMULATIVE, Temporality.DELTA) else Temporality.GAUGE
        if data_kind != "sum":
            return Temporality.GAUGE
        raw = int(metric.sum.aggregation_temporality)
        if not metric.sum.is_monotonic:
            if raw == Temporality.DELTA:
                result.reject(Rejection.UNSUPPORTED, count)
                return None
            return Temporality.GAUGE  # a non-monotonic sum is a gauge: last value
        if raw not in (Temporality.CUMULATIVE, Temporality.DELTA):
            result.reject(Rejection.INVALID, count)  # a counter needs a temporality to be read at all
            return None
        return Temporality(raw)

    def _point(
        self,
        encoded: bytes,
        prefix: StreamPrefix,
        histogram: bool,
        temporality: Temporality,
        batch: Batch,
        index: int,
    ) -> Stream | None:
        """Apply one point (counted in the batch's result); its stream when it was taken."""
        result = batch.result
        try:
            point = wire.histogram_point(encoded) if histogram else wire.number_point(encoded)
        except (wire.WireError, IndexError, struct.error):
            result.reject(Rejection.INVALID)
            return None
        if point.flags & NO_RECORDED_VALUE:
            result.accepted += 1
            return None
        stream_key = (prefix, point.key)
        stream = self.streams.get(stream_key)
        if stream is None:
            stream = self._new_stream(stream_key, batch, index, point.start)
            if stream is None:
                return None
        stream.last_seen = batch.now
        stream.delta = temporality is Temporality.DELTA
        if isinstance(point, wire.HistogramPoint):
            refused = self.rules.histogram_point(stream, point, temporality, batch, index)
        else:
            refused = self.rules.sum_point(stream, point, temporality, batch, index)
        result.tally(refused)
        return stream if refused is None else None

    def _new_stream(self, key: StreamKey, batch: Batch, index: int, start: int) -> Stream | None:
        """A stream for the point ``index``; None when the stream cap refuses it. The point's attribute bytes are kept
        as one object per distinct value (the gateways of a fleet send the same ones)."""
        if len(self.streams) + self.held >= self.max_streams:
            self.rules.store.refuse(DropReason.STREAM_CAP)
            batch.result.reject(DropReason.STREAM_CAP)
            return None
        prefix, attributes_key = key[0], _shared_key(key[1])
        targets = self.rules.targets(prefix[1:], batch, index)
        created = start_seconds(start) if start else batch.now
        stream = self.streams[prefix, attributes_key] = Stream(targets, created, batch.now, attributes_key)
        return stream

    def hold(self, prefix: StreamPrefix, known: KnownMetric) -> None:
        """Take the streams of a known metric's points out of the table: it keeps their state."""
        for attributes in known.shape.attributes:
            self.streams.pop((prefix, attributes), None)
        self.held += known.shape.layout.points

    def release(self, prefix: StreamPrefix, known: KnownMetric) -> None:
        """Put the streams of a known metric that goes back in the table, as it has them."""
        for attributes, stream in zip(known.shape.attributes, known.streams(), strict=True):
            self.streams.setdefault((prefix, attributes), stream)
        self.held -= known.shape.layout.points

    def _shared_batch(self, batch: Batch) -> Batch:
        """The batch of a known metric: one per kind of metric (its families and source labels), shared by every
        sender, as its settle and wake set its time and points before they use it."""
        key = (id(batch.specs), batch.extra, batch.dynamic)
        shared = self._batches.get(key)
        if shared is None or shared.specs is not batch.specs:  # (an id is unique only while its object lives)
            shared = self._batches[key] = Batch((), batch.specs, batch.extra, batch.dynamic, 0.0, SETTLED)
        return shared

    def _known(
        self, raw: bytes, streams: list[Stream], batch: Batch, temporality: Temporality, histogram: bool
    ) -> KnownMetric | None:
        """The metric for the fast path, when every point's families have their series (or an APPROX gauge waits
        for its first interval) and its bytes have a layout the fast path reads."""
        waiting = []  # points whose APPROX gauge waits for its first interval
        for position, stream in enumerate(streams):
            unresolved = [target.spec for target in stream.targets if not isinstance(target.series, Series)]
            if any(spec.value is not Value.MEAN for spec in unresolved):
                return None
            if unresolved:
                waiting.append(position)
        layout = wire.metric_layout(raw, histogram)
        if layout is None:
            return None
        placed = [PlacedPoint.of(index, stream) for index, stream in enumerate(streams)] if histogram else []
        cumulative = temporality is Temporality.CUMULATIVE
        means = any(spec.value is Value.MEAN for spec in batch.specs)
        shape = known_shape(
            layout, raw, streams, self._shared_batch(batch), cumulative, shared(tuple(filter(None, placed)))
        )
        try:
            known = known_metric(shape, raw, streams, batch.now, means)
        except (ValueError, struct.error):
            return None  # a state the packed values cannot hold (an edge of a sender's restarts)
        if waiting:  # (an APPROX gauge's: ``known`` keeps means)
            known.optional().waiting = tuple(waiting)
        return known
