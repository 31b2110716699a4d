"""A real Prometheus (Debian's package, ``--web.enable-remote-write-receiver``) receives what the bridge writes:
after the captured OpenClaw bodies every ``openclaw_*`` sample of the scrape page is found by a query with the same
value; with the receiver stopped while ingest goes on and started again, the values agree again and the
self-metrics account for every retry."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from otlp_bridge.config import QueueConfig, Target
from otlp_bridge.expose.exposition import format_number
from otlp_bridge.remotewrite.collect import DEFAULT_JOB
from tests.conftest import CAPTURES, require_fixtures, require_tool
from tests.support import (
    RunningBridge,
    SampleKey,
    captured_requests,
    free_port,
    in_process_bridge,
    page_samples,
    real_prometheus,
)
from tests.support import wait_until_ready as prometheus_ready

pytestmark = pytest.mark.slow

INSTANCE = "bridge-under-test"
RECEIVER = ["--web.enable-remote-write-receiver"]
DEADLINE_SECONDS = 60.0


async def _feed(client: aiohttp.ClientSession, running: RunningBridge, folder: str) -> None:
    for request in captured_requests(CAPTURES / folder):
        headers = {k: v for k, v in request.headers.items() if k in ("Content-Type", "Content-Encoding")}
        async with client.post(f"{running.otlp_url}/v1/{request.signal}", data=request.body, headers=headers) as got:
            assert got.status == 200


async def _page(client: aiohttp.ClientSession, running: RunningBridge) -> dict[SampleKey, str]:
    async with client.get(running.metrics_url + "/metrics") as response:
        page = page_samples(await response.text())
    return {key: text for key, text in page.items() if dict(key)["__name__"].startswith("openclaw_")}


async def _stored(client: aiohttp.ClientSession, prometheus: str) -> dict[SampleKey, float]:
    query = f'{{__name__=~"openclaw_.+",instance="{INSTANCE}"}}'
    async with client.get(f"{prometheus}/api/v1/query", params={"query": query}) as response:
        document = await response.json()
    assert document["status"] == "success", document
    out = {}
    for item in document["data"]["result"]:
        labels = item["metric"]
        assert labels.pop("job") == DEFAULT_JOB and labels.pop("instance") == INSTANCE
        out[frozenset(labels.items())] = float(item["value"][1])
    return out


async def _assert_page_in_prometheus(client: aiohttp.ClientSession, running: RunningBridge, prometheus: str) -> int:
    page = await _page(client, running)
    stored = await _stored(client, prometheus)
    assert page.keys() == stored.keys()
    for key, text in page.items():
        assert float(format_number(stored[key])) == float(text), dict(key)
    return len(page)


async def _until(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


def _value(registry: CollectorRegistry, name: str, url: str, **labels: str) -> float:
    found = registry.get_sample_value("otlp_bridge_remote_write_" + name, {"url": url, **labels})
    return found or 0.0


async def test_prometheus_holds_every_sample_of_the_page_across_an_outage(tmp_path: Path) -> None:
    binary = require_tool("prometheus")
    require_fixtures()
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/write"
    target = Target(url, timeout=2.0, queue=QueueConfig(min_backoff=0.05, max_backoff=0.5))
    options = {"remote_write_targets": (target,), "remote_write_interval": 3600, "remote_write_instance": INSTANCE}
    async with in_process_bridge(**options) as running, aiohttp.ClientSession() as client:
        registry = running.bridge.metrics.registry  # the remote-write self-metrics are written too
        writer = running.bridge.remote_writer
        assert writer is not None
        (sender,) = writer.senders
        await _feed(client, running, "01-run1-startup-and-npm-failure")
        with real_prometheus(binary, tmp_path, [], flags=RECEIVER, port=port) as prometheus:
            await prometheus_ready(client, prometheus, time.monotonic() + DEADLINE_SECONDS)
            await writer.collect_once()
            await _until(lambda: sender.idle, "the first collection was not delivered")
            first = await _assert_page_in_prometheus(client, running, prometheus)

        await _feed(client, running, "03a-main-part1-cumulative")  # ingest goes on while the receiver is down
        await writer.collect_once()
        await _until(lambda: _value(registry, "requests_total", url, code="error") >= 2, "no failed attempt")
        assert not sender.idle

        with real_prometheus(binary, tmp_path, [], flags=RECEIVER, port=port) as prometheus:
            await prometheus_ready(client, prometheus, time.monotonic() + DEADLINE_SECONDS)
            await _until(lambda: sender.idle, "the queue did not drain after the receiver came back")
            await writer.collect_once()
            await _until(lambda: sender.idle, "the last collection was not delivered")
            second = await _assert_page_in_prometheus(client, running, prometheus)
        delivered = _value(registry, "samples_enqueued_total", url), _value(registry, "samples_sent_total", url)
    # leaving the bridge makes a last collection and flushes it; Prometheus is gone by then

    failures = sum(_value(registry, "requests_total", url, code=code) for code in ("error", "timeout"))
    retried = _value(registry, "samples_retried_total", url)
    enqueued = _value(registry, "samples_enqueued_total", url)
    assert second > first > 0
    assert failures >= 2
    assert failures <= retried <= failures * QueueConfig().max_samples_per_send
    assert delivered[0] == delivered[1]  # everything collected before the end was delivered
    unsent = _value(registry, "samples_dropped_total", url, reason="shutdown")  # the final flush found it gone
    assert unsent > 0
    assert _value(registry, "samples_sent_total", url) + unsent == enqueued
    assert sum(_value(registry, "samples_dropped_total", url, reason=r) for r in ("queue_full", "rejected")) == 0
