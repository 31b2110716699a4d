"""Fuzzing: the OTLP decoders through the HTTP endpoint of a running bridge, and the translation core in process.

Bad input may only ever get a 400, or a 200 (with or without ``partial_success``): never a 5xx, never an
exception, and never a change to a series that the bad input did not feed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import gzip
import http.client
import json
import math
import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from otlp_bridge.config import Config
from otlp_bridge.expose.exposition import Format, render
from otlp_bridge.store import HistogramSeries, ScalarSeries, Series, Store
from otlp_bridge.translate.labels import LABEL_VALUE_PATTERN
from otlp_bridge.translate.signals import SignalTranslators
from tests.conftest import require_fixtures
from tests.support import (
    CUMULATIVE,
    DELTA,
    JSON,
    PROTOBUF,
    RunningBridge,
    Sample,
    captured_requests,
    decode_status,
    encode_varint,
    histogram_metric,
    in_process_bridge,
    key_values,
    metrics_request,
    parse_exposition,
    sum_metric,
)

# Bodies sent to the HTTP endpoint and requests applied in process, by kind; the tests print and assert on them.
FUZZED: Counter[str] = Counter()

REQUESTS: dict[str, type[Message]] = {
    "metrics": metrics_service_pb2.ExportMetricsServiceRequest,
    "traces": trace_service_pb2.ExportTraceServiceRequest,
    "logs": logs_service_pb2.ExportLogsServiceRequest,
}
RESPONSES: dict[str, type[Message]] = {
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse,
    "traces": trace_service_pb2.ExportTraceServiceResponse,
    "logs": logs_service_pb2.ExportLogsServiceResponse,
}
HEX_KEYS = ("traceId", "spanId", "parentSpanId")
OPENMETRICS = "application/openmetrics-text;version=1.0.0"
# No shrinking: a fuzzed body is large and shrinking it takes minutes; the regressions at the end of this module are
# the minimal reproductions of what the fuzzing found.
FUZZ_SETTINGS = settings(
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.target),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def parse_openmetrics(text: str) -> list[Any]:
    """Every family of an OpenMetrics page (prometheus_client's strict parser)."""
    return list(text_string_to_metric_families(text))  # type: ignore[no-untyped-call]


# -- a bridge in a thread, so that synchronous Hypothesis tests can talk HTTP to it ------------------------------


class ThreadedBridge:
    """An in-process bridge whose event loop runs in a thread of its own; the test thread speaks plain HTTP."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.running: RunningBridge | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.error: BaseException | None = None

    def _run(self) -> None:
        async def main() -> None:
            async with in_process_bridge(**self.options) as running:
                self.running = running
                self.loop = asyncio.get_running_loop()
                self.stop = asyncio.Event()
                self.ready.set()
                await self.stop.wait()

        try:
            asyncio.run(main())
        except BaseException as error:  # reported by the fixture
            self.error = error
            self.ready.set()

    def __enter__(self) -> ThreadedBridge:
        self.thread.start()
        assert self.ready.wait(20), "the bridge thread did not start"
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loop is not None and self.stop is not None:
            self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(20)

    @property
    def otlp(self) -> urllib.parse.SplitResult:
        assert self.running is not None
        return urllib.parse.urlsplit(self.running.otlp_url)

    @property
    def metrics(self) -> urllib.parse.SplitResult:
        assert self.running is not None
        return urllib.parse.urlsplit(self.running.metrics_url)

    def alive(self) -> bool:
        return self.thread.is_alive() and self.error is None


def http_request(
    address: urllib.parse.SplitResult, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection (the bridge closes the connection after a 400)."""
    assert address.hostname is not None
    assert address.port is not None
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


# -- the captured OpenClaw bodies, as protobuf and as OTLP/JSON ---------------------------------------------------


@dataclass(frozen=True)
class Seed:
    signal: str
    raw: bytes  # uncompressed protobuf
    json_text: str  # the same request in OTLP/JSON (hex ids, int64 as strings)


def hex_ids(node: Any) -> Any:
    """proto3 JSON writes ``bytes`` as base64; OTLP/JSON writes trace and span ids as hex."""
    if isinstance(node, dict):
        return {
            key: base64.b64decode(value).hex() if key in HEX_KEYS and isinstance(value, str) else hex_ids(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [hex_ids(item) for item in node]
    return node


def otlp_json(message: Message) -> str:
    return json.dumps(hex_ids(json_format.MessageToDict(message)))


@functools.cache
def _load_seeds() -> tuple[Seed, ...]:
    out = []
    for folder in sorted(p for p in require_fixtures().iterdir() if p.is_dir()):
        for captured in captured_requests(folder):
            raw = captured.decoded_body()
            message = REQUESTS[captured.signal]()
            message.ParseFromString(raw)
            out.append(Seed(captured.signal, raw, otlp_json(message)))
    return tuple(out)


def seeds() -> tuple[Seed, ...]:
    """Every captured body."""
    return _load_seeds()


# -- the known series: sent before any fuzzing, checked after every batch -----------------------------------------

SENTINEL_RESOURCE = {"service.name": "fuzz-sentinel", "host.name": "sentinel-host"}
STATIC_TOKENS = 4242.0
STATIC_USAGE = (3.0, 7.0, 300.0)


def sentinel_request(live_value: float) -> metrics_service_pb2.ExportMetricsServiceRequest:
    """A cumulative token counter that never changes, a histogram that never changes, and a live counter."""
    static = {"openclaw.provider": "sentinelstatic", "openclaw.model": "sentinelmodel", "openclaw.token": "input"}
    live = {**static, "openclaw.provider": "sentinellive"}
    usage = {"gen_ai.provider.name": "sentinelstatic", "gen_ai.request.model": "m", "gen_ai.token.type": "input"}
    return metrics_request(
        sum_metric("openclaw.tokens", [(static, STATIC_TOKENS), (live, live_value)]),
        histogram_metric("gen_ai.client.token.usage", [(usage, list(STATIC_USAGE))], bounds=(1, 10, 100)),
        resource=SENTINEL_RESOURCE,
    )


def sentinel_samples(samples: list[Sample]) -> dict[tuple[str, str], float]:
    """(sample name, provider) → value of the sentinel series on a scrape page."""
    out: dict[tuple[str, str], float] = {}
    for sample in samples:
        provider = sample.labels.get("provider", "")
        if provider.startswith("sentinel"):
            le = sample.labels.get("le")
            out[(sample.name + ("" if le is None else f"@{le}"), provider)] = sample.value
    return out


EXPECTED_STATIC = {
    ("openclaw_model_tokens_total", "sentinelstatic"): STATIC_TOKENS,
    ("openclaw_gen_ai_client_token_usage_count", "sentinelstatic"): 3.0,
    ("openclaw_gen_ai_client_token_usage_sum", "sentinelstatic"): 310.0,
    ("openclaw_gen_ai_client_token_usage_bucket@1", "sentinelstatic"): 0.0,
    ("openclaw_gen_ai_client_token_usage_bucket@10", "sentinelstatic"): 2.0,
    ("openclaw_gen_ai_client_token_usage_bucket@100", "sentinelstatic"): 2.0,
    ("openclaw_gen_ai_client_token_usage_bucket@+Inf", "sentinelstatic"): 3.0,
}


class FuzzTarget:
    """The running bridge plus what the fuzzing has done to it so far."""

    def __init__(self, bridge: ThreadedBridge) -> None:
        self.bridge = bridge
        self.live_value = 100.0
        self.statuses: Counter[int] = Counter()
        self.partial = 0

    def post(self, signal: str, body: bytes, content_type: str, gzipped: bool) -> None:
        """Send one fuzzed body; the answer must be a well-formed 200 or 400 in the request's encoding."""
        __tracebackhide__ = True  # the body can be megabytes: the assertion message describes it instead
        headers = {"Content-Type": content_type}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        status, answer_headers, answer = http_request(self.bridge.otlp, "POST", f"/v1/{signal}", body, headers)
        FUZZED["http"] += 1
        self.statuses[status] += 1
        sent = f"{signal} {content_type}{' gzip' if gzipped else ''}, {len(body)} bytes starting {body[:48]!r}"
        assert status in (200, 400), f"{status} {answer[:200]!r} for {sent}"
        answer_type = answer_headers.get("content-type", "")
        assert answer_type.split(";")[0] == content_type, answer_type
        if status == 400:
            assert decode_status(answer, answer_type).message
            return
        response: Any = RESPONSES[signal]()
        if content_type == JSON:
            json_format.Parse(answer, response)
        else:
            response.ParseFromString(answer)
        if response.HasField("partial_success"):
            self.partial += 1
            rejected = next(
                value for field, value in response.partial_success.ListFields() if field.name != "error_message"
            )
            assert rejected >= 0
            assert response.partial_success.error_message

    def check(self) -> None:
        """The bridge still answers; the static series are exactly as sent, the live one follows its sender."""
        assert self.bridge.alive()
        assert http_request(self.bridge.metrics, "GET", "/healthz")[0] == 200
        self.live_value += 1
        status, _, answer = http_request(
            self.bridge.otlp,
            "POST",
            "/v1/metrics",
            sentinel_request(self.live_value).SerializeToString(),
            {"Content-Type": PROTOBUF},
        )
        assert status == 200, answer
        status, _, page = http_request(self.bridge.metrics, "GET", "/metrics")
        assert status == 200
        found = sentinel_samples(parse_exposition(page.decode()))  # the whole page must stay valid
        status, _, page = http_request(self.bridge.metrics, "GET", "/metrics", headers={"Accept": OPENMETRICS})
        assert status == 200
        assert parse_openmetrics(page.decode())
        for key, value in EXPECTED_STATIC.items():
            assert found.get(key) == value, (key, found.get(key))
        assert found.get(("openclaw_model_tokens_total", "sentinellive")) == self.live_value


@pytest.fixture(scope="module")
def target() -> Iterator[FuzzTarget]:
    with ThreadedBridge() as bridge:
        fuzz = FuzzTarget(bridge)
        status, _, answer = http_request(
            bridge.otlp, "POST", "/v1/metrics", sentinel_request(fuzz.live_value).SerializeToString(),
            {"Content-Type": PROTOBUF},
        )  # fmt: skip
        assert status == 200, answer
        fuzz.check()
        yield fuzz
        fuzz.check()
        status, _, page = http_request(bridge.metrics, "GET", "/metrics")
        samples = parse_exposition(page.decode())  # the whole page is still valid exposition
        print(
            f"\nfuzzed over HTTP: {FUZZED['http']} bodies; answers {dict(sorted(fuzz.statuses.items()))}, "
            f"{fuzz.partial} with partial_success; {len(samples)} samples exposed afterwards"
        )


# -- mutations ------------------------------------------------------------------------------------------------

EXTREME_DOUBLES = [math.nan, math.inf, -math.inf, 1.7976931348623157e308, -1.7976931348623157e308, -0.0, 5e-324, -1.0]
# fmt: off
EXTREME_STRINGS = [
    "", "\x00", "é" * 300, "x" * 200_000, "session:agent:main:openai:a8d90fc7", "agent:main", "NaN", "le",
    "\u202e\ud7ff",
]
# fmt: on


def _scalar_extremes(field: Any) -> list[Any]:
    kind = field.type
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return EXTREME_DOUBLES
    if kind in (FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_UINT64):
        return [0, 1, 2**63, 2**64 - 1]
    if kind in (FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64):
        return [-(2**63), -1, 2**63 - 1]
    if kind in (FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_UINT32):
        return [0, 1, 2, 3, 2**32 - 1]
    if kind in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SINT32):
        return [-(2**31), -1, 2**31 - 1]
    if kind == FieldDescriptor.TYPE_ENUM:
        return [-1, 0, 1, 2, 3, 99]
    if kind == FieldDescriptor.TYPE_BOOL:
        return [True, False]
    if kind == FieldDescriptor.TYPE_STRING:
        return EXTREME_STRINGS
    return [b"", b"\x01", bytes(range(16)), bytes(70)]


INTERESTING = frozenset(
    {"Metric", "Sum", "Histogram", "NumberDataPoint", "HistogramDataPoint", "Exemplar", "Span", "LogRecord"}
)


def nested_messages(message: Message) -> Iterator[Message]:
    """``message`` and every message inside it."""
    yield message
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for child in [value] if isinstance(value, Message) else value:
            yield from nested_messages(child)


def submessage(data: st.DataObject, message: Message) -> Message:
    """A random message inside ``message`` (or itself): mostly a metric, point, span or log record, else any."""
    candidates = list(nested_messages(message))
    interesting = [node for node in candidates if node.DESCRIPTOR.name in INTERESTING]
    if interesting and data.draw(st.integers(0, 2), label="interesting?") > 0:
        candidates = interesting
    return data.draw(st.sampled_from(candidates), label="submessage")


def unknown_field(data: st.DataObject, depth: int = 0) -> bytes:
    """An unknown field of any wire type, groups included (valid protobuf that receivers must skip)."""
    number = data.draw(st.sampled_from([16, 100, 1000, 2**29 - 1]) | st.integers(16, 2**29 - 1), label="field")
    wire_type = data.draw(st.sampled_from([0, 1, 2, 3, 5]), label="wire type")
    tag = encode_varint(number << 3 | wire_type)
    if wire_type == 0:
        return tag + encode_varint(data.draw(st.sampled_from([0, 1, 2**63, 2**64 - 1]), label="varint"))
    if wire_type == 1:
        return tag + data.draw(st.binary(min_size=8, max_size=8), label="fixed64")
    if wire_type == 5:
        return tag + data.draw(st.binary(min_size=4, max_size=4), label="fixed32")
    if wire_type == 2:
        payload = data.draw(st.binary(max_size=40), label="payload")
        return tag + encode_varint(len(payload)) + payload
    inner = unknown_field(data, depth + 1) if depth < 3 and data.draw(st.booleans(), label="nested") else b""
    return tag + inner + encode_varint(number << 3 | 4)


def deep_any_value(depth: int, kvlist: bool) -> common_pb2.AnyValue:
    value = common_pb2.AnyValue(string_value="leaf")
    for _ in range(depth):
        outer = common_pb2.AnyValue()
        if kvlist:
            outer.kvlist_value.values.add(key="k").value.CopyFrom(value)
        else:
            outer.array_value.values.add().CopyFrom(value)
        value = outer
    return value


def structured_mutation(data: st.DataObject, message: Message) -> None:
    """Change one field somewhere inside a decoded request to an extreme value, add an unknown field, or add a
    deeply nested or odd attribute."""
    node = submessage(data, message)
    operation = data.draw(st.sampled_from(["extreme", "unknown", "attribute", "clear"]), label="structured")
    if operation == "unknown":
        # a field number the message knows, with another wire type, is not an unknown field after all
        with contextlib.suppress(DecodeError):
            node.MergeFromString(unknown_field(data))
        return
    if operation == "attribute" and "attributes" in node.DESCRIPTOR.fields_by_name:
        depth = data.draw(st.sampled_from([0, 3, 40, 98, 120, 400]), label="depth")
        value = deep_any_value(depth, data.draw(st.booleans(), label="kvlist"))
        if depth == 0:
            value = data.draw(any_values(), label="any value")
        key = data.draw(st.sampled_from(["", "openclaw.lane", "openclaw.provider", "le"]), label="key")
        node.attributes.add(key=key).value.CopyFrom(value)  # type: ignore[attr-defined]
        return
    scalars = [f for f in node.DESCRIPTOR.fields if f.message_type is None]
    if not scalars:
        return
    field = data.draw(st.sampled_from(scalars), label="scalar")
    if operation == "clear":
        node.ClearField(field.name)
        return
    extremes = _scalar_extremes(field)
    if field.is_repeated:
        values = data.draw(st.lists(st.sampled_from(extremes), max_size=6), label="repeated")
        container = getattr(node, field.name)
        del container[:]
        container.extend(values)
    else:
        setattr(node, field.name, data.draw(st.sampled_from(extremes), label="extreme"))


def byte_mutation(data: st.DataObject, body: bytes, other: bytes) -> bytes:
    """Bit flips, byte overwrites, truncation, deletion, insertion, duplication and splices."""
    buffer = bytearray(body)
    operation = data.draw(
        st.sampled_from(["flip", "byte", "truncate", "delete", "insert", "duplicate", "splice", "varint"]),
        label="bytes",
    )
    position = data.draw(st.integers(0, max(len(buffer) - 1, 0)), label="position")
    if operation == "flip" and buffer:
        buffer[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    elif operation == "byte" and buffer:
        buffer[position] = data.draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x0A, 0x12]), label="value")
    elif operation == "truncate":
        del buffer[position:]
    elif operation == "delete":
        del buffer[position : position + data.draw(st.integers(1, 64), label="length")]
    elif operation == "insert":
        buffer[position:position] = data.draw(st.binary(min_size=1, max_size=64), label="inserted")
    elif operation == "duplicate":
        length = data.draw(st.integers(1, 256), label="length")
        buffer[position:position] = buffer[position : position + length]
    elif operation == "splice":
        cut = data.draw(st.integers(0, len(other)), label="cut")
        buffer = buffer[:position] + other[cut:]
    else:  # a varint that never ends, or one of 10 bytes
        buffer[position:position] = data.draw(st.sampled_from([b"\xff" * 11, b"\xff" * 9 + b"\x01", b"\x80"]))
    return bytes(buffer)


