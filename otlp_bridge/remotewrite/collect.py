"""Collection: every series of the scrape page as encoded remote-write samples, stamped with the bridge's clock.

The translated series come from the store (histograms as ``_bucket``/``_sum``/``_count`` with the ``le`` strings
the page prints), then the self-metrics from their prometheus_client registry. Each sample gets ``job`` and
``instance`` and the external labels unless the series has a label of that name. A series that was sent before and
is gone (expired) gets one stale marker. Pure and synchronous with time passed in; ``parts`` works in slices the
size of the scrape renderer's so that a caller can let ingest run in between.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from prometheus_client.metrics_core import Metric

from otlp_bridge.expose.exposition import HISTOGRAMS_PER_PART, SERIES_PER_PART, format_bound
from otlp_bridge.remotewrite import wire
from otlp_bridge.store import Family, HistogramSeries, Kind, Labels, ScalarSeries, Series, Store

DEFAULT_JOB = "otlp-bridge"
_METRIC_TYPES = {Kind.COUNTER: wire.MetricType.COUNTER, Kind.GAUGE: wire.MetricType.GAUGE}
_OWN_TYPES = {
    "counter": wire.MetricType.COUNTER,
    "gauge": wire.MetricType.GAUGE,
    "histogram": wire.MetricType.HISTOGRAM,
    "summary": wire.MetricType.SUMMARY,
    "info": wire.MetricType.GAUGE,  # as the text page types them
    "stateset": wire.MetricType.GAUGE,
}
_OWN_SUFFIX = {"counter": "_total", "info": "_info"}  # the name prometheus_client's text page gives the family


class Registry(Protocol):
    def collect(self) -> Iterable[Metric]: ...


@dataclass(frozen=True, slots=True)
class Identity:
    """The labels every sample gets unless it has its own of that name (the series' labels win, then job and
    instance, then the external labels)."""

    job: str = DEFAULT_JOB
    instance: str = ""
    external_labels: Labels = ()

    def extra(self) -> Labels:
        return (("job", self.job), ("instance", self.instance), *self.external_labels)


class _Sent(NamedTuple):
    """A translated series as last sent: its label entries (a histogram's around ``__name__`` and ``le``) encoded
    once and reused by every collection, and what it takes to send its stale markers."""

    whole: bytes  # a counter's or gauge's label entries, ``__name__`` included
    head: bytes  # a histogram's labels sorting before __name__
    middle: bytes  # between __name__ and le
    tail: bytes  # from le on
    name: str
    labels: Labels
    bounds: tuple[float, ...]


@functools.lru_cache(maxsize=1024)
def _name(name: str) -> bytes:
    return wire.label("__name__", name)


@functools.lru_cache(maxsize=256)
def _le(bound: float) -> bytes:
    return wire.label("le", format_bound(float(bound)))


_LE_INF = wire.label("le", "+Inf")


def _page_value(value: float) -> float:
    """The value the scrape page shows: the official plugin prints non-finite values as 0."""
    return value if math.isfinite(value) else 0.0


class Collector:
    """Turns the store and the self-metrics registry into remote-write samples, remembering what it sent.

    Series are remembered by identity (hashing label tuples would cost more than encoding the sample)."""

    def __init__(self, store: Store, registry: Registry | None, identity: Identity) -> None:
        self.store = store
        self.registry = registry
        self.identity = identity
        self._extra = identity.extra()
        self._sent: dict[Series, _Sent] = {}
        self._own_sent: dict[tuple[str, Labels], bytes] = {}
        self._last_ms = 0
        self.metadata: list[bytes] = []  # of the last complete collection

    def collect(self, now: float) -> list[bytes]:
        """A whole collection at once (tests, the final flush)."""
        return [entry for part in self.parts(now) for entry in part]

    def parts(self, now: float) -> Iterator[list[bytes]]:
        """The collection at ``now`` in slices (empty ones while the store settles); stale markers come last."""
        timestamp = max(int(now * 1000), self._last_ms + 1)  # a later collection never reuses a timestamp
        self._last_ms = timestamp
        stamp = wire.Stamp(timestamp)
        for _ in self.store.settle_steps():
            yield []
        seen: set[Series] = set()
        metadata: list[bytes] = []
        for family in list(self.store.ordered_families()):
            if family.series:
                metadata.append(_family_metadata(family))
                yield from self._family(family, stamp, seen)
        own_seen: set[tuple[str, Labels]] = set()
        if self.registry is not None:
            yield self._own(stamp, own_seen, metadata)
        yield self._stale(stamp, seen, own_seen)
        self.metadata = metadata

    def _family(self, family: Family, stamp: wire.Stamp, seen: set[Series]) -> Iterator[list[bytes]]:
        name = family.info.name
        histograms = family.info.kind is Kind.HISTOGRAM
        per_part = HISTOGRAMS_PER_PART if histograms else SERIES_PER_PART
        members = list(family.series.values())
        sent = self._sent
        encode = stamp.series
        for start in range(0, len(members), per_part):
            out: list[bytes] = []
            chunk = members[start : start + per_part]
            seen.update(chunk)
            for series in chunk:
                known = sent.get(series)
                if isinstance(series, ScalarSeries):
                    if known is None:
                        known = sent[series] = self._encode(name, series.labels, None)
                    out.append(encode(known.whole, _page_value(series.value)))
                else:
                    assert isinstance(series, HistogramSeries)
                    if known is None or known.bounds != series.bounds:
                        known = sent[series] = self._encode(name, series.labels, series.bounds)
                    _histogram(out, known, series, stamp)
            yield out

    def _encode(self, name: str, labels: Labels, bounds: tuple[float, ...] | None) -> _Sent:
        """``bounds`` None for a counter or gauge."""
        reserved = ("__name__",) if bounds is None else ("__name__", "le")
        chosen: dict[str, str] = {}
        for label_name, value in (*labels, *self._extra):
            if value and label_name not in chosen and label_name not in reserved:
                chosen[label_name] = value
        if bounds is None:
            chosen["__name__"] = name
            return _Sent(wire.labels(chosen.items()), b"", b"", b"", name, labels, ())
        ordered = sorted(chosen)
        head = b"".join(wire.label(n, chosen[n]) for n in ordered if n < "__name__")
        middle = b"".join(wire.label(n, chosen[n]) for n in ordered if "__name__" < n < "le")
        tail = b"".join(wire.label(n, chosen[n]) for n in ordered if n >= "le")
        return _Sent(b"", head, middle, tail, name, labels, bounds)

    def _own(self, stamp: wire.Stamp, seen: set[tuple[str, Labels]], metadata: list[bytes]) -> list[bytes]:
        """The self-metrics as the page shows them (prometheus_client's samples, names and labels)."""
        assert self.registry is not None
        out: list[bytes] = []
        sent = self._own_sent
        for metric in self.registry.collect():
            family = metric.name + _OWN_SUFFIX.get(metric.type, "")
            kind = _OWN_TYPES.get(metric.type, wire.MetricType.UNKNOWN)
            metadata.append(wire.metadata(kind, family, metric.documentation, metric.unit))
            for sample in metric.samples:
                labels = tuple(sorted(sample.labels.items()))
                key = (sample.name, labels)
                seen.add(key)
                encoded = sent.get(key)
                if encoded is None:
                    encoded = sent[key] = wire.labels((("__name__", sample.name), *labels, *self._extra))
                out.append(stamp.series(encoded, sample.value))
        return out

    def _stale(self, stamp: wire.Stamp, seen: set[Series], own_seen: set[tuple[str, Labels]]) -> list[bytes]:
        """One stale marker for every sample of every series sent before and not seen in this collection (unless a
        new series with the same labels has taken its place)."""
        gone = [self._sent.pop(series) for series in [series for series in self._sent if series not in seen]]
        families = self.store.families
        entries = [
            entry
            for known in gone
            if known.labels not in getattr(families.get(known.name), "series", ())
            for entry in _sample_labels(known)
        ]
        entries += [self._own_sent.pop(key) for key in [key for key in self._own_sent if key not in own_seen]]
        return [stamp.series(entry, wire.STALE_NAN) for entry in entries]


def _sample_labels(known: _Sent) -> list[bytes]:
    """The label entries of a series' samples; a histogram's: each bucket, ``+Inf``, ``_sum``, ``_count``."""
    if known.whole:
        return [known.whole]
    head, middle, tail, name = known.head, known.middle, known.tail, known.name
    bucket = head + _name(name + "_bucket") + middle
    return [
        *(bucket + _le(bound) + tail for bound in known.bounds),
        bucket + _LE_INF + tail,
        head + _name(name + "_sum") + middle + tail,
        head + _name(name + "_count") + middle + tail,
    ]


def _histogram(out: list[bytes], known: _Sent, series: HistogramSeries, stamp: wire.Stamp) -> None:
    """A histogram's samples with the values the text page prints (cumulative buckets, ``+Inf`` = count)."""
    values: list[float] = []
    cumulative = 0.0
    for count in series.counts[: len(series.bounds)]:
        cumulative += count
        values.append(cumulative)
    total = _page_value(series.count)
    values += (total, _page_value(series.sum), total)
    for entry, value in zip(_sample_labels(known), values, strict=True):
        out.append(stamp.series(entry, _page_value(value)))


def _family_metadata(family: Family) -> bytes:
    info = family.info
    return wire.metadata(_METRIC_TYPES.get(info.kind, wire.MetricType.HISTOGRAM), info.name, info.help, info.unit)
