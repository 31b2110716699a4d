"""Metrics translation: a decoded ``ExportMetricsServiceRequest`` → increments of ``openclaw_*`` series.

Every incoming stream (resource + scope + metric + attributes) is tracked, so cumulative points become
increments: a resend adds nothing, a restart (new start time or a decrease) starts from zero, a delta point is
an increment by itself, and a repeated delta point (same end time) is ignored. Several streams may feed one
series (attributes summed away, several senders): each contributes only its own increments.

A metric whose every byte but its values matches its previous export (the same streams in the same places: what
OpenClaw sends every interval) takes a fast path: its values are read with one ``struct`` call, checked, and kept
(cumulative: the latest export; delta: the running sum) until the store is read, when ``settle`` applies them to
the series through the same per-point rules. Anything the checks cannot vouch for (a reset, a resend, a new stream,
an invalid value) settles what was kept and goes the general way. New observations above the last bound of a
histogram whose official buckets go further are placed from their own export as it is taken
(``otlp_bridge.translate.placement``), and the placed counts are kept with the values until the settle.

Pure and synchronous; ``now`` is passed in.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import struct
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from otlp_bridge.store import DropReason, HistogramSeries, Kind, Labels, ScalarSeries, Series, Store
from otlp_bridge.translate import placement, wire
from otlp_bridge.translate.attributes import attribute_dict, is_private_attribute
from otlp_bridge.translate.labels import label_pair, normalize_value, sanitize_label_name
from otlp_bridge.translate.mapping import (
    METRIC_SPECS,
    Exactness,
    FamilySpec,
    Value,
    specs_by_metric,
)
from otlp_bridge.translate.naming import metric_name, unit_word
from otlp_bridge.translate.result import IngestResult, Reason, Rejection

CUMULATIVE = 2
DELTA = 1
NO_RECORDED_VALUE = 1
OPENCLAW_SCOPE = "openclaw"
SEMCONV_PREFIX = "gen_ai."  # OpenClaw metrics named by the semantic conventions, never prefixed


@dataclass(frozen=True, slots=True)
class TranslateOptions:
    metric_name_prefix: str = "openclaw."
    spans_complete: bool = False
    source_label: str | None = None
    source_attributes: tuple[str, ...] = ("service.name", "host.name")
    max_streams: int = 32768
    reserved_names: frozenset[str] = frozenset()  # the bridge's own families: never a generic metric's name


class Increment(NamedTuple):
    """A change to apply: for sums ``value``; for histograms ``observations``, ``total`` and per-bucket ``counts``."""

    value: float = 0.0
    observations: float = 0.0
    total: float = 0.0
    counts: tuple[float, ...] = ()


class Target:
    """One family a stream feeds: its spec, its series (or why it was refused, or None before the first point), the
    stream's bucket bounds in the family's unit and the official bounds placed above them (``extra``, in the stream's
    unit; see ``otlp_bridge.translate.placement``). ``placed``: what the fast path placed in the ``extra`` buckets of
    the exports it kept, then the count it could not place, until they are settled."""

    __slots__ = ("bounds", "extra", "placed", "series", "spec")

    def __init__(self, spec: FamilySpec, series: Series | DropReason | None) -> None:
        self.spec = spec
        self.series = series
        self.bounds: tuple[float, ...] | None = None
        self.extra: tuple[float, ...] = ()
        self.placed: list[float] | None = None


class Stream:
    """State of one incoming OTLP stream: the last cumulative point and the families it feeds."""

    __slots__ = ("created", "last_seen", "last_time", "raw_bounds", "start", "state", "targets")

    def __init__(self, targets: list[Target], created: float, now: float) -> None:
        self.targets = targets
        self.created = created
        self.last_seen = now
        self.start = -1
        self.last_time = -1
        self.state = Increment()
        self.raw_bounds: tuple[float, ...] = ()


class KnownMetric:
    """A metric as last translated, with the layout of its bytes, so that an export of the same streams is read
    without a walk (see the module docstring).

    ``streams`` are the streams of its points in order. Cumulative: ``latest`` is the newest accepted export and
    ``settled`` the one the series reflect; ``starts`` and ``counts`` (the value of a sum, the count of a histogram)
    of every point tell a restart or a reset (a new start, or a count that went down) from growth. Delta:
    ``pending`` sums the values of the exports not yet settled (a histogram's counts and bucket counts as lanes of
    one integer: ``_lane_values``) and ``last_time`` is the newest end time (an export that is not newer is a resend
    and goes the general way). ``eager`` metrics (those feeding a gauge) are settled
    as soon as they are taken. A change to a ``waiting`` point (whose APPROX gauge has no value yet) is ``woken``: the
    translator creates the gauge's series before it settles, and answers for a refusal in the request.
    """

    __slots__ = (
        "batch",
        "counts",
        "cumulative",
        "eager",
        "exports",
        "histogram",
        "last_seen",
        "last_time",
        "latest",
        "layout",
        "overflow",
        "pending",
        "placed",
        "settled",
        "skeleton",
        "starts",
        "streams",
        "waiting",
        "watched",
        "woken",
    )

    def __init__(
        self,
        layout: wire.Layout,
        raw: bytes,
        streams: list[Stream],
        batch: _Batch,
        cumulative: bool,
        histogram: bool,
        placed: tuple[Placed, ...] = (),
    ) -> None:
        self.layout = layout
        self.skeleton = hash(layout.skeleton.unpack(raw))
        self.streams = streams
        self.batch = batch
        self.cumulative = cumulative
        self.histogram = histogram
        self.eager = False  # settled at once: a gauge shows each export's own mean, it cannot wait for a read
        self.waiting: tuple[int, ...] = ()  # points whose APPROX gauge is not created yet (``_translate``)
        self.woken: list[int] = []  # those of them that changed in the export just taken
        self.latest = self.settled = raw
        self.pending: Any = None
        self.exports = 0  # taken since the last settle
        self.last_seen = batch.now
        values = layout.values.unpack(raw)
        self.last_time: int = max(values[wire.TIME :: layout.stride])
        self.starts = array("Q", values[wire.START :: layout.stride])  # 8 bytes a point, not an int object
        counts = values[wire.COUNT :: layout.stride]
        self.counts = array("d" if isinstance(counts[0], float) else "Q", counts)
        # The points whose observations above the last bound are placed, and their +Inf columns: an export that
        # changes them (cumulative) or has any (delta) places them as it is taken.
        self.placed = placed
        watched = [entry.point * layout.stride + layout.stride - 1 for entry in placed]
        self.watched = operator.itemgetter(*watched, watched[0]) if watched else None  # always a tuple
        self.overflow = self.watched(values if cumulative else [0] * len(values)) if self.watched else None

    @property
    def unsettled(self) -> bool:
        """Whether exports were taken that the series do not reflect yet."""
        return self.latest is not self.settled or self.pending is not None

    def take(self, raw: bytes, now: float) -> bool:
        """Keep the values of ``raw`` if its skeleton is the known one and every check passes; False otherwise."""
        layout = self.layout
        if len(raw) != layout.skeleton.size or hash(layout.skeleton.unpack(raw)) != self.skeleton:
            return False
        values = layout.values.unpack(raw)
        if not self._valid(values):
            return False
        overflow = self.watched(values) if self.watched is not None else None
        placements = self._placements(raw, values) if overflow != self.overflow else []
        if placements is None:
            return False
        if not (self._keep_cumulative(values) if self.cumulative else self._keep_delta(raw, values)):
            return False
        for target, placed in placements:
            target.placed = placed if target.placed is None else list(map(operator.add, target.placed, placed))
        if self.cumulative:
            self.overflow = overflow
        self.exports += 1
        self.latest = raw
        self.last_seen = now
        return True

    def _valid(self, values: tuple[Any, ...]) -> bool:
        """Finite values, counts that are not negative, buckets that add up to their counts."""
        stride = self.layout.stride
        counts = values[wire.COUNT :: stride]  # a sum's value or a histogram's count (VALUE and COUNT: one column)
        if self.histogram:
            buckets = sum(sum(values[column::stride]) for column in range(wire.BUCKETS, stride))
            return math.isfinite(sum(values[wire.SUM :: stride])) and buckets == sum(counts)
        return math.isfinite(sum(counts)) and min(counts) >= 0

    def _keep_cumulative(self, values: tuple[Any, ...]) -> bool:
        stride = self.layout.stride
        typed = array(self.counts.typecode, values[wire.COUNT :: stride])
        restarted = array("Q", values[wire.START :: stride]) != self.starts
        if restarted or not all(map(operator.ge, typed, self.counts)):
            return False  # a restart or a reset, for the general path to tell
        self.woken = [point for point in self.waiting if typed[point] != self.counts[point]]
        self.counts = typed
        return True

    def _keep_delta(self, raw: bytes, values: tuple[Any, ...]) -> bool:
        layout = self.layout
        stride = layout.stride
        times = values[wire.TIME :: stride]
        if min(times) <= self.last_time:
            return False  # a resend
        counts = values[wire.COUNT :: stride]
        pending = self.pending
        if self.histogram:
            if max(counts) >= LANE_LIMIT or self.exports >= MAX_PENDING_EXPORTS:
                return False  # a lane could overflow into its neighbour
            assert layout.lanes is not None
            lanes = int.from_bytes(b"".join(layout.lanes.unpack(raw)), "little")
            sums: Sequence[float] = values[wire.SUM :: stride]
            if pending is not None:
                lanes += pending[0]
                sums = list(map(operator.add, pending[1], sums))
            self.pending = (lanes, sums)
        else:
            self.pending = values if pending is None else list(map(operator.add, pending, values))
        self.woken = [point for point in self.waiting if counts[point]]
        self.last_time = max(times)
        return True

    def _placements(self, raw: bytes, values: tuple[Any, ...]) -> list[tuple[Target, list[float]]] | None:
        """What this export adds to the ``extra`` buckets of its placed points' targets (placed as the general path
        places them, export by export), then the count not placed; None when a bucket went down (the general path
        tells why)."""
        layout = self.layout
        stride = layout.stride
        previous = layout.values.unpack(self.latest) if self.cumulative else None
        placements = []
        for point, groups in self.placed:
            at = point * stride
            if previous is None and not values[at + stride - 1]:
                continue
            stream = self.streams[point]
            row = values[at : at + stride]
            extremes = None
            if previous is None:
                low, high = wire.point_extremes(raw, layout, point)
                if low is not None or high is not None:
                    extremes = placement.Extremes(_finite(low), _finite(high))
                magnitude = abs(stream.state.total)
            else:
                if row[-1] == previous[at + stride - 1]:
                    continue
                row = tuple(map(operator.sub, row, previous[at : at + stride]))
                if min(row[wire.BUCKETS :]) < 0:
                    return None
                magnitude = abs(values[at + wire.SUM])
            total = row[wire.SUM]
            error = placement.sum_error(row[wire.COUNT], max(magnitude, abs(total)))
            counts = row[wire.BUCKETS :]
            for extra, targets in groups:
                kept, unplaced = placement.above(stream.raw_bounds, extra, counts, total, error, extremes)
                kept[-1] = unplaced  # in place of the +Inf count: the count of the extra buckets is enough
                placements += [(target, kept) for target in targets]
        return placements


class Placed(NamedTuple):
    """A point of a known histogram whose observations above the last bound are placed: its index and its
    histogram targets, grouped by the official bounds placed above the stream's (``Target.extra``)."""

    point: int
    groups: tuple[tuple[tuple[float, ...], tuple[Target, ...]], ...]

    @classmethod
    def of(cls, point: int, stream: Stream) -> Placed | None:
        groups: dict[tuple[float, ...], list[Target]] = {}
        for target in stream.targets:
            extra = official_extension(target.spec, stream.raw_bounds)
            if extra and isinstance(target.series, HistogramSeries):
                groups.setdefault(extra, []).append(target)
        return cls(point, tuple((extra, tuple(targets)) for extra, targets in groups.items())) if groups else None


