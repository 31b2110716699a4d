"""The OpenClaw mapping as data: which OTLP metric (and which of its points) feeds which ``openclaw_*`` family.

One ``FamilySpec`` per (source metric, Prometheus family). Adding a family, or a new OpenClaw version's metric,
is one entry in ``METRIC_SPECS``. ``docs/mapping.md`` is the same contract in prose and tables, kept in step
with this module by ``tests/test_mapping_doc.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypedDict, Unpack

from otlp_bridge.store import FamilyInfo, Kind
from otlp_bridge.translate.labels import label_pair, normalize_lane, normalize_value

Attributes = Mapping[str, str]


class Value(enum.Enum):
    """What a family takes from a data point."""

    SUM = "sum"  # a Sum point: counter increment (or gauge value for GAUGE families)
    COUNT = "count"  # a histogram point's count: counter increment
    HISTOGRAM = "histogram"  # a histogram point: buckets, sum, count
    MEAN = "mean"  # gauge ≈ Δsum / Δcount of a histogram since the last export (APPROX rows)


class Exactness(enum.StrEnum):
    """How close a family comes to the official plugin's (docs/mapping.md, "Exactness", says what each means)."""

    EXACT = "EXACT"
    PLACED = "PLACED"
    PLACED_AGENT_BOUNDS_EXACT = "PLACED (agent bounds: EXACT)"
    COUNT_SUM = "COUNT/SUM"
    PARTIAL = "PARTIAL"
    PARTIAL_PLACED = "PARTIAL, PLACED"
    PARTIAL_PLACED_AGENT_BOUNDS_PARTIAL = "PARTIAL, PLACED (agent bounds: PARTIAL)"
    PARTIAL_SPAN = "PARTIAL, SPAN"
    APPROX = "APPROX"
    SPAN = "SPAN"
    LOG = "LOG"
    GENERIC = "GENERIC"


@dataclass(frozen=True, slots=True)
class Label:
    """How one Prometheus label is derived from a point's attributes.

    ``source``: attribute keys, the first present wins. ``fallback``: for an invalid value (and an absent one
    unless ``absent`` is given). ``const``: a fixed value. ``present``: a fixed value when the attribute is
    present (``absent`` otherwise). ``rename``: value substitutions after normalising. ``optional``: the label
    is left out when the attribute is absent. ``lane``: the lane normaliser.
    """

    name: str
    source: tuple[str, ...] = ()
    fallback: str = "unknown"
    absent: str | None = None
    const: str | None = None
    present: str | None = None
    rename: Mapping[str, str] = field(default_factory=dict)
    optional: bool = False
    lane: bool = False

    def value(self, attributes: Attributes) -> str | None:
        if self.const is not None:
            return self.const
        raw = None
        for key in self.source:
            raw = attributes.get(key)
            if raw is not None:
                break
        if raw is None:
            if self.optional:
                return None
            return self.absent if self.absent is not None else self.fallback
        if self.present is not None:
            return self.present
        value = normalize_lane(raw, self.fallback) if self.lane else normalize_value(raw, self.fallback)
        return self.rename.get(value, value)


class LabelOptions(TypedDict, total=False):
    """``Label``'s fields after ``source``, as keywords of ``L``."""

    fallback: str
    absent: str | None
    const: str | None
    present: str | None
    rename: Mapping[str, str]
    optional: bool
    lane: bool


def L(name: str, *source: str, **options: Unpack[LabelOptions]) -> Label:
    """A label read from the attributes ``source`` (the first present wins)."""
    return Label(name, tuple(source), **options)


@dataclass(frozen=True, slots=True)
class FamilySpec:
    """One OTLP metric → one Prometheus family."""

    source: str  # OTLP name without the OpenClaw prefix (or the full gen_ai.* name)
    name: str
    kind: Kind
    help: str
    labels: tuple[Label, ...]
    value: Value
    divisor: float = 1.0  # 1000 for ms → seconds (values, sums and bucket bounds)
    unit: str = ""
    select: Callable[[Attributes], bool] | None = None
    span_fed: bool = False  # fed from spans instead when --spans-complete is set
    exactness: Exactness = Exactness.EXACT
    # The official buckets: those of families fed one observation at a time (spans, logs); for metric families the
    # ones placement adds above a sender's last bound (in seconds; ``divisor`` converts them to the sender's unit).
    bounds: tuple[float, ...] = ()
    attribute: str = ""  # for event-fed families: take the value from this attribute, not the span duration
    info: FamilyInfo = field(init=False, repr=False, compare=False)  # built once: every event asks for it

    def __post_init__(self) -> None:
        object.__setattr__(self, "info", FamilyInfo(self.name, self.kind, self.help, self.unit))

    def labels_for(self, attributes: Attributes) -> tuple[tuple[str, str], ...]:
        pairs = []
        for label in self.labels:
            value = label.value(attributes)
            if value is not None:
                pairs.append(label_pair(label.name, value))
        pairs.sort()
        return tuple(pairs)