def maybe_gzip(data: st.DataObject, body: bytes) -> tuple[bytes, bool]:
    """Identity, gzip, or gzip whose compressed bytes are damaged too."""
    mode = data.draw(st.sampled_from(["identity", "identity", "gzip", "damaged gzip"]), label="encoding")
    if mode == "identity":
        return body, False
    compressed = gzip.compress(body, compresslevel=1)
    if mode == "damaged gzip":
        compressed = byte_mutation(data, compressed, b"")
    return compressed, True


# -- JSON documents -------------------------------------------------------------------------------------------

# fmt: off
OTLP_KEYS = [
    "resourceMetrics", "resourceSpans", "resourceLogs", "resource", "attributes", "key", "value", "stringValue",
    "intValue", "doubleValue", "boolValue", "bytesValue", "arrayValue", "kvlistValue", "values", "scopeMetrics",
    "scope", "name", "metrics", "sum", "gauge", "histogram", "dataPoints", "asDouble", "asInt",
    "startTimeUnixNano", "timeUnixNano", "aggregationTemporality", "isMonotonic", "count", "bucketCounts",
    "explicitBounds", "exemplars", "flags", "traceId", "spanId", "scopeSpans", "spans", "scopeLogs", "logRecords",
    "severityNumber", "body",
]
# fmt: on
# fmt: off
SPECIAL_JSON_STRINGS = [
    "NaN", "Infinity", "-Infinity", "nan", "1e999", "-1", "18446744073709551615", "18446744073709551616",
    "-9223372036854775809", "1.5", "0x10", "", "5B8EFFF798038103D269B633813FC60C", "5b8", "zz",
    "AGGREGATION_TEMPORALITY_CUMULATIVE",
]
# fmt: on
json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(SPECIAL_JSON_STRINGS),
)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(OTLP_KEYS), children, max_size=4),
    max_leaves=25,
)
PLACEHOLDER = "\x01fuzz-placeholder\x01"


