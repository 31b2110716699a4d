"""Reading OTLP data points straight from their protobuf bytes.

Accessing fields of a parsed (upb) message costs about 0.2 µs each from Python; a data point has a dozen. The
translator instead walks the canonical bytes upb re-serialises for each metric (fields in number order, packed
repeated scalars), so a known stream is found by its raw attribute bytes and its values are read with
``struct``. Only new streams look at the parsed attributes.

Input is upb's own serialisation of a message it parsed, or a client's bytes that upb accepted (``metric_spans``,
``metric_slices``, read through layouts checked against the same sender's previous bytes), so it is well-formed; the
one exception, ``first_metric_start``, reads a request before it is decoded and has its own bounded reader.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import operator
import re
import struct
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

_UINT64 = struct.Struct("<Q")
_DOUBLE = struct.Struct("<d")
_INT64 = struct.Struct("<q")

# Metric: gauge = 5, sum = 7, histogram = 9 (each a message whose field 1 is the repeated data point).
DATA_FIELDS = {5: "gauge", 7: "sum", 9: "histogram"}


class NumberPoint(NamedTuple):
    start: int
    time: int
    value: float | None  # None when neither as_double nor as_int is set
    key: bytes  # the attributes' bytes: the stream identity within a metric
    flags: int
    exemplars: bool


class HistogramPoint(NamedTuple):
    start: int
    time: int
    observations: float  # (an integer: every number of the point is a float to the type checker)
    total: float | None
    counts: tuple[float, ...]
    bounds: tuple[float, ...]
    key: bytes
    flags: int
    low: float | None = None  # min and max, when sent
    high: float | None = None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


class WireError(ValueError):
    """Bytes the walker does not understand (e.g. a deprecated group-encoded unknown field)."""


def _skip(data: bytes, pos: int, wire_type: int) -> int:
    if wire_type == 0:
        return _varint(data, pos)[1]
    if wire_type == 1:
        return pos + 8
    if wire_type == 2:
        length, pos = _varint(data, pos)
        return pos + length
    if wire_type == 5:
        return pos + 4
    if wire_type == 3:  # a group: skip fields up to its end tag
        while True:
            tag, pos = _varint(data, pos)
            if tag & 7 == 4:
                return pos
            pos = _skip(data, pos, tag & 7)
    msg = f"unexpected wire type {wire_type}"
    raise WireError(msg)


def _skip_field(data: bytes, pos: int, first_tag_byte: int) -> int:
    """Skip a field whose tag's first byte was just read (fields above 15 have multi-byte tags)."""
    if first_tag_byte < 0x80:
        return _skip(data, pos, first_tag_byte & 7)
    tag, pos = _varint(data, pos - 1)
    return _skip(data, pos, tag & 7)


def point_spans(metric_bytes: bytes) -> Iterator[tuple[int, int]]:
    """Where each data point of a serialised ``Metric`` (gauge, sum or histogram) lies: ``(start, end)``."""
    data = metric_bytes
    pos, end = 0, len(data)
    while pos < end:
        tag, pos = _varint(data, pos)
        field, wire_type = tag >> 3, tag & 7
        if field not in DATA_FIELDS or wire_type != 2:
            pos = _skip(data, pos, wire_type)
            continue
        length, pos = _varint(data, pos)
        inner_end = pos + length
        while pos < inner_end:
            inner_tag = data[pos]
            if inner_tag != 0x0A:  # not a data point (temporality, monotonic flag)
                pos = _skip_field(data, pos + 1, inner_tag)
                continue
            point_length = data[pos + 1]
            if point_length < 0x80:
                pos += 2
            else:
                point_length, pos = _varint(data, pos + 1)
            yield pos, pos + point_length
            pos += point_length


