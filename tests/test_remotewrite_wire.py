"""The remote-write wire: what protobuf itself decodes from the hand-written encoder, and snappy block format."""

from __future__ import annotations

import math
import struct

import cramjam
import pytest
from hypothesis import given
from hypothesis import strategies as st

from otlp_bridge.remotewrite import wire
from tests.support import decode_write_request

label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True)
label_values = st.text(max_size=30)


@given(
    st.dictionaries(label_names, label_values, max_size=8),
    st.floats(allow_nan=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
def test_a_series_decodes_to_what_was_encoded(pairs: dict[str, str], value: float, timestamp: int) -> None:
    body = wire.series(wire.labels(pairs.items()), value, timestamp)
    (sample,), metadata = decode_write_request(body)
    expected = {name: text for name, text in pairs.items() if text}
    assert sample.labels == expected
    assert list(sample.label_order) == sorted(expected)
    assert sample.value == value or (math.isnan(value) and math.isnan(sample.value))
    assert sample.timestamp == timestamp
    assert metadata == []


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("b", "2"), ("__name__", "x"), ("a", "1")], (("__name__", "x"), ("a", "1"), ("b", "2"))),
        ([("Z", "upper"), ("__name__", "x")], (("Z", "upper"), ("__name__", "x"))),  # bytewise: "Z" < "_"
        ([("__name__", "x"), ("empty", "")], (("__name__", "x"),)),
        ([("__name__", "x"), ("a", "first"), ("a", "second")], (("__name__", "x"), ("a", "first"))),
    ],
)
def test_labels_are_sorted_without_empty_values_or_repeats(
    pairs: list[tuple[str, str]], expected: tuple[tuple[str, str], ...]
) -> None:
    (sample,), _ = decode_write_request(wire.series(wire.labels(pairs), 1.0, 1))
    assert tuple((name, sample.labels[name]) for name in sample.label_order) == expected


def test_the_stale_marker_keeps_its_bit_pattern() -> None:
    (sample,), _ = decode_write_request(wire.series(wire.labels([("__name__", "x")]), wire.STALE_NAN, 5))
    assert struct.unpack("<Q", struct.pack("<d", sample.value))[0] == 0x7FF0000000000002
    (plain,), _ = decode_write_request(wire.series(wire.labels([("__name__", "x")]), math.nan, 5))
    assert struct.unpack("<Q", struct.pack("<d", plain.value))[0] != 0x7FF0000000000002


def test_metadata_and_series_share_one_request() -> None:
    body = wire.series(wire.labels([("__name__", "x_total")]), 3.0, 7) + wire.metadata(
        wire.MetricType.COUNTER, "x_total", "Help with \\ and \n.", "seconds"
    )
    samples, (metadata,) = decode_write_request(body)
    assert [s.value for s in samples] == [3.0]
    assert (metadata.type, metadata.metric_family_name, metadata.help, metadata.unit) == (
        1,
        "x_total",
        "Help with \\ and \n.",
        "seconds",
    )


def test_snappy_block_format_not_framed() -> None:
    request = wire.series(wire.labels([("__name__", "x"), ("a", "1" * 300)]), 1.0, 1) * 20
    compressed = wire.compress(request)
    assert not compressed.startswith(b"\xff\x06\x00\x00sNaPpY")  # the framed format's stream identifier
    assert len(compressed) < len(request)
    assert bytes(cramjam.snappy.decompress_raw(compressed)) == request
    assert wire.decompress(compressed) == request


@pytest.mark.parametrize("number", [0, 1, 127, 128, 300, 2**63 - 1, -1])
def test_varint_reads_back(number: int) -> None:
    encoded = wire.varint(number)
    value = sum((byte & 0x7F) << (7 * index) for index, byte in enumerate(encoded))
    assert value == number % (1 << 64)
    assert all(byte & 0x80 for byte in encoded[:-1]) and not encoded[-1] & 0x80
