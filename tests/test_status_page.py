"""The status page (``GET /`` on the scrape listener): the idle setup hint, what a real OpenClaw capture and refused
requests look like there, escaping of everything a sender supplies, and the page as a real browser renders it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import statistics
import struct
import zlib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2

from otlp_bridge.config import Config
from otlp_bridge.expose import statuspage
from otlp_bridge.expose.selfmetrics import MAX_SOURCES
from otlp_bridge.expose.status import OVERFLOW, Arrival, StatusBook
from otlp_bridge.receive.codec import Encoding, Signal
from otlp_bridge.server import Bridge, running
from otlp_bridge.store import Store
from otlp_bridge.translate.mapping import METRIC_SPECS, family_names
from otlp_bridge.translate.result import IngestResult
from otlp_bridge.translate.senders import SenderKey
from tests.conftest import CAPTURES, require_fixtures, require_tool
from tests.support import (
    LOOPBACK_ANY_PORT,
    CapturedRequest,
    RunningBridge,
    captured_requests,
    metrics_request,
    sum_metric,
)

FOLDER = CAPTURES / "03a-main-part1-cumulative"
PROTOBUF = {"Content-Type": "application/x-protobuf"}
TOKEN = {"x-collector-token": "right"}
WINDOW = (1200, 1500)
FROM_A = Arrival(Encoding.PROTOBUF, False, "10.0.0.1")


class Clock:
    """The bridge's clock, moved by the test (the captures' own times, so intervals and ages are the real ones)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def bridge_on(clock: Clock, **options: Any) -> AsyncIterator[RunningBridge]:
    options.setdefault("otlp_listen", LOOPBACK_ANY_PORT)
    options.setdefault("metrics_listen", LOOPBACK_ANY_PORT)
    bridge = Bridge(Config(**options), clock=clock)
    async with running(bridge) as (otlp_port, metrics_port):
        yield RunningBridge(bridge, f"http://127.0.0.1:{otlp_port}", f"http://127.0.0.1:{metrics_port}")


class Page(HTMLParser):
    """The page as a reader sees it: each section's table rows (cell texts), its ``<pre>`` blocks, all its text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.section = ""
        self.rows: dict[str, list[list[str]]] = {}
        self.pre: list[str] = []
        self.text: list[str] = []
        self.classes: dict[str, list[str]] = {}  # cell text → its classes
        self._cell: list[str] | None = None
        self._cell_class = ""
        self._in_pre = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self.section = dict(attrs).get("id") or ""
        elif tag == "tr":
            self.rows.setdefault(self.section, []).append([])
        elif tag in {"td", "th"}:
            self._cell, self._cell_class = [], dict(attrs).get("class") or ""
        elif tag == "pre":
            self._in_pre = True
            self.pre.append("")
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            text = " ".join("".join(self._cell).split())
            self.rows[self.section][-1].append(text)
            self.classes.setdefault(text, []).append(self._cell_class)
            self._cell = None
        elif tag == "pre":
            self._in_pre = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._in_pre:
            self.pre[-1] += data

    def table(self, section: str) -> list[dict[str, str]]:
        header, *rows = self.rows.get(section, [[]])
        return [dict(zip(header, row, strict=True)) for row in rows]

    @property
    def all_text(self) -> str:
        return " ".join("".join(self.text).split())


async def get_page(client: aiohttp.ClientSession, bridge: RunningBridge, **headers: str) -> tuple[str, Page]:
    async with client.get(f"{bridge.metrics_url}/", headers=headers) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        html = await response.text()
    return html, Page(html)


async def replay(
    client: aiohttp.ClientSession, bridge: RunningBridge, clock: Clock, requests: list[CapturedRequest]
) -> None:
    for request in requests:
        clock.now = request.time
        headers = {k: v for k, v in request.headers.items() if k in {"Content-Type", "Content-Encoding"}}
        async with client.post(f"{bridge.otlp_url}/v1/{request.signal}", data=request.body, headers=headers) as answer:
            assert answer.status == 200, request.path


async def post_from(peer: str, url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST from a given loopback address (127.0.0.0/8 is all loopback on Linux), so the page can name the peer."""
    connector = aiohttp.TCPConnector(local_addr=(peer, 0))
    async with aiohttp.ClientSession(connector=connector) as client, client.post(url, data=body, headers=headers) as r:
        return r.status


