"""Robustness and security: stalled and slow senders, overload, the in-flight body budget, a label flood on a real
process, TLS on both listeners, loopback-only defaults, and a bounded soak of concurrent senders and scrapers."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import ipaddress
import json
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

from otlp_bridge import server
from tests.conftest import missing, require_tool
from tests.soak import soak
from tests.support import (
    PROTOBUF,
    BridgeProcess,
    Sample,
    bridge_process,
    decode_status,
    find,
    in_process_bridge,
    metrics_request,
    parse_exposition,
    scrape,
    sum_metric,
)

try:  # not a test dependency: the TLS test falls back to the openssl command
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    HAVE_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAVE_CRYPTOGRAPHY = False

MiB = 1024 * 1024
KiB = 1024
TOKENS = "openclaw_model_tokens_total"


def clean_env() -> dict[str, str]:
    """The test's environment without any OTLP_BRIDGE_* option that could leak into a child."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OTLP_BRIDGE_")}


def tokens_body(provider: str, value: float, service: str | None = None, padding: int = 0) -> bytes:
    """A cumulative ``openclaw.tokens`` export from its own gateway; ``padding`` bytes of an unknown field make the
    body as large as a test needs (a receiver must skip unknown fields)."""
    attributes = {"openclaw.provider": provider, "openclaw.token": "input"}
    request = metrics_request(
        sum_metric("openclaw.tokens", [(attributes, value)]),
        resource={"service.name": service or f"gw-{provider}", "host.name": "robustness"},
    )
    body = request.SerializeToString()
    if padding:
        body += b"\xc2\x3e" + _varint(padding) + b"x" * padding  # field 1000, length-delimited
    return body


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


# -- a raw HTTP/1.1 client: the tests decide exactly which bytes go out and when ----------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the answer was complete


class RawClient:
    """One TCP connection to a listener, speaking just enough HTTP/1.1 by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, url: str) -> RawClient:
        host, port = url.removeprefix("http://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def post_head(self, path: str, length: int, *, gzipped: bool = False) -> None:
        encoding = "Content-Encoding: gzip\r\n" if gzipped else ""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: bridge\r\nContent-Type: {PROTOBUF}\r\n{encoding}"
            f"Content-Length: {length}\r\n\r\n"
        )
        await self.send(head.encode())

    async def answer(self, timeout: float) -> Answer:
        async with asyncio.timeout(timeout):
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Answer(status, headers, body, time.monotonic())

    async def closed_by_peer(self, timeout: float) -> float | None:
        """Seconds until the bridge closes the connection (EOF or reset), or None if it is still open."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return None
        except ConnectionError:
            pass
        return time.monotonic() - started

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def raw_clients(url: str, count: int) -> AsyncIterator[list[RawClient]]:
    clients = [await RawClient.connect(url) for _ in range(count)]
    try:
        yield clients
    finally:
        for client in clients:
            await client.close()


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


# -- stalled and slow senders ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["identity", "gzip"])
async def test_stalled_senders_time_out_release_their_buffers_and_are_disconnected(
    monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """Senders stalled mid-body get 408 at the deadline, release their buffers, are counted and disconnected."""
    deadline = 1.0
    monkeypatch.setattr(server, "READ_TIMEOUT_SECONDS", deadline)
    senders = 6
    gzipped = encoding == "gzip"
    async with in_process_bridge(max_body_bytes=MiB) as running, raw_clients(running.otlp_url, senders) as clients:
        receiver = running.bridge.receiver
        held_each = 0
        for index, client in enumerate(clients):
            body = tokens_body(f"stalled{index}", 1.0, padding=600 * KiB)
            if gzipped:
                wire = gzip.compress(body)
                sent = wire[:-8]  # everything but the gzip trailer: the whole body is inflated and held
                held_each = len(body)
            else:
                wire = body
                sent = body[: 300 * KiB]
                held_each = len(sent)
            await client.post_head("/v1/metrics", len(wire), gzipped=gzipped)
            await client.send(sent)
        stalled_at = time.monotonic()
        await wait_until(lambda: receiver.bodies.held >= senders * held_each * 0.9)
        held = receiver.bodies.held
        assert held <= receiver.bodies.budget
        answers = await asyncio.gather(*(client.answer(timeout=deadline + 5) for client in clients))
        assert (receiver.bodies.held, receiver.inflight) == (0, 0)
        for answer in answers:
            assert answer.status == 408, answer
            assert answer.headers.get("connection", "").lower() == "close"
            assert decode_status(answer.body, answer.headers["content-type"]).message
            assert answer.at - stalled_at < deadline + 2
        # the bridge closes each connection (after aiohttp's lingering); measured once, the mechanism is the same
        closed = await asyncio.gather(*(client.closed_by_peer(timeout=15) for client in clients)) if not gzipped else []
        async with aiohttp.ClientSession() as session:
            samples = await scrape(session, running.metrics_url)
            async with session.post(
                f"{running.otlp_url}/v1/metrics", data=tokens_body("after", 2.0), headers={"Content-Type": PROTOBUF}
            ) as response:
                assert response.status == 200
    answered = max(answer.at for answer in answers) - stalled_at
    print(
        f"\n{senders} stalled {encoding} senders held {held / MiB:.2f} MiB"
        f" (budget {receiver.bodies.budget / MiB:.0f} MiB) until the {deadline:g} s deadline;"
        f" 408 after {answered:.2f} s;"
        f" connections closed {[round(c, 1) if c is not None else None for c in closed]} s after the 408"
    )
    assert all(delay is not None for delay in closed), "the bridge must close a timed-out connection"
    assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="timeout") == senders
    assert find(samples, TOKENS, provider="stalled0") is None, "nothing of a timed-out body is applied"


