"""The OTLP/HTTP wire: content types, protobuf and JSON requests, success and error bodies."""

from __future__ import annotations

import base64
import json

import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, error_details_pb2, status_pb2
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from otlp_bridge.errors import BadRequest, UnsupportedMediaType
from otlp_bridge.receive.codec import (
    Encoding,
    Signal,
    decode_request,
    encode_response,
    encode_status,
    parse_content_type,
    response_encoding,
)
from tests.support import sum_metric, tokens_request

REQUESTS = {
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}
RESPONSES = {
    Signal.METRICS: (ExportMetricsServiceResponse, "rejected_data_points"),
    Signal.TRACES: (ExportTraceServiceResponse, "rejected_spans"),
    Signal.LOGS: (ExportLogsServiceResponse, "rejected_log_records"),
}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/x-protobuf", Encoding.PROTOBUF),
        ("application/json", Encoding.JSON),
        ("Application/JSON; charset=utf-8", Encoding.JSON),
        (" application/x-protobuf ;foo=bar", Encoding.PROTOBUF),
    ],
)
def test_content_type_names_the_encoding(header: str, expected: Encoding) -> None:
    assert parse_content_type(header) is expected


@pytest.mark.parametrize("header", [None, "", "text/plain", "application/protobuf", "application/jsonx"])
def test_any_other_content_type_is_415(header: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        parse_content_type(header)
    assert raised.value.status == 415
    assert "use application/x-protobuf or application/json" in raised.value.message


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, Encoding.PROTOBUF), ("text/plain", Encoding.PROTOBUF), ("application/json+bad", Encoding.JSON)],
)
def test_an_error_answers_in_json_when_the_request_looks_like_json(header: str | None, expected: Encoding) -> None:
    assert response_encoding(header) is expected


@given(st.dictionaries(st.sampled_from(["input", "output", "cacheRead"]), st.floats(0, 1e9), min_size=1))
def test_a_protobuf_metrics_request_decodes_to_what_was_sent(tokens: dict[str, float]) -> None:
    request = tokens_request(tokens, time_ns=2_000)
    decoded = decode_request(Signal.METRICS, Encoding.PROTOBUF, request.SerializeToString())
    assert decoded == request


@pytest.mark.parametrize("signal", list(Signal))
def test_an_empty_body_is_an_empty_request(signal: Signal) -> None:
    for encoding in Encoding:
        decoded = decode_request(signal, encoding, b"")
        assert isinstance(decoded, REQUESTS[signal])
        assert decoded == REQUESTS[signal]()


def test_json_takes_hex_trace_and_span_ids_and_ignores_unknown_fields() -> None:
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {"spans": [{"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331"}]}
                ],
                "unknownField": 1,
            }
        ]
    }
    decoded = decode_request(Signal.TRACES, Encoding.JSON, json.dumps(document).encode())
    span = decoded.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"
    assert span.span_id == bytes.fromhex("b7ad6b7169203331")


def test_json_metrics_follow_the_proto3_mapping() -> None:
    request = ExportMetricsServiceRequest()
    request.resource_metrics.add().scope_metrics.add().metrics.append(sum_metric("openclaw.tokens", [({}, 3.0)]))
    body = json_format.MessageToJson(request).encode()
    assert decode_request(Signal.METRICS, Encoding.JSON, body) == request


@pytest.mark.parametrize(
    ("signal", "encoding", "body", "message"),
    [
        (Signal.METRICS, Encoding.PROTOBUF, b"\xff\xff\xff", "cannot decode protobuf ExportMetricsServiceRequest"),
        (Signal.METRICS, Encoding.JSON, b"[1, 2]", "JSON body must be an object"),
        (Signal.LOGS, Encoding.JSON, b"{not json", "cannot decode JSON ExportLogsServiceRequest"),
        (
            Signal.TRACES,
            Encoding.JSON,
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "zz"}]}]}]}',
            "spanId is not a hex string",
        ),
        (Signal.METRICS, Encoding.JSON, b'{"resourceMetrics": 5}', "cannot decode JSON ExportMetricsServiceRequest"),
    ],
)
def test_a_malformed_body_is_400(signal: Signal, encoding: Encoding, body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as raised:
        decode_request(signal, encoding, body)
    assert raised.value.status == 400
    assert message in raised.value.message


@pytest.mark.parametrize("signal", list(Signal))
@pytest.mark.parametrize("encoding", list(Encoding))
def test_a_success_body_has_partial_success_only_when_something_was_rejected(
    signal: Signal, encoding: Encoding
) -> None:
    kind, field = RESPONSES[signal]
    for rejected, message in ((0, ""), (3, "3 rejected: 3 invalid")):
        body = encode_response(signal, encoding, rejected, message)
        response = kind()
        if encoding is Encoding.PROTOBUF:
            response.ParseFromString(body)
        else:
            json_format.Parse(body, response)
        assert response.HasField("partial_success") == bool(rejected)
        assert getattr(response.partial_success, field) == rejected
        assert response.partial_success.error_message == message


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, code_pb2.INVALID_ARGUMENT),
        (401, code_pb2.UNAUTHENTICATED),
        (403, code_pb2.PERMISSION_DENIED),
        (413, code_pb2.INVALID_ARGUMENT),
        (415, code_pb2.INVALID_ARGUMENT),
        (503, code_pb2.UNAVAILABLE),
        (500, code_pb2.UNKNOWN),
    ],
)
def test_an_error_body_is_a_status_with_the_grpc_code_of_its_http_status(status: int, code: int) -> None:
    for encoding in Encoding:
        body = encode_status(encoding, status, "why")
        decoded = status_pb2.Status()
        if encoding is Encoding.PROTOBUF:
            decoded.ParseFromString(body)
        else:
            json_format.Parse(body, decoded)
        assert (decoded.code, decoded.message) == (code, "why")
        details = [error_details_pb2.BadRequest() for _ in decoded.details]
        for detail, packed in zip(details, decoded.details, strict=True):
            assert packed.Unpack(detail)
        assert [v.description for d in details for v in d.field_violations] == (["why"] if status == 400 else [])


def test_json_ids_in_base64_are_refused_as_not_hex() -> None:
    """OTLP/JSON writes ids as hex; a proto3-style base64 id is not hex and is refused rather than misread."""
    span_id = base64.b64encode(bytes(8)).decode()
    body = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": span_id}]}]}]}).encode()
    with pytest.raises(BadRequest, match="spanId is not a hex string"):
        decode_request(Signal.TRACES, Encoding.JSON, body)