# -- the idle page ----------------------------------------------------------------------------------------------
async def test_idle_page_says_what_to_put_in_openclaw_json(tmp_path: Path) -> None:
    token_file = tmp_path / "ingest-token"
    token_file.write_text("idle-page-secret\n")
    clock = Clock(1_800_000_000.0)
    options = {"ingest_token_file": token_file, "ingest_token_header": "x-collector-token"}
    async with bridge_on(clock, **options) as bridge, aiohttp.ClientSession() as client:
        html, page = await get_page(client, bridge)
    assert "Nothing received yet" in page.all_text
    (fragment,) = page.pre
    document = json.loads(fragment)
    otel = document["diagnostics"]["otel"]
    assert otel["endpoint"] == bridge.otlp_url  # the actual listen address, the ephemeral port included
    assert otel["protocol"] == "http/protobuf"
    assert otel["headers"] == {"x-collector-token": f"<the token in {token_file}>"}
    # a plugins.allow pasted into a file without one would turn off every other plugin (OpenClaw 2026.4.29's
    # "not-in-allowlist"): only the entry, and a note for a file that has an allow list
    assert document["plugins"] == {"entries": {"diagnostics-otel": {"enabled": True}}}
    assert 'already has a plugins.allow list, add "diagnostics-otel" to it' in page.all_text
    assert "metricNamePrefix" not in html  # OpenClaw 2026.4.29's strict config refuses the key
    assert "http server listening (… plugins: …, diagnostics-otel, …)" in page.all_text  # its log line at start
    assert "idle-page-secret" not in html  # a placeholder names the file, never its content
    assert "Empty until the first event" in page.all_text
    assert page.table("senders") == [] and page.table("refused") == []


@pytest.mark.parametrize(
    ("listen", "browser_host", "endpoint"),
    [
        ("127.0.0.1", "bridge.example", "http://127.0.0.1:4318"),
        ("10.0.0.7", None, "http://10.0.0.7:4318"),
        ("0.0.0.0", "bridge.example", "http://bridge.example:4318"),  # every interface: the name the browser used
        ("", "10.1.2.3", "http://10.1.2.3:4318"),
        ("::", "fd00::5", "http://[fd00::5]:4318"),
        ("0.0.0.0", None, "http://<this machine's address>:4318"),
    ],
)
def test_setup_endpoint(listen: str, browser_host: str | None, endpoint: str) -> None:
    config = Config()
    config = Config(otlp_listen=config.otlp_listen._replace(host=listen))
    assert statuspage.otlp_endpoint(config, f"http://{listen}:4318", browser_host) == endpoint


@pytest.mark.parametrize(
    ("header", "value"),
    [("Authorization", "Bearer <the token in /run/t>"), ("x-collector-token", "<the token in /run/t>")],
)
def test_setup_fragment_headers(header: str, value: str) -> None:
    config = Config(ingest_token_file=Path("/run/t"), ingest_token_header=header, metric_name_prefix="acme.")
    otel = json.loads(statuspage.openclaw_fragment(config, "http://x:4318"))["diagnostics"]["otel"]
    assert otel["headers"] == {header: value}
    assert otel["metricNamePrefix"] == "acme."
    assert "2026.4.29 refuses to start" in Page(_render(StatusBook(), config)).all_text


# -- the page after a real capture and two refusals --------------------------------------------------------------
async def fed_page(clock: Clock, client: aiohttp.ClientSession, bridge: RunningBridge) -> tuple[str, Page]:
    """The captured OpenClaw session, a request with a wrong token from 127.0.0.2 and one with the right token but a
    wrong content type from 127.0.0.3; the page 2.5 s after the capture's last request (OpenClaw exported every
    second). ``bridge`` wants ``TOKEN``."""
    requests = captured_requests(require_fixtures() / FOLDER.name)
    await replay(client, bridge, clock, requests)
    body = requests[0].body
    url = f"{bridge.otlp_url}/v1/metrics"
    clock.now += 0.5
    assert await post_from("127.0.0.2", url, body, {**PROTOBUF, "x-collector-token": "wrong"}) == 403
    clock.now += 1
    assert await post_from("127.0.0.3", url, body, {"Content-Type": "text/plain", **TOKEN}) == 415
    clock.now += 1
    return await get_page(client, bridge)


