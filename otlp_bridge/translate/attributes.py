"""OTLP ``AnyValue`` attributes → plain strings, and the privacy rules for attribute keys."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[._\-/]+")

# Words that mark content, identifiers or free text: such attributes never become labels.
_PRIVATE_WORDS = frozenset(
    {
        "content",
        "prompt",
        "response",
        "completion",
        "body",
        "text",
        "preview",
        "argv",
        "args",
        "command",
        "session",
        "conversation",
        "chat",
        "email",
        "url",
        "uri",
        "path",
        "messages",
        "stack",
        "query",
        "password",
        "secret",
        "credential",
        "authorization",
        "cookie",
    }
)
_PRIVATE_LAST_WORDS = frozenset({"id", "ids", "key", "hash", "uuid", "digest", "fingerprint", "error", "message"})
_ALLOWED_KEYS = frozenset({"openclaw.token"})  # the token *type* (input/output), not a secret


def _scalar_text(value: AnyValue, kind: str | None) -> str | None:
    """A bool, int or double as a label-ready string; None for arrays, maps and bytes (no label form)."""
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        number = float(value.double_value)
        return str(int(number)) if number.is_integer() else repr(number)
    return None


def attribute_dict(pairs: Iterable[KeyValue]) -> dict[str, str]:
    """Repeated ``KeyValue`` → ``{key: text}``; later duplicates win, values without a text form are skipped."""
    out: dict[str, str] = {}
    for pair in pairs:
        value = pair.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            out[pair.key] = value.string_value
        else:
            text = _scalar_text(value, kind)
            if text is not None:
                out[pair.key] = text
    return out


@lru_cache(maxsize=4096)
def is_private_attribute(key: str) -> bool:
    """True for keys that name content, identifiers or free text (never labels, never logged)."""
    if key in _ALLOWED_KEYS:
        return False
    words = [word.lower() for part in _SPLIT.split(key) for word in _CAMEL.split(part) if word]
    if not words:
        return True
    if words[-1] in _PRIVATE_LAST_WORDS:
        return True
    return any(word in _PRIVATE_WORDS for word in words)
