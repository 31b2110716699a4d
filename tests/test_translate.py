"""Metrics translation: the mapping rows, temporality, caps, expiry — and agreement with the official plugin."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client.parser import text_string_to_metric_families

from otlp_bridge.expose.exposition import Format, render
from otlp_bridge.receive.codec import Encoding, Signal, decode_request
from otlp_bridge.store import Kind, Store
from otlp_bridge.translate import fast
from otlp_bridge.translate.fast import KnownMetric
from otlp_bridge.translate.general import generic_spec
from otlp_bridge.translate.mapping import METRIC_SPECS, Value
from otlp_bridge.translate.metrics import KnownKey, KnownTable, MetricsTranslator, TranslateOptions
from otlp_bridge.translate.rules import Rules
from tests.support import (
    CUMULATIVE,
    DELTA,
    GATEWAY,
    SCRAPES_03A,
    AttributeValue,
    ForgetfulTable,
    encode_varint,
    histogram_metric,
    key_values,
    metrics_request,
    scrape_time,
    sum_metric,
)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def new_translator(**options: object) -> tuple[Store, MetricsTranslator]:
    store = Store(max_series=2048, max_series_per_family=1024, ttl=600)
    return store, MetricsTranslator(store, TranslateOptions(**options))  # type: ignore[arg-type]


def samples(store: Store) -> Samples:
    """Every sample line of the text exposition as ``{(name, labels): value}``."""
    out: Samples = {}
    for family in text_string_to_metric_families(render(store, Format.TEXT)):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(store: Store, name: str, **labels: str) -> float:
    return samples(store)[(name, frozenset(labels.items()))]


# -- mapping rows -----------------------------------------------------------------------------------------------
RUN = {
    "openclaw.outcome": "completed",
    "openclaw.provider": "fakeai",
    "openclaw.model": "fake-model",
    "openclaw.channel": "webchat",
}
USAGE = {
    "openclaw.agent": "main",
    "openclaw.channel": "heartbeat",
    "openclaw.provider": "fakeai",
    "openclaw.model": "fake-model",
}
CALL = {
    "openclaw.provider": "fakeai",
    "openclaw.model": "m1",
    "openclaw.api": "openai-completions",
    "openclaw.transport": "sse",
}

# (OTLP metric, kind, attributes, observations or value) → (Prometheus sample name, labels, expected value)
ROWS: list[tuple[str, str, Mapping[str, AttributeValue], list[float] | float, str, dict[str, str], float]] = [
    (
        "openclaw.tokens",
        "sum",
        {**USAGE, "openclaw.token": "input"},
        7458.0,
        "openclaw_model_tokens_total",
        {"agent": "main", "channel": "heartbeat", "model": "fake-model", "provider": "fakeai", "token_type": "input"},
        7458.0,
    ),
    (
        "openclaw.cost.usd",
        "sum",
        USAGE,
        0.0125,
        "openclaw_model_cost_usd_total",
        {"agent": "main", "channel": "heartbeat", "model": "fake-model", "provider": "fakeai"},
        0.0125,
    ),
    (
        "openclaw.run.duration_ms",
        "histogram",
        RUN,
        [22009.0, 1500.0],
        "openclaw_run_completed_total",
        {
            "channel": "webchat",
            "model": "fake-model",
            "outcome": "completed",
            "provider": "fakeai",
            "trigger": "unknown",
        },
        2.0,
    ),
    (
        "openclaw.run.duration_ms",
        "histogram",
        RUN,
        [22009.0, 1500.0],
        "openclaw_run_duration_seconds_sum",
        {
            "channel": "webchat",
            "model": "fake-model",
            "outcome": "completed",
            "provider": "fakeai",
            "trigger": "unknown",
        },
        23.509,
    ),
    (
        "openclaw.run.duration_ms",
        "histogram",
        {**RUN, "openclaw.channel": ""},
        [100.0],
        "openclaw_run_completed_total",
        {
            "channel": "unknown",
            "model": "fake-model",
            "outcome": "completed",
            "provider": "fakeai",
            "trigger": "unknown",
        },
        1.0,
    ),
    (
        "openclaw.run.duration_ms",
        "histogram",
        {**RUN, "openclaw.blocked_by": "policy"},
        [100.0],
        "openclaw_run_completed_total",
        {
            "blocked_by": "policy",
            "channel": "webchat",
            "model": "fake-model",
            "outcome": "completed",
            "provider": "fakeai",
            "trigger": "unknown",
        },
        1.0,
    ),
    (
        "openclaw.run.duration_ms",
        "histogram",
        USAGE,
        [2000.0],
        "openclaw_model_usage_duration_seconds_count",
        {"agent": "main", "channel": "heartbeat", "model": "fake-model", "provider": "fakeai"},
        1.0,
    ),
    (
        "openclaw.model_call.duration_ms",
        "histogram",
        CALL,
        [300.0],
        "openclaw_model_call_total",
        {
            "api": "openai-completions",
            "error_category": "none",
            "model": "m1",
            "observation_unit": "request",
            "outcome": "completed",
            "provider": "fakeai",
            "transport": "sse",
        },
        1.0,
    ),
    (
        "openclaw.model_call.duration_ms",
        "histogram",
        {
            **CALL,
            "openclaw.errorCategory": "rate_limit",
            "openclaw.failureKind": "http",
            "openclaw.model_call.observation_unit": "turn",
        },
        [300.0, 20.0],
        "openclaw_model_call_total",
        {
            "api": "openai-completions",
            "error_category": "rate_limit",
            "model": "m1",
            "observation_unit": "turn",
            "outcome": "error",
            "provider": "fakeai",
            "transport": "sse",
        },
        2.0,
    ),
    (
        "openclaw.model_call.duration_ms",
        "histogram",
        {**CALL, "openclaw.errorCategory": "bad value!"},
        [1.0],
        "openclaw_model_call_total",
        {
            "api": "openai-completions",
            "error_category": "other",
            "model": "m1",
            "observation_unit": "request",
            "outcome": "error",
            "provider": "fakeai",
            "transport": "sse",
        },
        1.0,
    ),
    (
        "openclaw.model.failover",
        "sum",
        {
            "openclaw.model": "a",
            "openclaw.provider": "p",
            "openclaw.lane": "session:agent:main:abc",
            "openclaw.failover.reason": "unknown",
            "openclaw.failover.suspended": "false",
            "openclaw.failover.to_model": "b",
            "openclaw.failover.to_provider": "q",
        },
        1.0,
        "openclaw_model_failover_total",
        {
            "from_model": "a",
            "from_provider": "p",
            "lane": "session",
            "reason": "other",
            "suspended": "false",
            "to_model": "b",
            "to_provider": "q",
        },
        1.0,
    ),
    (
        "gen_ai.client.token.usage",
        "histogram",
        {
            "gen_ai.request.model": "fake-model",
            "gen_ai.provider.name": "fakeai",
            "gen_ai.token.type": "input",
            "gen_ai.operation.name": "chat",
        },
        [7474.0],
        "openclaw_gen_ai_client_token_usage_sum",
        {"model": "fake-model", "provider": "fakeai", "token_type": "input"},
        7474.0,
    ),
    (
        "gen_ai.client.token.usage",
        "histogram",
        {"gen_ai.request.model": "fake-model", "gen_ai.system": "fakeai", "gen_ai.token.type": "output"},
        [9.0],
        "openclaw_gen_ai_client_token_usage_count",
        {"model": "fake-model", "provider": "fakeai", "token_type": "output"},
        1.0,
    ),
    (
        "openclaw.tool.execution.duration_ms",
        "histogram",
        {
            "openclaw.toolName": "exec",
            "gen_ai.tool.name": "exec",
            "openclaw.tool.params.kind": "object",
            "openclaw.tool.params.length": 3,
            "openclaw.tool.owner": "unknown",
        },
        [40.0],
        "openclaw_tool_execution_total",
        {
            "error_category": "none",
            "outcome": "completed",
            "params_kind": "object",
            "tool": "exec",
            "tool_owner": "none",
            "tool_source": "core",
        },
        1.0,
    ),
    (
        "openclaw.tool.execution.blocked",
        "sum",
        {"openclaw.toolName": "exec", "openclaw.deniedReason": "sandbox"},
        2.0,
        "openclaw_tool_execution_blocked_total",
        {
            "denied_reason": "sandbox",
            "params_kind": "unknown",
            "tool": "exec",
            "tool_owner": "none",
            "tool_source": "core",
        },
        2.0,
    ),
    (
        "openclaw.harness.duration_ms",
        "histogram",
        {
            "openclaw.harness.id": "pi",
            "openclaw.harness.plugin": "unknown",
            "openclaw.outcome": "error",
            "openclaw.provider": "fakeai",
            "openclaw.model": "fake-model",
            "openclaw.channel": "webchat",
            "openclaw.harness.phase": "send",
            "openclaw.errorCategory": "Error",
        },
        [100000.0],
        "openclaw_harness_run_total",
        {
            "channel": "webchat",
            "error_category": "Error",
            "harness": "pi",
            "model": "fake-model",
            "outcome": "error",
            "phase": "send",
            "plugin": "unknown",
            "provider": "fakeai",
        },
        1.0,
    ),
    (
        "openclaw.message.processed",
        "sum",
        {"openclaw.channel": "telegram", "openclaw.outcome": "completed"},
        4.0,
        "openclaw_message_processed_total",
        {"channel": "telegram", "outcome": "completed", "reason": "none"},
        4.0,
    ),
    (
        "openclaw.message.dispatch.completed",
        "sum",
        {"openclaw.channel": "telegram", "openclaw.outcome": "completed", "openclaw.source": "user"},
        1.0,
        "openclaw_message_dispatch_completed_total",
        {"channel": "telegram", "outcome": "completed", "reason": "none", "source": "user"},
        1.0,
    ),
    (
        "openclaw.queue.wait_ms",
        "histogram",
        {"openclaw.lane": "session:agent:main:openai:a8d9"},
        [1200.0],
        "openclaw_queue_lane_wait_seconds_sum",
        {"lane": "session"},
        1.2,
    ),
    (
        "openclaw.queue.depth",
        "histogram",
        {"openclaw.lane": "main"},
        [1.0, 3.0],
        "openclaw_queue_lane_size",
        {"lane": "main"},
        2.0,
    ),
    (
        "openclaw.queue.depth",
        "histogram",
        {"openclaw.channel": "liveness"},
        [4.0],
        "openclaw_liveness_sessions",
        {"state": "queued"},
        4.0,
    ),
    (
        "openclaw.queue.depth",
        "histogram",
        {"openclaw.channel": "telegram", "openclaw.source": "user"},
        [4.0],
        "openclaw_message_queue_depth_count",
        {"channel": "telegram", "source": "user"},
        1.0,
    ),
    ("openclaw.memory.rss_bytes", "histogram", {}, [600e6, 700e6], "openclaw_memory_bytes", {"kind": "rss"}, 650e6),
    ("openclaw.memory.rss_bytes", "histogram", {}, [600e6, 700e6], "openclaw_memory_rss_bytes_count", {}, 2.0),
    (
        "openclaw.memory.heap_used_bytes",
        "histogram",
        {"openclaw.memory.level": "warning", "openclaw.memory.reason": "rss_threshold"},
        [1e9],
        "openclaw_memory_pressure_bytes_count",
        {"kind": "heap_used", "level": "warning", "reason": "rss_threshold"},
        1.0,
    ),
    (
        "openclaw.session.state",
        "sum",
        {"openclaw.state": "idle", "openclaw.reason": "run completed!"},
        3.0,
        "openclaw_session_state_total",
        {"reason": "none", "state": "idle"},
        3.0,
    ),
    (
        "openclaw.session.recovery.requested",
        "sum",
        {"openclaw.state": "processing", "openclaw.action": "abort"},
        1.0,
        "openclaw_session_recovery_total",
        {"action": "abort", "active_work_kind": "none", "state": "processing", "status": "requested"},
        1.0,
    ),
    (
        "openclaw.session.recovery.completed",
        "sum",
        {
            "openclaw.state": "processing",
            "openclaw.action": "abort",
            "openclaw.status": "succeeded",
            "openclaw.reason": "free text reason",
        },
        1.0,
        "openclaw_session_recovery_total",
        {"action": "abort", "active_work_kind": "none", "state": "processing", "status": "succeeded"},
        1.0,
    ),
    (
        "openclaw.session.stuck",
        "sum",
        {"openclaw.state": "processing"},
        1.0,
        "openclaw_session_stuck_total",
        {"reason": "none", "state": "processing"},
        1.0,
    ),
    (
        "openclaw.gateway.event_loop.observed_ms",
        "sum",
        {},
        30000.0,
        "openclaw_gateway_event_loop_observed_seconds_total",
        {},
        30.0,
    ),
    (
        "openclaw.liveness.warning",
        "sum",
        {"openclaw.liveness.reason": "event_loop_delay:cpu"},
        2.0,
        "openclaw_liveness_warning_total",
        {"reason": "event_loop_delay:cpu"},
        2.0,
    ),
    (
        "openclaw.liveness.cpu_core_ratio",
        "histogram",
        {"openclaw.liveness.reason": "cpu"},
        [0.8],
        "openclaw_liveness_cpu_core_ratio_sum",
        {"reason": "cpu"},
        0.8,
    ),
    (
        "openclaw.telemetry.exporter.events",
        "sum",
        {
            "openclaw.exporter": "diagnostics-otel",
            "openclaw.signal": "metrics",
            "openclaw.status": "started",
            "openclaw.errorCategory": "x",
        },
        1.0,
        "openclaw_telemetry_exporter_total",
        {"exporter": "diagnostics-otel", "reason": "none", "signal": "metrics", "status": "started"},
        1.0,
    ),
    (
        "openclaw.skill.used",
        "sum",
        {
            "openclaw.skill.name": "weather",
            "openclaw.skill.source": "bundled",
            "openclaw.skill.activation": "auto",
            "openclaw.toolName": "read",
        },
        1.0,
        "openclaw_skill_used_total",
        {"activation": "auto", "agent": "unknown", "skill": "weather", "source": "bundled"},
        1.0,
    ),
    (
        "openclaw.gateway.rpc.requests",
        "sum",
        {"openclaw.gateway.rpc.method": "chat.send"},
        5.0,
        "openclaw_gateway_rpc_requests_total",
        {"method": "chat.send"},
        5.0,
    ),
    ("openclaw.gc.duration_ms", "histogram", {}, [5.0, 10.0], "openclaw_gc_duration_seconds_sum", {}, 0.015),
    (
        "openclaw.payload.large",
        "sum",
        {"openclaw.payload.action": "truncated", "openclaw.payload.surface": "chat"},
        1.0,
        "openclaw_payload_large_total",
        {"action": "truncated", "channel": "none", "plugin": "none", "reason": "none", "surface": "chat"},
        1.0,
    ),
    ("openclaw.run.attempt", "sum", {"openclaw.attempt": 2}, 1.0, "openclaw_run_attempt_total", {"attempt": "2"}, 1.0),
    (
        "openclaw.diagnostic.async_queue.dropped",
        "sum",
        {"openclaw.diagnostic.async_queue.drop_class": "untrusted"},
        12.0,
        "openclaw_diagnostic_async_queue_dropped_total",
        {"drop_class": "untrusted"},
        12.0,
    ),
]


@pytest.mark.parametrize(("source", "kind", "attributes", "data", "name", "labels", "expected"), ROWS)
def test_mapping_row(
    source: str,
    kind: str,
    attributes: Mapping[str, AttributeValue],
    data: list[float] | float,
    name: str,
    labels: dict[str, str],
    expected: float,
) -> None:
    """Each mapping row yields the official series name, label values and value (an APPROX gauge: of the second
    export's interval, the first being the sender's whole life)."""
    store, translator = new_translator()
    if kind == "sum":
        assert isinstance(data, float)
        metric = sum_metric(source, [(attributes, data)])
    else:
        assert isinstance(data, list)
        if name in MEAN_FAMILIES:
            earlier = [1e12]  # before the bridge: must not show in the interval's mean
            translator.apply(metrics_request(histogram_metric(source, [(attributes, earlier)])), now=40.0)
            data = earlier + data
        metric = histogram_metric(source, [(attributes, data)], time=3_000)
    result = translator.apply(metrics_request(metric), now=100.0)
    assert result.rejected == 0
    assert math.isclose(value(store, name, **labels), expected, rel_tol=1e-9)


MEAN_FAMILIES = {spec.name for spec in METRIC_SPECS if spec.value is Value.MEAN}


# What a point needs, beyond its labels' sources, to pass the selector of a mixed stream (mapping rule R6).
SELECTING_ATTRIBUTES: dict[str, dict[str, AttributeValue]] = {
    "openclaw_liveness_sessions": {"openclaw.channel": "liveness"},
    "openclaw_heartbeat_queue_depth": {"openclaw.channel": "heartbeat"},
    "openclaw_memory_pressure_bytes": {"openclaw.memory.level": "warning"},
}


@pytest.mark.parametrize("spec", METRIC_SPECS, ids=lambda spec: f"{spec.source}->{spec.name}")
def test_every_spec_produces_its_family(spec: object) -> None:
    """Every table entry, fed a point that passes its selector, creates its family with its type and labels."""
    from otlp_bridge.translate.mapping import FamilySpec  # noqa: PLC0415

    assert isinstance(spec, FamilySpec)
    attributes: dict[str, AttributeValue] = {key: "v1" for label in spec.labels for key in label.source[:1]}
    attributes.update(SELECTING_ATTRIBUTES.get(spec.name, {}))
    if spec.name in ("openclaw_queue_lane_size", "openclaw_queue_depth"):
        attributes.pop("openclaw.channel", None)
    assert spec.select is None or spec.select({k: str(v) for k, v in attributes.items()})
    source = spec.source if spec.source.startswith("gen_ai.") else "openclaw." + spec.source
    if spec.value is Value.SUM:
        metric = sum_metric(source, [(attributes, 3.0)])
    else:
        metric = histogram_metric(source, [(attributes, [2.0, 4.0])])
    store, translator = new_translator()
    if spec.value is Value.MEAN:  # an APPROX gauge needs an interval: a first export, then a later one
        translator.apply(metrics_request(metric), now=1.0)
        metric = histogram_metric(source, [(attributes, [2.0, 4.0, 6.0])], time=3_000)
    assert translator.apply(metrics_request(metric), now=1.0).rejected == 0
    family = store.families[spec.name]
    assert family.info.kind is spec.kind
    (labels,) = [labels for labels in family.series]
    names = {name for name, _ in labels}
    assert {label.name for label in spec.labels if not label.optional} <= names <= {label.name for label in spec.labels}


def test_span_fed_families_are_left_to_spans_when_spans_are_complete() -> None:
    """With --spans-complete the span-fed families do not also come from metrics; model usage, which has no span in
    OpenClaw's data, still does, its 20 s observation placed in the official le="30" bucket."""
    store, translator = new_translator(spans_complete=True)
    translator.apply(
        metrics_request(
            histogram_metric("openclaw.run.duration_ms", [(RUN, [10.0]), (USAGE, [5.0, 20_000.0])]),
            histogram_metric("openclaw.harness.duration_ms", [(RUN, [20_000.0])]),
        ),
        now=1.0,
    )
    assert "openclaw_run_completed_total" not in store.families
    assert "openclaw_harness_run_duration_seconds" not in store.families
    assert "openclaw_harness_run_total" in store.families
    usage = {"agent": "main", "channel": "heartbeat", "model": "fake-model", "provider": "fakeai"}
    assert value(store, "openclaw_model_usage_duration_seconds_bucket", le="10", **usage) == 1.0
    assert value(store, "openclaw_model_usage_duration_seconds_bucket", le="30", **usage) == 2.0


