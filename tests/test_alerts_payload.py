"""Parsing Alertmanager's webhook body: the version 4 shape or a 400 naming the problem."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from otlp_bridge.alerts.payload import parse_notification
from otlp_bridge.errors import BadRequest
from tests.alerts_support import alert, body, notification


def test_a_valid_body_becomes_a_notification() -> None:
    """Every field the message and the deduplication use is read; a firing alert's zero endsAt is no time."""
    parsed = parse_notification(body(alert(), alert("OpenClawQueueDepth", "resolved", "aa")))
    assert parsed.status == "firing"
    assert parsed.external_url == "http://alertmanager:9093"
    first, second = parsed.alerts
    assert first.labels["alertname"] == "OpenClawHighModelErrorRate"
    assert first.annotations["summary"] == "Model errors above 10% for openai/gpt-5"
    assert first.starts_at == datetime.datetime(2026, 12, 6, 14, 3, 5, 500000, tzinfo=datetime.UTC)
    assert first.ends_at is None
    assert second.ends_at == datetime.datetime(2026, 12, 6, 14, 45, 15, tzinfo=datetime.UTC)
    assert (first.fingerprint, second.fingerprint) == ("5f3a9c0d1e2b4a67", "aa")


def _without(key: str) -> dict[str, Any]:
    document = notification()
    del document[key]
    return document


def _alert_with(**fields: Any) -> dict[str, Any]:
    return notification({**alert(), **fields})


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"this is not json", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (json.dumps(_without("version")).encode(), "unsupported Alertmanager webhook version None"),
        (json.dumps({**notification(), "version": "3"}).encode(), "version '3'"),
        (json.dumps({**notification(), "status": "pending"}).encode(), "status must be firing or resolved"),
        (json.dumps({**notification(), "alerts": []}).encode(), "alerts must be a non-empty list"),
        (json.dumps(_without("alerts")).encode(), "alerts must be a non-empty list"),
        (json.dumps({**notification(), "alerts": ["x"]}).encode(), "alerts[0] is not an object"),
        (json.dumps(_alert_with(status="ok")).encode(), "alerts[0].status must be firing or resolved"),
        (json.dumps(_alert_with(labels={"a": 1})).encode(), "alerts[0].labels must be an object of strings"),
        (json.dumps(_alert_with(annotations=[])).encode(), "alerts[0].annotations must be an object of strings"),
        (json.dumps(_alert_with(startsAt="yesterday")).encode(), "alerts[0].startsAt is not an RFC 3339 time"),
        (json.dumps(_alert_with(generatorURL=5)).encode(), "alerts[0].generatorURL must be a string"),
        (json.dumps({**notification(), "truncatedAlerts": -1}).encode(), "truncatedAlerts must be a non-negative"),
        (json.dumps({**notification(), "groupKey": 7}).encode(), "groupKey must be a string"),
    ],
)
def test_bad_bodies_are_400_naming_the_problem(raw: bytes, problem: str) -> None:
    """Not JSON, not an object, not version 4, or a field of the wrong type: 400 with what is wrong."""
    with pytest.raises(BadRequest) as caught:
        parse_notification(raw)
    assert caught.value.status == 400
    assert problem in caught.value.message


def test_identity_is_group_status_and_fingerprints_in_any_order() -> None:
    """Two deliveries are the same notification when group key, status and the set of fingerprints (each with its
    status) agree."""
    one = parse_notification(body(alert(fingerprint="a"), alert(fingerprint="b")))
    swapped = parse_notification(body(alert(fingerprint="b"), alert(fingerprint="a")))
    resolved = parse_notification(body(alert(fingerprint="a"), alert(fingerprint="b"), status="resolved"))
    other_group = parse_notification(body(alert(fingerprint="a"), alert(fingerprint="b"), groupKey="{}:{x}"))
    fewer = parse_notification(body(alert(fingerprint="a")))
    one_resolved = parse_notification(body(alert(fingerprint="a"), alert(status="resolved", fingerprint="b")))
    assert one_resolved.status == "firing"
    assert one.identity() == swapped.identity()
    different = (one, resolved, other_group, fewer, one_resolved)
    assert len({notification.identity() for notification in different}) == 5


def test_missing_fingerprints_come_from_the_labels() -> None:
    """Old Alertmanagers sent no fingerprint: equal label sets still give equal identities."""
    plain = {key: value for key, value in alert().items() if key != "fingerprint"}
    first, second = (parse_notification(body(plain)) for _ in range(2))
    other = parse_notification(body({**plain, "labels": {"alertname": "Other"}}))
    assert first.identity() == second.identity() != other.identity()


@given(
    st.binary(max_size=200)
    | st.recursive(
        st.none() | st.text(max_size=5), lambda c: st.lists(c) | st.dictionaries(st.text(max_size=5), c)
    ).map(lambda v: json.dumps(v).encode())
)
def test_any_body_is_a_notification_or_bad_request(raw: bytes) -> None:
    """Whatever arrives, the parser answers with a notification or a 400, never another exception."""
    try:
        parse_notification(raw)
    except BadRequest as error:
        assert error.message