async def test_page_names_the_sender_its_families_and_the_refusals(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("right")
    clock = Clock(captured_requests(FOLDER)[0].time - 30)
    async with (
        bridge_on(clock, ingest_token_file=token_file, ingest_token_header="x-collector-token") as bridge,
        aiohttp.ClientSession(headers=TOKEN) as client,
    ):
        _, page = await fed_page(clock, client, bridge)
    assert "Nothing received yet" not in page.all_text and page.pre == []  # the setup hint is for an idle bridge
    (sender,) = page.table("senders")  # log records (service.name only) count for the same gateway
    assert (sender["service.name"], sender["host.name"]) == ("openclaw-gateway", "vm")
    assert [part.split()[0] for part in sender["signals (last export)"].split(" ago")[:-1]] == [
        "logs",
        "metrics",
        "traces",
    ]
    assert sender["last export"] == "2 s ago"  # not late: within three of its 1 s intervals
    assert sender["temporality"] == "cumulative" and sender["encoding"] == "protobuf, identity"
    assert int(sender["exports"]) == len(captured_requests(FOLDER))
    assert int(sender["points accepted"]) > 0 and sender["points rejected"] == "0"
    families = {row["family"]: row for row in page.table("families")}
    assert families["openclaw_run_completed_total"]["exactness"] == "PARTIAL"
    assert families["openclaw_model_call_total"]["exactness"] == "EXACT"
    assert families["openclaw_model_provider_failures_total"]["exactness"] == "LOG"
    assert families["openclaw_run_duration_seconds"]["type"] == "histogram"
    assert int(families["openclaw_telemetry_exporter_total"]["series"]) >= 1
    refusals = {row["cause"]: row for row in page.table("refused")}
    assert set(refusals) == {"forbidden", "unsupported_media_type"}
    forbidden, media = refusals["forbidden"], refusals["unsupported_media_type"]
    assert (forbidden["status"], forbidden["from"], forbidden["last"]) == ("403", "127.0.0.2", "2 s ago")
    assert (media["status"], media["from"], media["last"]) == ("415", "127.0.0.3", "1 s ago")
    assert forbidden["what to check"].startswith("wrong token: the value of x-collector-token differs")
    assert "415 from 127.0.0.3, 1 s ago" in page.all_text  # the newest refusal, in the banner


async def test_caps_rejections_gzip_and_delta_show() -> None:
    """The delta, gzip capture under small caps: the sender's rejected points by reason, its temporality and
    compression, the families at their cap or refused entirely, and the drops by cap."""
    requests = captured_requests(require_fixtures() / "04-variant-delta-gzip")
    clock = Clock(requests[0].time)
    async with bridge_on(clock, max_series=20, max_series_per_family=3) as bridge, aiohttp.ClientSession() as client:
        await replay(client, bridge, clock, requests)
        _, page = await get_page(client, bridge)
        store = bridge.bridge.store
    (sender,) = page.table("senders")
    assert (sender["temporality"], sender["encoding"]) == ("delta", "protobuf, gzip")
    rejected, *reasons = sender["points rejected"].split(" ")
    assert int(rejected) > 0 and {reason.rstrip(":") for reason in reasons[::2]} == {"family_cap", "series_cap"}
    families = page.table("families")
    assert sum(int(row["series"].split()[0]) for row in families) == store.live_series == 20
    assert {row["series"] for row in families} >= {"3 (at the cap)", "0 (not exposed: refused at a cap)"}
    drops = f"series_cap {store.dropped_by_reason['series_cap']} family_cap {store.dropped_by_reason['family_cap']}"
    assert f"{store.dropped_observations} observation(s) dropped at the caps: {drops}." in page.all_text


async def test_a_silent_sender_turns_red_after_three_intervals_and_90_s() -> None:
    """The capture exported every second. A live OpenClaw 2026.4.29 gateway (flushIntervalMs 1000) went 35 s
    without an export while busy with an agent run, and this page called it late; now a sender is late after three
    of its intervals and at least 90 s."""
    requests = captured_requests(FOLDER, "metrics")[:6]
    clock = Clock(requests[0].time)
    async with bridge_on(clock) as bridge, aiohttp.ClientSession() as client:
        await replay(client, bridge, clock, requests)
        last = clock.now
        pages = {}
        for silence in (35.0, statuspage.LATE_AFTER_SECONDS - 1, statuspage.LATE_AFTER_SECONDS + 1):
            clock.now = last + silence
            pages[silence] = (await get_page(client, bridge))[1]
    interval = statistics.median(b.time - a.time for a, b in itertools.pairwise(requests))  # OpenClaw's 1 s
    (row,) = pages[35.0].table("senders")
    assert (row["last export"], row["interval"]) == ("35 s ago", f"{interval:.2g} s")
    for silence, page in pages.items():
        (row,) = page.table("senders")
        late = silence > statuspage.LATE_AFTER_SECONDS
        assert row["last export"].endswith("(late)") is late
        assert ("red" in page.classes[row["last export"]][0]) is late
        assert ("No sender has exported" in page.all_text) is late
        assert ("Receiving" in page.all_text) is not late


@pytest.mark.parametrize(
    ("gaps", "silence", "late", "interval"),
    [
        ((60.0, 0.03, 60.0, 95.0), 170.0, False, "60 s"),  # three of its 60 s intervals: 180 s
        ((60.0, 0.03, 60.0, 95.0), 190.0, True, "60 s"),
        ((1.0, 0.03, 1.0, 1.0), 85.0, False, "1 s"),  # a 1 s interval, but not late before 90 s
        ((1.0, 30.0, 30.0, 31.0), 85.0, False, "30 s"),  # delta, idle: only the memory sample every 30 s
        ((1.0, 30.0, 30.0, 31.0), 95.0, True, "30 s"),
        ((0.5, 0.5, 0.5), 10.0, False, "0.5 s"),
        ((120.0, 120.0, 119.6), 350.0, False, "120 s"),  # not 1.2e+02 s
        ((300.0, 300.0), 1000.0, True, "300 s"),
    ],
)
def test_late_after_three_intervals_and_90_s(
    gaps: tuple[float, ...], silence: float, late: bool, interval: str
) -> None:
    book, now = StatusBook(), 1000.0
    for gap in (0.0, *gaps):
        now += gap
        book.exported("metrics", _metrics_from("gw", "h"), IngestResult(), FROM_A, now)
    (row,) = Page(_render(book, now=now + silence)).table("senders")
    assert row["interval"] == interval
    assert row["last export"].endswith("(late)") is late


async def test_head_sends_the_headers_only_and_the_connection_stays_usable() -> None:
    """``HEAD /`` used to send the whole page after its headers, so the next response on that keep-alive connection
    began with ``<!DOCTYPE html>``."""
    clock = Clock(1_800_000_000.0)
    async with bridge_on(clock) as bridge:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(bridge.metrics_url.rpartition(":")[2]))
        writer.write(b"HEAD / HTTP/1.1\r\nHost: bridge\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: bridge\r\nConnection: close\r\n\r\n")
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert head.startswith(b"HTTP/1.1 200") and b"text/html" in head
    assert b"Content-Security-Policy: default-src 'none'" in head
    assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"\r\n\r\nok\n"), rest[:80]


