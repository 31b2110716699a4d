"""Logging: levels with meaning (accepted requests at debug, refusals and drops at warning, throttled), a start line
that says what is on, and never a token or payload content."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from otlp_bridge import __version__
from otlp_bridge.log import Throttle
from tests.support import bridge_process, find, in_process_bridge, metrics_request, scrape, sum_metric, tokens_request

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
    """At --log-level debug each OTLP request logs one JSON event with signal, status, outcome, points, bytes,
    duration and peer (accepted at debug, refused at warning); the token, the header value and attribute contents
    appear in no log line."""
    token = tmp_path / "token"
    token.write_text(SECRET + "\n")
    options = ("--ingest-token-file", str(token), "--ingest-token-header", "x-collector-token", "--log-level", "debug")
    with bridge_process(*options) as bridge:
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
    assert ok["level"] == "debug"
    assert (forbidden["status"], forbidden["outcome"], forbidden["level"]) == (403, "forbidden", "warning")
    assert forbidden["message"] == "invalid credentials"
    for line in lines:
        assert SECRET not in line
        assert CONTENT not in line


async def test_console_format() -> None:
    """--log-format console writes readable lines, not JSON."""
    with bridge_process("--log-format", "console", "--log-level", "debug") as bridge:
        assert await _send(bridge.otlp_url, {}) == 200
        deadline = time.monotonic() + 10
        while not any("otlp_request" in line for line in bridge.log_lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        lines = [line for line in bridge.log_lines if "otlp_request" in line]
    assert lines
    assert not lines[0].lstrip().startswith("{")
    assert "status=200" in lines[0]


def test_the_start_line_says_what_is_on_and_an_open_listener_is_warned_about() -> None:
    """The start line carries the version, the listeners, auth, prefix, spans_complete, source label and the
    effective caps; an OTLP listener beyond loopback without a token gets a warning, a loopback one does not."""
    wanted = {"version", "otlp", "metrics", "ingest_auth", "scrape_auth", "tls", "metric_name_prefix", "spans_complete"}
    wanted |= {"source_label", "max_series", "max_series_per_family", "max_streams", "series_ttl"}
    with bridge_process("--otlp-listen", "0.0.0.0:0", "--max-series", "77", "--metric-name-prefix", "acme.") as bridge:
        deadline = time.monotonic() + 10
        while not any('"ingest_open"' in line for line in bridge.log_lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        events = {event["event"]: event for event in map(json.loads, bridge.log_lines)}
    start = events["listening"]
    assert wanted <= start.keys()
    assert (start["version"], start["ingest_auth"], start["scrape_auth"]) == (__version__, False, False)
    assert (start["metric_name_prefix"], start["max_series"]) == ("acme.", 77)
    assert events["ingest_open"]["level"] == "warning"
    with bridge_process() as bridge:
        time.sleep(0.3)
        assert not any("ingest_open" in line for line in bridge.log_lines)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ([0.0], [0]),
        ([0.0, 1.0, 2.0], [0, None, None]),
        ([0.0, 1.0, 2.0, 10.0], [0, None, None, 2]),
        ([0.0, 10.0, 10.5, 25.0], [0, 0, None, 1]),
    ],
)
def test_throttle_lets_one_line_per_cause_through_and_counts_the_rest(
    times: list[float], expected: list[int | None]
) -> None:
    throttle = Throttle(interval=10.0)
    assert [throttle.allow("cause", now) for now in times] == expected
    assert throttle.allow("another cause", times[-1]) == 0


async def test_refusals_and_drops_are_warnings_and_a_flood_is_throttled(tmp_path: Path) -> None:
    """A flood of 403s gives one warning line, a cap drop one with its reasons, a wrong scrape token one
    scrape_refused line and a count; accepted requests log nothing at the default level (one debug line each at
    ``--log-level debug``: ``test_one_json_event_per_request_without_secrets``)."""
    token = tmp_path / "token"
    token.write_text(SECRET)
    async with (
        in_process_bridge(max_series=1, ingest_token_file=token, scrape_token_file=token) as bridge,
        aiohttp.ClientSession() as session,
    ):
        auth = {"Authorization": f"Bearer {SECRET}"}
        with capture_logs() as logs:
            for _ in range(30):
                assert await _send(bridge.otlp_url, {"Authorization": "Bearer wrong"}) == 403
            assert await _send(bridge.otlp_url, auth) == 200
            body = tokens_request({"input": 1, "output": 2}, service_name="other").SerializeToString()
            headers = {"Content-Type": "application/x-protobuf", **auth}
            async with session.post(bridge.otlp_url + "/v1/metrics", data=body, headers=headers) as response:
                assert response.status == 200
            for _ in range(5):
                async with session.get(bridge.metrics_url + "/metrics", headers={"Authorization": "Bearer x"}) as r:
                    assert r.status == 403
            samples = await scrape(session, bridge.metrics_url, SECRET)
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    forbidden = [
        entry for entry in warnings if entry.get("outcome") == "forbidden" and entry["event"] == "otlp_request"
    ]
    assert len(forbidden) == 1
    (partial,) = [entry for entry in warnings if entry.get("outcome") == "partial"]
    assert partial["reasons"] == {"series_cap": 2}
    (refused,) = [entry for entry in warnings if entry["event"] == "scrape_refused"]
    assert (refused["status"], refused["path"]) == (403, "/metrics")
    assert [entry for entry in logs if entry.get("outcome") == "ok"] == []
    assert find(samples, "otlp_bridge_scrape_requests_total", outcome="forbidden") == 5
    assert find(samples, "otlp_bridge_scrape_requests_total", outcome="ok") == 1
    assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="forbidden") == 30
