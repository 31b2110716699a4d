"""Real OpenTelemetry exporters (Python SDK, and the JS SDK family OpenClaw ships) sending to a running bridge."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from otlp_bridge.receive.body import BodyReader
from tests.conftest import NODE_PACKAGES, REPO, missing, require_tool
from tests.support import (
    USAGE_ATTRIBUTES,
    USAGE_LABELS,
    RunningBridge,
    Sample,
    bridge_process,
    find,
    in_process_bridge,
    scrape,
)

JS_DIR = REPO / "tests" / "js"
TOKEN = "collector-token-0123456789"
TOKEN_HEADER = "x-collector-token"

# What both senders record (tests/js/send.mjs ROUNDS): two rounds, each flushed on its own.
ROUNDS = ({"input": 100.0, "output": 20.0, "run_ms": 1500.0}, {"input": 50.0, "output": 0.0, "run_ms": 2500.0})
RUN_ATTRIBUTES = {
    "openclaw.channel": "webchat",
    "openclaw.provider": "fakeai",
    "openclaw.model": "fake-model",
    "openclaw.outcome": "completed",
}
RUN_LABELS = {"channel": "webchat", "provider": "fakeai", "model": "fake-model", "outcome": "completed"}


def assert_openclaw_series(samples: list[Sample]) -> None:
    """The two rounds, translated: tokens summed, runs counted, run durations converted from ms to seconds."""
    assert find(samples, "openclaw_model_tokens_total", token_type="input", **USAGE_LABELS) == 150
    assert find(samples, "openclaw_model_tokens_total", token_type="output", **USAGE_LABELS) == 20
    assert find(samples, "openclaw_run_completed_total", **RUN_LABELS) == 2
    assert find(samples, "openclaw_run_duration_seconds_sum", **RUN_LABELS) == pytest.approx(4.0)
    assert find(samples, "openclaw_run_duration_seconds_count", **RUN_LABELS) == 2
    assert find(samples, "openclaw_run_duration_seconds_bucket", le="1", **RUN_LABELS) == 0
    assert find(samples, "openclaw_run_duration_seconds_bucket", le="2.5", **RUN_LABELS) == 2
    assert find(samples, "openclaw_run_duration_seconds_bucket", le="+Inf", **RUN_LABELS) == 2


def assert_accepted(samples: list[Sample], *signals: str) -> None:
    for signal in signals:
        accepted = find(samples, "otlp_bridge_received_points_total", signal=signal, outcome="accepted")
        assert accepted is not None, signal
        assert accepted >= 1, signal
        assert not find(samples, "otlp_bridge_requests_total", signal=signal, outcome="bad_request")


@pytest.fixture
def gzip_spy() -> list[bool]:
    """Set up by ``spy_on``: whether each OTLP request body arrived gzip-compressed."""
    return []


def spy_on(running: RunningBridge, seen: list[bool], monkeypatch: pytest.MonkeyPatch) -> None:
    original = running.bridge.receiver.read_body

    async def read_body(request: web.Request, reader: BodyReader) -> bytes:
        seen.append(reader.gzipped)
        return await original(request, reader)

    monkeypatch.setattr(running.bridge.receiver, "read_body", read_body)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "ingest-token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


# -- Python SDK ------------------------------------------------------------------------------------------------


class RecordingMetricExporter(OTLPMetricExporter):
    """The real exporter, keeping each export's result (the SDK's reader only logs failures)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.results: list[MetricExportResult] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float | None = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        result = super().export(metrics_data, timeout_millis, **kwargs)
        self.results.append(result)
        return result


class RecordingSpanExporter(OTLPSpanExporter):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        self.results.append(result)
        return result


class RecordingLogExporter(OTLPLogExporter):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.results: list[LogRecordExportResult] = []

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        result = super().export(batch)
        self.results.append(result)
        return result


