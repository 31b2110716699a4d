"""Shared by the wire, process and exporter tests: OpenClaw-like OTLP bodies, scrape parsing, Status decoding."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping

import aiohttp
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client.parser import text_string_to_metric_families

# Importing error_details_pb2 registers BadRequest, so a JSON Status whose details hold one can be parsed.
REGISTERED_DETAILS = (error_details_pb2.BadRequest,)

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
PROTOBUF = "application/x-protobuf"
JSON = "application/json"

# The attributes OpenClaw puts on openclaw.tokens (SUMMARY.md §5), without openclaw.token.
USAGE_ATTRIBUTES = {
    "openclaw.channel": "webchat",
    "openclaw.agent": "main",
    "openclaw.provider": "fakeai",
    "openclaw.model": "fake-model",
}
USAGE_LABELS = {"channel": "webchat", "agent": "main", "provider": "fakeai", "model": "fake-model"}


def _attributes(values: Mapping[str, str]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v)) for k, v in values.items()]


def tokens_request(
    tokens: Mapping[str, float],
    *,
    start_ns: int = 1_700_000_000_000_000_000,
    time_ns: int | None = None,
    temporality: int = CUMULATIVE,
    service_name: str = "openclaw-gateway",
) -> metrics_service_pb2.ExportMetricsServiceRequest:
    """One ``openclaw.tokens`` Sum (as OpenClaw sends it: monotonic, asDouble) with one point per token type."""
    now_ns = time_ns if time_ns is not None else time.time_ns()
    metric = metrics_pb2.Metric(
        name="openclaw.tokens",
        unit="1",
        description="Token usage by type",
        sum=metrics_pb2.Sum(aggregation_temporality=temporality, is_monotonic=True),  # type: ignore[arg-type]
    )
    for token_type, value in tokens.items():
        metric.sum.data_points.add(
            attributes=_attributes({**USAGE_ATTRIBUTES, "openclaw.token": token_type}),
            start_time_unix_nano=start_ns,
            time_unix_nano=now_ns,
            as_double=value,
        )
    return _wrap([metric], service_name)


def gauge_request(name: str, count: int, *, label: str = "i") -> metrics_service_pb2.ExportMetricsServiceRequest:
    """A generic (non-OpenClaw) gauge with ``count`` points, each its own series."""
    metric = metrics_pb2.Metric(name=name, unit="1", gauge=metrics_pb2.Gauge())
    now_ns = time.time_ns()
    for index in range(count):
        metric.gauge.data_points.add(
            attributes=_attributes({label: f"value-{index:07d}"}), time_unix_nano=now_ns, as_double=float(index)
        )
    return _wrap([metric], "load-generator", scope="load")


def _wrap(
    metrics: list[metrics_pb2.Metric], service_name: str, scope: str = "openclaw"
) -> metrics_service_pb2.ExportMetricsServiceRequest:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(_attributes({"service.name": service_name, "host.name": "vm"}))
    scope_metrics = resource_metrics.scope_metrics.add()
    scope_metrics.scope.name = scope
    scope_metrics.metrics.extend(metrics)
    return request


@dataclasses.dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_exposition(text: str) -> list[Sample]:
    """Every sample of a Prometheus text exposition (parsed by prometheus_client, so it must be valid)."""
    return [
        Sample(sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def find(samples: list[Sample], name: str, **labels: str) -> float | None:
    """The value of the one sample called ``name`` whose labels include ``labels``; None when there is none."""
    matches = [s for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert len(matches) <= 1, f"{name}{labels} matches several samples: {matches}"
    return matches[0].value if matches else None


async def scrape(session: aiohttp.ClientSession, metrics_url: str, token: str | None = None) -> list[Sample]:
    """GET /metrics and parse it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.get(f"{metrics_url}/metrics", headers=headers) as response:
        assert response.status == 200, await response.text()
        return parse_exposition(await response.text())


def decode_status(body: bytes, content_type: str) -> status_pb2.Status:
    """A ``google.rpc.Status`` body in the encoding its Content-Type names (strictly: unknown JSON keys fail)."""
    status = status_pb2.Status()
    if content_type.startswith(JSON):
        json_format.Parse(body, status)
    else:
        assert content_type.startswith(PROTOBUF), content_type
        status.ParseFromString(body)
    return status


def json_body(document: object) -> bytes:
    return json.dumps(document).encode()