# A delta histogram's counts and bucket counts are summed as 64-bit lanes of one integer (one addition per export,
# not one per bucket). Lanes stay apart while every export's count is below LANE_LIMIT and at most
# MAX_PENDING_EXPORTS are summed between settles: 2**40 * 2**12 < 2**64.
LANE_LIMIT = 1 << 40
MAX_PENDING_EXPORTS = 1 << 12


def _lane_values(pending: tuple[int, Sequence[float]], layout: wire.Layout) -> list[Any]:
    """The summed exports of a delta histogram in ``layout.values`` order (start and time as 0: unused there)."""
    lanes, sums = pending
    per_point = layout.stride - wire.BUCKETS + 1  # the count and the bucket counts
    counts = array("Q")
    counts.frombytes(lanes.to_bytes(layout.points * per_point * wire.LANE_BYTES, "little"))
    values: list[Any] = []
    for index, total in enumerate(sums):
        at = index * per_point
        values += (0, 0, counts[at], total, *counts[at + 1 : at + per_point])
    return values


class _ParsedPoints:
    """The data points of a serialised metric, parsed on first use (only a series that must be looked up again
    needs its point's attributes)."""

    __slots__ = ("_points", "raw")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._points: Any = None

    def __getitem__(self, index: int) -> Any:
        if self._points is None:
            metric = Metric.FromString(self.raw)
            kind = metric.WhichOneof("data")
            self._points = getattr(metric, kind).data_points if kind else ()
        return self._points[index]


