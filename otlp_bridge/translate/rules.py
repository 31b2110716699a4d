"""The per-point accumulation rules, one implementation for both paths of ``otlp_bridge.translate.metrics``.

Every incoming stream (resource + scope + metric + attributes) is tracked, so cumulative points become
increments: a resend adds nothing, a restart (new start time or a decrease) starts from zero, a delta point is
an increment by itself, and a repeated delta point (same end time) is ignored. Several streams may feed one
series (attributes summed away, several senders): each contributes only its own increments. The general path
applies every point it walks with these rules; the fast path applies what it kept with them when it settles.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import weakref
from array import array
from collections.abc import Iterable
from enum import IntEnum
from typing import NamedTuple, Protocol

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from otlp_bridge.store import LANE_BYTES, DropReason, HistogramSeries, Kind, Labels, ScalarSeries, Series, Store
from otlp_bridge.translate import placement, wire
from otlp_bridge.translate.attributes import attribute_dict, is_private_attribute
from otlp_bridge.translate.labels import label_pair, normalize_value, sanitize_label_name
from otlp_bridge.translate.mapping import FamilySpec, Value
from otlp_bridge.translate.result import IngestResult, Reason, Rejection


class Temporality(IntEnum):
    """How a point's value relates to the previous one (OTLP's ``AggregationTemporality``; the bridge reads an
    unspecified one, as on a non-monotonic sum, as a gauge: the last value)."""

    GAUGE = 0
    DELTA = 1
    CUMULATIVE = 2


class Increment(NamedTuple):
    """A change to apply: for sums ``value``; for histograms ``observations``, ``total`` and per-bucket ``counts``."""

    value: float = 0.0
    observations: float = 0.0
    total: float = 0.0
    counts: tuple[float, ...] = ()


class Interval(NamedTuple):
    """The latest export interval with observations of several exports applied at once (the fast path's settle), for
    APPROX gauges: its total and its count (0: none), and when it arrived (``otlp_bridge.store.arrival``)."""

    total: float
    observations: float
    stamp: int


class Target:
    """One family a stream feeds: its spec, its series (or why it was refused, or None before the first point), the
    stream's bucket bounds in the family's unit and the official bounds placed above them (``extra``, in the stream's
    unit; see ``otlp_bridge.translate.placement``)."""

    __slots__ = ("bounds", "extra", "series", "spec")

    def __init__(self, spec: FamilySpec, series: Series | DropReason | None) -> None:
        self.spec = spec
        self.series = series
        self.bounds: tuple[float, ...] | None = None
        self.extra: tuple[float, ...] = ()


class Stream:
    """State of one incoming OTLP stream: the last cumulative point and the families it feeds; ``delta`` when its
    points are deltas (it then lives as long as its sender: ``MetricsTranslator.expire``). ``attributes``: its
    points' attribute fields as serialised (the stream table's key; read back only to create a series again)."""

    __slots__ = (
        "attributes",
        "counts",
        "created",
        "delta",
        "last_seen",
        "last_time",
        "observations",
        "raw_bounds",
        "start",
        "targets",
        "total",
        "value",
    )

    def __init__(self, targets: Targets, created: float, now: float, attributes: bytes = b"") -> None:
        self.targets = targets
        self.attributes = attributes
        self.created = created
        self.last_seen = now
        self.delta = False
        self.start = -1
        self.last_time = -1
        self.state = Increment()
        self.raw_bounds: tuple[float, ...] = ()

    # The last cumulative point is kept as plain fields, not as the Increment it came in: a NamedTuple stays tracked
    # by the cyclic collector for life, and each export replaces it (2,000 gateways: 100k+ tracked objects promoted
    # into the older generations between two exports of a gateway).
    value: float
    observations: float
    total: float
    counts: tuple[float, ...]

    @property
    def state(self) -> Increment:
        """The last cumulative point."""
        return Increment(self.value, self.observations, self.total, self.counts)

    @state.setter
    def state(self, full: Increment) -> None:
        self.value, self.observations, self.total, self.counts = full


NO_LANE = bytes(LANE_BYTES)

# What makes streams feed the same series, whichever sender and attributes they come from: the metric's scope, name,
# data kind and first family, each family the point feeds with the labels it gives it, and the bucket bounds.
MetricKind = tuple[str, str, str, str]
Identity = tuple[MetricKind, tuple[tuple[str, Labels], ...], tuple[float, ...]]


class Targets(list[Target]):
    """The targets of every stream of one ``Identity``, whichever sender it comes from: one list, since they feed the
    same series (held weakly by ``Rules``: it goes with the last such stream). Without an identity: one stream's own
    (a sender's source labels make its series its own: nothing to share)."""

    __slots__ = ("__weakref__", "identity")

    def __init__(self, identity: Identity | None, targets: Iterable[Target]) -> None:
        super().__init__(targets)
        self.identity = identity


Placed = dict[Target, list[float]]  # per target: what the fast path placed in its ``extra`` buckets, then the unplaced


class HasAttributes(Protocol):
    @property
    def attributes(self) -> Iterable[KeyValue]: ...


class Points(Protocol):
    """The parsed data points of a metric, by index (only their attributes are read)."""

    def __getitem__(self, index: int, /) -> HasAttributes: ...


class Batch:
    """What the points of one metric share while they are translated."""

    __slots__ = ("dynamic", "extra", "now", "points", "result", "settling", "specs")

    def __init__(
        self,
        points: Points,
        specs: tuple[FamilySpec, ...],
        extra: Labels,
        dynamic: bool,
        now: float,
        result: IngestResult,
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


def lookup(
    store: Store, spec: FamilySpec, labels: Labels, extra: Labels, created: float, now: float
) -> Series | DropReason | None:
    """The series of ``spec`` with ``labels`` and the source labels ``extra``, created if the caps allow (else why
    not); None when the family's name is taken by another type. Shared by metrics and events."""
    family = store.family(spec.info)
    if family is None:
        return None
    if extra:
        labels = tuple(sorted(labels + extra))
    return store.series(family, labels, created, now)


def refusal(series: Series | DropReason | None) -> Reason | None:
    """Why ``lookup`` gave no series (None when it did)."""
    if isinstance(series, Series):
        return None
    return Rejection.INVALID if series is None else series


@functools.lru_cache(maxsize=64)
def shared_time(nanoseconds: int) -> int:
    """One int object per start or end time among the latest few: the streams of a gateway's export, read one after
    another, share theirs (a longer memory would keep thousands of senders' times for little more)."""
    return nanoseconds


@functools.lru_cache(maxsize=1024)
def shared_bounds(bounds: tuple[float, ...]) -> tuple[float, ...] | None:
    """One tuple per distinct bound set, shared by every stream and series that uses it; None when the bounds are
    not finite and strictly increasing (memoised: senders reuse a few bound sets)."""
    valid = all(math.isfinite(b) for b in bounds) and all(a < b for a, b in itertools.pairwise(bounds))
    return bounds if valid else None


def finite(value: float | None) -> float | None:
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


class Rules:
    """Applies points of tracked streams to the series of a ``Store``. Each ``*_point`` returns None when the point
    was taken, else why it was refused (once, however many families it feeds: the caller counts it)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._targets: weakref.WeakValueDictionary[Identity, Targets] = weakref.WeakValueDictionary()

    def targets(self, kind: MetricKind, batch: Batch, index: int) -> Targets:
        """The targets of a new stream of a metric of ``kind`` (point ``index`` of the batch): those of the streams
        whose points give the same families the same labels, if any (from any sender, with any attributes: a fleet's
        gateways, each with lanes of its own, feed one ``session`` lane). A batch with source labels
        (``--source-label``) gets targets of its own: its series are its own."""
        attributes = batch.attributes(index)
        specs = [spec for spec in batch.specs if spec.select is None or spec.select(attributes)]
        if batch.extra:
            return Targets(None, (Target(spec, None) for spec in specs))
        dynamic = dynamic_labels(attributes) if batch.dynamic else None
        families = tuple((spec.name, spec.labels_for(attributes) if dynamic is None else dynamic) for spec in specs)
        identity: Identity = (kind, families, ())
        found = self._targets.get(identity)
        if found is None:
            found = self._targets[identity] = Targets(identity, (Target(spec, None) for spec in specs))
        return found

    def sum_point(
        self, stream: Stream, point: wire.NumberPoint, temporality: Temporality, batch: Batch, index: int
    ) -> Reason | None:
        value = point.value
        if value is None or not math.isfinite(value) or (value < 0 and temporality is not Temporality.GAUGE):
            return Rejection.INVALID  # counters count up from zero
        if temporality is Temporality.CUMULATIVE:
            start = point.start
            previous = stream.value
            if start == stream.start and value == previous and stream.last_time >= 0:
                return self.touch(stream, batch, index)
            full = Increment(value=value)
            increment = full if start != stream.start or value < previous else Increment(value=value - previous)
            stream.start, stream.state = shared_time(start), full
        elif temporality is Temporality.DELTA:
            if point.time and point.time <= stream.last_time:
                return self.touch(stream, batch, index)
            full = increment = Increment(value=value)
        else:  # gauge semantics
            full = increment = Increment(value=value)
        stream.last_time = shared_time(point.time) if point.time else stream.last_time + 1
        return self.apply(stream, increment, full, batch, index)

    def histogram_point(
        self,
        stream: Stream,
        point: wire.HistogramPoint,
        temporality: Temporality,
        batch: Batch,
        index: int,
        placed: Placed | None = None,
        latest: Interval | None = None,
    ) -> Reason | None:
        """``placed``: what the fast path placed of the exports it settles (the general path places each export);
        ``latest``: the latest of their intervals with observations, for APPROX gauges (see ``apply``)."""
        if self._repeated(stream, point, temporality):
            return self.touch(stream, batch, index)
        count = point.observations
        counts = point.counts or (count,)
        raw_bounds = point.bounds if point.counts else ()
        total = point.total if point.total is not None else 0.0
        if len(counts) != len(raw_bounds) + 1 or not math.isfinite(total) or sum(counts) != count:
            return Rejection.INVALID
        if not self._take_bounds(stream, raw_bounds):
            return Rejection.INVALID
        full = Increment(observations=count, total=total, counts=counts)
        increment, interval = full, True  # the increment covers what happened since the previous export
        if temporality is Temporality.CUMULATIVE:
            increment, interval = self._growth(stream, point.start, full)
            stream.start, stream.state = shared_time(point.start), full
        elif temporality is not Temporality.DELTA:
            return Rejection.INVALID  # histograms need a temporality
        stream.last_time = shared_time(point.time) if point.time else stream.last_time + 1
        extremes = None
        if temporality is Temporality.DELTA and (point.low is not None or point.high is not None):
            extremes = placement.Extremes(finite(point.low), finite(point.high))  # this interval's own
        return self.apply(stream, increment, full, batch, index, extremes, interval, placed, latest)

    @staticmethod
    def _repeated(stream: Stream, point: wire.HistogramPoint, temporality: Temporality) -> bool:
        """A cumulative point with no new observation, or a delta point already taken."""
        if temporality is Temporality.CUMULATIVE:
            unchanged = point.start == stream.start and point.observations == stream.observations
            return unchanged and stream.last_time >= 0
        return temporality is Temporality.DELTA and 0 < point.time <= stream.last_time

    def _take_bounds(self, stream: Stream, raw_bounds: tuple[float, ...]) -> bool:
        """Whether the bounds are valid; the stream takes them (one shared tuple per bound set), and the targets of
        streams of its kind with those bounds (their bounds in the family's unit are these)."""
        if raw_bounds == stream.raw_bounds:
            return True
        shared = shared_bounds(raw_bounds)
        if shared is None:
            return False
        stream.raw_bounds = shared
        previous = stream.targets
        if previous.identity is None:
            for target in previous:
                target.bounds = None  # its own: scaled again from the new bounds
            return True
        identity = (*previous.identity[:2], shared)
        found = self._targets.get(identity)
        if found is None:
            found = self._targets[identity] = Targets(identity, (Target(t.spec, t.series) for t in previous))
        stream.targets = found
        return True

    @staticmethod
    def _growth(stream: Stream, start: int, full: Increment) -> tuple[Increment, bool]:
        """What a cumulative histogram point added since the stream's last one, and whether that is an interval:
        a stream first seen carries the sender's whole life; a restart (or a reset), only since then."""
        previous = stream.state
        counts = full.counts
        growing = start == stream.start and full.observations >= previous.observations
        if growing and len(previous.counts) == len(counts):
            deltas = tuple(map(operator.sub, counts, previous.counts))
            if min(deltas) >= 0:
                growth = Increment(
                    observations=full.observations - previous.observations,
                    total=full.total - previous.total,
                    counts=deltas,
                )
                return growth, True
        return full, stream.last_time >= 0 and start != stream.start

    # -- targets --------------------------------------------------------------------------------------------
    def touch(self, stream: Stream, batch: Batch, index: int) -> Reason | None:
        """An unchanged point: keep its series alive; a point whose series was refused is still refused."""
        refused = None
        for target in stream.targets:
            series = target.series
            if isinstance(series, Series):
                series.last_seen = batch.now
                continue
            if target.spec.value is Value.MEAN:
                continue  # no observation in this interval: an APPROX gauge still has no value to show
            reason = self.resolve(target, stream.created, batch, index)
            if reason is None:
                self.feed(target, stream.state, stream)
            else:
                refused = refused or reason
        return refused

    def apply(
        self,
        stream: Stream,
        increment: Increment,
        full: Increment,
        batch: Batch,
        index: int,
        extremes: placement.Extremes | None = None,
        interval: bool = True,
        placed: Placed | None = None,
        latest: Interval | None = None,
    ) -> Reason | None:
        """Feed every family of the stream; the first refusal's reason when a family refused the point.

        An APPROX gauge (``Value.MEAN``) takes only an ``interval``'s mean: the first cumulative point of a stream
        carries the sender's whole life, so such a gauge shows nothing until the next export. Settling several
        exports at once, it takes ``latest``, the latest of their intervals with observations (none: it stays), unless a
        value that arrived later is shown (another stream's)."""
        refused = None
        for target in stream.targets:
            series = target.series
            mean = target.spec.value is Value.MEAN
            if isinstance(series, Series):
                series.last_seen = batch.now
                if mean and latest is not None:
                    if latest.observations > 0 and isinstance(series, ScalarSeries):
                        series.set(latest.total / latest.observations / target.spec.divisor, latest.stamp)
                elif interval or not mean:
                    self.feed(target, increment, stream, extremes, placed.get(target) if placed else None)
                continue
            if mean and (batch.settling or not (interval and increment.observations > 0)):
                continue  # no interval mean yet; or settling, where the fast path's wake created (or was refused) it
            reason = self.resolve(target, stream.created, batch, index)
            if reason is None:
                # A new series takes the stream's whole history; a gauge, the interval's mean.
                self.feed(target, increment if mean else full, stream, extremes)
            else:
                refused = refused or reason
        return refused

    def resolve(self, target: Target, created: float, batch: Batch, index: int) -> Reason | None:
        """Look up (or create) the target's series (its stream first seen at ``created``); None when it has one, else
        why not."""
        spec = target.spec
        attributes = batch.attributes(index)
        labels = dynamic_labels(attributes) if batch.dynamic else spec.labels_for(attributes)
        target.series = lookup(self.store, spec, labels, batch.extra, created, batch.now)
        return refusal(target.series)

    def feed(
        self,
        target: Target,
        increment: Increment,
        stream: Stream,
        extremes: placement.Extremes | None = None,
        placed: list[float] | None = None,
    ) -> None:
        series = target.series
        if isinstance(series, HistogramSeries):
            self._feed_histogram(series, target, increment, stream, extremes, placed)
            return
        if not isinstance(series, ScalarSeries):
            return
        spec = target.spec
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

    @staticmethod
    def feed_sum(targets: Targets, value: float, now: float) -> bool:
        """Feed a counter's increment to every family of its stream (``targets``) as ``apply`` does, when each has its
        series; False, feeding nothing, otherwise (the caller applies the point through the rules)."""
        for target in targets:
            spec = target.spec
            if type(target.series) is not ScalarSeries or spec.value is not Value.SUM or spec.kind is Kind.GAUGE:
                return False
        for target in targets:
            series = target.series
            assert isinstance(series, ScalarSeries)
            series.last_seen = now
            series.add(value / target.spec.divisor)
        return True

    def feed_growth(
        self,
        targets: Targets,
        observations: float,
        total: float,
        lanes: bytes,
        now: float,
        latest: Interval | None,
        placed: Placed | None,
    ) -> bool:
        """Feed a histogram point's increment (its bucket counts: the ``LANE_BYTES`` lanes of ``lanes``) to every
        family of its stream (``targets``) as ``apply`` does, in the common case of the fast path's settle: each family
        has its series, and what is above the last bound was ``placed`` (or there is none). False, feeding nothing, in
        any other case (the caller applies the point through the rules)."""
        if not _takes_growth(targets, lanes[-LANE_BYTES:] != NO_LANE, latest is not None, placed):
            return False
        growth = int.from_bytes(lanes, "little")
        for target in targets:
            series = target.series
            assert isinstance(series, Series)
            series.last_seen = now
            spec = target.spec
            if type(series) is HistogramSeries:
                bounds = target.bounds
                assert bounds is not None
                kept = placed.get(target) if placed else None
                if kept is None and series.add_lanes(bounds, growth, total / spec.divisor, observations):
                    continue
                counts: tuple[float, ...] = _lane_counts(lanes)
                if kept is not None:  # as ``_feed_histogram`` feeds what the fast path placed
                    *extra, unplaced = kept
                    counts = (*counts[:-1], *extra, counts[-1] - sum(extra))
                    if unplaced:
                        self.store.unplaced[spec.name] += int(unplaced)
                elif target.extra:
                    counts = (*counts[:-1], *(0,) * len(target.extra), 0)  # nothing above the last bound
                series.add(bounds, counts, total / spec.divisor, observations)
            elif isinstance(series, ScalarSeries):  # (or a GaugeSeries)
                if spec.value is Value.COUNT:
                    series.add(observations)
                elif latest is not None and latest.observations > 0:  # Value.MEAN
                    series.set(latest.total / latest.observations / spec.divisor, latest.stamp)
        return True

    def _feed_histogram(
        self,
        series: HistogramSeries,
        target: Target,
        increment: Increment,
        stream: Stream,
        extremes: placement.Extremes | None,
        placed: list[float] | None,
    ) -> None:
        spec = target.spec
        raw_bounds = stream.raw_bounds
        bounds = target.bounds
        if bounds is None:
            target.extra = official_extension(spec, raw_bounds)
            if target.extra:
                self.store.unplaced[spec.name] += 0  # shown from the first observation on
            scaled = scaled_bounds(raw_bounds + target.extra, spec.divisor)
            bounds = target.bounds = shared_bounds(scaled) or scaled
        counts = increment.counts
        unplaced: float = 0
        if placed is not None:  # placed export by export by the fast path
            *extra, unplaced = placed
            counts = (*counts[:-1], *extra, counts[-1] - sum(extra))
        elif target.extra and not counts[-1]:
            counts = (*counts[:-1], *(0,) * len(target.extra), 0)  # nothing above the last bound
        elif target.extra:
            total = increment.total
            error = placement.sum_error(increment.observations, max(abs(stream.total), abs(total)))
            placing = placement.place(raw_bounds, target.extra, counts, total, error, extremes)
            counts, unplaced = placing.counts, placing.unplaced
        if unplaced:
            self.store.unplaced[spec.name] += int(unplaced)
        series.add(bounds, counts, increment.total / spec.divisor, increment.observations)


def _takes_growth(targets: Targets, above: bool, latest: bool, placed: Placed | None) -> bool:
    """Whether every target has its series and takes a point's increment as ``Rules.feed_growth`` feeds it:
    ``above``, whether it has observations above the last bound (placed, or the target has no bound above it);
    ``latest``, whether the latest interval is known (for APPROX gauges)."""
    for target in targets:
        series = target.series
        kind = target.spec.value
        if type(series) is HistogramSeries:
            if target.bounds is None or (above and target.extra and not (placed and target in placed)):
                return False
        elif not isinstance(series, ScalarSeries) or kind is Value.SUM or (kind is Value.MEAN and not latest):
            return False
    return True


def _lane_counts(lanes: bytes) -> tuple[int, ...]:
    counts = array("Q")
    counts.frombytes(lanes)
    return tuple(counts)
