"""Placement of observations above a sender's last bound into the official 30/60/120/300/600 s buckets."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client.parser import text_string_to_metric_families

from otlp_bridge.expose.exposition import Format, render
from otlp_bridge.store import HistogramSeries, Store
from otlp_bridge.translate.metrics import MetricsTranslator, TranslateOptions
from otlp_bridge.translate.placement import MAX_UNKNOWNS, Extremes, Placement, extension, place
from tests.support import (
    CUMULATIVE,
    DEFAULT_BOUNDS,
    DELTA,
    ForgetfulTable,
    histogram_metric,
    key_values,
    metrics_request,
)

DEFAULT = tuple(map(float, DEFAULT_BOUNDS))
EXTRA = (30_000.0, 60_000.0, 120_000.0, 300_000.0, 600_000.0)  # the official bounds above 10 s, in ms


def interval(values: Sequence[float]) -> tuple[list[float], float]:
    """The default-bound bucket counts of ``values`` and their sum, as one export interval carries them."""
    counts = [0.0] * (len(DEFAULT) + 1)
    for value in values:
        counts[next((i for i, bound in enumerate(DEFAULT) if value <= bound), len(DEFAULT))] += 1
    return counts, math.fsum(values)


@pytest.mark.parametrize(
    ("values", "error", "placed", "unplaced"),
    [
        ([20_000.0], 0.0, (1, 0, 0, 0, 0, 0), 0),  # the sum's growth is its value
        ([4.0, 900.0, 20_000.0], 0.0, (1, 0, 0, 0, 0, 0), 0),  # others add 750..1005 ms: 19899..20154 ms
        ([9_000.0, 29_000.0], 0.0, (0, 0, 0, 0, 0, 0), 1),  # 7500..10000 ms of others: 28000..30500 straddles 30 s
        ([12_000.0, 13_000.0], 0.0, (2, 0, 0, 0, 0, 0), 0),  # each at most 25000 - 10000
        ([20_000.0, 25_000.0], 0.0, (1, 0, 0, 0, 0, 0), 1),  # the smaller at most 22500; the larger 22500..35000
        ([45_000.0, 200_000.0], 0.0, (0, 0, 0, 1, 0, 0), 1),  # the larger 122500..235000 ms; the smaller unsure
        ([30_000.0], 0.0, (1, 0, 0, 0, 0, 0), 0),  # exactly on the edge, an exact sum: le=30
        ([30_000.0], 1e-9, (0, 0, 0, 0, 0, 0), 1),  # the same with a sum known only to 1e-9 ms: either side
        ([700_000.0], 0.0, (0, 0, 0, 0, 0, 1), 0),  # above 600 s: +Inf is its bucket
        ([100.0, 2_000.0], 0.0, (0, 0, 0, 0, 0, 0), 0),  # nothing above 10 s
    ],
)
def test_place(values: list[float], error: float, placed: tuple[int, ...], unplaced: int) -> None:
    counts, total = interval(values)
    result = place(DEFAULT, EXTRA, counts, total, error)
    assert result.counts[: len(DEFAULT)] == tuple(counts[:-1])
    assert result.counts[len(DEFAULT) :] == tuple(float(n) for n in (*placed[:-1], placed[-1] + unplaced))
    assert result.unplaced == unplaced


@pytest.mark.parametrize(
    ("values", "extremes", "placed", "unplaced"),
    [
        # the max is one of them, exactly; the other is what is left of the sum (without: 22500..35000 ms, unsure)
        ([20_000.0, 25_000.0], Extremes(None, 25_000.0), (2, 0, 0, 0, 0, 0), 0),
        # the max bounds the others: three above 10 s, at most 29000 ms each
        ([10_500.0, 28_000.0, 29_000.0, 100.0], Extremes(100.0, 29_000.0), (3, 0, 0, 0, 0, 0), 0),
        # an interval's max and min are two of its observations, known exactly (the edge included)
        ([45_000.0, 200_000.0], Extremes(45_000.0, 200_000.0), (0, 1, 0, 1, 0, 0), 0),
        ([30_000.0, 50_000.0, 60_000.0], Extremes(30_000.0, 60_000.0), (1, 2, 0, 0, 0, 0), 0),
        # one observation: its min and max are the same one
        ([700_000.0], Extremes(700_000.0, 700_000.0), (0, 0, 0, 0, 0, 1), 0),
        # a max below the last bound with observations above it: the point contradicts itself, nothing placed
        ([20_000.0], Extremes(None, 5_000.0), (0, 0, 0, 0, 0, 0), 1),
    ],
)
def test_place_with_min_and_max(
    values: list[float], extremes: Extremes, placed: tuple[int, ...], unplaced: int
) -> None:
    counts, total = interval(values)
    result = place(DEFAULT, EXTRA, counts, total, 1e-9, extremes)
    assert result.counts[len(DEFAULT) :] == tuple(float(n) for n in (*placed[:-1], placed[-1] + unplaced))
    assert result.unplaced == unplaced


def test_place_leaves_what_it_cannot_bound() -> None:
    """Too many unknowns, or a sum smaller than the observations above 10 s must add up to: nothing placed."""
    many = [15_000.0] * (MAX_UNKNOWNS + 1)
    counts, total = interval(many)
    assert place(DEFAULT, EXTRA, counts, total, 0.0).unplaced == len(many)
    counts, _ = interval([20_000.0])
    assert place(DEFAULT, EXTRA, counts, 5_000.0, 0.0) == Placement((*counts[:-1], 0, 0, 0, 0, 0, 1), 1)


def test_extension() -> None:
    """Only the official bounds above the sender's last one are added; a sender that reaches 600 s gets none."""
    assert extension(DEFAULT, (5_000.0, 10_000.0, *EXTRA)) == EXTRA
    assert extension((*DEFAULT, 15_000, 20_000, 30_000, 45_000, 60_000, 600_000, 900_000), EXTRA) == ()
    assert extension((), EXTRA) == ()