_BOUNDS: dict[tuple[float, ...], tuple[float, ...] | None] = {}


def shared_bounds(bounds: tuple[float, ...]) -> tuple[float, ...] | None:
    """One tuple per distinct bound set, shared by every stream and series that uses it; None when the bounds are
    not finite and strictly increasing (memoised: senders reuse a few bound sets)."""
    if bounds in _BOUNDS:
        return _BOUNDS[bounds]
    valid = all(math.isfinite(b) for b in bounds) and all(a < b for a, b in itertools.pairwise(bounds))
    if len(_BOUNDS) >= 1024:
        _BOUNDS.clear()
    shared = _BOUNDS[bounds] = bounds if valid else None
    return shared


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def official_extension(spec: FamilySpec, raw_bounds: tuple[float, ...]) -> tuple[float, ...]:
    """The family's official bounds above the stream's last bound, in the stream's unit (see ``placement``); one
    tuple per distinct case, shared by every target that has it."""
    if not spec.bounds or not raw_bounds:
        return ()
    return _extension(raw_bounds, spec.bounds, spec.divisor)


@functools.lru_cache(maxsize=1024)
def _extension(raw_bounds: tuple[float, ...], official: tuple[float, ...], divisor: float) -> tuple[float, ...]:
    return placement.extension(raw_bounds, [bound * divisor for bound in official])


