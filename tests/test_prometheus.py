"""A real Prometheus (Debian's package) scrapes in-process bridges fed the captured OpenClaw bodies; PromQL over the
translated series returns what the fixtures imply, in both exposition formats and with a scrape token."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from otlp_bridge.expose.exposition import Format, negotiate
from otlp_bridge.store import HistogramSeries, Store
from tests.conftest import CAPTURES, SCRAPES, require_fixtures, require_tool
from tests.support import RunningBridge, captured_requests, in_process_bridge, real_prometheus, wait_until_ready

pytestmark = pytest.mark.slow

FOLDER = "03a-main-part1-cumulative"
OFFICIAL_END_SCRAPE = "scrape-015316-end.txt"
SCRAPE_TOKEN = "prometheus-scrape-token"
TEXT_ONLY_ACCEPT = "text/plain;version=0.0.4"
# Prometheus 2.x before 2.49 (no scrape_protocols) sends exactly this; recorded from Debian's 2.42.0.
PROMETHEUS_2_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
DEADLINE_SECONDS = 25.0


def _version(binary: str) -> str:
    output = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True, timeout=30)
    match = re.search(r"version (\S+)", output.stdout + output.stderr)
    assert match, output
    return match[1]


@contextlib.asynccontextmanager
async def _text_relay(upstream: str, seen_accept: list[str]) -> AsyncIterator[str]:
    """A tiny proxy that asks the bridge for text 0.0.4 only, so Prometheus also ingests the text format; it records
    the Accept header Prometheus itself sends."""

    async def relay(request: web.Request) -> web.Response:
        seen_accept.append(request.headers.get("Accept", ""))
        async with (
            aiohttp.ClientSession() as client,
            client.get(upstream, headers={"Accept": TEXT_ONLY_ACCEPT, "Accept-Encoding": "identity"}) as response,
        ):
            body = await response.read()
            content_type = response.headers["Content-Type"]  # the bridge's exact type, parameters included
            return web.Response(body=body, status=response.status, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/metrics", relay)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _feed(client: aiohttp.ClientSession, running: RunningBridge) -> None:
    for request in captured_requests(CAPTURES / FOLDER, "metrics"):
        headers = {"Content-Type": request.headers["Content-Type"]}
        if "Content-Encoding" in request.headers:
            headers["Content-Encoding"] = request.headers["Content-Encoding"]
        async with client.post(f"{running.otlp_url}/v1/metrics", data=request.body, headers=headers) as response:
            assert response.status == 200


async def _query(client: aiohttp.ClientSession, prometheus: str, promql: str) -> dict[str, float]:
    """An instant query; the result as ``{job: value}`` (``""`` when the series has no job label)."""
    async with client.get(f"{prometheus}/api/v1/query", params={"query": promql}) as response:
        document = await response.json()
    assert document["status"] == "success", document
    return {item["metric"].get("job", ""): float(item["value"][1]) for item in document["data"]["result"]}


async def _wait_for_scrapes(client: aiohttp.ClientSession, prometheus: str, jobs: set[str], deadline: float) -> None:
    """Until every job has a completed scrape with the translated series in it (or the deadline passes)."""
    while time.monotonic() < deadline:
        up = await _query(client, prometheus, "up")
        seen = await _query(client, prometheus, "sum by (job) (openclaw_run_completed_total)")
        if set(up) >= jobs and set(seen) >= jobs - {"bridge-wrong-token"}:
            return
        await asyncio.sleep(0.3)
    pytest.fail(f"no complete scrape before the deadline: up={up}, run_completed={seen}")


def _official_sum(family: str) -> float:
    """Sum of one family's samples in the official plugin's scrape at the end of the same run."""
    text = (SCRAPES / OFFICIAL_END_SCRAPE).read_text()
    return sum(float(match[1]) for match in re.finditer(rf"^{family}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE))


def _official_buckets(family: str) -> list[tuple[float, float]]:
    """``sum by (le)`` of one histogram family's buckets in the official plugin's scrape at the end of the run."""
    totals: dict[float, float] = {}
    text = (SCRAPES / OFFICIAL_END_SCRAPE).read_text()
    for match in re.finditer(rf'^{family}_bucket{{[^}}]*le="([^"]+)"[^}}]*}} (\S+)$', text, re.MULTILINE):
        totals[float(match[1])] = totals.get(float(match[1]), 0.0) + float(match[2])
    return sorted(totals.items())


def _bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """Prometheus' classic ``histogram_quantile`` (promql/quantile.go bucketQuantile) over cumulative buckets."""
    buckets = sorted(buckets)
    observations = buckets[-1][1]
    rank = q * observations
    index = next((i for i, (_, count) in enumerate(buckets[:-1]) if count >= rank), len(buckets) - 1)
    if index == len(buckets) - 1:
        return buckets[-2][0]
    if index == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, (end, count) = 0.0, buckets[index]
    if index > 0:
        start = buckets[index - 1][0]
        count -= buckets[index - 1][1]
        rank -= buckets[index - 1][1]
    return start + (end - start) * (rank / count)


