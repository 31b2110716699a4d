"""The wire walker reads exactly what upb reads, for any data point."""

from __future__ import annotations

import gzip
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otlp_bridge.translate import wire
from tests.conftest import CAPTURES, require_fixtures
from tests.support import captured_requests

u64 = st.integers(0, 2**64 - 1)
finite = st.floats(allow_nan=False, allow_infinity=False)
attribute = st.tuples(
    st.text(max_size=20),
    st.one_of(
        st.text(max_size=150).map(lambda v: AnyValue(string_value=v)),
        st.integers(-(2**63), 2**63 - 1).map(lambda v: AnyValue(int_value=v)),
        st.booleans().map(lambda v: AnyValue(bool_value=v)),
        st.binary(max_size=10).map(lambda v: AnyValue(bytes_value=v)),
    ),
)
attributes = st.lists(attribute, max_size=6)


def _key_values(pairs: list[tuple[str, AnyValue]]) -> list[KeyValue]:
    return [KeyValue(key=key, value=value) for key, value in pairs]


@settings(max_examples=300, deadline=None)
@given(
    start=u64,
    time=u64,
    value=st.one_of(st.none(), finite, st.integers(-(2**63), 2**63 - 1)),
    attrs=attributes,
    flags=st.integers(0, 3),
    exemplar=st.booleans(),
)
def test_number_points(
    start: int, time: int, value: float | int | None, attrs: list[tuple[str, AnyValue]], flags: int, exemplar: bool
) -> None:
    """Start, time, value and flags match upb; the key is the same for the same attributes and flags."""
    metric = metrics_pb2.Metric(name="m")
    point = metric.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=time, flags=flags)
    if isinstance(value, float):
        point.as_double = value
    elif isinstance(value, int):
        point.as_int = value
    point.attributes.extend(_key_values(attrs))
    if exemplar:
        point.exemplars.add(as_double=1.0, time_unix_nano=5)
    (encoded,) = wire.data_points(metric.SerializeToString())
    parsed = wire.number_point(encoded)
    assert (parsed.start, parsed.time, parsed.flags, parsed.exemplars) == (start, time, flags, exemplar)
    assert parsed.value == (None if value is None else float(value))
    twin = metrics_pb2.NumberDataPoint(as_double=0.5, flags=flags)
    twin.attributes.extend(_key_values(attrs))
    assert wire.number_point(twin.SerializeToString()).key == parsed.key


@settings(max_examples=300, deadline=None)
@given(
    start=u64,
    time=u64,
    counts=st.lists(u64, max_size=40),
    bounds=st.lists(finite, max_size=40),
    total=st.one_of(st.none(), finite),
    attrs=attributes,
    flags=st.integers(0, 3),
    extremes=st.one_of(st.none(), st.tuples(finite, finite)),
)
def test_histogram_points(
    start: int,
    time: int,
    counts: list[int],
    bounds: list[float],
    total: float | None,
    attrs: list[tuple[str, AnyValue]],
    flags: int,
    extremes: tuple[float, float] | None,
) -> None:
    """Every field the translator uses matches upb; min and max never change the key."""
    metric = metrics_pb2.Metric(name="h")
    point = metric.histogram.data_points.add(
        start_time_unix_nano=start,
        time_unix_nano=time,
        count=sum(counts) % 2**64,
        bucket_counts=counts,
        explicit_bounds=bounds,
        flags=flags,
    )
    if total is not None:
        point.sum = total
    if extremes is not None:
        point.min, point.max = extremes
    point.attributes.extend(_key_values(attrs))
    (encoded,) = wire.data_points(metric.SerializeToString())
    parsed = wire.histogram_point(encoded)
    assert (parsed.start, parsed.time, parsed.observations, parsed.flags) == (start, time, point.count, flags)
    assert parsed.total == total
    assert parsed.counts == tuple(counts)
    assert parsed.bounds == tuple(bounds)
    assert (parsed.low, parsed.high) == (extremes or (None, None))
    twin = metrics_pb2.HistogramDataPoint(count=1, flags=flags)
    twin.attributes.extend(_key_values(attrs))
    assert wire.histogram_point(twin.SerializeToString()).key == parsed.key


