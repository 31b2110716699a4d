"""A real Alertmanager (Debian's package) sends its webhook to the relay, which posts to an endpoint answering like
OpenClaw's hook API: the firing and the resolved message arrive, and 503s are retried until delivered once."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from otlp_bridge.alerts.hook import HookTarget
from tests.alerts_support import (
    HOOKS_TOKEN,
    WEBHOOK_TOKEN,
    RelayUnderTest,
    post_alerts,
    running_relay,
    webhook_route,
)
from tests.openclaw_hook import FakeOpenClaw, fake_openclaw
from tests.support import real_alertmanager

pytestmark = pytest.mark.slow

ARRIVAL_SECONDS = 30.0
SUMMARY = 'Model errors above 10% for "openai"/gpt-5'


def _alert(ends: datetime.datetime | None = None) -> dict[str, Any]:
    started = datetime.datetime(2026, 12, 6, 14, 3, 5, tzinfo=datetime.UTC)
    alert: dict[str, Any] = {
        "labels": {
            "alertname": "OpenClawHighModelErrorRate",
            "severity": "warning",
            "instance": "bridge:9464",
            "provider": "openai",
        },
        "annotations": {"summary": SUMMARY, "description": "5m error ratio of model calls"},
        "startsAt": started.isoformat(),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=openclaw",
    }
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    return alert


@pytest.fixture(name="chain")
async def _chain(tmp_path: Path) -> AsyncIterator[tuple[FakeOpenClaw, RelayUnderTest, str]]:
    async with fake_openclaw(HOOKS_TOKEN) as hook:
        token_file = tmp_path / "am-webhook-token"
        token_file.write_text(WEBHOOK_TOKEN)
        async with (
            running_relay(HookTarget(hook.url, channel="last"), tmp_path, webhook_token=True) as relay,
            real_alertmanager(tmp_path, webhook_route(relay.url, token_file)) as alertmanager,
        ):
            yield hook, relay, alertmanager


async def test_firing_then_resolved_reach_the_hook(chain: tuple[FakeOpenClaw, RelayUnderTest, str]) -> None:
    """Bearer token, /agent, deliver true, a message naming the alert and quoting its summary; then the resolved
    message, once each."""
    hook, relay, alertmanager = chain
    await post_alerts(alertmanager, _alert())
    [firing] = await hook.wait_for_runs(1, ARRIVAL_SECONDS)
    assert firing.path == "/agent"
    assert firing.headers["Authorization"] == f"Bearer {HOOKS_TOKEN}"
    assert firing.body["deliver"] is True
    message = firing.body["message"]
    assert message.startswith('FIRING: "OpenClawHighModelErrorRate"')
    assert 'Summary: "Model errors above 10% for \\"openai\\"/gpt-5"' in message
    assert "Firing since 2026-12-06 14:03:05 UTC" in message
    assert '"http://prometheus:9090/graph?g0.expr=openclaw"' in message

    await post_alerts(alertmanager, _alert(ends=datetime.datetime.now(datetime.UTC)))
    runs = await hook.wait_for_runs(2, ARRIVAL_SECONDS)
    resolved = runs[1].body["message"]
    assert resolved.startswith('RESOLVED: "OpenClawHighModelErrorRate"')
    assert "Resolved at " in resolved
    await asyncio.sleep(3)  # several group intervals: nothing is sent again
    assert len(hook.runs) == 2
    assert relay.count("delivered") == 2


async def test_503_twice_is_retried_by_alertmanager_until_delivered_once(
    chain: tuple[FakeOpenClaw, RelayUnderTest, str],
) -> None:
    """The hook answers 503 twice: the relay answers 502, Alertmanager retries, the third attempt is delivered and
    nothing arrives twice."""
    hook, relay, alertmanager = chain
    hook.fail = [503, 503]
    await post_alerts(alertmanager, _alert())
    [run] = await hook.wait_for_runs(1, ARRIVAL_SECONDS)
    assert run.body["message"].startswith('FIRING: "OpenClawHighModelErrorRate"')
    await asyncio.sleep(3)
    assert hook.requests == 3
    assert len(hook.runs) == 1
    assert (relay.count("retry"), relay.count("delivered")) == (2, 1)