def _messages(data: bytes, pos: int, end: int, wanted: int) -> Iterator[tuple[int, int]]:
    """Where each length-delimited field number ``wanted`` between ``pos`` and ``end`` lies."""
    while pos < end:
        tag, pos = _varint(data, pos)
        if tag & 7 != 2:
            pos = _skip(data, pos, tag & 7)
            continue
        length, pos = _varint(data, pos)
        if tag >> 3 == wanted:
            yield pos, pos + length
        pos += length


def metric_slices(request_bytes: bytes) -> list[bytes] | None:
    """The bytes of every ``Metric`` of a serialised ``ExportMetricsServiceRequest`` as the sender encoded them, in
    the order upb parses them (resource_metrics 1 → scope_metrics 2 → metrics 2); None if they cannot be read.

    Only the fast path reads these, and only through a layout checked against the same sender's previous bytes;
    the general path walks upb's own serialisation."""
    spans = metric_spans(request_bytes)
    return None if spans is None else [request_bytes[start:end] for start, end in spans]


def metric_spans(request_bytes: bytes) -> list[tuple[int, int]] | None:
    """Where the bytes of every ``Metric`` of a serialised request lie (see ``metric_slices``)."""
    spans: list[tuple[int, int]] = []
    end = len(request_bytes)
    try:
        for resource_start, resource_end in _messages(request_bytes, 0, end, 1):
            for scope_start, scope_end in _messages(request_bytes, resource_start, resource_end, 2):
                spans += _messages(request_bytes, scope_start, scope_end, 2)
    except (WireError, IndexError):
        return None
    if spans and spans[-1][1] > end:
        return None  # a length past the end
    return spans


# How far into a body ``first_metric_start`` looks: the resource and scope before a gateway's first metric are a
# kilobyte or two; a body with more before it (or none) simply takes the decoding path.
FIRST_METRIC_WITHIN = 1 << 14
_VARINT_BYTES = 10  # the longest varint protobuf has


def first_metric_start(request_bytes: bytes) -> int | None:
    """Where the first ``Metric`` of a serialised request starts (the resource and scope before it), found within
    its first ``FIRST_METRIC_WITHIN`` bytes; None otherwise, or when those bytes are not well-formed protobuf.

    Unlike the rest of this module it reads bytes no parser has accepted yet (a request before it is decoded): it
    reads nothing past the bound, varints of at most ten bytes and no groups, so that hostile bytes cost at most one
    step per byte of the bound."""
    data = memoryview(request_bytes)[:FIRST_METRIC_WITHIN]
    end = len(data)
    try:
        for resource_start, resource_end in _fields(data, 0, end, 1):
            for scope_start, scope_end in _fields(data, resource_start, min(resource_end, end), 2):
                for start, _ in _fields(data, scope_start, min(scope_end, end), 2):
                    return start
    except (WireError, IndexError):
        return None
    return None


def _fields(data: memoryview, pos: int, end: int, wanted: int) -> Iterator[tuple[int, int]]:
    """``_messages`` for bytes no parser has accepted: each length-delimited field ``wanted`` between ``pos`` and
    ``end``; WireError for a group, an unknown wire type or an over-long varint."""
    while pos < end:
        tag, pos = _short_varint(data, pos)
        wire_type = tag & 7
        if wire_type == 2:
            length, pos = _short_varint(data, pos)
            if tag >> 3 == wanted:
                yield pos, pos + length
            pos += length
        elif wire_type == 0:
            pos = _short_varint(data, pos)[1]
        elif wire_type in (1, 5):
            pos += 8 if wire_type == 1 else 4
        else:
            msg = f"wire type {wire_type} where a message was expected"
            raise WireError(msg)


def _short_varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = 0
    for shift in range(0, 7 * _VARINT_BYTES, 7):
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
    msg = "a varint longer than ten bytes"
    raise WireError(msg)


def data_points(metric_bytes: bytes) -> Iterator[bytes]:
    """The serialised data points of a serialised ``Metric`` (gauge, sum or histogram)."""
    for start, end in point_spans(metric_bytes):
        yield metric_bytes[start:end]


