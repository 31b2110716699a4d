"""The OTLP/HTTP wire contract of a running (in-process) bridge: encodings, gzip, limits, errors, auth, replay."""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

from otlp_bridge import server
from tests.conftest import CAPTURES, require_fixtures
from tests.support import (
    DELTA,
    JSON,
    PROTOBUF,
    USAGE_LABELS,
    RunningBridge,
    captured_requests,
    decode_status,
    encode_varint,
    find,
    gauge_request,
    in_process_bridge,
    json_body,
    scrape,
    tokens_request,
)

SIGNALS = ("metrics", "traces", "logs")
RESPONSES: dict[str, type[Message]] = {
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("eee19b7ec3c1b173")
TOKENS = "openclaw_model_tokens_total"


@pytest.fixture
async def bridge() -> AsyncIterator[RunningBridge]:
    async with in_process_bridge() as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


# -- helpers ----------------------------------------------------------------------------------------------------


def span_request(spans: int = 1) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(string_value="openclaw"))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "openclaw"
    for index in range(spans):
        scope_spans.spans.add(
            trace_id=TRACE_ID,
            span_id=SPAN_ID[:-1] + bytes([index]),
            parent_span_id=PARENT_ID,
            name="openclaw.run",
            kind=1,
            start_time_unix_nano=1_700_000_000_000_000_000,
            end_time_unix_nano=1_700_000_001_500_000_000,
        )
    return request


def log_request(records: int = 1) -> logs_service_pb2.ExportLogsServiceRequest:
    request = logs_service_pb2.ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.add(key="service.name", value=common_pb2.AnyValue(string_value="openclaw"))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "openclaw"
    for _ in range(records):
        scope_logs.log_records.add(
            time_unix_nano=1_700_000_000_000_000_000,
            severity_number=17,
            severity_text="ERROR",
            body=common_pb2.AnyValue(string_value="provider returned 500"),
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
        )
    return request


def protobuf_body(signal: str) -> bytes:
    if signal == "metrics":
        return tokens_request({"input": 7}).SerializeToString()
    if signal == "traces":
        return span_request().SerializeToString()
    return log_request().SerializeToString()


async def post(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes | AsyncIterator[bytes],
    content_type: str | None = PROTOBUF,
    **headers: str,
) -> tuple[int, dict[str, str], bytes]:
    """POST and return status, headers and the whole response body."""
    sent = {k.replace("_", "-"): v for k, v in headers.items()}
    skip: list[str] = []
    if content_type is None:
        skip.append("Content-Type")
    else:
        sent["Content-Type"] = content_type
    async with session.post(url, data=body, headers=sent, skip_auto_headers=skip) as response:
        return response.status, dict(response.headers), await response.read()


def assert_status_body(
    status: int, headers: dict[str, str], body: bytes, expected: int, encoding: str = PROTOBUF
) -> status_pb2.Status:
    """The answer has the expected code and a google.rpc.Status body with a message, in the request's encoding."""
    assert status == expected, body
    assert headers["Content-Type"].split(";")[0] == encoding
    decoded = decode_status(body, headers["Content-Type"])
    assert decoded.message, "a Status body must explain the error"
    return decoded


def decode_response(signal: str, headers: dict[str, str], body: bytes) -> Any:
    message = RESPONSES[signal]()
    if headers["Content-Type"].startswith(JSON):
        json_format.Parse(body, message)
    else:
        assert headers["Content-Type"].startswith(PROTOBUF)
        message.ParseFromString(body)
    return message


def assert_full_success(signal: str, status: int, headers: dict[str, str], body: bytes, encoding: str) -> None:
    assert status == 200, body
    assert headers["Content-Type"].split(";")[0] == encoding
    response = decode_response(signal, headers, body)
    assert not response.HasField("partial_success"), response


async def chunks(data: bytes, size: int, pause: float = 0.0) -> AsyncIterator[bytes]:
    """An async iterator body: aiohttp sends it with Transfer-Encoding: chunked and no Content-Length."""
    for offset in range(0, len(data), size):
        if pause:
            await asyncio.sleep(pause)
        yield data[offset : offset + size]


def gzip_members(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(part) for part in parts)


def padded_protobuf(size: int) -> bytes:
    """A valid ExportMetricsServiceRequest of exactly ``size`` bytes (an unknown field carries the padding)."""
    base = tokens_request({"input": 1}).SerializeToString()
    # field 1000, wire type 2: the tag (1000 << 3 | 2 = 8002) is the varint 0xC2 0x3E; then a varint length.
    tag = bytes([0xC2, 0x3E])
    for length_bytes in (1, 2, 3, 4):
        payload = size - len(base) - len(tag) - length_bytes
        length = encode_varint(payload)
        if payload >= 0 and len(length) == length_bytes:
            body = base + tag + length + b"x" * payload
            assert len(body) == size
            return body
    raise AssertionError(size)