async def test_a_slow_drip_sender_is_cut_off_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sender trickling one byte every 20 ms is still cut off at the read deadline (408)."""
    deadline = 1.0
    monkeypatch.setattr(server, "READ_TIMEOUT_SECONDS", deadline)
    body = tokens_body("drip", 1.0, padding=4 * KiB)
    async with in_process_bridge() as running, raw_clients(running.otlp_url, 1) as (client,):
        await client.post_head("/v1/metrics", len(body))
        started = time.monotonic()

        async def drip() -> None:
            with contextlib.suppress(ConnectionError):
                for offset in range(len(body)):
                    await client.send(body[offset : offset + 1])
                    await asyncio.sleep(0.02)

        dripping = asyncio.create_task(drip())
        answer = await client.answer(timeout=deadline + 5)
        dripping.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dripping
        assert answer.status == 408
        assert deadline - 0.1 < answer.at - started < deadline + 2
        assert (running.bridge.receiver.bodies.held, running.bridge.receiver.inflight) == (0, 0)


async def test_senders_stuck_in_their_headers_do_not_block_others() -> None:
    """Connections that never finish their request headers take no request slot; real senders are served."""
    async with in_process_bridge(max_inflight=2) as running, raw_clients(running.otlp_url, 20) as clients:
        for client in clients:
            await client.send(b"POST /v1/metrics HTTP/1.1\r\nHost: bridge\r\nContent-")
        await asyncio.sleep(0.2)
        assert running.bridge.receiver.inflight == 0
        async with aiohttp.ClientSession() as session:
            for index in range(3):
                async with session.post(
                    f"{running.otlp_url}/v1/metrics",
                    data=tokens_body("headers", float(index + 1)),
                    headers={"Content-Type": PROTOBUF},
                ) as response:
                    assert response.status == 200
            samples = await scrape(session, running.metrics_url)
    assert find(samples, TOKENS, provider="headers") == 3


@pytest.mark.slow
async def test_connections_that_never_send_a_complete_request_are_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections that never send a complete request head (or nothing at all) are eventually closed."""
    # READ_TIMEOUT_SECONDS only bounds the body; aiohttp has no header timeout, so without one of the bridge's own
    # every such client holds a socket and a file descriptor for ever (a slowloris at the header stage).
    deadline = 1.0
    monkeypatch.setattr(server, "READ_TIMEOUT_SECONDS", deadline)
    async with in_process_bridge() as running, raw_clients(running.otlp_url, 2) as (partial, silent):
        await partial.send(b"POST /v1/metrics HTTP/1.1\r\nHost: bridge\r\nContent-")
        closed = await asyncio.gather(*(client.closed_by_peer(timeout=deadline + 11) for client in (partial, silent)))
    assert None not in closed, (
        f"(half-sent, silent) closed after {closed} s; None: still open after {deadline + 11:g} s"
    )


