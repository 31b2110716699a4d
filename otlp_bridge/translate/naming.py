"""Prometheus names for metrics the OpenClaw mapping does not know, by Prometheus's own OTLP rules.

The bridge follows ``prometheus/otlptranslator`` (the code Prometheus's OTLP receiver and the Collector share) with
the default strategy ``UnderscoreEscapingWithSuffixes``: the name is split into tokens on anything outside
``[a-zA-Z0-9:]`` and joined with ``_``; the unit, trimmed and mapped (``By / s`` → ``bytes_per_second``, anything
unknown kept with its special characters as ``_``), is appended unless the name already has it; monotonic counters
end in ``_total`` and gauges of unit ``1`` in ``_ratio``. ``tests/test_naming.py`` holds the cases, many of them
Prometheus's own.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN_SPLIT = re.compile(r"[^a-zA-Z0-9:]+")
_UNIT_INVALID = re.compile(r"[^a-zA-Z0-9:]+")  # a run of them becomes one "_"

UNITS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "GiBy": "gibibytes",
    "TiBy": "tibibytes",
    "KBy": "kilobytes",
    "MBy": "megabytes",
    "GBy": "gigabytes",
    "TBy": "terabytes",
    "m": "meters",
    "V": "volts",
    "A": "amperes",
    "J": "joules",
    "W": "watts",
    "g": "grams",
    "Cel": "celsius",
    "Hz": "hertz",
    "1": "",
    "%": "percent",
}
PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}


def _clean(word: str) -> str:
    """Special characters → ``_`` (one per run), no leading ``_``."""
    return _UNIT_INVALID.sub("_", word).lstrip("_")


def unit_suffixes(unit: str) -> tuple[str, str]:
    """``(main, per)`` suffixes of an OTLP unit: ``By / s`` → ``("bytes", "per_second")``. Each side is trimmed;
    a side with an annotation (``{token}``) is unitless."""
    main_text, _, per_text = unit.partition("/")
    main_text, per_text = main_text.strip(), per_text.strip()
    main = per = ""
    if main_text and "{" not in main_text and "}" not in main_text:
        main = UNITS.get(main_text, main_text)
    if per_text and "{" not in per_text and "}" not in per_text:
        per = "per_" + PER_UNITS.get(per_text, per_text)
    return _clean(main), _clean(per)


@lru_cache(maxsize=4096)
def metric_name(name: str, unit: str, *, counter: bool, gauge: bool) -> str:
    """The Prometheus family name (for counters, including ``_total``); ``""`` when nothing valid is left."""
    tokens = [token for token in _TOKEN_SPLIT.split(name) if token]
    main, per = unit_suffixes(unit)
    if main in tokens:
        main = ""
    per = "" if per == "per_" else per.removesuffix("_")
    if per:
        main = main.removesuffix("_")
    tokens.extend(suffix for suffix in (main, per) if suffix)
    if counter:
        tokens = [token for token in tokens if token != "total"] + ["total"]
    if gauge and unit == "1":
        tokens = [token for token in tokens if token != "ratio"] + ["ratio"]
    result = "_".join(tokens)
    return "_" + result if result[:1].isdigit() else result


def unit_word(unit: str) -> str:
    """The OpenMetrics ``# UNIT`` word for an OTLP unit, or ``""``."""
    main, per = unit_suffixes(unit)
    return "_".join(part for part in (main, per) if part).strip("_")