def test_points_of_every_metric_kind() -> None:
    """Gauge, sum and histogram points are all found, in order, and other fields are skipped."""
    for kind in ("gauge", "sum", "histogram"):
        metric = metrics_pb2.Metric(name="x", description="d", unit="ms")
        container = getattr(metric, kind)
        for n in range(3):
            container.data_points.add(time_unix_nano=n + 1)
        if kind != "gauge":
            container.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        read = wire.histogram_point if kind == "histogram" else wire.number_point
        assert [read(p).time for p in wire.data_points(metric.SerializeToString())] == [1, 2, 3]


def test_unknown_fields_are_skipped() -> None:
    """Fields a newer OTLP adds (here number 20, a two-byte tag) do not disturb the values or the key."""
    point = metrics_pb2.NumberDataPoint(start_time_unix_nano=1, time_unix_nano=2, as_double=3.0)
    point.attributes.add(key="k").value.string_value = "v"
    plain = point.SerializeToString()
    extended = plain + bytes([0xA2, 0x01, 0x03]) + b"abc"  # field 20, length-delimited
    assert wire.number_point(extended) == wire.number_point(plain)


nonzero = st.integers(1, 2**64 - 1)
number_row = st.tuples(nonzero, nonzero, st.one_of(finite, st.integers(-(2**63), 2**63 - 1)), attributes)
histogram_row = st.tuples(
    nonzero,
    nonzero,
    st.lists(st.one_of(st.integers(0, 300), st.integers(0, 2**32)), min_size=3, max_size=3),
    finite,
    attributes,
    st.booleans(),
)


def _layout_values(metric: metrics_pb2.Metric, histogram: bool) -> tuple[wire.Layout | None, tuple[float, ...]]:
    raw = metric.SerializeToString()
    layout = wire.metric_layout(raw, histogram)
    return layout, (layout.values.unpack(raw) if layout else ())


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(number_row, max_size=6), shift=u64, twin_value=finite)
def test_a_sum_layout_reads_what_upb_reads(
    rows: list[tuple[int, int, float | int, list[tuple[str, AnyValue]]]], shift: int, twin_value: float
) -> None:
    """``metric_layout`` unpacks start, time and value of every point as upb parses them; another export of the
    same streams (other times and values) has the same skeleton, other attributes another one."""
    metric = metrics_pb2.Metric(name="m")
    for start, time, value, attrs in rows:
        point = metric.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=time)
        if isinstance(value, float):
            point.as_double = value
        else:
            point.as_int = value
        point.attributes.extend(_key_values(attrs))
    layout, values = _layout_values(metric, histogram=False)
    if len({isinstance(value, float) for _, _, value, _ in rows}) != 1:
        assert layout is None  # no points, or as_double and as_int mixed: no fixed layout per point
        return
    assert layout is not None and layout.points == len(rows)
    as_int = [point.WhichOneof("value") == "as_int" for point in metric.sum.data_points]
    expected = [
        (p.start_time_unix_nano, p.time_unix_nano, p.as_int if i else p.as_double)
        for p, i in zip(metric.sum.data_points, as_int, strict=True)
    ]
    assert [tuple(values[n * layout.stride : (n + 1) * layout.stride]) for n in range(len(rows))] == expected
    (packing,) = layout.packings.widths  # a sum's values are kept at full width, and read back as the bytes have them
    watched = layout.watch.unpack_from(metric.SerializeToString())
    assert watched == tuple(number for row in expected for number in (row[0], row[2]))
    assert packing.watched.unpack(packing.packed.pack(*values)) == watched
    twin = metrics_pb2.Metric()
    twin.CopyFrom(metric)
    for point, integer in zip(twin.sum.data_points, as_int, strict=True):
        point.time_unix_nano = (point.time_unix_nano + shift) % 2**64 or 1
        if integer:
            point.as_int = int(twin_value) if abs(twin_value) < 2**63 else 0
        else:
            point.as_double = twin_value
    raw, twin_raw = metric.SerializeToString(), twin.SerializeToString()
    assert layout.skeleton.unpack(twin_raw) == layout.skeleton.unpack(raw)
    other = metrics_pb2.Metric()
    other.CopyFrom(metric)
    other.sum.data_points[0].attributes.add(key="extra").value.string_value = "x" * 7
    other_raw = other.SerializeToString()
    assert len(other_raw) != layout.skeleton.size or layout.skeleton.unpack(other_raw) != layout.skeleton.unpack(raw)


