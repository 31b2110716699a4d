"""structlog setup: JSON or console, one event per request; never payload contents or tokens."""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import Hashable

import structlog

from otlp_bridge.bounded import BoundedDict


class LogFormat(enum.StrEnum):
    JSON = "json"
    CONSOLE = "console"


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def number(self) -> int:
        """The standard library's number for the level."""
        return logging.getLevelNamesMapping()[self.name]


def configure_logging(log_format: LogFormat, log_level: LogLevel) -> None:
    renderer: structlog.typing.Processor
    if log_format is LogFormat.CONSOLE:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        renderer = structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(log_level.number),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # aiohttp's own loggers: warnings and above only, through the standard library.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")


def get_logger() -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger("otlp_bridge")
    return logger


class Throttle:
    """At most one log line per cause every ``interval`` seconds, so that a flood cannot flood the log.

    ``allow`` answers None while a cause is held back, else how many of its lines were held back since its last
    line (0 for the first). Pure: ``now`` is passed in."""

    def __init__(self, interval: float = 10.0, max_causes: int = 1024) -> None:
        self.interval = interval
        # cause → (time of its last line, held back since); past ``max_causes`` causes the oldest is forgotten
        self._causes: BoundedDict[Hashable, tuple[float, int]] = BoundedDict(max_causes)

    def allow(self, cause: Hashable, now: float) -> int | None:
        last = self._causes.get(cause)
        if last is not None and now - last[0] < self.interval:
            self._causes[cause] = (last[0], last[1] + 1)
            return None
        self._causes[cause] = (now, 0)
        return last[1] if last is not None else 0
