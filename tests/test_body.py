"""Reading a body: content encoding, gzip under a hard output limit, the size limit and the in-flight budget."""

from __future__ import annotations

import gzip
import itertools
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otlp_bridge.errors import BadRequest, Overloaded, PayloadTooLarge, UnsupportedMediaType
from otlp_bridge.receive.body import INFLATE_SLICE, BodyBudget, GzipReader, parse_content_encoding


@pytest.mark.parametrize(
    ("header", "gzipped"),
    [(None, False), ("", False), ("identity", False), ("gzip", True), ("x-gzip", True), (" GZIP , identity", True)],
)
def test_content_encoding_is_gzip_or_identity(header: str | None, gzipped: bool) -> None:
    assert parse_content_encoding(header) is gzipped


@pytest.mark.parametrize("header", ["br", "deflate", "gzip, gzip", "gzip, br"])
def test_any_other_content_encoding_is_415(header: str) -> None:
    with pytest.raises(UnsupportedMediaType, match="use gzip or identity"):
        parse_content_encoding(header)


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@given(st.lists(st.binary(max_size=2000), min_size=1, max_size=3), st.lists(st.integers(0, 10_000), max_size=6))
def test_gzip_in_any_chunks_and_members_inflates_to_the_original(members: list[bytes], cuts: list[int]) -> None:
    wire = b"".join(gzip.compress(member) for member in members)
    reader = GzipReader(limit=10_000)
    for chunk in _chunks(wire, cuts):
        reader.feed(chunk)
    assert reader.finish() == b"".join(members)
    assert reader.produced == sum(map(len, members))


def test_a_gzip_bomb_is_refused_one_byte_past_the_limit() -> None:
    limit = 3 * INFLATE_SLICE + 17
    bomb = gzip.compress(bytes(50 * INFLATE_SLICE))
    reader = GzipReader(limit)
    with pytest.raises(PayloadTooLarge) as raised:
        reader.feed(bomb)
    assert raised.value.status == 413
    assert reader.produced == limit + 1  # never inflated more than it needed to know


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (gzip.compress(b"abc")[:-4], "truncated stream"),
        (b"not gzip at all", "invalid gzip body"),
    ],
)
def test_a_broken_gzip_body_is_400(wire: bytes, message: str) -> None:
    reader = GzipReader(limit=1000)
    with pytest.raises(BadRequest, match=message):
        reader.feed(wire)
        reader.finish()


def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    budget = BodyBudget(limit=100, bodies=4)
    with pytest.raises(PayloadTooLarge):
        budget.reader(declared=101, gzipped=False)
    assert budget.reader(declared=100, gzipped=False).received == 0


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_body_is_read_whole_up_to_the_limit(gzipped: bool) -> None:
    body = b"openclaw " * 11 + b"x"  # 100 bytes that gzip makes smaller
    budget = BodyBudget(limit=100, bodies=1)
    reader = budget.reader(None, gzipped)
    wire = gzip.compress(body) if gzipped else body
    for chunk in _chunks(wire, [7, 33, 64]):
        reader.feed(chunk)
    assert reader.finish() == body
    assert reader.received == len(wire)
    assert budget.held == len(body)  # decompressed bytes count against the budget
    reader.release()
    assert budget.held == 0


def test_wire_bytes_past_the_limit_are_refused() -> None:
    reader = BodyBudget(limit=10, bodies=4).reader(None, gzipped=False)
    reader.feed(bytes(10))
    with pytest.raises(PayloadTooLarge):
        reader.feed(b"x")


def test_bodies_in_flight_together_stay_under_the_budget() -> None:
    """Two bodies of 0.6 × the limit fit a budget of one body only once; release makes room again."""
    budget = BodyBudget(limit=1000, bodies=1)
    first, second = budget.reader(None, False), budget.reader(None, False)
    first.feed(bytes(600))
    with pytest.raises(Overloaded) as raised:
        second.feed(bytes(600))
    assert raised.value.status == 503
    second.release()
    first.release()
    assert budget.held == 0
    third = budget.reader(None, True)
    third.feed(gzip.compress(bytes(900), compresslevel=zlib.Z_BEST_COMPRESSION))
    assert budget.held == 900