_NUMBER_HEAD = struct.Struct("<xQxQxd")  # start (0x11), time (0x19), as_double (0x21): OpenClaw's points
_HISTOGRAM_HEAD = struct.Struct("<xQxQxQxd")  # start, time, count (0x21), sum (0x29)


def _attributes_end(data: bytes, pos: int, end: int, tag: int) -> int:
    """Skip the consecutive entries of a repeated length-delimited field starting at ``pos``."""
    while pos < end and data[pos] == tag:
        length = data[pos + 1]
        if length < 0x80:
            pos += 2 + length
        else:
            length, pos = _varint(data, pos + 1)
            pos += length
    return pos


def number_point(data: bytes) -> NumberPoint:
    """A ``NumberDataPoint``: start (2), time (3), as_double (4), exemplars (5), as_int (6), attributes (7),
    flags (8)."""
    end = len(data)
    if end >= 27 and data[0] == 0x11 and data[9] == 0x19 and data[18] == 0x21:
        start, time, value = _NUMBER_HEAD.unpack_from(data)
        pos = 27
        if pos == end or data[pos] == 0x3A:
            stop = _attributes_end(data, pos, end, 0x3A)
            if stop == end:
                return NumberPoint(start, time, value, data[pos:], 0, False)
    return _number_point_any(data)


def _number_point_any(data: bytes) -> NumberPoint:
    start = time = flags = 0
    value: float | None = None
    exemplars = False
    key_parts: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        if tag == 0x11:
            start = _UINT64.unpack_from(data, pos)[0]
            pos += 8
        elif tag == 0x19:
            time = _UINT64.unpack_from(data, pos)[0]
            pos += 8
        elif tag == 0x21:
            value = _DOUBLE.unpack_from(data, pos)[0]
            pos += 8
        elif tag == 0x31:
            value = float(_INT64.unpack_from(data, pos)[0])
            pos += 8
        elif tag == 0x3A:
            stop = _attributes_end(data, pos - 1, end, 0x3A)
            key_parts.append(data[pos - 1 : stop])
            pos = stop
        elif tag == 0x2A:
            exemplars = True
            length, pos = _varint(data, pos)
            pos += length
        elif tag == 0x40:
            flags, pos = _varint(data, pos)
        else:
            pos = _skip_field(data, pos, tag)
    return NumberPoint(start, time, value, b"".join(key_parts), flags, exemplars)


def histogram_point(data: bytes) -> HistogramPoint:
    """A ``HistogramDataPoint``: start (2), time (3), count (4), sum (5), bucket_counts (6), explicit_bounds (7),
    exemplars (8), attributes (9), flags (10), min (11), max (12)."""
    end = len(data)
    if end >= 36 and data[0] == 0x11 and data[9] == 0x19 and data[18] == 0x21 and data[27] == 0x29:
        start, time, count, total = _HISTOGRAM_HEAD.unpack_from(data)
        pos = 36
        counts: tuple[int, ...] = ()
        bounds: tuple[float, ...] = ()
        if pos < end and data[pos] == 0x32:
            length, pos = _varint(data, pos + 1)
            counts = struct.unpack_from(f"<{length >> 3}Q", data, pos)
            pos += length
        if pos < end and data[pos] == 0x3A:
            length, pos = _varint(data, pos + 1)
            bounds = struct.unpack_from(f"<{length >> 3}d", data, pos)
            pos += length
        if pos == end or data[pos] == 0x4A:
            stop = _attributes_end(data, pos, end, 0x4A)
            tail = stop
            # What may follow the attributes: min (0x59) and max (0x61), never part of the stream identity.
            low = high = None
            if tail + 9 <= end and data[tail] == 0x59:
                low = _DOUBLE.unpack_from(data, tail + 1)[0]
                tail += 9
            if tail + 9 <= end and data[tail] == 0x61:
                high = _DOUBLE.unpack_from(data, tail + 1)[0]
                tail += 9
            if tail == end:
                return HistogramPoint(start, time, count, total, counts, bounds, data[pos:stop], 0, low, high)
    return _histogram_point_any(data)


