"""OpenClaw's label normaliser, re-implemented (``normalizeDiagnosticValue`` / ``normalizeDiagnosticLane``).

Every translated label value passes through here, so a value that reaches the exposition always matches
``^[A-Za-z0-9_.:-]{1,120}$`` and is never a session key.
"""

from __future__ import annotations

import re
from functools import lru_cache

LABEL_VALUE_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,120}$")
_VALID = LABEL_VALUE_PATTERN.match


@lru_cache(maxsize=8192)
def normalize_value(value: str, fallback: str = "unknown") -> str:
    """``normalized_value``, cached (a fleet's label values repeat)."""
    return normalized_value(value, fallback)


def normalized_value(value: str, fallback: str = "unknown") -> str:
    """Return ``value`` when it is a safe low-cardinality label value, else ``fallback``. Uncached: for values each
    normalised once (a sender's source, which the translator keeps)."""
    text = value.strip()
    if not text:
        return fallback
    lowered = text.lower()
    if lowered.startswith("agent:") or ":agent:" in lowered:
        return fallback
    return text if _VALID(text) else fallback


@lru_cache(maxsize=8192)
def normalize_lane(value: str, fallback: str = "unknown") -> str:
    """Lanes keep the text before the first ``:`` (``session:agent:main:…`` → ``session``)."""
    text = value.strip()
    if text.lower().startswith("agent:"):
        return fallback
    head = text.split(":", 1)[0]
    return normalize_value(head, fallback)


_LABEL_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_]")


@lru_cache(maxsize=4096)
def sanitize_label_name(key: str) -> str | None:
    """OTLP attribute key → Prometheus label name by Prometheus's rules: every character outside
    ``[a-zA-Z0-9_]`` → ``_``; a leading digit gets ``key_`` and a leading ``_`` gets ``key``. None for a key
    that leaves only underscores (no label). One deviation: Prometheus keeps a leading ``__``, its reserved
    prefix; the bridge gives it ``key`` too, so that no sender can write ``__name__``."""
    name = _LABEL_NAME_INVALID.sub("_", key)
    if not name.strip("_"):
        return None
    if name[0].isdigit():
        return "key_" + name
    return "key" + name if name[0] == "_" else name


@lru_cache(maxsize=65536)
def label_pair(name: str, value: str) -> tuple[str, str]:
    """One shared tuple per distinct ``(name, value)``: thousands of series carry the same few pairs."""
    return (name, value)
