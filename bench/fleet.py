"""The fleet workload: the last export of a real OpenClaw gateway (capture ``03a-main-part1-cumulative``: 62 points
in 23 metrics, 19 KB), cloned into many distinct gateways.

Every gateway sends the captured export with its own resource (``host.name`` ``gw-000000``…, its own ``host.id`` and
``process.pid``) and the captured points, attributes and start times unchanged: without ``--source-label`` all
gateways feed the same series, as a fleet of like gateways does. Each export after the first, a ``change_fraction``
of a gateway's points (chosen at random; 1.0: every point) grew since its previous export: a counter by a step, a
histogram by one observation in one of its occupied buckets (count, sum and the bucket); the rest are resent
unchanged except the export time.

Every numeric field of an OTLP Sum or Histogram point is fixed-width on the wire (``fixed64``/``double``, packed
``fixed64`` buckets), and the resource values have fixed widths here, so every gateway's body has the same layout:
it is found once (with marker values at each field's offset) and kept as one ``struct`` format, the constant bytes
between the fields as ``s`` arguments and every field a point can grow (and every export time) as a ``Q`` or ``d``
argument. A gateway keeps its own argument list (its resource bytes, its values), grows the values in it, and a body
is one ``pack`` of it: about 9 µs at 10 % changed, 19 µs when every point changes, so that the load client spends its
core on the requests. ``per_request`` > 1 sends several gateways in one request (their ``ResourceMetrics``
concatenated, which protobuf reads as one message with every resource). The same ``FleetSpec`` always produces the
same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from bench.workload import BASE_CAPTURE, BASE_TIME_NS, CAPTURES, TIME_MARK, _capture_bodies, _stamp

FLEET_KIND = "fleet"
_MARK = 0x7A5E_0000_0000_0000  # a normal double, unlike any value of the capture; | point << 16 | field
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """What to generate: ``gateways`` clones of the captured gateway (those from ``first`` on), ``per_request`` of
    them in each request. Two processes with equal specs generate equal bytes."""

    gateways: int = 2000
    change_fraction: float = 0.10
    per_request: int = 1
    first: int = 0
    interval_seconds: float = 1.0
    seed: int = 20260429
    own_lanes: bool = False  # each gateway's session lanes named its own (``_lane``), as real gateways' sessions are

    def to_json(self) -> str:
        return json.dumps({"kind": FLEET_KIND, **dataclasses.asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FleetSpec:
        data = json.loads(text)
        data.pop("kind", None)
        return cls(**data)

    def with_(self, **changes: Any) -> FleetSpec:
        return dataclasses.replace(self, **changes)


def is_fleet_spec(text: str) -> bool:
    return bool(json.loads(text).get("kind") == FLEET_KIND)


@dataclass(frozen=True, slots=True)
class _Point:
    """Where a point's fields are (offsets in the body, then indexes in the layout's arguments), and how it grows."""

    histogram: bool
    value: int  # as_double (sum) or sum (histogram)
    count: int = 0  # count (histogram)
    buckets: tuple[int, ...] = ()  # the occupied buckets
    observations: tuple[float, ...] = ()  # a value inside each of those buckets, within the point's min/max
    step: float = 1.0  # counter step


@dataclass(frozen=True, slots=True)
class FleetTemplate:
    """Gateway 0's first export as one ``struct`` layout: the bytes between the patched fields are ``s`` arguments,
    every field a point can grow (and every export time) a ``Q`` or ``d`` argument, so a body is one ``pack``."""

    body: bytes
    layout: struct.Struct
    args: tuple[bytes | int | float, ...]  # the layout's arguments for ``body``
    resource_segments: tuple[tuple[int, int, int], ...]  # (argument index, start, end) of the bytes that hold the
    # resource values (each gateway its own), the other constant bytes are every gateway's
    times: tuple[int, ...]  # argument indexes of the points' time_unix_nano
    points: tuple[_Point, ...]  # with argument indexes
    resource_offsets: tuple[int, int, int]  # offsets of host.name, host.id and process.pid values
    lane_offsets: tuple[int, ...]  # offsets of the name part of every session lane (``SESSION_LANE``)
    metrics: int


def _mark(point: int, field: int) -> int:
    return _MARK | point << 16 | field


def _host_name(index: int) -> bytes:
    return b"gw-%06d" % index


def _host_id(index: int) -> bytes:
    return b"%032x" % index


def _pid(index: int) -> int:
    return 0x4000 + index  # 3 varint bytes from 16384 up to 2,097,151 (the varint is patched in place)


SESSION_LANE = b"session:agent:main:capture"  # the capture's session lanes: capture-a, capture-tools...


def _lane(index: int) -> bytes:
    """What replaces ``capture`` in the session lanes of gateway ``index`` (``own_lanes``): lanes of the same length,
    and so the same layout, with names of its own."""
    return b"g%06d" % index


def _varint3(value: int) -> bytes:
    return bytes((value & 0x7F | 0x80, value >> 7 & 0x7F | 0x80, value >> 14 & 0x7F))


@cache
def fleet_template() -> FleetTemplate:
    """The capture's last metrics export, with marker values to find the offset of every field the fleet patches."""
    bodies = _capture_bodies(CAPTURES / BASE_CAPTURE)
    request = ExportMetricsServiceRequest.FromString(bodies[-1])
    (resource_metrics,) = request.resource_metrics
    real: list[tuple[bool, Any]] = []  # (histogram, a copy of the captured point)
    for scope_metrics in resource_metrics.scope_metrics:
        for metric in scope_metrics.metrics:
            kind = metric.WhichOneof("data")
            if kind not in ("sum", "histogram"):
                continue
            for point in getattr(metric, kind).data_points:
                copy = type(point)()
                copy.CopyFrom(point)
                real.append((kind == "histogram", copy))
                point.time_unix_nano = TIME_MARK
                if kind == "histogram":
                    point.count = _mark(len(real), 0)
                    point.sum = _F64.unpack(_U64.pack(_mark(len(real), 1)))[0]
                    for index in range(len(point.bucket_counts)):
                        point.bucket_counts[index] = _mark(len(real), 2 + index)
                else:
                    point.as_double = _F64.unpack(_U64.pack(_mark(len(real), 1)))[0]
    for attribute in resource_metrics.resource.attributes:
        if attribute.key == "host.name":
            attribute.value.string_value = _host_name(0).decode()
        elif attribute.key == "host.id":
            attribute.value.string_value = _host_id(0).decode()
        elif attribute.key == "process.pid":
            attribute.value.int_value = _pid(0)
    marked = bytearray(request.SerializeToString())

    def find(mark: bytes) -> int:
        offset = marked.find(mark)
        if offset < 0 or marked.find(mark, offset + 1) >= 0:
            msg = f"marker {mark!r} not found exactly once in the template body"
            raise AssertionError(msg)
        return offset

    points = []
    rng = random.Random(0)
    for number, (histogram, point) in enumerate(real, start=1):
        if not histogram:
            offset = find(_U64.pack(_mark(number, 1)))
            _F64.pack_into(marked, offset, point.as_double)
            step = max(1.0, round(point.as_double * rng.uniform(0.02, 0.2)))
            points.append(_Point(False, offset, step=step))
            continue
        value, count = find(_U64.pack(_mark(number, 1))), find(_U64.pack(_mark(number, 0)))
        _F64.pack_into(marked, value, point.sum)
        _U64.pack_into(marked, count, point.count)
        buckets, observations, offsets = [], [], []
        bounds = list(point.explicit_bounds)
        low = point.min if point.HasField("min") else -math.inf
        high = point.max if point.HasField("max") else math.inf
        for index, bucket in enumerate(point.bucket_counts):
            offset = find(_U64.pack(_mark(number, 2 + index)))
            _U64.pack_into(marked, offset, bucket)
            offsets.append(offset)
            if bucket:
                lower = bounds[index - 1] if index else low
                upper = bounds[index] if index < len(bounds) else high
                middle = (lower + upper) / 2 if math.isfinite(lower + upper) else min(max(lower, 0.0), upper)
                buckets.append(offset)
                observations.append(min(max(middle, low), high))
        if not buckets:  # an empty histogram: observations go to its first bucket
            buckets, observations = offsets[:1], [min(max(0.0, low), high)]
        points.append(_Point(True, value, count, tuple(buckets), tuple(observations)))
    name = bytes(marked).find(_host_name(0))
    host_id = bytes(marked).find(_host_id(0))
    pid = bytes(marked).find(b"\x18" + _varint3(_pid(0))) + 1  # AnyValue.int_value is field 3, varint
    metrics = sum(len(sm.metrics) for sm in resource_metrics.scope_metrics)
    body = bytes(marked)
    lanes, offset = [], body.find(SESSION_LANE)
    while offset >= 0:
        lanes.append(offset + len(SESSION_LANE) - len(_lane(0)))
        offset = body.find(SESSION_LANE, offset + 1)
    return _layout(body, points, (name, host_id, pid), tuple(lanes), metrics)


