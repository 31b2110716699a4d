"""The series store: families, caps, series values, expiry, settling before reads."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otlp_bridge.store import (
    LANE_BYTES,
    DropReason,
    FamilyInfo,
    GaugeSeries,
    HistogramSeries,
    Kind,
    ScalarSeries,
    Series,
    Store,
    arrival,
)

COUNTER = FamilyInfo("x_total", Kind.COUNTER, "A counter.")
GAUGE = FamilyInfo("x", Kind.GAUGE, "A gauge.")
HISTOGRAM = FamilyInfo("h_seconds", Kind.HISTOGRAM, "A histogram.", "seconds")


def labels(n: int) -> tuple[tuple[str, str], ...]:
    return (("i", str(n)),)


def test_a_family_name_keeps_its_first_type() -> None:
    store = Store(10, 10, 60)
    family = store.family(COUNTER)
    assert family is not None and store.family(COUNTER) is family
    assert store.family(FamilyInfo("x_total", Kind.GAUGE, "Same name, other type.")) is None


def test_a_counter_and_a_gauge_may_share_an_openmetrics_name() -> None:
    store = Store(10, 10, 60)
    counter, gauge = store.family(COUNTER), store.family(GAUGE)
    assert counter is not None and gauge is not None
    assert store.shares_openmetrics_name(counter) and store.shares_openmetrics_name(gauge)
    lone = store.family(HISTOGRAM)
    assert lone is not None and not store.shares_openmetrics_name(lone)


@pytest.mark.parametrize(
    ("max_series", "per_family", "wanted", "created", "refused"),
    [
        (10, 10, {"a": 3, "b": 3}, 6, {}),
        (4, 4, {"a": 3, "b": 3}, 4, {DropReason.SERIES_CAP: 2}),
        (10, 2, {"a": 3, "b": 3}, 4, {DropReason.FAMILY_CAP: 2}),
        (3, 2, {"a": 3, "b": 3}, 3, {DropReason.FAMILY_CAP: 1, DropReason.SERIES_CAP: 2}),
    ],
)
def test_the_caps_refuse_new_series_and_say_which_cap(
    max_series: int, per_family: int, wanted: dict[str, int], created: int, refused: dict[DropReason, int]
) -> None:
    store = Store(max_series, per_family, 60)
    answers = []
    for name, count in wanted.items():
        family = store.family(FamilyInfo(f"{name}_total", Kind.COUNTER, "C."))
        assert family is not None
        answers += [store.series(family, labels(n), 0.0, 0.0) for n in range(count)]
    assert sum(isinstance(answer, Series) for answer in answers) == created == store.live_series
    assert store.dropped_by_reason == refused
    assert store.dropped_observations == sum(refused.values())
    assert sorted(a for a in answers if not isinstance(a, Series)) == sorted(
        r for r, n in refused.items() for _ in range(n)
    )


def test_an_existing_series_is_found_even_when_the_store_is_full() -> None:
    store = Store(1, 1, 60)
    family = store.family(COUNTER)
    assert family is not None
    first = store.series(family, labels(1), 0.0, 0.0)
    assert store.series(family, labels(2), 0.0, 0.0) is DropReason.SERIES_CAP
    assert store.series(family, labels(1), 5.0, 5.0) is first


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20)), max_size=80), st.integers(1, 12), st.integers(1, 6))
def test_no_sequence_of_requests_goes_over_a_cap(requests: list[tuple[int, int]], cap: int, per_family: int) -> None:
    store = Store(cap, per_family, 60)
    refusals = 0
    for family_index, label in requests:
        family = store.family(FamilyInfo(f"f{family_index}_total", Kind.COUNTER, "C."))
        assert family is not None
        if not isinstance(store.series(family, labels(label), 0.0, 0.0), Series):
            refusals += 1
    assert store.live_series == sum(len(f.series) for f in store.families.values()) <= cap
    assert all(len(f.series) <= per_family for f in store.families.values())
    assert store.dropped_observations == refusals


@pytest.mark.parametrize(
    ("steps", "value"),
    [
        ([("add", 1.0), ("add", 2.5)], 3.5),
        ([("add", 1.0), ("add", 0.0), ("add", -4.0)], 1.0),  # a counter never goes down
        ([("add", 1.0), ("add", math.inf)], 1.0),  # nor overflows to +Inf
        ([("set", 7.0), ("set", -2.0)], -2.0),
    ],
)
def test_a_scalar_series_adds_up_or_is_set(steps: list[tuple[str, float]], value: float) -> None:
    store = Store(10, 10, 60)
    family = store.family(COUNTER)
    assert family is not None
    series = store.series(family, (), 0.0, 0.0)
    assert isinstance(series, ScalarSeries)
    for method, amount in steps:
        getattr(series, method)(amount)
    assert series.value == value


def test_a_gauge_keeps_the_value_that_arrived_last() -> None:
    """A value set later than it arrived (``arrival``: the fast path settles at a read) does not replace one that
    arrived after it."""
    store = Store(10, 10, 60)
    family = store.family(GAUGE)
    assert family is not None
    series = store.series(family, (), 0.0, 0.0)
    assert isinstance(series, ScalarSeries)
    kept = arrival()
    series.set(1.0)
    series.set(2.0, kept)
    assert series.value == 1.0
    series.set(3.0, arrival())
    assert series.value == 3.0
    series.set(4.0)
    assert series.value == 4.0


def _histogram(store: Store) -> HistogramSeries:
    family = store.family(HISTOGRAM)
    assert family is not None
    series = store.series(family, (), 0.0, 0.0)
    assert isinstance(series, HistogramSeries)
    return series


def test_a_histogram_observation_goes_in_the_first_bucket_not_below_it() -> None:
    series = _histogram(Store(10, 10, 60))
    for value in (0.5, 1.0, 1.5, 99.0):
        series.observe((1.0, 2.0), value, ("0af7651916cd43dd8448eb211c80319c", 12.0) if value == 99.0 else None)
    assert series.counts == [2, 1, 1]  # le="1" holds 0.5 and 1.0
    assert (series.count, series.sum) == (4, 102.0)
    assert series.exemplars == {2: ("0af7651916cd43dd8448eb211c80319c", 99.0, 12.0)}


BOUNDS = st.lists(st.floats(0.001, 1000), min_size=1, max_size=6, unique=True).map(lambda b: tuple(sorted(b)))


def lanes(counts: list[int]) -> int:
    return int.from_bytes(b"".join(count.to_bytes(LANE_BYTES, "little") for count in counts), "little")


@pytest.mark.parametrize(
    ("increments", "expected"),
    [
        ([[1, 0, 2], [0, 3, 1]], [1, 3, 3]),
        ([[1, 0, 2], [0, 0, 0], [4, 0, 0]], [5, 0, 2]),  # an empty increment adds nothing
        ([[2, 1]], [2, 1, 0]),  # fewer lanes than buckets: the rest are 0
        ([[1 << 63, 0, 0], [1 << 63, 0, 0], [0, 0, 5]], [1 << 64, 0, 5]),  # folded before a lane carries
    ],
)
def test_increments_added_as_lanes_are_those_added_bucket_by_bucket(
    increments: list[list[int]], expected: list[int]
) -> None:
    store = Store(10, 10, 60)
    by_lanes, by_bucket = _histogram(store), _histogram(Store(10, 10, 60))
    bounds = (1.0, 2.0)
    by_bucket.add(bounds, [0, 0, 0], 0.0, 1)  # the series has its buckets
    by_lanes.add(bounds, [0, 0, 0], 0.0, 1)
    for counts in increments:
        assert by_lanes.add_lanes(bounds, lanes(counts), 1.0, sum(counts))
        by_bucket.add(bounds, [*counts, 0][:3], 1.0, sum(counts))
    assert by_lanes.counts == by_bucket.counts == expected
    assert (by_lanes.count, by_lanes.sum) == (by_bucket.count, by_bucket.sum)


def test_lanes_of_other_bounds_or_before_the_first_buckets_are_left_to_add() -> None:
    series = _histogram(Store(10, 10, 60))
    assert not series.add_lanes((1.0, 2.0), lanes([1, 0, 0]), 1.0, 1)  # no buckets yet
    series.add((1.0, 2.0), [1, 0, 0], 1.0, 1)
    assert not series.add_lanes((1.0, 3.0), lanes([1, 0, 0]), 1.0, 1)
    assert series.counts == [1, 0, 0] and series.count == 1


@given(BOUNDS, BOUNDS, st.lists(st.integers(0, 50), min_size=7, max_size=7))
def test_increments_with_other_bounds_never_place_an_observation_too_low(
    own: tuple[float, ...], other: tuple[float, ...], counts: list[int]
) -> None:
    """Folded into the series' own buckets, ``_count``, ``_sum`` and ``+Inf`` stay exact and no bucket claims an
    observation that might be above its bound (the same bounds add up exactly)."""
    series = _histogram(Store(10, 10, 60))
    series.add(own, [0] * len(own) + [1], 1.0, 1)  # fixes the series' bounds
    increment = counts[: len(other) + 1]
    series.add(other, increment, 5.0, sum(increment))
    assert series.bounds == own
    assert sum(series.counts) == series.count == 1 + sum(increment)
    assert series.sum == (6.0 if sum(increment) else 1.0)
    uppers = [*other, math.inf]
    for index, bound in enumerate(own):
        placed = sum(series.counts[: index + 1])
        certain = sum(
            n for n, upper in zip(increment, uppers, strict=False) if upper <= bound or math.isclose(upper, bound)
        )
        assert placed <= certain
        if other == own:  # the same bounds add up bucket by bucket (exactly, even for bounds a rounding apart)
            assert placed == sum(n for n, upper in zip(increment, uppers, strict=False) if upper <= bound)


def test_expiry_removes_idle_series_and_empty_families() -> None:
    store = Store(10, 10, ttl=60)
    counter, gauge = store.family(COUNTER), store.family(GAUGE)
    assert counter is not None and gauge is not None
    old = store.series(counter, labels(1), 0.0, 0.0)
    fresh = store.series(counter, labels(2), 0.0, 0.0)
    store.series(gauge, labels(1), 0.0, 0.0)
    assert isinstance(old, Series) and isinstance(fresh, Series)
    fresh.last_seen = 50.0
    assert store.expire(now=100.0) == 2
    assert (store.live_series, store.expired_total) == (1, 2)
    assert set(store.families) == {"x_total"}
    assert list(store.families["x_total"].series) == [labels(2)]
    assert not store.shares_openmetrics_name(counter)  # the gauge's OpenMetrics name went with it
    assert store.expire(now=100.0) == 0


def test_reads_settle_what_writers_kept_back_first() -> None:
    store = Store(10, 10, 60)
    steps: list[str] = []

    def settle() -> Iterator[None]:
        steps.append("settle")
        family = store.family(COUNTER)
        assert family is not None
        store.series(family, (), 0.0, 0.0)
        yield

    store.add_settler(settle)
    assert "x_total" in store.families
    assert [f.info.name for f in store] == ["x_total"]
    assert steps == ["settle", "settle"]


def test_families_are_ordered_counters_gauges_histograms_then_by_name() -> None:
    store = Store(10, 10, 60)
    for info in (HISTOGRAM, GAUGE, FamilyInfo("b_total", Kind.COUNTER, "B."), COUNTER):
        store.family(info)
    assert [f.info.name for f in store.ordered_families()] == ["b_total", "x_total", "x", "h_seconds"]


def test_only_a_gauge_keeps_when_its_value_arrived() -> None:
    """The arrival stamp is a gauge's: counters (most series) carry no slot for it."""
    store = Store(10, 10, 60)
    created = {}
    for info in (COUNTER, GAUGE):
        family = store.family(info)
        assert family is not None
        created[info.kind] = store.series(family, (), 0.0, 0.0)
    counter, gauge = created[Kind.COUNTER], created[Kind.GAUGE]
    assert type(counter) is ScalarSeries
    assert isinstance(gauge, GaugeSeries)
    assert not hasattr(counter, "stamp")
    assert sys.getsizeof(counter) < sys.getsizeof(gauge)
