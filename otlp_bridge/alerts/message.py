"""The text a person reads: a Jinja2 template over a sanitised view of the notification.

Every string that came from a sender (label and annotation values, URLs) is stripped of control characters, capped
and printed as a quoted JSON string by the environment's ``finalize``, so a template cannot forget to escape it and
the agent turn can tell data from instructions. Text the relay computes itself is ``Trusted`` and printed as is.
Nothing depends on the wall clock: a retry renders the same bytes (OpenClaw's idempotency compares the message).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from otlp_bridge.alerts.payload import Alert, Notification
from otlp_bridge.config import Config
from otlp_bridge.errors import ConfigError

# Units of a duration (days, hours, minutes, seconds) and what joins them, per built-in language
# (config.ALERT_RELAY_LANGUAGES).
_DURATION_UNITS = {"en": (("d", "h", "m", "s"), " "), "zh-CN": (("天", "小时", "分", "秒"), "")}
MAX_MESSAGE_CHARS = 4000
MAX_LISTED_ALERTS = 5
MAX_LABELS = 8
LABEL_VALUE_CHARS = 120
ANNOTATION_CHARS = 600
URL_CHARS = 400
# Shown first, in this order; the rest follow by name. alertname and severity have their own places.
IMPORTANT_LABELS = ("instance", "source", "job", "lane", "provider", "model", "channel", "agent")
_OWN_PLACES = frozenset({"alertname", "severity"})
_LABEL_NAME = re.compile(r"[^A-Za-z0-9_.:-]")


class Trusted(str):
    """Text the relay wrote itself: printed without quoting."""

    __slots__ = ()


def clean(value: str, limit: int) -> str:
    """A sender value made safe to show: no control or format characters (newlines become spaces), at most
    ``limit`` characters (the cut marked with an ellipsis)."""
    text = "".join(
        " " if char in "\n\r\t" else char for char in value if char in "\n\r\t" or unicodedata.category(char)[0] != "C"
    ).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(value: str) -> str:
    """A sender value as a quoted JSON string: its quotes and backslashes escaped, so it cannot end the quote."""
    return json.dumps(value, ensure_ascii=False)


def _finalize(value: Any) -> Any:
    """What ``{{ }}`` prints: nothing for a missing value, numbers and ``Trusted`` text as they are, anything else
    (a sender's string, or a whole list or mapping of them) as one quoted string."""
    if isinstance(value, jinja2.Undefined) or value is None:
        return ""
    if isinstance(value, Trusted | int | float):
        return value
    return quote(value if isinstance(value, str) else str(value))


@dataclasses.dataclass(frozen=True, slots=True)
class AlertView:
    status: str
    name: str
    severity: str
    summary: str
    description: str
    labels: tuple[tuple[Trusted, str], ...]
    starts: Trusted
    ends: Trusted
    duration: Trusted
    link: str


def _when(moment: datetime.datetime | None) -> Trusted:
    return Trusted(moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "")


def _duration(alert: Alert, language: str) -> Trusted:
    """How long a resolved alert fired, in its two largest units (from startsAt and endsAt, never the clock)."""
    if alert.starts_at is None or alert.ends_at is None or alert.ends_at < alert.starts_at:
        return Trusted("")
    units, joiner = _DURATION_UNITS[language]
    days, rest = divmod(int((alert.ends_at - alert.starts_at).total_seconds()), 86400)
    hours, rest = divmod(rest, 3600)
    amounts = (days, hours, *divmod(rest, 60))
    parts = [f"{amount}{unit}" for amount, unit in zip(amounts, units, strict=True) if amount]
    return Trusted(joiner.join(parts[:2]) or f"0{units[-1]}")


def _link(url: str) -> str:
    url = clean(url, URL_CHARS)
    return url if url.startswith(("http://", "https://")) else ""


def _labels(labels: Mapping[str, str]) -> tuple[tuple[Trusted, str], ...]:
    rest = sorted(name for name in labels if name not in IMPORTANT_LABELS and name not in _OWN_PLACES)
    names = [name for name in IMPORTANT_LABELS if name in labels] + rest
    return tuple(
        (Trusted(_LABEL_NAME.sub("_", name)[:64]), clean(labels[name], LABEL_VALUE_CHARS))
        for name in names[:MAX_LABELS]
    )


def view(alert: Alert, language: str = "en") -> AlertView:
    return AlertView(
        status=alert.status,
        name=clean(alert.labels.get("alertname", ""), LABEL_VALUE_CHARS),
        severity=clean(alert.labels.get("severity", ""), LABEL_VALUE_CHARS),
        summary=clean(alert.annotations.get("summary", ""), ANNOTATION_CHARS),
        description=clean(alert.annotations.get("description", ""), ANNOTATION_CHARS),
        labels=_labels(alert.labels),
        starts=_when(alert.starts_at),
        ends=_when(alert.ends_at),
        duration=_duration(alert, language),
        link=_link(alert.generator_url),
    )


def context(notification: Notification, language: str = "en") -> dict[str, Any]:
    """What a template sees (README lists it). Firing alerts come first; the first few are listed."""
    ordered = sorted(notification.alerts, key=lambda alert: alert.status != "firing")
    firing = sum(alert.status == "firing" for alert in ordered)
    return {
        "status": Trusted(notification.status),
        "firing": firing,
        "resolved": len(ordered) - firing,
        "total": len(ordered) + notification.truncated_alerts,
        "alerts": [view(alert, language) for alert in ordered[:MAX_LISTED_ALERTS]],
        "more": len(ordered) - min(len(ordered), MAX_LISTED_ALERTS) + notification.truncated_alerts,
        "common_labels": {name: clean(value, LABEL_VALUE_CHARS) for name, value in notification.common_labels.items()},
        "receiver": clean(notification.receiver, LABEL_VALUE_CHARS),
        "external_url": _link(notification.external_url),
    }


class TemplateError(Exception):
    """A template that does not compile, or fails on a notification."""


class MessageRenderer:
    """Renders notifications with one template; a failing user template falls back to the built-in one."""

    def __init__(self, language: str = "en", template_file: Path | None = None) -> None:
        if language not in _DURATION_UNITS:
            msg = f"no built-in template for language {language!r}"
            raise TemplateError(msg)
        self.language = language
        self.builtin = _compile(resources.files(__package__).joinpath(f"templates/{language}.j2").read_text("utf-8"))
        self.template = self.builtin
        if template_file is not None:
            try:
                self.template = _compile(template_file.read_text("utf-8"))
            except (OSError, UnicodeDecodeError, jinja2.TemplateError) as exc:
                msg = f"template {template_file}: {exc}"
                raise TemplateError(msg) from None

    def render(self, notification: Notification, on_error: Callable[[Exception], None] | None = None) -> str:
        """The message, at most ``MAX_MESSAGE_CHARS`` characters."""
        values = context(notification, self.language)
        try:
            text = self.template.render(values)
        except Exception as exc:  # a user template may fail on one payload; the alert must still go out
            if self.template is self.builtin:
                raise
            if on_error is not None:
                on_error(exc)
            text = self.builtin.render(values)
        return bounded(text.strip())


def check_template(config: Config) -> None:
    """With the relay on, the message template must compile (the built-in one of the language when no file is given,
    or when the file is not on this machine for --check-config); a ``ConfigError`` names the file otherwise."""
    if config.alert_relay_url is None:
        return
    template = config.alert_relay_template
    try:
        MessageRenderer(config.alert_relay_language, template if template and template.exists() else None)
    except TemplateError as exc:
        msg = f"--alert-relay-template: {exc}"
        raise ConfigError(msg) from None


def bounded(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    marker = f"\n… (cut at {MAX_MESSAGE_CHARS} characters)"
    return text[: MAX_MESSAGE_CHARS - len(marker)].rstrip() + marker


def _compile(source: str) -> jinja2.Template:
    environment = ImmutableSandboxedEnvironment(
        autoescape=False,  # plain text for a chat; sender values are quoted by _finalize instead
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        undefined=jinja2.ChainableUndefined,
    )
    return environment.from_string(source)