def python_sdk_send(
    otlp_url: str,
    *,
    compression: Compression | None = None,
    headers: Mapping[str, str] | None = None,
    delta: bool = False,
) -> dict[str, list[Any]]:
    """Record OpenClaw-shaped metrics in two flushed rounds, one span and one log record; return export results."""
    resource = Resource.create({"service.name": "openclaw-gateway", "host.name": "vm"})
    options: dict[str, Any] = {"compression": compression, "headers": dict(headers or {}), "timeout": 10}
    temporality = AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE
    metric_exporter = RecordingMetricExporter(
        endpoint=f"{otlp_url}/v1/metrics",
        preferred_temporality={Counter: temporality, Histogram: temporality},
        **options,
    )
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = meter_provider.get_meter("openclaw")
    tokens = meter.create_counter("openclaw.tokens", unit="1", description="Token usage by type")
    run_duration = meter.create_histogram("openclaw.run.duration_ms", unit="ms", description="Agent run duration")
    for round_ in ROUNDS:
        tokens.add(round_["input"], {**USAGE_ATTRIBUTES, "openclaw.token": "input"})
        if round_["output"]:
            tokens.add(round_["output"], {**USAGE_ATTRIBUTES, "openclaw.token": "output"})
        run_duration.record(round_["run_ms"], RUN_ATTRIBUTES)
        assert meter_provider.force_flush()

    span_exporter = RecordingSpanExporter(endpoint=f"{otlp_url}/v1/traces", **options)
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    with tracer_provider.get_tracer("openclaw").start_as_current_span("openclaw.run", attributes=RUN_ATTRIBUTES):
        pass
    assert tracer_provider.force_flush()

    log_exporter = RecordingLogExporter(endpoint=f"{otlp_url}/v1/logs", **options)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    logger_provider.get_logger("openclaw").emit(
        LogRecord(
            severity_number=SeverityNumber.ERROR,
            severity_text="ERROR",
            body="provider returned 500",
            attributes={"openclaw.provider": "fakeai"},
        )
    )
    assert logger_provider.force_flush()

    meter_provider.shutdown()
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return {
        "metrics": metric_exporter.results,
        "traces": span_exporter.results,
        "logs": log_exporter.results,
    }


def assert_python_exports_succeeded(results: dict[str, list[Any]]) -> None:
    assert [r.name for r in results["metrics"][:2]] == ["SUCCESS", "SUCCESS"], results
    for signal, outcomes in results.items():
        assert outcomes, f"no {signal} export happened"
        assert all(r.name == "SUCCESS" for r in outcomes), (signal, outcomes)


@pytest.mark.parametrize("delta", [False, True], ids=["cumulative", "delta"])
async def test_python_sdk_exporters(session: aiohttp.ClientSession, delta: bool) -> None:
    """The Python SDK's OTLP/HTTP exporters: metrics become openclaw_* series; spans and log records are accepted."""
    async with in_process_bridge() as running:
        results = await asyncio.to_thread(python_sdk_send, running.otlp_url, delta=delta)
        assert_python_exports_succeeded(results)
        samples = await scrape(session, running.metrics_url)
    assert_openclaw_series(samples)
    assert_accepted(samples, "metrics", "traces", "logs")
    assert find(samples, "otlp_bridge_received_points_total", signal="traces", outcome="accepted") == 1
    assert find(samples, "otlp_bridge_received_points_total", signal="logs", outcome="accepted") == 1


async def test_python_sdk_exporters_with_gzip(
    session: aiohttp.ClientSession, gzip_spy: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``compression=Compression.Gzip`` every signal arrives gzip-compressed and is translated the same."""
    async with in_process_bridge() as running:
        spy_on(running, gzip_spy, monkeypatch)
        results = await asyncio.to_thread(python_sdk_send, running.otlp_url, compression=Compression.Gzip)
        assert_python_exports_succeeded(results)
        samples = await scrape(session, running.metrics_url)
    assert gzip_spy
    assert all(gzip_spy), gzip_spy
    assert_openclaw_series(samples)
    assert_accepted(samples, "metrics", "traces", "logs")


async def test_python_sdk_exporters_with_token_header(session: aiohttp.ClientSession, token_file: Path) -> None:
    """Exporter ``headers={"x-collector-token": ...}`` pass the bridge's ingest auth; a wrong token is refused."""
    async with in_process_bridge(ingest_token_file=token_file, ingest_token_header=TOKEN_HEADER) as running:
        results = await asyncio.to_thread(python_sdk_send, running.otlp_url, headers={TOKEN_HEADER: TOKEN})
        assert_python_exports_succeeded(results)
        samples = await scrape(session, running.metrics_url)
        assert_openclaw_series(samples)
        assert_accepted(samples, "metrics", "traces", "logs")

        refused = await asyncio.to_thread(python_sdk_send, running.otlp_url, headers={TOKEN_HEADER: "wrong"})
        assert refused["metrics"]
        assert all(r.name == "FAILURE" for r in refused["metrics"])
        samples = await scrape(session, running.metrics_url)
    forbidden = find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="forbidden")
    assert forbidden == len(refused["metrics"]), "a 403 is final: the exporter must not retry it"
    assert find(samples, "openclaw_model_tokens_total", token_type="input") == 150


