"""Tiny builders for OTLP protobuf requests used by the unit tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

AttributeValue = str | int | float | bool
CUMULATIVE: int = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA: int = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
DEFAULT_BOUNDS = (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000)
GATEWAY: dict[str, AttributeValue] = {"service.name": "openclaw-gateway", "host.name": "vm", "process.pid": 4242}


def any_value(value: AttributeValue) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value)


def key_values(attributes: Mapping[str, AttributeValue]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def sum_metric(
    name: str,
    points: Sequence[tuple[Mapping[str, AttributeValue], float]],
    *,
    start: int = 1_000,
    time: int = 2_000,
    temporality: int = CUMULATIVE,
    monotonic: bool = True,
    unit: str = "1",
) -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=name, unit=unit)
    metric.sum.aggregation_temporality = temporality  # type: ignore[assignment]
    metric.sum.is_monotonic = monotonic
    for attributes, value in points:
        point = metric.sum.data_points.add(start_time_unix_nano=start, time_unix_nano=time, as_double=value)
        point.attributes.extend(key_values(attributes))
    return metric


def histogram_metric(
    name: str,
    points: Sequence[tuple[Mapping[str, AttributeValue], Sequence[float]]],
    *,
    bounds: Sequence[float] = DEFAULT_BOUNDS,
    start: int = 1_000,
    time: int = 2_000,
    temporality: int = CUMULATIVE,
    unit: str = "ms",
) -> metrics_pb2.Metric:
    """Each point is its list of observed values; bucket counts, sum and count are computed from them."""
    metric = metrics_pb2.Metric(name=name, unit=unit)
    metric.histogram.aggregation_temporality = temporality  # type: ignore[assignment]
    for attributes, values in points:
        counts = [0] * (len(bounds) + 1)
        for value in values:
            index = next((i for i, bound in enumerate(bounds) if value <= bound), len(bounds))
            counts[index] += 1
        point = metric.histogram.data_points.add(
            start_time_unix_nano=start,
            time_unix_nano=time,
            count=len(values),
            sum=float(sum(values)),
            bucket_counts=counts,
            explicit_bounds=list(bounds),
        )
        point.attributes.extend(key_values(attributes))
    return metric


def metrics_request(
    *metrics: metrics_pb2.Metric,
    resource: Mapping[str, AttributeValue] = GATEWAY,
    scope: str = "openclaw",
) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(key_values(resource))
    scope_metrics = resource_metrics.scope_metrics.add()
    scope_metrics.scope.name = scope
    scope_metrics.metrics.extend(metrics)
    return request


def encode_varint(value: int) -> bytes:
    """A protobuf base-128 varint, for tests that build wire bytes by hand."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
