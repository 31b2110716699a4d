"""The recorded OpenClaw 2026.4.29 hook answers (tests/fixtures/openclaw-hooks-2026.4.29) are complete and say
what docs/openclaw-hooks.md says they say, so a re-recording that changes the contract fails here first."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest

from tests.conftest import REPO

FOLDER = REPO / "tests" / "fixtures" / "openclaw-hooks-2026.4.29"
RECORDING: dict[str, Any] = json.loads((FOLDER / "exchanges.json").read_text(encoding="utf-8"))
CASES: dict[str, dict[str, Any]] = {case["name"]: case for case in RECORDING["cases"]}
CONTRACT_DOC = REPO / "docs" / "openclaw-hooks.md"
NO_ANSWER = 0  # what the recorder writes when the gateway closed the connection without an answer

HOOK_TOKEN = "Bearer <hooks.token>"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"

# name: (status, content type, exact body) of the short text/plain answers
PLAIN_ANSWERS: dict[str, tuple[int, str, str]] = {
    "auth_wrong_token": (401, TEXT, "Unauthorized"),
    "auth_wrong_x_openclaw_token": (401, TEXT, "Unauthorized"),
    "auth_missing_token": (401, TEXT, "Unauthorized"),
    "auth_gateway_token": (401, TEXT, "Unauthorized"),
    "auth_basic_scheme": (401, TEXT, "Unauthorized"),
    "auth_wrong_token_unknown_path": (401, TEXT, "Unauthorized"),
    "wake_wrong_token": (401, TEXT, "Unauthorized"),
    "get_agent": (405, TEXT, "Method Not Allowed"),
    "get_agent_no_token": (405, TEXT, "Method Not Allowed"),
    "put_agent": (405, TEXT, "Method Not Allowed"),
    "post_unknown_path": (404, TEXT, "Not Found"),
    "post_hooks_base": (404, TEXT, "Not Found"),
    "post_agent_trailing_slash": (404, TEXT, "Not Found"),
}

# name: the exact error of a 400 {"ok": false, "error": ...}; None: a JSON parser message (not pinned)
BAD_BODIES: dict[str, str | None] = {
    "agent_body_not_json": None,
    "agent_body_truncated_json": None,
    "wake_not_json": None,
    "agent_body_empty": "message required",
    "agent_body_json_array": "message required",
    "agent_missing_message": "message required",
    "agent_message_blank": "message required",
    "agent_message_number": "message required",
    "agent_message_object": "message required",
    "agent_channel_unknown": "channel must be last",
    "agent_channel_number": "channel must be last",
    "agent_model_blank": "model required",
    "agent_session_key_refused": (
        "sessionKey is disabled for externally supplied hook payload values; "
        "set hooks.allowRequestSessionKey=true to enable"
    ),
    "wake_missing_text": "text required",
    "wake_text_number": "text required",
    "wake_message_not_text": "text required",
}

ACCEPTED_AGENT = sorted(name for name, case in CASES.items() if case["group"] in {"accepted", "idempotency"})
WAKE_MODES = {"wake_ok_now": "now", "wake_ok_next_heartbeat": "next-heartbeat", "wake_ok_unknown_mode": "now"}


def test_every_case_is_recorded_whole() -> None:
    """Each exchange has its request, a status, headers, a body and a time; no case name is used twice."""
    assert len(CASES) == len(RECORDING["cases"]) >= 50
    for name, case in CASES.items():
        request, response = case["request"], case["response"]
        assert request["method"] in {"GET", "POST", "PUT"}, name
        assert request["path"].startswith("/hooks"), name
        assert isinstance(response["status"], int), name
        assert isinstance(response["body"], str), name
        assert isinstance(response["headers"], dict), name
        assert 0 <= response["elapsed_s"] < 120, name
        if response["status"] != NO_ANSWER:
            assert response["status_line"].startswith(f"HTTP/1.1 {response['status']} "), name
            assert int(response["headers"]["content-length"]) == len(response["body"].encode()), name


def test_the_cases_cover_the_contract() -> None:
    """The recording covers every answer the relay must be written against."""
    covered = set(PLAIN_ANSWERS) | set(BAD_BODIES) | set(ACCEPTED_AGENT) | set(WAKE_MODES)
    covered |= {"auth_query_token", "auth_query_token_with_valid_header"}
    covered |= {"agent_body_over_limit", "agent_body_over_limit_chunked"}
    assert covered == set(CASES)


@pytest.mark.parametrize("name", sorted(PLAIN_ANSWERS))
def test_plain_text_answers(name: str) -> None:
    """Auth failures are 401, wrong methods 405 (with Allow: POST), unknown paths 404: short text/plain bodies."""
    status, content_type, body = PLAIN_ANSWERS[name]
    response = CASES[name]["response"]
    assert (response["status"], response["headers"]["content-type"], response["body"]) == (status, content_type, body)
    assert ("allow" in response["headers"]) == (status == 405)
    if status == 405:
        assert response["headers"]["allow"] == "POST"


@pytest.mark.parametrize("name", ["auth_query_token", "auth_query_token_with_valid_header"])
def test_a_token_in_the_query_string_is_a_400_even_with_a_valid_header(name: str) -> None:
    """A ``?token=`` is refused before the headers are looked at."""
    response = CASES[name]["response"]
    assert response["status"] == 400
    assert response["headers"]["content-type"] == TEXT
    assert "query parameters are not allowed" in response["body"]
    assert "token=<hooks.token>" in CASES[name]["request"]["path"]


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bad_bodies_are_400_with_an_error(name: str) -> None:
    """A body the gateway cannot use is a 400 ``{"ok": false, "error": ...}`` and starts no run."""
    response = CASES[name]["response"]
    assert response["status"] == 400
    assert response["headers"]["content-type"] == JSON
    assert set(response["json"]) == {"ok", "error"}
    assert response["json"]["ok"] is False
    expected = BAD_BODIES[name]
    if expected is None:
        assert "JSON" in response["json"]["error"]
    else:
        assert response["json"]["error"] == expected


@pytest.mark.parametrize("name", ACCEPTED_AGENT)
def test_accepted_agent_hooks_answer_200_with_a_run_id(name: str) -> None:
    """An accepted /hooks/agent is a 200 ``{"ok": true, "runId": <uuid>}`` and nothing else."""
    case = CASES[name]
    assert case["request"]["path"] == "/hooks/agent"
    response = case["response"]
    assert response["status"] == 200
    assert response["headers"]["content-type"] == JSON
    assert set(response["json"]) == {"ok", "runId"}
    assert response["json"]["ok"] is True
    assert uuid.UUID(response["json"]["runId"]).version == 4


def test_accepted_hooks_start_distinct_runs_except_idempotent_replays() -> None:
    """Every accepted request has its own runId, except a replay with the same Idempotency-Key and body."""
    run_id = {name: CASES[name]["response"]["json"]["runId"] for name in ACCEPTED_AGENT}
    assert run_id["idem_repeat"] == run_id["idem_first"]
    assert run_id["idem_body_field_repeat"] == run_id["idem_first"]
    assert run_id["idem_same_key_other_body"] != run_id["idem_first"]
    assert run_id["idem_no_key_repeat"] != run_id["idem_first"]
    replays = {"idem_repeat", "idem_body_field_repeat"}
    others = [run_id[name] for name in ACCEPTED_AGENT if name not in replays]
    assert len(set(others)) == len(others)
    assert RECORDING["timing"]["agent_runs_started"] == len(others)


@pytest.mark.parametrize("name", sorted(WAKE_MODES))
def test_accepted_wake_hooks_answer_200_with_the_mode(name: str) -> None:
    """/hooks/wake answers ``{"ok": true, "mode": ...}``; an unknown mode is taken as "now"."""
    response = CASES[name]["response"]
    assert response["status"] == 200
    assert response["json"] == {"ok": True, "mode": WAKE_MODES[name]}


@pytest.mark.parametrize("name", ["agent_body_over_limit", "agent_body_over_limit_chunked"])
def test_a_body_over_max_body_bytes_gets_no_answer(name: str) -> None:
    """Over hooks.maxBodyBytes the gateway drops the connection instead of answering 413."""
    case = CASES[name]
    assert case["request"]["body_bytes"] > RECORDING["hooks_config"]["maxBodyBytes_effective"]
    assert case["response"]["status"] == NO_ANSWER
    assert case["response"]["curl_exit"] in {52, 55, 56}  # empty reply, send error, receive error
    limit = CASES["agent_ok_body_at_limit"]["request"]["body_bytes"]
    assert limit == RECORDING["hooks_config"]["maxBodyBytes_effective"] == 262144


def test_wrong_tokens_are_throttled_after_twenty_per_minute() -> None:
    """20 wrong tokens answer 401, then 429 with Retry-After; a valid token still passes and resets the count."""
    lockout = RECORDING["lockout"]
    statuses = lockout["wrong_token_statuses"]
    assert statuses == [401] * 20 + [429] * (len(statuses) - 20)
    throttled = lockout["first_throttled"]["response"]
    assert (throttled["body"], throttled["headers"]["content-type"]) == ("Too Many Requests", TEXT)
    assert 0 < int(throttled["headers"]["retry-after"]) <= 60
    assert lockout["valid_while_throttled"]["response"]["status"] == 200
    assert lockout["wrong_after_valid"]["response"]["status"] == 401


def test_the_answer_does_not_wait_for_the_run() -> None:
    """/hooks/agent answers at once; the run it starts is counted much later."""
    timing = RECORDING["timing"]
    assert timing["first_run_answer_s"] < 1.0
    assert timing["first_run_counted_after_s"] > 10 * timing["first_run_answer_s"]
    slow = CASES["agent_ok_slow_run"]["response"]  # its model call alone sleeps 12 s
    assert slow["status"] == 200
    assert slow["elapsed_s"] < 12


def test_a_hook_run_shows_in_the_gateways_own_series() -> None:
    """The hook runs are counted by the official exporter as trigger="cron" runs."""
    changed = RECORDING["series_changed"]
    runs = [k for k in changed if k.startswith("openclaw_run_completed_total{") and 'trigger="cron"' in k]
    assert runs
    assert sum(changed[k][1] - (changed[k][0] or 0) for k in runs) >= RECORDING["timing"]["agent_runs_started"]


def test_no_token_is_recorded() -> None:
    """Every credential in the recording is a placeholder."""
    text = (FOLDER / "exchanges.json").read_text(encoding="utf-8")
    assert not re.search(r"live-(hook|gw)-[0-9a-f]{8}", text)
    for case in RECORDING["cases"]:
        for name, value in case["request"]["headers"].items():
            if name.lower() in {"authorization", "x-openclaw-token"}:
                assert re.fullmatch(r"(Bearer|bearer|Basic) <[a-z.-]+>|<[a-z.-]+>", value), (case["name"], value)


def _documented_statuses() -> dict[str, str]:
    """The retry table of docs/openclaw-hooks.md: first cell (a status or "no answer") -> the relay's class."""
    section = CONTRACT_DOC.read_text(encoding="utf-8").split("## Retry classification", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    return {answer.strip().strip("`"): kind.strip() for answer, kind in rows[1:]}


def test_every_recorded_answer_is_classified_in_the_contract_doc() -> None:
    """A status the gateway gave is in the doc's retry table as transient, permanent or success."""
    table = _documented_statuses()
    assert set(table.values()) <= {"success", "transient", "permanent"}
    recorded = {case["response"]["status"] for case in RECORDING["cases"]}
    recorded |= set(RECORDING["lockout"]["wrong_token_statuses"])
    for status in recorded:
        assert ("no answer" if status == NO_ANSWER else str(status)) in table, status
    assert table["200"] == "success"
    assert table["401"] == table["400"] == table["404"] == table["405"] == "permanent"
    assert table["429"] == table["no answer"] == "transient"