@pytest.mark.slow
async def test_a_keep_alive_connection_that_has_sent_a_request_is_not_closed_as_stalled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only connections without a complete request head are closed at the deadline; one idle between requests is
    aiohttp's keep-alive (75 s) and serves its next request."""
    deadline = 1.0
    monkeypatch.setattr(server, "READ_TIMEOUT_SECONDS", deadline)
    async with in_process_bridge() as running, raw_clients(running.otlp_url, 1) as (client,):
        for index in range(2):
            body = tokens_body("keepalive", float(index + 1))
            await client.post_head("/v1/metrics", len(body))
            await client.send(body)
            assert (await client.answer(timeout=5)).status == 200
            if not index:
                assert await client.closed_by_peer(timeout=deadline + 2) is None


# -- overload ----------------------------------------------------------------------------------------------------


async def test_three_times_max_inflight_senders_get_503_at_once_and_succeed_on_retry() -> None:
    """3 × max_inflight held senders: the excess gets 503 + Retry-After at once, no queue; retries count."""
    limit, senders = 4, 12
    bodies = [tokens_body(f"sender{index}", 10.0) for index in range(senders)]
    async with in_process_bridge(max_inflight=limit) as running, raw_clients(running.otlp_url, senders) as clients:
        receiver = running.bridge.receiver
        peak = 0
        watching = True

        async def watch() -> None:
            nonlocal peak
            while watching:
                peak = max(peak, receiver.inflight)
                await asyncio.sleep(0.001)

        watcher = asyncio.create_task(watch())
        for client, body in zip(clients[:limit], bodies, strict=False):
            await client.post_head("/v1/metrics", len(body))
            await client.send(body[:5])
        await wait_until(lambda: receiver.inflight == limit)
        started = time.monotonic()
        for client, body in zip(clients[limit:], bodies[limit:], strict=True):
            await client.post_head("/v1/metrics", len(body))
            await client.send(body[:5])
        refused = await asyncio.gather(*(client.answer(timeout=5) for client in clients[limit:]))
        assert receiver.inflight == limit, "the admitted senders are still held while the others are refused"
        for answer in refused:
            assert answer.status == 503, answer
            assert int(answer.headers["retry-after"]) >= 1
            assert decode_status(answer.body, answer.headers["content-type"]).message
        slowest_refusal = max(answer.at for answer in refused) - started
        for client, body in zip(clients[:limit], bodies, strict=False):
            await client.send(body[5:])
        admitted = await asyncio.gather(*(client.answer(timeout=5) for client in clients[:limit]))
        assert [answer.status for answer in admitted] == [200] * limit
        async with aiohttp.ClientSession() as session:
            for body in bodies[limit:]:  # the refused senders retry, as OTLP says they should
                async with session.post(
                    f"{running.otlp_url}/v1/metrics", data=body, headers={"Content-Type": PROTOBUF}
                ) as response:
                    assert response.status == 200
            samples = await scrape(session, running.metrics_url)
        watching = False
        await watcher
    print(f"\n{senders} senders, max_inflight={limit}: peak in flight {peak}, 503s within {slowest_refusal:.3f} s")
    assert peak == limit
    assert slowest_refusal < 1.0, "a refusal must not wait for a slot"
    assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="overloaded") == senders - limit
    assert [find(samples, TOKENS, provider=f"sender{index}") for index in range(senders)] == [10.0] * senders


