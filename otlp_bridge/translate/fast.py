"""The fast path: a metric whose every byte but its values matches its previous export (the same streams in the same
places: what OpenClaw sends every interval) is read with one ``struct`` call, checked, and kept (cumulative: the
latest export; delta: the running sum) until the store is read, when ``settle`` applies it to the series: each
point's increment straight to its series where the per-point rules (``otlp_bridge.translate.rules``) would take it as
it is, through those rules otherwise. Anything the checks cannot vouch for (a reset, a resend, a new stream, an
invalid value) is not taken: the caller settles what was kept and goes the general way. New observations above the
last bound of a histogram whose official buckets go further are placed from their own export as it is taken
(``otlp_bridge.translate.placement``), and the placed counts are kept with the values until the settle.
"""

from __future__ import annotations

import functools
import math
import operator
import struct
import weakref
from array import array
from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol, TypeVar, cast

from opentelemetry.proto.metrics.v1.metrics_pb2 import HistogramDataPoint, NumberDataPoint

from otlp_bridge.store import LANE_BYTES, HistogramSeries, Series, arrival
from otlp_bridge.translate import placement, wire
from otlp_bridge.translate.result import IngestResult
from otlp_bridge.translate.rules import (
    Batch,
    Increment,
    Interval,
    Placed,
    Rules,
    Stream,
    Target,
    Temporality,
    finite,
    official_extension,
    shared_time,
)

Values = Sequence[float]  # numbers as ``Layout.values`` reads them (ints and floats)
Woken = tuple[int, ...]  # points of a known metric whose APPROX gauges an export it took woke (``KnownMetric.take``)
NOTHING_WOKEN: Woken = ()


class KnownShape:
    """What a known metric shares with every sender of the same metric in the same bytes: its layout and the hash of
    its skeleton, its batch (families, source labels), temporality and kind, its placed points and the reader of
    their +Inf columns, and per point its stream's targets, attribute bytes (the stream table's key) and bucket
    bounds; and, looked up once, how its values are packed (``wire.Packings``) and what adds up its bucket counts.
    One object per distinct set while any known metric holds it (``known_shape``): the gateways of a fleet share
    theirs."""

    __slots__ = (
        "__weakref__",
        "attributes",
        "batch",
        "bounds",
        "bucket_total",
        "cumulative",
        "histogram",
        "layout",
        "packings",
        "placed",
        "skeleton",
        "targets",
        "watched",
    )

    def __init__(
        self,
        layout: wire.Layout,
        skeleton: int,
        batch: Batch,
        cumulative: bool,
        placed: tuple[PlacedPoint, ...],
        streams: Sequence[Stream],
    ) -> None:
        self.layout = layout
        self.skeleton = skeleton
        self.batch = batch
        self.cumulative = cumulative
        self.histogram = layout.lanes is not None
        self.packings = layout.packings
        self.bucket_total = wire.bucket_total(layout.stride, layout.points) if self.histogram else None
        # The points whose observations above the last bound are placed, and their +Inf columns: an export that
        # changes them (cumulative) or has any (delta) places them as it is taken.
        self.placed = placed
        self.watched = _watcher(tuple(entry.point * layout.stride + layout.stride - 1 for entry in placed))
        self.targets = tuple(stream.targets for stream in streams)
        self.attributes = shared(tuple(stream.attributes for stream in streams))
        self.bounds = shared(tuple(stream.raw_bounds for stream in streams))

    def latest(self, values: Values, settled: bytes) -> bytes:
        """What ``KnownMetric.latest`` keeps of an export taken: cumulative, its values (what the next export and the
        settle read) in the width of ``settled``'s packing when they fit there (every point's time kept: ``full``),
        at full width otherwise (one ``struct`` call either way: the fast path spends nothing on choosing); delta,
        ``UNSETTLED`` (``pending`` holds what the series do not reflect yet)."""
        if not self.cumulative:
            return UNSETTLED
        try:
            return self.packings.by_size[len(settled)].full.pack(*values)
        except struct.error:  # counts above what the settled state's packing holds
            return self.packings.wide.pack(*values)

    def same(self, other: KnownShape) -> bool:
        """Whether ``other`` has this layout, skeleton, batch, placed points and targets (the same objects)."""
        return (
            self.layout is other.layout
            and self.skeleton == other.skeleton
            and self.batch is other.batch
            and self.placed is other.placed
            and self.cumulative == other.cumulative
            and self.attributes == other.attributes
            and self.bounds == other.bounds
            and len(self.targets) == len(other.targets)
            and all(map(operator.is_, self.targets, other.targets))
        )