def scaled_bounds(bounds: tuple[float, ...], divisor: float) -> tuple[float, ...]:
    """Bucket bounds in the family's unit (ms → s divides by 1000, which is exact for the bounds OpenClaw uses)."""
    return bounds if divisor == 1.0 else tuple(bound / divisor for bound in bounds)


class _Batch:
    """What the points of one metric share while they are translated."""

    __slots__ = ("dynamic", "extra", "now", "points", "result", "settling", "specs")

    def __init__(
        self, points: Any, specs: tuple[FamilySpec, ...], extra: Labels, dynamic: bool, now: float, result: IngestResult
    ) -> None:
        self.points = points
        self.specs = specs
        self.extra = extra
        self.dynamic = dynamic
        self.now = now
        self.result = result
        self.settling = False  # applying what the fast path kept: no request to answer for a refusal

    def attributes(self, index: int) -> dict[str, str]:
        """The parsed attributes of point ``index``: read only for new streams and for retrying refused series."""
        return attribute_dict(self.points[index].attributes)


# Metric names and attribute keys of metrics the mapping does not know become names on every sample line; OpenClaw's
# are under 60 characters. Longer ones are refused (names) or left out (attribute keys), so that no sender can make
# each line of the page kilobytes long.
MAX_NAME_LENGTH = 200
MAX_VALUE_LENGTH = 120  # the normaliser's limit for one label value


# The bridge's own namespaces: the official families' and the self-metrics'.
RESERVED_PREFIXES = ("openclaw_", "otlp_bridge_")
UNMAPPED_PREFIX = "unmapped_"


def generic_spec(
    name: str, unit: str, kind: Kind, value: Value, description: str, reserved: frozenset[str] = frozenset()
) -> FamilySpec:
    """A family for a metric the OpenClaw mapping does not know, named by the standard rules; a name in the bridge's
    own namespaces (where it would pass for an official family) or one of ``reserved`` (its own families, also as
    OpenMetrics stems) gets ``unmapped_`` in front."""
    prom_name = metric_name(name, unit, counter=kind is Kind.COUNTER, gauge=kind is Kind.GAUGE)
    stem = prom_name.removesuffix("_total")
    if prom_name.startswith(RESERVED_PREFIXES) or any(stem == own.removesuffix("_total") for own in reserved):
        prom_name = UNMAPPED_PREFIX + prom_name
    help_text = " ".join(description.split())[:200] or f"OTLP metric {name}."
    return FamilySpec(name, prom_name, kind, help_text, (), value, unit=unit_word(unit), exactness=Exactness.GENERIC)