def _layout(
    body: bytes, points: list[_Point], resource: tuple[int, int, int], lanes: tuple[int, ...], metrics: int
) -> FleetTemplate:
    """The template as one ``struct`` layout over every field a point grows and every export time."""
    doubles = {point.value for point in points}
    fields = doubles | {point.count for point in points if point.histogram}
    fields |= {bucket for point in points for bucket in point.buckets}
    mark, times = _stamp(TIME_MARK), set()
    offset = body.find(mark)
    while offset >= 0:
        times.add(offset)
        offset = body.find(mark, offset + 1)
    fields |= times
    codes = ["<"]
    args: list[bytes | int | float] = []
    segments: list[tuple[int, int, int]] = []
    index: dict[int, int] = {}  # a field's offset: its argument's index
    position = 0
    for offset in sorted(fields):
        segments.append((len(args), position, offset))
        codes.append(f"{offset - position}s")
        args.append(body[position:offset])
        index[offset] = len(args)
        code = _F64 if offset in doubles else _U64
        codes.append("d" if offset in doubles else "Q")
        args.append(code.unpack_from(body, offset)[0])
        position = offset + 8
    segments.append((len(args), position, len(body)))
    codes.append(f"{len(body) - position}s")
    args.append(body[position:])
    layout = struct.Struct("".join(codes))
    if layout.pack(*args) != body:
        msg = "the fleet template's layout does not reproduce its body"
        raise AssertionError(msg)
    indexed = tuple(
        dataclasses.replace(
            point,
            value=index[point.value],
            count=index[point.count] if point.histogram else 0,
            buckets=tuple(index[bucket] for bucket in point.buckets),
        )
        for point in points
    )
    timed = tuple(index[offset] for offset in sorted(times))
    own = tuple(
        segment for segment in segments if any(segment[1] <= offset < segment[2] for offset in (*resource, *lanes))
    )
    return FleetTemplate(body, layout, tuple(args), own, timed, indexed, resource, lanes, metrics)