SharedTuple = TypeVar("SharedTuple", bound=tuple[object, ...])


def shared(value: SharedTuple) -> SharedTuple:
    """One object per distinct tuple among the latest few (a metric's points' attributes and bounds, its placed points,
    their +Inf counts): the senders of a fleet send the same (shared even by shapes that are not: those of senders
    whose series are their own)."""
    return cast(SharedTuple, _interned(value))


@functools.lru_cache(maxsize=16384)
def _interned(value: tuple[object, ...]) -> tuple[object, ...]:
    return value


_SHAPES: weakref.WeakValueDictionary[int, KnownShape] = weakref.WeakValueDictionary()


def known_shape(
    layout: wire.Layout,
    raw: bytes,
    streams: Sequence[Stream],
    batch: Batch,
    cumulative: bool,
    placed: tuple[PlacedPoint, ...] = (),
) -> KnownShape:
    """The shared ``KnownShape`` of a metric in ``raw`` whose points are these streams': found by a hash of the
    identities of its layout, batch and placed points and of its skeleton's hash (which cover its name, attributes
    and bounds), and checked against them and its streams' targets. A sender whose series are its own
    (``--source-label``: its targets are its own) gets a shape of its own: nothing to share."""
    shape = KnownShape(layout, hash(layout.skeleton.unpack(raw)), batch, cumulative, placed, streams)
    if any(targets.identity is None for targets in shape.targets):
        return shape
    key = hash((id(layout), shape.skeleton, id(batch), cumulative, id(placed)))
    found = _SHAPES.get(key)
    if found is not None and found.same(shape):
        return found
    _SHAPES[key] = shape
    return shape