def test_custom_metric_name_prefix() -> None:
    """OpenClaw's metricNamePrefix is honoured, and gen_ai.* names never take it."""
    store, translator = new_translator(metric_name_prefix="acme.")
    translator.apply(
        metrics_request(
            sum_metric("acme.tokens", [({**USAGE, "openclaw.token": "output"}, 9.0)]),
            histogram_metric("gen_ai.client.token.usage", [({}, [3.0])], unit="{token}"),
        ),
        now=1.0,
    )
    assert "openclaw_model_tokens_total" in store.families
    assert "openclaw_gen_ai_client_token_usage" in store.families


def test_unknown_metrics_follow_the_standard_rules() -> None:
    """Unmapped names are translated by the OTLP→Prometheus rules, with private attributes left out; one that would
    fall in the official openclaw_* namespace gets unmapped_ in front."""
    store, translator = new_translator()
    request = metrics_request(
        sum_metric("openclaw.future.thing", [({"openclaw.kind": "a", "openclaw.sessionKey": "agent:main:x"}, 2.0)]),
        histogram_metric("http.server.duration", [({"http.route": "/v1"}, [5.0])]),
        sum_metric("process.threads", [({}, 7.0)], monotonic=False, unit="{thread}"),
        scope="other",
    )
    assert translator.apply(request, now=1.0).rejected == 0
    assert value(store, "unmapped_openclaw_future_thing_total", openclaw_kind="a") == 2.0
    assert value(store, "http_server_duration_milliseconds_count", http_route="unknown") == 1.0
    assert value(store, "process_threads") == 7.0