C, G, H = Kind.COUNTER, Kind.GAUGE, Kind.HISTOGRAM
MS = 1000.0
# The official plugin's buckets for every duration family; senders with fewer bounds get the ones above their last
# bound filled by placement (``otlp_bridge.translate.placement``) or from spans.
DURATION_BUCKETS_SECONDS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
)

# Reusable label sets -----------------------------------------------------------------------------------------
CHANNEL = L("channel", "openclaw.channel")
PROVIDER = L("provider", "openclaw.provider")
MODEL = L("model", "openclaw.model")
AGENT = L("agent", "openclaw.agent")
LANE = L("lane", "openclaw.lane", lane=True)
ERROR_CATEGORY = L("error_category", "openclaw.errorCategory", fallback="other", absent="none")
OUTCOME_FROM_ERROR = L("outcome", "openclaw.errorCategory", present="error", absent="completed")
USAGE = (AGENT, CHANNEL, MODEL, PROVIDER)
RUN = (
    CHANNEL,
    MODEL,
    L("outcome", "openclaw.outcome"),
    PROVIDER,
    L("trigger", const="unknown"),
    L("blocked_by", "openclaw.blocked_by", optional=True),
)
MODEL_CALL = (
    L("api", "openclaw.api"),
    ERROR_CATEGORY,
    MODEL,
    L(
        "observation_unit",
        "openclaw.model_call.observation_unit",
        fallback="request",
        rename={"unknown": "request"},
    ),
    OUTCOME_FROM_ERROR,
    PROVIDER,
    L("transport", "openclaw.transport"),
)
TOOL = (
    L("params_kind", "openclaw.tool.params.kind"),
    L("tool", "openclaw.toolName", fallback="tool"),
    L("tool_owner", "openclaw.tool.owner", fallback="none", rename={"unknown": "none"}),
    L("tool_source", "openclaw.tool.source", fallback="core"),
)
HARNESS = (
    CHANNEL,
    ERROR_CATEGORY,
    L("harness", "openclaw.harness.id"),
    MODEL,
    L("outcome", "openclaw.outcome"),
    L("phase", "openclaw.harness.phase", absent="none"),
    L("plugin", "openclaw.harness.plugin"),
    PROVIDER,
)
WEBHOOK = (CHANNEL, L("webhook", "openclaw.webhook"))
MESSAGE_SOURCE = (CHANNEL, L("source", "openclaw.source"))
DISPATCH = (
    CHANNEL,
    L("outcome", "openclaw.outcome"),
    L("reason", "openclaw.reason", fallback="none"),
    L("source", "openclaw.source"),
)
PROCESSED = (CHANNEL, L("outcome", "openclaw.outcome"), L("reason", const="none"))
DELIVERY = (
    CHANNEL,
    L("delivery_kind", "openclaw.delivery.kind", fallback="other"),
    ERROR_CATEGORY,
    L("outcome", "openclaw.outcome"),
)
TALK = tuple(L(name, f"openclaw.talk.{name}") for name in ("brain", "event_type", "mode", "provider", "transport"))
STUCK = (L("reason", const="none"), L("state", "openclaw.state"))
RECOVERY = (
    L("action", "openclaw.action"),
    L("active_work_kind", "openclaw.active_work_kind", fallback="none"),
    L("state", "openclaw.state"),
    L("status", "openclaw.status", absent="requested"),
)
LIVENESS = (L("reason", "openclaw.liveness.reason"),)
PAYLOAD = (
    L("action", "openclaw.payload.action"),
    L("channel", "openclaw.channel", fallback="none"),
    L("plugin", "openclaw.plugin", fallback="none"),
    L("reason", "openclaw.reason", fallback="none"),
    L("surface", "openclaw.payload.surface"),
)
METHOD = (L("method", "openclaw.gateway.rpc.method"),)
GEN_AI = (
    L("model", "gen_ai.request.model"),
    L("provider", "gen_ai.provider.name", "gen_ai.system"),
)


# Selectors for the mixed streams (docs/mapping.md, "One metric, several families") ----------------------------
def _has(key: str) -> Callable[[Attributes], bool]:
    return lambda attributes: key in attributes


def _lacks(key: str) -> Callable[[Attributes], bool]:
    return lambda attributes: key not in attributes


def _channel_is(value: str) -> Callable[[Attributes], bool]:
    return lambda attributes: attributes.get("openclaw.channel") == value


def _lane_only(attributes: Attributes) -> bool:
    return "openclaw.lane" in attributes and "openclaw.channel" not in attributes


def _message_queue(attributes: Attributes) -> bool:
    return "openclaw.lane" not in attributes and attributes.get("openclaw.channel") not in (
        "heartbeat",
        "liveness",
    )


LIVENESS_SESSIONS_HELP = (
    "Latest session counts reported with diagnostic liveness warnings (from the latest openclaw.liveness.warning "
    "span; without spans only queued, estimated as the mean queue depth of the last export interval)."
)
MEMORY_KINDS = ("rss", "heap_used", "heap_total", "external", "array_buffers")


