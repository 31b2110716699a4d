"""Spans and log records → counters, histograms and gauges, one event at a time.

Spans give what OpenClaw's metrics cannot: ``trigger`` on runs, ``reason`` on processed messages, exact bucket
placement, the liveness session gauges. Logs give the provider failures (HTTP 500/429) that no metric carries.
Content never becomes a label: only the attributes the specs name are read, through the label normaliser.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otlp_bridge.bounded import BoundedDict
from otlp_bridge.store import HistogramSeries, Kind, Labels, ScalarSeries, Series, Store
from otlp_bridge.translate.attributes import attribute_dict
from otlp_bridge.translate.labels import label_pair, normalize_value
from otlp_bridge.translate.mapping import LOG_SPECS, SPAN_SPECS, SPANS_COMPLETE_SPECS, FamilySpec, Value
from otlp_bridge.translate.metrics import MetricsTranslator
from otlp_bridge.translate.result import IngestResult, Reason, Rejection
from otlp_bridge.translate.rules import lookup, refusal
from otlp_bridge.translate.senders import sender_id

SEEN_SPANS = 65536  # span ids remembered, so a re-sent batch is not counted twice
HARNESS_RUN = "openclaw.harness.run"
_SEVERITIES = (
    (SeverityNumber.SEVERITY_NUMBER_FATAL, "fatal"),
    (SeverityNumber.SEVERITY_NUMBER_ERROR, "error"),
    (SeverityNumber.SEVERITY_NUMBER_WARN, "warn"),
    (SeverityNumber.SEVERITY_NUMBER_INFO, "info"),
    (SeverityNumber.SEVERITY_NUMBER_DEBUG, "debug"),
    (SeverityNumber.SEVERITY_NUMBER_TRACE, "trace"),
)


def severity_word(number: int, text: str) -> str:
    """OTLP severity number → ``trace``…``fatal``; the text only when the number is unset."""
    for floor, word in _SEVERITIES:
        if number >= floor:
            return word
    return normalize_value(text.lower(), "unspecified") if text else "unspecified"


class EventFeeder:
    """Applies event specs to a store; shared by spans and logs."""

    def __init__(self, store: Store, sources: MetricsTranslator) -> None:
        self.store = store
        self.sources = sources

    def source_labels(self, resource: Resource, result: IngestResult) -> Labels:
        """The source labels of a resource's spans or log records (its source noted in ``result``)."""
        serialised = resource.SerializeToString()
        source = self.sources.source_name(sender_id(serialised), serialised)
        result.sources.add(source)
        label = self.sources.options.source_label
        return (label_pair(label, source),) if label else ()

    def feed(
        self,
        spec: FamilySpec,
        attributes: dict[str, str],
        extra: Labels,
        value: float,
        now: float,
        exemplar: tuple[str, float] | None = None,
    ) -> Reason | None:
        """Feed one family; None when it took the event, else why it refused it."""
        series = lookup(self.store, spec, spec.labels_for(attributes), extra, now, now)
        if not isinstance(series, Series):
            return refusal(series)
        series.last_seen = now
        if isinstance(series, HistogramSeries):
            series.observe(spec.bounds, value, exemplar)
        elif isinstance(series, ScalarSeries):
            if spec.kind is Kind.GAUGE:
                series.set(value)
            else:
                series.add(1.0)
        return None