async def test_scrape_token_guards_the_page_and_its_refusals_show(tmp_path: Path) -> None:
    token = tmp_path / "scrape-token"
    token.write_text("scrape-token-1")
    clock = Clock(1_800_000_000.0)
    async with bridge_on(clock, scrape_token_file=token) as bridge, aiohttp.ClientSession() as client:
        async with client.get(f"{bridge.metrics_url}/") as response:
            assert response.status == 401
            assert "openclaw" not in await response.text()
        async with client.get(f"{bridge.metrics_url}/", headers={"Authorization": "Bearer nope"}) as response:
            assert response.status == 403
        _, page = await get_page(client, bridge, Authorization="Bearer scrape-token-1")
    refusals = {row["cause"]: row for row in page.table("refused")}
    assert {(row["listener"], row["status"], row["signal / path"]) for row in refusals.values()} == {
        ("scrape", "401", "/"),
        ("scrape", "403", "/"),
    }


async def test_ingest_is_answered_while_the_page_is_written() -> None:
    """A store of 5000 families (the page lists 500): an OTLP request sent once the page's headers are out is answered
    before the page is complete, because the page is written in pieces with the scrape's slices between them (it
    used to be rendered in one piece, holding every request back for the whole page)."""
    families = 10 * statuspage.MAX_FAMILY_ROWS
    request = metrics_request(*(sum_metric(f"load.family{n:05d}", [({}, 1.0)]) for n in range(families)))
    probe = metrics_request(sum_metric("probe", [({}, 1.0)])).SerializeToString()
    clock = Clock(1_800_000_000.0)
    async with bridge_on(clock, max_series=families + 10) as bridge, aiohttp.ClientSession() as client:
        assert bridge.bridge.receiver.ingest(Signal.METRICS, request, clock.now).accepted == families
        events: list[str] = []

        async def send_probe() -> None:
            async with client.post(f"{bridge.otlp_url}/v1/metrics", data=probe, headers=PROTOBUF) as answer:
                assert answer.status == 200
            events.append("ingest answered")

        async with client.get(f"{bridge.metrics_url}/") as response:
            sent = asyncio.create_task(send_probe())
            page = Page(await response.text())
            events.append("page complete")
        await sent
    assert events == ["ingest answered", "page complete"]
    assert len(page.table("families")) == statuspage.MAX_FAMILY_ROWS
    left = families - statuspage.MAX_FAMILY_ROWS  # one more if the probe came before the page counted them
    assert f"and {left} more" in page.all_text or f"and {left + 1} more" in page.all_text