class KnownMetric:
    """A metric as last translated, with the layout of its bytes, so that an export of the same streams is read
    without a walk (see the module docstring).

    A known metric holds its streams' state itself, packed (its streams are out of the stream table meanwhile:
    ``streams`` gives them back, as they are, when it goes). ``shape`` is what it shares with other senders (layout,
    families, targets, attributes, bounds...), ``created`` when its streams were first seen (one time for all; None
    where each was first seen at its start time, kept in ``settled``; else each, packed), and ``settled`` what the
    series reflect of every point, packed as ``Layout.packings`` packs values (a histogram's counts as narrow as
    they allow, one end time for all points where they have one; cumulative: each stream's start, end time and last
    point; delta: start 0 and end time only). ``latest``: cumulative, the values of the newest export taken and not
    yet settled, in the width of ``settled``'s packing when they fit, at full width otherwise; delta, ``UNSETTLED``;
    None once settled. Cumulative: the starts and counts (the value of a sum, the count of a histogram) of every
    point, read off ``latest`` or ``settled``, tell a restart or a reset (a new start, or a count that went down)
    from growth. A delta metric is a ``DeltaKnownMetric``: it keeps the sums of what it took. A metric that feeds
    APPROX gauges (``Value.MEAN``: the mean of the latest export interval, not of every export since the last read)
    keeps ``means``: per point, the total, the count and the arrival (``otlp_bridge.store.arrival``) of the latest
    interval with observations (cumulative: from the sum of the export before, in ``latest`` or ``settled``).
    ``take`` gives back the ``waiting`` points (whose APPROX gauge has no value yet) that the export changed, woken:
    the translator creates their gauges' series before it settles (``wake``), and answers for a refusal in the
    request. A histogram with placed points keeps their +Inf counts (``overflow``) and what they placed since the
    last settle (``placements``).

    What only some metrics keep (the last four) is in slots of the class ``known_metric`` makes for each
    (``_known_class``: a slot costs 8 bytes a metric, and most metrics need none of them): read on any known metric
    (as none of it where its class has no slot), written through ``optional``.
    """

    __slots__ = ("created", "last_seen", "latest", "settled", "shape")
    means: array[float] | None = None  # metrics that feed APPROX gauges
    waiting: tuple[int, ...] = ()  # (the same)
    overflow: tuple[float, ...] | None = None  # histograms with placed points
    placements: dict[int, Placed] | None = None  # (the same)

    def __init__(
        self, shape: KnownShape, raw: bytes, streams: Sequence[Stream], now: float, means: bool = False
    ) -> None:
        """Raises ``struct.error`` or ``ValueError`` when the streams' state does not pack in the layout."""
        self.shape = shape
        layout = shape.layout
        created = [stream.created for stream in streams]
        first = created[0]  # (the time of the request that created them: one object for every metric of a sender)
        self.created: float | bytes | None = None  # (cumulative streams first seen at their starts, started apart)
        if len(set(created)) == 1:
            self.created = first if type(first) is float else float(first)
        elif not shape.cumulative or created != [start_seconds(stream.start) for stream in streams]:
            self.created = struct.pack(f"<{len(created)}d", *created)
        self.latest: bytes | None = None  # the series reflect ``settled``
        self.last_seen = now
        values = layout.values.unpack(raw)
        self.settled = shape.packings.pack(_state_values(streams, layout, shape.cumulative, values))
        optional = self.optional()
        if means:
            # Per point: the total, the count and the arrival of the latest interval with observations since the last
            # settle (a count of 0: none); allocated by the first interval
            optional.means = NO_INTERVALS
            optional.waiting = ()  # points whose APPROX gauge is not created yet (``general``)
        watched = shape.watched
        if watched is not None:
            optional.overflow = shared(watched(values if shape.cumulative else [0] * len(values)))
            optional.placements = None  # by point: what ``placed`` points placed of the exports taken

    def optional(self) -> OptionalState:
        """What only some known metrics keep, to write (this metric's class has the slots of what it writes)."""
        return self

    def created_at(self, point: int) -> float:
        created = self.created
        if created is None:
            return start_seconds(self.shape.packings.by_size[len(self.settled)].starts.unpack(self.settled)[point])
        return created if isinstance(created, float) else float(DOUBLE.unpack_from(created, 8 * point)[0])

    def streams(self) -> list[Stream]:
        """Its streams, in the order of its points, as they are now (settled: the series reflect them)."""
        values = self.shape.packings.unpack(self.settled)
        return [self.stream(point, values) for point in range(self.shape.layout.points)]

    def stream(self, point: int, values: Values | None = None) -> Stream:
        """The stream of ``point`` as ``values`` (``settled`` unpacked, by default) has it."""
        shape = self.shape
        if values is None:
            values = shape.packings.unpack(self.settled)
        stream = Stream(shape.targets[point], self.created_at(point), self.last_seen, shape.attributes[point])
        stride = shape.layout.stride
        row = values[point * stride : (point + 1) * stride]
        stream.raw_bounds = shape.bounds[point]
        stream.last_time = shared_time(row[wire.TIME])
        stream.delta = not shape.cumulative
        if shape.cumulative:
            stream.start = shared_time(row[wire.START])
            if shape.histogram:
                stream.state = Increment(
                    observations=row[wire.COUNT], total=row[wire.SUM], counts=tuple(row[wire.BUCKETS :])
                )
            else:
                stream.state = Increment(value=float(row[wire.VALUE]))
        return stream

    @property
    def unsettled(self) -> bool:
        """Whether exports were taken that the series do not reflect yet."""
        return self.latest is not None

    def still(self, watched: Values) -> bool:
        """Whether the starts and counts of an export, read by ``Layout.watch`` (cumulative), are those it last
        took: the export did not move."""
        previous = self.latest if self.latest is not None else self.settled
        return watched == self.shape.packings.by_size[len(previous)].watched.unpack(previous)

    def take(self, raw: bytes, now: float, values: Values | None = None) -> Woken | None:
        """Keep the values of ``raw`` if its skeleton is the known one and every check passes: the waiting points it
        woke (mostly none); None otherwise. ``values``: ``raw``'s values, already read by a caller that checked the
        skeleton of bytes around it."""
        shape = self.shape
        layout = shape.layout
        if values is None:
            if len(raw) != layout.skeleton.size or hash(layout.skeleton.unpack(raw)) != shape.skeleton:
                return None
            values = layout.values.unpack(raw)
        counts = values[wire.COUNT :: layout.stride]  # a sum's value or a histogram's count (one column)
        before = previous = None  # cumulative: the counts of the export before, and the bytes they were read from
        if shape.cumulative:
            previous = self.latest if self.latest is not None else self.settled
            packing = shape.packings.by_size[len(previous)]
            if values[wire.START :: layout.stride] != packing.starts.unpack(previous):
                return None  # a restart, for the general path to tell
            before = packing.counts.unpack(previous)
            if counts == before:  # nothing new (the rules would take it as unchanged)
                self.last_seen = now
                return NOTHING_WOKEN
        if not self._valid(values, counts):
            return None
        overflow = shape.watched(values) if shape.watched is not None else None
        placements = self._placements(raw, values) if overflow != self.overflow else []
        if placements is None:
            return None
        if not self._keep(raw, values, counts, before, previous):
            return None
        if placements:
            self._place(placements)
        if shape.cumulative and overflow is not None and overflow != self.overflow:
            self.optional().overflow = shared(overflow)
        self.latest = shape.latest(values, self.settled)
        self.last_seen = now
        return self._woken(counts, before) if self.waiting else NOTHING_WOKEN

    def _woken(self, counts: Values, before: Values | None) -> Woken:
        """The waiting points whose counts an export taken changed (``before``: those of the export before; None:
        delta, whose counts are what it adds)."""
        if before is None:
            return tuple(point for point in self.waiting if counts[point])
        return tuple(point for point in self.waiting if counts[point] != before[point])

    def _place(self, placements: list[tuple[int, Target, list[float]]]) -> None:
        """Add what an export placed (``_placements``) to what was placed since the last settle."""
        by_point = self.placements
        if by_point is None:
            by_point = self.optional().placements = {}
        for point, target, placed in placements:
            pending = by_point.setdefault(point, {})
            so_far = pending.get(target)
            pending[target] = placed if so_far is None else list(map(operator.add, so_far, placed))

    def _valid(self, values: Values, counts: Values) -> bool:
        """Finite values, counts that are not negative, buckets that add up to their counts."""
        if self.shape.histogram:
            assert self.shape.bucket_total is not None
            buckets = self.shape.bucket_total(values)
            return math.isfinite(sum(values[wire.SUM :: self.shape.layout.stride])) and buckets == sum(counts)
        return math.isfinite(sum(counts)) and min(counts) >= 0

    def _keep(self, raw: bytes, values: Values, counts: Values, before: Values | None, previous: bytes | None) -> bool:
        """What the export adds, kept (cumulative: ``before``, the counts of the export before, packed in
        ``previous``); False when it is not for the fast path."""
        assert before is not None and previous is not None
        if not all(map(operator.ge, counts, before)):
            return False  # a reset, for the general path to tell
        if self.means is not None:
            self._interval_means(counts, before, values, previous)
        return True

    def _interval_means(self, counts: Values, before: Values, values: Values, previous: bytes) -> None:
        """Keep the interval of every point whose count grew since the export before (cumulative), packed in
        ``previous``: its sum is where the interval starts."""
        means = self._intervals()
        sums = self.shape.packings.by_size[len(previous)].sums
        assert sums is not None
        sums_before = sums.unpack(previous)
        totals = values[wire.SUM :: self.shape.layout.stride]
        stamp = arrival()
        for point, (count, was) in enumerate(zip(counts, before, strict=True)):
            if count != was:
                at = 3 * point
                means[at] = totals[point] - sums_before[point]
                means[at + 1] = count - was
                means[at + 2] = stamp

    def _intervals(self) -> array[float]:
        """``means``, allocated if it was not yet (``NO_INTERVALS``)."""
        means = self.means
        assert means is not None
        if not means:
            means = self.optional().means = array("d", bytes(MEAN_BYTES * self.shape.layout.points))
        return means

    def interval(self, point: int) -> Interval | None:
        """The latest interval with observations of ``point`` since the last settle (a count of 0: none); None when
        the metric feeds no APPROX gauge."""
        means = self.means
        if means is None:
            return None
        if not means:
            return NO_INTERVAL
        total, observations, stamp = means[3 * point : 3 * point + 3]
        return Interval(total, observations, int(stamp))

    def _placements(self, raw: bytes, values: Values) -> list[tuple[int, Target, list[float]]] | None:
        """What this export adds to the ``extra`` buckets of its placed points' targets (placed as the general path
        places them, export by export), then the count not placed; None when a bucket went down (the general path
        tells why)."""
        layout = self.shape.layout
        stride = layout.stride
        previous = None  # cumulative: the export before
        if self.shape.cumulative:
            previous = self.shape.packings.unpack(self.latest if self.latest is not None else self.settled)
        placements = []
        for point, groups in self.shape.placed:
            at = point * stride
            if previous is None and not values[at + stride - 1]:
                continue
            row = values[at : at + stride]
            extremes = None
            magnitude = 0.0  # (a delta stream keeps no total)
            if previous is not None:
                before = previous[at : at + stride]
                if row[-1] == before[-1]:
                    continue  # nothing new above the last bound
                row = tuple(map(operator.sub, row, before))
                if min(row[wire.BUCKETS :]) < 0:
                    return None
                magnitude = abs(values[at + wire.SUM])
            else:
                low, high = wire.point_extremes(raw, layout, point)
                if low is not None or high is not None:
                    extremes = placement.Extremes(finite(low), finite(high))
            total = row[wire.SUM]
            error = placement.sum_error(row[wire.COUNT], max(magnitude, abs(total)))
            counts = row[wire.BUCKETS :]
            bounds = self.shape.bounds[point]
            for extra, targets in groups:
                kept, unplaced = placement.above(bounds, extra, counts, total, error, extremes)
                kept[-1] = unplaced  # in place of the +Inf count: the count of the extra buckets is enough
                placements += [(point, target, kept) for target in targets]
        return placements


