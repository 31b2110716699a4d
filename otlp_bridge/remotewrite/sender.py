"""The aiohttp side of remote write: one task per target sending its queue, and the service that collects every
interval and flushes on shutdown. A slow or dead target only fills its own queue: collection runs in slices between
ingest requests, each request has a timeout, and targets never wait for each other."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Sequence

import aiohttp
from prometheus_client import CollectorRegistry

from otlp_bridge import __version__
from otlp_bridge.config import Config, Target
from otlp_bridge.log import Throttle, get_logger
from otlp_bridge.remotewrite import wire
from otlp_bridge.remotewrite.collect import Collector, Identity
from otlp_bridge.remotewrite.metrics import RemoteWriteMetrics
from otlp_bridge.remotewrite.queue import Outcome, Queue, backoff, classify, retry_after
from otlp_bridge.store import Store

USER_AGENT = f"otlp-bridge/{__version__}"
SLICE_SECONDS = 0.001  # collection works this long before it lets the event loop run other tasks
METADATA_INTERVAL_SECONDS = 60.0
FLUSH_SECONDS = 5.0
ERROR_TEXT_BYTES = 512
WARNING_INTERVAL_SECONDS = 10.0  # at most one failure line per target and cause this often


class TargetSender:
    """One target's queue and the task that drains it, one batch in flight at a time (so each series' samples
    arrive in timestamp order)."""

    def __init__(
        self,
        target: Target,
        metrics: RemoteWriteMetrics,
        session: aiohttp.ClientSession,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target = target
        self.url = target.display_url
        self.metrics = metrics
        self.session = session
        self.clock = clock
        self.queue = Queue(target.queue)
        self.in_flight = 0
        self.log = get_logger().bind(url=self.url)
        self._throttle = Throttle(WARNING_INTERVAL_SECONDS)
        self._ssl = target.ssl_context()
        self._wake = asyncio.Event()
        self._metadata: bytes | None = None
        self._metadata_sent = -METADATA_INTERVAL_SECONDS
        metrics.target(self.url)

    def push(self, entries: Sequence[bytes]) -> None:
        if not entries:
            return
        dropped = self.queue.push(entries)
        self.metrics.enqueued.labels(self.url).inc(len(entries))
        if dropped:
            self.metrics.dropped.labels(self.url, "queue_full").inc(dropped)
        self._update_pending()
        self._wake.set()

    def push_metadata(self, entries: Sequence[bytes]) -> None:
        """The families' metadata, sent on its own at most once per ``METADATA_INTERVAL_SECONDS``."""
        if entries and self.clock() - self._metadata_sent >= METADATA_INTERVAL_SECONDS:
            self._metadata = b"".join(entries)
            self._wake.set()

    @property
    def idle(self) -> bool:
        return not self.queue and not self.in_flight and self._metadata is None

    def _update_pending(self) -> None:
        self.metrics.pending.labels(self.url).set(len(self.queue) + self.in_flight)

    async def run(self) -> None:
        while True:
            if self._metadata is not None:
                metadata, self._metadata = self._metadata, None
                self._metadata_sent = self.clock()
                await self._post(wire.compress(metadata))  # not retried: the next interval sends it again
                continue
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self.queue.take()
            self.in_flight = len(batch)  # left as it is when cancelled: ``abandon`` counts it
            await self._deliver(wire.compress(b"".join(batch)), len(batch))
            self.in_flight = 0
            self._update_pending()

    async def _deliver(self, body: bytes, samples: int) -> None:
        """Send one batch until it is accepted or refused, backing off between attempts."""
        attempt = 0
        while True:
            status, after = await self._post(body)
            outcome = classify(status)
            if outcome is Outcome.SENT:
                self.metrics.sent.labels(self.url).inc(samples)
                self.metrics.last_success.labels(self.url).set(self.clock())
                return
            if outcome is Outcome.DROP:
                self.metrics.dropped.labels(self.url, "rejected").inc(samples)
                return
            attempt += 1
            self.metrics.retried.labels(self.url).inc(samples)
            await asyncio.sleep(backoff(self.target.queue, attempt, after))

    async def _post(self, body: bytes) -> tuple[int | None, float | None]:
        """One request: its status (None when no answer came) and the ``Retry-After`` it asked for."""
        started = time.perf_counter()
        code = "error"
        try:
            headers = {**wire.HEADERS, "User-Agent": USER_AGENT, **self.target.request_headers()}
            async with (
                asyncio.timeout(self.target.timeout),
                self.session.post(self.target.url, data=body, headers=headers, ssl=self._ssl or True) as response,
            ):
                code = str(response.status)
                text = await response.content.read(ERROR_TEXT_BYTES)
                if response.status >= 300:
                    self._warn(code, answer=text.decode(errors="replace").strip())
                return response.status, retry_after(response.headers.get("Retry-After"), self.clock())
        except TimeoutError:
            code = "timeout"
            self._warn(code, error=f"no answer within {self.target.timeout:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as error:
            self._warn(code, error=f"{type(error).__name__}: {error}")
        finally:
            self.metrics.requests.labels(self.url, code).inc()
            self.metrics.duration.labels(self.url).observe(time.perf_counter() - started)
        return None, None

    def _warn(self, code: str, **fields: str) -> None:
        """A failed request, logged at most once per cause every ``WARNING_INTERVAL_SECONDS``."""
        held_back = self._throttle.allow(code, self.clock())
        if held_back is not None:
            self.log.warning("remote_write_failed", code=code, held_back=held_back, **fields)

    def abandon(self) -> None:
        """Count what was never sent (shutdown)."""
        unsent = self.queue.clear() + self.in_flight
        if unsent:
            self.metrics.dropped.labels(self.url, "shutdown").inc(unsent)
        self.in_flight = 0
        self._update_pending()


class RemoteWriter:
    """Collects every ``interval`` seconds and hands each collection to every target's sender."""

    def __init__(
        self,
        collector: Collector,
        targets: Sequence[Target],
        metrics: RemoteWriteMetrics,
        interval: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.collector = collector
        self.targets = targets
        self.metrics = metrics
        self.interval = interval
        self.clock = clock
        self.senders: list[TargetSender] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self.senders = [TargetSender(target, self.metrics, self._session, self.clock) for target in self.targets]
        self._tasks = [asyncio.create_task(sender.run()) for sender in self.senders]
        self._tasks.append(asyncio.create_task(self._collect_forever()))

    async def _collect_forever(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.interval
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += self.interval
            await self.collect_once()
            next_at = max(next_at, loop.time())  # a collection longer than the interval skips, never piles up

    async def collect_once(self) -> None:
        """One collection, in slices with the event loop running other tasks in between."""
        slice_started = time.perf_counter()
        for part in self.collector.parts(self.clock()):
            for sender in self.senders:
                sender.push(part)
            if time.perf_counter() - slice_started > SLICE_SECONDS:
                await asyncio.sleep(0)
                slice_started = time.perf_counter()
        for sender in self.senders:
            sender.push_metadata(self.collector.metadata)

    async def close(self, flush_seconds: float = FLUSH_SECONDS) -> None:
        """A last collection, then up to ``flush_seconds`` for the queues to drain; what is left is counted."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush_seconds
        if self._tasks:
            self._tasks.pop().cancel()  # the collection loop
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self.collect_once()
                while not all(sender.idle for sender in self.senders):
                    await asyncio.sleep(0.02)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for sender in self.senders:
            sender.abandon()
        if self._session is not None:
            await self._session.close()
            self._session = None


def from_config(
    config: Config, store: Store, registry: CollectorRegistry, clock: Callable[[], float]
) -> RemoteWriter | None:
    """The configured remote writer (its self-metrics in ``registry``, so on the scrape page too), or None."""
    if not config.remote_write_targets:
        return None
    identity = Identity(
        config.remote_write_job,
        config.remote_write_instance or socket.gethostname(),
        config.remote_write_external_label,
    )
    return RemoteWriter(
        Collector(store, registry, identity),
        config.remote_write_targets,
        RemoteWriteMetrics(registry),
        config.remote_write_interval,
        clock,
    )