VALUE_KEYS = frozenset(
    {
        "asDouble", "asInt", "count", "sum", "min", "max", "bucketCounts", "explicitBounds", "timeUnixNano",
        "startTimeUnixNano", "aggregationTemporality", "isMonotonic", "flags", "traceId", "spanId", "parentSpanId",
        "severityNumber", "endTimeUnixNano", "stringValue", "intValue", "doubleValue", "key", "name",
    }
)  # fmt: skip


_UINT64_TEXTS = ["0", "1", "18446744073709551615", "9223372036854775808"]
TYPED_EXTREMES: dict[Any, list[Any]] = {
    "asDouble": ["NaN", "Infinity", "-Infinity", 1.7976931348623157e308, -1.0, -0.0, 5e-324],
    "doubleValue": ["NaN", "Infinity", -1e308],
    "sum": ["NaN", "-Infinity", -5.0, 1.7976931348623157e308],
    "min": ["NaN", 1e308],
    "max": ["-Infinity", -1e308],
    "asInt": ["-9223372036854775808", "9223372036854775807", "-1", "0"],
    "intValue": ["-9223372036854775808", "9223372036854775807"],
    "count": _UINT64_TEXTS,
    "timeUnixNano": _UINT64_TEXTS,
    "startTimeUnixNano": _UINT64_TEXTS,
    "endTimeUnixNano": _UINT64_TEXTS,
    "bucketCounts": [[], ["18446744073709551615", "1"], ["1"] * 40, ["0", "0"]],
    "explicitBounds": [[], [10.0, 5.0], [1.0, 1.0], ["NaN"], ["-Infinity", 0.0], [-10.0, 0.0, 10.0]],
    "aggregationTemporality": [0, 1, 2, 3, -1],
    "isMonotonic": [True, False],
    "flags": [0, 1, 2, 4294967295],
    "severityNumber": [0, -3, 24, 25, 2147483647],
    "traceId": ["", "00", "ab" * 16, "ab" * 100],
    "spanId": ["", "ab" * 8, "ab" * 40],
    "stringValue": ["", "session:agent:main:x", "x" * 200, "le", "é"],
    "key": ["", "__name__", "le", "服务", "openclaw.lane"],
    "name": ["", "openclaw.tokens", "openclaw.run", "gen_ai.client.token.usage", "x" * 300],
}