# -- success paths ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signal", SIGNALS)
async def test_protobuf_export_gets_protobuf_response(
    bridge: RunningBridge, session: aiohttp.ClientSession, signal: str
) -> None:
    """A protobuf export of each signal gets 200 with an empty Export*ServiceResponse in protobuf."""
    result = await post(session, f"{bridge.otlp_url}/v1/{signal}", protobuf_body(signal))
    assert_full_success(signal, *result, PROTOBUF)
    samples = await scrape(session, bridge.metrics_url)
    assert find(samples, "otlp_bridge_received_points_total", signal=signal, outcome="accepted") == 1
    if signal == "metrics":
        assert find(samples, TOKENS, token_type="input", **USAGE_LABELS) == 7


async def test_protobuf_counter_is_translated_across_exports(
    bridge: RunningBridge, session: aiohttp.ClientSession
) -> None:
    """Cumulative resends add only their increase; a delta export adds its value."""
    url = f"{bridge.otlp_url}/v1/metrics"
    for value in (10.0, 10.0, 25.0):
        status, _, _ = await post(session, url, tokens_request({"input": value}).SerializeToString())
        assert status == 200
    status, _, _ = await post(
        session, url, tokens_request({"output": 4}, temporality=DELTA, start_ns=0).SerializeToString()
    )
    assert status == 200
    samples = await scrape(session, bridge.metrics_url)
    assert find(samples, TOKENS, token_type="input") == 25
    assert find(samples, TOKENS, token_type="output") == 4


def _json_metrics(value_as: str, temporality: int, value: float, time_ns: int) -> dict[str, Any]:
    return {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "openclaw-gateway"}}],
                    "droppedAttributesCount": 0,
                    "someFutureResourceField": {"x": 1},
                },
                "scopeMetrics": [
                    {
                        "scope": {"name": "openclaw"},
                        "metrics": [
                            {
                                "name": "openclaw.tokens",
                                "unit": "1",
                                "sum": {
                                    "aggregationTemporality": temporality,
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "attributes": [
                                                {"key": k, "value": {"stringValue": v}}
                                                for k, v in {
                                                    "openclaw.channel": "webchat",
                                                    "openclaw.agent": "main",
                                                    "openclaw.provider": "fakeai",
                                                    "openclaw.model": "fake-model",
                                                    "openclaw.token": "input",
                                                }.items()
                                            ],
                                            "startTimeUnixNano": "1700000000000000000",
                                            "timeUnixNano": str(time_ns),
                                            value_as: str(int(value)) if value_as == "asInt" else value,
                                            "unknownPointField": "ignored",
                                        }
                                    ],
                                },
                                "metadata": [],
                                "notAnOtlpField": [1, 2, 3],
                            }
                        ],
                    }
                ],
            }
        ],
        "unknownTopLevel": True,
    }


async def test_json_metrics_follow_the_otlp_json_mapping(bridge: RunningBridge, session: aiohttp.ClientSession) -> None:
    """OTLP/JSON metrics (int64 as strings, integer enums, unknown fields) get 200 and a JSON response."""
    url = f"{bridge.otlp_url}/v1/metrics"
    body = json_body(_json_metrics("asInt", 2, 40, 1_700_000_010_000_000_000))
    status, headers, raw = await post(session, url, body, JSON)
    assert_full_success("metrics", status, headers, raw, JSON)
    assert json.loads(raw) == {}, "a full success is an empty ExportMetricsServiceResponse"
    # delta (enum 1) adds; the counter then holds 40 + 2 = 42
    body = json_body(_json_metrics("asDouble", 1, 2.0, 1_700_000_020_000_000_000))
    assert_full_success("metrics", *(await post(session, url, body, JSON)), JSON)
    samples = await scrape(session, bridge.metrics_url)
    assert find(samples, TOKENS, token_type="input", **USAGE_LABELS) == 42


