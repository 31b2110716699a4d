"""Alertmanager webhook (version 4) bodies for the relay's tests, shaped like Alertmanager 0.25 sends them."""

from __future__ import annotations

import json
from typing import Any


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
