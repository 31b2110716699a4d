"""The relay end to end in-process: POST /alertmanager → OpenClaw's hook contract, and what Alertmanager hears."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from otlp_bridge.alerts.hook import MAX_HOOK_BODY_BYTES, HookTarget, Verdict, classify
from otlp_bridge.alerts.payload import MAX_BODY_BYTES
from otlp_bridge.alerts.relay import DEDUP_WINDOW_SECONDS
from tests.alerts_support import HOOKS_TOKEN, WEBHOOK_TOKEN, Clock, RelayUnderTest, alert, body, running_relay
from tests.conftest import REPO
from tests.openclaw_hook import FakeOpenClaw, fake_openclaw

EXCHANGES = REPO / "tests" / "fixtures" / "openclaw-hooks-2026.4.29" / "exchanges.json"


@pytest.fixture(name="hook")
async def _hook() -> AsyncIterator[FakeOpenClaw]:
    async with fake_openclaw(HOOKS_TOKEN) as fake:
        yield fake


@pytest.fixture(name="session")
async def _session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture(name="relay")
async def _relay(hook: FakeOpenClaw, tmp_path: Path) -> AsyncIterator[RelayUnderTest]:
    async with running_relay(HookTarget(hook.url, channel="last", to="oc_ops", agent_id="main"), tmp_path) as relay:
        yield relay


async def send(session: aiohttp.ClientSession, url: str, data: bytes, **headers: str) -> tuple[int, str]:
    async with session.post(url, data=data, headers={"Content-Type": "application/json", **headers}) as response:
        return response.status, await response.text()


# -- the fake answers like the recorded gateway -------------------------------------------------------------------


def _recorded_cases() -> list[dict[str, Any]]:
    cases = json.loads(EXCHANGES.read_text())["cases"]
    return [case for case in cases if case["group"] != "idempotency" and case["response"]["status"]]


@pytest.mark.parametrize("case", _recorded_cases(), ids=lambda case: case["name"])
async def test_the_fake_gateway_answers_like_the_recorded_one(case: dict[str, Any], hook: FakeOpenClaw) -> None:
    """Every recorded exchange (padding restored to its size) gets the recorded status and JSON error from the fake
    this file's relay tests run against."""
    request = case["request"]
    headers = {
        name: value.replace("<hooks.token>", HOOKS_TOKEN).replace("<wrong-token>", "nope")
        for name, value in request["headers"].items()
        if name.lower() != "transfer-encoding"
    }
    headers = {name: value.replace("<gateway.auth.token>", "gateway-token") for name, value in headers.items()}
    raw = request.get("body")
    data = raw.encode() if isinstance(raw, str) else b"" if raw is None else json.dumps(raw).encode()
    if isinstance(raw, dict) and isinstance(raw.get("padding"), str) and raw["padding"].startswith("<"):
        base = len(json.dumps({**raw, "padding": ""}).encode())
        data = json.dumps({**raw, "padding": "x" * (request["body_bytes"] - base)}).encode()
        assert len(data) == request["body_bytes"]
    path = request["path"].replace("<hooks.token>", HOOKS_TOKEN)
    async with (
        aiohttp.ClientSession() as client,
        client.request(request["method"], hook.url.removesuffix("/hooks") + path, data=data, headers=headers) as got,
    ):
        text = await got.text()
    expected = case["response"]
    assert got.status == expected["status"]
    if isinstance(expected.get("json"), dict) and "error" in expected["json"] and got.status == 400:
        message = expected["json"]["error"]
        if not message.startswith(("Unexpected token", "Unterminated")):  # JavaScript's JSON.parse words
            assert json.loads(text)["error"].startswith(message.split(" (")[0][:20])


async def test_the_fake_drops_an_oversized_body_without_an_answer(hook: FakeOpenClaw) -> None:
    """One byte over hooks.maxBodyBytes and the recorded gateway closed the connection: so does the fake."""
    data = json.dumps({"message": "x", "padding": "x" * MAX_HOOK_BODY_BYTES}).encode()
    async with aiohttp.ClientSession() as client:
        with pytest.raises(aiohttp.ClientError):
            async with client.post(
                hook.url + "/agent", data=data, headers={"Authorization": f"Bearer {HOOKS_TOKEN}"}
            ) as response:
                await response.read()


# -- delivery -------------------------------------------------------------------------------------------------