def _histogram_point_any(data: bytes) -> HistogramPoint:
    start = time = count = flags = 0
    total: float | None = None
    low: float | None = None
    high: float | None = None
    counts: tuple[int, ...] = ()
    bounds: tuple[float, ...] = ()
    key_parts: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        tag = data[pos]
        pos += 1
        if tag == 0x11:
            start = _UINT64.unpack_from(data, pos)[0]
            pos += 8
        elif tag == 0x19:
            time = _UINT64.unpack_from(data, pos)[0]
            pos += 8
        elif tag == 0x21:
            count = _UINT64.unpack_from(data, pos)[0]
            pos += 8
        elif tag == 0x29:
            total = _DOUBLE.unpack_from(data, pos)[0]
            pos += 8
        elif tag == 0x32:
            length, pos = _varint(data, pos)
            counts = struct.unpack_from(f"<{length // 8}Q", data, pos)
            pos += length
        elif tag == 0x3A:
            length, pos = _varint(data, pos)
            bounds = struct.unpack_from(f"<{length // 8}d", data, pos)
            pos += length
        elif tag == 0x4A:
            stop = _attributes_end(data, pos - 1, end, 0x4A)
            key_parts.append(data[pos - 1 : stop])
            pos = stop
        elif tag == 0x50:
            flags, pos = _varint(data, pos)
        elif tag == 0x59:
            low = _DOUBLE.unpack_from(data, pos)[0]
            pos += 8
        elif tag == 0x61:
            high = _DOUBLE.unpack_from(data, pos)[0]
            pos += 8
        else:  # exemplars and anything newer
            pos = _skip_field(data, pos, tag)
    return HistogramPoint(start, time, count, total, counts, bounds, b"".join(key_parts), flags, low, high)


@dataclasses.dataclass(frozen=True, slots=True, weakref_slot=True)
class Layout:
    """Where the values of a serialised metric lie, so that the next export of the same streams is read with two
    ``struct`` calls instead of a walk.

    ``values`` unpacks, per point, ``start`` and ``time``, then the value (sums: ``as_double`` or ``as_int``) or
    ``count``, ``sum`` and every bucket count (histograms): ``stride`` items per point (columns below).
    ``skeleton`` unpacks every other byte (names, attributes, bounds, tags and lengths); two exports with equal
    skeletons hold the same streams in the same places. ``min``/``max`` are read by neither: they change without
    being used.
    """

    values: struct.Struct
    skeleton: struct.Struct
    stride: int
    points: int
    # Every point's start and count (a sum's value), in that order: compared with what a known metric last took
    watch: struct.Struct
    # The format of ``values`` packed side by side, 8 bytes each (``packings``: what a ``KnownMetric`` keeps of an
    # export, not its bytes). It depends on the points' kinds and number only, so few metrics have one of their own;
    # compiled on use, as a first export (all that many senders ever send) needs none.
    packed_format: str
    lanes: struct.Struct | None = None  # histograms: the raw bytes of every count and bucket count (see LANE_BYTES)
    extremes: tuple[int, ...] = ()  # histograms: the offsets of every point's min and max (-1: not sent)

    def identity(self) -> tuple[object, ...]:
        """Its formats and shape, in ``_layout``'s order."""
        return (
            self.values.format,
            self.skeleton.format,
            self.watch.format,
            self.packed_format,
            self.lanes.format if self.lanes is not None else None,
            self.stride,
            self.points,
            self.extremes,
        )

    @property
    def packings(self) -> Packings:
        """How a known metric packs values of this layout (``KnownMetric.settled`` and ``latest``)."""
        return _packings(self.packed_format, self.stride, self.lanes is not None)


