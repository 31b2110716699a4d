"""Spans and logs: trigger/reason from spans, no double counting, provider failures from logs, no content in labels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from otlp_bridge.config import Config
from otlp_bridge.expose.exposition import Format, render
from otlp_bridge.receive.codec import Encoding, Signal, decode_request
from otlp_bridge.store import Store
from otlp_bridge.translate.events import severity_word
from otlp_bridge.translate.labels import LABEL_VALUE_PATTERN
from otlp_bridge.translate.signals import SignalTranslators
from tests.conftest import SCRAPES, require_fixtures
from tests.support import (
    SCRAPES_03A,
    AttributeValue,
    captured_requests,
    histogram_metric,
    key_values,
    metrics_request,
    scrape_time,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples_of(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def replay(
    folder: str, *, spans_complete: bool, metrics_until: float | None = None, spans_until: float | None = None
) -> Store:
    """Replay a capture. ``metrics_until``: the metric bodies before it and the first one at or after it (the export
    that carries an event happens within one interval); ``spans_until``: only the spans that ended before it
    (spans reach the bridge in 5 s batches, so a batch time says little about when its runs ended)."""
    store = Store(2048, 1024, 600)
    translators = SignalTranslators(store, Config(spans_complete=spans_complete))
    metrics_done = False
    for request in captured_requests(require_fixtures() / folder):
        signal = Signal(request.signal)
        if signal is Signal.METRICS and metrics_until is not None:
            if metrics_done:
                continue
            metrics_done = request.time >= metrics_until
        message = decode_request(signal, Encoding.PROTOBUF, request.decoded_body())
        if isinstance(message, ExportTraceServiceRequest) and spans_until is not None:
            for resource_spans in message.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    kept = [span for span in scope_spans.spans if span.end_time_unix_nano / 1e9 < spans_until]
                    del scope_spans.spans[:]
                    scope_spans.spans.extend(kept)
        assert translators.apply(message, request.time).rejected == 0
    return store


def official(name: str, family: str) -> Samples:
    return {key: value for key, value in samples_of((SCRAPES / name).read_text()).items() if key[0] == family}


@pytest.mark.parametrize("scrape", SCRAPES_03A)
def test_spans_complete_gives_the_official_run_series_with_trigger(scrape: str) -> None:
    """With --spans-complete, openclaw_run_completed_total has exactly the official labels (trigger included) and
    values for the runs that ended before the scrape."""
    moment = scrape_time(scrape)
    store = replay("03a-main-part1-cumulative", spans_complete=True, metrics_until=moment + 1, spans_until=moment + 1)
    ours = {k: v for k, v in samples_of(render(store, Format.TEXT)).items() if k[0] == "openclaw_run_completed_total"}
    assert ours == official(scrape, "openclaw_run_completed_total")


def histograms_by_official_labels(values: Samples) -> Samples:
    """Histogram samples with ``observation_unit`` summed away (the 2026.4.29 plugin has no such label)."""
    out: Samples = {}
    for (name, labels), value in values.items():
        if name.endswith(("_bucket", "_count", "_sum")):
            key = (name, frozenset(pair for pair in labels if pair[0] != "observation_unit"))
            out[key] = out.get(key, 0.0) + value
    return out


@pytest.mark.parametrize("scrape", SCRAPES_03A)
def test_spans_complete_duration_histograms_match_the_official_buckets(scrape: str) -> None:
    """Span durations fill the official duration buckets (30, 60, … included) of runs, harness runs and model calls,
    with the official labels; a sum differs by at most 1 ms per span (span times are whole milliseconds around
    OpenClaw's durationMs)."""
    moment = scrape_time(scrape)
    store = replay("03a-main-part1-cumulative", spans_complete=True, metrics_until=moment + 1, spans_until=moment + 1)
    ours = histograms_by_official_labels(samples_of(render(store, Format.TEXT)))
    theirs = histograms_by_official_labels(samples_of((SCRAPES / scrape).read_text()))
    assert any(name == "openclaw_harness_run_duration_seconds_bucket" for name, _ in theirs)
    for (name, labels), value in theirs.items():
        if name.endswith("_sum"):
            spans = theirs[(name.removesuffix("_sum") + "_count", labels)]
            assert abs(ours[(name, labels)] - value) <= 0.001 * spans + 1e-9, (name, labels)
        else:
            assert ours[(name, labels)] == value, (name, labels)


CAPTURE_FOLDERS = [
    "01-run1-startup-and-npm-failure",
    "02-run2-restarts-first-success-and-tool",
    "03a-main-part1-cumulative",
    "04-variant-delta-gzip",
]
SLOW = ("openclaw_run_duration_seconds", "openclaw_harness_run_duration_seconds")


@pytest.mark.parametrize("folder", CAPTURE_FOLDERS)
def test_metrics_alone_place_every_slow_run_where_its_span_puts_it(folder: str) -> None:
    """On every capture (cumulative with restarts, and delta) each run and harness run above 10 s is placed from the
    metrics alone in the bucket its span puts it in: the placed share is 100 %, nothing is left unplaced."""
    store = replay(folder, spans_complete=False)
    metrics_only = samples_of(render(store, Format.TEXT))
    from_spans = samples_of(render(replay(folder, spans_complete=True), Format.TEXT))

    def bucket(values: Samples, family: str, le: str) -> float:
        return sum(v for (n, labels), v in values.items() if n == f"{family}_bucket" and ("le", le) in labels)

    for family in SLOW:
        for le in ("10", "30", "60", "120", "300", "600", "+Inf"):
            assert bucket(metrics_only, family, le) == bucket(from_spans, family, le), (family, le)
        assert bucket(metrics_only, family, "+Inf") > bucket(metrics_only, family, "10")  # some above 10 s
    assert not any(store.unplaced.values())


def test_without_spans_complete_the_totals_carry_the_fallback_trigger() -> None:
    """Without --spans-complete runs come from metrics, with trigger="unknown" and the same total."""
    moment = scrape_time("scrape-015316-end.txt")
    store = replay("03a-main-part1-cumulative", spans_complete=False, metrics_until=moment + 1, spans_until=moment + 1)
    runs = {k: v for k, v in samples_of(render(store, Format.TEXT)).items() if k[0] == "openclaw_run_completed_total"}
    assert [dict(labels)["trigger"] for _, labels in runs] == ["unknown"]
    assert sum(runs.values()) == sum(official("scrape-015316-end.txt", "openclaw_run_completed_total").values())


@pytest.mark.parametrize("spans_complete", [False, True])
def test_runs_and_harness_runs_are_counted_once(spans_complete: bool) -> None:
    """A run is counted once in either mode, and OpenClaw's doubled harness.run spans count once."""
    store = replay("03a-main-part1-cumulative", spans_complete=spans_complete)
    values = samples_of(render(store, Format.TEXT))
    runs = sum(v for (name, _), v in values.items() if name == "openclaw_run_completed_total")
    harness_spans = sum(
        v
        for (name, labels), v in values.items()
        if name == "openclaw_span_calls_total" and ("span", "openclaw.harness.run") in labels
    )
    harness_metric = sum(v for (name, _), v in values.items() if name == "openclaw_harness_run_total")
    assert runs == 10
    assert harness_spans == harness_metric == 10


def test_provider_500_and_429_become_counted_failures() -> None:
    """The provider 500 (classified as a timeout) and 429 that only logs carry are counted, with bounded labels."""
    store = replay("03a-main-part1-cumulative", spans_complete=False)
    failures = {
        dict(labels)["reason"]: v
        for (name, labels), v in samples_of(render(store, Format.TEXT)).items()
        if name == "openclaw_model_provider_failures_total"
    }
    assert failures.keys() == {"timeout", "rate_limit"}
    assert all(v > 0 for v in failures.values())
    decisions = {
        dict(labels)["status"]
        for (name, labels), _ in samples_of(render(store, Format.TEXT)).items()
        if name == "openclaw_model_fallback_decisions_total"
    }
    assert decisions == {"408", "429"}


def test_span_histograms_carry_trace_id_exemplars_in_openmetrics() -> None:
    """Observations that come from spans keep their trace id as an OpenMetrics exemplar."""
    store = replay("03a-main-part1-cumulative", spans_complete=True)
    exemplars = [
        s.exemplar
        for family in parse_openmetrics(render(store, Format.OPENMETRICS) + "# EOF\n")  # type: ignore[no-untyped-call]
        if family.name == "openclaw_run_duration_seconds"
        for s in family.samples
        if s.exemplar is not None
    ]
    assert exemplars
    assert all(len(e.labels["trace_id"]) == 32 for e in exemplars)


# -- synthetic spans and logs -----------------------------------------------------------------------------------
def span_request(*spans: tuple[str, dict[str, AttributeValue], int, int], status: int = 0) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    scope.scope.name = "openclaw"
    for index, (name, attributes, start, end) in enumerate(spans):
        span = scope.spans.add(
            name=name,
            start_time_unix_nano=start,
            end_time_unix_nano=end,
            trace_id=bytes([index + 1]) * 16,
            span_id=bytes([index + 1]) * 8,
        )
        span.status.code = status  # type: ignore[assignment]
        span.attributes.extend(key_values(attributes))
    return request


def log_request(*records: tuple[int, str, str, dict[str, AttributeValue]]) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    scope = request.resource_logs.add().scope_logs.add()
    for severity, text, body, attributes in records:
        record = scope.log_records.add(severity_number=severity, severity_text=text)
        record.body.string_value = body
        record.attributes.extend(key_values(attributes))
    return request


def test_resent_span_batch_is_not_counted_twice() -> None:
    """A batch retried by the exporter adds nothing the second time."""
    store = Store(100, 100, 600)
    translators = SignalTranslators(store, Config())
    request = span_request(("openclaw.model.call", {"openclaw.provider": "p"}, 0, 2_000_000_000))
    translators.apply(request, 1.0)
    translators.apply(request, 2.0)
    values = samples_of(render(store, Format.TEXT))
    key = (
        "openclaw_span_calls_total",
        frozenset({("span", "openclaw.model.call"), ("outcome", "completed"), ("error_category", "none")}),
    )
    assert values[key] == 1.0


def test_invalid_spans_are_reported_as_partial_success() -> None:
    """A span ending before it starts is rejected with a reason; the others are used."""
    store = Store(100, 100, 600)
    translators = SignalTranslators(store, Config())
    result = translators.apply(span_request(("openclaw.run", {}, 10, 5), ("openclaw.run", {}, 5, 10)), 1)
    assert (result.accepted, result.rejected, dict(result.reasons)) == (1, 1, {"invalid": 1})


SECOND = 1_000_000_000


@pytest.mark.parametrize(
    ("span", "attributes", "seconds", "family", "le"),
    [
        ("openclaw.model.call", {"openclaw.provider": "fakeai"}, 25, "openclaw_model_call_duration_seconds", "30"),
        (
            "openclaw.tool.execution",
            {"openclaw.toolName": "exec"},
            70,
            "openclaw_tool_execution_duration_seconds",
            "120",
        ),
        (
            "openclaw.tool.execution",
            {"openclaw.outcome": "blocked"},
            70,
            "openclaw_tool_execution_duration_seconds",
            "",
        ),
        ("openclaw.exec", {"openclaw.outcome": "completed"}, 301, "openclaw_exec_duration_seconds", "600"),
        ("openclaw.webhook.processed", {}, 45, "openclaw_webhook_duration_seconds", "60"),
        ("openclaw.message.delivery", {}, 11, "openclaw_message_delivery_duration_seconds", "30"),
        ("openclaw.session.stuck", {"openclaw.ageMs": 200_000}, 0, "openclaw_session_stuck_age_seconds", "300"),
        (
            "openclaw.liveness.warning",
            {"openclaw.liveness.event_loop_delay_max_ms": 23_119},
            0,
            "openclaw_liveness_event_loop_delay_max_seconds",
            "30",
        ),
        (
            "openclaw.model.call",
            {"openclaw.model_call.time_to_first_byte_ms": 12_500},
            20,
            "openclaw_model_call_time_to_first_byte_seconds",
            "30",
        ),
    ],
)
def test_spans_complete_puts_each_duration_in_its_official_bucket(
    span: str, attributes: dict[str, AttributeValue], seconds: int, family: str, le: str
) -> None:
    """With --spans-complete a span's duration (or its milliseconds attribute) fills the family's official buckets,
    the first bucket holding it and no lower one; a blocked tool execution is no execution. The metric of the same
    family, sent too, adds nothing to the histogram (its counter still counts)."""
    store = Store(100, 100, 600)
    translators = SignalTranslators(store, Config(spans_complete=True))
    translators.apply(span_request((span, attributes, SECOND, (1 + seconds) * SECOND)), 1.0)
    source = {
        "openclaw_model_call_duration_seconds": "openclaw.model_call.duration_ms",
        "openclaw_tool_execution_duration_seconds": "openclaw.tool.execution.duration_ms",
    }.get(family)
    if source is not None:
        metric = histogram_metric(source, [({"openclaw.provider": "fakeai", "openclaw.toolName": "exec"}, [5_000.0])])
        translators.apply(metrics_request(metric), 1.0)
    values = samples_of(render(store, Format.TEXT))
    buckets = {dict(labels)["le"]: v for (name, labels), v in values.items() if name == f"{family}_bucket"}
    if not le:
        assert buckets == {}
        return
    bounds = ["5", "10", "30", "60", "120", "300", "600", "+Inf"]
    assert [buckets[bound] for bound in bounds] == [0.0] * bounds.index(le) + [1.0] * (len(bounds) - bounds.index(le))
    if source is not None:
        assert sum(v for (name, _), v in values.items() if name.endswith("_total") and "openclaw_span" not in name) == 1


def test_liveness_gauges_take_the_latest_span() -> None:
    """openclaw_liveness_sessions{state} is the value of the latest liveness warning span."""
    store = Store(100, 100, 600)
    translators = SignalTranslators(store, Config())
    for active in (3, 1):
        translators.apply(
            span_request(
                (
                    "openclaw.liveness.warning",
                    {
                        "openclaw.liveness.active": active,
                        "openclaw.liveness.waiting": 2,
                        "openclaw.liveness.queued": 0.0,
                        "openclaw.liveness.reason": "event_loop_delay",
                    },
                    0,
                    1,
                )
            ),
            1.0,
        )
        translators.spans.seen.clear()
    values = samples_of(render(store, Format.TEXT))
    assert values[("openclaw_liveness_sessions", frozenset({("state", "active")}))] == 1.0
    assert values[("openclaw_liveness_sessions", frozenset({("state", "waiting")}))] == 2.0


@pytest.mark.parametrize(
    ("number", "text", "word"),
    [
        (9, "INFO", "info"),
        (13, "WARN", "warn"),
        (17, "ERROR", "error"),
        (21, "FATAL", "fatal"),
        (1, "", "trace"),
        (0, "Notice", "notice"),
        (0, "", "unspecified"),
        (0, "free text!", "unspecified"),
    ],
)
def test_severity_words(number: int, text: str, word: str) -> None:
    """Severity numbers map to the OTel severity words; unset numbers fall back to a normalised text."""
    assert severity_word(number, text) == word


attribute_value = st.one_of(
    st.text(max_size=300), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True), st.booleans()
)


