"""Test helpers: OTLP requests built like OpenClaw sends them, scrapes and Status bodies parsed, a bridge run
in-process or as a child process, captured payloads, and the real Prometheus, Alertmanager and remote-write receiver
the end-to-end tests talk to."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import functools
import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client.parser import text_string_to_metric_families

from otlp_bridge.config import Config, ListenAddress
from otlp_bridge.remotewrite import wire
from otlp_bridge.server import Bridge, running
from otlp_bridge.translate.fast import KnownMetric
from otlp_bridge.translate.metrics import KnownKey, KnownTable
from tests.conftest import missing

# Importing error_details_pb2 registers BadRequest, so a JSON Status whose details hold one can be parsed.
REGISTERED_DETAILS = (error_details_pb2.BadRequest,)

# --- OTLP requests --------------------------------------------------------------------------------------------

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
    description: str = "",
) -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=name, unit=unit, description=description)
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


def tokens_request(
    tokens: Mapping[str, float],
    *,
    start_ns: int = 1_700_000_000_000_000_000,
    time_ns: int | None = None,
    temporality: int = CUMULATIVE,
    service_name: str = "openclaw-gateway",
) -> ExportMetricsServiceRequest:
    """One ``openclaw.tokens`` Sum (as OpenClaw sends it: monotonic, asDouble) with one point per token type."""
    metric = sum_metric(
        "openclaw.tokens",
        [({**USAGE_ATTRIBUTES, "openclaw.token": token_type}, value) for token_type, value in tokens.items()],
        start=start_ns,
        time=time_ns if time_ns is not None else time.time_ns(),
        temporality=temporality,
        description="Token usage by type",
    )
    return metrics_request(metric, resource={"service.name": service_name, "host.name": "vm"})


def gauge_request(name: str, count: int, *, label: str = "i") -> ExportMetricsServiceRequest:
    """A generic (non-OpenClaw) gauge with ``count`` points, each its own series."""
    metric = metrics_pb2.Metric(name=name, unit="1", gauge=metrics_pb2.Gauge())
    now_ns = time.time_ns()
    for index in range(count):
        metric.gauge.data_points.add(
            attributes=key_values({label: f"value-{index:07d}"}), time_unix_nano=now_ns, as_double=float(index)
        )
    return metrics_request(metric, resource={"service.name": "load-generator", "host.name": "vm"}, scope="load")


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


# --- scrapes and Status bodies -------------------------------------------------------------------------------


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


# --- a bridge, in-process or a child process -----------------------------------------------------------------

LOOPBACK_ANY_PORT = ListenAddress("127.0.0.1", 0)


@dataclasses.dataclass
class RunningBridge:
    bridge: Bridge
    otlp_url: str
    metrics_url: str


@contextlib.asynccontextmanager
async def in_process_bridge(**options: Any) -> AsyncIterator[RunningBridge]:
    """A bridge on ephemeral loopback ports inside the test's event loop."""
    options.setdefault("otlp_listen", LOOPBACK_ANY_PORT)
    options.setdefault("metrics_listen", LOOPBACK_ANY_PORT)
    bridge = Bridge(Config(**options))
    async with running(bridge) as (otlp_port, metrics_port):
        yield RunningBridge(bridge, f"http://127.0.0.1:{otlp_port}", f"http://127.0.0.1:{metrics_port}")