@functools.lru_cache(maxsize=1024)
def _packed_struct(fmt: str) -> struct.Struct:
    """A compiled packed format (few distinct: see ``Layout.packed_format``)."""
    return struct.Struct(fmt)


class Packing(NamedTuple):
    """Values of a layout packed side by side, a histogram's counts and bucket counts as unsigned integers of one
    width (at most ``limit``), every other value in 8 bytes; with what reads the start, the count (a sum's value)
    and a histogram's sum of every point from such bytes, and its start and count together (as ``Layout.watch`` reads
    them from a metric's bytes).

    A uniform packing holds one end time for all the points, where they all have the same (every point of an export
    has its time, and a settled state keeps it for the points that did not move too): ``pick`` picks what it packs
    out of a layout's values and ``spread`` gives every point its time back. ``full`` is the packing of the same width
    that holds every point's time (itself, where it does)."""

    packed: struct.Struct
    starts: struct.Struct
    counts: struct.Struct
    sums: struct.Struct | None  # (histograms only)
    watched: struct.Struct
    limit: int
    full: struct.Struct
    pick: Callable[[Sequence[float]], tuple[float, ...]] | None = None
    spread: Callable[[Sequence[float]], tuple[float, ...]] | None = None


class Packings:
    """The packings of a layout's values, narrowest first (a histogram's counts in 1, 2, 4 or 8 bytes; a sum's values
    always in 8), each also uniform where the layout has 2 to ``UNIFORM_POINTS`` points: the state of a gateway's known
    metrics takes about half the bytes while its counts stay small. Bytes tell their packing by their size (a uniform
    packing is padded where another has its size). ``lanes`` (histograms) reads the raw bytes of every count and
    bucket count (``LANE_BYTES`` each) of values packed at full width (``wide``)."""

    __slots__ = ("by_size", "lanes", "points", "stride", "uniform", "wide", "widths")

    def __init__(
        self,
        widths: tuple[Packing, ...],
        uniform: tuple[Packing, ...],
        stride: int,
        points: int,
        lanes: struct.Struct | None,
    ) -> None:
        self.widths = widths
        self.wide = widths[-1].packed
        self.uniform = uniform  # per width (none: one point, or more than ``UNIFORM_POINTS``)
        self.by_size = {packing.packed.size: packing for packing in (*widths, *uniform)}
        self.stride = stride
        self.points = points
        self.lanes = lanes

    def pack(self, values: Sequence[float]) -> bytes:
        """``values`` in the narrowest packing that holds them, uniform where their points have one end time.
        Raises ``struct.error`` when none does."""
        uniform = self.uniform and values[TIME :: self.stride].count(values[TIME]) == self.points
        choices = self.uniform if uniform else self.widths  # (uniform packings pick what they pack)
        if len(choices) > 1:
            top = max(values[COUNT :: self.stride])  # (a valid point's bucket counts are at most its count)
            for packing in choices[:-1]:
                if top <= packing.limit:
                    try:
                        return packing.packed.pack(*(values if packing.pick is None else packing.pick(values)))
                    except struct.error:  # a bucket count above its point's count: a wider one
                        continue
        packing = choices[-1]
        return packing.packed.pack(*(values if packing.pick is None else packing.pick(values)))

    def unpack(self, packed: bytes) -> tuple[float, ...]:
        """Every value of the layout, each point's start and time too."""
        packing = self.by_size[len(packed)]
        values = packing.packed.unpack(packed)
        return values if packing.spread is None else packing.spread(values)


_NARROW = (("B", 0xFF), ("H", 0xFFFF), ("I", 0xFFFF_FFFF))
# The most points a layout has uniform packings for: they save 8 bytes a point of every known metric, and cost each
# layout readers and pickers of every point (about 3.5 KB a point, shared by every sender of that layout)
UNIFORM_POINTS = 16


