"""Standard OTLP → Prometheus names for metrics the OpenClaw mapping does not know.

Implements the ``UnderscoreEscapingWithSuffixes`` strategy of the OTel spec / ``prometheus/otlptranslator``
(``tests/test_naming.py`` holds its cases): tokens split on anything outside ``[a-zA-Z0-9:]``, unit suffix,
``_total`` for monotonic counters, ``_ratio`` for gauges of unit ``1``.
"""

from __future__ import annotations

import re
from functools import lru_cache

_TOKEN_SPLIT = re.compile(r"[^a-zA-Z0-9:]+")
_UNIT_CLEAN = re.compile(r"[^a-zA-Z0-9:_]+")

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


def unit_suffixes(unit: str) -> tuple[str, str]:
    """``(main, per)`` suffix words for an OTLP unit; annotations such as ``{token}`` are unitless."""
    main, _, per = unit.partition("/")
    main_word = "" if "{" in main or "}" in main else UNITS.get(main, _UNIT_CLEAN.sub("", main))
    per_word = ""
    if per and "{" not in per and "}" not in per:
        per_word = PER_UNITS.get(per, _UNIT_CLEAN.sub("", per))
    return main_word.strip("_"), per_word.strip("_")


@lru_cache(maxsize=4096)
def metric_name(name: str, unit: str, *, counter: bool, gauge: bool) -> str:
    """The Prometheus family name (for counters, including ``_total``)."""
    tokens = [token for token in _TOKEN_SPLIT.split(name) if token]
    main, per = unit_suffixes(unit)
    if counter:
        tokens = [token for token in tokens if token != "total"]
    if main and main not in tokens:
        tokens.append(main)
    if per and f"per_{per}" not in "_".join(tokens):
        tokens.extend(("per", per))
    if gauge and unit == "1" and "ratio" not in tokens:
        tokens.append("ratio")
    if counter:
        tokens.append("total")
    result = "_".join(tokens)
    if not result or result.strip("_") == "":
        return "unnamed_metric"
    return "_" + result if result[0].isdigit() else result


def unit_word(unit: str) -> str:
    """The OpenMetrics ``# UNIT`` word for an OTLP unit, or ``""``."""
    main, per = unit_suffixes(unit)
    if main and per:
        return f"{main}_per_{per}"
    return main
