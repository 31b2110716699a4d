"""One entry point per signal: decoded request in, store updated, ``IngestResult`` out."""

from __future__ import annotations

from typing import Any

from otlp_bridge.codec import Signal
from otlp_bridge.config import Config
from otlp_bridge.store import Store
from otlp_bridge.translate import IngestResult, MetricsTranslator, TranslateOptions


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

    def apply(self, signal: Signal, message: Any, now: float) -> IngestResult:
        if signal is Signal.METRICS:
            return self.metrics.apply(message, now)
        return self._count_only(signal, message)

    def _count_only(self, signal: Signal, message: Any) -> IngestResult:
        result = IngestResult()
        if signal is Signal.TRACES:
            for resource_spans in message.resource_spans:
                result.sources.add(
                    self.metrics.source_name(resource_spans.resource, resource_spans.resource.SerializeToString())
                )
                result.accepted += sum(len(scope.spans) for scope in resource_spans.scope_spans)
        else:
            for resource_logs in message.resource_logs:
                result.sources.add(
                    self.metrics.source_name(resource_logs.resource, resource_logs.resource.SerializeToString())
                )
                result.accepted += sum(len(scope.log_records) for scope in resource_logs.scope_logs)
        return result

    def expire(self, now: float) -> int:
        return self.metrics.expire(now)