@settings(max_examples=150, deadline=None)
@given(
    values=st.dictionaries(
        st.sampled_from(
            [
                "openclaw.channel",
                "openclaw.provider",
                "openclaw.model",
                "openclaw.outcome",
                "openclaw.trigger",
                "openclaw.errorCategory",
                "openclaw.reason",
                "openclaw.subsystem",
                "openclaw.failoverReason",
                "openclaw.providerRuntimeFailureKind",
                "openclaw.decision",
                "openclaw.status",
                "openclaw.sessionKey",
                "openclaw.error",
                "openclaw.rawErrorPreview",
                "openclaw.liveness.active",
            ]
        ),
        attribute_value,
    ),
    body=st.text(min_size=8, max_size=200),
)
def test_no_content_or_ids_in_labels(values: dict[str, AttributeValue], body: str) -> None:
    """Whatever spans and logs carry, every label value matches the official pattern, and no log body, error text
    or session key reaches the exposition."""
    store = Store(2048, 1024, 600)
    translators = SignalTranslators(store, Config(spans_complete=True))
    events = {**values, "openclaw.event": "embedded_run_agent_end", "openclaw.isError": True}
    translators.apply(log_request((17, "ERROR", body, events)), 1.0)
    for name in ("openclaw.run", "openclaw.message.processed", "openclaw.liveness.warning", "openclaw.harness.run"):
        translators.apply(span_request((name, values, 0, 1_000_000), status=2), 1.0)
    text = render(store, Format.TEXT)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for label, value in sample.labels.items():
                if label != "le":
                    assert LABEL_VALUE_PATTERN.match(value), (label, value)
                    assert not value.lower().startswith("agent:")
    secret_texts = [
        str(values.get(key, "")) for key in ("openclaw.sessionKey", "openclaw.error", "openclaw.rawErrorPreview")
    ]
    for secret in [body, *secret_texts]:
        if len(secret) >= 8 and not LABEL_VALUE_PATTERN.match(secret):
            assert secret not in text