async def test_a_notification_becomes_one_agent_run_with_deliver_true(
    relay: RelayUnderTest, hook: FakeOpenClaw, session: aiohttp.ClientSession
) -> None:
    """Bearer token, /agent, deliver true, the routing fields, an idempotency key, and a 200 only after OpenClaw's."""
    status, text = await send(session, relay.url, body())
    assert (status, text) == (200, "delivered to OpenClaw\n")
    [run] = hook.runs
    assert run.path == "/agent"
    assert run.headers["Authorization"] == f"Bearer {HOOKS_TOKEN}"
    assert run.body["deliver"] is True
    assert (run.body["channel"], run.body["to"], run.body["agentId"], run.body["name"]) == (
        "last",
        "oc_ops",
        "main",
        "Alertmanager",
    )
    assert run.body["message"].startswith('FIRING: "OpenClawHighModelErrorRate"')
    assert '"Model errors above 10% for openai/gpt-5"' in run.body["message"]
    assert len(run.headers["Idempotency-Key"]) == 64
    assert relay.count("delivered") == 1
    assert relay.registry.get_sample_value(
        "otlp_bridge_alert_last_success_timestamp_seconds", {"action": "agent"}
    ) == pytest.approx(Clock().now)
    assert (
        relay.registry.get_sample_value("otlp_bridge_alert_delivery_duration_seconds_count", {"action": "agent"}) == 1
    )


async def test_a_retry_of_an_accepted_notification_is_not_delivered_twice(
    relay: RelayUnderTest, hook: FakeOpenClaw, session: aiohttp.ClientSession
) -> None:
    """Alertmanager resending what OpenClaw already accepted gets a 200 and no second run; the resolved one is new."""
    for _ in range(3):
        assert (await send(session, relay.url, body()))[0] == 200
    assert len(hook.runs) == 1
    assert hook.requests == 1
    assert relay.count("duplicate") == 2
    assert (await send(session, relay.url, body(alert(status="resolved"))))[0] == 200
    assert len(hook.runs) == 2
    assert hook.runs[1].body["message"].startswith('RESOLVED: "OpenClawHighModelErrorRate"')


async def test_concurrent_retries_deliver_once(hook: FakeOpenClaw, tmp_path: Path) -> None:
    """A retry that arrives while the first attempt still waits for OpenClaw waits for its verdict."""
    hook.delay = 0.3
    async with running_relay(HookTarget(hook.url), tmp_path) as relay, aiohttp.ClientSession() as client:
        answers = await asyncio.gather(*(send(client, relay.url, body()) for _ in range(4)))
    assert [status for status, _ in answers] == [200] * 4
    assert len(hook.runs) == 1
    assert (relay.count("delivered"), relay.count("duplicate")) == (1, 3)


async def test_after_the_window_the_same_notification_is_delivered_again(hook: FakeOpenClaw, tmp_path: Path) -> None:
    """A repeat after repeat_interval (longer than the window) is a reminder and goes out again."""
    clock = hook.clock = Clock()
    async with running_relay(HookTarget(hook.url), tmp_path, clock=clock) as relay, aiohttp.ClientSession() as client:
        await send(client, relay.url, body())
        clock.now += DEDUP_WINDOW_SECONDS + 1
        await send(client, relay.url, body())
    assert len(hook.runs) == 2
    assert hook.runs[0].headers["Idempotency-Key"] == hook.runs[1].headers["Idempotency-Key"]


async def test_wake_posts_the_text_to_the_main_session(hook: FakeOpenClaw, tmp_path: Path) -> None:
    """--alert-relay-action wake: POST /wake {text, mode: now}, counted under action wake."""
    async with running_relay(HookTarget(hook.url, action="wake"), tmp_path) as relay, aiohttp.ClientSession() as client:
        assert (await send(client, relay.url, body()))[0] == 200
    [run] = hook.runs
    assert run.path == "/wake"
    assert run.body["mode"] == "now"
    assert run.body["text"].startswith('FIRING: "OpenClawHighModelErrorRate"')
    assert relay.count("delivered", action="wake") == 1


@pytest.mark.parametrize(
    ("fail", "status", "outcome", "cause"),
    [
        (503, 502, "retry", "http_503"),
        (500, 502, "retry", "http_500"),
        (429, 502, "retry", "http_429"),
        (400, 422, "rejected", "http_400"),
        (403, 422, "rejected", "http_403"),
        (413, 422, "rejected", "http_413"),
    ],
)
async def test_failures_tell_alertmanager_whether_to_retry(
    fail: int, status: int, outcome: str, cause: str, hook: FakeOpenClaw, relay: RelayUnderTest
) -> None:
    """Transient answers become a 5xx (Alertmanager retries), permanent ones a 4xx with the reason; once OpenClaw
    accepts, the same notification is delivered."""
    hook.fail = [fail, fail]
    async with aiohttp.ClientSession() as client:
        first = await send(client, relay.url, body())
        second = await send(client, relay.url, body())
        third = await send(client, relay.url, body())
    assert first[0] == second[0] == status
    assert f"HTTP {fail}" in first[1]
    assert third[0] == 200
    assert len(hook.runs) == 1
    assert relay.count(outcome) == 2
    assert (
        relay.registry.get_sample_value(
            "otlp_bridge_alert_delivery_failures_total", {"action": "agent", "cause": cause}
        )
        == 2
    )
    assert [entry["cause"] for entry in relay.events("alert_delivery_failed")] == [cause]  # once per cause