def test_histogram_bounds_are_converted_and_kept() -> None:
    """ms bounds become seconds, the official bounds above the last one are added (the one observation there is placed
    from the sum: 20904 ms less at most 1005 ms for the other two), and le prints like the plugin."""
    store, translator = new_translator()
    translator.apply(
        metrics_request(histogram_metric("openclaw.run.duration_ms", [(RUN, [4.0, 900.0, 20000.0])])), now=1.0
    )
    text = render(store, Format.TEXT)
    assert 'le="0.005"' in text
    assert 'le="1"' in text
    assert 'le="1.0"' not in text
    assert 'le="0.075"' in text  # a bound that arrived, not an official one
    labels = {
        "channel": "webchat",
        "model": "fake-model",
        "outcome": "completed",
        "provider": "fakeai",
        "trigger": "unknown",
    }
    assert value(store, "openclaw_run_duration_seconds_bucket", le="0.005", **labels) == 1.0
    assert value(store, "openclaw_run_duration_seconds_bucket", le="1", **labels) == 2.0
    assert value(store, "openclaw_run_duration_seconds_bucket", le="10", **labels) == 2.0
    assert value(store, "openclaw_run_duration_seconds_bucket", le="30", **labels) == 3.0
    assert value(store, "openclaw_run_duration_seconds_bucket", le="600", **labels) == 3.0
    assert value(store, "openclaw_run_duration_seconds_bucket", le="+Inf", **labels) == 3.0


# -- temporality ------------------------------------------------------------------------------------------------
TOKENS = {**USAGE, "openclaw.token": "input"}
TOKEN_LABELS = {
    "agent": "main",
    "channel": "heartbeat",
    "model": "fake-model",
    "provider": "fakeai",
    "token_type": "input",
}


def tokens(
    total: float,
    *,
    start: int = 1_000,
    time: int = 2_000,
    temporality: int = 2,
    resource: Mapping[str, AttributeValue] = GATEWAY,
) -> ExportMetricsServiceRequest:
    return metrics_request(
        sum_metric("openclaw.tokens", [(TOKENS, total)], start=start, time=time, temporality=temporality),
        resource=resource,
    )


def test_cumulative_resend_adds_nothing() -> None:
    """The same cumulative snapshot sent again (every second, as OpenClaw does) changes nothing."""
    store, translator = new_translator()
    for time in (2_000, 3_000, 4_000):
        translator.apply(tokens(10.0, time=time), now=1.0)
    assert value(store, "openclaw_model_tokens_total", **TOKEN_LABELS) == 10.0


def test_cumulative_growth_and_restart() -> None:
    """A restart (new start time, counting from zero) keeps the series monotonic."""
    store, translator = new_translator()
    translator.apply(tokens(10.0), now=1.0)
    translator.apply(tokens(15.0, time=3_000), now=2.0)
    restarted = {**GATEWAY, "process.pid": 999}
    translator.apply(tokens(4.0, start=50_000, time=51_000, resource=restarted), now=3.0)
    assert value(store, "openclaw_model_tokens_total", **TOKEN_LABELS) == 19.0
    translator.apply(tokens(2.0, start=60_000, time=61_000, resource=restarted), now=4.0)  # restart, same pid
    assert value(store, "openclaw_model_tokens_total", **TOKEN_LABELS) == 21.0


def test_delta_points_accumulate_and_duplicates_are_ignored() -> None:
    """Delta points add up; a resent delta point (same end time) is not counted twice."""
    store, translator = new_translator()
    translator.apply(tokens(3.0, start=1_000, time=2_000, temporality=DELTA), now=1.0)
    translator.apply(tokens(4.0, start=2_000, time=3_000, temporality=DELTA), now=2.0)
    translator.apply(tokens(4.0, start=2_000, time=3_000, temporality=DELTA), now=3.0)
    assert value(store, "openclaw_model_tokens_total", **TOKEN_LABELS) == 7.0


def test_two_senders_feed_one_series() -> None:
    """Two gateways summed into one series: each contributes its own increments."""
    store, translator = new_translator()
    other = {**GATEWAY, "host.name": "vm2"}
    translator.apply(tokens(10.0), now=1.0)
    translator.apply(tokens(5.0, resource=other), now=1.0)
    translator.apply(tokens(12.0, time=3_000), now=2.0)
    assert value(store, "openclaw_model_tokens_total", **TOKEN_LABELS) == 17.0


def test_source_label_keeps_gateways_apart() -> None:
    """With --source-label the series carry service.name:host.name."""
    store, translator = new_translator(source_label="gateway")
    translator.apply(tokens(10.0), now=1.0)
    translator.apply(tokens(5.0, resource={**GATEWAY, "host.name": "vm2"}), now=1.0)
    assert value(store, "openclaw_model_tokens_total", gateway="openclaw-gateway:vm", **TOKEN_LABELS) == 10.0
    assert value(store, "openclaw_model_tokens_total", gateway="openclaw-gateway:vm2", **TOKEN_LABELS) == 5.0


