"""The relay inside a running bridge: POST /alertmanager on the scrape listener only with --alert-relay-url, its
self-metrics on /metrics, the webhook token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.alerts_support import HOOKS_TOKEN, WEBHOOK_TOKEN, body
from tests.openclaw_hook import FakeOpenClaw, fake_openclaw
from tests.support import bridge_process, find, in_process_bridge, scrape


@pytest.fixture(name="hook")
async def _hook() -> AsyncIterator[FakeOpenClaw]:
    async with fake_openclaw(HOOKS_TOKEN) as fake:
        yield fake


def _secret(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    return path


async def test_without_a_relay_url_there_is_no_endpoint() -> None:
    """Off unless configured: 404, and no relay series."""
    async with in_process_bridge() as running, aiohttp.ClientSession() as client:
        async with client.post(f"{running.metrics_url}/alertmanager", data=body()) as response:
            assert response.status == 404
        assert find(await scrape(client, running.metrics_url), "otlp_bridge_alert_notifications_total") is None


async def test_the_bridge_relays_with_its_token_files(hook: FakeOpenClaw, tmp_path: Path) -> None:
    """Configured, the scrape listener relays a notification with the hook token from its file, requires the webhook
    token, and counts the delivery on /metrics."""
    options = {
        "alert_relay_url": hook.url,
        "alert_relay_token_file": _secret(tmp_path, "hooks-token", HOOKS_TOKEN),
        "alert_webhook_token_file": _secret(tmp_path, "webhook-token", WEBHOOK_TOKEN),
        "alert_relay_channel": "last",
        "alert_relay_language": "zh-CN",
    }
    async with in_process_bridge(**options) as running, aiohttp.ClientSession() as client:
        url = f"{running.metrics_url}/alertmanager"
        async with client.post(url, data=body()) as response:
            assert response.status == 401
        async with client.post(url, data=body(), headers={"Authorization": f"Bearer {WEBHOOK_TOKEN}"}) as response:
            assert response.status == 200, await response.text()
        async with client.get(url) as response:
            assert response.status == 405
        samples = await scrape(client, running.metrics_url)
    [run] = hook.runs
    assert run.body["message"].startswith('【告警】"OpenClawHighModelErrorRate"')
    assert run.body["channel"] == "last"
    assert find(samples, "otlp_bridge_alert_notifications_total", action="agent", outcome="delivered") == 1
    assert find(samples, "otlp_bridge_alert_notifications_total", action="agent", outcome="unauthorized") == 1
    assert find(samples, "otlp_bridge_alert_last_success_timestamp_seconds", action="agent")


async def test_a_bridge_process_configured_by_environment(hook: FakeOpenClaw, tmp_path: Path) -> None:
    """The real command line: OTLP_BRIDGE_ALERT_* variables enable the relay; the log names the delivery but never
    the message or the token."""
    env = {
        "OTLP_BRIDGE_ALERT_RELAY_URL": hook.url,
        "OTLP_BRIDGE_ALERT_RELAY_TOKEN_FILE": str(_secret(tmp_path, "hooks-token", HOOKS_TOKEN)),
        "OTLP_BRIDGE_ALERT_RELAY_ACTION": "wake",
    }
    with bridge_process(env=env) as process:
        async with (
            aiohttp.ClientSession() as client,
            client.post(f"{process.metrics_url}/alertmanager", data=body()) as response,
        ):
            assert response.status == 200, await response.text()
    [run] = hook.runs
    assert run.path == "/wake"
    log = "".join(process.log_lines)
    assert '"event": "alert_delivered"' in log
    assert HOOKS_TOKEN not in log
    assert "Model errors above" not in log