@pytest.mark.parametrize("uniform", [True, False], ids=["one time", "times apart"])
@pytest.mark.parametrize(
    ("top", "width"),
    [(1, 1), (255, 1), (256, 2), (65_535, 2), (65_536, 4), (2**32 - 1, 4), (2**32, 8), (2**64 - 1, 8)],
)
def test_a_histograms_counts_are_packed_as_narrow_as_its_largest_count_allows(
    top: int, width: int, uniform: bool
) -> None:
    """Two points of three buckets: start, time and sum take 8 bytes each (the time once for both points where they
    have the same), every count and bucket count ``width``; a bucket count above its point's count (the point is
    invalid, but still kept as it is) widens it as needed."""
    metric = metrics_pb2.Metric(name="h")
    for time, count in ((2, top), (2 if uniform else 3, top // 2 or 1)):
        metric.histogram.data_points.add(
            start_time_unix_nano=1, time_unix_nano=time, count=count, sum=1.5, bucket_counts=[count, 0, 0]
        ).explicit_bounds.extend([1.0, 2.0])
    layout, values = _layout_values(metric, histogram=True)
    assert layout is not None
    packed = layout.packings.pack(values)
    size = 8 + 2 * (2 * 8 + 4 * width) if uniform else 2 * (3 * 8 + 4 * width)
    padded = 8 if uniform else 1  # (a uniform packing of another packing's size is padded, a byte at a time)
    assert size <= len(packed) < size + padded and layout.packings.unpack(packed) == values
    packings = [*layout.packings.widths, *layout.packings.uniform]
    assert len(packings) == 8 and len(layout.packings.by_size) == len(packings)  # bytes tell their packing
    if width < 8:
        odd = list(values)
        odd[wire.BUCKETS + 1] = 1 << 8 * width  # above what the width holds and above the first point's count
        wider = layout.packings.pack(odd)
        assert layout.packings.unpack(wider) == tuple(odd) and len(wider) > len(packed)


UNIFORM_ROWS = [(2, True), (wire.UNIFORM_POINTS, True), (wire.UNIFORM_POINTS + 1, False)]


@pytest.mark.parametrize(("points", "uniform"), UNIFORM_ROWS)
def test_a_layout_of_many_points_keeps_every_points_time(points: int, uniform: bool) -> None:
    """Uniform packings cost each layout readers of every point: past ``UNIFORM_POINTS`` points, a state keeps the
    time of every point, as the metric's bytes have it."""
    metric = metrics_pb2.Metric(name="h")
    for number in range(points):
        metric.histogram.data_points.add(
            start_time_unix_nano=1 + number, time_unix_nano=9, count=1, sum=1.5, bucket_counts=[1, 0]
        ).explicit_bounds.extend([1.0])
    layout, values = _layout_values(metric, histogram=True)
    assert layout is not None
    packings = layout.packings
    packed = packings.pack(values)
    assert packings.unpack(packed) == values
    assert (packings.by_size[len(packed)].pick is not None) == uniform == bool(packings.uniform)
    full = packings.widths[0].packed.size  # (counts in one byte)
    smallest = full - 8 * (points - 1) if uniform else full
    assert smallest <= len(packed) < smallest + (8 if uniform else 1)  # (padded where another packing has its size)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(histogram_row, min_size=1, max_size=5), bounds=st.lists(finite, min_size=2, max_size=2))
def test_a_histogram_layout_reads_what_upb_reads(
    rows: list[tuple[int, int, list[int], float, list[tuple[str, AnyValue]], bool]], bounds: list[float]
) -> None:
    """Start, time, count, sum and buckets of every point as upb parses them; min and max are left out of both
    the values and the skeleton (they change without being used)."""
    metric = metrics_pb2.Metric(name="h")
    for start, time, counts, total, attrs, extremes in rows:
        point = metric.histogram.data_points.add(
            start_time_unix_nano=start,
            time_unix_nano=time,
            count=sum(counts) or 1,
            sum=total,
            bucket_counts=counts,
            explicit_bounds=bounds,
        )
        if extremes:
            point.min, point.max = -total, total
        point.attributes.extend(_key_values(attrs))
    layout, values = _layout_values(metric, histogram=True)
    assert layout is not None and layout.stride == wire.BUCKETS + 3
    expected = [
        (p.start_time_unix_nano, p.time_unix_nano, p.count, p.sum, *p.bucket_counts)
        for p in metric.histogram.data_points
    ]
    assert [tuple(values[n * layout.stride : (n + 1) * layout.stride]) for n in range(len(rows))] == expected
    assert layout.lanes is not None  # count and bucket counts as 8-byte little-endian lanes, point after point
    lanes = b"".join(layout.lanes.unpack(metric.SerializeToString()))
    assert list(struct.unpack(f"<{len(lanes) // 8}Q", lanes)) == [
        number for p in metric.histogram.data_points for number in (p.count, *p.bucket_counts)
    ]
    packings = layout.packings  # what a known metric keeps of an export: its values, in the narrowest packing
    packed = packings.pack(values)
    top = max(values[wire.COUNT :: layout.stride])  # (each point's count is at least each of its bucket counts)
    assert packings.unpack(packed) == values
    assert packings.by_size[len(packed)].limit == min(
        packing.limit for packing in packings.widths if packing.limit >= top
    )
    wide = packings.widths[-1].packed.pack(*values)
    assert packings.unpack(wide) == values and len(wide) == 8 * len(values)
    watched = layout.watch.unpack_from(metric.SerializeToString())
    assert watched[0::2] == values[wire.START :: layout.stride] and watched[1::2] == values[wire.COUNT :: layout.stride]
    for packing in packings.widths:  # every packing that holds them reads each point's start, count and sum
        if packing.limit >= top:
            data = packing.packed.pack(*values)
            assert packing.starts.unpack(data) == values[wire.START :: layout.stride]
            assert packing.counts.unpack(data) == values[wire.COUNT :: layout.stride]
            assert packing.sums is not None and packing.sums.unpack(data) == values[wire.SUM :: layout.stride]
            assert packing.watched is not None and packing.watched.unpack(data) == watched  # as the bytes have them
    # The same points with the first one's time: packed uniform (one time) where they are several, read back whole
    shared = list(values)
    shared[wire.TIME :: layout.stride] = [values[wire.TIME]] * len(rows)
    packed = packings.pack(shared)
    assert packings.unpack(packed) == tuple(shared)
    kept = packings.by_size[len(packed)]
    if len(rows) > 1:  # (padded up to a byte per other packing, where another has its size)
        assert kept.pick is not None and 0 <= len(packed) - (kept.full.size - 8 * (len(rows) - 1)) < 8
    for uniform in packings.uniform:
        if uniform.limit >= top:
            assert uniform.pick is not None and uniform.spread is not None
            data = uniform.packed.pack(*uniform.pick(shared))
            assert uniform.spread(uniform.packed.unpack(data)) == tuple(shared)
            assert uniform.starts.unpack(data) == values[wire.START :: layout.stride]
            assert uniform.counts.unpack(data) == values[wire.COUNT :: layout.stride]
            assert uniform.sums is not None and uniform.sums.unpack(data) == values[wire.SUM :: layout.stride]
            assert uniform.watched.unpack(data) == watched
    twin = metrics_pb2.Metric()
    twin.CopyFrom(metric)
    for point in twin.histogram.data_points:
        if point.HasField("min"):
            point.min, point.max = point.min - 1, point.max + 1
    assert layout.skeleton.unpack(twin.SerializeToString()) == layout.skeleton.unpack(metric.SerializeToString())


def _sum_with_attribute(value: str) -> bytes:
    metric = metrics_pb2.Metric(name="m")
    point = metric.sum.data_points.add(start_time_unix_nano=1, time_unix_nano=2, as_double=1.0)
    point.attributes.extend(_key_values([("lane", AnyValue(string_value=value))]))
    return metric.SerializeToString()


def test_like_metrics_share_one_layout_while_it_is_used() -> None:
    """Metrics of the same formats share one ``Layout`` however many other layouts pass meanwhile (a fleet whose
    gateways send lanes of many lengths); a layout no metric holds any more is not kept."""
    first = wire.metric_layout(_sum_with_attribute("a"), histogram=False)
    others = [wire.metric_layout(_sum_with_attribute("b" * length), histogram=False) for length in range(2, 6000)]
    assert len({id(layout) for layout in others}) == len(others)
    assert wire.metric_layout(_sum_with_attribute("z"), histogram=False) is first  # same length, same formats
    assert wire.metric_layout(_sum_with_attribute("zz"), histogram=False) is others[0]
    held = len(wire._LAYOUTS)
    del others
    assert len(wire._LAYOUTS) <= held - 5998


def test_points_without_the_plain_shape_have_no_layout() -> None:
    """Flags, exemplars, a missing value or start, and histograms of different bucket counts: no layout."""
    plain = metrics_pb2.Metric(name="m")
    plain.sum.data_points.add(start_time_unix_nano=1, time_unix_nano=2, as_double=1.0)
    assert wire.metric_layout(plain.SerializeToString(), histogram=False) is not None
    variants = []
    for change in ("flags", "exemplar", "no value", "no start"):
        metric = metrics_pb2.Metric()
        metric.CopyFrom(plain)
        point = metric.sum.data_points[0]
        if change == "flags":
            point.flags = 1
        elif change == "exemplar":
            point.exemplars.add(as_double=1.0)
        elif change == "no value":
            point.ClearField("as_double")
        else:
            point.start_time_unix_nano = 0
        variants.append(metric.SerializeToString())
    assert [wire.metric_layout(raw, histogram=False) for raw in variants] == [None] * 4
    ragged = metrics_pb2.Metric(name="h")
    for counts in ([1, 0], [1, 0, 0]):
        ragged.histogram.data_points.add(
            start_time_unix_nano=1, time_unix_nano=2, count=1, sum=1.0, bucket_counts=counts
        )
    assert wire.metric_layout(ragged.SerializeToString(), histogram=True) is None


def test_metric_slices_of_captured_bodies_are_what_upb_serialises() -> None:
    """OpenClaw's exporter encodes each metric exactly as upb re-serialises it, so the fast path can compare the
    bytes it received; a body with unknown fields around the metrics still yields them in upb's order."""
    require_fixtures()
    checked = 0
    for folder in sorted(path for path in CAPTURES.iterdir() if path.is_dir()):
        for captured in captured_requests(folder, "metrics"):
            body = captured.body
            if body[:2] == b"\x1f\x8b":
                body = gzip.decompress(body)
            request = ExportMetricsServiceRequest.FromString(body)
            expected = [
                metric.SerializeToString()
                for resource in request.resource_metrics
                for scope in resource.scope_metrics
                for metric in scope.metrics
            ]
            assert wire.metric_slices(body) == expected
            checked += 1
    assert checked > 100
    metric = metrics_pb2.Metric(name="m")
    metric.sum.data_points.add(start_time_unix_nano=1, time_unix_nano=2, as_double=1.0)
    request = ExportMetricsServiceRequest()
    request.resource_metrics.add().scope_metrics.add().metrics.extend([metric, metric])
    padded = b"\x78\x05" + request.SerializeToString() + b"\x7a\x01x"  # unknown fields 15 (varint) and 15 (bytes)
    assert wire.metric_slices(padded) == [metric.SerializeToString()] * 2
    assert wire.metric_slices(b"\x0a\x05\x12") is None  # truncated