class DeltaKnownMetric(KnownMetric):
    """A known metric of delta temporality: ``pending`` sums the values of the exports not yet settled (histograms:
    the sums; their counts and bucket counts as lanes of one integer in ``lanes``: ``_lane_values``) and ``exports``
    counts them, and ``last_time`` is the newest end time taken (an export that is not newer is a resend and goes the
    general way). A cumulative metric keeps none of these: its newest export is what it keeps."""

    __slots__ = ("exports", "lanes", "last_time", "pending")

    def __init__(
        self, shape: KnownShape, raw: bytes, streams: Sequence[Stream], now: float, means: bool = False
    ) -> None:
        super().__init__(shape, raw, streams, now, means)
        self.pending: Values | None = None
        self.lanes = 0
        self.exports = 0  # taken since the last settle
        layout = shape.layout
        self.last_time = shared_time(int(max(layout.values.unpack(raw)[wire.TIME :: layout.stride])))

    def _keep(self, raw: bytes, values: Values, counts: Values, before: Values | None, previous: bytes | None) -> bool:
        layout = self.shape.layout
        stride = layout.stride
        times = values[wire.TIME :: stride]
        if min(times) <= self.last_time:
            return False  # a resend
        pending = self.pending
        if self.shape.histogram:
            if max(counts) >= LANE_LIMIT or self.exports >= MAX_PENDING_EXPORTS:
                return False  # a lane could overflow into its neighbour
            assert layout.lanes is not None
            lanes = int.from_bytes(b"".join(layout.lanes.unpack(raw)), "little")
            sums: Values = values[wire.SUM :: stride]
            if pending is not None:
                lanes += self.lanes
                sums = list(map(operator.add, pending, sums))
            self.pending, self.lanes = sums, lanes
        else:
            self.pending = values if pending is None else list(map(operator.add, pending, values))
        if self.means is not None:  # each export is an interval of its own
            means = self._intervals()
            stamp = arrival()
            for point, (count, total) in enumerate(zip(counts, values[wire.SUM :: stride], strict=True)):
                if count:
                    at = 3 * point
                    means[at] = total
                    means[at + 1] = count
                    means[at + 2] = stamp
        self.last_time = int(max(times))
        self.exports += 1
        return True