AGENT_BOUNDS = (*DEFAULT_BOUNDS, 15_000, 20_000, 30_000, 45_000, 60_000, 120_000, 180_000, 240_000, 300_000, 600_000)


def test_a_sender_with_the_official_bounds_is_exposed_as_it_is() -> None:
    """OpenClaw's agent-duration bounds already hold every official one: nothing is added or placed."""
    store = Store(100, 100, ttl=600)
    translator = MetricsTranslator(store, TranslateOptions())
    run = {"openclaw.outcome": "completed", "openclaw.channel": "webchat"}
    translator.apply(
        metrics_request(
            histogram_metric("openclaw.run.duration_ms", [(run, [25_000.0, 50_000.0])], bounds=AGENT_BOUNDS)
        ),
        now=1.0,
    )
    (series,) = store.families["openclaw_run_duration_seconds"].series.values()
    assert isinstance(series, HistogramSeries)
    assert series.bounds == tuple(bound / 1000 for bound in AGENT_BOUNDS)
    assert store.unplaced == {}


# -- the property: random streams exported with the default bounds at random intervals ---------------------------
OFFICIAL_EDGES = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
EDGE_VALUES = [
    near for edge in (10_000.0, *EXTRA) for near in (edge, math.nextafter(edge, 0), math.nextafter(edge, math.inf))
]
observation = st.one_of(
    st.floats(0, 900_000),
    st.integers(0, 900_000).map(float),
    st.integers(10_000, 40_000).map(float),
    st.sampled_from(EDGE_VALUES),
)
FAMILY = "openclaw_queue_lane_wait_seconds"
LABELS = frozenset({("lane", "main")})


def wait_histogram(
    counts: Sequence[float], total: float, extremes: Sequence[float], start: int, time: int, temporality: int
) -> metrics_pb2.Metric:
    """One ``openclaw.queue.wait_ms`` point; ``extremes`` is its (min, max) or empty."""
    metric = metrics_pb2.Metric(name="openclaw.queue.wait_ms", unit="ms")
    metric.histogram.aggregation_temporality = temporality  # type: ignore[assignment]
    point = metric.histogram.data_points.add(
        start_time_unix_nano=start,
        time_unix_nano=time,
        count=int(sum(counts)),
        sum=total,
        bucket_counts=[int(c) for c in counts],
        explicit_bounds=DEFAULT,
    )
    point.attributes.extend(key_values({"openclaw.lane": "main"}))
    if extremes:
        point.min, point.max = extremes
    return metric


