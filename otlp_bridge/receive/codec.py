"""The OTLP/HTTP wire: content types, protobuf and JSON bodies, responses.

Pure and synchronous; knows protobuf, not aiohttp.
"""

from __future__ import annotations

import base64
import enum
import json
from typing import Final, Literal, overload

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from otlp_bridge.errors import BadRequest, BridgeError, UnsupportedMediaType


class Signal(enum.StrEnum):
    METRICS = "metrics"
    TRACES = "traces"
    LOGS = "logs"


class Encoding(enum.Enum):
    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


ExportRequest = (
    metrics_service_pb2.ExportMetricsServiceRequest
    | trace_service_pb2.ExportTraceServiceRequest
    | logs_service_pb2.ExportLogsServiceRequest
)
ExportResponse = (
    metrics_service_pb2.ExportMetricsServiceResponse
    | trace_service_pb2.ExportTraceServiceResponse
    | logs_service_pb2.ExportLogsServiceResponse
)

_REQUESTS: Final[dict[Signal, type[ExportRequest]]] = {
    Signal.METRICS: metrics_service_pb2.ExportMetricsServiceRequest,
    Signal.TRACES: trace_service_pb2.ExportTraceServiceRequest,
    Signal.LOGS: logs_service_pb2.ExportLogsServiceRequest,
}
_RESPONSES: Final[dict[Signal, type[ExportResponse]]] = {
    Signal.METRICS: metrics_service_pb2.ExportMetricsServiceResponse,
    Signal.TRACES: trace_service_pb2.ExportTraceServiceResponse,
    Signal.LOGS: logs_service_pb2.ExportLogsServiceResponse,
}
_REJECTED_FIELD: Final[dict[Signal, str]] = {
    Signal.METRICS: "rejected_data_points",
    Signal.TRACES: "rejected_spans",
    Signal.LOGS: "rejected_log_records",
}
_GRPC_CODE: Final[dict[int, int]] = {
    400: code_pb2.INVALID_ARGUMENT,
    401: code_pb2.UNAUTHENTICATED,
    403: code_pb2.PERMISSION_DENIED,
    404: code_pb2.NOT_FOUND,
    405: code_pb2.UNIMPLEMENTED,
    413: code_pb2.INVALID_ARGUMENT,
    415: code_pb2.INVALID_ARGUMENT,
    503: code_pb2.UNAVAILABLE,
}
_HEX_ID_KEYS: Final = ("traceId", "spanId", "parentSpanId")


def parse_content_type(header: str | None) -> Encoding:
    """``Content-Type`` → encoding; parameters such as ``charset`` are tolerated."""
    media_type = (header or "").split(";", 1)[0].strip().lower()
    for encoding in Encoding:
        if media_type == encoding.value:
            return encoding
    msg = f"unsupported content type {media_type or '(none)'!r}; use application/x-protobuf or application/json"
    raise UnsupportedMediaType(msg)


def response_encoding(header: str | None) -> Encoding:
    """The encoding an error body should use when the request's own content type may be invalid."""
    return Encoding.JSON if "json" in (header or "").lower() else Encoding.PROTOBUF


@overload
def decode_request(
    signal: Literal[Signal.METRICS], encoding: Encoding, body: bytes
) -> metrics_service_pb2.ExportMetricsServiceRequest: ...
@overload
def decode_request(
    signal: Literal[Signal.TRACES], encoding: Encoding, body: bytes
) -> trace_service_pb2.ExportTraceServiceRequest: ...
@overload
def decode_request(
    signal: Literal[Signal.LOGS], encoding: Encoding, body: bytes
) -> logs_service_pb2.ExportLogsServiceRequest: ...
@overload
def decode_request(signal: Signal, encoding: Encoding, body: bytes) -> ExportRequest: ...
def decode_request(signal: Signal, encoding: Encoding, body: bytes) -> ExportRequest:
    """Decode an ``Export*ServiceRequest``; any malformed body raises ``BadRequest``."""
    message = _REQUESTS[signal]()
    if encoding is Encoding.PROTOBUF:
        try:
            message.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError) as exc:
            msg = f"cannot decode protobuf {type(message).__name__}: {exc}"
            raise BadRequest(msg) from None
        return message
    try:
        document = json.loads(body) if body.strip() else {}
        if not isinstance(document, dict):
            msg = "JSON body must be an object"
            raise BadRequest(msg)
        _hex_ids_to_base64(document)
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except BridgeError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, json_format.ParseError) as exc:
        msg = f"cannot decode JSON {type(message).__name__}: {_short(exc)}"
        raise BadRequest(msg) from None
    return message


def _hex_ids_to_base64(node: object) -> None:
    """OTLP/JSON writes trace and span ids as hex; proto3 JSON expects base64 for ``bytes``."""
    if isinstance(node, dict):
        for key in _HEX_ID_KEYS:
            value = node.get(key)
            if isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode("ascii")
                except ValueError:
                    msg = f"{key} is not a hex string"
                    raise BadRequest(msg) from None
        for value in node.values():
            if isinstance(value, dict | list):
                _hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _hex_ids_to_base64(item)


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def encode_response(signal: Signal, encoding: Encoding, rejected: int = 0, message: str = "") -> bytes:
    """A success body; ``partial_success`` is set only when something was rejected or there is a warning."""
    response = _RESPONSES[signal]()
    if rejected or message:
        setattr(response.partial_success, _REJECTED_FIELD[signal], rejected)
        response.partial_success.error_message = message
    return _encode(response, encoding)


def encode_status(encoding: Encoding, http_status: int, message: str) -> bytes:
    """A ``google.rpc.Status`` body for a 4xx/5xx answer (with ``BadRequest`` details on 400)."""
    status = status_pb2.Status(code=_GRPC_CODE.get(http_status, code_pb2.UNKNOWN), message=message)
    if http_status == 400:
        details = error_details_pb2.BadRequest()
        details.field_violations.add(field="body", description=message)
        status.details.add().Pack(details)
    return _encode(status, encoding)


def _encode(message: Message, encoding: Encoding) -> bytes:
    if encoding is Encoding.PROTOBUF:
        return bytes(message.SerializeToString())
    document = json_format.MessageToDict(message)
    return json.dumps(document, separators=(",", ":")).encode()