def test_streams_summed_into_one_series() -> None:
    """Attributes the family does not keep are summed away, per stream."""
    store, translator = new_translator()
    lanes = [({"openclaw.lane": f"session:agent:main:openai:{n}"}, float(n)) for n in range(1, 4)]
    translator.apply(metrics_request(sum_metric("openclaw.queue.lane.enqueue", lanes)), now=1.0)
    lanes[0] = (lanes[0][0], 5.0)
    translator.apply(metrics_request(sum_metric("openclaw.queue.lane.enqueue", lanes, time=3_000)), now=2.0)
    assert value(store, "openclaw_queue_lane_enqueue_total", lane="session") == 10.0


def test_histogram_cumulative_increments() -> None:
    """Cumulative histograms are differenced per bucket."""
    store, translator = new_translator()
    translator.apply(metrics_request(histogram_metric("openclaw.run.duration_ms", [(RUN, [100.0])])), now=1.0)
    translator.apply(
        metrics_request(histogram_metric("openclaw.run.duration_ms", [(RUN, [100.0, 2000.0])], time=3_000)), now=2.0
    )
    labels = {
        "channel": "webchat",
        "model": "fake-model",
        "outcome": "completed",
        "provider": "fakeai",
        "trigger": "unknown",
    }
    assert value(store, "openclaw_run_duration_seconds_count", **labels) == 2.0
    assert value(store, "openclaw_run_duration_seconds_bucket", le="0.1", **labels) == 1.0
    assert math.isclose(value(store, "openclaw_run_duration_seconds_sum", **labels), 2.1)


@pytest.mark.parametrize(
    ("count", "max_pending", "exports"),
    [
        (3, 4096, 9),  # the fast path: lanes summed in one integer
        (2**62, 4096, 9),  # four of these would overflow a 64-bit lane: the general path
        (3, 2, 9),  # more exports than may be summed before a settle: settled, then the fast path again
    ],
)
def test_delta_histogram_exports_add_up_exactly(
    monkeypatch: pytest.MonkeyPatch, count: int, max_pending: int, exports: int
) -> None:
    """Delta histograms kept back by the fast path (counts summed as lanes of one integer) read exactly the sums of
    what was sent, also where a lane could overflow or too many exports would pile up: those go the general way."""
    monkeypatch.setattr(fast, "MAX_PENDING_EXPORTS", max_pending)
    store, translator = new_translator()
    other = {**RUN, "openclaw.model": "other-model"}
    for number in range(exports):
        metric = histogram_metric(
            "openclaw.run.duration_ms",
            [(RUN, [100.0]), (other, [2000.0, 3.0])],
            start=1_000 * number,
            time=1_000 * (number + 1),
            temporality=DELTA,
        )
        big = metric.histogram.data_points[0]
        big.count = count
        big.bucket_counts[:] = [count if bound == 100.0 else 0 for bound in (*big.explicit_bounds, math.inf)]
        request = metrics_request(metric)
        result = translator.apply(request, now=float(number), body=request.SerializeToString())
        assert (result.accepted, result.rejected) == (2, 0)
        knowns = translator.known.values()
        assert all(isinstance(known, fast.DeltaKnownMetric) and known.exports <= max_pending for known in knowns)
    labels = {"channel": "webchat", "outcome": "completed", "provider": "fakeai", "trigger": "unknown"}
    assert value(store, "openclaw_run_duration_seconds_count", model="fake-model", **labels) == count * exports
    assert (
        value(store, "openclaw_run_duration_seconds_bucket", le="0.1", model="fake-model", **labels) == count * exports
    )
    assert value(store, "openclaw_run_duration_seconds_bucket", le="0.05", model="fake-model", **labels) == 0
    assert value(store, "openclaw_run_duration_seconds_count", model="other-model", **labels) == 2 * exports
    assert value(store, "openclaw_run_duration_seconds_bucket", le="0.005", model="other-model", **labels) == exports
    assert math.isclose(
        value(store, "openclaw_run_duration_seconds_sum", model="other-model", **labels), 2.003 * exports
    )


def test_names_and_keys_over_the_length_limit_never_reach_the_page() -> None:
    """A metric the mapping does not know with a name over 200 characters is refused; an attribute key over 200
    characters is left out of the labels (each would otherwise repeat on every line of its family)."""
    store, translator = new_translator()
    long_name = "custom." + "x" * 200
    result = translator.apply(metrics_request(sum_metric(long_name, [({"kind": "a"}, 1.0), ({"kind": "b"}, 2.0)])), 1.0)
    assert (result.accepted, result.rejected, dict(result.reasons)) == (0, 2, {"name_too_long": 2})
    key = "k" * 201
    result = translator.apply(metrics_request(sum_metric("custom.ok", [({"kind": "a", key: "v"}, 3.0)])), 2.0)
    assert (result.accepted, result.rejected) == (1, 0)
    page = render(store, Format.TEXT)
    assert 'custom_ok_total{kind="a"} 3\n' in page
    assert "x" * 200 not in page and key not in page


def test_a_huge_description_or_unit_costs_no_more_than_a_short_one() -> None:
    """A sender controls a metric's description and unit: the HELP keeps the first 200 characters of the description,
    a unit over 200 characters (it would become part of the name) is refused, and neither is kept whole in the
    memoised family specs (4,096 of them held 4 MiB descriptions each before)."""
    store, translator = new_translator()
    generic_spec.cache_clear()
    for number in range(3):
        metric = sum_metric(f"custom.big{number}", [({"kind": "a"}, 1.0)])
        metric.description = f"word{number} " + "y " * (1 << 20)
        assert translator.apply(metrics_request(metric), float(number)).accepted == 1
    long_unit = sum_metric("custom.units", [({"kind": "a"}, 1.0)])
    long_unit.unit = "u" * 201
    result = translator.apply(metrics_request(long_unit), 5.0)
    assert (result.rejected, dict(result.reasons)) == (1, {"name_too_long": 1})
    page = render(store, Format.TEXT)
    assert "# HELP custom_big0_total word0 y y" in page
    help_line = next(line for line in page.splitlines() if line.startswith("# HELP custom_big1_total"))
    assert len(help_line) == len("# HELP custom_big1_total ") + 200
    assert "custom_units" not in page
    assert generic_spec.cache_info().currsize == 3


# -- caps and expiry --------------------------------------------------------------------------------------------
def test_global_cap_refuses_new_series_and_keeps_old_ones_updating() -> None:
    """Past the cap a new series is refused and counted; existing series keep updating."""
    store = Store(max_series=2, max_series_per_family=10, ttl=600)
    translator = MetricsTranslator(store, TranslateOptions())
    points = [({"openclaw.gateway.rpc.method": f"m{n}"}, 1.0) for n in range(3)]
    result = translator.apply(metrics_request(sum_metric("openclaw.gateway.rpc.requests", points)), now=1.0)
    assert (result.accepted, result.rejected) == (2, 1)
    assert result.reasons == {"series_cap": 1}
    assert "1 rejected" in result.message
    assert store.dropped_observations == 1
    points = [({"openclaw.gateway.rpc.method": f"m{n}"}, 5.0) for n in range(3)]
    translator.apply(metrics_request(sum_metric("openclaw.gateway.rpc.requests", points, time=3_000)), now=2.0)
    assert value(store, "openclaw_gateway_rpc_requests_total", method="m0") == 5.0
    assert store.live_series == 2


def test_family_cap() -> None:
    """One flooding family cannot take the whole global budget."""
    store = Store(max_series=100, max_series_per_family=3, ttl=600)
    translator = MetricsTranslator(store, TranslateOptions())
    points = [({"openclaw.gateway.rpc.method": f"m{n}"}, 1.0) for n in range(5)]
    result = translator.apply(metrics_request(sum_metric("openclaw.gateway.rpc.requests", points)), now=1.0)
    assert result.reasons == {"family_cap": 2}
    assert len(store.families["openclaw_gateway_rpc_requests_total"].series) == 3


def test_stream_cap() -> None:
    """Incoming streams beyond --max-streams are refused and counted."""
    store, translator = new_translator(max_streams=2)
    lanes = [({"openclaw.lane": f"session:{n}"}, 1.0) for n in range(4)]
    result = translator.apply(metrics_request(sum_metric("openclaw.queue.lane.enqueue", lanes)), now=1.0)
    assert result.reasons == {"stream_cap": 2}
    assert store.dropped_by_reason["stream_cap"] == 2