def known_metric(
    shape: KnownShape, raw: bytes, streams: Sequence[Stream], now: float, means: bool = False
) -> KnownMetric:
    """A ``KnownMetric`` of ``shape``'s temporality, with slots for what it keeps (see ``KnownMetric.__init__``;
    ``means``: it feeds APPROX gauges)."""
    kind = _known_class(shape.cumulative, means, shape.watched is not None)
    return kind(shape, raw, streams, now, means)


class OptionalState(Protocol):
    """What only some known metrics keep (``KnownMetric``), as ``KnownMetric.optional`` gives it to write."""

    means: array[float] | None
    waiting: tuple[int, ...]
    overflow: tuple[float, ...] | None
    placements: dict[int, Placed] | None


@functools.cache
def _known_class(cumulative: bool, approx: bool, placed: bool) -> type[KnownMetric]:
    """The class of a known metric of this temporality with slots for what it keeps: the intervals and waiting
    points of APPROX gauges, the +Inf counts and placements of placed points (one class per combination)."""
    base: type[KnownMetric] = KnownMetric if cumulative else DeltaKnownMetric
    slots = (("means", "waiting") if approx else ()) + (("overflow", "placements") if placed else ())
    if not slots:
        return base
    name = base.__name__ + ("Approx" if approx else "") + ("Placed" if placed else "")
    return cast(type[KnownMetric], type(name, (base,), {"__slots__": slots, "__module__": __name__}))


class PlacedPoint(NamedTuple):
    """A point of a known histogram whose observations above the last bound are placed: its index and its
    histogram targets, grouped by the official bounds placed above the stream's (``Target.extra``)."""

    point: int
    groups: tuple[tuple[tuple[float, ...], tuple[Target, ...]], ...]

    @classmethod
    def of(cls, point: int, stream: Stream) -> PlacedPoint | None:
        groups: dict[tuple[float, ...], list[Target]] = {}
        for target in stream.targets:
            extra = official_extension(target.spec, stream.raw_bounds)
            if extra and isinstance(target.series, HistogramSeries):
                groups.setdefault(extra, []).append(target)
        return cls(point, tuple((extra, tuple(targets)) for extra, targets in groups.items())) if groups else None