def _memory_specs() -> Iterable[FamilySpec]:
    for kind in MEMORY_KINDS:
        source = f"memory.{kind}_bytes"
        sample = _lacks("openclaw.memory.level")
        yield FamilySpec(
            source,
            "openclaw_memory_bytes",
            G,
            "Latest process memory usage by memory kind (estimated: mean of the samples in the last export interval).",
            (L("kind", const=kind),),
            Value.MEAN,
            unit="bytes",
            select=sample,
            exactness=Exactness.APPROX,
        )
        help_text = (
            "RSS memory sample distribution in bytes."
            if kind == "rss"
            else f"{kind.replace('_', ' ').capitalize()} memory sample distribution in bytes."
        )
        yield FamilySpec(
            source,
            f"openclaw_memory_{kind}_bytes",
            H,
            help_text,
            (),
            Value.HISTOGRAM,
            unit="bytes",
            select=sample,
            exactness=Exactness.COUNT_SUM,
        )
        yield FamilySpec(
            source,
            "openclaw_memory_pressure_bytes",
            H,
            "Memory samples taken at memory pressure events, by kind, level and reason.",
            (
                L("kind", const=kind),
                L("level", "openclaw.memory.level"),
                L("reason", "openclaw.memory.reason"),
            ),
            Value.HISTOGRAM,
            unit="bytes",
            select=_has("openclaw.memory.level"),
            exactness=Exactness.COUNT_SUM,
        )


def _counted_histogram(
    source: str,
    counter: str,
    histogram: str,
    counter_help: str,
    histogram_help: str,
    labels: tuple[Label, ...],
    *,
    select: Callable[[Attributes], bool] | None = None,
    span_fed: bool = True,
    counter_span_fed: bool = False,
    exactness: Exactness = Exactness.PLACED,
    counter_exactness: Exactness = Exactness.EXACT,
) -> tuple[FamilySpec, FamilySpec]:
    """A duration histogram that also feeds a ``*_total`` counter from its count."""
    return (
        FamilySpec(
            source,
            counter,
            C,
            counter_help,
            labels,
            Value.COUNT,
            select=select,
            span_fed=counter_span_fed,
            exactness=counter_exactness,
        ),
        _histogram(source, histogram, histogram_help, labels, select=select, span_fed=span_fed, exactness=exactness),
    )


def _histogram(
    source: str,
    name: str,
    help_text: str,
    labels: tuple[Label, ...] = (),
    *,
    divisor: float = MS,
    unit: str = "seconds",
    exactness: Exactness = Exactness.PLACED,
    select: Callable[[Attributes], bool] | None = None,
    span_fed: bool = False,
) -> FamilySpec:
    return FamilySpec(
        source,
        name,
        H,
        help_text,
        labels,
        Value.HISTOGRAM,
        divisor,
        unit,
        select=select,
        span_fed=span_fed,
        exactness=exactness,
        bounds=DURATION_BUCKETS_SECONDS if unit == "seconds" else (),
    )


def _counter(
    source: str,
    name: str,
    help_text: str,
    labels: tuple[Label, ...] = (),
    *,
    divisor: float = 1.0,
    unit: str = "",
    span_fed: bool = False,
    exactness: Exactness = Exactness.EXACT,
) -> FamilySpec:
    return FamilySpec(
        source, name, C, help_text, labels, Value.SUM, divisor, unit, span_fed=span_fed, exactness=exactness
    )


