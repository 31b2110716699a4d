"""Alertmanager's webhook body (version 4) as frozen values; anything else is an error that carries its status."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from otlp_bridge.errors import BadRequest

MAX_BODY_BYTES = 4 * 1024 * 1024  # Alertmanager sends a few KiB per alert; a group of 1000 alerts stays well below
STATUSES = ("firing", "resolved")
_ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert that is still firing


@dataclasses.dataclass(frozen=True, slots=True)
class Alert:
    status: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime.datetime | None
    ends_at: datetime.datetime | None
    generator_url: str
    fingerprint: str


@dataclasses.dataclass(frozen=True, slots=True)
class Notification:
    receiver: str
    status: str
    alerts: tuple[Alert, ...]
    group_labels: Mapping[str, str]
    common_labels: Mapping[str, str]
    common_annotations: Mapping[str, str]
    external_url: str
    group_key: str
    truncated_alerts: int

    def identity(self) -> str:
        """What makes two deliveries the same notification: group key, status and the alerts' fingerprints, each with
        its own status (one alert of a firing group resolving is news)."""
        digest = hashlib.sha256()
        alerts = sorted(f"{alert.fingerprint}:{alert.status}" for alert in self.alerts)
        for part in (self.group_key, self.status, *alerts):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()


def parse_notification(body: bytes) -> Notification:
    """Decode and validate one webhook body; raises ``BadRequest`` naming the first problem."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"body is not JSON: {exc}"
        raise BadRequest(msg) from None
    if not isinstance(document, dict):
        msg = "body is not an Alertmanager webhook payload: expected a JSON object"
        raise BadRequest(msg)
    version = document.get("version")
    if version != "4":
        msg = f"unsupported Alertmanager webhook version {version!r}: expected '4'"
        raise BadRequest(msg)
    status = _string(document, "status", "")
    if status not in STATUSES:
        msg = f"status must be firing or resolved, got {status!r}"
        raise BadRequest(msg)
    raw_alerts = document.get("alerts")
    if not isinstance(raw_alerts, list) or not raw_alerts:
        msg = "alerts must be a non-empty list"
        raise BadRequest(msg)
    alerts = tuple(_alert(raw, index) for index, raw in enumerate(raw_alerts))
    truncated = document.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        msg = "truncatedAlerts must be a non-negative integer"
        raise BadRequest(msg)
    return Notification(
        receiver=_string(document, "receiver", ""),
        status=status,
        alerts=alerts,
        group_labels=_strings(document, "groupLabels"),
        common_labels=_strings(document, "commonLabels"),
        common_annotations=_strings(document, "commonAnnotations"),
        external_url=_string(document, "externalURL", ""),
        group_key=_string(document, "groupKey", ""),
        truncated_alerts=truncated,
    )


def _alert(raw: Any, index: int) -> Alert:
    where = f"alerts[{index}]"
    if not isinstance(raw, dict):
        msg = f"{where} is not an object"
        raise BadRequest(msg)
    status = _string(raw, "status", "", where)
    if status not in STATUSES:
        msg = f"{where}.status must be firing or resolved, got {status!r}"
        raise BadRequest(msg)
    labels = _strings(raw, "labels", where)
    fingerprint = _string(raw, "fingerprint", "", where) or _fingerprint(labels)
    return Alert(
        status=status,
        labels=labels,
        annotations=_strings(raw, "annotations", where),
        starts_at=_time(raw, "startsAt", where),
        ends_at=_time(raw, "endsAt", where),
        generator_url=_string(raw, "generatorURL", "", where),
        fingerprint=fingerprint,
    )


def _string(document: Mapping[str, Any], key: str, default: str, where: str = "") -> str:
    value = document.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        msg = f"{where + '.' if where else ''}{key} must be a string"
        raise BadRequest(msg)
    return value


def _strings(document: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, str]:
    value = document.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        msg = f"{where + '.' if where else ''}{key} must be an object of strings"
        raise BadRequest(msg)
    return dict(value)


def _time(document: Mapping[str, Any], key: str, where: str) -> datetime.datetime | None:
    text = _string(document, key, "", where)
    if not text or text == _ZERO_TIME:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        msg = f"{where}.{key} is not an RFC 3339 time: {text[:40]!r}"
        raise BadRequest(msg) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return None if moment.year <= 1 else moment.astimezone(datetime.UTC)


def _fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager before 0.19 sent no fingerprint: the sorted label set identifies the alert as well."""
    joined = "\0".join(f"{name}\0{value}" for name, value in sorted(labels.items()))
    return hashlib.sha256(joined.encode()).hexdigest()[:16]