@pytest.mark.parametrize("case", ["lower", "upper"])
async def test_json_traces_and_logs_take_hex_ids(
    bridge: RunningBridge, session: aiohttp.ClientSession, case: str
) -> None:
    """traceId/spanId in OTLP/JSON are (case-insensitive) hex, not base64; kind and severity are integers."""
    trace_id = TRACE_ID.hex().upper() if case == "upper" else TRACE_ID.hex()
    span_id = SPAN_ID.hex().upper() if case == "upper" else SPAN_ID.hex()
    spans = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "openclaw"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "openclaw"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "parentSpanId": PARENT_ID.hex(),
                                "name": "openclaw.run",
                                "kind": 2,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000001500000000",
                                "attributes": [{"key": "openclaw.attempt", "value": {"intValue": "3"}}],
                                "status": {"code": 1},
                                "links": [{"traceId": trace_id, "spanId": span_id}],
                                "brandNewSpanField": {"nested": ["x"]},
                            }
                        ],
                    }
                ],
            }
        ]
    }
    logs = {
        "resourceLogs": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "openclaw"}}]},
                "scopeLogs": [
                    {
                        "scope": {"name": "openclaw"},
                        "logRecords": [
                            {
                                "timeUnixNano": "1700000000000000000",
                                "observedTimeUnixNano": "1700000000000000001",
                                "severityNumber": 17,
                                "severityText": "ERROR",
                                "body": {"stringValue": "provider returned 500"},
                                "traceId": trace_id,
                                "spanId": span_id,
                                "flags": 1,
                                "unknownLogField": 0,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    for signal, document in (("traces", spans), ("logs", logs)):
        result = await post(session, f"{bridge.otlp_url}/v1/{signal}", json_body(document), JSON)
        assert_full_success(signal, *result, JSON)
    samples = await scrape(session, bridge.metrics_url)
    assert find(samples, "otlp_bridge_received_points_total", signal="traces", outcome="accepted") == 1
    assert find(samples, "otlp_bridge_received_points_total", signal="logs", outcome="accepted") == 1


async def test_json_content_type_parameters_are_tolerated(
    bridge: RunningBridge, session: aiohttp.ClientSession
) -> None:
    """``application/json; charset=utf-8`` is JSON; the answer uses application/json."""
    body = json_body(_json_metrics("asDouble", 2, 5.0, 1_700_000_010_000_000_000))
    result = await post(session, f"{bridge.otlp_url}/v1/metrics", body, "application/json; charset=utf-8")
    assert_full_success("metrics", *result, JSON)


async def test_json_bad_hex_id_is_400(bridge: RunningBridge, session: aiohttp.ClientSession) -> None:
    """A traceId that is not hex is an undecodable body (400, JSON Status)."""
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not-hex!", "spanId": SPAN_ID.hex()}]}]}]}
    result = await post(session, f"{bridge.otlp_url}/v1/traces", json_body(document), JSON)
    assert_status_body(*result, 400, JSON)


@pytest.mark.parametrize("signal", SIGNALS)
@pytest.mark.parametrize(("encoding", "body"), [(PROTOBUF, b""), (JSON, b"{}"), (JSON, b"")])
async def test_empty_request_gets_200(
    bridge: RunningBridge, session: aiohttp.ClientSession, signal: str, encoding: str, body: bytes
) -> None:
    """An empty export request is a success."""
    result = await post(session, f"{bridge.otlp_url}/v1/{signal}", body, encoding)
    assert_full_success(signal, *result, encoding)


@pytest.mark.parametrize("encoding_header", ["gzip", "GZIP", "x-gzip", "gzip, identity"])
async def test_gzip_protobuf_body(bridge: RunningBridge, session: aiohttp.ClientSession, encoding_header: str) -> None:
    """A gzip body (Content-Encoding gzip, any case, x-gzip alias) is inflated and accepted."""
    body = gzip.compress(tokens_request({"input": 11}).SerializeToString())
    result = await post(session, f"{bridge.otlp_url}/v1/metrics", body, PROTOBUF, Content_Encoding=encoding_header)
    assert_full_success("metrics", *result, PROTOBUF)
    assert find(await scrape(session, bridge.metrics_url), TOKENS, token_type="input") == 11


async def test_gzip_json_body(bridge: RunningBridge, session: aiohttp.ClientSession) -> None:
    """Gzip works for OTLP/JSON bodies too."""
    document = json_body(_json_metrics("asDouble", 2, 9.0, 1_700_000_010_000_000_000))
    result = await post(
        session, f"{bridge.otlp_url}/v1/metrics", gzip.compress(document), JSON, Content_Encoding="gzip"
    )
    assert_full_success("metrics", *result, JSON)
    assert find(await scrape(session, bridge.metrics_url), TOKENS, token_type="input") == 9


@pytest.mark.parametrize("chunked", [False, True])
async def test_multi_member_gzip_body_is_read_whole(
    bridge: RunningBridge, session: aiohttp.ClientSession, chunked: bool
) -> None:
    """A gzip body of two concatenated members (valid per RFC 1952) is inflated completely, not just member one."""
    # Two serialized requests concatenated are one request holding both (protobuf merges repeated fields).
    first = tokens_request({"input": 12}).SerializeToString()
    second = tokens_request({"output": 34}).SerializeToString()
    body = gzip_members(first, second)
    data = chunks(body, len(body)) if chunked else body
    result = await post(session, f"{bridge.otlp_url}/v1/metrics", data, PROTOBUF, Content_Encoding="gzip")
    assert_full_success("metrics", *result, PROTOBUF)
    samples = await scrape(session, bridge.metrics_url)
    assert find(samples, TOKENS, token_type="input") == 12
    assert find(samples, TOKENS, token_type="output") == 34, "the second gzip member was dropped"


async def test_multi_member_gzip_split_mid_message(bridge: RunningBridge, session: aiohttp.ClientSession) -> None:
    """One request compressed as two gzip members (split inside the protobuf) decodes like the plain request."""
    raw = tokens_request({"input": 12}).SerializeToString()
    middle = len(raw) // 2
    body = gzip_members(raw[:middle], raw[middle:])
    result = await post(session, f"{bridge.otlp_url}/v1/metrics", body, PROTOBUF, Content_Encoding="gzip")
    assert_full_success("metrics", *result, PROTOBUF)


@pytest.mark.parametrize("gzipped", [False, True])
async def test_chunked_body(bridge: RunningBridge, session: aiohttp.ClientSession, gzipped: bool) -> None:
    """A Transfer-Encoding: chunked body without Content-Length (what OpenClaw sends) is read completely."""
    raw = tokens_request({"input": 1234, "output": 56}).SerializeToString()
    body = gzip.compress(raw) if gzipped else raw
    extra = {"Content_Encoding": "gzip"} if gzipped else {}
    result = await post(session, f"{bridge.otlp_url}/v1/metrics", chunks(body, 7), PROTOBUF, **extra)
    assert_full_success("metrics", *result, PROTOBUF)
    samples = await scrape(session, bridge.metrics_url)
    assert find(samples, TOKENS, token_type="input") == 1234
    assert find(samples, TOKENS, token_type="output") == 56


async def test_keep_alive_connection_serves_many_requests(bridge: RunningBridge) -> None:
    """One keep-alive connection carries successive exports (OpenClaw reuses its connection)."""
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as client:
        for value in range(1, 21):
            body = tokens_request({"input": float(value)}).SerializeToString()
            result = await post(client, f"{bridge.otlp_url}/v1/metrics", chunks(body, 64), PROTOBUF)
            assert_full_success("metrics", *result, PROTOBUF)
        assert find(await scrape(client, bridge.metrics_url), TOKENS, token_type="input") == 20


def otlp_transports(port: int) -> list[asyncio.Transport]:
    """The bridge's side of the open plain-TCP connections to ``port`` (asyncio's selector transports)."""
    kind = asyncio.selector_events._SelectorSocketTransport  # type: ignore[attr-defined]
    return [
        transport
        for transport in gc.get_objects()
        if isinstance(transport, kind)
        and not transport.is_closing()
        and (transport.get_extra_info("sockname") or ("", 0))[1] == port
    ]


async def test_otlp_connections_read_in_small_chunks(bridge: RunningBridge) -> None:
    """From its first request on, an OTLP connection reads ``READ_BYTES`` at a time, not asyncio's 256 KiB afresh
    every read; a body of many reads still arrives whole."""
    port = int(bridge.otlp_url.rsplit(":", 1)[1])
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as client:
        first = tokens_request({"input": 1.0}).SerializeToString()
        assert_full_success("metrics", *await post(client, f"{bridge.otlp_url}/v1/metrics", first), PROTOBUF)
        transports = otlp_transports(port)
        assert len(transports) == 1
        assert transports[0].max_size == server.READ_BYTES < 256 * 1024  # type: ignore[attr-defined]
        big = gauge_request("chunked_read", 2_000).SerializeToString()
        assert len(big) > server.READ_BYTES
        assert_full_success("metrics", *await post(client, f"{bridge.otlp_url}/v1/metrics", big), PROTOBUF)
        page = await scrape(client, bridge.metrics_url)
    assert find(page, "chunked_read_ratio", i="value-0001999") == 1999


# -- error paths --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/grpc", "application/octet-stream", "application/protobuf"]
)
async def test_unsupported_content_type_is_415(
    bridge: RunningBridge, session: aiohttp.ClientSession, content_type: str | None
) -> None:
    """A Content-Type other than application/x-protobuf or application/json gets 415 with a Status."""
    result = await post(session, f"{bridge.otlp_url}/v1/metrics", protobuf_body("metrics"), content_type)
    status = assert_status_body(*result, 415)
    assert "content type" in status.message


@pytest.mark.parametrize("coding", ["br", "deflate", "zstd", "compress", "gzip, br", "snappy"])
@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
async def test_unsupported_content_encoding_is_415(
    bridge: RunningBridge, session: aiohttp.ClientSession, coding: str, encoding: str
) -> None:
    """A Content-Encoding other than gzip or identity gets 415 with a Status in the request's encoding."""
    body = b"{}" if encoding == JSON else b""
    result = await post(session, f"{bridge.otlp_url}/v1/logs", body, encoding, Content_Encoding=coding)
    status = assert_status_body(*result, 415, encoding)
    assert "encoding" in status.message


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "HEAD"])
async def test_wrong_method_is_405_with_allow_post(
    bridge: RunningBridge, session: aiohttp.ClientSession, method: str
) -> None:
    """Anything but POST on an OTLP path gets 405 with ``Allow: POST`` and a Status body."""
    async with session.request(method, f"{bridge.otlp_url}/v1/traces", headers={"Content-Type": JSON}) as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        if method != "HEAD":
            assert_status_body(response.status, dict(response.headers), await response.read(), 405, JSON)


@pytest.mark.parametrize(
    "body",
    [
        b"\x0a\x05abc",  # field 1 says 5 bytes follow, only 3 do
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",  # a varint tag that never ends
        b"\x0a\x02\x0a\xff",  # nested length running past its parent
        b"\x07",  # wire type 7 does not exist
        b'{"resourceMetrics": []}',  # JSON sent as protobuf
    ],
)
async def test_malformed_protobuf_is_400(bridge: RunningBridge, session: aiohttp.ClientSession, body: bytes) -> None:
    """An undecodable protobuf body gets 400 with a Status carrying a BadRequest detail."""
    result = await post(session, f"{bridge.otlp_url}/v1/metrics", body, PROTOBUF)
    status = assert_status_body(*result, 400)
    assert status.code == code_pb2.INVALID_ARGUMENT
    details = error_details_pb2.BadRequest()
    assert status.details and status.details[0].Unpack(details)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'"a string"',
        b'{"resourceMetrics": 5}',
        b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"sum": {"dataPoints": [{"asDouble": "many"}]}}]}]}]}',
        b'{"resourceMetrics": [{"resource": {"attributes": {"key": "not a list"}}}]}',
        # an enum given an infinite number: protobuf's int() raises OverflowError
        b'{"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"sum": {"aggregationTemporality": Infinity}}]}]}]}',
        b"\xff\xfe{}",
    ],
)
async def test_malformed_json_is_400(bridge: RunningBridge, session: aiohttp.ClientSession, body: bytes) -> None:
    """An undecodable OTLP/JSON body gets 400 with a JSON Status."""
    result = await post(session, f"{bridge.otlp_url}/v1/metrics", body, JSON)
    assert_status_body(*result, 400, JSON)


