"""What metrics translation is told (``TranslateOptions``), and what one request did: points (spans, log records)
accepted, and the rejected ones by reason."""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from otlp_bridge.store import DropReason
from otlp_bridge.translate.senders import ExportSender


@dataclass(frozen=True, slots=True)
class TranslateOptions:
    metric_name_prefix: str = "openclaw."
    spans_complete: bool = False
    source_label: str | None = None
    source_attributes: tuple[str, ...] = ("service.name", "host.name")
    max_streams: int = 32768
    reserved_names: frozenset[str] = frozenset()  # the bridge's own families: never a generic metric's name


class Rejection(enum.StrEnum):
    """Why translation refused a point (the store's caps are ``DropReason``)."""

    INVALID = "invalid"  # a value, temporality, name or span the rules cannot read
    NAME_TOO_LONG = "name_too_long"
    UNSUPPORTED = "unsupported"  # a data kind or temporality the bridge does not translate


Reason = DropReason | Rejection  # the ``reason`` label of ``otlp_bridge_rejected_points_total``


@dataclass(slots=True)
class IngestResult:
    """What one request did: the basis of ``partial_success`` and the self-metrics."""

    accepted: int = 0
    rejected: int = 0
    reasons: Counter[Reason] = field(default_factory=Counter)
    sources: set[str] = field(default_factory=set)
    unprefixed: str = ""  # an OpenClaw metric named without --metric-name-prefix, when no metric had the prefix
    # A request the whole-export path took (never decoded): its senders, what the status page would otherwise read
    # from the decoded request.
    senders: tuple[ExportSender, ...] = ()

    def reject(self, reason: Reason, count: int = 1) -> None:
        self.rejected += count
        self.reasons[reason] += count

    def tally(self, refused: Reason | None) -> None:
        """Count one point, span or log record: accepted, or rejected for ``refused``."""
        if refused is None:
            self.accepted += 1
        else:
            self.reject(refused)

    @property
    def message(self) -> str:
        if not self.rejected:
            return ""
        parts = ", ".join(f"{count} {reason.replace('_', ' ')}" for reason, count in sorted(self.reasons.items()))
        return f"{self.rejected} rejected: {parts}"
