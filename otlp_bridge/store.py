"""The series store: Prometheus families and series under caps, with expiry and render-cache invalidation.

Pure and synchronous; the event loop thread owns it. ``now`` is always passed in.

A series is identified by its family and its labels, a tuple of ``(name, value)`` pairs sorted by name. Series
are monotonic accumulators: translation hands them increments, never absolute values (gauges excepted), so a
sender restart or a second sender can never make a counter go backwards.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import math
import operator
from array import array
from collections import Counter
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]

# Bucket counts added as lanes of one integer (``HistogramSeries.add_lanes``): 64 bits a bucket, folded into the list
# before a lane's total could reach 2**64.
LANE_BYTES = 8
LANE_LIMIT = 1 << 63


class Kind(enum.IntEnum):
    """Family types, in the order the official plugin renders them."""

    COUNTER = 0
    GAUGE = 1
    HISTOGRAM = 2


class DropReason(enum.StrEnum):
    SERIES_CAP = "series_cap"
    FAMILY_CAP = "family_cap"
    STREAM_CAP = "stream_cap"


@dataclass(frozen=True, slots=True)
class FamilyInfo:
    """What a family is: enough to render its HELP/TYPE/UNIT lines."""

    name: str
    kind: Kind
    help: str
    unit: str = ""


def openmetrics_name(info: FamilyInfo) -> str:
    """The family's name in OpenMetrics, where a counter's ``_total`` belongs to its samples."""
    return info.name.removesuffix("_total") if info.kind is Kind.COUNTER else info.name


class Series:
    """One label set of a family. ``text``/``om`` cache its rendered lines until it changes (``exposition``
    fills them; the series' own lines are the only render cache)."""

    __slots__ = ("created", "exemplars", "family", "labels", "last_seen", "om", "text")

    def __init__(self, family: Family, labels: Labels, created: float, now: float) -> None:
        self.family = family
        self.labels = labels
        self.created = created
        self.last_seen = now
        self.text: bytes | None = None
        self.om: bytes | None = None
        self.exemplars: dict[int, tuple[str, float, float]] | None = None  # bucket → (trace id, value, time)

    def changed(self) -> None:
        self.text = self.om = None


# The order gauge values arrive in (across stores: only the order matters), for writers that set a gauge later than its
# value arrived (the metrics fast path keeps exports until a read).
_arrivals = itertools.count(1)


def arrival() -> int:
    """A stamp later than that of every gauge value set so far."""
    return next(_arrivals)


class ScalarSeries(Series):
    """A counter (only ever increased) or a gauge (set: ``GaugeSeries``)."""

    __slots__ = ("value",)

    def __init__(self, family: Family, labels: Labels, created: float, now: float) -> None:
        super().__init__(family, labels, created, now)
        self.value = 0.0

    def add(self, amount: float) -> None:
        if amount > 0:
            total = self.value + amount
            if total != math.inf:  # a counter that would overflow stops rather than print as 0 and go backwards
                self.value = total
                self.changed()

    def set(self, value: float, stamp: int | None = None) -> None:
        """Show ``value`` (``GaugeSeries`` also minds when it arrived)."""
        if value != self.value:
            self.value = value
            self.changed()


class GaugeSeries(ScalarSeries):
    """A gauge: ``stamp`` is when its value arrived (see ``arrival``): only a gauge needs it, so a counter has no
    such slot."""

    __slots__ = ("stamp",)

    def __init__(self, family: Family, labels: Labels, created: float, now: float) -> None:
        super().__init__(family, labels, created, now)
        self.stamp = 0

    def set(self, value: float, stamp: int | None = None) -> None:
        """Show ``value``, which arrived now or at ``stamp``: not if a value that arrived later is shown."""
        stamp = arrival() if stamp is None else stamp
        if stamp < self.stamp:
            return
        self.stamp = stamp
        if value != self.value:
            self.value = value
            self.changed()


class HistogramSeries(Series):
    """Explicit-bucket histogram. ``counts`` are per bucket (not cumulative); the last one is ``+Inf``. Increments
    added as lanes (``add_lanes``) wait in ``pending`` until ``counts`` is read."""

    __slots__ = ("_counts", "bounds", "count", "pending", "sum")

    def __init__(self, family: Family, labels: Labels, created: float, now: float) -> None:
        super().__init__(family, labels, created, now)
        self.bounds: tuple[float, ...] = ()
        self._counts: list[float] = [0]
        self.pending = 0  # bucket counts added as lanes (``add_lanes``), not yet in ``counts``
        self.count = 0.0
        self.sum = 0.0

    @property
    def counts(self) -> list[float]:
        if self.pending:
            self._add_pending()
        return self._counts

    @counts.setter
    def counts(self, counts: list[float]) -> None:
        self.pending = 0
        self._counts = counts

    def _add_pending(self) -> None:
        lanes = array("Q", self.pending.to_bytes(LANE_BYTES * len(self._counts), "little"))
        self._counts = list(map(operator.add, self._counts, lanes))
        self.pending = 0

    def add(self, bounds: tuple[float, ...], counts: Sequence[float], total: float, count: float) -> None:
        """Add an increment. Bounds that differ from the series' own are folded into its buckets as a lower-bound
        estimate (each incoming bucket lands in the first series bucket whose bound is not below its upper bound),
        so ``_count``, ``_sum`` and ``+Inf`` stay exact and the buckets stay monotonic."""
        if count <= 0:
            return
        if not self.bounds and self.count == 0:
            self.bounds = bounds
            self.counts = [0] * (len(bounds) + 1)
        if bounds == self.bounds and len(counts) == len(self.counts):
            self.counts = list(map(operator.add, self.counts, counts))
        else:
            self._fold(bounds, counts)
        self.count += count
        self.sum += total
        self.changed()

    def add_lanes(self, bounds: tuple[float, ...], lanes: int, total: float, count: float) -> bool:
        """``add`` an increment of the series' own ``bounds`` whose bucket counts are the ``LANE_BYTES`` lanes of
        ``lanes`` (the first bucket in the lowest; as many as the series has buckets, or fewer: the rest are 0), and
        whose ``count`` is a bound for each of them: one addition, not one per bucket. False, adding nothing, when
        the series has no buckets yet or other bounds (``add`` folds them)."""
        if count <= 0:
            return True
        if bounds is not self.bounds and (not self.bounds or bounds != self.bounds):
            return False
        if self.pending and self.count + count >= LANE_LIMIT:
            # Before a lane could carry into its neighbour: no lane holds more than the series' whole count (a
            # bound that spares a slot in every histogram series).
            self._add_pending()
        self.pending += lanes
        self.count += count
        self.sum += total
        self.changed()
        return True

    def observe(self, bounds: tuple[float, ...], value: float, exemplar: tuple[str, float] | None = None) -> None:
        """Add one observation (from a span or a log record); ``exemplar`` is ``(trace_id, timestamp)``."""
        if not self.bounds and self.count == 0:
            self.bounds = bounds
            self.counts = [0] * (len(bounds) + 1)
        index = bisect.bisect_left(self.bounds, value)
        self.counts[index] += 1
        self.count += 1
        self.sum += value
        if exemplar is not None:
            if self.exemplars is None:
                self.exemplars = {}
            self.exemplars[index] = (exemplar[0], value, exemplar[1])
        self.changed()

    def _fold(self, bounds: tuple[float, ...], counts: Sequence[float]) -> None:
        own = self.bounds
        for index, amount in enumerate(counts):
            if not amount:
                continue
            upper = bounds[index] if index < len(bounds) else math.inf
            target = len(own)
            for position, bound in enumerate(own):
                if bound >= upper or math.isclose(bound, upper, rel_tol=1e-9):
                    target = position
                    break
            self.counts[target] += amount


class Family:
    """A metric family: its series and, cached until the membership changes, their order."""

    __slots__ = ("info", "order", "series")

    def __init__(self, info: FamilyInfo) -> None:
        self.info = info
        self.series: dict[Labels, Series] = {}
        self.order: list[Labels] | None = None

    def sorted_labels(self) -> list[Labels]:
        if self.order is None:
            self.order = sorted(self.series)
        return self.order

    def _membership_changed(self) -> None:
        self.order = None


class Store:
    """All translated series, under a global cap and a per-family cap.

    Writers that keep increments back (the metrics fast path) register a settler; every read (``families``,
    ``ordered_families``, iteration) runs the settlers first, so readers always see every accepted point. A server
    can run them in steps (``settle_steps``) before it reads."""

    def __init__(self, max_series: int, max_series_per_family: int, ttl: float) -> None:
        self.max_series = max_series
        self.max_series_per_family = max_series_per_family
        self.ttl = ttl
        self._families: dict[str, Family] = {}
        self._settlers: list[Callable[[], Iterator[None]]] = []
        self.live_series = 0
        self.dropped_observations = 0
        self.dropped_by_reason: Counter[str] = Counter()
        self.expired_total = 0
        self.unplaced: Counter[str] = Counter()  # observations above a sender's last bound left in +Inf, by family
        self._family_order: list[Family] | None = None
        self._stems: dict[str, set[str]] = {}  # OpenMetrics family name → the families using it

    def add_settler(self, settle: Callable[[], Iterator[None]]) -> None:
        """``settle`` applies what its writer kept back, yielding between pieces of work."""
        self._settlers.append(settle)

    def settle(self) -> None:
        for _ in self.settle_steps():
            pass

    def settle_steps(self) -> Generator[None, None, None]:
        """Settle piece by piece, so that a server can let other work run in between."""
        for settle in self._settlers:
            yield from settle()

    @property
    def families(self) -> dict[str, Family]:
        """Every family by name, settled."""
        self.settle()
        return self._families

    def family(self, info: FamilyInfo) -> Family | None:
        """The family named ``info.name``; None when that name already exists with another type."""
        family = self._families.get(info.name)
        if family is None:
            self._stems.setdefault(openmetrics_name(info), set()).add(info.name)
            family = self._families[info.name] = Family(info)
            self._family_order = None
        elif family.info.kind is not info.kind:
            return None
        return family

    def shares_openmetrics_name(self, family: Family) -> bool:
        """Whether another family has the same name in OpenMetrics (counter ``x_total`` and gauge ``x`` are both
        ``x`` there)."""
        return len(self._stems.get(openmetrics_name(family.info), ())) > 1

    def series(self, family: Family, labels: Labels, created: float, now: float) -> Series | DropReason:
        """The series for ``labels``, created if the caps allow; otherwise the reason it was refused."""
        found = family.series.get(labels)
        if found is not None:
            return found
        if self.live_series >= self.max_series:
            return self._refuse(DropReason.SERIES_CAP)
        if len(family.series) >= self.max_series_per_family:
            return self._refuse(DropReason.FAMILY_CAP)
        kind = family.info.kind
        series: Series
        if kind is Kind.HISTOGRAM:
            series = HistogramSeries(family, labels, created, now)
        elif kind is Kind.GAUGE:
            series = GaugeSeries(family, labels, created, now)
        else:
            series = ScalarSeries(family, labels, created, now)
        family.series[labels] = series
        family._membership_changed()
        self.live_series += 1
        return series

    def refuse(self, reason: DropReason) -> None:
        """Count an observation refused before a series could be looked up (e.g. the stream cap)."""
        self._refuse(reason)

    def _refuse(self, reason: DropReason) -> DropReason:
        self.dropped_observations += 1
        self.dropped_by_reason[reason] += 1
        return reason

    def expire(self, now: float) -> int:
        """Remove series not touched for ``ttl`` seconds; returns how many went."""
        cutoff = now - self.ttl
        removed = 0
        for name in list(self._families):
            family = self._families[name]
            stale = [labels for labels, series in family.series.items() if series.last_seen < cutoff]
            for labels in stale:
                del family.series[labels]
            if stale:
                removed += len(stale)
                family._membership_changed()
            if not family.series:
                del self._families[name]
                stem = openmetrics_name(family.info)
                self._stems[stem].discard(name)
                if not self._stems[stem]:
                    del self._stems[stem]
                self._family_order = None
        if removed:
            self.live_series -= removed
            self.expired_total += removed
        return removed

    def ordered_families(self, settle: bool = True) -> list[Family]:
        """Counters, then gauges, then histograms, each by name (the official plugin's order); settled first unless
        the caller has just settled in steps (``settle=False``)."""
        if settle:
            self.settle()
        if self._family_order is None:
            self._family_order = sorted(self._families.values(), key=lambda f: (f.info.kind, f.info.name))
        return self._family_order

    def __iter__(self) -> Iterator[Family]:
        return iter(self.ordered_families())