@functools.lru_cache(maxsize=1024)
def _packings(packed_format: str, stride: int, histogram: bool) -> Packings:
    codes = [code for count, code in re.findall(r"(\d*)(\D)", packed_format[1:]) for _ in range(int(count or 1))]
    point = codes[:stride]  # (every point has the same)
    points = len(codes) // stride
    widths = [(code, limit) for code, limit in _NARROW if histogram] + [("Q", (1 << 64) - 1)]
    packings, kinds_of = [], []
    for narrow, limit in widths:
        kinds = [
            narrow if histogram and column in (COUNT, *range(BUCKETS, stride)) else code
            for column, code in enumerate(point)
        ]
        packed = _packed_struct("<" + "".join(_runs(kinds * points)))
        starts, counts, watched = (_columns(kinds, columns, points) for columns in ((START,), (COUNT,), (START, COUNT)))
        sums = _columns(kinds, (SUM,), points) if histogram else None
        packings.append(Packing(packed, starts, counts, sums, watched, limit, packed))
        kinds_of.append(kinds)
    uniform: list[Packing] = []
    sizes = {packing.packed.size for packing in packings}
    for kinds, packing in zip(kinds_of, packings, strict=True):
        if not 1 < points <= UNIFORM_POINTS:
            break
        size = _uniform_size(kinds, points)
        pad = 0
        while size + pad in sizes:
            pad += 1
        sizes.add(size + pad)
        uniform.append(_uniform(kinds, points, histogram, packing, pad))
    lanes = None
    if histogram:  # at full width: the count, the sum, the bucket counts (start and time before them)
        words = f"{LANE_BYTES * COUNT}x{LANE_BYTES}s{LANE_BYTES}x{LANE_BYTES * (stride - BUCKETS)}s"
        lanes = _packed_struct("<" + words * points)
    return Packings(tuple(packings), tuple(uniform), stride, points, lanes)


def _uniform_size(kinds: list[str], points: int) -> int:
    """(No padding between codes: a point's size adds up, and the long format is never compiled.)"""
    return _code_size(kinds[TIME]) + points * sum(map(_code_size, _uniform_point(kinds)))


@functools.cache
def _code_size(code: str) -> int:
    return struct.calcsize("<" + code)


def _uniform_point(kinds: list[str]) -> list[str]:
    """A point's kinds in a uniform packing: all but its time."""
    return [kinds[START], *kinds[VALUE:]]


def _uniform(kinds: list[str], points: int, histogram: bool, full: Packing, pad: int) -> Packing:
    """The uniform packing of ``kinds`` (a point's, as ``full`` packs them): one end time, then every point's other
    values, then ``pad`` bytes (its size tells it apart)."""
    stride = len(kinds)
    point = _uniform_point(kinds)
    head = _code_size(kinds[TIME])

    def reader(*columns: int) -> struct.Struct:  # (columns of the layout's values; none is TIME)
        at = tuple(column if column == START else column - 1 for column in columns)
        return _columns(point, at, points, head, pad)

    packed = _packed_struct("<" + kinds[TIME] + "".join(_runs(point * points)) + f"{pad}x")
    picked = [TIME]
    picked += [at + column for at in range(0, stride * points, stride) for column in range(stride) if column != TIME]
    spread = [
        0 if column == TIME else 1 + number * len(point) + (column if column == START else column - 1)
        for number in range(points)
        for column in range(stride)
    ]
    return Packing(
        packed,
        reader(START),
        reader(COUNT),
        reader(SUM) if histogram else None,
        reader(START, COUNT),
        full.limit,
        full.packed,
        operator.itemgetter(*picked),
        operator.itemgetter(*spread),
    )