@pytest.mark.parametrize(
    "body",
    [
        b"this is not gzip at all",
        gzip.compress(b"\x0a\x00" * 100)[:-12],  # truncated before the end of the deflate stream and trailer
        gzip.compress(b"\x0a\x00" * 100)[:10],  # the header only
        gzip.compress(b"")[:-4] + b"\x01\x00\x00\x00",  # wrong length in the trailer
    ],
    ids=["not-gzip", "truncated", "header-only", "bad-trailer"],
)
@pytest.mark.parametrize("chunked", [False, True])
async def test_bad_gzip_is_400(
    bridge: RunningBridge, session: aiohttp.ClientSession, body: bytes, chunked: bool
) -> None:
    """A body that is not valid, complete gzip gets 400 with a Status."""
    data = chunks(body, 3) if chunked else body
    result = await post(session, f"{bridge.otlp_url}/v1/metrics", data, PROTOBUF, Content_Encoding="gzip")
    assert_status_body(*result, 400)


async def test_identity_body_over_limit_is_413(session: aiohttp.ClientSession) -> None:
    """A plain body over max_body_bytes gets 413 (declared Content-Length or counted while chunked)."""
    async with in_process_bridge(max_body_bytes=1024) as bridge:
        url = f"{bridge.otlp_url}/v1/metrics"
        big = padded_protobuf(4096)
        assert_status_body(*(await post(session, url, big)), 413)
        assert_status_body(*(await post(session, url, chunks(big, 700))), 413)
        assert_status_body(*(await post(session, url, json_body({"x": "y" * 2000}), JSON)), 413, JSON)
        # the bridge still works afterwards
        assert_full_success("metrics", *(await post(session, url, protobuf_body("metrics"))), PROTOBUF)


