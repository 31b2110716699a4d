"""For the relay's tests: Alertmanager webhook (version 4) bodies shaped like Alertmanager 0.25 sends them, and a
relay on a free loopback port with its self-metrics and log events at hand."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from otlp_bridge.alerts.handler import alertmanager_handler
from otlp_bridge.alerts.hook import HookTarget
from otlp_bridge.alerts.message import MessageRenderer
from otlp_bridge.alerts.metrics import AlertMetrics
from otlp_bridge.alerts.relay import Relay
from otlp_bridge.receive.auth import TokenFile, bearer

HOOKS_TOKEN = "hooks-secret"
WEBHOOK_TOKEN = "am-secret"


def alert(
    name: str = "OpenClawHighModelErrorRate",
    status: str = "firing",
    fingerprint: str = "5f3a9c0d1e2b4a67",
    summary: str = "Model errors above 10% for openai/gpt-5",
    **labels: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": "warning", "instance": "bridge:9464", **labels},
        "annotations": {"summary": summary, "description": "5m error ratio of model calls"},
        "startsAt": "2026-12-06T14:03:05.5Z",
        "endsAt": "2026-12-06T14:45:15Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
        "fingerprint": fingerprint,
    }


def notification(*alerts: dict[str, Any], status: str | None = None, **fields: Any) -> dict[str, Any]:
    alerts = alerts or (alert(),)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="OpenClawHighModelErrorRate"}',
        "truncatedAlerts": 0,
        "status": status or ("firing" if any(a["status"] == "firing" for a in alerts) else "resolved"),
        "receiver": "openclaw",
        "groupLabels": {"alertname": "OpenClawHighModelErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
        **fields,
    }


def body(*alerts: dict[str, Any], **fields: Any) -> bytes:
    return json.dumps(notification(*alerts, **fields)).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


class RelayUnderTest:
    def __init__(self, relay: Relay, registry: CollectorRegistry, url: str, logs: list[dict[str, Any]]) -> None:
        self.relay = relay
        self.registry = registry
        self.url = url
        self.logs = logs

    def count(self, outcome: str, action: str = "agent") -> float:
        value = self.registry.get_sample_value(
            "otlp_bridge_alert_notifications_total", {"action": action, "outcome": outcome}
        )
        return value or 0.0

    def events(self, name: str) -> list[dict[str, Any]]:
        return [entry for entry in self.logs if entry["event"] == name]


@contextlib.asynccontextmanager
async def running_relay(
    target: HookTarget,
    tmp_path: Path,
    clock: Callable[[], float] | None = None,
    renderer: MessageRenderer | None = None,
    webhook_token: bool = False,
) -> AsyncIterator[RelayUnderTest]:
    """A relay behind ``POST /alertmanager`` on a free loopback port, posting to ``target`` with HOOKS_TOKEN."""
    registry = CollectorRegistry()
    logs: list[dict[str, Any]] = []

    def capture(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        logs.append(dict(event))
        raise structlog.DropEvent

    log = structlog.wrap_logger(None, processors=[structlog.processors.add_log_level, capture])
    relay = Relay(
        target,
        lambda: HOOKS_TOKEN,
        renderer or MessageRenderer(),
        AlertMetrics(registry, target.action),
        log,
        clock or Clock(),
    )
    authorize = None
    if webhook_token:
        token_file = tmp_path / "webhook-token"
        token_file.write_text(WEBHOOK_TOKEN + "\n")
        token = TokenFile(token_file)

        def authorize(request: web.Request) -> None:
            token.check(bearer(request.headers.get("Authorization")))

    app = web.Application()
    app.router.add_post("/alertmanager", alertmanager_handler(relay, authorize))
    runner = web.AppRunner(app, access_log=None, lingering_time=0.5)  # a refused body is not drained for 10 s
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield RelayUnderTest(relay, registry, f"http://127.0.0.1:{port}/alertmanager", logs)
    finally:
        await relay.close()
        await runner.cleanup()


# --- a real Alertmanager (Debian's package) ------------------------------------------------------------------


def webhook_route(relay_url: str, token_file: Path) -> dict[str, Any]:
    """An Alertmanager config that sends every alert to the relay, quickly, with the webhook token."""
    return {
        "global": {"resolve_timeout": "30s"},
        "route": {
            "receiver": "openclaw",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "openclaw",
                "webhook_configs": [
                    {
                        "url": relay_url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"credentials_file": str(token_file)}},
                    }
                ],
            }
        ],
    }


async def post_alerts(alertmanager: str, *alerts: dict[str, Any]) -> None:
    """Alertmanager's API v2, as Prometheus posts alerts."""
    async with (
        aiohttp.ClientSession() as client,
        client.post(f"{alertmanager}/api/v2/alerts", json=list(alerts)) as got,
    ):
        assert got.status == 200, await got.text()


# The notification whose rendering README.md shows (tests/test_alerts_message.py keeps them equal).
README_EXAMPLE = notification(
    {
        "status": "firing",
        "labels": {
            "alertname": "OpenClawHighModelErrorRate",
            "severity": "warning",
            "instance": "otlp-bridge:9464",
            "job": "otlp-bridge",
        },
        "annotations": {
            "summary": "12.5% of OpenClaw model calls fail",
            "description": "More than 10% of model calls ended with an error over the last 5 minutes: provider API"
            " or network trouble.",
        },
        "startsAt": "2026-12-06T14:03:05.123Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=sum%28rate%28openclaw_model_call_total%5B5m%5D%29%29",
        "fingerprint": "6d1e4a0b2c3f5e78",
    },
    {
        "status": "resolved",
        "labels": {"alertname": "OpenClawQueueDepth", "severity": "warning", "lane": "main"},
        "annotations": {"summary": "OpenClaw queue lane main holds 7 items"},
        "startsAt": "2026-12-06T13:20:00Z",
        "endsAt": "2026-12-06T13:47:30Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=openclaw_queue_lane_size",
        "fingerprint": "0a9b8c7d6e5f4a3b",
    },
    groupKey='{}:{instance="otlp-bridge:9464"}',
    groupLabels={"instance": "otlp-bridge:9464"},
)
