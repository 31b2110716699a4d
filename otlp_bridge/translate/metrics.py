"""Metrics translation: an ``ExportMetricsServiceRequest`` → increments of ``openclaw_*`` series.

A sender's export that repeats its previous one but for the values takes the whole-export path before it is even
decoded (``apply_export``; ``otlp_bridge.translate.exports``). Otherwise, once decoded, each metric takes the fast
path (``otlp_bridge.translate.fast``: the same streams in the same bytes as its previous export, values kept until
the store is read) or the general path (``otlp_bridge.translate.general``: every point walked); both apply points
through one set of per-point rules (``otlp_bridge.translate.rules``). A request the whole-export path took only in
part is resumed there, metric by metric. This module routes, names the sources, settles before a read and expires
idle state.

Pure and synchronous; ``now`` is passed in.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Generator, Iterator
from typing import NamedTuple, TypeVar

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from otlp_bridge.bounded import BoundedDict
from otlp_bridge.store import Labels, Series, Store
from otlp_bridge.translate import fast, wire
from otlp_bridge.translate.attributes import attribute_dict
from otlp_bridge.translate.exports import KnownExport, export_key, known_export
from otlp_bridge.translate.fast import KnownMetric
from otlp_bridge.translate.general import OPENCLAW_SCOPE, GeneralPath, StreamKey, known_prefix
from otlp_bridge.translate.labels import label_pair, normalized_value
from otlp_bridge.translate.mapping import METRIC_SPECS, specs_by_metric
from otlp_bridge.translate.result import IngestResult, TranslateOptions
from otlp_bridge.translate.rules import Rules
from otlp_bridge.translate.senders import ExportSender, identify, sender_id

__all__ = ["IngestResult", "MetricsTranslator", "Taken", "TranslateOptions", "sender_prefix", "source_name"]

SEMCONV_PREFIX = "gen_ai."  # OpenClaw metrics named by the semantic conventions, never prefixed


def source_name(resource: bytes, source_attributes: tuple[str, ...]) -> str:
    """The source a serialised resource belongs to: the values of ``source_attributes`` joined by ``:``."""
    attributes = attribute_dict(Resource.FromString(resource).attributes)
    values = [attributes[key] for key in source_attributes if key in attributes]
    return normalized_value(":".join(values), "unknown")


KnownKey = tuple[bytes, str, str]  # a known metric's: its sender's id (``senders.sender_id``), scope and name
MetricKey = tuple[str, str]  # a known metric's scope and name


class SenderMetrics:
    """A sender's known metrics, in the order they became known, and where each is by scope and name: an index one
    object for every sender whose metrics became known in the same order (a fleet of like gateways). A tuple, made
    anew when they change: its export (``KnownExport.knowns``) holds the same one."""

    __slots__ = ("index", "knowns")

    def __init__(self) -> None:
        self.index: dict[MetricKey, int] = _index(())
        self.knowns: tuple[KnownMetric, ...] = ()

    def get(self, key: MetricKey) -> KnownMetric | None:
        at = self.index.get(key)
        return None if at is None else self.knowns[at]

    def put(self, key: MetricKey, known: KnownMetric) -> bool:
        """Keep ``known`` under ``key``; whether the key is new."""
        at = self.index.get(key)
        if at is not None:
            self.knowns = (*self.knowns[:at], known, *self.knowns[at + 1 :])
            return False
        self.index = _index((*self.index, key))
        self.knowns = (*self.knowns, known)
        return True

    def remove(self, key: MetricKey) -> None:
        at = self.index[key]
        self.knowns = self.knowns[:at] + self.knowns[at + 1 :]
        self.index = _index(tuple(other for other in self.index if other != key))

    def items(self) -> Iterator[tuple[MetricKey, KnownMetric]]:
        return zip(self.index, self.knowns, strict=True)


@functools.lru_cache(maxsize=4096)
def _index(keys: tuple[MetricKey, ...]) -> dict[MetricKey, int]:
    """Where each key is in a list of them (one object per distinct list: never changed in place)."""
    return {key: at for at, key in enumerate(keys)}


class KnownTable:
    """The known metrics of a translator by their key (sender id, scope, name), as a mapping. Kept by sender
    (``SenderMetrics``): a sender's metrics cost no key or table of their own."""

    __slots__ = ("count", "senders")

    def __init__(self) -> None:
        self.senders: dict[bytes, SenderMetrics] = {}
        self.count = 0

    def get(self, key: KnownKey) -> KnownMetric | None:
        metrics = self.senders.get(key[0])
        return None if metrics is None else metrics.get((key[1], key[2]))

    def __setitem__(self, key: KnownKey, known: KnownMetric) -> None:
        metrics = self.senders.get(key[0])
        if metrics is None:
            metrics = self.senders[key[0]] = SenderMetrics()
        self.count += metrics.put((key[1], key[2]), known)

    def __delitem__(self, key: KnownKey) -> None:
        metrics = self.senders[key[0]]
        metrics.remove((key[1], key[2]))
        self.count -= 1
        if not metrics.knowns:
            del self.senders[key[0]]

    def __len__(self) -> int:
        return self.count

    def items(self) -> Iterator[tuple[KnownKey, KnownMetric]]:
        for sender, metrics in self.senders.items():
            for (scope, name), known in metrics.items():
                yield (sender, scope, name), known

    def __iter__(self) -> Iterator[KnownKey]:
        return (key for key, _ in self.items())

    def values(self) -> Iterator[KnownMetric]:
        for metrics in self.senders.values():
            yield from metrics.knowns

    def clear(self) -> None:
        self.senders.clear()
        self.count = 0


