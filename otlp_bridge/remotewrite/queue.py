"""Delivery policy per target, as Prometheus's queue manager does it; pure, with time passed in.

A bounded queue of encoded samples (by count and by bytes) that drops the oldest when full; batches of up to
``max_samples_per_send`` in queue order, so that each series' samples go out in timestamp order (one batch is in
flight at a time and is retried until it is sent or refused); the classification of an answer; capped exponential
backoff that honours ``Retry-After``.
"""

from __future__ import annotations

import email.utils
import enum
from collections import deque
from collections.abc import Sequence

from otlp_bridge.config import QueueConfig

MAX_RETRY_AFTER_SECONDS = 300.0  # a Retry-After beyond this is taken as this


class Outcome(enum.Enum):
    SENT = "sent"
    RETRY = "retry"
    DROP = "drop"


def classify(status: int | None) -> Outcome:
    """2xx sent; 429, 5xx and no answer (``None``: network error, timeout) retried; any other status dropped."""
    if status is None or status == 429 or status >= 500:
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.SENT
    return Outcome.DROP


def retry_after(header: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), capped; None when absent or
    unreadable."""
    if not header:
        return None
    text = header.strip()
    try:
        seconds = float(text) if text.isdigit() else email.utils.parsedate_to_datetime(text).timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def backoff(config: QueueConfig, attempt: int, after: float | None) -> float:
    """The wait before retry number ``attempt`` (1 for the first): ``min_backoff`` doubled per attempt up to
    ``max_backoff``; a server's ``Retry-After`` wins when longer."""
    delay = min(config.max_backoff, config.min_backoff * 2.0 ** min(attempt - 1, 62))
    return max(delay, after) if after is not None else delay


class Queue:
    """The samples waiting for one target, oldest first."""

    def __init__(self, config: QueueConfig) -> None:
        self.config = config
        self._entries: deque[bytes] = deque()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def push(self, entries: Sequence[bytes]) -> int:
        """Append samples; returns how many of the oldest were dropped to stay within capacity and bytes."""
        self._entries.extend(entries)
        self.bytes += sum(map(len, entries))
        dropped = 0
        while self._entries and (len(self._entries) > self.config.capacity or self.bytes > self.config.max_bytes):
            self.bytes -= len(self._entries.popleft())
            dropped += 1
        return dropped

    def take(self) -> list[bytes]:
        """The next batch (up to ``max_samples_per_send``), removed from the queue."""
        count = min(len(self._entries), self.config.max_samples_per_send)
        batch = [self._entries.popleft() for _ in range(count)]
        self.bytes -= sum(map(len, batch))
        return batch

    def clear(self) -> int:
        dropped = len(self._entries)
        self._entries.clear()
        self.bytes = 0
        return dropped
