"""Source liveness follows the sources: a source silent for --series-ttl leaves the self-metrics and the health
document together with its series, and frees its place under the source cap."""

from __future__ import annotations

import asyncio

import aiohttp

from otlp_bridge.expose.selfmetrics import MAX_SOURCES, OVERFLOW_SOURCE, SelfMetrics
from otlp_bridge.store import Store
from tests.support import PROTOBUF, find, in_process_bridge, scrape, tokens_request

LAST_RECEIVE = "otlp_bridge_last_receive_timestamp_seconds"


async def test_a_silent_source_is_removed_with_its_series() -> None:
    """With --series-ttl 1, a gateway that stopped sending is gone from the series, from
    otlp_bridge_last_receive_timestamp_seconds and from /metrics/health; a source still sending stays."""
    async with in_process_bridge(series_ttl=1.0) as bridge, aiohttp.ClientSession() as session:
        url = f"{bridge.otlp_url}/v1/metrics"
        headers = {"Content-Type": PROTOBUF}
        old = tokens_request({"input": 1}, service_name="openclaw-old").SerializeToString()
        async with session.post(url, data=old, headers=headers) as response:
            assert response.status == 200
        samples = await scrape(session, bridge.metrics_url)
        assert find(samples, LAST_RECEIVE, signal="metrics", source="openclaw-old:vm") is not None
        for step in range(8):  # the new gateway keeps exporting every 0.25 s; the old one is silent
            new = tokens_request({"input": step + 1}, service_name="openclaw-new").SerializeToString()
            async with session.post(url, data=new, headers=headers) as response:
                assert response.status == 200
            await asyncio.sleep(0.25)
        samples = await scrape(session, bridge.metrics_url)
        assert find(samples, LAST_RECEIVE, signal="metrics", source="openclaw-old:vm") is None
        assert find(samples, LAST_RECEIVE, signal="metrics", source="openclaw-new:vm") is not None
        async with session.get(f"{bridge.metrics_url}/metrics/health") as response:
            health = await response.json()
        assert [entry["source"] for entry in health["sources"]] == ["openclaw-new:vm"]
        assert health["healthy"] is True


def test_expired_sources_free_their_place_under_the_source_cap() -> None:
    """Past 256 sources new ones count as source="other"; once old sources expire, new ones get their own name."""
    metrics = SelfMetrics(Store(1, 1, 1.0), [])
    for index in range(MAX_SOURCES):
        metrics.received("metrics", f"gw:{index}", now=0.0)
    metrics.received("traces", "gw:0", now=0.0)  # another signal of a known source takes no new place
    metrics.received("metrics", "late:1", now=10.0)
    assert ("metrics", OVERFLOW_SOURCE) in metrics.last_receive
    assert ("traces", "gw:0") in metrics.last_receive
    assert ("metrics", "late:1") not in metrics.last_receive
    gone = metrics.expire_sources(cutoff=5.0)
    assert len(gone) == MAX_SOURCES
    assert OVERFLOW_SOURCE not in gone
    metrics.received("metrics", "late:1", now=20.0)
    assert ("metrics", "late:1") in metrics.last_receive
    assert f'{LAST_RECEIVE}{{signal="metrics",source="late:1"}} 20.0' in metrics.text()