METRIC_SPECS: tuple[FamilySpec, ...] = (
    # gateway internals
    _histogram(
        "gc.duration_ms",
        "openclaw_gc_duration_seconds",
        "Elapsed garbage collection duration in seconds for the hosting JavaScript isolate.",
        exactness=Exactness.EXACT,
    ),
    _counter(
        "gateway.rpc.requests",
        "openclaw_gateway_rpc_requests_total",
        "Authenticated Gateway WebSocket requests received.",
        METHOD,
    ),
    _histogram(
        "gateway.rpc.first_response_ms",
        "openclaw_gateway_rpc_first_response_seconds",
        "Elapsed time until the first Gateway RPC response is sent.",
        METHOD,
        exactness=Exactness.EXACT,
    ),
    _histogram(
        "gateway.rpc.handler_ms",
        "openclaw_gateway_rpc_handler_seconds",
        "Gateway RPC handler duration until return or throw.",
        METHOD,
        exactness=Exactness.EXACT,
    ),
    _histogram(
        "gateway.rpc.admission_ms",
        "openclaw_gateway_rpc_admission_seconds",
        "Elapsed time from Gateway RPC receipt until handler invocation.",
        METHOD,
        exactness=Exactness.EXACT,
    ),
    _histogram(
        "gateway.rpc.queue_wait_ms",
        "openclaw_gateway_rpc_queue_wait_seconds",
        "Gateway operator request start queue wait.",
        METHOD,
        exactness=Exactness.EXACT,
    ),
    _counter(
        "gateway.rpc.outcomes",
        "openclaw_gateway_rpc_outcomes_total",
        "Gateway RPC observations by phase and outcome.",
        (L("outcome", "openclaw.gateway.rpc.outcome"), L("phase", "openclaw.gateway.rpc.phase")),
    ),
    # runs and model usage (two populations of one histogram)
    *_counted_histogram(
        "run.duration_ms",
        "openclaw_run_completed_total",
        "openclaw_run_duration_seconds",
        "Agent runs completed by outcome.",
        "Agent run duration in seconds.",
        RUN,
        select=_has("openclaw.outcome"),
        counter_span_fed=True,
        counter_exactness=Exactness.PARTIAL,  # trigger: a constant label, as on the histogram
        exactness=Exactness.PARTIAL_PLACED_AGENT_BOUNDS_PARTIAL,
    ),
    _histogram(
        "run.duration_ms",
        "openclaw_model_usage_duration_seconds",
        "Model usage event duration in seconds.",
        USAGE,
        select=_lacks("openclaw.outcome"),
        exactness=Exactness.PLACED_AGENT_BOUNDS_EXACT,
    ),
    # model calls
    *_counted_histogram(
        "model_call.duration_ms",
        "openclaw_model_call_total",
        "openclaw_model_call_duration_seconds",
        "Model requests or synthetic agent turns completed by outcome.",
        "Model request or synthetic agent-turn duration in seconds.",
        MODEL_CALL,
        exactness=Exactness.PLACED_AGENT_BOUNDS_EXACT,
    ),
    _histogram(
        "model_call.time_to_first_byte_ms",
        "openclaw_model_call_time_to_first_byte_seconds",
        "Elapsed time before the first streamed model response event in seconds.",
        MODEL_CALL,
        span_fed=True,
    ),
    _histogram(
        "model_call.request_bytes",
        "openclaw_model_call_request_bytes",
        "UTF-8 byte size of sanitized model request payloads.",
        MODEL_CALL,
        divisor=1.0,
        unit="bytes",
        exactness=Exactness.COUNT_SUM,
    ),
    _histogram(
        "model_call.response_bytes",
        "openclaw_model_call_response_bytes",
        "UTF-8 byte size of bounded streamed model response payloads.",
        MODEL_CALL,
        divisor=1.0,
        unit="bytes",
        exactness=Exactness.COUNT_SUM,
    ),
    # failover
    _counter(
        "model.failover",
        "openclaw_model_failover_total",
        "Model failovers by source, destination, lane, and reason.",
        (
            L("from_model", "openclaw.model"),
            L("from_provider", "openclaw.provider"),
            LANE,
            L("reason", "openclaw.failover.reason", fallback="other", rename={"unknown": "other"}),
            L("suspended", "openclaw.failover.suspended"),
            L("to_model", "openclaw.failover.to_model"),
            L("to_provider", "openclaw.failover.to_provider"),
        ),
    ),
    # tokens and cost
    _counter(
        "tokens",
        "openclaw_model_tokens_total",
        "Model tokens reported by diagnostic usage events.",
        (*USAGE, L("token_type", "openclaw.token")),
    ),
    FamilySpec(
        "gen_ai.client.token.usage",
        "openclaw_gen_ai_client_token_usage",
        H,
        "GenAI token usage distribution for input and output tokens.",
        (*GEN_AI, L("token_type", "gen_ai.token.type")),
        Value.HISTOGRAM,
    ),
    _counter(
        "cost.usd",
        "openclaw_model_cost_usd_total",
        "Estimated model cost in USD reported by diagnostic usage events.",
        USAGE,
    ),
    FamilySpec(
        "gen_ai.client.operation.duration",
        "openclaw_gen_ai_client_operation_duration_seconds",
        H,
        "GenAI client operation duration in seconds.",
        (*GEN_AI, L("operation", "gen_ai.operation.name"), L("error_type", "error.type", absent="none")),
        Value.HISTOGRAM,
        unit="seconds",
    ),
    _histogram(
        "context.tokens",
        "openclaw_model_context_tokens",
        "Context window size and usage in tokens.",
        (*USAGE, L("context", "openclaw.context")),
        divisor=1.0,
        unit="",
        exactness=Exactness.EXACT,
    ),
    # skills
    _counter(
        "skill.used",
        "openclaw_skill_used_total",
        "Skills used by agent runs.",
        (
            L("activation", "openclaw.skill.activation"),
            AGENT,
            L("skill", "openclaw.skill.name", fallback="skill"),
            L("source", "openclaw.skill.source"),
        ),
    ),
    # tools
    *_counted_histogram(
        "tool.execution.duration_ms",
        "openclaw_tool_execution_total",
        "openclaw_tool_execution_duration_seconds",
        "Tool executions completed by outcome.",
        "Tool execution duration in seconds.",
        (ERROR_CATEGORY, OUTCOME_FROM_ERROR, *TOOL),
        exactness=Exactness.PLACED_AGENT_BOUNDS_EXACT,
    ),
    _counter(
        "tool.execution.blocked",
        "openclaw_tool_execution_blocked_total",
        "Tool executions blocked by policy or sandbox diagnostics.",
        (L("denied_reason", "openclaw.deniedReason", fallback="other"), *TOOL),
    ),
    _counter(
        "tool.loop",
        "openclaw_tool_loop_total",
        "Detected repetitive tool-call loop events.",
        (
            L("tool", "openclaw.toolName", fallback="tool"),
            L("level", "openclaw.loop.level"),
            L("action", "openclaw.loop.action"),
            L("detector", "openclaw.loop.detector"),
            L("paired_tool", "openclaw.loop.paired_tool", absent="none"),
        ),
    ),
    *_counted_histogram(
        "exec.duration_ms",
        "openclaw_exec_total",
        "openclaw_exec_duration_seconds",
        "Exec processes completed by outcome.",
        "Exec process duration in seconds.",
        (
            L("failure_kind", "openclaw.failureKind", absent="none"),
            L("mode", "openclaw.exec.mode"),
            L("outcome", "openclaw.outcome"),
            L("target", "openclaw.exec.target"),
        ),
    ),
    # harness
    *_counted_histogram(
        "harness.duration_ms",
        "openclaw_harness_run_total",
        "openclaw_harness_run_duration_seconds",
        "Agent harness runs completed by outcome.",
        "Agent harness run duration in seconds.",
        HARNESS,
        exactness=Exactness.PLACED_AGENT_BOUNDS_EXACT,
    ),
    # webhooks
    _counter(
        "webhook.received",
        "openclaw_webhook_received_total",
        "Webhook requests received by channel and update type.",
        WEBHOOK,
    ),
    _counter(
        "webhook.error",
        "openclaw_webhook_error_total",
        "Webhook processing errors by channel and update type.",
        WEBHOOK,
    ),
    _histogram(
        "webhook.duration_ms",
        "openclaw_webhook_duration_seconds",
        "Webhook processing duration in seconds.",
        WEBHOOK,
        span_fed=True,
    ),
    # messages
    _counter(
        "message.received",
        "openclaw_message_received_total",
        "Inbound messages received by channel.",
        MESSAGE_SOURCE,
    ),
    _counter("message.queued", "openclaw_message_queued_total", "Messages queued for processing.", MESSAGE_SOURCE),
    _counter(
        "message.dispatch.started",
        "openclaw_message_dispatch_started_total",
        "Inbound message dispatch attempts started by channel.",
        MESSAGE_SOURCE,
    ),
    _counter(
        "message.dispatch.completed",
        "openclaw_message_dispatch_completed_total",
        "Inbound message dispatch attempts completed by outcome.",
        DISPATCH,
    ),
    _histogram(
        "message.dispatch.duration_ms",
        "openclaw_message_dispatch_duration_seconds",
        "Inbound message dispatch duration in seconds.",
        DISPATCH,
    ),
    _counter(
        "message.processed",
        "openclaw_message_processed_total",
        "Inbound messages processed by outcome.",
        PROCESSED,
        span_fed=True,
        exactness=Exactness.PARTIAL,
    ),
    _histogram(
        "message.duration_ms",
        "openclaw_message_processed_duration_seconds",
        "Inbound message processing duration in seconds.",
        PROCESSED,
        span_fed=True,
        exactness=Exactness.PARTIAL_PLACED,
    ),
    _counter(
        "message.delivery.started",
        "openclaw_message_delivery_started_total",
        "Outbound message delivery attempts started.",
        (CHANNEL, L("delivery_kind", "openclaw.delivery.kind", fallback="other")),
    ),
    *_counted_histogram(
        "message.delivery.duration_ms",
        "openclaw_message_delivery_total",
        "openclaw_message_delivery_duration_seconds",
        "Outbound message delivery attempts by outcome.",
        "Outbound message delivery duration in seconds.",
        DELIVERY,
    ),
    # talk
    _counter("talk.event", "openclaw_talk_event_total", "Talk events emitted by type.", TALK),
    _histogram(
        "talk.event.duration_ms",
        "openclaw_talk_event_duration_seconds",
        "Talk event duration in seconds when reported.",
        TALK,
    ),
    _histogram(
        "talk.audio.bytes",
        "openclaw_talk_audio_bytes",
        "Talk audio frame byte lengths.",
        TALK,
        divisor=1.0,
        unit="bytes",
        exactness=Exactness.COUNT_SUM,
    ),
    # queues (openclaw.queue.depth carries four kinds of streams)
    FamilySpec(
        "queue.depth",
        "openclaw_queue_lane_size",
        G,
        "Current diagnostic queue lane size (estimated: mean queue size reported in the last export interval).",
        (LANE,),
        Value.MEAN,
        select=_lane_only,
        exactness=Exactness.APPROX,
    ),
    _histogram(
        "queue.depth",
        "openclaw_queue_depth",
        "Queue lane size observed at enqueue and dequeue.",
        (LANE,),
        divisor=1.0,
        unit="",
        exactness=Exactness.EXACT,
        select=_lane_only,
    ),
    _histogram(
        "queue.depth",
        "openclaw_message_queue_depth",
        "Message queue depth observed when messages are queued.",
        MESSAGE_SOURCE,
        divisor=1.0,
        unit="",
        exactness=Exactness.EXACT,
        select=_message_queue,
    ),
    _histogram(
        "queue.depth",
        "openclaw_heartbeat_queue_depth",
        "Queued work observed by diagnostic heartbeats.",
        divisor=1.0,
        unit="",
        exactness=Exactness.EXACT,
        select=_channel_is("heartbeat"),
    ),
    FamilySpec(
        "queue.depth",
        "openclaw_liveness_sessions",
        G,
        "Latest session counts reported with diagnostic liveness warnings (queued only from metrics; "
        "estimated as the mean of the last export interval).",
        (L("state", const="queued"),),
        Value.MEAN,
        select=_channel_is("liveness"),
        exactness=Exactness.APPROX,
    ),
    _histogram(
        "queue.wait_ms",
        "openclaw_queue_lane_wait_seconds",
        "Queue lane wait time in seconds.",
        (LANE,),
    ),
    _counter(
        "queue.lane.enqueue",
        "openclaw_queue_lane_enqueue_total",
        "Command queue lane enqueue events.",
        (LANE,),
    ),
    _counter(
        "queue.lane.dequeue",
        "openclaw_queue_lane_dequeue_total",
        "Command queue lane dequeue events.",
        (LANE,),
    ),
    # sessions
    _counter(
        "session.state",
        "openclaw_session_state_total",
        "Session state observations.",
        (L("reason", "openclaw.reason", fallback="none"), L("state", "openclaw.state")),
    ),
    _counter(
        "session.turn.created",
        "openclaw_session_turn_created_total",
        "Agent session turns created.",
        (AGENT, CHANNEL, L("trigger", "openclaw.trigger")),
    ),
    _counter(
        "session.stuck",
        "openclaw_session_stuck_total",
        "Stale session bookkeeping observations with no active work.",
        STUCK,
        exactness=Exactness.PARTIAL,
    ),
    _histogram(
        "session.stuck_age_ms",
        "openclaw_session_stuck_age_seconds",
        "Age of stale session bookkeeping observations in seconds.",
        STUCK,
        span_fed=True,
        exactness=Exactness.PARTIAL_PLACED,
    ),
    _counter(
        "session.recovery.requested",
        "openclaw_session_recovery_total",
        "Session recovery observations by status and action.",
        RECOVERY,
    ),
    _counter(
        "session.recovery.completed",
        "openclaw_session_recovery_total",
        "Session recovery observations by status and action.",
        RECOVERY,
    ),
    _histogram(
        "session.recovery.age_ms",
        "openclaw_session_recovery_age_seconds",
        "Age of sessions selected for recovery in seconds.",
        RECOVERY,
    ),
    _counter(
        "session.maintenance.pruned",
        "openclaw_session_maintenance_pruned_total",
        "Cron run sessions pruned by the session reaper.",
    ),
    _counter("run.attempt", "openclaw_run_attempt_total", "Run attempts.", (L("attempt", "openclaw.attempt"),)),
    # event loop and liveness
    _histogram(
        "gateway.event_loop.delay_max_ms",
        "openclaw_gateway_event_loop_delay_max_seconds",
        "Maximum event-loop delay per completed Gateway observation window in seconds.",
        exactness=Exactness.EXACT,
    ),
    _counter(
        "gateway.event_loop.observed_ms",
        "openclaw_gateway_event_loop_observed_seconds_total",
        "Elapsed seconds covered by completed Gateway event-loop observation windows.",
        divisor=MS,
        unit="seconds",
    ),
    _counter("liveness.warning", "openclaw_liveness_warning_total", "Diagnostic liveness warning events.", LIVENESS),
    _histogram(
        "liveness.event_loop_delay_p99_ms",
        "openclaw_liveness_event_loop_delay_p99_seconds",
        "P99 event-loop delay reported by diagnostic liveness warnings in seconds.",
        LIVENESS,
        span_fed=True,
    ),
    _histogram(
        "liveness.event_loop_delay_max_ms",
        "openclaw_liveness_event_loop_delay_max_seconds",
        "Maximum event-loop delay reported by diagnostic liveness warnings in seconds.",
        LIVENESS,
        span_fed=True,
    ),
    _histogram(
        "liveness.event_loop_utilization",
        "openclaw_liveness_event_loop_utilization_ratio",
        "Event-loop utilization reported by diagnostic liveness warnings.",
        LIVENESS,
        divisor=1.0,
        unit="ratio",
        exactness=Exactness.COUNT_SUM,
    ),
    _histogram(
        "liveness.cpu_core_ratio",
        "openclaw_liveness_cpu_core_ratio",
        "Whole-process CPU usage in core equivalents, including worker and native threads; can exceed 1.",
        LIVENESS,
        divisor=1.0,
        unit="ratio",
        exactness=Exactness.COUNT_SUM,
    ),
    # payloads, memory, exporter, async queue
    _counter(
        "payload.large",
        "openclaw_payload_large_total",
        "Oversized payload diagnostics by surface and action.",
        PAYLOAD,
    ),
    _histogram(
        "payload.large_bytes",
        "openclaw_payload_large_bytes",
        "Oversized payload byte sizes by surface and action.",
        PAYLOAD,
        divisor=1.0,
        unit="bytes",
        exactness=Exactness.COUNT_SUM,
    ),
    *_memory_specs(),
    _counter(
        "memory.pressure",
        "openclaw_memory_pressure_total",
        "Memory pressure events by level and reason.",
        (L("level", "openclaw.memory.level"), L("reason", "openclaw.memory.reason")),
    ),
    _counter(
        "telemetry.exporter.events",
        "openclaw_telemetry_exporter_total",
        "Telemetry exporter lifecycle events.",
        (
            L("exporter", "openclaw.exporter"),
            L("reason", "openclaw.reason", fallback="none"),
            L("signal", "openclaw.signal"),
            L("status", "openclaw.status"),
        ),
    ),
    _counter(
        "diagnostic.async_queue.dropped",
        "openclaw_diagnostic_async_queue_dropped_total",
        "Async diagnostic queue drops by dropped event class.",
        (L("drop_class", "openclaw.diagnostic.async_queue.drop_class"),),
    ),
)