def _places(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) in a JSON document whose key names a value the bridge reads."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in VALUE_KEYS:
                yield node, key
            yield from _places(value)
    elif isinstance(node, list):
        for item in node:
            yield from _places(item)


def json_node(data: st.DataObject, document: Any) -> tuple[Any, Any]:
    """A (container, key or index) inside ``document``: mostly a value the bridge reads, else any place."""
    places = list(_places(document))
    if places and data.draw(st.integers(0, 2), label="value place?") > 0:
        place: tuple[Any, Any] = data.draw(st.sampled_from(places), label="value place")
        return place
    container, key = None, None
    node = document
    while isinstance(node, dict | list) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        choice = data.draw(st.sampled_from(keys), label="json key")
        container, key = node, choice
        node = node[choice]
        if data.draw(st.integers(0, 4), label="stop") == 0:
            break
    return container, key


def json_mutation(data: st.DataObject, document: Any) -> tuple[Any, str | None]:
    """Mutate the document in place; returns it and, for nesting or size no JSON encoder should be asked to build,
    the raw text that replaces the placeholder."""
    container, key = json_node(data, document)
    operation = data.draw(
        st.sampled_from(["typed", "typed", "value", "special", "wrong type", "deep", "huge", "unknown key", "delete"]),
        label="json operation",
    )
    raw: str | None = None
    if operation == "typed" and key in TYPED_EXTREMES:
        new: Any = data.draw(st.sampled_from(TYPED_EXTREMES[key]), label="typed extreme")
    elif operation == "value":
        new = data.draw(json_values, label="json value")
    elif operation == "special":
        new = data.draw(st.sampled_from([*SPECIAL_JSON_STRINGS, math.nan, math.inf, -math.inf, 2**64, -(2**70)]))
    elif operation == "deep":
        depth = data.draw(st.sampled_from([50, 99, 100, 101, 1_000, 50_000]), label="depth")
        opener, closer = data.draw(
            st.sampled_from([("[", "]"), ('{"values":', "}"), ('{"kvlistValue":{"values":[', "]}}")])
        )
        raw = opener * depth + "1" + closer * depth
        new = PLACEHOLDER
    elif operation == "huge":
        raw = json.dumps("é" + "a" * data.draw(st.sampled_from([10_000, 1_000_000, 4_000_000]), label="size"))
        new = PLACEHOLDER
    elif operation == "wrong type":
        old = document if container is None else container[key]
        new = data.draw(st.sampled_from([[old], {"value": old}, str(old)[:100], 0, None, True]), label="wrong")
    elif operation == "unknown key" and isinstance(container, dict):
        container[data.draw(st.text(min_size=1, max_size=10), label="unknown")] = data.draw(json_values)
        return document, None
    elif operation == "delete" and container is not None:
        del container[key]
        return document, None
    else:
        new = data.draw(json_values)
    if container is None:
        return new, raw
    container[key] = new
    return document, raw


def json_text(document: Any, raw: str | None) -> bytes:
    text = json.dumps(document)
    if raw is not None:
        text = text.replace(json.dumps(PLACEHOLDER), raw, 1)
    return text.encode("utf-8", "surrogatepass")


# -- (a) the decoders, through HTTP ---------------------------------------------------------------------------

BATCH = st.integers(1, 8)


@settings(FUZZ_SETTINGS, max_examples=80)
@given(data=st.data())
def test_mutated_protobuf_bodies_get_400_or_200(target: FuzzTarget, data: st.DataObject) -> None:
    """Mutated captured protobuf bodies get only 400 or 200, never a 5xx; known series stay exact."""
    # Structured mutations (extreme values, unknown fields of every wire type, deep or odd attributes) on decoded
    # captures, then byte mutations (flips, overwrites, truncation, deletion, insertion, splices, endless varints).
    corpus = seeds()
    for _ in range(data.draw(BATCH, label="batch")):
        seed = data.draw(st.sampled_from(corpus), label="seed")
        body = seed.raw
        if data.draw(st.booleans(), label="structured?"):
            message = REQUESTS[seed.signal]()
            message.ParseFromString(body)
            for _ in range(data.draw(st.integers(1, 3), label="structured mutations")):
                structured_mutation(data, message)
            body = message.SerializeToString()
        for _ in range(data.draw(st.sampled_from([0, 0, 0, 1, 2, 3]), label="byte mutations")):
            other = data.draw(st.sampled_from(corpus), label="splice from").raw
            body = byte_mutation(data, body, other)
        body, gzipped = maybe_gzip(data, body)
        target.post(seed.signal, body, PROTOBUF, gzipped)
    target.check()


@settings(FUZZ_SETTINGS, max_examples=45)
@given(data=st.data())
def test_mutated_json_bodies_get_400_or_200(target: FuzzTarget, data: st.DataObject) -> None:
    """Mutated captured bodies as OTLP/JSON get only 400 or 200, never a 5xx; known series stay exact."""
    # Type-correct extremes (NaN/Infinity strings, uint64 max, odd bounds, long ids), wrong types, huge strings,
    # nesting up to 50,000 deep, unknown and deleted keys; sometimes damaged as text and/or gzipped.
    corpus = seeds()
    for _ in range(data.draw(BATCH, label="batch")):
        seed = data.draw(st.sampled_from(corpus), label="seed")
        document: Any = json.loads(seed.json_text)
        raw: str | None = None
        for _ in range(data.draw(st.integers(1, 3), label="json mutations")):
            document, placed = json_mutation(data, document)
            raw = placed if placed is not None and json.dumps(PLACEHOLDER) in json.dumps(document) else raw
        body = json_text(document, raw)
        if data.draw(st.integers(0, 4), label="damage text?") == 0:
            body = byte_mutation(data, body, seed.json_text.encode())
        body, gzipped = maybe_gzip(data, body)
        target.post(seed.signal, body, JSON, gzipped)
    target.check()