@functools.lru_cache(maxsize=4096)
def start_seconds(start_ns: int) -> float:
    """A start time in seconds: one float object per start (every stream of a gateway shares its process's)."""
    return start_ns / 1e9


DOUBLE = struct.Struct("<d")
UNSETTLED = b""  # a delta known metric's ``latest`` while it keeps exports the series do not reflect
MEAN_BYTES = 24  # a point's ``KnownMetric.means``: three doubles
NO_INTERVALS = array("d")  # ``KnownMetric.means`` with no interval yet (never written: replaced when one arrives)
NO_INTERVAL = Interval(0.0, 0.0, 0)


@functools.lru_cache(maxsize=4096)
def _watcher(columns: tuple[int, ...]) -> Callable[[Values], tuple[float, ...]] | None:
    """What reads the +Inf columns of a known histogram's placed points (always a tuple), one per distinct set."""
    return operator.itemgetter(*columns, columns[0]) if columns else None


# A delta histogram's counts and bucket counts are summed as 64-bit lanes of one integer (one addition per export,
# not one per bucket). Lanes stay apart while every export's count is below LANE_LIMIT and at most
# MAX_PENDING_EXPORTS are summed between settles: 2**40 * 2**12 < 2**64.
LANE_LIMIT = 1 << 40
MAX_PENDING_EXPORTS = 1 << 12


def _lane_values(lanes: int, sums: Values, layout: wire.Layout) -> list[float]:
    """The summed exports of a delta histogram in ``layout.values`` order (start and time as 0: unused there)."""
    per_point = layout.stride - wire.BUCKETS + 1  # the count and the bucket counts
    counts = array("Q")
    counts.frombytes(lanes.to_bytes(layout.points * per_point * wire.LANE_BYTES, "little"))
    values: list[float] = []
    for index, total in enumerate(sums):
        at = index * per_point
        values += (0, 0, counts[at], total, *counts[at + 1 : at + per_point])
    return values


class StreamPoints:
    """The data points of a known metric as far as the rules read them when they settle it (their attributes, to
    look a series up again), parsed from its points' attribute fields on use."""

    __slots__ = ("attributes", "histogram")

    def __init__(self, attributes: Sequence[bytes], histogram: bool) -> None:
        self.attributes = attributes
        self.histogram = histogram

    def __getitem__(self, index: int) -> NumberDataPoint | HistogramDataPoint:
        attributes = self.attributes[index]
        return HistogramDataPoint.FromString(attributes) if self.histogram else NumberDataPoint.FromString(attributes)


def _state_values(streams: Sequence[Stream], layout: wire.Layout, cumulative: bool, like: Values) -> list[float]:
    """The state of ``streams`` as ``KnownMetric.settled`` packs it, each number of the type ``like`` has there (a
    value of ``layout.values``). Raises ValueError when a stream's buckets are not the layout's."""
    state: list[float] = []
    zeros = (0,) * (layout.stride - 2)
    for stream in streams:
        if not cumulative:
            state += (0, stream.last_time, *zeros)
        elif layout.stride > wire.BUCKETS:  # a histogram
            state += (stream.start, stream.last_time, stream.observations, stream.total, *stream.counts)
        else:
            state += (stream.start, stream.last_time, stream.value)
    return [type(kind)(number) for kind, number in zip(like, state, strict=True)]


def settle(known: KnownMetric, rules: Rules) -> None:
    """Apply what ``known`` kept to the series: each point's increment fed straight to its families' series where
    ``Rules.feed_growth`` or ``Rules.feed_sum`` can (``take`` checked what the per-point rules would check), through
    the per-point rules otherwise (placement above the last bound, a family without its series yet, a bucket that
    went down, buckets that do not add up to the count); then ``settled`` holds what the series reflect."""
    if not known.unsettled:
        return
    assert known.latest is not None
    layout = known.shape.layout
    packings = known.shape.packings
    state = list(packings.unpack(known.settled))
    latest = packings.unpack(known.latest) if known.shape.cumulative else None
    settling = _settle_histogram if known.shape.histogram else _settle_sum
    fallback = settling(known, rules, state, latest)
    if fallback:
        values: Values | None = latest
        if values is None:
            assert isinstance(known, DeltaKnownMetric) and known.pending is not None
            values = _lane_values(known.lanes, known.pending, layout) if known.shape.histogram else known.pending
        _settle_by_the_rules(known, rules, values, fallback, state)
    known.settled = packings.pack(state)
    known.latest = None
    if isinstance(known, DeltaKnownMetric):
        known.pending = None
        known.exports = 0
    if known.placements is not None:
        known.optional().placements = None
    if known.means is not None:
        known.optional().means = NO_INTERVALS