class FleetGateway:
    """One cloned gateway: its layout's arguments (values in place), grown before each export after the first."""

    def __init__(self, index: int, spec: FleetSpec, template: FleetTemplate) -> None:
        self.index = index
        self.template = template
        self.rng = random.Random(spec.seed * 1_000_003 + index)
        self.interval = 0
        self.interval_ns = round(spec.interval_seconds * 1e9)
        self.points = len(template.points)
        self.changed = max(1, round(self.points * spec.change_fraction))
        body = bytearray(template.body)
        name, host_id, pid = template.resource_offsets
        body[name : name + 9] = _host_name(index)
        body[host_id : host_id + 32] = _host_id(index)
        body[pid : pid + 3] = _varint3(_pid(index))
        if spec.own_lanes:
            for lane in template.lane_offsets:
                body[lane : lane + len(_lane(index))] = _lane(index)
        self.args: list[Any] = list(template.args)  # bytes between the fields, then each field's value
        for arg, start, end in template.resource_segments:
            self.args[arg] = bytes(body[start:end])

    def _grow(self, point: _Point) -> None:
        args = self.args
        if not point.histogram:
            args[point.value] += point.step
            return
        which = int(self.rng.random() * len(point.buckets))
        args[point.buckets[which]] += 1
        args[point.count] += 1
        args[point.value] += point.observations[which]

    def next_body(self) -> bytes:
        """This gateway's next export (interval 0 is the captured export itself)."""
        interval = self.interval
        self.interval += 1
        template = self.template
        if interval:
            points = template.points
            every = self.changed >= len(points)
            for index in range(len(points)) if every else self.rng.sample(range(len(points)), self.changed):
                self._grow(points[index])
        args = self.args
        stamp = BASE_TIME_NS + interval * self.interval_ns
        for index in template.times:
            args[index] = stamp
        return template.layout.pack(*args)

    def skip(self, intervals: int) -> None:
        for _ in range(intervals):
            self.next_body()

    def counter_total(self) -> float:
        """The sum of this gateway's counter points as last sent (what its share of the counters must add up to)."""
        return math.fsum(float(self.args[p.value]) for p in self.template.points if not p.histogram)


class Sender:
    """The gateways one request carries (``per_request`` of them), each sent in order."""

    def __init__(self, gateways: Sequence[FleetGateway]) -> None:
        self.members = tuple(gateways)
        self.points = sum(gateway.points for gateway in self.members)

    def next_body(self) -> bytes:
        return b"".join(gateway.next_body() for gateway in self.members)

    def skip(self, intervals: int) -> None:
        for gateway in self.members:
            gateway.skip(intervals)

    def counter_total(self) -> float:
        return math.fsum(gateway.counter_total() for gateway in self.members)


class Fleet:
    """``spec.gateways`` cloned gateways (from ``spec.first`` on), grouped ``spec.per_request`` to a request."""

    def __init__(self, spec: FleetSpec) -> None:
        self.spec = spec
        self.template = fleet_template()
        members = [FleetGateway(index, spec, self.template) for index in range(spec.first, spec.gateways)]
        size = max(1, spec.per_request)
        self.gateways = [Sender(members[start : start + size]) for start in range(0, len(members), size)]

    def describe(self) -> dict[str, Any]:
        return {
            "source": f"{BASE_CAPTURE} (last export), cloned",
            "spec": dataclasses.asdict(self.spec),
            "points_per_gateway": len(self.template.points),
            "metrics_per_gateway": self.template.metrics,
            "body_bytes_per_gateway": len(self.template.body),
        }