@settings(FUZZ_SETTINGS, max_examples=40)
@given(data=st.data())
def test_random_bodies_get_400_or_200(target: FuzzTarget, data: st.DataObject) -> None:
    """Random bytes and random JSON documents on every signal get only 400 or 200; known series stay exact."""
    for _ in range(data.draw(BATCH, label="batch")):
        signal = data.draw(st.sampled_from(list(REQUESTS)), label="signal")
        kind = data.draw(st.sampled_from(["bytes", "json document", "json object"]), label="kind")
        if kind == "bytes":
            body = data.draw(st.binary(max_size=2048), label="bytes")
            content_type = data.draw(st.sampled_from([PROTOBUF, JSON]), label="content type")
        elif kind == "json document":
            body = json_text(data.draw(json_values, label="document"), None)
            content_type = JSON
        else:
            document = data.draw(st.dictionaries(st.sampled_from(OTLP_KEYS), json_values, max_size=4), label="object")
            body = json_text(document, None)
            content_type = JSON
        body, gzipped = maybe_gzip(data, body)
        target.post(signal, body, content_type, gzipped)
    target.check()


def test_a_group_encoded_unknown_field_in_a_data_point_is_not_a_500(target: FuzzTarget) -> None:
    """An unknown group-encoded field in a data point gets a 200 or 400 over HTTP, never a 500."""
    labels = {"openclaw.provider": "groupprov", "openclaw.token": "input"}
    request = metrics_request(
        sum_metric("openclaw.tokens", [(labels, 5.0), ({**labels, "openclaw.token": "output"}, 7.0)]),
        resource={"service.name": "group-sender"},
    )
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[1]
    point.MergeFromString(bytes([0xA3, 0x06, 0xA4, 0x06]))  # field 100: start group, end group
    target.post("metrics", request.SerializeToString(), PROTOBUF, gzipped=False)
    target.check()


# -- (b) the translation core, in process ---------------------------------------------------------------------

SENTINEL_WORD = "sentinel"
no_sentinel = st.text(max_size=24).filter(lambda text: SENTINEL_WORD not in text)
uint64s = st.sampled_from([0, 1, 1_000, 2**32, 2**63, 2**64 - 1]) | st.integers(0, 2**64 - 1)
int64s = st.sampled_from([0, -1, 1, -(2**63), 2**63 - 1]) | st.integers(-(2**63), 2**63 - 1)
doubles = st.sampled_from([*EXTREME_DOUBLES, 0.0, 1.0, 2.0**53, 2.0**64]) | st.floats(
    allow_nan=True, allow_infinity=True
)
times = st.sampled_from([0, 1, 1_000, 2_000, 3_000, 2**63, 2**64 - 1]) | st.integers(0, 2**64 - 1)
# fmt: off
ATTRIBUTE_KEYS = [
    "openclaw.lane", "openclaw.provider", "openclaw.model", "openclaw.channel", "openclaw.agent", "openclaw.token",
    "openclaw.toolName", "openclaw.errorCategory", "openclaw.outcome", "openclaw.sessionKey",
    "gen_ai.request.model", "gen_ai.provider.name", "gen_ai.token.type", "otel.metric.overflow", "", "le",
    "quantile", "1 bad key", "__name__", "k" * 300,
]
# fmt: on
attribute_keys = st.sampled_from(ATTRIBUTE_KEYS) | no_sentinel
scalar_values = st.one_of(
    no_sentinel.map(lambda text: common_pb2.AnyValue(string_value=text)),
    st.sampled_from(["input", "output", "main", "session:agent:main:x:1", "x" * 130, "fakeai"]).map(
        lambda text: common_pb2.AnyValue(string_value=text)
    ),
    st.booleans().map(lambda flag: common_pb2.AnyValue(bool_value=flag)),
    int64s.map(lambda number: common_pb2.AnyValue(int_value=number)),
    doubles.map(lambda number: common_pb2.AnyValue(double_value=number)),
    st.binary(max_size=20).map(lambda raw: common_pb2.AnyValue(bytes_value=raw)),
    st.just(common_pb2.AnyValue()),
)


def _array(values: list[common_pb2.AnyValue]) -> common_pb2.AnyValue:
    out = common_pb2.AnyValue()
    out.array_value.values.extend(values)
    return out


def _kvlist(pairs: list[tuple[str, common_pb2.AnyValue]]) -> common_pb2.AnyValue:
    out = common_pb2.AnyValue()
    for key, value in pairs:
        out.kvlist_value.values.add(key=key).value.CopyFrom(value)
    return out


def any_values() -> st.SearchStrategy[common_pb2.AnyValue]:
    """String, bool, int, double, bytes, empty, arrays and key-value lists (nested)."""
    return st.recursive(
        scalar_values,
        lambda children: (
            st.lists(children, max_size=3).map(_array)
            | st.lists(st.tuples(attribute_keys, children), max_size=3).map(_kvlist)
        ),
        max_leaves=6,
    )


attributes = st.lists(st.tuples(attribute_keys, any_values()), max_size=4)  # empty and duplicate keys included


def _key_values(pairs: list[tuple[str, common_pb2.AnyValue]]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=key, value=value) for key, value in pairs]


@st.composite
def exemplars(draw: st.DrawFn) -> metrics_pb2.Exemplar:
    exemplar = metrics_pb2.Exemplar(
        time_unix_nano=draw(times), span_id=draw(st.binary(max_size=12)), trace_id=draw(st.binary(max_size=40))
    )
    if draw(st.booleans()):
        exemplar.as_double = draw(doubles)
    else:
        exemplar.as_int = draw(int64s)
    exemplar.filtered_attributes.extend(_key_values(draw(attributes)))
    return exemplar


flags = st.sampled_from([0, 0, 0, 1, 2, 3, 2**32 - 1])


def _with_unknown_fields(draw: st.DrawFn, message: Message) -> None:
    if draw(st.integers(0, 5)) == 0:
        number = draw(st.sampled_from([100, 1000]))
        wire_type = draw(st.sampled_from([0, 2, 3]))
        tag = encode_varint(number << 3 | wire_type)
        extra = {0: tag + b"\x07", 2: tag + b"\x02ab", 3: tag + encode_varint(number << 3 | 4)}[wire_type]
        message.MergeFromString(extra)


@st.composite
def number_points(draw: st.DrawFn) -> metrics_pb2.NumberDataPoint:
    point = metrics_pb2.NumberDataPoint(start_time_unix_nano=draw(times), time_unix_nano=draw(times), flags=draw(flags))
    value_kind = draw(st.sampled_from(["double", "double", "int", "none"]))
    if value_kind == "double":
        point.as_double = draw(doubles)
    elif value_kind == "int":
        point.as_int = draw(int64s)
    point.attributes.extend(_key_values(draw(attributes)))
    point.exemplars.extend(draw(st.lists(exemplars(), max_size=2)))
    _with_unknown_fields(draw, point)
    return point