async def test_the_inflight_body_budget_refuses_bodies_beyond_four_maximum_sizes() -> None:
    """Stalled gzip bodies fill the in-flight budget (4 × the limit); later ones get 503; memory stays bounded."""
    # Each body inflates to 0.9 × max_body_bytes: four fit the budget, a fifth and sixth (complete, each within the
    # limit) are refused while the four are held; then the four complete and are counted.
    limit = MiB
    async with in_process_bridge(max_body_bytes=limit) as running, raw_clients(running.otlp_url, 6) as clients:
        receiver = running.bridge.receiver
        assert receiver.bodies.budget == 4 * limit
        observed: list[int] = []
        bodies = [tokens_body(f"big{index}", 5.0, padding=int(0.9 * limit) - 200) for index in range(6)]
        wires = [gzip.compress(body) for body in bodies]
        for client, wire in zip(clients[:4], wires, strict=False):
            await client.post_head("/v1/metrics", len(wire), gzipped=True)
            before = receiver.bodies.held
            await client.send(wire[:-8])  # all but the trailer: inflated and held
            async with asyncio.timeout(10):
                while receiver.bodies.held < before + 0.89 * limit:
                    await asyncio.sleep(0.005)
            observed.append(receiver.bodies.held)
        refused = []
        for client, wire in zip(clients[4:], wires[4:], strict=True):
            await client.post_head("/v1/metrics", len(wire), gzipped=True)
            await client.send(wire)  # complete: still refused while the budget is taken
            refused.append(await client.answer(timeout=5))
            observed.append(receiver.bodies.held)
        for answer in refused:
            assert answer.status == 503, answer
            assert answer.headers["retry-after"] == "1"
            assert "in flight" in decode_status(answer.body, answer.headers["content-type"]).message
        for client, wire in zip(clients[:4], wires, strict=False):
            await client.send(wire[-8:])
        completed = await asyncio.gather(*(client.answer(timeout=10) for client in clients[:4]))
        assert [answer.status for answer in completed] == [200] * 4
        assert receiver.bodies.held == 0
        async with aiohttp.ClientSession() as session:
            samples = await scrape(session, running.metrics_url)
    print(
        f"\nin-flight budget {receiver.bodies.budget / MiB:.0f} MiB: held {max(observed) / MiB:.2f} MiB at most while "
        f"4 bodies of {len(bodies[0]) / MiB:.2f} MiB ({len(wires[0])} bytes gzip) stalled; 2 more got 503"
    )
    assert max(observed) <= receiver.bodies.budget
    assert [find(samples, TOKENS, provider=f"big{index}") for index in range(6)] == [5.0] * 4 + [None, None]
    assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="overloaded") == 2


# -- a label flood on a real process -----------------------------------------------------------------------------


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _string_attribute(key: bytes, value: bytes) -> bytes:
    return _field(1, key) + _field(2, _field(1, value))  # KeyValue{key, value: AnyValue{string_value}}


_POINT_HEAD = b"\x11" + (1_000).to_bytes(8, "little") + b"\x19" + (2_000).to_bytes(8, "little") + b"\x21"


def _point(attributes: list[tuple[bytes, bytes]], value: float = 1.0) -> bytes:
    """A NumberDataPoint: start, time, as_double and string attributes, hand-encoded (fast for a million)."""
    body = _POINT_HEAD + struct.pack("<d", value)
    for key, text in attributes:
        body += _field(7, _string_attribute(key, text))
    return body


def _metric(name: bytes, points: list[bytes], *, gauge: bool = False) -> bytes:
    data = b"".join(_field(1, point) for point in points)
    if gauge:
        return _field(1, name) + _field(5, data)
    return _field(1, name) + _field(7, data + b"\x10\x02\x18\x01")  # cumulative, monotonic


def _request(service: bytes, scope: bytes, metrics: list[bytes]) -> bytes:
    resource = _field(1, _string_attribute(b"service.name", service))
    scope_metrics = _field(1, _field(1, scope)) + b"".join(_field(2, metric) for metric in metrics)
    return _field(1, _field(1, resource) + _field(2, scope_metrics))


@dataclass
class FloodFigures:
    values: dict[str, int] = field(default_factory=dict)
    rss: list[int] = field(default_factory=list)
    scrape_seconds: list[float] = field(default_factory=list)
    rejected: int = 0
    accepted_requests: int = 0
    request_seconds: float = 0.0


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes
) -> metrics_service_pb2.ExportMetricsServiceResponse:
    async with session.post(url, data=body, headers={"Content-Type": PROTOBUF}) as response:
        raw = await response.read()
        assert response.status == 200, raw[:300]
    answer = metrics_service_pb2.ExportMetricsServiceResponse()
    answer.ParseFromString(raw)
    return answer


async def _timed_scrape(session: aiohttp.ClientSession, child: BridgeProcess, figures: FloodFigures) -> list[Sample]:
    started = time.perf_counter()
    async with session.get(f"{child.metrics_url}/metrics") as response:
        text = await response.text()
    figures.scrape_seconds.append(time.perf_counter() - started)
    return parse_exposition(text)


