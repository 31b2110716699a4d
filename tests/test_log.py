"""Logging: one structured event per OTLP request, and never a token or payload content."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp

from tests.otlp import metrics_request, sum_metric
from tests.support import bridge_process

SECRET = "s3cr3t-ingest-token-value"
CONTENT = "please summarise my private diary"


async def _send(url: str, headers: dict[str, str]) -> int:
    body = metrics_request(
        sum_metric(
            "openclaw.tokens",
            [({"openclaw.channel": "webchat", "openclaw.token": "input", "openclaw.content.prompt": CONTENT}, 3.0)],
        )
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url + "/v1/metrics",
            data=body.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf", **headers},
        ) as response,
    ):
        return response.status


def _wait_for(lines: list[str], count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        events = [json.loads(line) for line in lines if '"otlp_request"' in line]
        if len(events) >= count:
            return events
        time.sleep(0.05)
    raise AssertionError("no otlp_request log events: " + "".join(lines))


async def test_one_json_event_per_request_without_secrets(tmp_path: Path) -> None:
    """Each OTLP request logs one JSON event with signal, status, outcome, points, bytes, duration and peer; the
    token, the header value and attribute contents appear in no log line."""
    token = tmp_path / "token"
    token.write_text(SECRET + "\n")
    with bridge_process("--ingest-token-file", str(token), "--ingest-token-header", "x-collector-token") as bridge:
        assert await _send(bridge.otlp_url, {"x-collector-token": SECRET}) == 200
        assert await _send(bridge.otlp_url, {"x-collector-token": "wrong-" + SECRET}) == 403
        events = _wait_for(bridge.log_lines, 2)
        lines = list(bridge.log_lines)
    ok, forbidden = events[0], events[1]
    assert {
        "signal",
        "status",
        "outcome",
        "points",
        "rejected",
        "bytes",
        "duration_ms",
        "peer",
        "level",
        "timestamp",
    } <= ok.keys()
    assert (ok["signal"], ok["status"], ok["outcome"], ok["points"]) == ("metrics", 200, "ok", 1)
    assert isinstance(ok["bytes"], int) and ok["bytes"] > 0
    assert (forbidden["status"], forbidden["outcome"]) == (403, "forbidden")
    for line in lines:
        assert SECRET not in line
        assert CONTENT not in line


async def test_console_format() -> None:
    """--log-format console writes readable lines, not JSON."""
    with bridge_process("--log-format", "console") as bridge:
        assert await _send(bridge.otlp_url, {}) == 200
        deadline = time.monotonic() + 10
        while not any("otlp_request" in line for line in bridge.log_lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = [line for line in bridge.log_lines if "otlp_request" in line]
    assert lines
    assert not lines[0].lstrip().startswith("{")
    assert "status=200" in lines[0]