def exposed_buckets(store: Store) -> dict[float, float]:
    """The family's cumulative bucket counts by ``le`` (+Inf as ``math.inf``)."""
    text = render(store, Format.TEXT)
    return {
        float(s.labels["le"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == f"{FAMILY}_bucket" and frozenset((k, v) for k, v in s.labels.items() if k != "le") == LABELS
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    intervals=st.lists(st.lists(observation, max_size=4), min_size=1, max_size=10),
    temporality=st.sampled_from([CUMULATIVE, DELTA]),
    fast=st.booleans(),
    with_extremes=st.booleans(),
)
def test_placed_observations_are_in_their_true_bucket(
    intervals: list[list[float]], temporality: int, fast: bool, with_extremes: bool
) -> None:
    """Observations of 0–900 s, one or several per export interval, exported with the default bounds (the sender's
    running sum, as the SDK keeps it; min and max or not): every official bucket above 10 s holds at most the
    observations truly in it, what is not placed is in +Inf and counted, and every bucket stays cumulative and
    monotonic."""
    store = Store(100, 100, ttl=10**9)
    translator = MetricsTranslator(store, TranslateOptions())
    seen: list[float] = []
    counts = [0.0] * (len(DEFAULT) + 1)
    running = 0.0
    previous: dict[float, float] = {}
    sure = 0  # intervals with one observation, above 10 s and at least 1 ms from every edge: always placeable
    for number, values in enumerate(intervals):
        if len(values) == 1 and values[0] > 10_000 and min(abs(values[0] - edge) for edge in EXTRA) >= 1:
            sure += 1
        if temporality == DELTA:
            if not values:
                continue  # a delta sender sends nothing for an empty interval
            counts, running = [0.0] * (len(DEFAULT) + 1), 0.0
        for value in values:
            counts[next((i for i, bound in enumerate(DEFAULT) if value <= bound), len(DEFAULT))] += 1
            running += value
        seen += values
        start = 1_000 + number * 1_000 if temporality == DELTA else 1_000
        since = values if temporality == DELTA else seen
        extremes = (min(since), max(since)) if with_extremes and since else ()
        request = metrics_request(wait_histogram(counts, running, extremes, start, 2_000 + number * 1_000, temporality))
        translator.apply(request, float(number), request.SerializeToString() if fast else None)
        buckets = exposed_buckets(store)
        if not seen:
            continue
        les = sorted(buckets)
        assert [buckets[le] for le in les] == sorted(buckets[le] for le in les)  # cumulative
        assert all(buckets[le] >= previous.get(le, 0.0) for le in les)  # monotonic
        previous = buckets
        assert buckets[math.inf] == len(seen)
        assert buckets[10.0] == sum(1 for v in seen if v <= 10_000)
        above, unplaced = buckets[math.inf] - buckets[600.0], store.unplaced[FAMILY]
        assert buckets[math.inf] - buckets[10.0] - unplaced >= sure
        assert above - unplaced <= sum(1 for v in seen if v > 600_000) <= above  # the unplaced are in +Inf
        for lower, upper in itertools.pairwise(OFFICIAL_EDGES):
            truly = sum(1 for v in seen if lower * 1000 < v <= upper * 1000)
            assert buckets[upper] - buckets[lower] <= truly, (lower, upper)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    intervals=st.lists(
        st.tuples(st.lists(observation, max_size=3), st.lists(observation, max_size=3), st.booleans()),
        min_size=1,
        max_size=12,
    ),
    temporality=st.sampled_from([CUMULATIVE, DELTA]),
    with_extremes=st.booleans(),
)
def test_placing_exports_as_they_are_taken_gives_what_the_general_path_gives(
    intervals: list[tuple[list[float], list[float], bool]], temporality: int, with_extremes: bool
) -> None:
    """Two lanes whose exports the fast path keeps until a read (``True`` in an interval: a read after it) are
    placed export by export, so that they expose what a translator that applies each export at once exposes, with
    the same count of unplaced observations."""
    fast_store, slow_store = Store(100, 100, ttl=10**9), Store(100, 100, ttl=10**9)
    fast, slow = MetricsTranslator(fast_store, TranslateOptions()), MetricsTranslator(slow_store, TranslateOptions())
    slow.known = ForgetfulTable()
    lanes = ("main", "cron:nightly")
    seen: list[list[float]] = [[], []]
    for number, (*values, read) in enumerate(intervals):
        metric = metrics_pb2.Metric(name="openclaw.queue.wait_ms", unit="ms")
        metric.histogram.aggregation_temporality = temporality  # type: ignore[assignment]
        for lane, lane_values, lane_seen in zip(lanes, values, seen, strict=True):
            lane_seen.extend(lane_values)
            since = lane_values if temporality == DELTA else lane_seen
            counts, total = interval(since)
            point = metric.histogram.data_points.add(
                start_time_unix_nano=1_000 + number * 1_000 if temporality == DELTA else 1_000,
                time_unix_nano=2_000 + number * 1_000,
                count=int(sum(counts)),
                sum=total,
                bucket_counts=[int(c) for c in counts],
                explicit_bounds=DEFAULT,
            )
            point.attributes.extend(key_values({"openclaw.lane": lane}))
            if with_extremes and since:
                point.min, point.max = min(since), max(since)
        request = metrics_request(metric)
        fast.apply(request, float(number), request.SerializeToString())
        slow.apply(request, float(number))
        if read:
            assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
            assert fast_store.unplaced == slow_store.unplaced
    assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
    assert fast_store.unplaced == slow_store.unplaced
