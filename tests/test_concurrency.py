"""A large scrape yields to the event loop: OTLP requests are acknowledged while it renders."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import otlp_bridge.expose.exposition
import otlp_bridge.server
from otlp_bridge.expose.exposition import Format, Part, cached_parts
from otlp_bridge.server import Bridge
from otlp_bridge.store import FamilyInfo, Kind, Series, Store
from tests.support import DELTA, in_process_bridge, metrics_request, sum_metric

SERIES = 60_000


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
async def test_requests_are_handled_while_a_large_scrape_renders(
    monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """Requests that arrive once a cold render of 60k series has begun are translated before that render ends."""
    events: list[str] = []
    rendering = asyncio.Event()

    def observed_render(store: Store, fmt: Format) -> Iterator[Part]:
        for part in cached_parts(store, fmt):
            rendering.set()
            yield part
        events.append("render done")

    monkeypatch.setattr(otlp_bridge.expose.exposition, "cached_parts", observed_render)  # gzip or not
    async with in_process_bridge(max_series=SERIES + 100, max_series_per_family=SERIES + 100) as running:
        store = running.bridge.store
        family = store.family(FamilyInfo("openclaw_load_test_total", Kind.COUNTER, "Load."))
        assert family is not None
        for n in range(SERIES):
            assert isinstance(store.series(family, (("lane", f"l{n}"), ("tool", "exec")), 0.0, 0.0), Series)
        ingest = running.bridge.receiver.ingest

        def observed_ingest(*args: Any) -> Any:
            events.append("ingest")
            return ingest(*args)

        monkeypatch.setattr(running.bridge.receiver, "ingest", observed_ingest)
        body = metrics_request(sum_metric("openclaw.tokens", [({"openclaw.token": "input"}, 1.0)])).SerializeToString()
        async with aiohttp.ClientSession() as session:

            async def scrape() -> str:
                headers = {"Accept-Encoding": encoding}
                async with session.get(running.metrics_url + "/metrics", headers=headers) as response:
                    return await response.text()

            async def post() -> int:
                async with session.post(
                    running.otlp_url + "/v1/metrics", data=body, headers={"Content-Type": "application/x-protobuf"}
                ) as response:
                    return response.status

            scraping = asyncio.create_task(scrape())
            await asyncio.wait_for(rendering.wait(), 30)
            statuses = await asyncio.gather(post(), post())
            page = await scraping
    assert list(statuses) == [200, 200]
    assert page.count("openclaw_load_test_total{") == SERIES
    assert events.index("ingest") < events.index("render done"), events


async def test_idle_series_expire_on_a_timer_without_scrapes() -> None:
    """Series not updated for --series-ttl disappear by themselves; nobody has to scrape for that."""
    async with in_process_bridge(series_ttl=1.0) as running:
        body = metrics_request(sum_metric("openclaw.tokens", [({"openclaw.token": "input"}, 1.0)])).SerializeToString()
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                running.otlp_url + "/v1/metrics", data=body, headers={"Content-Type": "application/x-protobuf"}
            ) as response,
        ):
            assert response.status == 200
        assert running.bridge.store.live_series == 1
        for _ in range(60):
            if running.bridge.store.live_series == 0:
                break
            await asyncio.sleep(0.1)
        assert running.bridge.store.live_series == 0
        assert running.bridge.store.expired_total == 1


@pytest.mark.parametrize("encoding", ["gzip", "identity"])
async def test_a_request_arriving_during_a_render_slice_starts_before_the_next_slice(
    monkeypatch: pytest.MonkeyPatch, encoding: str
) -> None:
    """A request whose bytes arrive while a scrape renders is parsed and its handler started at the end of that slice:
    the render goes on only once it is in flight (and then waits for it). With one part per slice, at most the part
    in progress when the bytes arrived may be rendered in between (a bare yield would let three more through)."""
    events: list[str] = []
    rendering = asyncio.Event()

    def observed_render(store: Store, fmt: Format) -> Iterator[Part]:
        for part in cached_parts(store, fmt):
            events.append("part")
            rendering.set()
            yield part

    monkeypatch.setattr(otlp_bridge.expose.exposition, "cached_parts", observed_render)
    monkeypatch.setattr(otlp_bridge.server, "RENDER_SLICE_SECONDS", 0.0)  # every part ends a slice
    async with in_process_bridge(max_series=SERIES + 100, max_series_per_family=SERIES + 100) as running:
        store = running.bridge.store
        family = store.family(FamilyInfo("openclaw_load_test_total", Kind.COUNTER, "Load."))
        assert family is not None
        for n in range(SERIES):
            assert isinstance(store.series(family, (("lane", f"l{n}"),), 0.0, 0.0), Series)
        _record_handler_starts(monkeypatch, running.bridge, events)
        body = metrics_request(sum_metric("openclaw.tokens", [({"openclaw.token": "input"}, 1.0)])).SerializeToString()
        port = int(running.otlp_url.rsplit(":", 1)[1])
        request = (
            f"POST /v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-protobuf\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        async with aiohttp.ClientSession() as session:
            headers = {"Accept-Encoding": encoding}
            scraping = asyncio.create_task(session.get(running.metrics_url + "/metrics", headers=headers))
            await asyncio.wait_for(rendering.wait(), 30)
            writer.write(request)  # an empty transport sends at once: in the kernel's buffers before the loop runs on
            events.append("sent")
            status_line = await reader.readline()
            writer.close()
            async with await scraping as response:
                await response.read()
    assert status_line.startswith(b"HTTP/1.1 200"), status_line
    between = events[events.index("sent") + 1 : events.index("handler")]
    assert events[-1] == "part", "the render went on after the handler started"
    assert len(between) <= 1, f"{len(between)} render slices between the request's arrival and its handler"


async def test_settling_what_the_fast_path_kept_back_lets_a_request_in_between(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scrape settles the fast path's kept-back exports one metric at a time, in slices: a request that arrives
    meanwhile is handled before the settling ends, not after it."""
    events: list[str] = []
    settling = asyncio.Event()
    monkeypatch.setattr(otlp_bridge.server, "RENDER_SLICE_SECONDS", 0.0)  # every step ends a slice
    async with in_process_bridge() as running:
        translator = running.bridge.translators.metrics
        settle = translator._settle

        def observed_settle(known: Any) -> None:
            events.append("settle")
            settling.set()
            settle(known)

        monkeypatch.setattr(translator, "_settle", observed_settle)
        _record_handler_starts(monkeypatch, running.bridge, events)

        def export(number: int) -> bytes:
            metrics = [
                sum_metric(f"custom.m{m}", [({"k": "v"}, 1.0)], start=number, time=number + 1, temporality=DELTA)
                for m in range(40)
            ]
            return metrics_request(*metrics).SerializeToString()

        headers = {"Content-Type": "application/x-protobuf"}
        async with aiohttp.ClientSession() as session:
            for number in (1, 2):  # the first export is walked, the second kept back by the fast path
                async with session.post(running.otlp_url + "/v1/metrics", data=export(number), headers=headers) as r:
                    assert r.status == 200
            events.clear()
            scraping = asyncio.create_task(session.get(running.metrics_url + "/metrics"))
            await asyncio.wait_for(settling.wait(), 30)
            posting = asyncio.create_task(
                session.post(running.otlp_url + "/v1/metrics", data=export(3), headers=headers)
            )
            async with await posting as response:
                assert response.status == 200
            async with await scraping as response:
                page = await response.text()
    assert 'custom_m39_total{k="v"} 2\n' in page or 'custom_m39_total{k="v"} 3\n' in page
    assert "handler" in events and events[-1] == "settle", events  # settled before and after the request


def _record_handler_starts(monkeypatch: pytest.MonkeyPatch, bridge: Bridge, events: list[str]) -> None:
    """Append "handler" to ``events`` as each OTLP handler starts (its first step checks the token)."""
    check_auth = bridge.receiver.check_ingest_auth

    def observed_handler_start(request: web.Request) -> None:
        events.append("handler")
        check_auth(request)

    monkeypatch.setattr(bridge.receiver, "check_ingest_auth", observed_handler_start)