class MetricsTranslator:
    """Owns the stream table; writes into a ``Store``."""

    def __init__(self, store: Store, options: TranslateOptions) -> None:
        self.store = store
        self.options = options
        self.specs = specs_by_metric(options.metric_name_prefix, options.spans_complete)
        self.streams: dict[tuple[Any, ...], Stream] = {}
        self.known: dict[tuple[bytes, str, str], KnownMetric] = {}
        self._generic: dict[tuple[str, str, str, bool], FamilySpec] = {}
        self._sources: dict[bytes, str] = {}
        store.add_settler(self.settle_steps)

    # -- sources --------------------------------------------------------------------------------------------
    def source_name(self, resource: Any, resource_key: bytes) -> str:
        """The source a resource belongs to: the ``--source-attributes`` values joined by ``:``."""
        name = self._sources.get(resource_key)
        if name is None:
            attributes = attribute_dict(resource.attributes)
            values = [attributes[key] for key in self.options.source_attributes if key in attributes]
            name = normalize_value(":".join(values), "unknown")
            if len(self._sources) >= 4096:
                self._sources.clear()
            self._sources[resource_key] = name
        return name

    # -- the request ----------------------------------------------------------------------------------------
    def apply(self, request: Any, now: float, body: bytes | None = None) -> IngestResult:
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
            source = self.source_name(resource_metrics.resource, resource_key)
            result.sources.add(source)
            label = self.options.source_label
            extra: Labels = (label_pair(label, source),) if label else ()
            for scope_metrics in resource_metrics.scope_metrics:
                scope = scope_metrics.scope.name
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
        metric: Any,
        raw: bytes,
        scope: str,
        resource_key: bytes,
        extra: Labels,
        now: float,
        result: IngestResult,
    ) -> None:
        key = (resource_key, scope, metric.name)
        known = self.known.pop(key, None)
        if known is not None:
            if known.take(raw, now):
                self.known[key] = known
                result.accepted += known.layout.points
                if known.woken:
                    self._wake(known, now, result)
                if known.eager:
                    self._settle(known)
                return
            self._settle(known)  # what it kept comes before this export
        known = self._translate(metric, raw, resource_key, scope, extra, now, result)
        if known is not None:
            if len(self.known) >= self.options.max_streams:
                self.settle()
                self.known.clear()
            self.known[key] = known

    def _translate(
        self,
        metric: Any,
        raw: bytes,
        resource_key: bytes,
        scope: str,
        extra: Labels,
        now: float,
        result: IngestResult,
    ) -> KnownMetric | None:
        """The general path: every point walked (in upb's serialisation) and applied. Returns the metric's
        ``KnownMetric`` (a layout of ``raw``, the bytes the next export will be compared with) when that export may
        take the fast path."""
        data_kind = metric.WhichOneof("data")
        if data_kind is None:
            return None
        name = metric.name
        data = getattr(metric, data_kind)
        points = data.data_points
        specs = self.specs.get(name) if scope == OPENCLAW_SCOPE else None
        if specs is None:
            if len(name) > MAX_NAME_LENGTH:
                result.reject(Rejection.NAME_TOO_LONG, len(points))
                return None
            specs = self._generic_specs(metric, data_kind, data)
            if specs is None:
                result.reject(Rejection.UNSUPPORTED, len(points))
                return None
            if not specs[0].name:
                result.reject(Rejection.INVALID, len(points))  # Prometheus's rules leave nothing of the name
                return None
            dynamic = True
        else:
            dynamic = False
            expected = "sum" if specs and specs[0].value is Value.SUM else "histogram"
            if specs and data_kind != expected:
                result.reject(Rejection.INVALID, len(points))
                return None
        if not specs or not points:
            result.accepted += len(points)  # span-fed families under --spans-complete: counted from spans
            return None
        temporality = getattr(data, "aggregation_temporality", 0)
        if data_kind == "sum":
            if not data.is_monotonic:
                if temporality == DELTA:
                    result.reject(Rejection.UNSUPPORTED, len(points))
                    return None
                temporality = 0  # a non-monotonic sum is a gauge: last value
            elif temporality not in (CUMULATIVE, DELTA):
                result.reject(Rejection.INVALID, len(points))  # a counter needs a temporality to be read at all
                return None
        batch = _Batch(points, specs, extra, dynamic, now, result)
        rejected_before = result.rejected
        prefix = (resource_key, scope, name, data_kind, specs[0].name)  # one name, two units or kinds: two streams
        streams = self.streams
        histogram = data_kind == "histogram"
        try:
            encoded_points = list(wire.data_points(metric.SerializeToString()))
        except (wire.WireError, IndexError, struct.error):
            result.reject(Rejection.INVALID, len(points))
            return None
        point_streams: list[Stream] = []
        for index, encoded in enumerate(encoded_points):
            try:
                point = wire.histogram_point(encoded) if histogram else wire.number_point(encoded)
            except (wire.WireError, IndexError, struct.error):
                result.reject(Rejection.INVALID)
                continue
            if point.flags & NO_RECORDED_VALUE:
                result.accepted += 1
                continue
            stream_key = (prefix, point.key)
            stream = streams.get(stream_key)
            if stream is None:
                stream = self._new_stream(stream_key, batch, index, point.start)
                if stream is None:
                    continue
            stream.last_seen = now
            if histogram:
                refused = self._histogram_point(stream, point, temporality, batch, index)  # type: ignore[arg-type]
            else:
                refused = self._sum_point(stream, point, temporality, batch, index)  # type: ignore[arg-type]
            result.tally(refused)
            if refused is None:
                point_streams.append(stream)
        if temporality not in (CUMULATIVE, DELTA) or result.rejected != rejected_before:
            return None  # refused points are retried (and reported) every time
        if len(point_streams) != len(encoded_points) or len(set(map(id, point_streams))) != len(point_streams):
            return None
        waiting = []  # points whose APPROX gauge waits for its first interval
        for position, stream in enumerate(point_streams):
            unresolved = [target.spec for target in stream.targets if not isinstance(target.series, Series)]
            if any(spec.value is not Value.MEAN for spec in unresolved):
                return None
            if unresolved:
                waiting.append(position)
        layout = wire.metric_layout(raw, histogram)
        if layout is None:
            return None
        batch.points = _ParsedPoints(raw)  # the request's parsed message is not kept
        placed = [Placed.of(index, stream) for index, stream in enumerate(point_streams)] if histogram else []
        known = KnownMetric(
            layout, raw, point_streams, batch, temporality == CUMULATIVE, histogram, tuple(filter(None, placed))
        )
        known.eager = any(spec.kind is Kind.GAUGE for spec in specs)
        known.waiting = tuple(waiting)
        return known

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
        if not known.unsettled:
            return
        layout = known.layout
        stride = layout.stride
        batch = known.batch
        batch.now = known.last_seen
        batch.points = _ParsedPoints(known.latest)
        batch.settling = True
        before: tuple[Any, ...] | None
        if known.cumulative:
            values: Any = layout.values.unpack(known.latest)
            before = layout.values.unpack(known.settled)
            temporality = CUMULATIVE
        else:
            values = _lane_values(known.pending, layout) if known.histogram else known.pending
            before, temporality = None, DELTA
        time = known.last_time
        for index, stream in enumerate(known.streams):
            at = index * stride
            row = values[at : at + stride]
            if before is not None:
                if row[wire.COUNT :] == before[at + wire.COUNT : at + stride]:
                    continue  # (VALUE and COUNT are the same column)
                time = row[wire.TIME]
            if known.histogram:
                point = wire.HistogramPoint(
                    stream.start,
                    time,
                    row[wire.COUNT],
                    row[wire.SUM],
                    tuple(row[wire.BUCKETS :]),
                    stream.raw_bounds,
                    b"",
                    0,
                )
                self._histogram_point(stream, point, temporality, batch, index)
            else:
                number = wire.NumberPoint(stream.start, time, float(row[wire.VALUE]), b"", 0, False)
                self._sum_point(stream, number, temporality, batch, index)
        batch.settling = False
        known.settled = known.latest
        known.pending = None
        known.exports = 0

    def _wake(self, known: KnownMetric, now: float, result: IngestResult) -> None:
        """Create the APPROX gauges of the ``woken`` points, whose first interval just arrived; a point whose gauge is
        refused counts as rejected, and stays waiting (retried at its next change, as the general path would)."""
        batch = known.batch
        batch.now = now
        batch.points = _ParsedPoints(known.latest)
        for point in known.woken:
            stream = known.streams[point]
            refused = None
            for target in stream.targets:
                if not isinstance(target.series, Series):
                    reason = self._resolve(target, stream, batch, point)
                    refused = refused or reason
            if refused is not None:
                result.accepted -= 1
                result.reject(refused)
        known.waiting = tuple(
            point
            for point, stream in enumerate(known.streams)
            if not all(isinstance(target.series, Series) for target in stream.targets)
        )
        known.woken = []

    def _new_stream(self, key: tuple[Any, ...], batch: _Batch, index: int, start: int) -> Stream | None:
        if len(self.streams) >= self.options.max_streams:
            self.store.refuse(DropReason.STREAM_CAP)
            batch.result.reject(DropReason.STREAM_CAP)
            return None
        attributes = batch.attributes(index)
        targets = [Target(spec, None) for spec in batch.specs if spec.select is None or spec.select(attributes)]
        created = start / 1e9 if start else batch.now
        stream = self.streams[key] = Stream(targets, created, batch.now)
        return stream

    # -- points ---------------------------------------------------------------------------------------------
    def _sum_point(
        self, stream: Stream, point: wire.NumberPoint, temporality: int, batch: _Batch, index: int
    ) -> Reason | None:
        """Apply one point; None when it was taken, else why it was refused (once, however many families it
        feeds: the caller counts it)."""
        value = point.value
        if value is None or not math.isfinite(value) or (value < 0 and temporality != 0):
            return Rejection.INVALID  # counters count up from zero
        if temporality == CUMULATIVE:
            start = point.start
            previous = stream.state.value
            if start == stream.start and value == previous and stream.last_time >= 0:
                return self._touch(stream, batch, index)
            full = Increment(value=value)
            increment = full if start != stream.start or value < previous else Increment(value=value - previous)
            stream.start, stream.state = start, full
        elif temporality == DELTA:
            if point.time and point.time <= stream.last_time:
                return self._touch(stream, batch, index)
            full = increment = Increment(value=value)
        else:  # gauge semantics
            full = increment = Increment(value=value)
        stream.last_time = point.time or stream.last_time + 1
        return self._apply(stream, increment, full, batch, index)

    def _histogram_point(
        self, stream: Stream, point: wire.HistogramPoint, temporality: int, batch: _Batch, index: int
    ) -> Reason | None:
        count = point.observations
        unchanged = point.start == stream.start and count == stream.state.observations and stream.last_time >= 0
        if temporality == CUMULATIVE and unchanged:
            return self._touch(stream, batch, index)
        if temporality == DELTA and point.time and point.time <= stream.last_time:
            return self._touch(stream, batch, index)
        raw_bounds = point.bounds
        counts = point.counts
        total = point.total if point.total is not None else 0.0
        if not counts:
            counts, raw_bounds = (count,), ()
        if len(counts) != len(raw_bounds) + 1 or not math.isfinite(total) or sum(counts) != count:
            return Rejection.INVALID
        if raw_bounds != stream.raw_bounds:
            shared = shared_bounds(raw_bounds)
            if shared is None:
                return Rejection.INVALID
            stream.raw_bounds = shared
            for target in stream.targets:
                target.bounds = None
        full = Increment(observations=count, total=total, counts=counts)
        increment = full
        interval = True  # the increment covers what happened since the previous export (or a restart)
        if temporality == CUMULATIVE:
            previous = stream.state
            if point.start == stream.start and count >= previous.observations and len(previous.counts) == len(counts):
                deltas = tuple(map(operator.sub, counts, previous.counts))
                if min(deltas) >= 0:
                    increment = Increment(
                        observations=count - previous.observations, total=total - previous.total, counts=deltas
                    )
            if increment is full:  # a stream first seen carries the sender's whole life; a restart, only since then
                interval = stream.last_time >= 0 and point.start != stream.start
            stream.start, stream.state = point.start, full
        elif temporality != DELTA:
            return Rejection.INVALID  # histograms need a temporality
        stream.last_time = point.time or stream.last_time + 1
        extremes = None
        if temporality == DELTA and (point.low is not None or point.high is not None):
            extremes = placement.Extremes(_finite(point.low), _finite(point.high))  # this interval's own
        return self._apply(stream, increment, full, batch, index, extremes, interval)

    # -- targets --------------------------------------------------------------------------------------------
    def _touch(self, stream: Stream, batch: _Batch, index: int) -> Reason | None:
        """An unchanged point: keep its series alive; a point whose series was refused is still refused."""
        refused = None
        for target in stream.targets:
            series = target.series
            if isinstance(series, Series):
                series.last_seen = batch.now
                continue
            if target.spec.value is Value.MEAN:
                continue  # no observation in this interval: an APPROX gauge still has no value to show
            reason = self._resolve(target, stream, batch, index)
            if reason is None:
                self._feed(target, stream.state, stream)
            else:
                refused = refused or reason
        return refused

    def _apply(
        self,
        stream: Stream,
        increment: Increment,
        full: Increment,
        batch: _Batch,
        index: int,
        extremes: placement.Extremes | None = None,
        interval: bool = True,
    ) -> Reason | None:
        """Feed every family of the stream; the first refusal's reason when a family refused the point.

        An APPROX gauge (``Value.MEAN``) takes only an ``interval``'s mean: the first cumulative point of a stream
        carries the sender's whole life, so such a gauge shows nothing until the next export."""
        refused = None
        for target in stream.targets:
            series = target.series
            mean = target.spec.value is Value.MEAN
            if isinstance(series, Series):
                series.last_seen = batch.now
                if interval or not mean:
                    self._feed(target, increment, stream, extremes)
                continue
            if mean and (batch.settling or not (interval and increment.observations > 0)):
                continue  # no interval mean yet; or settling, where ``_wake`` created (or was refused) the series
            reason = self._resolve(target, stream, batch, index)
            if reason is None:
                # A new series takes the stream's whole history; a gauge, the interval's mean.
                self._feed(target, increment if mean else full, stream, extremes)
            else:
                refused = refused or reason
        return refused

    def _resolve(self, target: Target, stream: Stream, batch: _Batch, index: int) -> Reason | None:
        """Look up (or create) the target's series; None when it has one, else why not."""
        spec = target.spec
        family = self.store.family(spec.info)
        if family is None:
            target.series = None
            return Rejection.INVALID
        attributes = batch.attributes(index)
        labels = dynamic_labels(attributes) if batch.dynamic else spec.labels_for(attributes)
        if batch.extra:
            labels = tuple(sorted(labels + batch.extra))
        series = target.series = self.store.series(family, labels, stream.created, batch.now)
        return None if isinstance(series, Series) else series

    def _feed(
        self, target: Target, increment: Increment, stream: Stream, extremes: placement.Extremes | None = None
    ) -> None:
        spec = target.spec
        series = target.series
        if isinstance(series, HistogramSeries):
            raw_bounds = stream.raw_bounds
            bounds = target.bounds
            if bounds is None:
                target.extra = official_extension(spec, raw_bounds)
                if target.extra:
                    self.store.unplaced[spec.name] += 0  # shown from the first observation on
                scaled = scaled_bounds(raw_bounds + target.extra, spec.divisor)
                bounds = target.bounds = shared_bounds(scaled) or scaled
            counts = increment.counts
            if target.placed is not None:  # placed export by export by the fast path
                *extra, unplaced = target.placed
                target.placed = None
                counts = (*counts[:-1], *extra, counts[-1] - sum(extra))
                if unplaced:
                    self.store.unplaced[spec.name] += int(unplaced)
            elif target.extra and not counts[-1]:
                counts = (*counts[:-1], *(0,) * len(target.extra), 0)  # nothing above the last bound
            elif target.extra:
                total = increment.total
                error = placement.sum_error(increment.observations, max(abs(stream.state.total), abs(total)))
                placed = placement.place(raw_bounds, target.extra, counts, total, error, extremes)
                counts = placed.counts
                if placed.unplaced:
                    self.store.unplaced[spec.name] += int(placed.unplaced)
            series.add(bounds, counts, increment.total / spec.divisor, increment.observations)
        elif isinstance(series, ScalarSeries):
            kind = spec.value
            if kind is Value.SUM:
                if spec.kind is Kind.GAUGE:
                    series.set(increment.value / spec.divisor)
                else:
                    series.add(increment.value / spec.divisor)
            elif kind is Value.COUNT:
                series.add(increment.observations)
            elif kind is Value.MEAN and increment.observations > 0:
                series.set(increment.total / increment.observations / spec.divisor)

    # -- generic --------------------------------------------------------------------------------------------
    def _generic_specs(self, metric: Any, data_kind: str, data: Any) -> tuple[FamilySpec, ...] | None:
        if data_kind == "gauge":
            kind, value = Kind.GAUGE, Value.SUM
        elif data_kind == "sum":
            monotonic = bool(data.is_monotonic)
            kind, value = (Kind.COUNTER if monotonic else Kind.GAUGE), Value.SUM
        elif data_kind == "histogram":
            kind, value = Kind.HISTOGRAM, Value.HISTOGRAM
        else:
            return None  # exponential histograms and summaries are not translated
        cache_key = (metric.name, metric.unit, data_kind, kind is Kind.COUNTER)
        spec = self._generic.get(cache_key)
        if spec is None:
            if len(self._generic) >= 4096:
                self._generic.clear()
            spec = self._generic[cache_key] = generic_spec(
                metric.name, metric.unit, kind, value, metric.description, self.options.reserved_names
            )
        return (spec,)

    # -- expiry ---------------------------------------------------------------------------------------------
    def expire(self, now: float) -> int:
        """Drop stream state idle for the series TTL, then the series themselves.

        The fast path does not visit streams, so liveness flows here: known metric → its streams → their series."""
        cutoff = now - self.store.ttl
        self.settle()
        for key, known in list(self.known.items()):
            if known.last_seen < cutoff:
                del self.known[key]
                continue
            for stream in known.streams:
                stream.last_seen = max(stream.last_seen, known.last_seen)
        for key, stream in list(self.streams.items()):
            if stream.last_seen < cutoff:
                del self.streams[key]
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


def dynamic_labels(attributes: dict[str, str]) -> Labels:
    """All non-private attributes as labels, for metrics the mapping does not know (keys over ``MAX_NAME_LENGTH``
    characters are no label names either). Keys that sanitise to one name share it, their values joined with ``;``
    in key order, as Prometheus does (``unknown`` when that is longer than any single value may be)."""
    values: dict[str, list[str]] = {}
    for key in sorted(attributes):
        if len(key) > MAX_NAME_LENGTH or is_private_attribute(key) or key == "otel.metric.overflow":
            continue
        name = sanitize_label_name(key)
        if name is None:
            continue
        if name in ("le", "quantile"):
            name = "exported_" + name  # reserved for buckets and quantiles
        values.setdefault(name, []).append(normalize_value(attributes[key], "unknown"))
    joined = {name: ";".join(parts) for name, parts in values.items()}
    return tuple(
        sorted(
            label_pair(name, value if len(value) <= MAX_VALUE_LENGTH else "unknown") for name, value in joined.items()
        )
    )