# -- spans and logs ---------------------------------------------------------------------------------------------
# Span and log families are fed one event at a time. Spans carry pseudo-attributes the translator adds:
# ``span.name``, ``span.outcome`` (``error`` when the status is ERROR or an error category is set) and
# ``span.error_category``.
SPAN_NAME = L("span", "span.name")
SPAN_RED = (
    SPAN_NAME,
    L("outcome", "span.outcome"),
    L("error_category", "span.error_category", fallback="other", absent="none"),
)
SPAN_SPECS: tuple[FamilySpec, ...] = (
    FamilySpec(
        "*",
        "openclaw_span_calls_total",
        C,
        "OpenClaw spans completed, by span name, outcome and error category.",
        SPAN_RED,
        Value.COUNT,
        exactness=Exactness.SPAN,
    ),
    FamilySpec(
        "*",
        "openclaw_span_duration_seconds",
        H,
        "OpenClaw span duration in seconds, by span name.",
        (SPAN_NAME, L("outcome", "span.outcome")),
        Value.HISTOGRAM,
        unit="seconds",
        bounds=DURATION_BUCKETS_SECONDS,
        exactness=Exactness.SPAN,
    ),
    *(
        FamilySpec(
            "openclaw.liveness.warning",
            "openclaw_liveness_sessions",
            G,
            LIVENESS_SESSIONS_HELP,
            (L("state", const=state),),
            Value.SUM,
            attribute=f"openclaw.liveness.{state}",
            exactness=Exactness.SPAN,
        )
        for state in ("active", "waiting", "queued")
    ),
)