@dataclasses.dataclass
class BridgeProcess:
    process: subprocess.Popen[str]
    otlp_url: str
    metrics_url: str
    log_lines: list[str]

    def rss_bytes(self) -> int:
        """Resident set size of the child, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0


@contextlib.contextmanager
def bridge_process(*args: str, env: dict[str, str] | None = None, timeout: float = 20.0) -> Iterator[BridgeProcess]:
    """Run ``python -m otlp_bridge`` on ephemeral ports; stops it with SIGTERM on exit."""
    command = [
        sys.executable,
        "-m",
        "otlp_bridge",
        "--otlp-listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
        *args,
    ]
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, **(env or {})}
    )
    assert process.stderr is not None
    lines: list[str] = []
    ready = threading.Event()
    urls: dict[str, str] = {}

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if not ready.is_set() and "listening" in line:
                if line.lstrip().startswith("{"):
                    event = json.loads(line)
                else:  # --log-format console: key=value pairs
                    event = dict(re.findall(r"(otlp|metrics)=(\S+)", line))
                urls.update(otlp=event["otlp"], metrics=event["metrics"].removesuffix("/metrics"))
                ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("bridge did not start:\n" + "".join(lines))
    try:
        yield BridgeProcess(process, urls["otlp"], urls["metrics"], lines)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


@dataclasses.dataclass(frozen=True)
class CapturedRequest:
    """One body captured from the real OpenClaw gateway, with the headers it was sent with."""

    path: Path
    signal: str
    headers: dict[str, str]
    body: bytes
    time: float

    def decoded_body(self) -> bytes:
        return gzip.decompress(self.body) if self.headers.get("Content-Encoding") == "gzip" else self.body


def captured_requests(folder: Path, signal: str | None = None) -> list[CapturedRequest]:
    """The ``NNNNN-<signal>.pb`` bodies of one capture folder, in the order they were received."""
    out = []
    for body_path in sorted(folder.glob("*.pb")):
        kind = body_path.stem.split("-", 1)[1]
        if signal is not None and kind != signal:
            continue
        meta = json.loads(body_path.with_suffix(".meta.json").read_text())
        out.append(CapturedRequest(body_path, kind, meta["headers"], body_path.read_bytes(), meta["time_unix"]))
    return out


def check_config(
    argv: list[str],
    files: dict[str, str],
    tmp_path: Path,
    root: str = "/etc/otlp-bridge/",
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The bridge's own ``--check-config`` verdict on a command line (from a chart, a unit file, a compose file)
    whose files live under ``root``: the files are placed in ``tmp_path`` and every path is rewritten to match."""

    def local(text: str) -> str:
        return text.replace(root, f"{tmp_path}/")

    for path, content in files.items():
        target = Path(local(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(local(content))
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith("OTLP_BRIDGE_")}
    out = subprocess.run(
        [sys.executable, "-m", "otlp_bridge", *[local(a) for a in argv], "--check-config"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**clean_env, **(env or {})},
    )
    assert out.returncode == 0, out.stderr
    effective: dict[str, Any] = json.loads(out.stdout)
    return effective


# The official plugin's scrapes taken during the main capture (03a), named by their UTC time HHMMSS.
SCRAPES_03A = [
    "scrape-014804-start.txt",
    "scrape-014934-after-basic.txt",
    "scrape-015010-after-tool.txt",
    "scrape-015102-after-500.txt",
    "scrape-015156-after-429.txt",
    "scrape-015226-after-cli.txt",
    "scrape-015316-end.txt",
]


def scrape_time(name: str) -> float:
    """The Unix time a ``scrape-HHMMSS-*.txt`` file was taken (whole seconds; the capture day)."""
    clock = name.split("-")[1]
    moment = datetime.datetime(2026, 11, 22, int(clock[:2]), int(clock[2:4]), int(clock[4:6]), tzinfo=datetime.UTC)
    return moment.timestamp()


class ForgetfulTable(KnownTable):
    """A ``MetricsTranslator.known`` that keeps nothing: every export takes the general path (the reference the fast
    path is compared with)."""

    def __setitem__(self, key: KnownKey, known: KnownMetric) -> None:
        pass


# --- a real Prometheus (Debian's package) -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def real_prometheus(
    binary: str,
    folder: Path,
    scrape_configs: list[dict[str, Any]],
    flags: Sequence[str] = (),
    port: int | None = None,
    **sections: Any,
) -> Iterator[str]:
    """A Prometheus on a free loopback port (or ``port``) with a config and TSDB in ``folder``, started with extra
    ``flags``; always terminated on exit. Entering it again with the same folder and port restarts the same
    Prometheus. ``sections`` are further top-level config sections (``rule_files``, ``alerting``); rules are
    evaluated every second."""
    config = folder / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                "scrape_configs": scrape_configs,
                **sections,
            },
            sort_keys=False,
        )
    )
    port = port or free_port()
    log = (folder / "prometheus.log").open("a")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            *flags,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


async def wait_until_ready(client: aiohttp.ClientSession, prometheus: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            async with client.get(f"{prometheus}/-/ready") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.2)
    pytest.fail("Prometheus did not become ready")


# --- what a remote-write sender put on the wire, decoded by protobuf itself --------------------------------


@dataclasses.dataclass(frozen=True)
class WrittenSample:
    labels: dict[str, str]
    label_order: tuple[str, ...]
    value: float
    timestamp: int


