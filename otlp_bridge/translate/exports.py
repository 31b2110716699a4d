"""The whole-export fast path: a sender whose export has every byte of its previous one but the values, and whose
every metric the fast path knows (``otlp_bridge.translate.fast``), is checked and read as one: one hash of everything
but the values, each cumulative metric's start and count columns compared with what its ``KnownMetric`` last took,
and only the metrics that moved handed to it with their values read.

A gateway sends the same metrics in the same bytes every interval, so after its first exports this is the only path
its requests take: no decoding, no per-metric routing or lookups. The reads are the metrics' own layouts
(``wire.Layout``) at their places, which every sender with that metric layout shares: an export shape (23 metrics)
costs about 6 KB however many senders have it, where structs of the whole export would cost 31 KB a shape, and a
fleet whose gateways send different metrics or lanes sends many shapes.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sequence
from typing import NamedTuple

from otlp_bridge.translate import wire
from otlp_bridge.translate.fast import KnownMetric, Woken
from otlp_bridge.translate.senders import ExportSender


class ExportShape(NamedTuple):
    """Where everything lies in an export's bytes.

    ``metrics``: each metric's place and layout. ``gaps`` reads the bytes around the metrics (the resource and scope
    before the first, tags and lengths, other resources and scopes), skipping the metrics. ``watches``: for each
    cumulative metric, its place and the read of its start and count columns (``Layout.watch``); ``points``: the
    points of the metrics before each one, then of all."""

    metrics: tuple[tuple[int, int, wire.Layout], ...]
    gaps: struct.Struct
    watches: tuple[tuple[int, struct.Struct] | None, ...]
    points: tuple[int, ...]


@functools.lru_cache(maxsize=4096)
def export_shape(
    spans: tuple[tuple[int, int], ...], layouts: tuple[wire.Layout, ...], cumulative: tuple[bool, ...], size: int
) -> ExportShape:
    """The shape of an export of ``size`` bytes whose metrics lie at ``spans`` with these layouts."""
    gaps = ["<"]
    watches: list[tuple[int, struct.Struct] | None] = []
    points = [0]
    cursor = 0
    for (start, end), layout, is_cumulative in zip(spans, layouts, cumulative, strict=True):
        if start > cursor:
            gaps.append(f"{start - cursor}s")
        gaps.append(f"{end - start}x")
        points.append(points[-1] + layout.points)
        watches.append((start, layout.watch) if is_cumulative else None)
        cursor = end
    if size > cursor:
        gaps.append(f"{size - cursor}s")
    metrics = tuple((start, end, layout) for (start, end), layout in zip(spans, layouts, strict=True))
    return ExportShape(metrics, struct.Struct("".join(gaps)), tuple(watches), tuple(points))


class KnownExport:
    """A sender's export as last taken: the known metrics in the order of its bytes, and what they share."""

    __slots__ = ("knowns", "senders", "shape", "size", "skeleton", "sources", "unprefixed")

    def __init__(
        self,
        body: bytes,
        shape: ExportShape,
        knowns: tuple[KnownMetric, ...],
        senders: tuple[ExportSender, ...],
    ) -> None:
        self.size = shape.gaps.size
        self.shape = shape
        self.knowns = knowns
        self.senders = senders  # the sender of each resource of the request
        self.skeleton = self._skeleton(body)
        self.unprefixed = ""  # what ``IngestResult.unprefixed`` says of this export
        self.sources: tuple[str, ...] = ()  # the source of each of its resources (``MetricsTranslator.source_name``)

    def _skeleton(self, body: bytes) -> int:
        """A hash of every byte of ``body`` but the values."""
        pieces = [layout.skeleton.unpack_from(body, start) for start, _, layout in self.shape.metrics]
        return hash((self.shape.gaps.unpack(body), *pieces))

    def matches(self, body: bytes) -> bool:
        """Whether ``body`` has every byte of the export it was made from but the values."""
        return len(body) == self.size and self._skeleton(body) == self.skeleton

    def take(self, body: bytes, now: float) -> Took:
        """Take every metric of ``body`` (which ``matches``) in order: all of them, or those up to the first that its
        known metric refused (that metric goes the general way, and the caller takes the rest metric by metric)."""
        shape = self.shape
        woke: list[tuple[KnownMetric, Woken]] = []
        for index, known in enumerate(self.knowns):
            watch = shape.watches[index]
            if watch is not None and known.still(watch[1].unpack_from(body, watch[0])):
                known.last_seen = now  # a cumulative metric that did not move: nothing to keep
                continue
            start, end, layout = shape.metrics[index]
            values = layout.values.unpack_from(body, start)
            woken = known.take(body[start:end], now, values)
            if woken is None:
                return Took(index, shape.points[index], woke)
            if woken:
                woke.append((known, woken))
        return Took(len(self.knowns), shape.points[-1], woke)


class Took(NamedTuple):
    """What ``KnownExport.take`` took: how many metrics and their points, and those of them whose waiting points it
    woke (``KnownMetric.take``)."""

    metrics: int
    points: int
    woke: list[tuple[KnownMetric, Woken]]


def export_key(body: bytes) -> int | None:
    """A hash of the bytes before a request's first metric (its first resource and scope: who sends it). Two senders
    whose keys collide only take each other's place: the skeleton check covers those bytes too."""
    offset = wire.first_metric_start(body)
    return None if offset is None else hash(body[:offset])


def known_export(
    body: bytes,
    spans: Sequence[tuple[int, int]],
    knowns: tuple[KnownMetric, ...],
    senders: tuple[ExportSender, ...],
) -> KnownExport:
    """The export of ``body`` whose metrics (at ``spans``) all took, or were made for, the fast path."""
    layouts = tuple(known.shape.layout for known in knowns)
    cumulative = tuple(known.shape.cumulative for known in knowns)
    shape = export_shape(tuple(spans), layouts, cumulative, len(body))
    return KnownExport(body, shape, knowns, senders)