@st.composite
def histogram_points(draw: st.DrawFn) -> metrics_pb2.HistogramDataPoint:
    point = metrics_pb2.HistogramDataPoint(start_time_unix_nano=draw(times), time_unix_nano=draw(times))
    point.flags = draw(flags)
    if draw(st.booleans()):  # consistent: sorted bounds, counts that add up
        bounds = sorted(set(draw(st.lists(st.floats(-1e6, 1e6), max_size=6))))
        counts = draw(st.lists(st.integers(0, 50), min_size=len(bounds) + 1, max_size=len(bounds) + 1))
        point.count = sum(counts)
        point.sum = float(draw(st.integers(0, 10**6)))
    else:  # anything: unsorted, duplicate or NaN bounds, counts that do not add up, wrapping counts
        bounds = draw(st.lists(doubles, max_size=6))
        counts = draw(st.lists(uint64s, max_size=8))
        point.count = draw(st.sampled_from([sum(counts) % 2**64, 0, 2**64 - 1]) | uint64s)
        if draw(st.booleans()):
            point.sum = draw(doubles)
    point.explicit_bounds.extend(bounds)
    point.bucket_counts.extend(counts)
    if draw(st.booleans()):
        point.min, point.max = draw(doubles), draw(doubles)
    point.attributes.extend(_key_values(draw(attributes)))
    point.exemplars.extend(draw(st.lists(exemplars(), max_size=2)))
    _with_unknown_fields(draw, point)
    return point


# fmt: off
METRIC_NAMES = [
    "openclaw.tokens", "openclaw.cost.usd", "openclaw.queue.lane.enqueue", "openclaw.webhook.received",
    "openclaw.run.duration_ms", "openclaw.queue.wait_ms", "openclaw.queue.depth", "openclaw.memory.rss_bytes",
    "openclaw.tool.execution.duration_ms", "gen_ai.client.token.usage", "foreign.requests", "", "le",
    "1.starts.with.digit",
]
# fmt: on
temporalities = st.sampled_from([CUMULATIVE, DELTA, 0, 3, -1])


@st.composite
def metrics(draw: st.DrawFn) -> metrics_pb2.Metric:
    name = draw(st.sampled_from(METRIC_NAMES) | no_sentinel)
    metric = metrics_pb2.Metric(name=name, unit=draw(st.sampled_from(["ms", "1", "By", "", "{token}", "s"])))
    kind = draw(st.sampled_from(["sum", "sum", "histogram", "histogram", "gauge", "exponential", "summary", "none"]))
    if kind == "sum":
        metric.sum.aggregation_temporality = draw(temporalities)  # type: ignore[assignment]
        metric.sum.is_monotonic = draw(st.booleans())
        metric.sum.data_points.extend(draw(st.lists(number_points(), max_size=5)))
    elif kind == "gauge":
        metric.gauge.data_points.extend(draw(st.lists(number_points(), max_size=4)))
    elif kind == "histogram":
        metric.histogram.aggregation_temporality = draw(temporalities)  # type: ignore[assignment]
        metric.histogram.data_points.extend(draw(st.lists(histogram_points(), max_size=4)))
    elif kind == "exponential":
        metric.exponential_histogram.aggregation_temporality = draw(temporalities)  # type: ignore[assignment]
        metric.exponential_histogram.data_points.add(count=draw(uint64s), scale=draw(st.integers(-10, 20)))
    elif kind == "summary":
        metric.summary.data_points.add(count=draw(uint64s), sum=draw(doubles))
    return metric


@st.composite
def resource_metrics(draw: st.DrawFn) -> metrics_pb2.ResourceMetrics:
    block = metrics_pb2.ResourceMetrics()
    block.resource.attributes.extend(_key_values(draw(attributes)))
    if draw(st.booleans()):
        block.resource.attributes.add(key="service.name").value.string_value = draw(st.sampled_from(["gw", "", "x"]))
    for _ in range(draw(st.integers(0, 2))):
        scope = block.scope_metrics.add()
        scope.scope.name = draw(st.sampled_from(["openclaw", "openclaw", "", "other"]) | no_sentinel)
        scope.metrics.extend(draw(st.lists(metrics(), max_size=3)))
    return block


SENTINEL_LABELS = {"openclaw.provider": "sentinelprov", "openclaw.model": "sentinelmodel", "openclaw.token": "input"}
SENTINEL_USAGE = {"gen_ai.provider.name": "sentinelprov", "gen_ai.request.model": "m", "gen_ai.token.type": "output"}


def sentinel_block(export: int) -> metrics_pb2.ResourceMetrics:
    """Valid points: a cumulative counter at ``3 * export`` and a delta histogram adding (5, 50) each export."""
    request = metrics_request(
        sum_metric("openclaw.tokens", [(SENTINEL_LABELS, 3.0 * export)], start=10, time=10 + export),
        histogram_metric(
            "gen_ai.client.token.usage",
            [(SENTINEL_USAGE, [5.0, 50.0])],
            bounds=(10, 100),
            start=10 + export - 1,
            time=10 + export,
            temporality=DELTA,
        ),
        resource={"service.name": "sentinel-gw", "host.name": "sentinel-host"},
    )
    return request.resource_metrics[0]


def _sentinel_series(store: Store, family: str) -> Series:
    found = [
        series for series in store.families[family].series.values() if ("provider", "sentinelprov") in series.labels
    ]
    assert len(found) == 1, found
    return found[0]


def check_sentinel(store: Store, export: int) -> None:
    counter = _sentinel_series(store, "openclaw_model_tokens_total")
    assert isinstance(counter, ScalarSeries)
    assert counter.value == 3.0 * export
    histogram = _sentinel_series(store, "openclaw_gen_ai_client_token_usage")
    assert isinstance(histogram, HistogramSeries)
    assert (histogram.count, histogram.sum, list(histogram.counts)) == (2 * export, 55.0 * export, [export, export, 0])


def check_exposition(store: Store, translators: SignalTranslators, config: Config) -> None:
    """Both formats parse; label values are clean; caps hold."""
    text = render(store, Format.TEXT)
    samples: list[Sample] = parse_exposition(text)
    for sample in samples:
        for name, value in sample.labels.items():
            assert name == "le" or LABEL_VALUE_PATTERN.match(value), (sample.name, name, value)
    openmetrics = render(store, Format.OPENMETRICS) + "# EOF\n"
    assert list(parse_openmetrics(openmetrics)) is not None
    assert store.live_series <= config.max_series
    assert all(len(family.series) <= config.max_series_per_family for family in store.families.values())
    assert len(translators.metrics.tracked_streams) <= config.max_streams


caps = st.fixed_dictionaries(
    {
        "max_series": st.sampled_from([4, 50, 2048]),
        "max_series_per_family": st.sampled_from([2, 20, 1024]),
        "max_streams": st.sampled_from([3, 40, 32768]),
    }
)