def test_expiry_removes_idle_series_and_streams() -> None:
    """Series and stream state idle for the TTL are removed; a later point starts the series again."""
    store = Store(max_series=10, max_series_per_family=10, ttl=60)
    translator = MetricsTranslator(store, TranslateOptions())
    translator.apply(tokens(10.0), now=0.0)
    assert translator.expire(now=30.0) == 0
    assert translator.expire(now=61.0) == 1
    assert store.live_series == 0
    assert not translator.streams
    assert store.expired_total == 1


def test_known_metrics_hold_their_streams_and_give_them_back_as_they_are() -> None:
    """While a metric takes the fast path, its streams' state is packed in its known metric, out of the stream table
    (a fleet's memory); the stream cap and the count of tracked streams still include them. When the metric leaves
    the fast path (a new lane, refused by the cap here), its streams come back as they are: the counters go on."""
    store, translator = new_translator(max_streams=2)

    def lanes(total: float, count: int, time: int) -> ExportMetricsServiceRequest:
        points = [({"openclaw.lane": f"lane{n}"}, total) for n in range(count)]
        return metrics_request(sum_metric("openclaw.queue.lane.enqueue", points, time=time))

    translator.apply(lanes(1.0, 2, 2_000), now=1.0)
    translator.apply(lanes(3.0, 2, 3_000), now=2.0)  # the fast path
    assert (len(translator.streams), len(translator.tracked_streams)) == (0, 2)
    assert len(list(translator.stream_keys())) == 2
    rpc = sum_metric("openclaw.gateway.rpc.requests", [({"openclaw.gateway.rpc.method": "chat.send"}, 1.0)])
    assert translator.apply(metrics_request(rpc), now=2.0).reasons == {"stream_cap": 1}  # held streams count
    result = translator.apply(lanes(5.0, 3, 4_000), now=3.0)
    assert result.reasons == {"stream_cap": 1}  # the third lane: the first two came back to the table
    assert not translator.known and len(translator.streams) == len(translator.tracked_streams) == 2
    assert [stream.value for stream in translator.streams.values()] == [5.0, 5.0]
    for lane in ("lane0", "lane1"):
        assert value(store, "openclaw_queue_lane_enqueue_total", lane=lane) == 5.0


S1, S2, S3 = 1_000_000_000, 5_500_000_000, 8_500_000_000  # start times (ns)
CREATED_ROWS = [  # each export's start times for two streams, temporality, how the known metric keeps when they were
    # first seen (the first start of each)
    ("started together", [(S1, S1), (S1, S1)], CUMULATIVE, float),
    ("started apart: their starts, kept anyway", [(S1, S2), (S1, S2)], CUMULATIVE, type(None)),
    ("started apart, one restarted since", [(S1, S2), (S3, S2), (S3, S2)], CUMULATIVE, bytes),
    ("delta, started apart", [(S1, S2), (S1, S2)], DELTA, bytes),
]


@pytest.mark.parametrize(("case", "exports", "temporality", "kept_as"), CREATED_ROWS, ids=[r[0] for r in CREATED_ROWS])
def test_known_metrics_give_back_when_their_streams_were_first_seen(
    case: str, exports: list[tuple[int, int]], temporality: int, kept_as: type
) -> None:
    """When each stream was first seen (its first start) survives the fast path: kept as one time, as nothing where
    the starts its state holds tell it, or packed; the streams it gives back have it."""
    _, translator = new_translator()

    def lanes(starts: tuple[int, ...], total: float, time: int) -> ExportMetricsServiceRequest:
        points = [({"openclaw.lane": f"lane{n}"}, total) for n in range(len(starts))]
        metric = sum_metric("openclaw.queue.lane.enqueue", points, time=time, temporality=temporality)
        for point, start in zip(metric.sum.data_points, starts, strict=True):
            point.start_time_unix_nano = start
        return metrics_request(metric)

    time = 9_000_000_000
    for number, starts in enumerate(exports):
        time += 1_000_000_000
        assert translator.apply(lanes(starts, 1.0 + number, time), now=10.0 + number).rejected == 0
    (known,) = translator.known.values()
    assert type(known.created) is kept_as
    expected = [start / 1e9 for start in exports[0]]
    assert [known.created_at(point) for point in range(2)] == expected
    last = exports[-1]  # a new lane: the general path takes the streams back, then a new known metric
    assert translator.apply(lanes((*last, last[0]), 9.0, time + 1_000_000_000), now=20.0).rejected == 0
    (known,) = translator.known.values()
    assert [stream.created for stream in known.streams()][:2] == expected