def _columns(kinds: list[str], columns: tuple[int, ...], points: int, head: int = 0, tail: int = 0) -> struct.Struct:
    """What reads ``columns`` (in order) of every point of values packed as ``kinds`` (a point's), after ``head``
    bytes and before ``tail`` bytes (a uniform packing's time and padding)."""
    point = []
    cursor = 0
    for column in columns:
        point.append(f"{struct.calcsize('<' + ''.join(kinds[cursor:column]))}x{kinds[column]}")
        cursor = column + 1
    point.append(f"{struct.calcsize('<' + ''.join(kinds[cursor:]))}x")
    return _packed_struct(f"<{head}x" + "".join(point) * points + f"{tail}x")


def _runs(codes: list[str]) -> Iterator[str]:
    """A struct format's codes, each run of one code written once with its count."""
    for code, run in itertools.groupby(codes):
        count = len(list(run))
        yield f"{count}{code}" if count > 1 else code


LANE_BYTES = 8  # a histogram's count and bucket counts are fixed64: side by side they add as lanes of one big int


def metric_layout(metric_bytes: bytes, histogram: bool) -> Layout | None:
    """The layout of a serialised sum or histogram metric whose points all have the plain shape OpenClaw sends
    (start and end time, a value, attributes; histograms also bounds and optional min/max); None otherwise (flags,
    exemplars, points without a value or buckets: the general path reads those every time)."""
    segments: list[tuple[int, int, str]] = []  # (offset, size, struct code) of every value and unread field
    codes: list[str] | None = None
    points = 0
    for start, end in point_spans(metric_bytes):
        fields = _histogram_fields(metric_bytes, start, end) if histogram else _number_fields(metric_bytes, start, end)
        if fields is None:
            return None
        point_codes = [code for _, _, code in fields]
        if codes is None:
            codes = point_codes
        elif point_codes != codes:  # e.g. histograms with different bucket counts: no fixed stride
            return None
        segments.extend(fields)
        points += 1
    if codes is None:
        return None
    values_format, skeleton_format, lanes_format, watch_format = ["<"], ["<"], ["<"], ["<"]
    packed_format = ["<"]
    cursor = 0
    for index, (offset, size, code) in enumerate(segments):
        if offset > cursor:
            values_format.append(f"{offset - cursor}x")
            skeleton_format.append(f"{offset - cursor}s")
            lanes_format.append(f"{offset - cursor}x")
            watch_format.append(f"{offset - cursor}x")
        values_format.append(f"{size}x" if code == "x" else code)
        skeleton_format.append(f"{size}x")
        lane = histogram and index % len(codes) in (_COUNT_FIELD, _BUCKETS_FIELD)
        lanes_format.append(f"{size}s" if lane else f"{size}x")
        watch_format.append(code if index % len(codes) in (START, COUNT) else f"{size}x")  # (COUNT is VALUE's place)
        if code != "x":
            packed_format.append(code)
        cursor = offset + size
    if cursor < len(metric_bytes):
        values_format.append(f"{len(metric_bytes) - cursor}x")
        skeleton_format.append(f"{len(metric_bytes) - cursor}s")
        lanes_format.append(f"{len(metric_bytes) - cursor}x")
    stride = sum(int(code[:-1] or 1) for code in codes if code != "x")
    extremes: tuple[int, ...] = ()
    if histogram:
        width = len(codes)
        extremes = tuple(
            offset if size else -1
            for index, (offset, size, _) in enumerate(segments)
            if index % width in (_MIN_FIELD, _MAX_FIELD)
        )
    return _layout(
        "".join(values_format),
        "".join(skeleton_format),
        "".join(watch_format),
        "".join(packed_format),
        "".join(lanes_format) if histogram else None,
        stride,
        points,
        extremes,
    )