# -- escaping -----------------------------------------------------------------------------------------------------
HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(2)>', "a&b<i>c</i>")


def hostile_metrics() -> bytes:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    for key, value in zip(("service.name", "host.name", "service.instance.id"), HOSTILE, strict=True):
        resource.resource.attributes.add(key=key, value=common_pb2.AnyValue(string_value=value))
    metric = resource.scope_metrics.add().metrics.add(name="hostile.<b>counter</b>")
    point = metric.sum.data_points.add(as_int=1, time_unix_nano=1)
    point.attributes.add(key="k", value=common_pb2.AnyValue(string_value="<script>x</script>"))
    metric.sum.is_monotonic = True
    metric.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
    return request.SerializeToString()


async def test_sender_values_show_as_text_never_as_markup() -> None:
    clock = Clock(1_800_000_000.0)
    async with bridge_on(clock) as bridge, aiohttp.ClientSession() as client:
        async with client.post(f"{bridge.otlp_url}/v1/metrics", data=hostile_metrics(), headers=PROTOBUF) as answer:
            assert answer.status == 200
        html, page = await get_page(client, bridge)
    (sender,) = page.table("senders")
    assert (sender["service.name"], sender["host.name"], sender["service.instance.id"]) == HOSTILE
    for raw in ("<script", "<img", "<i>", "<b>"):
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def _render(book: StatusBook, config: Config | None = None, browser_host: str | None = None, now: float = 12.0) -> str:
    return "".join(
        statuspage.render_parts(
            config or Config(),
            Store(10, 10, 600),
            book,
            listeners=statuspage.Listeners("http://0.0.0.0:4318", "http://0.0.0.0:9464"),
            started=0.0,
            now=now,
            ready=True,
            streams=0,
            browser_host=browser_host,
        )
    )


