"""One entry point per signal: decoded request in, store updated, ``IngestResult`` out."""

from __future__ import annotations

from collections.abc import Generator

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otlp_bridge.config import Config
from otlp_bridge.receive.codec import ExportRequest
from otlp_bridge.store import Store
from otlp_bridge.translate.events import LogTranslator, SpanTranslator
from otlp_bridge.translate.metrics import NOT_TRIED, MetricsTranslator, NotTried, Taken, TranslateOptions
from otlp_bridge.translate.result import IngestResult


class SignalTranslators:
    def __init__(self, store: Store, config: Config, reserved_names: frozenset[str] = frozenset()) -> None:
        """``reserved_names``: the bridge's own families, which no translated family may take."""
        options = TranslateOptions(
            metric_name_prefix=config.metric_name_prefix,
            spans_complete=config.spans_complete,
            source_label=config.source_label,
            source_attributes=config.source_attributes,
            max_streams=config.max_streams,
            reserved_names=reserved_names,
        )
        self.metrics = MetricsTranslator(store, options)
        self.spans = SpanTranslator(store, self.metrics, config.spans_complete)
        self.logs = LogTranslator(store, self.metrics)

    def apply(
        self,
        message: ExportRequest,
        now: float,
        body: bytes | None = None,
        resume: Taken | NotTried | None = NOT_TRIED,
    ) -> IngestResult:
        """``body``: the protobuf ``message`` was decoded from, when it was protobuf; ``resume``: what
        ``MetricsTranslator.apply_export`` took of it."""
        if isinstance(message, ExportMetricsServiceRequest):
            return self.metrics.apply(message, now, body, resume)
        if isinstance(message, ExportLogsServiceRequest):
            return self.logs.apply(message, now)
        return self.spans.apply(message, now)

    def expire(self, now: float) -> int:
        return self.metrics.expire(now)

    def expire_steps(self, now: float) -> Generator[None, None, int]:
        """``expire`` in slices (see ``MetricsTranslator.expire_steps``)."""
        return self.metrics.expire_steps(now)