def _run_duration_buckets(store: Store) -> list[tuple[float, float]]:
    """``sum by (le)`` of ``openclaw_run_duration_seconds_bucket``, computed from the bridge's store."""
    totals: dict[float, float] = {}
    for series in store.families["openclaw_run_duration_seconds"].series.values():
        assert isinstance(series, HistogramSeries)
        cumulative = 0.0
        for bound, count in zip((*series.bounds, math.inf), series.counts, strict=True):
            cumulative += count
            totals[bound] = totals.get(bound, 0.0) + cumulative
    return sorted(totals.items())


async def test_real_prometheus_scrapes_the_bridge(tmp_path: Path) -> None:
    """Prometheus scrapes OpenMetrics directly, text 0.0.4 through a relay, and a token-protected bridge at the
    official path; PromQL returns the fixture's run and model-call totals and a finite run-duration median."""
    binary = require_tool("prometheus")
    require_fixtures()
    version = _version(binary)
    deadline = time.monotonic() + DEADLINE_SECONDS
    token_file = tmp_path / "scrape-token"
    token_file.write_text(SCRAPE_TOKEN + "\n")
    wrong_token_file = tmp_path / "wrong-token"
    wrong_token_file.write_text("not-the-token\n")
    seen_accept: list[str] = []
    async with (
        in_process_bridge() as plain,
        in_process_bridge(scrape_token_file=token_file) as guarded,
        aiohttp.ClientSession() as client,
        _text_relay(plain.metrics_url + "/metrics", seen_accept) as relay,
    ):
        await _feed(client, plain)
        await _feed(client, guarded)

        def target(running: RunningBridge) -> str:
            return running.metrics_url.removeprefix("http://")

        jobs: list[dict[str, Any]] = [
            {"job_name": "bridge", "static_configs": [{"targets": [target(plain)]}]},
            {"job_name": "bridge-text", "static_configs": [{"targets": [relay]}]},
            {
                "job_name": "bridge-token",
                "metrics_path": "/api/diagnostics/prometheus",
                "authorization": {"credentials_file": str(token_file)},
                "static_configs": [{"targets": [target(guarded)]}],
            },
            {
                "job_name": "bridge-wrong-token",
                "authorization": {"credentials_file": str(wrong_token_file)},
                "static_configs": [{"targets": [target(guarded)]}],
            },
        ]
        with real_prometheus(binary, tmp_path, jobs) as prometheus:
            await wait_until_ready(client, prometheus, deadline)
            await _wait_for_scrapes(client, prometheus, {job["job_name"] for job in jobs}, deadline)

            up = await _query(client, prometheus, "up")
            completed = await _query(client, prometheus, "sum by (job) (openclaw_run_completed_total)")
            model_calls = await _query(client, prometheus, "sum by (job) (openclaw_model_call_total)")
            median = await _query(
                client,
                prometheus,
                "histogram_quantile(0.5, sum by (job, le) (openclaw_run_duration_seconds_bucket))",
            )
            om_le = await _query(client, prometheus, 'count by (job) (openclaw_run_duration_seconds_bucket{le="1.0"})')
            text_le = await _query(client, prometheus, 'count by (job) (openclaw_run_duration_seconds_bucket{le="1"})')
            async with client.get(f"{prometheus}/api/v1/targets") as response:
                targets = (await response.json())["data"]["activeTargets"]
        buckets = _run_duration_buckets(plain.bridge.store)

    assert version.startswith(("2.", "3.")), version
    assert up == {"bridge": 1, "bridge-text": 1, "bridge-token": 1, "bridge-wrong-token": 0}
    errors = {t["labels"]["job"]: t["lastError"] for t in targets}
    assert errors["bridge"] == errors["bridge-text"] == errors["bridge-token"] == ""
    assert "403" in errors["bridge-wrong-token"]

    # What the fixtures imply: the official plugin's own scrape at the end of the same run.
    assert _official_sum("openclaw_run_completed_total") == 10
    assert _official_sum("openclaw_model_call_total") == 16
    assert completed == {"bridge": 10, "bridge-text": 10, "bridge-token": 10}
    assert model_calls == {"bridge": 16, "bridge-text": 16, "bridge-token": 16}

    expected_median = _bucket_quantile(0.5, buckets)
    assert math.isfinite(expected_median)
    for job in ("bridge", "bridge-text", "bridge-token"):
        assert math.isfinite(median[job])
        assert math.isclose(median[job], expected_median, rel_tol=1e-9), (job, median[job], buckets)
    # Every run took longer than the OTLP default bounds' last 10 000 ms; placed in the official 30/60/… buckets, the
    # median is the one PromQL gives over the official plugin's scrape.
    assert expected_median == _bucket_quantile(0.5, _official_buckets("openclaw_run_duration_seconds")) > 10

    assert seen_accept
    chosen = negotiate(seen_accept[0])[0]
    if version.startswith("2."):
        assert seen_accept[0] == PROMETHEUS_2_ACCEPT
        # Prometheus 2 keeps `le` as printed; it is served text, so every job stores `le="1"` like the official
        # plugin, never OpenMetrics' `1.0` (Prometheus 3 normalises `le` on ingest and is served OpenMetrics).
        assert chosen is Format.TEXT
        assert set(text_le) == {"bridge", "bridge-text", "bridge-token"}
        assert om_le == {}
    else:
        assert chosen is Format.OPENMETRICS
