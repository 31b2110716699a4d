"""One entry point per signal: decoded request in, store updated, ``IngestResult`` out."""

from __future__ import annotations

from typing import Any

from otlp_bridge.config import Config
from otlp_bridge.receive.codec import Signal
from otlp_bridge.store import Store
from otlp_bridge.translate.events import LogTranslator, SpanTranslator
from otlp_bridge.translate.metrics import IngestResult, MetricsTranslator, TranslateOptions


class SignalTranslators:
    def __init__(self, store: Store, config: Config) -> None:
        options = TranslateOptions(
            metric_name_prefix=config.metric_name_prefix,
            spans_complete=config.spans_complete,
            source_label=config.source_label,
            source_attributes=config.source_attributes,
            max_streams=config.max_streams,
        )
        self.metrics = MetricsTranslator(store, options)
        self.spans = SpanTranslator(store, self.metrics, config.spans_complete)
        self.logs = LogTranslator(store, self.metrics)

    def apply(self, signal: Signal, message: Any, now: float, body: bytes | None = None) -> IngestResult:
        """``body``: the protobuf ``message`` was decoded from, when it was protobuf."""
        if signal is Signal.METRICS:
            return self.metrics.apply(message, now, body)
        if signal is Signal.TRACES:
            return self.spans.apply(message, now)
        return self.logs.apply(message, now)

    def expire(self, now: float) -> int:
        return self.metrics.expire(now)
