"""Exact point accounting: every point, span or log record received is accepted or rejected exactly once, per
request (``partial_success``) and in the self-metrics, whatever the caps."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otlp_bridge.config import Config
from otlp_bridge.expose.selfmetrics import SelfMetrics
from otlp_bridge.store import Store
from otlp_bridge.translate.signals import SignalTranslators
from tests.support import (
    GATEWAY,
    PROTOBUF,
    find,
    histogram_metric,
    in_process_bridge,
    key_values,
    metrics_request,
    scrape,
    sum_metric,
)

MODELS = ["m1", "m2", "m3", "m4"]
LANES = ["main", "cron", "session:agent:main:x:1"]
CHANNELS = ["telegram", "liveness", "heartbeat", "webchat"]


def run_attributes(model: str) -> dict[str, str]:
    return {"openclaw.outcome": "completed", "openclaw.provider": "p", "openclaw.model": model, "openclaw.channel": "c"}


# One metric of a request: which instrument, the attribute variants of its points, and a value that grows.
metric_choice = st.tuples(
    st.sampled_from(["tokens", "run", "queue", "memory", "queue", "memory", "generic", "nan"]),
    st.lists(st.integers(0, 3), min_size=1, max_size=4, unique=True),
)


def build(choice: str, variants: Sequence[int], level: int, export: int) -> metrics_pb2.Metric:
    """Cumulative points at ``level`` (raised by some exports, kept by others), so that exports of the same metric
    take the fast path, with and without changes."""
    start, time = 1_000, 1_000 + 1_000 * export
    growing = [float(v) for v in range(1, level + 2)]
    if choice == "tokens":
        points = [({**run_attributes(MODELS[v]), "openclaw.token": "input"}, 10.0 * level) for v in variants]
        return sum_metric("openclaw.tokens", points, start=start, time=time)
    if choice == "run":  # one point feeds three families
        return histogram_metric(
            "openclaw.run.duration_ms", [(run_attributes(MODELS[v]), growing) for v in variants], start=start, time=time
        )
    if choice == "queue":  # selected points: lanes, liveness and heartbeat feed different families
        lanes = [({"openclaw.lane": LANES[v % 3], "openclaw.channel": CHANNELS[v]}, growing) for v in variants]
        return histogram_metric("openclaw.queue.depth", lanes, start=start, time=time, unit="1")
    if choice == "memory":  # a gauge, a histogram and a pressure histogram
        levels = [({"openclaw.memory.level": "warning"} if v % 2 else {}, growing) for v in variants]
        return histogram_metric("openclaw.memory.rss_bytes", levels, start=start, time=time, unit="By")
    if choice == "generic":
        points = [({"widget": str(v)}, float(level)) for v in variants]
        return sum_metric("acme.widgets", points, start=start, time=time)
    return sum_metric("openclaw.cost.usd", [(run_attributes(MODELS[v]), float("nan")) for v in variants])


def points_in(request: ExportMetricsServiceRequest) -> int:
    total = 0
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                total += len(getattr(metric, str(metric.WhichOneof("data"))).data_points)
    return total


def counted(metrics: SelfMetrics, name: str, label: str) -> dict[str, float]:
    return {
        sample.labels[label]: sample.value
        for family in metrics.registry.collect()
        for sample in family.samples
        if sample.name == name and sample.labels.get("signal") == "metrics"
    }


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    max_series=st.integers(1, 24),
    per_family=st.integers(1, 12),
    max_streams=st.integers(1, 40),
    chosen=st.lists(metric_choice, min_size=1, max_size=5),
    exports=st.lists(st.tuples(st.lists(st.booleans(), min_size=5, max_size=5), st.booleans()), min_size=1, max_size=8),
)
def test_every_point_is_accepted_or_rejected_exactly_once(
    max_series: int,
    per_family: int,
    max_streams: int,
    chosen: list[tuple[str, list[int]]],
    exports: list[tuple[list[bool], bool]],
) -> None:
    """Under random caps, each request's accepted + rejected equals its points, on the general path and the fast
    path alike (histograms feeding several families, points feeding a gauge and histograms, selected points), and
    the self-metrics sum to the points received. Each export sends some of the chosen metrics, grown or not."""
    config = Config(max_series=max_series, max_series_per_family=per_family, max_streams=max_streams)
    store = Store(config.max_series, config.max_series_per_family, ttl=10**9)
    translators = SignalTranslators(store, config)
    metrics = SelfMetrics(store, translators.metrics.tracked_streams)
    received = level = 0
    for export, (included, grow) in enumerate(exports, start=1):
        level += grow
        sent = [build(choice, variants, level, export) for at, (choice, variants) in enumerate(chosen) if included[at]]
        request = metrics_request(*sent)
        body = request.SerializeToString()
        result = translators.apply(request, float(export), body)
        points = points_in(request)
        assert result.accepted + result.rejected == points, (result, points)
        assert sum(result.reasons.values()) == result.rejected
        metrics.count_points("metrics", result)
        received += points
        tracked = list(translators.metrics.stream_keys())  # held by known metrics or in the table, never both
        assert len(tracked) == len(set(tracked)) == len(translators.metrics.tracked_streams) <= max_streams
    store.settle()
    outcomes = counted(metrics, "otlp_bridge_received_points_total", "outcome")
    assert outcomes.get("accepted", 0) + outcomes.get("rejected", 0) == received
    assert sum(counted(metrics, "otlp_bridge_rejected_points_total", "reason").values()) == outcomes.get("rejected", 0)


async def test_the_reported_case_adds_up_for_the_sender_and_the_operator() -> None:
    """The issue's case: with --max-series 10, a body of 62 points (histograms feeding several families) was answered
    with more rejections than it could have (56 rejected + 12 accepted > 62). The sender's partial_success and the
    self-metrics now say the same, and add up to 62."""
    run = histogram_metric("openclaw.run.duration_ms", [(run_attributes(f"m{i}"), [5.0]) for i in range(31)])
    queue = histogram_metric("openclaw.queue.depth", [({"openclaw.lane": f"l{i}"}, [1.0]) for i in range(31)])
    body = metrics_request(run, queue).SerializeToString()
    async with in_process_bridge(max_series=10) as bridge, aiohttp.ClientSession() as session:
        headers = {"Content-Type": PROTOBUF}
        async with session.post(f"{bridge.otlp_url}/v1/metrics", data=body, headers=headers) as response:
            answer = ExportMetricsServiceResponse.FromString(await response.read())
        samples = await scrape(session, bridge.metrics_url)
    rejected = answer.partial_success.rejected_data_points
    accepted = find(samples, "otlp_bridge_received_points_total", signal="metrics", outcome="accepted")
    assert 0 < rejected < 62
    assert find(samples, "otlp_bridge_received_points_total", signal="metrics", outcome="rejected") == rejected
    assert accepted is not None
    assert accepted + rejected == 62


EVENT = "model_fallback_decision"  # a log event feeding a family of its own besides openclaw_log_records_total


def test_spans_and_log_records_are_counted_once() -> None:
    """A span feeding several families, refused by more than one of them, is one rejected span; a log record too."""
    config = Config(max_series=1, max_series_per_family=1)
    store = Store(1, 1, ttl=600)
    translators = SignalTranslators(store, config)
    spans = ExportTraceServiceRequest()
    scope = spans.resource_spans.add()
    scope.resource.attributes.extend(key_values(GATEWAY))
    span_scope = scope.scope_spans.add()
    for index in range(3):
        span_scope.spans.add(
            name=f"openclaw.step{index}",  # each span feeds two families, under names of its own
            trace_id=bytes(16),
            span_id=bytes([index + 1]) * 8,
            start_time_unix_nano=1,
            end_time_unix_nano=2_000_000,
        )
    span_result = translators.apply(spans, 1.0)
    assert (span_result.accepted, span_result.rejected) == (0, 3)
    logs = ExportLogsServiceRequest()
    log_scope = logs.resource_logs.add().scope_logs.add()
    for index in range(4):
        record = log_scope.log_records.add(severity_number=17)
        record.attributes.extend(key_values({"openclaw.subsystem": f"s{index}", "openclaw.event": EVENT}))
    log_result = translators.apply(logs, 1.0)
    assert (log_result.accepted, log_result.rejected) == (0, 4)
    assert log_result.reasons == {"series_cap": 4}


def test_a_gauge_refused_on_the_fast_path_is_answered_for_in_the_request() -> None:
    """An APPROX gauge created when its first interval arrives on the fast path, and refused by the series cap
    there: the request reports the point rejected, the store counts one refusal (not a second one when settling),
    and the next change tries again."""
    store = Store(max_series=2, max_series_per_family=2, ttl=600)
    translators = SignalTranslators(store, Config(max_series=2, max_series_per_family=2))
    observed: list[float] = []
    for export in range(1, 5):
        observed.append(100e6 * export)
        rss = histogram_metric("openclaw.memory.rss_bytes", [({}, observed)], time=1_000 + export * 1_000, unit="By")
        tokens = sum_metric("openclaw.tokens", [({**run_attributes("m1"), "openclaw.token": "input"}, 5.0)])
        request = metrics_request(rss, tokens)
        result = translators.apply(request, float(export), request.SerializeToString())
        refused = 0 if export == 1 else 1  # the first export carries no interval: no gauge to refuse yet
        assert (result.accepted, result.rejected, dict(result.reasons)) == (
            2 - refused,
            refused,
            {"series_cap": refused} if refused else {},
        )
        assert store.dropped_observations == export - 1
    assert translators.metrics.known, "the exports took the fast path"
    assert not store.families["openclaw_memory_bytes"].series