class Tags(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=200))
def test_any_service_name_is_text_on_the_page(name: str) -> None:
    """Whatever a sender puts in ``service.name``, the page shows it as that text and gains no element."""
    book, plain = StatusBook(), StatusBook()
    book.exported("metrics", _metrics_from(name, "h"), IngestResult(), FROM_A, 10.0)
    plain.exported("metrics", _metrics_from("x", "h"), IngestResult(), FROM_A, 10.0)
    html = _render(book)
    (sender,) = Page(html).table("senders")
    assert sender["service.name"] == " ".join((name or "unknown").split())
    assert Tags(html).tags == Tags(_render(plain)).tags


def test_render_escapes_the_browser_host_and_refusal_fields() -> None:
    """Host header, peer and message reach the page only through the template's autoescape."""
    config = Config(otlp_listen=Config().otlp_listen._replace(host="0.0.0.0"))
    book = StatusBook()
    book.refused("otlp", "forbidden", 403, "<b>peer</b>", "<i>metrics</i>", "<script>m</script>", 10.0)
    html = _render(book, config, browser_host='"><script>h</script>')
    assert "<script" not in html and "<b>" not in html and "<i>" not in html
    page = Page(html)
    assert json.loads(page.pre[0])["diagnostics"]["otel"]["endpoint"] == 'http://"><script>h</script>:4318'
    (row,) = page.table("refused")
    assert (row["from"], row["signal / path"], row["last"]) == ("<b>peer</b>", "<i>metrics</i>", "2 s ago")


# -- the bookkeeping ----------------------------------------------------------------------------------------------
def _logs_from(service: str) -> logs_service_pb2.ExportLogsServiceRequest:
    request = logs_service_pb2.ExportLogsServiceRequest()
    resource = request.resource_logs.add().resource
    resource.attributes.add(key="service.name", value=common_pb2.AnyValue(string_value=service))
    return request


def _metrics_from(service: str, host: str) -> metrics_service_pb2.ExportMetricsServiceRequest:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    resource = request.resource_metrics.add()
    for key, value in (("service.name", service), ("host.name", host)):
        resource.resource.attributes.add(key=key, value=common_pb2.AnyValue(string_value=value))
    metric = resource.scope_metrics.add().metrics.add(name="m")
    metric.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
    return request


def test_senders_are_capped_and_expire() -> None:
    book = StatusBook()
    result = IngestResult(accepted=3)
    for number in range(MAX_SOURCES + 5):
        book.exported(
            "metrics", _metrics_from(f"gw-{number}", "h"), result, FROM_A._replace(gzipped=True), float(number)
        )
    assert len(book.senders) == MAX_SOURCES + 1
    assert book.senders[OVERFLOW].exports == 5 and book.senders[OVERFLOW].temporality == {"delta"}
    book.expire(cutoff=100.0)
    assert len(book.senders) == MAX_SOURCES + 1 - 100


def test_silent_senders_are_forgotten_by_the_bridges_expiry_not_by_the_page() -> None:
    """README: senders are "forgotten after --series-ttl". They were forgotten only when someone opened the page, so
    a fleet's restarted gateways filled the 256 rows and a live gateway was booked as ``other``."""
    clock = Clock(1000.0)
    bridge = Bridge(Config(series_ttl=600), clock=clock)
    for number in range(MAX_SOURCES):
        bridge.status.exported("metrics", _metrics_from(f"gw-{number}", "h"), IngestResult(), FROM_A, clock.now)
    clock.now += 601
    _render(bridge.status, now=clock.now)
    assert len(bridge.status.senders) == MAX_SOURCES  # rendering only reads
    bridge.expire()
    bridge.status.exported("metrics", _metrics_from("gw-new", "h"), IngestResult(), FROM_A, clock.now)
    assert set(bridge.status.senders) == {SenderKey("gw-new", "h", "")}


