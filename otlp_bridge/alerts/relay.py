"""Delivery semantics: Alertmanager hears 2xx only after OpenClaw accepted; a transient failure asks it to retry, a
permanent one tells it why; a notification OpenClaw already accepted is not sent twice."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable

import aiohttp
import structlog

from otlp_bridge.alerts import hook
from otlp_bridge.alerts.hook import HookResult, HookTarget, Verdict
from otlp_bridge.alerts.message import MessageRenderer
from otlp_bridge.alerts.metrics import AlertMetrics
from otlp_bridge.alerts.payload import Notification

# A retry of an accepted notification (Alertmanager missed our answer) arrives within its group_interval; a repeat
# after repeat_interval (hours) is meant to be delivered again.
DEDUP_WINDOW_SECONDS = 15 * 60.0
MAX_REMEMBERED = 10_000  # accepted notifications kept for deduplication (the oldest go first)


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What the relay answers Alertmanager."""

    status: int
    outcome: str  # the self-metric label
    message: str


class Relay:
    def __init__(
        self,
        target: HookTarget,
        token: Callable[[], str],
        renderer: MessageRenderer,
        metrics: AlertMetrics,
        log: structlog.typing.FilteringBoundLogger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.target = target
        self.token = token
        self.renderer = renderer
        self.metrics = metrics
        self.log = log
        self.clock = clock
        self.accepted: dict[str, float] = {}  # notification identity -> when OpenClaw accepted it
        self._locks: dict[str, asyncio.Lock] = {}  # one per notification being delivered
        self._waiting: dict[str, int] = {}  # deliveries holding or waiting for each lock
        self._logged: set[str] = set()  # failure causes already logged since the last success
        self._template_warned = False
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def count(self, outcome: str) -> None:
        self.metrics.notifications.labels(self.target.action, outcome).inc()

    async def deliver(self, notification: Notification) -> Outcome:
        key = notification.identity()
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:  # a retry that overlaps the first attempt waits for its verdict
                return await self._deliver_once(notification, key)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key], self._locks[key]

    async def _deliver_once(self, notification: Notification, key: str) -> Outcome:
        now = self.clock()
        self._forget(now)
        if key in self.accepted:
            self.count("duplicate")
            self.log.info("alert_duplicate", status=notification.status, alerts=len(notification.alerts))
            return Outcome(200, "duplicate", "already delivered to OpenClaw\n")
        message = self.renderer.render(notification, on_error=self._template_failed)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        result = await hook.post(self._session, self.target, self.token(), message, key)
        self.metrics.latency.labels(self.target.action).observe(result.seconds)
        if result.verdict is Verdict.ACCEPTED:
            self.accepted[key] = now
            if len(self.accepted) > MAX_REMEMBERED:
                del self.accepted[next(iter(self.accepted))]
            self._logged.clear()
            self.metrics.last_success.labels(self.target.action).set(self.clock())
            self.count("delivered")
            self.log.info(
                "alert_delivered",
                action=self.target.action,
                status=notification.status,
                alerts=len(notification.alerts),
                duration_ms=round(result.seconds * 1000, 1),
            )
            return Outcome(200, "delivered", "delivered to OpenClaw\n")
        self.metrics.failures.labels(self.target.action, result.cause).inc()
        self._log_failure(result)
        if result.verdict is Verdict.TRANSIENT:
            self.count("retry")
            status = 504 if result.cause == "timeout" else 502
            return Outcome(status, "retry", f"OpenClaw did not accept the alert, retry later: {result.detail}\n")
        self.count("rejected")
        return Outcome(422, "rejected", f"OpenClaw rejected the alert for good: {result.detail}\n")

    def _forget(self, now: float) -> None:
        """Drop what left the window: the oldest acceptances come first in the dict."""
        while self.accepted and now - next(iter(self.accepted.values())) > DEDUP_WINDOW_SECONDS:
            del self.accepted[next(iter(self.accepted))]

    def _log_failure(self, result: HookResult) -> None:
        """Once per cause until the next success: a gateway that is down for an hour is one line, not hundreds."""
        if result.cause in self._logged:
            return
        self._logged.add(result.cause)
        self.log.warning(
            "alert_delivery_failed",
            action=self.target.action,
            verdict=result.verdict.value,
            cause=result.cause,
            detail=result.detail,
            url=self.target.url,
        )

    def _template_failed(self, error: Exception) -> None:
        if not self._template_warned:
            self._template_warned = True
            self.log.warning("alert_template_failed", error=f"{type(error).__name__}: {error}", fallback="built-in")