class SpanTranslator:
    def __init__(self, store: Store, sources: MetricsTranslator, spans_complete: bool) -> None:
        self.feeder = EventFeeder(store, sources)
        by_name: dict[str, list[FamilySpec]] = {}
        for spec in (*SPAN_SPECS, *(SPANS_COMPLETE_SPECS if spans_complete else ())):
            by_name.setdefault(spec.source, []).append(spec)
        self.generic = tuple(by_name.pop("*", ()))
        self.by_name = {name: tuple(specs) for name, specs in by_name.items()}
        self.seen: BoundedDict[bytes, None] = BoundedDict(SEEN_SPANS)

    def apply(self, request: ExportTraceServiceRequest, now: float) -> IngestResult:
        result = IngestResult()
        for block in request.resource_spans:
            extra = self.feeder.source_labels(block.resource, result)
            for scope in block.scope_spans:
                for span in scope.spans:
                    result.tally(self._span(span, extra, now))
        return result

    def _span(self, span: Span, extra: Labels, now: float) -> Reason | None:
        """Apply one span; None when it was taken, else why it was refused (once, however many families)."""
        name = span.name
        if not name.startswith("openclaw."):
            return None  # accepted, nothing to derive from a foreign span
        if span.end_time_unix_nano < span.start_time_unix_nano:
            return Rejection.INVALID
        if self._seen_before(span):
            return None  # a re-sent batch
        attributes = attribute_dict(span.attributes)
        if name == HARNESS_RUN and "openclaw.outcome" not in attributes:
            return None  # the lifecycle span OpenClaw emits around each harness run: counted once, via its child
        error = span.status.code == Status.STATUS_CODE_ERROR or "openclaw.errorCategory" in attributes
        attributes["span.name"] = name
        attributes["span.outcome"] = "error" if error else "completed"
        if error:
            attributes["span.error_category"] = attributes.get("openclaw.errorCategory", "other")
        duration = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e9
        exemplar = (span.trace_id.hex(), span.end_time_unix_nano / 1e9) if len(span.trace_id) == 16 else None
        refused: Reason | None = None
        for spec in (*self.generic, *self.by_name.get(name, ())):
            if spec.select is not None and not spec.select(attributes):
                continue
            if spec.attribute:
                raw = attributes.get(spec.attribute)
                if raw is None:
                    continue
                try:
                    value = float(raw) / spec.divisor
                except ValueError:
                    continue
                reason = self.feeder.feed(spec, attributes, extra, value, now)
            else:
                sample = exemplar if spec.value is Value.HISTOGRAM else None
                reason = self.feeder.feed(spec, attributes, extra, duration, now, sample)
            refused = refused or reason
        return refused

    def _seen_before(self, span: Span) -> bool:
        """Whether a span with this trace and span id was taken already (of the last ``SEEN_SPANS``)."""
        if not span.span_id:
            return False
        key = bytes(span.trace_id) + bytes(span.span_id)
        if key in self.seen:
            return True
        self.seen[key] = None
        return False


class LogTranslator:
    def __init__(self, store: Store, sources: MetricsTranslator) -> None:
        self.feeder = EventFeeder(store, sources)
        self.generic = tuple(spec for spec in LOG_SPECS if spec.source == "*")
        self.by_event = {spec.source: spec for spec in LOG_SPECS if spec.source != "*"}

    def apply(self, request: ExportLogsServiceRequest, now: float) -> IngestResult:
        result = IngestResult()
        for block in request.resource_logs:
            extra = self.feeder.source_labels(block.resource, result)
            for scope in block.scope_logs:
                for record in scope.log_records:
                    result.tally(self._record(record, extra, now))
        return result

    def _record(self, record: LogRecord, extra: Labels, now: float) -> Reason | None:
        attributes = attribute_dict(record.attributes)
        attributes["log.severity"] = severity_word(record.severity_number, record.severity_text)
        subsystem = attributes.get("openclaw.subsystem")
        if subsystem is not None:
            attributes["log.subsystem"] = subsystem.replace("/", ".")
        specs: Iterable[FamilySpec] = self.generic
        event_spec = self.by_event.get(attributes.get("openclaw.event", ""))
        if event_spec is not None:
            specs = (*self.generic, event_spec)
        refused: Reason | None = None
        for spec in specs:
            if spec.select is None or spec.select(attributes):
                reason = self.feeder.feed(spec, attributes, extra, 1.0, now)
                refused = refused or reason
        return refused
