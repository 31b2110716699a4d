"""The whole-export fast path: a sender whose export has every byte of its previous one but the values, and whose
every metric the fast path knows (``otlp_bridge.translate.fast``), is read with one skeleton check and one ``struct``
call for the whole body. Its cumulative metrics whose start and count columns did not move are only touched; the
others are handed to their ``KnownMetric`` with the values already read.

A gateway sends the same metrics in the same bytes every interval, so after its first exports this is the only path
its requests take: the per-metric routing, the per-metric skeleton checks and most per-metric calls are skipped.
"""

from __future__ import annotations

import functools
import struct
from array import array
from collections.abc import Sequence
from typing import NamedTuple

from otlp_bridge.translate import wire
from otlp_bridge.translate.fast import KnownMetric


class ExportShape(NamedTuple):
    """Where everything lies in an export's bytes from its first metric on, shared by every sender whose metrics have
    the same layouts and the same bytes between them (a fleet of like gateways: one shape).

    ``skeleton`` and ``values`` read the body as the metrics' own layouts do, one after the other; ``spans`` are the
    metrics' bytes and ``ranges`` their values, both relative to the first metric. ``watch`` reads the start and
    count columns of the cumulative metrics as raw 64-bit words (an exact comparison), ``watched`` where each
    metric's are in that read (empty for a delta metric)."""

    skeleton: struct.Struct
    values: struct.Struct
    spans: tuple[tuple[int, int], ...]
    ranges: tuple[tuple[int, int], ...]
    watch: struct.Struct
    watched: tuple[tuple[int, int], ...]
    points: tuple[int, ...]  # the points of the metrics before each one, then of all


@functools.lru_cache(maxsize=1024)
def export_shape(
    spans: tuple[tuple[int, int], ...], layouts: tuple[wire.Layout, ...], cumulative: tuple[bool, ...], size: int
) -> ExportShape:
    """The shape of an export of ``size`` bytes from its first metric on, whose metrics lie at ``spans`` (relative
    to the first) with these layouts."""
    skeleton, values, watch = ["<"], ["<"], ["<"]
    ranges, watched, points = [], [], [0]
    cursor = read = watching = 0
    for (start, end), layout, is_cumulative in zip(spans, layouts, cumulative, strict=True):
        if start > cursor:
            skeleton.append(f"{start - cursor}s")
            values.append(f"{start - cursor}x")
            watch.append(f"{start - cursor}x")
        skeleton.append(layout.skeleton.format[1:])
        values.append(layout.values.format[1:])
        count = layout.stride * layout.points
        ranges.append((read, read + count))
        read += count
        points.append(points[-1] + layout.points)
        if is_cumulative:
            watch.append(_watch_format(layout))
            watched.append((watching, watching + 2 * layout.points))
            watching += 2 * layout.points
        else:
            watch.append(f"{layout.values.size}x")
            watched.append((watching, watching))
        cursor = end
    if size > cursor:
        skeleton.append(f"{size - cursor}s")
    return ExportShape(
        struct.Struct("".join(skeleton)),
        struct.Struct("".join(values)),
        tuple(spans),
        tuple(ranges),
        struct.Struct("".join(watch)),
        tuple(watched),
        tuple(points),
    )


def _watch_format(layout: wire.Layout) -> str:
    """``layout.values``'s format with its start and count (a sum's value) columns read as ``Q`` and the rest
    skipped."""
    codes = struct_codes(layout.values.format[1:])
    out = []
    column = 0
    for code in codes:
        if code.endswith("x"):
            out.append(code)
            continue
        width = struct.calcsize("<" + code)
        repeat = int(code[:-1] or 1)
        for _ in range(repeat):
            at = column % layout.stride
            out.append("Q" if at in (wire.START, wire.COUNT) else f"{width // repeat}x")
            column += 1
    return "".join(out)


def struct_codes(fmt: str) -> list[str]:
    """A ``struct`` format (without byte order) as its codes with their repeat counts: ``"3xQ16Q"`` →
    ``["3x", "Q", "16Q"]``."""
    codes, digits = [], ""
    for char in fmt:
        if char.isdigit():
            digits += char
        else:
            codes.append(digits + char)
            digits = ""
    return codes


class KnownExport:
    """A sender's export as last taken: the known metrics in the order of its bytes, and what they share."""

    __slots__ = ("knowns", "offset", "senders", "shape", "size", "skeleton", "unprefixed", "watched")

    def __init__(
        self,
        body: bytes,
        offset: int,
        shape: ExportShape,
        knowns: tuple[KnownMetric, ...],
        senders: tuple[tuple[bytes, str], ...],
    ) -> None:
        self.offset = offset  # where the first metric starts: the bytes before it are the key
        self.size = offset + shape.skeleton.size
        self.shape = shape
        self.knowns = knowns
        self.senders = senders  # each serialised resource of the request, with the temporality of its first metric
        self.skeleton = hash(shape.skeleton.unpack_from(body, offset))
        self.watched = array("Q", shape.watch.unpack_from(body, offset))
        self.unprefixed = ""  # what ``IngestResult.unprefixed`` says of this export

    def matches(self, body: bytes) -> bool:
        """Whether ``body`` has every byte of the export it was made from but the values."""
        return len(body) == self.size and hash(self.shape.skeleton.unpack_from(body, self.offset)) == self.skeleton

    def take(self, body: bytes, now: float) -> Took:
        """Take every metric of ``body`` (which ``matches``) in order: all of them, or those up to the first that its
        known metric refused (that metric goes the general way, and the caller takes the rest metric by metric)."""
        shape = self.shape
        offset = self.offset
        watched = array("Q", shape.watch.unpack_from(body, offset))
        previous = self.watched
        unchanged = watched == previous
        values = None
        kept: list[KnownMetric] = []
        for index, known in enumerate(self.knowns):
            low, high = shape.watched[index]
            if low != high and (unchanged or watched[low:high] == previous[low:high]):
                known.last_seen = now  # a cumulative metric that did not move: nothing to keep
                continue
            if values is None:
                values = shape.values.unpack_from(body, offset)
            start, end = shape.spans[index]
            first, last = shape.ranges[index]
            if not known.take(body[offset + start : offset + end], now, values[first:last]):
                return Took(index, shape.points[index], kept)
            kept.append(known)
        self.watched = watched
        return Took(len(self.knowns), shape.points[-1], kept)


class Took(NamedTuple):
    """What ``KnownExport.take`` took: how many metrics and their points, and those of them that kept values (the
    others did not move)."""

    metrics: int
    points: int
    kept: list[KnownMetric]


def export_key(body: bytes) -> tuple[bytes, int] | None:
    """The bytes before a request's first metric (its first resource and scope: who sends it) and where they end."""
    offset = wire.first_metric_start(body)
    return None if offset is None else (body[:offset], offset)


def known_export(
    body: bytes,
    offset: int,
    spans: Sequence[tuple[int, int]],
    knowns: Sequence[KnownMetric],
    senders: tuple[tuple[bytes, str], ...],
) -> KnownExport:
    """The export of ``body`` whose metrics (at ``spans``) all took, or were made for, the fast path."""
    relative = tuple((start - offset, end - offset) for start, end in spans)
    layouts = tuple(known.layout for known in knowns)
    cumulative = tuple(known.cumulative for known in knowns)
    shape = export_shape(relative, layouts, cumulative, len(body) - offset)
    return KnownExport(body, offset, shape, tuple(knowns), senders)