async def test_a_wrong_hook_token_is_permanent_and_logged_once(hook: FakeOpenClaw, tmp_path: Path) -> None:
    """OpenClaw's 401: a 4xx naming the token file, one log line for any number of notifications."""
    hook.token = "rotated"
    async with running_relay(HookTarget(hook.url), tmp_path) as relay, aiohttp.ClientSession() as client:
        answers = [await send(client, relay.url, body(alert(fingerprint=str(n)))) for n in range(3)]
    assert {status for status, _ in answers} == {422}
    assert "--alert-relay-token-file" in answers[0][1]
    [line] = relay.events("alert_delivery_failed")
    assert (line["cause"], line["verdict"], line["level"]) == ("http_401", "permanent", "warning")
    assert relay.count("rejected") == 3
    assert HOOKS_TOKEN not in json.dumps(relay.logs)


async def test_an_unreachable_gateway_is_transient(tmp_path: Path) -> None:
    """Connection refused: 502, Alertmanager retries."""
    async with fake_openclaw() as gone:
        url = gone.url
    async with running_relay(HookTarget(url), tmp_path) as relay, aiohttp.ClientSession() as client:
        status, text = await send(client, relay.url, body())
    assert status == 502
    assert "ClientConnectorError" in text
    assert relay.count("retry") == 1


async def test_a_gateway_that_does_not_answer_in_time_is_a_timeout(hook: FakeOpenClaw, tmp_path: Path) -> None:
    """No answer within the timeout: 504, and the retry carries the same key and body (the gateway may have
    accepted the first after all, and then answers the retry with the same run)."""
    hook.delay = 0.5
    async with running_relay(HookTarget(hook.url, timeout=0.2), tmp_path) as relay, aiohttp.ClientSession() as client:
        status, text = await send(client, relay.url, body())
        await asyncio.sleep(0.5)
        hook.delay = 0
        retried = await send(client, relay.url, body())
    assert status == 504
    assert "no answer within 0.2 s" in text
    assert retried[0] == 200
    assert relay.count("retry") == 1


def test_classification_of_every_recorded_and_documented_status() -> None:
    """docs/openclaw-hooks.md § Retry classification, row by row."""
    table = {
        200: Verdict.ACCEPTED,
        400: Verdict.PERMANENT,
        401: Verdict.PERMANENT,
        403: Verdict.PERMANENT,
        404: Verdict.PERMANENT,
        405: Verdict.PERMANENT,
        408: Verdict.TRANSIENT,
        413: Verdict.PERMANENT,
        429: Verdict.TRANSIENT,
        500: Verdict.TRANSIENT,
        502: Verdict.TRANSIENT,
        503: Verdict.TRANSIENT,
    }
    assert {status: classify(status) for status in table} == table


# -- what Alertmanager may send -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status", "outcome", "problem"),
    [
        (b"{not json", 400, "bad_request", "body is not JSON"),
        (json.dumps({"version": "4", "status": "firing"}).encode(), 400, "bad_request", "alerts must be"),
        (json.dumps({"receiver": "x"}).encode(), 400, "bad_request", "webhook version"),
        (b"{" + b" " * MAX_BODY_BYTES + b"}", 413, "too_large", f"exceeds {MAX_BODY_BYTES} bytes"),
    ],
    ids=["not-json", "no-alerts", "not-v4", "oversized"],
)
async def test_bad_input_is_refused_and_nothing_reaches_openclaw(
    data: bytes, status: int, outcome: str, problem: str, relay: RelayUnderTest, hook: FakeOpenClaw
) -> None:
    """Not JSON, not the v4 shape, oversized: 400/413 with the reason, counted, and no hook request at all."""
    async with aiohttp.ClientSession() as client:
        got = await send(client, relay.url, data)
    assert got[0] == status
    assert problem in got[1]
    assert hook.requests == 0
    assert relay.count(outcome) == 1


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer wrong"}, 403), ({"Authorization": "Basic " + WEBHOOK_TOKEN}, 401)],
)
async def test_the_webhook_token_is_required_when_configured(
    headers: dict[str, str], status: int, hook: FakeOpenClaw, tmp_path: Path
) -> None:
    """--alert-webhook-token-file: missing → 401, wrong → 403, right → delivered."""
    async with (
        running_relay(HookTarget(hook.url), tmp_path, webhook_token=True) as relay,
        aiohttp.ClientSession() as client,
    ):
        refused = await send(client, relay.url, body(), **headers)
        accepted = await send(client, relay.url, body(), Authorization=f"Bearer {WEBHOOK_TOKEN}")
    assert refused[0] == status
    assert accepted[0] == 200
    assert len(hook.runs) == 1


async def test_an_idempotent_replay_after_a_relay_restart_is_one_run(hook: FakeOpenClaw, tmp_path: Path) -> None:
    """A relay that restarted has forgotten what it delivered; the gateway's idempotency cache (same key, same
    message) still makes the resend the same run."""
    for _ in range(2):
        async with running_relay(HookTarget(hook.url), tmp_path) as relay, aiohttp.ClientSession() as client:
            assert (await send(client, relay.url, body()))[0] == 200
    assert hook.requests == 2
    assert len(hook.runs) == 1
    assert uuid.UUID(hook.runs[0].run_id)