def _from_span(
    span: str,
    family: str,
    *,
    attribute: str = "",
    select: Callable[[Attributes], bool] | None = None,
    exactness: Exactness = Exactness.SPAN,
) -> FamilySpec:
    """A duration family that ``--spans-complete`` feeds from a span instead of its metric: the span's duration, or
    the milliseconds in one of its attributes, in the official buckets; labels as from the metric."""
    spec = next(spec for spec in METRIC_SPECS if spec.name == family)
    assert spec.span_fed, family
    divisor = spec.divisor if attribute else 1.0
    return replace(
        spec, source=span, select=select, span_fed=False, attribute=attribute, divisor=divisor, exactness=exactness
    )


SPAN_RUN = (*RUN[:4], L("trigger", "openclaw.trigger"), RUN[5])
SPAN_PROCESSED = (CHANNEL, L("outcome", "openclaw.outcome"), L("reason", "openclaw.reason", absent="none"))
SPANS_COMPLETE_SPECS: tuple[FamilySpec, ...] = (
    FamilySpec(
        "openclaw.run",
        "openclaw_run_completed_total",
        C,
        "Agent runs completed by outcome.",
        SPAN_RUN,
        Value.COUNT,
        exactness=Exactness.SPAN,
    ),
    FamilySpec(
        "openclaw.run",
        "openclaw_run_duration_seconds",
        H,
        "Agent run duration in seconds.",
        SPAN_RUN,
        Value.HISTOGRAM,
        unit="seconds",
        bounds=DURATION_BUCKETS_SECONDS,
        exactness=Exactness.SPAN,
    ),
    FamilySpec(
        "openclaw.message.processed",
        "openclaw_message_processed_total",
        C,
        "Inbound messages processed by outcome.",
        SPAN_PROCESSED,
        Value.COUNT,
        exactness=Exactness.SPAN,
    ),
    FamilySpec(
        "openclaw.message.processed",
        "openclaw_message_processed_duration_seconds",
        H,
        "Inbound message processing duration in seconds.",
        SPAN_PROCESSED,
        Value.HISTOGRAM,
        unit="seconds",
        bounds=DURATION_BUCKETS_SECONDS,
        exactness=Exactness.SPAN,
    ),
    _from_span("openclaw.harness.run", "openclaw_harness_run_duration_seconds"),
    _from_span("openclaw.model.call", "openclaw_model_call_duration_seconds"),
    _from_span(
        "openclaw.model.call",
        "openclaw_model_call_time_to_first_byte_seconds",
        attribute="openclaw.model_call.time_to_first_byte_ms",
    ),
    _from_span(
        "openclaw.tool.execution",
        "openclaw_tool_execution_duration_seconds",
        select=lambda attributes: attributes.get("openclaw.outcome") != "blocked",  # blocked: no execution to time
    ),
    _from_span("openclaw.exec", "openclaw_exec_duration_seconds"),
    _from_span("openclaw.webhook.processed", "openclaw_webhook_duration_seconds"),
    _from_span("openclaw.message.delivery", "openclaw_message_delivery_duration_seconds"),
    _from_span(
        "openclaw.session.stuck",
        "openclaw_session_stuck_age_seconds",
        attribute="openclaw.ageMs",
        exactness=Exactness.PARTIAL_SPAN,  # reason: on neither the metric nor the span
    ),
    *(
        _from_span(
            "openclaw.liveness.warning",
            f"openclaw_liveness_event_loop_delay_{kind}_seconds",
            attribute=f"openclaw.liveness.event_loop_delay_{kind}_ms",
        )
        for kind in ("p99", "max")
    ),
)
# Log records carry the pseudo-attributes ``log.severity`` and ``log.subsystem`` (``/`` replaced by ``.``).
PROVIDER_FAILURE = (
    L("provider", "openclaw.provider"),
    L("model", "openclaw.model"),
    L("reason", "openclaw.failoverReason"),
    L("failure_kind", "openclaw.providerRuntimeFailureKind"),
)
LOG_SPECS: tuple[FamilySpec, ...] = (
    FamilySpec(
        "*",
        "openclaw_log_records_total",
        C,
        "OpenClaw log records by severity and subsystem.",
        (L("severity", "log.severity"), L("subsystem", "log.subsystem")),
        Value.COUNT,
        exactness=Exactness.LOG,
    ),
    FamilySpec(
        "embedded_run_agent_end",
        "openclaw_model_provider_failures_total",
        C,
        "Failed model provider attempts reported in OpenClaw logs (embedded_run_agent_end with isError), by "
        "provider, model, failover reason and runtime failure kind.",
        PROVIDER_FAILURE,
        Value.COUNT,
        select=lambda attributes: attributes.get("openclaw.isError") == "true",
        exactness=Exactness.LOG,
    ),
    FamilySpec(
        "model_fallback_decision",
        "openclaw_model_fallback_decisions_total",
        C,
        "Model fallback decisions reported in OpenClaw logs, by decision, reason and HTTP status.",
        (
            L("decision", "openclaw.decision"),
            L("provider", "openclaw.candidateProvider"),
            L("model", "openclaw.candidateModel"),
            L("reason", "openclaw.reason"),
            L("status", "openclaw.status"),
        ),
        Value.COUNT,
        exactness=Exactness.LOG,
    ),
    FamilySpec(
        "embedded_run_failover_decision",
        "openclaw_model_failover_decisions_total",
        C,
        "Failover decisions of embedded runs reported in OpenClaw logs, by decision, stage and reason.",
        (
            L("decision", "openclaw.decision"),
            L("provider", "openclaw.provider"),
            L("model", "openclaw.model"),
            L("reason", "openclaw.failoverReason"),
            L("stage", "openclaw.stage"),
        ),
        Value.COUNT,
        exactness=Exactness.LOG,
    ),
)