@pytest.mark.parametrize(
    ("senders", "logs_from", "logs_land_on"),
    [
        ([("gw", "a", "10.0.0.1")], "10.0.0.1", SenderKey("gw", "a", "")),  # its logs count for it
        ([("gw", "a", "10.0.0.1"), ("gw", "b", "10.0.0.2")], "10.0.0.2", SenderKey("gw", "b", "")),  # by address
        ([("gw", "a", "10.0.0.1"), ("gw", "b", "10.0.0.1")], "10.0.0.1", None),  # one address: not told apart
        ([("gw", "a", "10.0.0.1")], "10.0.0.9", None),  # another machine's, whose metrics have not come yet
        ([("other", "a", "10.0.0.1")], "10.0.0.1", SenderKey("gw", "", "")),  # no sender of that name yet
    ],
)
def test_log_records_join_the_sender_of_their_service_at_their_address(
    senders: list[tuple[str, str, str]], logs_from: str, logs_land_on: SenderKey | None
) -> None:
    book = StatusBook()
    for service, host, peer in senders:
        book.exported("metrics", _metrics_from(service, host), IngestResult(), FROM_A._replace(peer=peer), 1.0)
    json_logs = Arrival(Encoding.JSON, False, logs_from)
    book.exported("logs", _logs_from("gw"), IngestResult(accepted=2), json_logs, 2.0)
    if logs_land_on is None:
        assert len(book.senders) == len(senders) and book.unattributed == {"gw": 1}
        assert "Log exports not told apart" in Page(_render(book)).all_text
    else:
        assert book.senders[logs_land_on].last["logs"] == 2.0 and not book.unattributed
        assert (Encoding.JSON, False) in book.senders[logs_land_on].encodings


@pytest.mark.parametrize(("peer_a", "peer_b"), [("10.0.0.1", "10.0.0.2"), ("127.0.0.1", "127.0.0.1")])
def test_a_fleet_sharing_the_default_service_name_is_one_row_per_gateway(peer_a: str, peer_b: str) -> None:
    """Every OpenClaw gateway is ``openclaw`` by default and its log records carry only that: two gateways made three
    rows (a phantom ``(openclaw, '', '')`` took every later log export) and gw-b's first logs counted for gw-a."""
    book = StatusBook()
    a, b = FROM_A._replace(peer=peer_a), FROM_A._replace(peer=peer_b)
    book.exported("logs", _logs_from("openclaw"), IngestResult(), a, 1.0)
    book.exported("metrics", _metrics_from("openclaw", "gw-a"), IngestResult(), a, 2.0)
    book.exported("logs", _logs_from("openclaw"), IngestResult(), b, 3.0)
    book.exported("metrics", _metrics_from("openclaw", "gw-b"), IngestResult(), b, 4.0)
    for arrival in (a, b, a):
        book.exported("logs", _logs_from("openclaw"), IngestResult(), arrival, 5.0)
    assert set(book.senders) == {SenderKey("openclaw", "gw-a", ""), SenderKey("openclaw", "gw-b", "")}
    exports = {key.host: sender.exports for key, sender in book.senders.items()}
    told_apart = peer_a != peer_b
    # from one address, gw-b's first logs (before its metrics) count for the one sender there yet
    assert exports == ({"gw-a": 4, "gw-b": 2} if told_apart else {"gw-a": 3, "gw-b": 1})
    assert sum(exports.values()) + book.unattributed["openclaw"] == book.exports == 7
    assert "Receiving: 2 sender(s)" in Page(_render(book, now=6.0)).all_text


@pytest.mark.parametrize(
    ("hosts", "senders"),
    [
        (["a"], {("gw", "a", "")}),  # the gateway's metrics name its host: its logs' row becomes its row
        (["a", "b"], {("gw", "a", ""), ("gw", "b", "")}),
    ],
)
def test_log_records_that_came_first_join_their_gateway(hosts: list[str], senders: set[tuple[str, str, str]]) -> None:
    """A live OpenClaw 2026.4.29 gateway sent its first log records before its first metrics, and the page showed
    it twice: once with the service name only (the logs), once with its host."""
    book = StatusBook()
    book.exported("logs", _logs_from("gw"), IngestResult(accepted=2), FROM_A, 1.0)
    for host in hosts:
        book.exported("metrics", _metrics_from("gw", host), IngestResult(accepted=5), FROM_A, 2.0)
    assert set(book.senders) == senders
    first = book.senders[SenderKey("gw", hosts[0], "")]
    assert (first.last, first.exports, first.accepted) == ({"logs": 1.0, "metrics": 2.0}, 2, 7)