async def test_gzip_body_inflating_over_limit_is_413(session: aiohttp.ClientSession) -> None:
    """A small gzip body that inflates beyond max_body_bytes gets 413: the limit applies after decompression."""
    async with in_process_bridge(max_body_bytes=64 * 1024) as bridge:
        url = f"{bridge.otlp_url}/v1/metrics"
        bomb = gzip.compress(b"\0" * (4 * 1024 * 1024))
        assert len(bomb) < 64 * 1024
        assert_status_body(*(await post(session, url, bomb, PROTOBUF, Content_Encoding="gzip")), 413)
        result = await post(session, url, chunks(bomb, 512), JSON, Content_Encoding="gzip")
        assert_status_body(*result, 413, JSON)
        assert_full_success("metrics", *(await post(session, url, protobuf_body("metrics"))), PROTOBUF)


@pytest.mark.parametrize("gzipped", [False, True])
async def test_body_limit_boundary(session: aiohttp.ClientSession, gzipped: bool) -> None:
    """A body of exactly max_body_bytes (after decompression) is accepted; one byte more is 413."""
    limit = 2000
    async with in_process_bridge(max_body_bytes=limit) as bridge:
        url = f"{bridge.otlp_url}/v1/metrics"
        for size, expected in ((limit, 200), (limit + 1, 413)):
            body = padded_protobuf(size)
            headers = {"Content_Encoding": "gzip"} if gzipped else {}
            status, _, raw = await post(session, url, gzip.compress(body) if gzipped else body, PROTOBUF, **headers)
            assert status == expected, (size, raw)