@settings(FUZZ_SETTINGS, max_examples=200)
@given(options=caps, exports=st.lists(st.lists(resource_metrics(), max_size=2), min_size=1, max_size=3), data=st.data())
def test_metrics_translation_never_raises_and_valid_series_stay_exact(
    options: dict[str, int], exports: list[list[metrics_pb2.ResourceMetrics]], data: st.DataObject
) -> None:
    """Hostile metric points never make translation raise; valid points beside them are counted exactly."""
    # NaN/Inf and extreme doubles, negative and uint64-max counts, empty, duplicate and wrong-type attributes (arrays,
    # kvlists, bytes, empty values), bucket/bound mismatches, unsorted/duplicate/NaN bounds, missing or unknown
    # temporality, exemplars, flags and unknown fields (groups included), under small and default caps.
    config = Config(**options)  # type: ignore[arg-type]
    store = Store(config.max_series, config.max_series_per_family, config.series_ttl)
    translators = SignalTranslators(store, config)
    for number, blocks in enumerate(exports, start=1):
        request = metrics_service_pb2.ExportMetricsServiceRequest()
        request.resource_metrics.extend(blocks)
        position = 0 if number == 1 else data.draw(st.integers(0, len(blocks)), label="sentinel position")
        request.resource_metrics.insert(position, sentinel_block(number))
        result = translators.apply(request, now=float(number))
        FUZZED["translate"] += 1
        assert result.accepted >= 0
        assert result.rejected >= 0
        check_sentinel(store, number)
    check_exposition(store, translators, config)


span_names = st.sampled_from(
    ["openclaw.run", "openclaw.liveness.warning", "openclaw.harness.run", "openclaw.message.processed", "http", ""]
) | no_sentinel.map(lambda text: "openclaw." + text)
LIVENESS_VALUES = ["nan", "inf", "-inf", "1e999", "-1", "3", "2.5", "", "many"]


@st.composite
def spans(draw: st.DrawFn) -> Any:
    span = trace_service_pb2.ExportTraceServiceRequest().resource_spans.add().scope_spans.add().spans.add()
    span.name = draw(span_names)
    span.trace_id = draw(st.sampled_from([b"", bytes(16), b"\x01" * 16, b"\x02" * 64]) | st.binary(max_size=80))
    span.span_id = draw(st.sampled_from([b"", b"\x02" * 8]) | st.binary(max_size=12))
    span.start_time_unix_nano = draw(times)
    span.end_time_unix_nano = draw(times)
    span.status.code = draw(st.sampled_from([0, 1, 2, 7]))  # type: ignore[assignment]
    span.attributes.extend(_key_values(draw(attributes)))
    for state in ("active", "waiting", "queued"):
        if draw(st.booleans()):
            value = draw(st.sampled_from(LIVENESS_VALUES))
            span.attributes.add(key=f"openclaw.liveness.{state}").value.string_value = value
    return span


@st.composite
def log_records(draw: st.DrawFn) -> Any:
    record = logs_service_pb2.ExportLogsServiceRequest().resource_logs.add().scope_logs.add().log_records.add()
    record.severity_number = draw(st.sampled_from([0, 1, 9, 17, 24, 25, -3]))  # type: ignore[assignment]
    record.severity_text = draw(st.sampled_from(["", "ERROR", "weird text", "x" * 200]))
    record.body.CopyFrom(draw(any_values()))
    record.attributes.extend(_key_values(draw(attributes)))
    for key in ("openclaw.event", "openclaw.isError", "openclaw.subsystem"):
        if draw(st.booleans()):
            text = draw(st.sampled_from(["embedded_run_agent_end", "model_fallback_decision", "true", "a/b", ""]))
            record.attributes.add(key=key).value.string_value = text
    return record


def sentinel_events(number: int) -> tuple[trace_service_pb2.ExportTraceServiceRequest, Any]:
    """Two valid spans (distinct ids) and two valid error log records, for series no fuzzed event can feed."""
    traces = trace_service_pb2.ExportTraceServiceRequest()
    scope = traces.resource_spans.add().scope_spans.add()
    for index in range(2):
        scope.spans.add(
            name="openclaw.sentinel",
            trace_id=bytes(15) + bytes([number]),
            span_id=bytes([number, index]) * 4,
            start_time_unix_nano=1_000_000_000,
            end_time_unix_nano=1_500_000_000,
        )
    logs = logs_service_pb2.ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add()
    for _ in range(2):
        records.log_records.add(severity_number=17).attributes.extend(key_values({"openclaw.subsystem": "sentinel"}))
    return traces, logs


@settings(FUZZ_SETTINGS, max_examples=100)
@given(
    batches=st.lists(st.tuples(st.lists(spans(), max_size=6), st.lists(log_records(), max_size=6)), max_size=3),
    spans_complete=st.booleans(),
    data=st.data(),
)
def test_span_and_log_translation_never_raises_and_valid_events_stay_exact(
    batches: list[tuple[list[Any], list[Any]]], spans_complete: bool, data: st.DataObject
) -> None:
    """Hostile spans and log records never make translation raise; valid events beside them count exactly."""
    # Odd span names, trace/span ids of any length, reversed or extreme times, unknown status codes, liveness counts
    # of NaN/Inf/garbage, negative severities, wrong-type bodies and attributes.
    config = Config(spans_complete=spans_complete)
    store = Store(config.max_series, config.max_series_per_family, config.series_ttl)
    translators = SignalTranslators(store, config)
    for number, (span_list, record_list) in enumerate(batches, start=1):
        traces, logs = sentinel_events(number)
        scope = traces.resource_spans[0].scope_spans[0]
        for span in span_list:
            scope.spans.insert(data.draw(st.integers(0, len(scope.spans))), span)
        records = logs.resource_logs[0].scope_logs[0]
        for record in record_list:
            records.log_records.insert(data.draw(st.integers(0, len(records.log_records))), record)
        translators.apply(traces, now=float(number))
        translators.apply(logs, now=float(number))
        FUZZED["translate"] += 2
        calls = store.families["openclaw_span_calls_total"].series
        sentinel_calls = [s for labels, s in calls.items() if ("span", "openclaw.sentinel") in labels]
        assert [s.value for s in sentinel_calls if isinstance(s, ScalarSeries)] == [2.0 * number]
        logged = store.families["openclaw_log_records_total"].series
        sentinel_logs = [s for labels, s in logged.items() if ("subsystem", "sentinel") in labels]
        assert [s.value for s in sentinel_logs if isinstance(s, ScalarSeries)] == [2.0 * number]
    check_exposition(store, translators, config)


# -- specific defects the fuzzing is built to find, as plain regressions ------------------------------------------


def _fresh() -> tuple[Store, SignalTranslators]:
    config = Config()
    store = Store(config.max_series, config.max_series_per_family, config.series_ttl)
    return store, SignalTranslators(store, config)