def _last_time(known: KnownMetric) -> int:
    """The end time of what a known metric kept, where the points' own do not tell it (delta: their sums)."""
    return known.last_time if isinstance(known, DeltaKnownMetric) else 0


def _settle_sum(known: KnownMetric, rules: Rules, state: list[float], values: Values | None) -> list[tuple[int, int]]:
    """Feed every kept counter point, and note it in ``state``; the points (with their end times) left to the
    rules."""
    stride = known.shape.layout.stride
    if values is None:
        assert isinstance(known, DeltaKnownMetric) and known.pending is not None
        values = known.pending
    cumulative = known.shape.cumulative
    now = known.last_seen
    time = _last_time(known)
    fallback = []
    for index, targets in enumerate(known.shape.targets):
        at = index * stride
        value = float(values[at + wire.VALUE])
        if cumulative:
            if values[at + wire.VALUE] == state[at + wire.VALUE]:
                state[at + wire.TIME] = values[at + wire.TIME]  # unchanged since it was settled, and seen since
                continue
            if values[at + wire.TIME] != time:
                time = shared_time(int(values[at + wire.TIME]))  # (one object for every point of the export)
            if rules.feed_sum(targets, value - state[at + wire.VALUE], now):
                state[at : at + stride] = values[at : at + stride]
                continue
        elif rules.feed_sum(targets, value, now):
            state[at + wire.TIME] = time
            continue
        fallback.append((index, time))
    return fallback


def _settle_histogram(
    known: KnownMetric, rules: Rules, state: list[float], values: Values | None
) -> list[tuple[int, int]]:
    """Feed every kept histogram point whose increment every family takes as it is, and note it in ``state``; the
    points (with their end times) left to the rules. Increments are read as lanes (``_growth``)."""
    layout = known.shape.layout
    stride = layout.stride
    width = (stride - wire.BUCKETS + 1) * LANE_BYTES  # a point's lanes: its count, then its bucket counts
    growth, falling = _growth(known, state, values)
    now = known.last_seen
    placements = known.placements
    whole = layout.points == 1  # its buckets add up to its count: ``take`` checked the metric's
    time = _last_time(known)
    fallback = []
    for index, targets in enumerate(known.shape.targets):
        at = index * stride
        lanes = width * index  # where its lanes start in ``growth``
        if values is not None:  # cumulative
            count = values[at + wire.COUNT]
            if count == state[at + wire.COUNT]:
                state[at + wire.TIME] = values[at + wire.TIME]  # unchanged since it was settled, and seen since
                continue
            if values[at + wire.TIME] != time:
                time = shared_time(int(values[at + wire.TIME]))
            observations, added = count - state[at + wire.COUNT], values[at + wire.SUM] - state[at + wire.SUM]
            consistent = whole or sum(values[at + wire.BUCKETS : at + stride]) == count
        elif growth is not None:
            assert isinstance(known, DeltaKnownMetric) and known.pending is not None
            observations, added = int.from_bytes(growth[lanes : lanes + LANE_BYTES], "little"), known.pending[index]
            buckets = int.from_bytes(growth[lanes + LANE_BYTES : lanes + width], "little")
            consistent = whole or buckets % LANE_SUM == observations  # (see LANE_SUM)
        latest = known.interval(index)
        if (
            growth is not None
            and consistent
            and index not in falling
            and rules.feed_growth(
                targets,
                observations,
                added,
                growth[lanes + LANE_BYTES : lanes + width],
                now,
                latest,
                placements.get(index) if placements else None,
            )
        ):
            if values is not None:
                state[at : at + stride] = values[at : at + stride]
            else:
                state[at + wire.TIME] = time
            continue
        fallback.append((index, time))
    return fallback


# The sum of a delta point's summed bucket counts, read off their lanes as the integer modulo 2**64 - 1 (as digits
# add up modulo base - 1): exact while every lane stays under 2**52 (LANE_LIMIT * MAX_PENDING_EXPORTS) and a point
# has under 2**11 buckets.
LANE_SUM = (1 << 64) - 1