class NotTried:
    """``apply``'s default ``resume``: the whole-export path was not tried yet."""


NOT_TRIED = NotTried()


def _temporality(known: KnownMetric) -> str:
    return "cumulative" if known.shape.cumulative else "delta"


class MetricsTranslator:
    """Routes a sender's whole export, or each metric of a request, to the fast or the general path; writes into a
    ``Store``."""

    def __init__(self, store: Store, options: TranslateOptions) -> None:
        self.store = store
        self.options = options
        self.rules = Rules(store)
        self.general = GeneralPath(
            self.rules, specs_by_metric(options.metric_name_prefix, options.spans_complete), options
        )
        self.streams = self.general.streams  # (but those that known metrics hold: ``tracked_streams``)
        self.tracked_streams = TrackedStreams(self)
        self.known = KnownTable()
        # The whole-export path: each sender's export by the bytes before its first metric, and the key of its export
        # by the id of each of its senders (read metric by metric, a sender's export is forgotten: its metrics move
        # apart).
        self.exports: dict[int, KnownExport] = {}
        self.export_keys: dict[bytes, int] = {}
        # When each sender (by id) last sent a request: its delta streams live as long as it does.
        self.heard: BoundedDict[bytes, float] = BoundedDict(options.max_streams)
        self.sources: BoundedDict[bytes, str] = BoundedDict(SOURCE_NAMES)  # each sender's source, by its id
        store.add_settler(self.settle_steps)

    def source_name(self, sender: bytes, resource: bytes) -> str:
        """The source of a sender (``--source-attributes``), its serialised ``resource`` read once."""
        name = self.sources.get(sender)
        if name is None:
            name = self.sources[sender] = source_name(resource, self.options.source_attributes)
        return name

    # -- the request ----------------------------------------------------------------------------------------
    def apply_export(self, body: bytes, now: float) -> Taken | None:
        """The whole-export path (``otlp_bridge.translate.exports``) alone, before a request is decoded: None when
        ``body`` is not its sender's known export in new values (decode it and ``apply``); else what it took, all
        of it (``complete``) or its metrics up to one that goes the general way (decode and ``apply`` with
        ``resume``)."""
        key = export_key(body)
        record = self.exports.get(key) if key is not None else None
        if key is None or record is None or not record.matches(body):
            return None
        result = IngestResult()
        took = record.take(body, now)
        result.accepted += took.points
        for known, woken in took.woke:
            fast.wake(known, woken, self.rules, now, result)
        if took.metrics < len(record.knowns):
            self._forget_export(key)  # read metric by metric from here on
            return Taken(result, took.metrics, complete=False)
        for sender in record.senders:
            self.heard[sender.id] = now
        result.sources.update(record.sources)
        result.unprefixed = record.unprefixed
        result.senders = record.senders
        return Taken(result, took.metrics, complete=True)

    def apply(
        self,
        request: ExportMetricsServiceRequest,
        now: float,
        body: bytes | None = None,
        resume: Taken | NotTried | None = NOT_TRIED,
    ) -> IngestResult:
        """Translate a decoded request; ``body``, the protobuf it was decoded from, lets a sender's export take the
        whole-export path and spares re-encoding each metric. ``resume``: what ``apply_export`` took of it, when the
        caller tried it."""
        if isinstance(resume, NotTried):
            resume = self.apply_export(body, now) if body is not None else None
        if resume is None:
            return self._apply_decoded(request, now, body, IngestResult(), 0)
        if resume.complete:
            return resume.result
        return self._apply_decoded(request, now, body, resume.result, resume.metrics)

    def _apply_decoded(
        self, request: ExportMetricsServiceRequest, now: float, body: bytes | None, result: IngestResult, taken: int
    ) -> IngestResult:
        """Route each metric of a decoded request but the first ``taken`` (the whole-export path took those)."""
        spans = _metric_spans(request, body)
        index = 0
        prefix = self.options.metric_name_prefix
        prefixed = False
        unprefixed = ""
        knowns: list[tuple[KnownKey, KnownMetric] | None] = []
        resources = []
        for resource_metrics in request.resource_metrics:
            resource = resource_metrics.resource.SerializeToString()
            sender = sender_id(resource)
            source = self._heard_from(sender, resource, now, result)
            resources.append(DecodedResource(sender, resource_metrics.resource, source, index))
            label = self.options.source_label
            extra = (label_pair(label, source),) if label else ()
            for scope_metrics in resource_metrics.scope_metrics:
                scope = sys.intern(scope_metrics.scope.name)
                for metric in scope_metrics.metrics:
                    if scope == OPENCLAW_SCOPE:
                        name = metric.name
                        if name.startswith(prefix):
                            prefixed = True
                        elif not name.startswith(SEMCONV_PREFIX):
                            unprefixed = name
                    if index >= taken:
                        raw = body[slice(*spans[index])] if spans is not None and body is not None else None
                        knowns.append(self._metric(metric, raw, scope, sender, extra, now, result))
                    index += 1
        if not prefixed:
            result.unprefixed = unprefixed
        if body is not None and spans is not None and not taken and index:
            self._remember_export(body, spans, knowns, resources, result.unprefixed)
        return result

    def _heard_from(self, sender: bytes, resource: bytes, now: float, result: IngestResult) -> str:
        """Note a sender of a request read metric by metric (its export, if remembered, is forgotten: its metrics
        are about to move apart); its source."""
        record_key = self.export_keys.get(sender)
        if record_key is not None:
            self._forget_export(record_key)
        self.heard[sender] = now
        source = self.source_name(sender, resource)
        result.sources.add(source)
        return source

    def _remember_export(
        self,
        body: bytes,
        spans: list[tuple[int, int]],
        knowns: list[tuple[KnownKey, KnownMetric] | None],
        resources: list[DecodedResource],
        unprefixed: str,
    ) -> None:
        """Keep a sender's export whose every metric the fast path knows, for the whole-export path: only when each
        metric has a key of its own (a name sent twice in one export leaves a known metric that the table no longer
        holds, which nothing would settle) and is still its key's known metric. ``resources``: each sender's id and
        resource, its source and the index of its first metric."""
        entries = [entry for entry in knowns if entry is not None]
        if len(entries) != len(knowns) or len({key for key, _ in entries}) != len(entries):
            return
        if any(self.known.get(key) is not known for key, known in entries):
            return
        record_key = export_key(body)
        if record_key is None or len(self.exports) >= self.options.max_streams:
            return
        metrics = tuple(known for _, known in entries)
        own = self.known.senders[resources[0].sender].knowns if len(resources) == 1 else None
        if own == metrics:
            metrics = own  # (one tuple for the sender's known metrics and its export)
        firsts = [resource.first for resource in resources] + [len(metrics)]
        senders = tuple(  # each resource's temporality as ``status`` reads it: that of its first metric
            ExportSender(
                resource.sender,
                identify(resource.resource),
                _temporality(metrics[resource.first]) if resource.first < firsts[number + 1] else "",
            )
            for number, resource in enumerate(resources)
        )
        self._forget_export(record_key)
        record = self.exports[record_key] = known_export(body, spans, metrics, senders)
        record.unprefixed = unprefixed
        record.sources = tuple(resource.source for resource in resources)  # (named once)
        for sender in senders:
            self.export_keys[sender.id] = record_key

    def _forget_export(self, record_key: int) -> None:
        """Drop a sender's export, and its key under each of its resources."""
        record = self.exports.pop(record_key, None)
        if record is None:
            return
        for sender in record.senders:
            if self.export_keys.get(sender.id) == record_key:
                del self.export_keys[sender.id]

    def _metric(
        self,
        metric: Metric,
        raw: bytes | None,
        scope: str,
        sender: bytes,
        extra: Labels,
        now: float,
        result: IngestResult,
    ) -> tuple[KnownKey, KnownMetric] | None:
        """Route one metric; its key and known metric for the next export, if it has one."""
        raw = raw if raw is not None else metric.SerializeToString()
        key = (sender, scope, sys.intern(metric.name))  # (one name object for every sender)
        known = self.known.get(key)
        if known is not None:
            woken = known.take(raw, now)
            if woken is not None:
                result.accepted += known.shape.layout.points
                if woken:
                    fast.wake(known, woken, self.rules, now, result)
                return key, known
            self._drop(key, known)  # what it kept comes before this export
        known = self.general.translate(metric, raw, sender, scope, extra, now, result)
        if known is not None:  # (it holds streams, which the stream cap counts: no cap of its own)
            self.known[key] = known
            if self.known.get(key) is known:  # (the tests' reference translator keeps none)
                self.general.hold(known_prefix(*key, known), known)
        return (key, known) if known is not None else None

    def _drop(self, key: KnownKey, known: KnownMetric) -> None:
        """A known metric goes: what it kept is settled, and its streams go back to the table."""
        self._settle(known)
        del self.known[key]
        self.general.release(known_prefix(*key, known), known)

    def stream_keys(self) -> Iterator[StreamKey]:
        """The key of every tracked stream: in the table, then held by known metrics."""
        yield from self.streams
        for key, known in self.known.items():
            prefix = known_prefix(*key, known)
            for attributes in known.shape.attributes:
                yield prefix, attributes

    # -- settling -------------------------------------------------------------------------------------------
    def settle(self) -> None:
        """Apply what the fast path kept to the series."""
        for _ in self.settle_steps():
            pass

    def settle_steps(self) -> Iterator[None]:
        """``settle``, one known metric at a time (the store runs this before it is read). Metrics taken or added
        between steps are settled by the next read."""
        for known in list(self.known.values()):
            if known.unsettled:
                self._settle(known)
                yield

    def _settle(self, known: KnownMetric) -> None:
        fast.settle(known, self.rules)

    # -- expiry ---------------------------------------------------------------------------------------------
    def expire(self, now: float) -> int:
        """Drop stream state idle for the series TTL, then the series themselves; how many series went."""
        return drained(self.expire_steps(now))

    def expire_steps(self, now: float) -> Generator[None, None, int]:
        """``expire`` in slices of ``EXPIRY_SLICE`` entries (the caller lets requests in between).

        The fast paths do not visit streams, so liveness flows here: known metric → its streams → their series.
        A delta stream also lives while its sender sends any metric: a delta exporter (the OpenTelemetry SDKs) sends
        no point for a counter that did not move, and its running total must not go while the sender lives.
        What arrives between slices only makes state fresher: each entry is judged by what it is when visited."""
        cutoff = now - self.store.ttl
        self.settle()
        heard = self.heard
        for sender, when in list(heard.items()):
            if when < cutoff:
                del heard[sender]
        # Exports before their metrics: a sender heard in a pause after its known metrics were dropped must find no
        # export (its request is decoded, and the general path revives its streams), not feed dropped ones.
        yield from self._expire_exports(cutoff)
        yield from self._expire_known(cutoff)
        yield from self._expire_streams(cutoff)
        return self.store.expire(now)

    def _expire_known(self, cutoff: float) -> Iterator[None]:
        for number, (key, known) in enumerate(list(self.known.items()), 1):
            if number % EXPIRY_SLICE == 0:
                yield
            if self.known.get(key) is not known:
                continue  # replaced since
            if known.last_seen < cutoff:
                self._drop(key, known)  # its streams go by the same rules as all others
                continue
            for targets in known.shape.targets:
                for target in targets:
                    series = target.series
                    if isinstance(series, Series) and series.last_seen < known.last_seen:
                        series.last_seen = known.last_seen

    def _expire_exports(self, cutoff: float) -> Iterator[None]:
        """A sender's export goes with the first of its metrics that goes."""
        for number, (key, record) in enumerate(list(self.exports.items()), 1):
            if number % EXPIRY_SLICE == 0:
                yield
            if self.exports.get(key) is record and any(known.last_seen < cutoff for known in record.knowns):
                self._forget_export(key)

    def _expire_streams(self, cutoff: float) -> Iterator[None]:
        heard = self.heard
        for number, (stream_key, stream) in enumerate(list(self.streams.items()), 1):
            if number % EXPIRY_SLICE == 0:
                yield
            if stream.delta:
                stream.last_seen = max(stream.last_seen, heard.get(stream_key[0][0], stream.last_seen))
            if stream.last_seen < cutoff:
                if self.streams.get(stream_key) is stream:
                    del self.streams[stream_key]
                continue
            for target in stream.targets:
                series = target.series
                if isinstance(series, Series) and series.last_seen < stream.last_seen:
                    series.last_seen = stream.last_seen


