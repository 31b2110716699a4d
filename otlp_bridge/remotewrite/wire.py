"""Prometheus remote write 1.0 on the wire: a ``prometheus.WriteRequest`` (prompb) encoded by hand, snappy
block-compressed.

Only the fields a sender writes: ``WriteRequest{timeseries = 1, metadata = 3}``, ``TimeSeries{labels = 1,
samples = 2}``, ``Label{name = 1, value = 2}``, ``Sample{value = 1 (double), timestamp = 2 (int64 ms)}``,
``MetricMetadata{type = 1, metric_family_name = 2, help = 4, unit = 5}``. A request is the concatenation of its
encoded fields, so encoded series can be queued as bytes and batched by joining them.
"""

from __future__ import annotations

import enum
import functools
import struct
from collections.abc import Iterable
from typing import Final

import cramjam

STALE_NAN_BITS: Final = 0x7FF0000000000002
STALE_NAN: Final[float] = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
"""Prometheus's staleness marker: a NaN with its own bit pattern (``math.isnan`` cannot tell it from others)."""

HEADERS: Final = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}
_DOUBLE: Final = struct.Struct("<d")


class MetricType(enum.IntEnum):
    """``MetricMetadata.MetricType`` of prompb."""

    UNKNOWN = 0
    COUNTER = 1
    GAUGE = 2
    HISTOGRAM = 3
    GAUGEHISTOGRAM = 4
    SUMMARY = 5
    INFO = 6
    STATESET = 7


def _varint(number: int) -> bytes:
    if number < 0:
        number += 1 << 64
    out = bytearray()
    while number > 0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


_SMALL: Final = tuple(_varint(number) for number in range(1 << 14))  # label and series lengths: precomputed


def varint(number: int) -> bytes:
    """An unsigned protobuf varint (negative int64 values take ten bytes, as protobuf writes them)."""
    return _SMALL[number] if 0 <= number < len(_SMALL) else _varint(number)


def _field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2) with a one-byte key."""
    return bytes((tag,)) + varint(len(payload)) + payload


@functools.lru_cache(maxsize=4096)
def label(name: str, value: str) -> bytes:
    """One encoded ``TimeSeries.labels`` entry (label names and values repeat across series: cached)."""
    return _field(0x0A, _field(0x0A, name.encode()) + _field(0x12, value.encode()))


def labels(pairs: Iterable[tuple[str, str]]) -> bytes:
    """A label set as ``TimeSeries.labels`` entries: sorted by name, empty values dropped (an empty value is the
    same as no label). The first value of a repeated name wins."""
    chosen: dict[str, str] = {}
    for name, value in pairs:
        if value and name not in chosen:
            chosen[name] = value
    return b"".join(label(name, chosen[name]) for name in sorted(chosen))


class Stamp:
    """Encodes ``WriteRequest.timeseries`` entries of one sample each, all at one timestamp (its bytes are
    encoded once)."""

    __slots__ = ("_head", "_size", "_tail")

    def __init__(self, timestamp_ms: int) -> None:
        self._tail = b"\x10" + varint(timestamp_ms)
        self._head = b"\x12" + varint(9 + len(self._tail)) + b"\x09"
        self._size = len(self._head) + 8 + len(self._tail)

    def series(self, encoded_labels: bytes, value: float) -> bytes:
        size = len(encoded_labels) + self._size
        return b"".join((b"\x0a", varint(size), encoded_labels, self._head, _DOUBLE.pack(value), self._tail))


def series(encoded_labels: bytes, value: float, timestamp_ms: int) -> bytes:
    """One ``WriteRequest.timeseries`` entry holding one sample."""
    return Stamp(timestamp_ms).series(encoded_labels, value)


def metadata(kind: MetricType, family: str, help_text: str, unit: str) -> bytes:
    """One ``WriteRequest.metadata`` entry."""
    body = b"\x08" + varint(kind) + _field(0x12, family.encode())
    if help_text:
        body += _field(0x22, help_text.encode())
    if unit:
        body += _field(0x2A, unit.encode())
    return _field(0x1A, body)


def compress(request: bytes) -> bytes:
    """Snappy block format (not the framed format), as remote write requires."""
    return bytes(cramjam.snappy.compress_raw(request))


def decompress(body: bytes) -> bytes:
    return bytes(cramjam.snappy.decompress_raw(body))