async def test_overload_is_503_with_retry_after(session: aiohttp.ClientSession) -> None:
    """Beyond max_inflight concurrent requests the bridge answers 503 + Retry-After; the held request completes."""
    release = asyncio.Event()
    body = tokens_request({"input": 3}).SerializeToString()

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[:5]
        await release.wait()
        yield body[5:]

    async with in_process_bridge(max_inflight=1) as bridge:
        url = f"{bridge.otlp_url}/v1/metrics"
        held = asyncio.create_task(post(session, url, slow_body()))
        async with asyncio.timeout(5):
            while bridge.bridge.receiver.inflight < 1:
                await asyncio.sleep(0.01)
        async with aiohttp.ClientSession() as other:
            status, headers, raw = await post(other, url, body)
            assert_status_body(status, headers, raw, 503)
            assert int(headers["Retry-After"]) >= 1
            status, headers, raw = await post(other, url, json_body({}), JSON)
            assert_status_body(status, headers, raw, 503, JSON)
            assert "Retry-After" in headers
        release.set()
        assert_full_success("metrics", *(await held), PROTOBUF)
        # capacity is back
        assert_full_success("metrics", *(await post(session, url, body)), PROTOBUF)
        samples = await scrape(session, bridge.metrics_url)
        assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="overloaded") == 2
        assert find(samples, TOKENS, token_type="input") == 3