def test_refusals_keep_count_and_the_last_peer_per_cause() -> None:
    book = StatusBook()
    book.refused("otlp", "forbidden", 403, "10.1.2.3", "metrics", "invalid credentials", 1.0)
    book.refused("otlp", "forbidden", 403, "10.1.2.4", "logs", "invalid credentials", 5.0)
    book.refused("otlp", "too_large", 413, None, "traces", "x" * 1000, 6.0)
    forbidden = book.refusals["otlp", "forbidden"]
    assert (forbidden.count, forbidden.peer, forbidden.where, forbidden.at) == (2, "10.1.2.4", "logs", 5.0)
    too_large = book.refusals["otlp", "too_large"]
    assert too_large.peer == "unknown" and len(too_large.message) == 200


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0 s ago"), (12.7, "12 s ago"), (60, "1 min ago"), (7300, "2 h ago"), (-1, "0 s ago")]
)
def test_ago(seconds: float, text: str) -> None:
    assert statuspage.ago(seconds) == text


def test_every_mapped_family_has_its_exactness() -> None:
    for spans_complete in (False, True):
        table = statuspage.exactness(spans_complete)
        assert {spec.name for spec in METRIC_SPECS} <= table.keys() <= family_names()
    assert statuspage.exactness(False)["openclaw_run_completed_total"] == "PARTIAL"
    assert statuspage.exactness(True)["openclaw_run_completed_total"] == "SPAN"


# -- a real browser -----------------------------------------------------------------------------------------------
def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB rows of an 8-bit RGB PNG (what headless Chromium writes), with zlib and the five PNG
    filters."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat = 8, b""
    width = height = 0
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        chunk = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert (depth, color) in {(8, 2), (8, 6)}, (depth, color)
            pixel = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
    raw = zlib.decompress(idat)
    stride = width * pixel
    rows: list[bytes] = []
    prior = bytes(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(pixel, stride):
                line[i] = (line[i] + line[i - pixel]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prior, strict=True))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - pixel] if i >= pixel else 0) + prior[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a = line[i - pixel] if i >= pixel else 0
                b, c = prior[i], prior[i - pixel] if i >= pixel else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prior = bytes(line)
        rows.append(prior if pixel == 3 else bytes(v for i, v in enumerate(prior) if i % 4 != 3))
    return width, height, rows


def colours(rows: list[bytes]) -> dict[tuple[int, int, int], int]:
    counts: dict[tuple[int, int, int], int] = {}
    for row in rows:
        for i in range(0, len(row), 3):
            rgb = (row[i], row[i + 1], row[i + 2])
            counts[rgb] = counts.get(rgb, 0) + 1
    return counts


@pytest.mark.slow
async def test_a_real_browser_renders_the_page(tmp_path: Path) -> None:
    """Headless Chromium fetches the page from the running bridge (with its real headers) and takes a screenshot:
    it has text on it, and the receiving (green) and refused (red) banners are painted. The README's
    ``docs/status-page.png`` was taken the same way, of a bridge fed by a live OpenClaw 2026.4.29 gateway."""
    chromium = require_tool("chromium")
    token_file = tmp_path / "token"
    token_file.write_text("right")
    clock = Clock(captured_requests(FOLDER)[0].time - 30)
    shot = tmp_path / "status.png"
    async with (
        bridge_on(clock, ingest_token_file=token_file, ingest_token_header="x-collector-token") as bridge,
        aiohttp.ClientSession(headers=TOKEN) as client,
    ):
        await fed_page(clock, client, bridge)
        process = await asyncio.create_subprocess_exec(
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            f"--screenshot={shot}",
            f"{bridge.metrics_url}/",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, errors = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, errors.decode(errors="replace")[-2000:]
    width, height, rows = png_pixels(shot.read_bytes())
    assert (width, height) == WINDOW
    counts = colours(rows)
    white = counts.get((255, 255, 255), 0)
    assert white < 0.97 * width * height, "the screenshot is (nearly) blank"
    assert counts.get((0xE3, 0xF4, 0xE8), 0) > 2000, "no green 'Receiving' banner"
    assert counts.get((0xFD, 0xE4, 0xE4), 0) > 2000, "no red 'refused' banner"
