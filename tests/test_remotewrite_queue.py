"""The delivery policy: classification, Retry-After, backoff and the bounded queue."""

from __future__ import annotations

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otlp_bridge.config import QueueConfig
from otlp_bridge.remotewrite.queue import (
    MAX_RETRY_AFTER_SECONDS,
    Outcome,
    Queue,
    backoff,
    classify,
    retry_after,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.SENT),
        (204, Outcome.SENT),
        (None, Outcome.RETRY),  # network error or timeout
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
        (400, Outcome.DROP),
        (401, Outcome.DROP),
        (404, Outcome.DROP),
        (413, Outcome.DROP),
        (302, Outcome.DROP),
    ],
)
def test_classify(status: int | None, outcome: Outcome) -> None:
    assert classify(status) is outcome


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 0 ", 0.0),
        ("soon", None),
        ("-3", None),
        ("100000", MAX_RETRY_AFTER_SECONDS),
        (email.utils.formatdate(NOW + 12, usegmt=True), 12.0),
        (email.utils.formatdate(NOW - 12, usegmt=True), 0.0),
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, NOW) == seconds


@pytest.mark.parametrize(
    ("attempt", "after", "expected"),
    [
        (1, None, 0.03),
        (2, None, 0.06),
        (3, None, 0.12),
        (8, None, 3.84),
        (9, None, 5.0),
        (10_000, None, 5.0),
        (1, 2.0, 2.0),  # the server's Retry-After wins when longer
        (9, 1.0, 5.0),
        (9, 60.0, 60.0),
    ],
)
def test_backoff_doubles_up_to_the_cap(attempt: int, after: float | None, expected: float) -> None:
    assert backoff(QueueConfig(), attempt, after) == pytest.approx(expected)


def test_a_full_queue_drops_the_oldest() -> None:
    queue = Queue(QueueConfig(capacity=5, max_bytes=1000, max_samples_per_send=2))
    assert queue.push([b"a", b"b", b"c"]) == 0
    assert queue.push([b"d", b"e", b"f", b"g"]) == 2
    assert len(queue) == 5
    assert queue.take() == [b"c", b"d"]
    assert queue.take() == [b"e", b"f"]
    assert queue.take() == [b"g"]
    assert queue.take() == []
    assert queue.bytes == 0


def test_the_byte_bound_drops_the_oldest_too() -> None:
    queue = Queue(QueueConfig(capacity=100, max_bytes=10))
    assert queue.push([b"12345", b"6789", b"ab"]) == 1
    assert queue.bytes == 6
    assert queue.take() == [b"6789", b"ab"]


@given(
    st.lists(st.lists(st.binary(min_size=1, max_size=8), max_size=20), max_size=20),
    st.integers(1, 30),
    st.integers(1, 100),
)
def test_the_queue_keeps_the_newest_in_order_within_its_bounds(
    pushes: list[list[bytes]], capacity: int, max_bytes: int
) -> None:
    queue = Queue(QueueConfig(capacity=capacity, max_bytes=max_bytes, max_samples_per_send=3))
    everything = [entry for push in pushes for entry in push]
    dropped = sum(queue.push(push) for push in pushes)
    assert len(queue) <= capacity and queue.bytes <= max_bytes
    kept = []
    while batch := queue.take():
        assert len(batch) <= 3
        kept += batch
    assert kept == everything[dropped:]
    assert queue.clear() == 0