def _growth(known: KnownMetric, state: Values, values: Values | None) -> tuple[bytes | None, frozenset[int]]:
    """The lanes of what every point of a histogram adds (its count, then its bucket counts, ``LANE_BYTES`` each),
    and the points whose lanes went down (cumulative: a bucket down, for the rules to tell); None when the lanes
    cannot be read so (every point goes through the rules).

    Cumulative: the lanes of the latest export minus those of ``settled`` (what the series reflect), in one
    subtraction: each lane of the latest gets its top bit set first, so that no lane borrows from its neighbour, and a
    lane whose top bit is then clear went down. ``state`` and ``values``: ``settled`` and ``latest`` unpacked, each
    packed anew at full width where it is narrower."""
    layout = known.shape.layout
    size = layout.points * (layout.stride - wire.BUCKETS + 1) * LANE_BYTES
    if isinstance(known, DeltaKnownMetric):
        if layout.stride - wire.BUCKETS >= 1 << 11:
            return None, NONE
        return known.lanes.to_bytes(size, "little"), NONE
    packings = known.shape.packings
    lanes_of, wide = packings.lanes, packings.wide
    assert known.latest is not None and values is not None and lanes_of is not None
    settled = known.settled if len(known.settled) == wide.size else wide.pack(*state)
    latest = known.latest if len(known.latest) == wide.size else wide.pack(*values)
    latest_lanes = int.from_bytes(b"".join(lanes_of.unpack(latest)), "little")
    before = int.from_bytes(b"".join(lanes_of.unpack(settled)), "little")
    guard = _guard(size)
    if (latest_lanes | before) & guard:
        return None, NONE  # counts of 2**63 or more
    difference = (latest_lanes | guard) - before
    falling = NONE
    if difference & guard != guard:
        width = size // layout.points
        lanes = difference.to_bytes(size, "little")
        point_guard = _guard(width)
        falling = frozenset(
            index
            for index in range(layout.points)
            if int.from_bytes(lanes[index * width : (index + 1) * width], "little") & point_guard != point_guard
        )
    return (difference ^ guard).to_bytes(size, "little"), falling


NONE: frozenset[int] = frozenset()


@functools.lru_cache(maxsize=256)
def _guard(size: int) -> int:
    """The top bit of every lane of ``size`` bytes of lanes."""
    return int.from_bytes((b"\0" * (LANE_BYTES - 1) + b"\x80") * (size // LANE_BYTES), "little")


def _settle_by_the_rules(
    known: KnownMetric, rules: Rules, values: Values, points: list[tuple[int, int]], state: list[float]
) -> None:
    """Apply the kept ``points`` (index, end time) through the per-point rules, each to its stream as ``state`` has
    it; note in ``state`` what the stream is then."""
    stride = known.shape.layout.stride
    batch = known.shape.batch
    batch.now = known.last_seen
    batch.points = StreamPoints(known.shape.attributes, known.shape.histogram)
    batch.settling = True
    temporality = Temporality.CUMULATIVE if known.shape.cumulative else Temporality.DELTA
    for index, time in points:
        stream = known.stream(index, state)
        at = index * stride
        row = values[at : at + stride]
        if known.shape.histogram:
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
            placed = known.placements.get(index) if known.placements else None
            rules.histogram_point(stream, point, temporality, batch, index, placed, known.interval(index))
        else:
            number = wire.NumberPoint(stream.start, time, float(row[wire.VALUE]), b"", 0, False)
            rules.sum_point(stream, number, temporality, batch, index)
        state[at : at + stride] = _state_values(
            (stream,), known.shape.layout, known.shape.cumulative, state[at : at + stride]
        )
    batch.settling = False
    batch.points = ()


def wake(known: KnownMetric, woken: Woken, rules: Rules, now: float, result: IngestResult) -> None:
    """Create the APPROX gauges of the ``woken`` points, whose first interval just arrived; a point whose gauge is
    refused counts as rejected, and stays waiting (retried at its next change, as the general path would)."""
    batch = known.shape.batch
    batch.now = now
    points = known.shape
    batch.points = StreamPoints(points.attributes, points.histogram)
    for point in woken:
        refused = None
        for target in points.targets[point]:
            if not isinstance(target.series, Series):
                reason = rules.resolve(target, known.created_at(point), batch, point)
                refused = refused or reason
        if refused is not None:
            result.accepted -= 1
            result.reject(refused)
    batch.points = ()
    known.optional().waiting = tuple(
        point
        for point, targets in enumerate(points.targets)
        if not all(isinstance(target.series, Series) for target in targets)
    )