@pytest.mark.parametrize("read_every", [1, 3, 100])
@pytest.mark.parametrize("temporality", [CUMULATIVE, DELTA])
def test_histogram_counts_that_outgrow_their_packing_give_what_the_general_path_gives(
    temporality: int, read_every: int
) -> None:
    """A known histogram's state is packed as narrow as its counts allow (``wire.Packings``: 1, 2, 4 or 8 bytes a
    count). Counts that cross each width, with reads between exports or not, give what a translator that walks every
    point gives, and the fast path keeps them (cumulative) while they are valid."""
    fast_store, fast_translator = new_translator()
    slow_store, slow_translator = new_translator()
    slow_translator.known = ForgetfulTable()
    counts = [3, 200, 255, 256, 60_000, 65_535, 65_536, 70_000, 2**32 - 1, 2**32 + 7, 2**39, 2**39 + 1]
    sizes: set[int] = set()  # of the settled state
    latest_sizes: set[int] = set()  # of the latest export kept
    first = None
    for number, count in enumerate(counts, 1):
        metric = metrics_pb2.Metric(name="openclaw.queue.wait_ms", unit="ms")
        metric.histogram.aggregation_temporality = temporality  # type: ignore[assignment]
        for lane, share in (("main", count), ("cron", count // 3 + 1)):
            point = metric.histogram.data_points.add(
                start_time_unix_nano=1_000 if temporality == CUMULATIVE else number * 1_000,
                time_unix_nano=(number + 1) * 1_000,
                count=share,
                sum=1.5 * share,
                bucket_counts=[share - share // 3, share // 3, 0],
                explicit_bounds=[5.0, 10.0],
            )
            point.attributes.extend(key_values({"openclaw.lane": lane}))
        for translator in (fast_translator, slow_translator):
            assert translator.apply(metrics_request(metric), now=float(number)).rejected == 0
        (known,) = fast_translator.known.values()
        if known.latest:  # cumulative: kept until a read, in the settled state's width where the counts fit
            settled = known.shape.packings.by_size[len(known.settled)]
            assert settled.pick is not None  # (uniform: the points have one end time, kept once)
            fits = count <= settled.limit
            assert len(known.latest) == (settled.full.size if fits else known.shape.packings.wide.size)
            latest_sizes.add(len(known.latest))
        if number % read_every == 0:
            assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
        sizes.add(len(known.settled))
        assert number == 1 or known is first  # kept by the fast path all along
        first = known
    assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
    # Repacked at each read: cumulative, in 1, 2, 4 and 8 bytes as the counts grow (delta: kept in ``pending``)
    assert len(sizes) == (4 if temporality == CUMULATIVE and read_every < 100 else 1)
    # The latest export: read after each, in every packing in turn; else also at full width, where the counts outgrew
    # the settled state's packing before the next read
    assert len(latest_sizes) == (0 if temporality == DELTA else 4 if read_every == 1 else 2)


senders, scopes, names = (
    st.sampled_from([b"gw-1", b"gw-2", b"gw-3"]),
    st.sampled_from(["", "s"]),
    st.sampled_from("abcd"),
)
known_step = st.tuples(st.booleans(), senders, scopes, names)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(known_step, max_size=60))
def test_the_known_table_is_a_mapping_and_like_senders_share_its_index(
    steps: list[tuple[bool, bytes, str, str]],
) -> None:
    """``KnownTable`` keeps known metrics by sender, scope and name as a dict would, whatever is put and removed; two
    senders whose metrics became known in the same order share one index of them (a fleet's memory)."""
    table, model = KnownTable(), dict[KnownKey, KnownMetric]()
    for number, (put, sender, scope, name) in enumerate(steps):
        known_key = (sender, scope, name)
        if put:
            table[known_key] = model[known_key] = cast(KnownMetric, number)  # (any object: the table does not look)
        elif known_key in model:
            del table[known_key]
            del model[known_key]
        assert len(table) == len(model) and dict(table.items()) == model and sorted(table) == sorted(model)
        assert all(table.get(key) is known for key, known in model.items()) and table.get((b"gw-4", "", "a")) is None
        assert sorted(map(id, table.values())) == sorted(map(id, model.values()))
    alike = KnownTable()
    for sender in (b"gw-1", b"gw-2"):
        for name in "abc":
            alike[sender, "openclaw", name] = cast(KnownMetric, name)
    assert alike.senders[b"gw-1"].index is alike.senders[b"gw-2"].index


@pytest.mark.parametrize(("source_label", "one_shape"), [(None, True), ("gateway", False)])
def test_the_gateways_of_a_fleet_share_what_their_known_metrics_have_in_common(
    source_label: str | None, one_shape: bool
) -> None:
    """Gateways that send the same metric in the same bytes share one ``KnownShape`` (layout, targets, attributes):
    what each adds is its own state. With ``--source-label`` each gateway's series, and so its shape, are its own."""
    _, translator = new_translator(source_label=source_label)
    for host in ("gw-1", "gw-2"):
        lanes = sum_metric(
            "openclaw.queue.lane.enqueue", [({"openclaw.lane": "main"}, 1.0), ({"openclaw.lane": "cron"}, 2.0)]
        )
        translator.apply(metrics_request(lanes, resource={"service.name": "openclaw", "host.name": host}), now=1.0)
    first, second = translator.known.values()
    assert (first.shape is second.shape) is one_shape
    assert first.settled == second.settled and first is not second


@pytest.mark.parametrize("source_label", [None, "gateway"])
def test_streams_that_feed_the_same_series_share_their_targets(source_label: str | None) -> None:
    """A stream's targets are found by the series its point feeds, not by its attribute bytes: the session lanes of
    two gateways, each named its own, feed the one ``session`` series through one ``Targets`` (a fleet's memory), and
    the ``main`` lane its own. With ``--source-label`` every stream's targets are its own."""
    store, translator = new_translator(source_label=source_label)
    sent = {
        "gw-1": ("session:agent:main:a", "session:agent:main:bb", "main"),
        "gw-2": ("session:agent:main:ccc", "main"),
    }
    for host, lanes in sent.items():
        lane_points = [({"openclaw.lane": lane}, 1.0) for lane in lanes]
        request = metrics_request(
            sum_metric("openclaw.queue.lane.enqueue", lane_points),
            resource={"service.name": "openclaw", "host.name": host},
        )
        assert translator.apply(request, now=1.0).accepted == len(lanes)
    first, second = (known.shape.targets for known in translator.known.values())
    shared = source_label is None
    assert (first[0] is first[1], first[0] is second[0], first[2] is second[1]) == (shared, shared, shared)
    assert first[0] is not first[2]
    labels = {"gateway": "openclaw:gw-1"} if source_label else {}
    assert value(store, "openclaw_queue_lane_enqueue_total", lane="session", **labels) == (2.0 if source_label else 3.0)
    assert value(store, "openclaw_queue_lane_enqueue_total", lane="main", **labels) == (1.0 if source_label else 2.0)


def test_a_known_shape_found_by_its_hash_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Metrics whose shape keys collide (every hash of the fast path made 0 here) still get shapes of their own: a
    shape found by its hash is checked against the metric's layout, skeleton, batch and targets."""
    monkeypatch.setattr(fast, "hash", lambda value: 0, raising=False)
    _, translator = new_translator()
    for name in ("openclaw.queue.lane.enqueue", "openclaw.queue.lane.dequeue"):  # (names of one length: one layout)
        translator.apply(metrics_request(sum_metric(name, [({"openclaw.lane": "main"}, 1.0)])), now=1.0)
    first, second = translator.known.values()
    assert first.shape.layout is second.shape.layout and first.shape is not second.shape
    assert [t.spec.name for t in first.shape.targets[0]] != [t.spec.name for t in second.shape.targets[0]]


def test_invalid_points_are_rejected_and_do_not_touch_other_series() -> None:
    """NaN values and inconsistent histograms are rejected with a reason; valid points still land."""
    store, translator = new_translator()
    bad = histogram_metric("openclaw.run.duration_ms", [(RUN, [10.0])])
    bad.histogram.data_points[0].count = 5  # bucket counts no longer add up
    nan = sum_metric("openclaw.tokens", [(TOKENS, float("nan"))])
    good = sum_metric("openclaw.cost.usd", [(USAGE, 1.0)])
    result = translator.apply(metrics_request(bad, nan, good), now=1.0)
    assert result.reasons == {"invalid": 2}
    assert result.accepted == 1
    assert set(store.families) == {"openclaw_model_cost_usd_total"}


# -- agreement with the official plugin -------------------------------------------------------------------------
def _official(path: object) -> Samples:
    from pathlib import Path  # noqa: PLC0415

    assert isinstance(path, Path)
    out: Samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


# Labels the mapping marks as not derivable from metrics (they come from spans with --spans-complete).
NOT_FROM_METRICS = {"trigger"}


def _compare(official: Samples, ours: Samples) -> list[str]:
    """Every official sample must have the same value in ours, summed over labels only ours has."""
    problems = []
    for (name, labels), expected in official.items():
        wanted = {(k, v) for k, v in labels if k not in NOT_FROM_METRICS}
        matches = [
            v
            for (n, ls), v in ours.items()
            if n == name
            and wanted <= ls
            and {k for k, _ in ls} - {k for k, _ in wanted} <= NOT_FROM_METRICS | {"observation_unit"}
        ]
        if not matches:
            problems.append(f"missing {name}{dict(labels)}")
        elif not math.isclose(sum(matches), expected, rel_tol=1e-9, abs_tol=1e-9):
            problems.append(f"{name}{dict(labels)}: official {expected}, bridge {sum(matches)}")
    return problems


def _replay(folder_name: str, until: float | None, *, last_process_only: bool, stop_at_runs: float = 0) -> Store:
    from tests.conftest import require_fixtures  # noqa: PLC0415
    from tests.support import captured_requests  # noqa: PLC0415

    requests = captured_requests(require_fixtures() / folder_name, "metrics")
    if until is not None:
        after = [r for r in requests if r.time >= until]
        requests = requests[: requests.index(after[0]) + 1] if after else requests
    decoded = [decode_request(Signal.METRICS, Encoding.PROTOBUF, r.decoded_body()) for r in requests]
    if last_process_only:
        pids = [
            next(a.value.int_value for a in m.resource_metrics[0].resource.attributes if a.key == "process.pid")
            for m in decoded
        ]
        first = max(i for i, pid in enumerate(pids) if i == 0 or pids[i - 1] != pid)
        decoded = decoded[first:]
    store, translator = new_translator()
    for index, message in enumerate(decoded):
        assert translator.apply(message, now=float(index)).rejected == 0
        if stop_at_runs and _runs(store) >= stop_at_runs:
            break
    return store


def _runs(store: Store) -> float:
    return sum(v for (name, _), v in samples(store).items() if name == "openclaw_run_completed_total")


@pytest.mark.parametrize("scrape", SCRAPES_03A)
def test_replay_agrees_with_the_official_plugin(scrape: str) -> None:
    """Replaying the main capture up to a scrape gives the official plugin's values for every shared series, the
    30/60/120/300/600 s buckets included: every run above 10 s is placed from the metrics alone."""
    from tests.conftest import SCRAPES  # noqa: PLC0415

    # The official plugin records an event at once; diagnostics-otel exports it within the next interval (1 s).
    store = _replay("03a-main-part1-cumulative", scrape_time(scrape) + 1.0, last_process_only=False)
    official = _official(SCRAPES / scrape)
    assert official
    assert _compare(official, samples(store)) == []
    assert not any(store.unplaced.values())


def test_first_scrape_agrees_with_the_last_gateway_process_of_capture_02() -> None:
    """The first official scrape (taken after the first successful run of capture 02's last gateway process, time
    not recorded) matches that process's export once it reports the same number of runs."""
    from tests.conftest import SCRAPES  # noqa: PLC0415

    official = _official(SCRAPES / "scrape-first.txt")
    runs = sum(v for (name, _), v in official.items() if name == "openclaw_run_completed_total")
    store = _replay("02-run2-restarts-first-success-and-tool", None, last_process_only=True, stop_at_runs=runs)
    assert _compare(official, samples(store)) == []


def test_comparison_would_notice_a_difference() -> None:
    """The agreement check is not vacuous: a changed value is reported."""
    from tests.conftest import SCRAPES  # noqa: PLC0415

    store = _replay("03a-main-part1-cumulative", scrape_time("scrape-015316-end.txt") + 1.0, last_process_only=False)
    official = _official(SCRAPES / "scrape-015316-end.txt")
    key = next(k for k in official if k[0] == "openclaw_run_completed_total")
    official[key] += 1
    assert len(_compare(official, samples(store))) == 1
    bucket = next(k for k in official if k[0] == "openclaw_run_duration_seconds_bucket" and ("le", "30") in k[1])
    official[bucket] -= 1
    assert len(_compare(official, samples(store))) == 2


def test_kinds_are_consistent_per_family() -> None:
    """Specs sharing a family name agree on type and label names."""
    seen: dict[str, tuple[Kind, frozenset[str]]] = {}
    for spec in METRIC_SPECS:
        shape = (spec.kind, frozenset(label.name for label in spec.labels))
        assert seen.setdefault(spec.name, shape) == shape, spec.name


def test_resent_unchanged_exports_keep_their_series_alive() -> None:
    """A gateway that keeps resending the same cumulative snapshot (skipped as unchanged) never loses its series to
    expiry, while a stream that stopped being sent does expire."""
    store = Store(max_series=10, max_series_per_family=10, ttl=60)
    translator = MetricsTranslator(store, TranslateOptions())
    translator.apply(tokens(10.0), now=0.0)
    translator.apply(metrics_request(sum_metric("openclaw.cost.usd", [(USAGE, 1.0)])), now=0.0)
    for minute in range(1, 6):
        translator.apply(tokens(10.0, time=2_000 + minute), now=minute * 50.0)
        translator.expire(now=minute * 50.0)
    assert set(store.families) == {"openclaw_model_tokens_total"}
    assert value(store, "openclaw_model_tokens_total", **TOKEN_LABELS) == 10.0


def _framed(field: int, payload: bytes) -> bytes:
    return bytes([field << 3 | 2]) + encode_varint(len(payload)) + payload


@pytest.mark.parametrize("temporality", [CUMULATIVE, DELTA])
def test_bodies_encoded_unlike_upb_give_what_upb_bytes_give(temporality: int) -> None:
    """A sender whose metric bytes differ from upb's serialisation (here an unknown field before the name, which
    upb moves to the end) is compared by its own bytes on the fast path and still gives, export by export, what
    the general path gives."""
    fast_store, slow_store = Store(100, 100, ttl=10**9), Store(100, 100, ttl=10**9)
    fast, slow = MetricsTranslator(fast_store, TranslateOptions()), MetricsTranslator(slow_store, TranslateOptions())
    slow.known = ForgetfulTable()
    observed: list[float] = []
    total = 0.0
    for export in range(1, 6):
        delta = temporality == DELTA
        observed += [37.0 * export]
        total += export
        start, time = (export * 1_000, export * 1_000 + 1_000) if delta else (1_000, export * 1_000 + 1_000)
        counter = sum_metric(
            "openclaw.queue.lane.enqueue",
            [({"openclaw.lane": "main"}, export if delta else total)],
            start=start,
            time=time,
            temporality=temporality,
        )
        waits = histogram_metric(
            "openclaw.queue.wait_ms",
            [({"openclaw.lane": "main"}, [37.0 * export] if delta else observed)],
            start=start,
            time=time,
            temporality=temporality,
        )
        request = metrics_request(counter, waits)
        resource_metrics = request.resource_metrics[0]
        scope_bytes = _framed(1, resource_metrics.scope_metrics[0].scope.SerializeToString())
        for metric in (counter, waits):
            scope_bytes += _framed(2, b"\xf8\x06\x01" + metric.SerializeToString())  # unknown field 111 = 1 first
        body = _framed(1, _framed(1, resource_metrics.resource.SerializeToString()) + _framed(2, scope_bytes))
        decoded = decode_request(Signal.METRICS, Encoding.PROTOBUF, body)
        assert [m.name for m in decoded.resource_metrics[0].scope_metrics[0].metrics] == [counter.name, waits.name]
        fast_result, slow_result = fast.apply(decoded, float(export), body), slow.apply(decoded, float(export))
        assert (fast_result.accepted, fast_result.rejected) == (slow_result.accepted, slow_result.rejected) == (2, 0)
        if export % 2:
            assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
    assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
    assert 'openclaw_queue_lane_enqueue_total{lane="main"} 15' in render(fast_store, Format.TEXT)
    assert len(fast.known) == 2  # both metrics took the fast path


# -- APPROX gauges ---------------------------------------------------------------------------------------------
def _rss(
    observed: list[float], *, start: int = 1_000, time: int, temporality: int = CUMULATIVE
) -> ExportMetricsServiceRequest:
    return metrics_request(
        histogram_metric(
            "openclaw.memory.rss_bytes", [({}, observed)], start=start, time=time, temporality=temporality, unit="By"
        )
    )


def test_approx_gauges_wait_for_their_first_export_interval() -> None:
    """A bridge started next to a gateway that has run for a while: the first cumulative export carries the
    gateway's whole-life mean (here 638 MB), so openclaw_memory_bytes shows nothing; each later export shows the
    mean of its own interval, on the general path and the fast path alike."""
    store, translator = new_translator()
    life = [638e6] * 50
    translator.apply(_rss(life, time=2_000), now=1.0)
    assert "openclaw_memory_bytes" not in store.families
    assert value(store, "openclaw_memory_rss_bytes_count") == 50  # the histogram keeps the whole history
    translator.apply(_rss(life, time=3_000), now=2.0)  # nothing observed in this interval
    assert "openclaw_memory_bytes" not in store.families
    life += [300e6, 320e6]
    translator.apply(_rss(life, time=4_000), now=3.0)
    assert value(store, "openclaw_memory_bytes", kind="rss") == 310e6
    for export, rss in enumerate([400e6, 500e6, 200e6], start=5):  # the same streams again: the fast path
        life.append(rss)
        translator.apply(_rss(life, time=export * 1_000), now=float(export))
        assert value(store, "openclaw_memory_bytes", kind="rss") == rss
    assert translator.known, "the later exports took the fast path"


def test_approx_gauges_after_a_restart_and_from_delta_exports() -> None:
    """A restart the bridge saw covers only the time since the restart, and a delta export is one interval: both
    show at once."""
    store, translator = new_translator()
    translator.apply(_rss([638e6] * 9, time=2_000), now=1.0)
    translator.apply(_rss([100e6, 140e6], start=5_000, time=6_000), now=2.0)  # the gateway restarted
    assert value(store, "openclaw_memory_bytes", kind="rss") == 120e6
    delta_store, delta = new_translator()
    delta.apply(_rss([700e6, 900e6], start=1_000, time=2_000, temporality=DELTA), now=1.0)
    assert value(delta_store, "openclaw_memory_bytes", kind="rss") == 800e6


def test_an_idle_lane_keeps_the_fast_path_and_its_gauge_appears_with_its_first_interval() -> None:
    """A queue lane seen once and then idle has no gauge yet; its metric still takes the fast path, and when the lane
    gets busy again the gauge appears with that interval's mean, as on the general path."""
    fast_store, fast = new_translator()
    slow_store, slow = new_translator()
    slow.known = ForgetfulTable()
    main: list[float] = []
    cron = [5.0]
    for export in range(1, 7):
        main.append(float(export))
        if export == 5:
            cron += [7.0, 9.0]
        lanes = [({"openclaw.lane": "main"}, main), ({"openclaw.lane": "cron"}, cron)]
        metric = histogram_metric("openclaw.queue.depth", lanes, time=1_000 + export * 1_000, unit="1")
        request = metrics_request(metric)
        known_before = list(fast.known.values())
        assert fast.apply(request, now=float(export), body=request.SerializeToString()).rejected == 0
        assert slow.apply(request, now=float(export)).rejected == 0  # (with its bytes: the whole-export path)
        if export in (3, 4):  # the known metric of the previous export took this one: the fast path
            assert known_before and list(fast.known.values()) == known_before
        assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
        cron_gauge = samples(fast_store).get(("openclaw_queue_lane_size", frozenset({("lane", "cron")})))
        assert cron_gauge == (8.0 if export >= 5 else None)
        if export > 1:
            assert value(fast_store, "openclaw_queue_lane_size", lane="main") == export


class KeptExports:
    """Counts the exports of a metric that the fast path keeps and has not settled yet (``KnownShape.latest`` is what
    it keeps of each; a settle applies them all)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        keep, settle = fast.KnownShape.latest, fast.settle

        def counting(shape: fast.KnownShape, values: fast.Values, settled: bytes) -> bytes:
            self.count += 1
            return keep(shape, values, settled)

        def settling(known: KnownMetric, rules: Rules) -> None:
            if known.unsettled:
                self.count = 0
            settle(known, rules)

        monkeypatch.setattr(fast.KnownShape, "latest", counting)
        monkeypatch.setattr(fast, "settle", settling)


# Each row: a histogram feeding APPROX gauges, its temporality, and per export what each of its streams observed in that
# export's interval (READ: the store is read there); then how many exports the fast path keeps until the last read
# (the first export takes the general path; a delta point without observations too, its bytes lack the count), and
# the gauge each stream shows then (None: no series).
READ = None
Source = tuple[str, str, str, list[dict[str, str]], list[dict[str, str]]]
RSS: Source = ("openclaw.memory.rss_bytes", "By", "openclaw_memory_bytes", [{}], [{"kind": "rss"}])
LANES: Source = (
    "openclaw.queue.depth",
    "1",
    "openclaw_queue_lane_size",
    [{"openclaw.lane": "main"}, {"openclaw.lane": "cron"}],
    [{"lane": "main"}, {"lane": "cron"}],
)
Intervals = list[list[list[float]] | None]
GAUGE_ROWS: list[tuple[str, Source, int, Intervals, int, list[float | None]]] = [
    ("observed in the last", RSS, CUMULATIVE, [[[6e8]], [[3e8, 3.2e8]], [[4e8]], [[5e8, 7e8]]], 3, [6e8]),
    ("not in the last", RSS, CUMULATIVE, [[[6e8]], [[3e8, 3.2e8]], [[4e8, 8e8]], [[]], [[]]], 2, [6e8]),
    ("not since the first", RSS, CUMULATIVE, [[[6e8]], [[]], [[]]], 0, [None]),
    ("read between", RSS, CUMULATIVE, [[[6e8]], [[1e8]], READ, [[]], [[2e8]], [[]]], 1, [2e8]),
    ("delta", RSS, DELTA, [[[7e8, 9e8]], [[1e8]], [[2e8, 4e8]]], 2, [3e8]),
    ("delta, not in the last", RSS, DELTA, [[[7e8, 9e8]], [[1e8]], [[2e8, 4e8]], [[]], [[]]], 0, [3e8]),
    ("lanes", LANES, CUMULATIVE, [[[1], [5]], [[2], [7, 9]], [[3], []], [[4, 6], []]], 3, [5, 8]),
    ("lanes, one idle from the first", LANES, CUMULATIVE, [[[1], [5]], [[2], []], [[3], []]], 2, [3, None]),
    ("lanes, one woken", LANES, CUMULATIVE, [[[1], [5]], [[2], []], READ, [[], [1, 2]], [[], []]], 1, [2, 1.5]),
    ("delta lanes", LANES, DELTA, [[[1], [5]], [[2, 4], [6]], [[3], [1, 2]]], 2, [3, 1.5]),
]


@pytest.mark.parametrize(
    ("case", "source", "temporality", "intervals", "kept", "expected"), GAUGE_ROWS, ids=[row[0] for row in GAUGE_ROWS]
)
def test_approx_gauges_show_the_latest_interval_of_the_exports_kept_until_a_read(
    case: str,
    source: Source,
    temporality: int,
    intervals: Intervals,
    kept: int,
    expected: list[float | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Several exports kept between two reads: an APPROX gauge shows the mean of the latest interval that had
    observations (not the mean of every export since the read), as the general path, which applies each export as
    it comes, shows it."""
    name, unit, gauge, attributes, labels = source
    fast_store, fast = new_translator()
    slow_store, slow = new_translator()
    slow.known = ForgetfulTable()
    kept_exports = KeptExports(monkeypatch)
    observed: list[list[float]] = [[] for _ in attributes]
    time = 1_000
    for export in intervals:
        if export is READ:
            assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
            continue
        time += 1_000
        for stream, values in enumerate(export):
            observed[stream] = observed[stream] + values if temporality == CUMULATIVE else values
        points = list(zip(attributes, observed, strict=True))
        start = 1_000 if temporality == CUMULATIVE else time - 1_000
        metric = histogram_metric(name, points, start=start, time=time, temporality=temporality, unit=unit)
        request = metrics_request(metric)
        assert fast.apply(request, now=time / 1_000, body=request.SerializeToString()).rejected == 0
        assert slow.apply(request, now=time / 1_000).rejected == 0
    assert kept_exports.count == kept
    shown = samples(fast_store)
    assert [shown.get((gauge, frozenset(each.items()))) for each in labels] == expected
    assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)


def test_an_approx_gauge_fed_by_two_senders_shows_the_interval_that_arrived_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Exports the fast path keeps until a read do not override an interval of another sender that arrived after
    them (the general path applies each as it comes)."""
    fast_store, fast = new_translator()
    slow_store, slow = new_translator()
    slow.known = ForgetfulTable()
    kept_exports = KeptExports(monkeypatch)
    first, second = {**GATEWAY, "process.pid": 1}, {**GATEWAY, "process.pid": 2}
    observed = [1e8]
    requests = []
    for time in (2_000, 3_000, 4_000):  # the first sender: the last two exports on the fast path
        observed = [*observed, time * 1e5]
        metric = histogram_metric("openclaw.memory.rss_bytes", [({}, observed)], time=time, unit="By")
        requests.append(metrics_request(metric, resource=first))
    late = histogram_metric("openclaw.memory.rss_bytes", [({}, [7e8])], time=5_000, temporality=DELTA, unit="By")
    requests.append(metrics_request(late, resource=second))  # the second: one delta interval, after them
    for now, request in enumerate(requests):
        fast.apply(request, now=float(now), body=request.SerializeToString())
        slow.apply(request, now=float(now))
    assert kept_exports.count == 2
    assert value(fast_store, "openclaw_memory_bytes", kind="rss") == 7e8
    assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)


# Each row: exports of two lanes (count, sum, bucket counts each) that the fast path keeps until one read at the end,
# which a settle of lanes (every bucket of a metric in one subtraction) cannot take as plain growth.
Point = tuple[int, float, list[int]]
FIRST: list[Point] = [(3, 30.0, [1, 1, 1, 0]), (1, 5.0, [0, 1, 0, 0])]
GROWTH_ROWS: list[tuple[str, list[list[Point]]]] = [
    ("a bucket down, the count up", [FIRST, [(4, 40.0, [2, 2, 0, 0]), (2, 6.0, [0, 2, 0, 0])]]),
    (
        "buckets moved, the count did not",
        [FIRST, [(3, 30.0, [1, 2, 0, 0]), (2, 6.0, [0, 2, 0, 0])], [(4, 45.0, [1, 2, 1, 0]), (3, 7.0, [0, 3, 0, 0])]],
    ),
    ("the sum moved, the count did not", [FIRST, [(3, 31.0, [1, 1, 1, 0]), (2, 6.0, [0, 2, 0, 0])]]),
    (
        "counts of 2**63 and more",
        [
            FIRST,
            [(2**63 + 3, 40.0, [2**63 + 1, 1, 1, 0]), (2, 6.0, [0, 2, 0, 0])],  # every lane grew by 0 or 2**63
            [(2**63 + 4, 45.0, [2**63 + 1, 1, 2, 0]), (3, 7.0, [0, 3, 0, 0])],
        ],
    ),
]


@pytest.mark.parametrize("reads", [False, True], ids=["one read", "a read after each"])
@pytest.mark.parametrize(("case", "exports"), GROWTH_ROWS, ids=[row[0] for row in GROWTH_ROWS])
def test_exports_a_settle_of_lanes_leaves_to_the_rules_give_what_the_general_path_gives(
    case: str, exports: list[list[Point]], reads: bool
) -> None:
    fast_store, fast = new_translator()
    slow_store, slow = new_translator()
    slow.known = ForgetfulTable()
    for number, points in enumerate(exports):
        request = _two_lanes(points, number)
        assert fast.apply(request, float(number), request.SerializeToString()).accepted == 2
        assert slow.apply(request, float(number)).accepted == 2
        if reads or number == len(exports) - 1:
            assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
    assert len(fast.known) == 1


def test_buckets_that_do_not_add_up_point_by_point_feed_nothing() -> None:
    """Buckets that add up to the counts over the metric, not point by point: the fast path takes the export (its
    answer is the general path's for valid points) and the settle leaves the points to the rules, which refuse them,
    so that the series are the general path's."""
    fast_store, fast = new_translator()
    slow_store, slow = new_translator()
    slow.known = ForgetfulTable()
    miscounted = [(4, 40.0, [1, 1, 1, 2]), (2, 6.0, [0, 1, 0, 0])]  # one bucket count too many, one too few
    for number, points in enumerate([FIRST, miscounted]):
        request = _two_lanes(points, number)
        fast.apply(request, float(number), request.SerializeToString())
        slow.apply(request, float(number))
    assert fast.known and render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)


def _two_lanes(points: list[Point], number: int) -> ExportMetricsServiceRequest:
    metric = metrics_pb2.Metric(name="openclaw.queue.wait_ms", unit="ms")
    metric.histogram.aggregation_temporality = CUMULATIVE  # type: ignore[assignment]
    for lane, (count, total, buckets) in zip(("main", "cron"), points, strict=True):
        point = metric.histogram.data_points.add(
            start_time_unix_nano=1_000,
            time_unix_nano=2_000 + number * 1_000,
            count=count,
            sum=total,
            bucket_counts=buckets,
            explicit_bounds=[1.0, 10.0, 100.0],
        )
        point.attributes.extend(key_values({"openclaw.lane": lane}))
    return metrics_request(metric)