@pytest.mark.slow
async def test_label_flood_on_a_real_process_stays_under_every_cap() -> None:
    """A 1.25M-value label flood keeps series, streams and RSS bounded, counts every drop, scrapes stay fast."""
    # 1,000,000 distinct openclaw.lane values (half session keys, which all normalise to lane="session", half lane
    # names), 200,000 provider/model pairs and 50,000 attribute keys of a foreign gauge, in 20 exports. A series
    # that existed before keeps updating exactly; every refused point is counted once and reported.
    exports, lanes_each, pairs_each, keys_each = 20, 50_000, 10_000, 2_500
    # The default global cap, a per-family cap under it (so that all three caps refuse), twice the default stream cap.
    max_series, per_family, max_streams = 2048, 1024, 65536
    figures = FloodFigures()
    caps = ("--max-series-per-family", str(per_family), "--max-streams", str(max_streams))
    with bridge_process(*caps, env=clean_env()) as child:
        url = f"{child.otlp_url}/v1/metrics"
        async with aiohttp.ClientSession() as session:
            steady = 10.0
            await _post(session, url, tokens_body("steady", steady))
            await _timed_scrape(session, child, figures)
            figures.rss.append(child.rss_bytes())
            lane_number = pair_number = key_number = 0
            for export in range(exports):
                lanes = []
                for _ in range(lanes_each):
                    lane_number += 1
                    text = f"session:agent:main:flood:{lane_number}" if lane_number % 2 else f"lane-{lane_number:07d}"
                    lanes.append(_point([(b"openclaw.lane", text.encode())]))
                pairs = []
                for _ in range(pairs_each):
                    pair_number += 1
                    pairs.append(
                        _point(
                            [
                                (b"openclaw.provider", f"prov{pair_number}".encode()),
                                (b"openclaw.model", f"model{pair_number}".encode()),
                                (b"openclaw.token", b"input"),
                            ]
                        )
                    )
                keys = []
                for _ in range(keys_each):
                    key_number += 1
                    keys.append(_point([(f"k{key_number}".encode(), b"v")]))
                body = _request(b"flood", b"openclaw", [_metric(b"openclaw.queue.lane.enqueue", lanes)])
                body += _request(b"flood", b"openclaw", [_metric(b"openclaw.tokens", pairs)])
                body += _request(b"flood", b"app", [_metric(b"flood.keys", keys, gauge=True)])
                started = time.perf_counter()
                answer = await _post(session, url, body)
                figures.request_seconds += time.perf_counter() - started
                assert answer.HasField("partial_success"), f"export {export} refused nothing"
                assert answer.partial_success.error_message
                figures.rejected += answer.partial_success.rejected_data_points
                steady += 7
                await _post(session, url, tokens_body("steady", steady))
                samples = await _timed_scrape(session, child, figures)
                assert find(samples, TOKENS, provider="steady") == steady, f"after export {export}"
                figures.rss.append(child.rss_bytes())
            samples = await _timed_scrape(session, child, figures)
    figures.values = {"lane": lane_number, "provider/model": pair_number, "attribute key": key_number}
    sent = lane_number + pair_number + key_number
    rss_before, rss_half, rss_after = figures.rss[0], figures.rss[len(figures.rss) // 2], figures.rss[-1]
    reasons = {
        reason: find(samples, "otlp_bridge_series_dropped_total", reason=reason)
        for reason in ("series_cap", "family_cap", "stream_cap")
    }
    series = find(samples, "otlp_bridge_series")
    streams = find(samples, "otlp_bridge_streams")
    print(
        f"\nlabel flood: {sent:,} distinct values ({figures.values}) in {exports} exports "
        f"({figures.request_seconds:.1f} s of requests); series {series:.0f} (cap {max_series}), streams "
        f"{streams:.0f} (cap {max_streams}); RSS {rss_before / MiB:.1f} MiB before, {rss_half / MiB:.1f} MiB halfway, "
        f"{rss_after / MiB:.1f} MiB after; refused {figures.rejected:,} points {reasons}; scrape "
        f"{1000 * max(figures.scrape_seconds):.1f} ms at most"
    )
    assert series is not None
    assert series <= max_series
    assert streams is not None
    assert streams <= max_streams
    exposed = [s for s in samples if s.name == "openclaw_queue_lane_enqueue_total"]
    assert 0 < len(exposed) <= per_family
    assert find(samples, "openclaw_queue_lane_enqueue_total", lane="session") is not None
    dropped = find(samples, "openclaw_prometheus_series_dropped_total")
    assert dropped == figures.rejected, "every refused point is counted once and reported to the sender"
    assert sum(value or 0 for value in reasons.values()) == figures.rejected
    assert all(reasons.values()), reasons
    rejected_points = find(samples, "otlp_bridge_received_points_total", signal="metrics", outcome="rejected")
    assert rejected_points == figures.rejected
    assert rss_after - rss_before < 200 * MiB
    assert rss_after - rss_half < 40 * MiB, "RSS must level off once the caps are reached"
    assert max(figures.scrape_seconds) < 1.0


# -- TLS ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for localhost and 127.0.0.1, made now (``cryptography``, else ``openssl``)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    if not HAVE_CRYPTOGRAPHY:
        openssl = require_tool("openssl")
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        return Certificate(cert, key)
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key.chmod(0o600)
    return Certificate(cert, key)


@pytest.mark.slow
async def test_tls_on_both_listeners(tmp_path: Path) -> None:
    """With a test-made certificate both listeners speak only TLS: https works, plain http fails."""
    made = make_certificate(tmp_path)
    trusted = ssl.create_default_context(cafile=str(made.cert))
    with bridge_process("--tls-cert-file", str(made.cert), "--tls-key-file", str(made.key), env=clean_env()) as child:
        assert child.otlp_url.startswith("https://")
        assert child.metrics_url.startswith("https://")
        for url in (child.otlp_url, child.metrics_url):
            host, port = url.removeprefix("https://").rsplit(":", 1)
            served = await asyncio.to_thread(ssl.get_server_certificate, (host, int(port)))
            assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(made.cert.read_text())
        connector = aiohttp.TCPConnector(ssl=trusted)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(
                f"{child.otlp_url}/v1/metrics", data=tokens_body("tls", 42.0), headers={"Content-Type": PROTOBUF}
            ) as response:
                assert response.status == 200
            async with session.get(f"{child.metrics_url}/healthz") as response:
                assert response.status == 200
            samples = await scrape(session, child.metrics_url)
            assert find(samples, TOKENS, provider="tls") == 42.0
        async with aiohttp.ClientSession() as plain:
            for url in (child.otlp_url, child.metrics_url):
                with pytest.raises(aiohttp.ClientError):
                    async with plain.get(url.replace("https://", "http://") + "/healthz") as response:
                        await response.read()
                with pytest.raises(aiohttp.ClientConnectorCertificateError):
                    async with plain.get(url + "/healthz") as response:  # the system trust store does not know it
                        await response.read()
        assert child.process.poll() is None


# -- safe defaults -----------------------------------------------------------------------------------------------


def _listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket of ``pid`` in LISTEN state, from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table, family in (("tcp", 4), ("tcp6", 6)):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address_hex, port_hex = local.split(":")
            raw = bytes.fromhex(address_hex)
            if family == 4:
                address = str(ipaddress.IPv4Address(raw[::-1]))
            else:
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                address = str(ipaddress.IPv6Address(words))
            found.append((address, int(port_hex, 16)))
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
async def test_without_listen_options_only_loopback_is_bound() -> None:
    """Without listen options the process listens on 127.0.0.1:4318 and 127.0.0.1:9464 only."""
    command = [sys.executable, "-m", "otlp_bridge"]
    checked = subprocess.run(
        [*command, "--check-config"], check=True, capture_output=True, text=True, env=clean_env(), timeout=60
    )
    effective = json.loads(checked.stdout)
    assert (effective["otlp_listen"], effective["metrics_listen"]) == ("127.0.0.1:4318", "127.0.0.1:9464")
    if not (_port_free(4318) and _port_free(9464)):
        missing("the default ports 4318 and 9464 are taken on this machine: stop what listens there")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    try:
        async with aiohttp.ClientSession() as session:
            async with asyncio.timeout(15):
                while True:
                    assert process.poll() is None, "the bridge exited while starting"
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get("http://127.0.0.1:9464/readyz") as response:
                            if response.status == 200:
                                break
                    await asyncio.sleep(0.05)
        listening = sorted(_listening_sockets(process.pid))
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert listening == [("127.0.0.1", 4318), ("127.0.0.1", 9464)], listening


# -- the soak ----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_soak_of_concurrent_senders_and_scrapers_loses_nothing() -> None:
    """A 20 s soak with concurrent senders and scrapers: counters stay monotonic and end exactly as sent."""
    # Cumulative and delta senders on disjoint series plus shared ones, a cumulative sender restarting midway, 503s
    # retried; see tests/soak/soak.py. OTLP_SOAK_SECONDS makes it longer.
    report = asyncio.run(soak.run(seconds=float(os.environ.get("OTLP_SOAK_SECONDS", "20"))))
    print("\n" + report.summary())
    assert not report.violations, "\n".join(report.violations[:20])
    assert report.restarts == 1
    assert report.requests > 200
    assert report.scrapes > 20
    assert report.points_checked > 100
    assert report.monotonic_checks > 1000