def specs_by_metric(prefix: str, spans_complete: bool) -> dict[str, tuple[FamilySpec, ...]]:
    """OTLP metric name (with the configured OpenClaw prefix) → the families it feeds."""
    table: dict[str, list[FamilySpec]] = {}
    for spec in METRIC_SPECS:
        if spans_complete and spec.span_fed:
            continue
        name = spec.source if spec.source.startswith("gen_ai.") else prefix + spec.source
        table.setdefault(name, []).append(spec)
    if spans_complete:
        # The metric still arrives; its span-fed populations are simply not counted twice.
        for spec in METRIC_SPECS:
            if spec.span_fed:
                table.setdefault(prefix + spec.source, [])
    return {name: tuple(specs) for name, specs in table.items()}


def label_names() -> frozenset[str]:
    """Every label of a translated family (``--source-label`` must be none of them)."""
    specs = (*METRIC_SPECS, *SPAN_SPECS, *SPANS_COMPLETE_SPECS, *LOG_SPECS)
    return frozenset(label.name for spec in specs for label in spec.labels)


def family_names() -> frozenset[str]:
    """Every translated ``openclaw_*`` family (the bridge's own are ``SelfMetrics.family_names``)."""
    specs = (*METRIC_SPECS, *SPAN_SPECS, *SPANS_COMPLETE_SPECS, *LOG_SPECS)
    return frozenset(spec.name for spec in specs)
