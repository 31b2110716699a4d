"""Delivery against a receiver the test controls: retries with backoff and Retry-After, drops on 4xx, a full
queue, a hanging receiver, headers and credentials, the final flush."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from otlp_bridge import __version__
from otlp_bridge.config import QueueConfig, Target
from otlp_bridge.remotewrite import wire
from otlp_bridge.remotewrite.collect import Collector, Identity
from otlp_bridge.remotewrite.metrics import RemoteWriteMetrics
from otlp_bridge.remotewrite.sender import RemoteWriter, TargetSender
from otlp_bridge.store import FamilyInfo, Kind, ScalarSeries, Store
from tests.conftest import CAPTURES, require_fixtures
from tests.support import captured_requests, in_process_bridge, receiver, until

FAST = QueueConfig(min_backoff=0.05, max_backoff=0.2)


@contextlib.asynccontextmanager
async def sender(target: Target) -> AsyncIterator[tuple[TargetSender, CollectorRegistry]]:
    registry = CollectorRegistry()
    async with aiohttp.ClientSession() as session:
        one = TargetSender(target, RemoteWriteMetrics(registry), session)
        task = asyncio.create_task(one.run())
        try:
            yield one, registry
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def entries(values: range) -> list[bytes]:
    return [wire.series(wire.labels([("__name__", "x"), ("n", str(v))]), float(v), 1000 + v) for v in values]


def metric(registry: CollectorRegistry, name: str, url: str, **labels: str) -> float:
    value = registry.get_sample_value("otlp_bridge_remote_write_" + name, {"url": url, **labels})
    return value if value is not None else 0.0


async def test_500_and_429_are_retried_with_backoff_honouring_retry_after() -> None:
    script = [(500, {}), (429, {"Retry-After": "1"}), (503, {})]
    async with receiver(script=script) as target, sender(Target(target.url, queue=FAST)) as (one, registry):
        one.push(entries(range(10)))
        await until(lambda: one.idle)
    times = [r.at for r in target.received]
    assert len(times) == 4
    assert [s.value for s in target.received[-1].samples] == [float(v) for v in range(10)]
    assert all(r.samples == target.received[0].samples for r in target.received)
    assert times[1] - times[0] >= 0.05
    assert times[2] - times[1] >= 1.0  # Retry-After, longer than max_backoff
    assert 0.1 <= times[3] - times[2] < 1.0  # the third attempt backs off twice the minimum
    assert metric(registry, "samples_retried_total", target.url) == 30
    assert metric(registry, "samples_sent_total", target.url) == 10
    for code in ("500", "429", "503", "204"):
        assert metric(registry, "requests_total", target.url, code=code) == 1
    assert metric(registry, "last_success_timestamp_seconds", target.url) > 0
    assert metric(registry, "send_duration_seconds_count", target.url) == 4


async def test_failures_are_logged_once_per_cause_and_interval() -> None:
    no_headers: dict[str, str] = {}
    script = [(500, no_headers)] * 6 + [(400, no_headers)]
    config = QueueConfig(min_backoff=0.01, max_backoff=0.01)
    with capture_logs() as logs:
        async with receiver(script=script) as target, sender(Target(target.url, queue=config)) as (one, registry):
            one.push(entries(range(2)))
            await until(lambda: one.idle)
    assert metric(registry, "requests_total", target.url, code="500") == 6
    failures = [(e["code"], e["held_back"], e["answer"]) for e in logs if e["event"] == "remote_write_failed"]
    assert failures == [("500", 0, "refused"), ("400", 0, "refused")]


async def test_other_4xx_are_dropped_and_counted_and_the_queue_goes_on() -> None:
    async with receiver(script=[(400, {})]) as target, sender(Target(target.url, queue=FAST)) as (one, registry):
        one.push(entries(range(5)))
        await until(lambda: one.idle)
        one.push(entries(range(5, 8)))
        await until(lambda: one.idle)
    assert [len(r.samples) for r in target.received] == [5, 3]
    assert metric(registry, "samples_dropped_total", target.url, reason="rejected") == 5
    assert metric(registry, "samples_sent_total", target.url) == 3
    assert metric(registry, "samples_retried_total", target.url) == 0


async def test_a_full_queue_drops_the_oldest_and_counts_them() -> None:
    config = QueueConfig(capacity=10, max_samples_per_send=4, min_backoff=0.05, max_backoff=0.2)
    async with receiver(hang=True) as target, sender(Target(target.url, queue=config)) as (one, registry):
        one.push(entries(range(4)))
        await until(lambda: target.holding == 1)
        one.push(entries(range(4, 19)))
        assert metric(registry, "queue_samples", target.url) == 14  # 10 queued and 4 in flight
        target.release.set()
        await until(lambda: one.idle)
    assert target.values() == [float(v) for v in (*range(4), *range(9, 19))]
    assert metric(registry, "samples_dropped_total", target.url, reason="queue_full") == 5
    assert metric(registry, "samples_enqueued_total", target.url) == 19
    assert metric(registry, "samples_sent_total", target.url) == 14
    assert metric(registry, "queue_samples", target.url) == 0


async def test_a_receiver_that_never_answers_times_out_and_is_retried() -> None:
    async with receiver(hang=True) as target, sender(Target(target.url, timeout=0.2, queue=FAST)) as (one, registry):
        one.push(entries(range(3)))
        await until(lambda: metric(registry, "requests_total", target.url, code="timeout") >= 2)
        assert metric(registry, "samples_retried_total", target.url) >= 6
        assert not one.idle


async def test_headers_and_credentials_read_from_files(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first-token\n")
    password = tmp_path / "password"
    password.write_text("s3cret\n")
    async with receiver() as target:
        bearer = Target(target.url, bearer_token_file=token, headers=(("X-Scope-OrgID", "tenant-1"),))
        async with sender(bearer) as (one, _):
            one.push(entries(range(1)))
            await until(lambda: one.idle)
            token.write_text("rotated-token\n")
            one.push(entries(range(1)))
            await until(lambda: one.idle)
        basic = Target(target.url, basic_auth_user="bridge", basic_auth_password_file=password)
        async with sender(basic) as (one, _):
            one.push(entries(range(1)))
            await until(lambda: one.idle)
    first, rotated, basic_auth = (r.headers for r in target.received)
    assert first["Content-Encoding"] == "snappy"
    assert first["Content-Type"] == "application/x-protobuf"
    assert first["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert first["User-Agent"] == f"otlp-bridge/{__version__}"
    assert first["X-Scope-OrgID"] == "tenant-1"
    assert first["Authorization"] == "Bearer first-token"
    assert rotated["Authorization"] == "Bearer rotated-token"
    assert basic_auth["Authorization"] == "Basic " + base64.b64encode(b"bridge:s3cret").decode()


def _store_with(values: int) -> Store:
    store = Store(100, 100, 600.0)
    family = store.family(FamilyInfo("openclaw_x_total", Kind.COUNTER, "X.", ""))
    assert family is not None
    for index in range(values):
        series = store.series(family, (("n", str(index)),), 1.0, 1.0)
        assert isinstance(series, ScalarSeries)
        series.add(index + 1)
    return store


async def test_shutdown_flushes_a_last_collection_and_counts_what_a_dead_target_kept() -> None:
    store = _store_with(3)
    registry = CollectorRegistry()
    async with receiver() as alive, receiver(hang=True) as dead:
        writer = RemoteWriter(
            Collector(store, None, Identity(instance="i")),
            [Target(alive.url), Target(dead.url)],
            RemoteWriteMetrics(registry),
            interval=3600,
        )
        await writer.start()
        started = time.monotonic()
        await writer.close(flush_seconds=0.5)
        assert time.monotonic() - started < 2
    assert sorted(alive.values()) == [1.0, 2.0, 3.0]
    assert metric(registry, "samples_sent_total", alive.url) == 3
    assert metric(registry, "samples_dropped_total", dead.url, reason="shutdown") == 3
    assert metric(registry, "queue_samples", dead.url) == 0


async def test_a_hanging_receiver_does_not_hold_up_ingest_or_other_targets() -> None:
    require_fixtures()
    bodies = captured_requests(CAPTURES / "03a-main-part1-cumulative", "metrics")
    async with (
        in_process_bridge() as running,
        aiohttp.ClientSession() as client,
        receiver() as alive,
        receiver(hang=True) as hanging,
    ):
        registry = CollectorRegistry()
        writer = RemoteWriter(
            Collector(running.bridge.store, running.bridge.metrics.registry, Identity(instance="i")),
            [Target(hanging.url), Target(alive.url)],
            RemoteWriteMetrics(registry),
            interval=0.05,
        )
        await writer.start()
        acks = 0
        for request in bodies:
            headers = {k: v for k, v in request.headers.items() if k in ("Content-Type", "Content-Encoding")}
            async with client.post(f"{running.otlp_url}/v1/metrics", data=request.body, headers=headers) as response:
                acks += response.status == 200
        await until(lambda: hanging.holding == 1 and len(alive.received) >= 3)
        scrape_started = time.monotonic()
        async with client.get(running.metrics_url + "/metrics") as response:
            assert response.status == 200
        assert time.monotonic() - scrape_started < 5
        assert hanging.holding == 1  # still waiting for its first answer all along
        await writer.close(flush_seconds=0.2)
    assert acks == len(bodies)
    assert metric(registry, "samples_sent_total", alive.url) > 0
    assert metric(registry, "samples_sent_total", hanging.url) == 0
    assert metric(registry, "samples_dropped_total", hanging.url, reason="shutdown") > 0


async def test_metadata_goes_in_a_request_of_its_own_once_a_minute() -> None:
    store = _store_with(2)
    registry = CollectorRegistry()
    async with receiver() as target:
        writer = RemoteWriter(
            Collector(store, None, Identity()), [Target(target.url)], RemoteWriteMetrics(registry), interval=3600
        )
        await writer.start()
        (one,) = writer.senders
        for _ in range(3):
            await writer.collect_once()
            await until(lambda: one.idle and len(target.received) >= 2)
        await writer.close()
    with_metadata = [r for r in target.received if r.metadata]
    assert len(with_metadata) == 1
    assert with_metadata[0].samples == []
    assert [(m.type, m.metric_family_name, m.help) for m in with_metadata[0].metadata] == [
        (1, "openclaw_x_total", "X.")
    ]
    assert sum(len(r.samples) for r in target.received) == 2 * 4  # three collections and the final flush