def _layout(
    values: str,
    skeleton: str,
    watch: str,
    packed: str,
    lanes: str | None,
    stride: int,
    points: int,
    extremes: tuple[int, ...],
) -> Layout:
    """One ``Layout`` per distinct set of formats while any metric has it: the gateways of a fleet that send the same
    ones share it (a fleet whose gateways send different lanes, agents or models has many, a few KB each). Found by
    a hash of its identity and checked against it (read off its structs: the map keeps no copy of their formats)."""
    wanted = (values, skeleton, watch, packed, lanes, stride, points, extremes)
    key = hash(wanted)
    layout = _LAYOUTS.get(key)
    if layout is not None and layout.identity() == wanted:
        return layout
    layout = _LAYOUTS[key] = Layout(
        _struct(values),
        _struct(skeleton),
        stride,
        points,
        _struct(watch),
        packed,
        _struct(lanes) if lanes is not None else None,
        extremes,
    )
    return layout


_LAYOUTS: weakref.WeakValueDictionary[int, Layout] = weakref.WeakValueDictionary()


def point_extremes(metric_bytes: bytes, layout: Layout, point: int) -> tuple[float | None, float | None]:
    """The min and max of a histogram's point ``point`` in bytes of ``layout`` (None where not sent)."""
    low, high = layout.extremes[2 * point : 2 * point + 2]
    return (
        _DOUBLE.unpack_from(metric_bytes, low)[0] if low >= 0 else None,
        _DOUBLE.unpack_from(metric_bytes, high)[0] if high >= 0 else None,
    )


@functools.lru_cache(maxsize=1024)
def bucket_total(stride: int, points: int) -> Callable[[Sequence[float]], float]:
    """What adds up every bucket count of a histogram's ``Layout.values`` (one C call, not one slice a column)."""
    columns = [at + column for at in range(0, stride * points, stride) for column in range(BUCKETS, stride)]
    first = columns[0]
    getter = operator.itemgetter(*columns, first)  # always a tuple: ``first`` is read twice
    return lambda values: sum(getter(values)) - values[first]


# Columns of a point in ``Layout.values``.
START, TIME, VALUE = 0, 1, 2  # sums
COUNT, SUM, BUCKETS = 2, 3, 4  # histograms
_COUNT_FIELD, _BUCKETS_FIELD, _MIN_FIELD, _MAX_FIELD = 2, 4, 5, 6  # their places in _histogram_fields


@functools.lru_cache(maxsize=4096)
def _struct(fmt: str) -> struct.Struct:
    """One compiled ``Struct`` per format."""
    return struct.Struct(fmt)


def _number_fields(data: bytes, start: int, end: int) -> list[tuple[int, int, str]] | None:
    if end - start < 27 or data[start] != 0x11 or data[start + 9] != 0x19:
        return None
    value_tag = data[start + 18]
    if value_tag not in (0x21, 0x31) or _attributes_end(data, start + 27, end, 0x3A) != end:
        return None
    return [(start + 1, 8, "Q"), (start + 10, 8, "Q"), (start + 19, 8, "d" if value_tag == 0x21 else "q")]


def _histogram_fields(data: bytes, start: int, end: int) -> list[tuple[int, int, str]] | None:
    if end - start < 38 or data[start] != 0x11 or data[start + 9] != 0x19 or data[start + 18] != 0x21:
        return None
    if data[start + 27] != 0x29 or data[start + 36] != 0x32:
        return None
    length, pos = _varint(data, start + 37)
    if not length or length & 7:
        return None
    fields = [(start + 1, 8, "Q"), (start + 10, 8, "Q"), (start + 19, 8, "Q"), (start + 28, 8, "d")]
    fields.append((pos, length, f"{length >> 3}Q"))
    pos += length
    if pos < end and data[pos] == 0x3A:
        length, pos = _varint(data, pos + 1)
        pos += length
    pos = _attributes_end(data, pos, end, 0x4A)
    for tag in (0x59, 0x61):  # min, max: neither read nor compared
        if pos < end and data[pos] == tag:
            fields.append((pos + 1, 8, "x"))
            pos += 9
        else:
            fields.append((pos, 0, "x"))
    return fields if pos == end else None