async def test_stalled_body_times_out(session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that stops sending mid-body is cut off with an error Status and counted as ``timeout``."""
    monkeypatch.setattr(server, "READ_TIMEOUT_SECONDS", 0.5)
    never = asyncio.Event()

    async def stalled() -> AsyncIterator[bytes]:
        yield b"\x0a"
        await never.wait()

    async with in_process_bridge() as bridge:
        async with asyncio.timeout(10):
            status, headers, raw = await post(session, f"{bridge.otlp_url}/v1/metrics", stalled())
        assert status in (400, 408)
        assert_status_body(status, headers, raw, status)
        assert bridge.bridge.receiver.inflight == 0
        samples = await scrape(session, bridge.metrics_url)
        # the README lists ``timeout`` among the outcomes of otlp_bridge_requests_total
        assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="timeout") == 1


# -- auth -----------------------------------------------------------------------------------------------------------


def write_token(path: Path, token: str) -> Path:
    path.write_text(token + "\n")
    return path


async def test_ingest_token_bearer(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """With a token file: no credentials → 401, a wrong one → 403, ``Authorization: Bearer <token>`` → 200."""
    token_file = write_token(tmp_path / "ingest-token", "s3cret-ingest-token")
    async with in_process_bridge(ingest_token_file=token_file) as bridge:
        url = f"{bridge.otlp_url}/v1/metrics"
        body = protobuf_body("metrics")
        assert_status_body(*(await post(session, url, body)), 401)
        assert_status_body(*(await post(session, url, body, Authorization="Bearer wrong")), 403)
        assert_status_body(*(await post(session, url, body, Authorization="Bearer s3cret-ingest-tokenX")), 403)
        assert_status_body(*(await post(session, url, body, Authorization="Basic czNjcmV0")), 401)
        assert_status_body(*(await post(session, url, json_body({}), JSON)), 401, JSON)
        assert_status_body(*(await post(session, url, body, x_collector_token="s3cret-ingest-token")), 401)
        for header in ("Bearer s3cret-ingest-token", "bearer s3cret-ingest-token"):
            assert_full_success("metrics", *(await post(session, url, body, Authorization=header)), PROTOBUF)
        samples = await scrape(session, bridge.metrics_url)
        assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="unauthorized") == 4
        assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="forbidden") == 2
        # nothing sent without the right token reached the store
        assert find(samples, TOKENS, token_type="input") == 7


async def test_ingest_token_custom_header(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """With ``ingest_token_header=x-collector-token`` the bare token in that header is required."""
    token_file = write_token(tmp_path / "ingest-token", "collector-token-1")
    async with in_process_bridge(ingest_token_file=token_file, ingest_token_header="x-collector-token") as bridge:
        url = f"{bridge.otlp_url}/v1/traces"
        body = protobuf_body("traces")
        assert_status_body(*(await post(session, url, body)), 401)
        assert_status_body(*(await post(session, url, body, Authorization="Bearer collector-token-1")), 401)
        assert_status_body(*(await post(session, url, body, x_collector_token="nope")), 403)
        assert_status_body(*(await post(session, url, body, x_collector_token="Bearer collector-token-1")), 403)
        result = await post(session, url, body, X_Collector_Token="collector-token-1")
        assert_full_success("traces", *result, PROTOBUF)


async def test_ingest_token_rotation_without_restart(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """Rewriting the token file (in place or by atomic rename) switches the accepted token without a restart."""
    token_file = write_token(tmp_path / "ingest-token", "first-token-aaaa")
    async with in_process_bridge(ingest_token_file=token_file) as bridge:
        url = f"{bridge.otlp_url}/v1/logs"
        body = protobuf_body("logs")

        async def status_with(token: str) -> int:
            return (await post(session, url, body, Authorization=f"Bearer {token}"))[0]

        assert await status_with("first-token-aaaa") == 200
        write_token(token_file, "second-token-bbbbbbbb")
        assert await status_with("second-token-bbbbbbbb") == 200
        assert await status_with("first-token-aaaa") == 403
        replacement = write_token(tmp_path / "ingest-token.new", "third-token-cccccccccc")
        os.replace(replacement, token_file)
        assert await status_with("third-token-cccccccccc") == 200
        assert await status_with("second-token-bbbbbbbb") == 403


async def test_ingest_token_rotation_same_length(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """A rotated token of the same length (the usual case for generated tokens) is picked up too."""
    token_file = write_token(tmp_path / "ingest-token", "token-0000")
    async with in_process_bridge(ingest_token_file=token_file) as bridge:
        url = f"{bridge.otlp_url}/v1/logs"
        body = protobuf_body("logs")
        for generation in range(1, 6):
            token = f"token-{generation:04d}"
            write_token(token_file, token)
            status, _, raw = await post(session, url, body, Authorization=f"Bearer {token}")
            assert status == 200, (generation, raw)


SCRAPE_PATHS = ("/metrics", "/api/diagnostics/prometheus", "/metrics/health", "/metrics/per-object")


async def test_scrape_token_protects_scrape_paths_not_probes(session: aiohttp.ClientSession, tmp_path: Path) -> None:
    """With scrape_token_file the scrape and JSON paths need ``Bearer <token>``; /healthz and /readyz do not."""
    token_file = write_token(tmp_path / "scrape-token", "scrape-me")
    async with in_process_bridge(scrape_token_file=token_file) as bridge:
        for path in SCRAPE_PATHS:
            url = bridge.metrics_url + path
            async with session.get(url) as response:
                assert response.status == 401, path
            async with session.get(url, headers={"Authorization": "Bearer wrong"}) as response:
                assert response.status == 403, path
            async with session.get(url, headers={"Authorization": "Bearer scrape-me"}) as response:
                assert response.status == 200, path
                assert await response.read()
        for path in ("/healthz", "/readyz"):
            async with session.get(bridge.metrics_url + path) as response:
                assert response.status == 200, path
        # the ingest side is not affected by the scrape token
        result = await post(session, f"{bridge.otlp_url}/v1/metrics", protobuf_body("metrics"))
        assert_full_success("metrics", *result, PROTOBUF)


async def test_health_and_readiness(bridge: RunningBridge, session: aiohttp.ClientSession) -> None:
    """/healthz and /readyz answer 200 while the bridge runs; /metrics/health is JSON."""
    for path in ("/healthz", "/readyz"):
        async with session.get(bridge.metrics_url + path) as response:
            assert response.status == 200
    async with session.get(bridge.metrics_url + "/metrics/health") as response:
        assert response.status == 200
        assert isinstance(await response.json(), dict)


# -- partial success and self-metrics -------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
async def test_partial_success_when_series_cap_is_reached(session: aiohttp.ClientSession, encoding: str) -> None:
    """With max_series=1 a second series is refused via partial_success; the existing series keeps updating."""

    def body(tokens: dict[str, float]) -> bytes:
        request = tokens_request(tokens)
        if encoding == PROTOBUF:
            return request.SerializeToString()
        document = json_format.MessageToDict(request)
        return json_body(document)  # the ids are absent, so proto3 JSON is OTLP/JSON here

    async with in_process_bridge(max_series=1) as bridge:
        url = f"{bridge.otlp_url}/v1/metrics"
        assert_full_success("metrics", *(await post(session, url, body({"input": 10}), encoding)), encoding)
        status, headers, raw = await post(session, url, body({"input": 15, "output": 5}), encoding)
        assert status == 200
        response = decode_response("metrics", headers, raw)
        assert response.partial_success.rejected_data_points == 1
        assert response.partial_success.error_message
        if encoding == JSON:
            assert json.loads(raw)["partialSuccess"]["rejectedDataPoints"] == "1", "int64 is a string in OTLP/JSON"
        status, headers, raw = await post(session, url, body({"input": 21, "output": 6}), encoding)
        assert decode_response("metrics", headers, raw).partial_success.rejected_data_points == 1
        samples = await scrape(session, bridge.metrics_url)
        assert find(samples, TOKENS, token_type="input") == 21
        assert find(samples, TOKENS, token_type="output") is None
        assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="partial") == 2
        assert find(samples, "otlp_bridge_rejected_points_total", signal="metrics", reason="series_cap") == 2
        assert find(samples, "otlp_bridge_received_points_total", signal="metrics", outcome="rejected") == 2
        dropped = find(samples, "openclaw_prometheus_series_dropped_total")
        assert dropped is not None
        assert dropped >= 2


async def test_self_metrics_count_requests_by_outcome(bridge: RunningBridge, session: aiohttp.ClientSession) -> None:
    """otlp_bridge_requests_total and friends count every request by signal and outcome."""
    metrics, traces = f"{bridge.otlp_url}/v1/metrics", f"{bridge.otlp_url}/v1/traces"
    for _ in range(3):
        await post(session, metrics, b"\x0a\x05abc")  # bad_request
    await post(session, metrics, protobuf_body("metrics"))  # ok
    await post(session, traces, protobuf_body("traces"), "text/plain")  # unsupported_media_type
    await post(session, traces, protobuf_body("traces"), PROTOBUF, Content_Encoding="br")  # unsupported_media_type
    async with session.get(traces):  # method_not_allowed
        pass
    await post(session, f"{bridge.otlp_url}/v1/logs", protobuf_body("logs"))  # ok
    samples = await scrape(session, bridge.metrics_url)
    expected = {
        ("metrics", "bad_request"): 3,
        ("metrics", "ok"): 1,
        ("traces", "unsupported_media_type"): 2,
        ("traces", "method_not_allowed"): 1,
        ("traces", "ok"): 0,
        ("logs", "ok"): 1,
    }
    for (signal, outcome), count in expected.items():
        value = find(samples, "otlp_bridge_requests_total", signal=signal, outcome=outcome)
        assert value == count, (signal, outcome, value)
    assert find(samples, "otlp_bridge_received_points_total", signal="metrics", outcome="accepted") == 1
    assert find(samples, "otlp_bridge_received_points_total", signal="logs", outcome="accepted") == 1
    received = find(samples, "otlp_bridge_received_bytes_total", signal="metrics", outcome="ok")
    assert received == len(protobuf_body("metrics"))
    assert find(samples, "otlp_bridge_build_info") == 1


# -- replay of the real OpenClaw captures ---------------------------------------------------------------------------


def _capture_folders() -> list[str]:
    return sorted(p.name for p in CAPTURES.iterdir() if p.is_dir())


REPLAY_DROP = {"host", "transfer-encoding", "connection", "content-length"}


def _replay_headers(recorded: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in recorded.items() if k.lower() not in REPLAY_DROP}


async def _as_sent(body: bytes) -> AsyncIterator[bytes]:
    yield body  # chunked, as the real sender does


@pytest.mark.parametrize("folder", _capture_folders())
async def test_replay_of_captured_openclaw_bodies(session: aiohttp.ClientSession, folder: str) -> None:
    """Every captured OpenClaw body, sent with its recorded headers, gets 200 and no partial_success."""
    captures = require_fixtures() / folder
    requests = captured_requests(captures)
    assert requests, f"no bodies in {captures}"
    counts: dict[str, int] = dict.fromkeys(SIGNALS, 0)
    async with in_process_bridge() as bridge:
        for captured in requests:
            meta = json.loads(captured.path.with_suffix(".meta.json").read_text())
            headers = _replay_headers(captured.headers)
            url = bridge.otlp_url + meta["path"]
            async with session.post(url, data=_as_sent(captured.body), headers=headers) as response:
                raw = await response.read()
                assert response.status == 200, (captured.path.name, raw)
                result = decode_response(captured.signal, dict(response.headers), raw)
                assert response.headers["Content-Type"] == PROTOBUF
                assert not result.HasField("partial_success"), (captured.path.name, result)
            counts[captured.signal] += 1
        samples = await scrape(session, bridge.metrics_url)
    for signal, sent in counts.items():
        assert find(samples, "otlp_bridge_requests_total", signal=signal, outcome="ok") == sent
    assert not find(samples, "otlp_bridge_received_points_total", signal="metrics", outcome="rejected")
    assert any(s.name.startswith("openclaw_") and s.name != "openclaw_prometheus_series_dropped_total" for s in samples)