@functools.cache
def _prompb_classes() -> tuple[Any, Any]:
    """``prometheus.WriteRequest`` (prompb/remote.proto, types.proto) built from a descriptor, independent of the
    bridge's hand-written encoder; enums as int32 (the same varint on the wire)."""
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name="otlp_bridge_test_prompb.proto", package="prompbtest")

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        described = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            added = described.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name

    optional, repeated = field.LABEL_OPTIONAL, field.LABEL_REPEATED
    message("Label", ("name", 1, field.TYPE_STRING, optional, ""), ("value", 2, field.TYPE_STRING, optional, ""))
    message("Sample", ("value", 1, field.TYPE_DOUBLE, optional, ""), ("timestamp", 2, field.TYPE_INT64, optional, ""))
    message(
        "TimeSeries",
        ("labels", 1, field.TYPE_MESSAGE, repeated, ".prompbtest.Label"),
        ("samples", 2, field.TYPE_MESSAGE, repeated, ".prompbtest.Sample"),
    )
    message(
        "MetricMetadata",
        ("type", 1, field.TYPE_INT32, optional, ""),
        ("metric_family_name", 2, field.TYPE_STRING, optional, ""),
        ("help", 4, field.TYPE_STRING, optional, ""),
        ("unit", 5, field.TYPE_STRING, optional, ""),
    )
    message(
        "WriteRequest",
        ("timeseries", 1, field.TYPE_MESSAGE, repeated, ".prompbtest.TimeSeries"),
        ("metadata", 3, field.TYPE_MESSAGE, repeated, ".prompbtest.MetricMetadata"),
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    write_request = message_factory.GetMessageClass(pool.FindMessageTypeByName("prompbtest.WriteRequest"))
    metadata = message_factory.GetMessageClass(pool.FindMessageTypeByName("prompbtest.MetricMetadata"))
    return write_request, metadata


def decode_write_request(body: bytes) -> tuple[list[WrittenSample], list[Any]]:
    """The samples (one per series entry and sample) and metadata of an uncompressed WriteRequest."""
    request = _prompb_classes()[0].FromString(body)
    samples = [
        WrittenSample(
            {label.name: label.value for label in series.labels},
            tuple(label.name for label in series.labels),
            sample.value,
            sample.timestamp,
        )
        for series in request.timeseries
        for sample in series.samples
    ]
    return samples, list(request.metadata)


_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_UNESCAPE = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}

SampleKey = frozenset[tuple[str, str]]


def page_samples(page: str) -> dict[SampleKey, str]:
    """The samples of a text 0.0.4 page: labels with ``__name__`` → the value as printed."""
    out: dict[SampleKey, str] = {}
    for line in page.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        labels = {
            name: re.sub(r"\\[\\n\"]", lambda m: _UNESCAPE[m[0]], value)
            for name, value in _LABEL.findall(match[2] or "")
        }
        out[frozenset({"__name__": match[1], **labels}.items())] = match[3]
    return out


# --- a remote-write receiver the test controls ----------------------------------------------------------------


@dataclasses.dataclass
class Received:
    at: float
    headers: dict[str, str]
    samples: list[WrittenSample]
    metadata: list[Any]


@dataclasses.dataclass
class Receiver:
    """Answers each request with the next scripted ``(status, headers)`` (then 204); ``hang`` holds requests
    until ``release`` is set."""

    url: str = ""
    script: list[tuple[int, dict[str, str]]] = dataclasses.field(default_factory=list)
    received: list[Received] = dataclasses.field(default_factory=list)
    hang: bool = False
    release: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    holding: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        samples, metadata = decode_write_request(wire.decompress(body))
        self.received.append(Received(time.monotonic(), dict(request.headers), samples, metadata))
        if self.hang:
            self.holding += 1
            try:
                await self.release.wait()
            finally:
                self.holding -= 1
        status, headers = self.script.pop(0) if self.script else (204, {})
        return web.Response(status=status, headers=headers, text="refused\n" if status >= 300 else None)

    def values(self) -> list[float]:
        """Every value received, in order."""
        return [s.value for r in self.received for s in r.samples]


@contextlib.asynccontextmanager
async def receiver(**options: object) -> AsyncIterator[Receiver]:
    found = Receiver(**options)  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_post("/api/v1/write", found.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/api/v1/write"
    try:
        yield found
    finally:
        found.release.set()
        await runner.cleanup()


async def until(condition: object, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# --- a real Alertmanager (Debian's package) ------------------------------------------------------------------


def alertmanager_binary() -> str:
    """Debian names it prometheus-alertmanager, upstream alertmanager."""
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if not found:
        missing("Alertmanager is not installed: run `apt-get install prometheus-alertmanager`")
    return found


@contextlib.asynccontextmanager
async def real_alertmanager(folder: Path, config: dict[str, Any]) -> AsyncIterator[str]:
    """An Alertmanager on a free loopback port (no cluster), ready when yielded; always terminated on exit."""
    config_file = folder / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    port = free_port()
    log_file = folder / "alertmanager.log"
    log = log_file.open("w")
    process = subprocess.Popen(
        [
            alertmanager_binary(),
            f"--config.file={config_file}",
            f"--storage.path={folder / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as client:
            deadline = time.monotonic() + 30
            while not await _answers(client, f"{url}/-/ready"):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("Alertmanager did not start:\n" + log_file.read_text())
                await asyncio.sleep(0.2)
        yield url
    finally:
        stop(process)
        log.close()


async def _answers(client: aiohttp.ClientSession, url: str) -> bool:
    with contextlib.suppress(aiohttp.ClientError):
        async with client.get(url) as response:
            return response.status == 200
    return False