# -- JS SDK (what OpenClaw ships) ----------------------------------------------------------------------------------


def require_js() -> str:
    node = require_tool("node")
    if not (JS_DIR / "node_modules" / "@opentelemetry" / "exporter-metrics-otlp-proto").is_dir():
        missing(f"the Node packages in tests/js are not installed: run `{NODE_PACKAGES}`")
    return node


async def run_send_mjs(
    node: str, endpoint: str, *args: str, env: Mapping[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    """Run tests/js/send.mjs; returns its exit code, its JSON summary and its stderr."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    child_env.update(env or {})
    process = await asyncio.create_subprocess_exec(
        node,
        str(JS_DIR / "send.mjs"),
        "--endpoint",
        endpoint,
        *args,
        cwd=JS_DIR,
        env=child_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()
        raise
    lines = stdout.decode().strip().splitlines()
    summary = json.loads(lines[-1]) if lines else {}
    assert process.returncode is not None
    return process.returncode, summary, stderr.decode()


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
async def test_js_sdk_exporters(session: aiohttp.ClientSession, temporality: str) -> None:
    """OpenClaw's JS exporters (cumulative and delta temporalityPreference) produce the expected openclaw_* series."""
    node = require_js()
    async with in_process_bridge() as running:
        code, summary, stderr = await run_send_mjs(node, running.otlp_url, "--temporality", temporality)
        assert code == 0, (summary, stderr)
        samples = await scrape(session, running.metrics_url)
    assert_openclaw_series(samples)
    assert_accepted(samples, "metrics", "traces", "logs")
    assert find(samples, "otlp_bridge_received_points_total", signal="traces", outcome="accepted") == 1
    assert find(samples, "otlp_bridge_received_points_total", signal="logs", outcome="accepted") == 1


async def test_js_sdk_exporters_with_gzip(
    session: aiohttp.ClientSession, gzip_spy: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``compression: 'gzip'`` the JS exporters' chunked gzip bodies are accepted and translated."""
    node = require_js()
    async with in_process_bridge() as running:
        spy_on(running, gzip_spy, monkeypatch)
        code, summary, stderr = await run_send_mjs(node, running.otlp_url, "--gzip", "--temporality", "cumulative")
        assert code == 0, (summary, stderr)
        samples = await scrape(session, running.metrics_url)
    assert gzip_spy
    assert all(gzip_spy), gzip_spy
    assert_openclaw_series(samples)
    assert_accepted(samples, "metrics", "traces", "logs")


async def test_js_sdk_exporters_with_token_header(session: aiohttp.ClientSession, token_file: Path) -> None:
    """``headers: {'x-collector-token': ...}`` (OpenClaw's diagnostics.otel.headers) pass; a wrong token fails."""
    node = require_js()
    async with in_process_bridge(ingest_token_file=token_file, ingest_token_header=TOKEN_HEADER) as running:
        code, summary, stderr = await run_send_mjs(node, running.otlp_url, "--header", f"{TOKEN_HEADER}={TOKEN}")
        assert code == 0, (summary, stderr)
        code, summary, _ = await run_send_mjs(node, running.otlp_url, "--header", f"{TOKEN_HEADER}=wrong")
        assert code == 1
        assert all(result["code"] != 0 for result in summary["results"]["metrics"]), summary
        samples = await scrape(session, running.metrics_url)
    assert_openclaw_series(samples)
    assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="forbidden") == len(
        summary["results"]["metrics"]
    )


async def test_js_sdk_env_configured_delta_gzip_against_the_cli(session: aiohttp.ClientSession) -> None:
    """The real CLI accepts the JS exporters configured like captures/04: OTEL_* env for delta and gzip."""
    node = require_js()
    env = {"OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}
    with bridge_process() as child:
        code, summary, stderr = await run_send_mjs(node, child.otlp_url, env=env)
        assert code == 0, (summary, stderr)
        samples = await scrape(session, child.metrics_url)
    assert_openclaw_series(samples)
    assert_accepted(samples, "metrics", "traces", "logs")