def _tokens(store: Store) -> dict[str, float]:
    family = store.families.get("openclaw_model_tokens_total")
    if family is None:
        return {}
    return {dict(labels)["token_type"]: s.value for labels, s in family.series.items() if isinstance(s, ScalarSeries)}


def test_unknown_group_field_in_a_point_does_not_raise() -> None:
    """A point with an unknown field in group encoding (wire types 3/4) is translated like any other."""
    store, translators = _fresh()
    request = metrics_request(sum_metric("openclaw.tokens", [({"openclaw.token": "input"}, 5.0)]))
    point = request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0]
    point.MergeFromString(bytes([0xA3, 0x06, 0xA4, 0x06]))
    result = translators.apply(request, now=1.0)
    assert (result.accepted, _tokens(store)) == (1, {"input": 5.0})


def test_oversized_trace_id_keeps_the_openmetrics_exposition_valid() -> None:
    """A span trace_id over 16 bytes never yields an exemplar beyond OpenMetrics' 128-character limit."""
    store, translators = _fresh()
    traces = trace_service_pb2.ExportTraceServiceRequest()
    traces.resource_spans.add().scope_spans.add().spans.add(
        name="openclaw.run", trace_id=b"\xab" * 100, span_id=b"\x01" * 8, start_time_unix_nano=1, end_time_unix_nano=2
    )
    translators.apply(traces, now=1.0)
    assert list(parse_openmetrics(render(store, Format.OPENMETRICS) + "# EOF\n"))


def test_monotonic_sum_without_temporality_does_not_inflate_the_counter() -> None:
    """A monotonic Sum without temporality reporting 5, 6, 7 is not added up to 18 (histograms are rejected)."""
    # AGGREGATION_TEMPORALITY_UNSPECIFIED is invalid for a Sum; taken as a gauge, each value is added to the counter.
    store, translators = _fresh()
    for number, value in enumerate((5.0, 6.0, 7.0), start=1):
        request = metrics_request(
            sum_metric("openclaw.tokens", [({"openclaw.token": "input"}, value)], temporality=0, time=2_000 + number)
        )
        translators.apply(request, now=float(number))
    assert _tokens(store).get("input", 0.0) <= 7.0, _tokens(store)


def test_counter_never_goes_backwards_when_increments_overflow() -> None:
    """Finite delta increments that overflow a double never turn a counter into +Inf (rendered as 0)."""
    store, translators = _fresh()
    exposed = []
    for number in range(1, 3):
        request = metrics_request(
            sum_metric(
                "openclaw.tokens", [({"openclaw.token": "input"}, 1.5e308)], temporality=DELTA, time=2_000 + number
            )
        )
        translators.apply(request, now=float(number))
        page = parse_exposition(render(store, Format.TEXT))
        exposed.append(next(s.value for s in page if s.name == "openclaw_model_tokens_total"))
    assert exposed[1] >= exposed[0], exposed


def test_negative_cumulative_value_does_not_inflate_later_values() -> None:
    """A monotonic cumulative Sum reporting -5 then 3 (same start) never shows more than 3."""
    store, translators = _fresh()
    for number, value in enumerate((-5.0, 3.0), start=1):
        request = metrics_request(
            sum_metric("openclaw.tokens", [({"openclaw.token": "input"}, value)], time=2_000 + number)
        )
        translators.apply(request, now=float(number))
    assert _tokens(store)["input"] <= 3.0, _tokens(store)


def test_reserved_flag_bits_do_not_split_a_stream() -> None:
    """A reserved flag bit on a later point of the same stream does not add the stream's history again."""
    store, translators = _fresh()
    for number, (value, point_flags) in enumerate(((5.0, 0), (7.0, 2)), start=1):
        request = metrics_request(
            sum_metric("openclaw.tokens", [({"openclaw.token": "input"}, value)], time=2_000 + number)
        )
        request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].flags = point_flags
        translators.apply(request, now=float(number))
    assert _tokens(store) == {"input": 7.0}


def _gauge_request(scope: str, metric: metrics_pb2.Metric) -> metrics_service_pb2.ExportMetricsServiceRequest:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    block = request.resource_metrics.add()
    block.resource.attributes.extend(key_values({"service.name": "app"}))
    scope_metrics = block.scope_metrics.add()
    scope_metrics.scope.name = scope
    scope_metrics.metrics.append(metric)
    return request


def test_attribute_keys_never_become_reserved_label_names() -> None:
    """Attribute keys such as __name__ or 服务 never become label names starting with __ (reserved)."""
    store, translators = _fresh()
    metric = metrics_pb2.Metric(name="app.queue.size", unit="1")
    point = metric.gauge.data_points.add(time_unix_nano=1, as_double=3.0)
    point.attributes.extend(key_values({"__name__": "other_metric", "服务": "checkout", "__meta": "x"}))
    translators.apply(_gauge_request("app", metric), now=1.0)
    text = render(store, Format.TEXT)
    samples = parse_exposition(text)  # prometheus_client refuses reserved label names
    names = {name for sample in samples for name in sample.labels}
    assert not [name for name in names if name.startswith("__")], text


def test_one_name_as_gauge_and_as_counter_keeps_openmetrics_valid() -> None:
    """One foreign name sent as a Gauge and as a monotonic Sum never gives two same-named OM families."""
    store, translators = _fresh()
    gauge = metrics_pb2.Metric(name="app.jobs", unit="ms")
    gauge.gauge.data_points.add(time_unix_nano=1, as_double=3.0)
    counter = metrics_pb2.Metric(name="app.jobs", unit="ms")
    counter.sum.is_monotonic = True
    counter.sum.aggregation_temporality = CUMULATIVE  # type: ignore[assignment]
    counter.sum.data_points.add(start_time_unix_nano=1, time_unix_nano=2, as_double=4.0)
    translators.apply(_gauge_request("one", gauge), now=1.0)
    translators.apply(_gauge_request("two", counter), now=1.0)
    assert parse_openmetrics(render(store, Format.OPENMETRICS) + "# EOF\n")


def test_histogram_with_negative_bounds_is_valid_openmetrics() -> None:
    """A histogram with negative bucket bounds (valid OTLP) leaves the OpenMetrics page parseable."""
    store, translators = _fresh()
    metric = histogram_metric("app.temperature", [({}, [-5.0, 3.0])], bounds=(-10, 0, 10), unit="Cel")
    translators.apply(_gauge_request("app", metric), now=1.0)
    assert parse_openmetrics(render(store, Format.OPENMETRICS) + "# EOF\n")


def test_fuzz_volume_is_recorded(target: FuzzTarget) -> None:
    """Every fuzzed body got an answer that was counted; the totals are printed for the record (``-s``)."""
    print(
        f"\nbodies fuzzed over HTTP: {FUZZED['http']} (answers {dict(sorted(target.statuses.items()))}, "
        f"{target.partial} with partial_success); requests translated in process: {FUZZED['translate']}"
    )
    assert sum(target.statuses.values()) == FUZZED["http"]
