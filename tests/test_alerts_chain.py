"""The whole chain with real programs: a bridge refuses series at its cap, a real Prometheus evaluating the shipped
alert rules (examples/alert-rules.yml) fires OpenClawPrometheusSeriesDropped, a real Alertmanager with the shipped
routing (examples/alertmanager.yml, short timings) sends it to the bridge's POST /alertmanager, and the relay posts it
to an endpoint answering like OpenClaw's hook API."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from tests.alerts_support import HOOKS_TOKEN, WEBHOOK_TOKEN
from tests.conftest import REPO, require_tool
from tests.openclaw_hook import fake_openclaw
from tests.support import PROTOBUF, in_process_bridge, metrics_request, real_alertmanager, real_prometheus, sum_metric

pytestmark = pytest.mark.slow

EXAMPLES = REPO / "examples"
ARRIVAL_SECONDS = 90.0
MAX_SERIES = 3


def shipped_alertmanager_config(relay_url: str, token_file: Path) -> dict[str, Any]:
    """examples/alertmanager.yml with the relay's address, a token file here, and second-long timings."""
    config: dict[str, Any] = yaml.safe_load((EXAMPLES / "alertmanager.yml").read_text())
    for route in (config["route"], *config["route"].get("routes", [])):
        route.update({key: "1s" for key in ("group_wait", "group_interval") if key in route})
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs", []):
            assert urllib.parse.urlsplit(webhook["url"]).path == "/alertmanager"
            webhook["url"] = relay_url
            webhook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    return config


def _secret(tmp_path: Path, name: str, value: str) -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    return path


async def test_a_shipped_rule_fires_and_reaches_the_hook(tmp_path: Path) -> None:
    """OpenClawPrometheusSeriesDropped, from the bridge's own counter to an agent run with the rule's summary."""
    prometheus_binary = require_tool("prometheus")
    points = [({"openclaw.channel": "telegram", "openclaw.webhook": f"hook-{i}"}, 1.0) for i in range(10)]
    export = metrics_request(sum_metric("openclaw.webhook.received", points)).SerializeToString()
    async with fake_openclaw(HOOKS_TOKEN) as hook:
        options = {
            "max_series": MAX_SERIES,
            "alert_relay_url": hook.url,
            "alert_relay_token_file": _secret(tmp_path, "hooks-token", HOOKS_TOKEN),
            "alert_webhook_token_file": _secret(tmp_path, "webhook-token", WEBHOOK_TOKEN),
            "alert_relay_channel": "last",
        }
        async with in_process_bridge(**options) as bridge, aiohttp.ClientSession() as client:
            async with client.post(
                f"{bridge.otlp_url}/v1/metrics", data=export, headers={"Content-Type": PROTOBUF}
            ) as response:
                assert response.status == 200
            am_config = shipped_alertmanager_config(
                f"{bridge.metrics_url}/alertmanager", _secret(tmp_path, "am-token", WEBHOOK_TOKEN)
            )
            target = bridge.metrics_url.removeprefix("http://")
            async with real_alertmanager(tmp_path, am_config) as alertmanager:
                with real_prometheus(
                    prometheus_binary,
                    tmp_path,
                    [{"job_name": "otlp-bridge", "static_configs": [{"targets": [target]}]}],
                    rule_files=[str(EXAMPLES / "alert-rules.yml")],
                    alerting={
                        "alertmanagers": [{"static_configs": [{"targets": [alertmanager.removeprefix("http://")]}]}]
                    },
                ):
                    [run] = await hook.wait_for_runs(1, ARRIVAL_SECONDS)
    message = run.body["message"]
    assert message.startswith('FIRING: "OpenClawPrometheusSeriesDropped"')
    assert f'Summary: "OpenClaw series were dropped at the series cap on {target}"' in message
    assert f'instance="{target}", job="otlp-bridge"' in message
    assert run.body["deliver"] is True
    assert run.headers["Authorization"] == f"Bearer {HOOKS_TOKEN}"
    assert (
        bridge.bridge.metrics.registry.get_sample_value(
            "otlp_bridge_alert_notifications_total", {"action": "agent", "outcome": "delivered"}
        )
        == 1
    )
