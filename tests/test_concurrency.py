"""A large scrape yields to the event loop: OTLP requests are acknowledged while it renders."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

import otlp_bridge.exposition
from otlp_bridge.exposition import Format, Part, cached_parts
from otlp_bridge.store import FamilyInfo, Kind, Series, Store
from tests.otlp import metrics_request, sum_metric
from tests.support import in_process_bridge

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

    monkeypatch.setattr(otlp_bridge.exposition, "cached_parts", observed_render)  # gzip or not
    async with in_process_bridge(max_series=SERIES + 100, max_series_per_family=SERIES + 100) as running:
        store = running.bridge.store
        family = store.family(FamilyInfo("openclaw_load_test_total", Kind.COUNTER, "Load."))
        assert family is not None
        for n in range(SERIES):
            assert isinstance(store.series(family, (("lane", f"l{n}"), ("tool", "exec")), 0.0, 0.0), Series)
        ingest = running.bridge.ingest

        def observed_ingest(*args: Any) -> Any:
            events.append("ingest")
            return ingest(*args)

        monkeypatch.setattr(running.bridge, "ingest", observed_ingest)
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