Result = TypeVar("Result")


def drained(steps: Generator[None, None, Result]) -> Result:
    """Run a generator of steps (``expire_steps``) to its end at once; what it returns."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            value: Result = done.value
            return value


EXPIRY_SLICE = 2_000  # entries visited between two pauses of ``expire_steps`` (about a millisecond)
# Source names kept by sender id: a fleet's decoded requests (a delta fleet's, whose exports leave out the metrics that
# did not move) would otherwise parse their resources again.
SOURCE_NAMES = 65_536


class TrackedStreams:
    """How many streams a translator tracks (``len``): those of its table and those its known metrics hold."""

    __slots__ = ("translator",)

    def __init__(self, translator: MetricsTranslator) -> None:
        self.translator = translator

    def __len__(self) -> int:
        general = self.translator.general
        return len(general.streams) + general.held


class DecodedResource(NamedTuple):
    """A resource of a decoded request, as a known export remembers its senders: its sender's id, the resource, its
    source, and the index of its first metric in the request."""

    sender: bytes
    resource: Resource
    source: str
    first: int


class Taken(NamedTuple):
    """What the whole-export path took of a request: its answer so far, and how many of its metrics."""

    result: IngestResult
    metrics: int
    complete: bool


def _metric_spans(request: ExportMetricsServiceRequest, body: bytes | None) -> list[tuple[int, int]] | None:
    """Where each metric of ``request`` lies in ``body`` (None without a body, or when they do not match)."""
    spans = wire.metric_spans(body) if body is not None else None
    if spans is None or len(spans) != sum(
        len(scope.metrics) for resource in request.resource_metrics for scope in resource.scope_metrics
    ):
        return None
    return spans


def sender_prefix(name: str) -> str | None:
    """The ``metricNamePrefix`` an OpenClaw metric was most likely sent with (None when its name is unknown)."""
    sources = (spec.source for spec in METRIC_SPECS if not spec.source.startswith(SEMCONV_PREFIX))
    known = [source for source in sources if name.endswith(source)]
    return name[: -len(max(known, key=len))] if known else None
