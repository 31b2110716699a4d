"""Workload generator: real OpenClaw metric shapes, scaled to a fleet of gateways.

The shapes (metric names, descriptions, units, kinds, attribute keys, histogram bounds and value magnitudes) come
from the last cumulative export of ``captures/03a-main-part1-cumulative`` (real OpenClaw 2026.4.29), plus the two
shapes that capture lacks and ``captures/02-run2-restarts-first-success-and-tool`` has (``openclaw.tool.execution.
duration_ms`` and the error shape of ``openclaw.harness.duration_ms``). They are scaled to ``gateways`` distinct
resources (``host.name``, ``host.id``, ``process.pid``) × ``points`` streams each, by varying attribute values within
realistic, normaliser-valid value sets (channels, providers, models, agents, tools, lanes …). One request is one
gateway's export, as OpenClaw sends it: one resource, one ``openclaw`` scope, every stream of that gateway.

* cumulative: each interval every stream is resent; a ``change_fraction`` of them (chosen at random) grew since the
  previous interval, the rest are byte-identical except the export time, as OpenClaw does every flush interval;
* delta: every point is a fresh increment (1–3 observations, or a counter step) for the interval
  ``[previous export, this export]``.

Bodies are made by mutating one protobuf message per gateway in place and serializing it; the export time (and in
delta the interval start) are patched into the serialized bytes, so the generator is cheap enough to run inside the
load client. The same ``WorkloadSpec`` always produces the same bytes.

``python -m bench.workload`` prints the shape table (``--json`` for the machine-readable form).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import struct
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otlp_bridge.receive.codec import Encoding, Signal, decode_request

Temporality = Literal["cumulative", "delta"]

CAPTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "openclaw-2026.4.29" / "captures"
BASE_CAPTURE = "03a-main-part1-cumulative"
SUPPLEMENT_CAPTURE = "02-run2-restarts-first-success-and-tool"

CUMULATIVE = 2
DELTA = 1
# Placeholders for the export time and (delta) the interval start; patched into the serialized bytes. Their fixed64
# encodings are unlike any timestamp or double the workload holds (checked when a gateway is built).
TIME_MARK = 0x7E57_7E57_7E57_7E57
START_MARK = 0x57A7_5EED_57A7_5EED
# The capture's last export time: the workload's clock starts there.
BASE_TIME_NS = 1_795_312_418_384_000_000
DELTA_VARIANTS = 4  # distinct delta bodies per gateway, cycled (only the timestamps differ between cycles)
MAX_OBSERVATIONS = 3  # a growing histogram stream gains 1..3 observations per interval

_AGENTS = ("main", "ops", "support", "research", "coder", "family")
_SESSION_KINDS = ("openai", "hook", "telegram", "slack", "cron")
# Realistic, normaliser-valid values per attribute key (``^[A-Za-z0-9_.:-]{1,120}$``; session keys in lanes are
# valid characters, and the bridge turns them into ``session`` as the official plugin does).
POOLS: dict[str, tuple[str, ...]] = {
    "openclaw.channel": ("webchat", "telegram", "slack", "discord", "whatsapp", "signal", "heartbeat", "imessage"),
    "openclaw.provider": ("fakeai", "openai", "anthropic", "openrouter", "google", "mistral", "ollama", "groq"),
    "openclaw.model": (
        "fake-model",
        "gpt-5.1",
        "gpt-5.1-mini",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "gemini-2.5-pro",
        "qwen3-coder",
        "llama-4-scout",
        "mistral-large-2",
        "o4-mini",
    ),
    "openclaw.agent": _AGENTS,
    "openclaw.outcome": ("completed", "error"),
    "openclaw.api": ("openai-completions", "openai-responses", "anthropic-messages", "google-generative-ai"),
    "openclaw.transport": ("sse", "http", "websocket"),
    "openclaw.harness.id": ("pi", "codex", "claude-code"),
    "openclaw.harness.plugin": ("unknown", "memory-core", "browser"),
    "openclaw.harness.phase": ("send", "prompt", "stream"),
    "openclaw.errorCategory": ("Error", "timeout", "rate_limit", "auth"),
    "openclaw.toolName": (
        "session_status",
        "exec",
        "web_fetch",
        "read",
        "write",
        "edit",
        "browser",
        "memory_search",
        "cron",
        "message",
    ),
    "openclaw.tool.params.kind": ("object", "string", "none"),
    "openclaw.state": ("processing", "idle", "waiting"),
    "openclaw.reason": ("run_started", "run_completed", "queued", "configured"),
    "openclaw.liveness.reason": (
        "event_loop_delay",
        "event_loop_delay:event_loop_utilization:cpu",
        "event_loop_utilization",
        "cpu",
    ),
    "openclaw.exporter": ("diagnostics-otel", "diagnostics-prometheus"),
    "openclaw.signal": ("traces", "metrics", "logs"),
    "openclaw.status": ("started", "stopped", "failed"),
    "gen_ai.operation.name": ("text_completion", "chat"),
    "gen_ai.provider.name": ("fakeai", "openai", "anthropic", "openrouter", "google", "mistral", "ollama", "groq"),
    "gen_ai.request.model": (
        "fake-model",
        "gpt-5.1",
        "gpt-5.1-mini",
        "claude-sonnet-4-5",
        "claude-haiku-4-5",
        "gemini-2.5-pro",
        "qwen3-coder",
        "llama-4-scout",
    ),
}
# Keys whose values select mapping rows: keep exactly the values the capture has.
PINNED: dict[tuple[str, str], tuple[str, ...]] = {
    ("openclaw.queue.depth", "openclaw.channel"): ("liveness", "heartbeat"),
}
LANE_KEY = "openclaw.lane"


@dataclass(frozen=True, slots=True)
class ShapeTemplate:
    """One attribute shape of a metric, with the values of its latest captured point."""

    keys: tuple[str, ...]  # attribute keys in the order OpenClaw sends them
    example: tuple[str, ...]  # the captured values, same order
    weight: int  # how many points of this shape the template export has
    value: float = 0.0  # sum
    count: int = 0  # histogram
    total: float = 0.0
    buckets: tuple[int, ...] = ()
    bounds: tuple[float, ...] = ()
    minimum: float = 0.0
    maximum: float = 0.0


@dataclass(frozen=True, slots=True)
class MetricTemplate:
    name: str
    description: str
    unit: str
    kind: Literal["sum", "histogram"]
    shapes: tuple[ShapeTemplate, ...]


@dataclass(frozen=True, slots=True)
class Template:
    resource: tuple[tuple[str, Any], ...]  # (key, AnyValue as a dict) pairs, in order
    metrics: tuple[MetricTemplate, ...]
    source: str


@dataclass(frozen=True, slots=True)
class WorkloadSpec:
    """What to generate. Two processes with equal specs generate equal bytes."""

    gateways: int = 8
    points: int = 1000  # streams per gateway = data points per request
    change_fraction: float = 0.10
    temporality: Temporality = "cumulative"
    interval_seconds: float = 1.0
    seed: int = 20260429

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WorkloadSpec:
        return cls(**json.loads(text))

    def with_(self, **changes: Any) -> WorkloadSpec:
        return dataclasses.replace(self, **changes)


# -- the template -------------------------------------------------------------------------------------------------
def _capture_bodies(folder: Path) -> list[bytes]:
    bodies = []
    for path in sorted(folder.glob("*-metrics.pb")):
        meta = json.loads(path.with_suffix(".meta.json").read_text())
        body = path.read_bytes()
        if meta["headers"].get("Content-Encoding") == "gzip":
            import gzip  # noqa: PLC0415 - only the delta capture is gzipped

            body = gzip.decompress(body)
        bodies.append(body)
    return bodies


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(item) for item in value.array_value.values]
    return getattr(value, kind) if kind else None


def _shape_key(metric_name: str, point: Any) -> tuple[str, tuple[str, ...]]:
    return metric_name, tuple(sorted(pair.key for pair in point.attributes))


@cache
def load_template() -> Template:
    """The last cumulative export of the base capture, plus the shapes only the supplement capture has."""
    base_bodies = _capture_bodies(CAPTURES / BASE_CAPTURE)
    if not base_bodies:
        msg = f"no captured metrics bodies under {CAPTURES / BASE_CAPTURE}"
        raise FileNotFoundError(msg)
    last = decode_request(Signal.METRICS, Encoding.PROTOBUF, base_bodies[-1])
    resource_metrics = last.resource_metrics[0]
    resource = tuple((pair.key, _any_value(pair.value)) for pair in resource_metrics.resource.attributes)
    ordered: list[tuple[Any, list[Any]]] = []  # (metric, its points), in the export's order
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for metric in resource_metrics.scope_metrics[0].metrics:
        data = getattr(metric, metric.WhichOneof("data") or "")
        points = list(data.data_points)
        ordered.append((metric, points))
        seen.update(_shape_key(metric.name, point) for point in points)
    # Shapes the base lacks: the latest point of each from the supplement capture.
    extra: dict[tuple[str, tuple[str, ...]], tuple[Any, Any]] = {}
    for body in _capture_bodies(CAPTURES / SUPPLEMENT_CAPTURE):
        request = decode_request(Signal.METRICS, Encoding.PROTOBUF, body)
        for rm in request.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    data = getattr(metric, metric.WhichOneof("data") or "")
                    for point in data.data_points:
                        key = _shape_key(metric.name, point)
                        if key not in seen:
                            extra[key] = (metric, point)
    for (name, _), (metric, point) in sorted(extra.items()):
        for existing, points in ordered:
            if existing.name == name:
                points.append(point)
                break
        else:
            ordered.append((metric, [point]))
    metrics = []
    for metric, points in ordered:
        kind = metric.WhichOneof("data")
        assert kind in ("sum", "histogram"), kind
        by_shape: dict[tuple[str, ...], list[Any]] = {}
        for point in points:
            by_shape.setdefault(tuple(sorted(pair.key for pair in point.attributes)), []).append(point)
        shapes = []
        for group in by_shape.values():
            point = group[-1]
            keys = tuple(pair.key for pair in point.attributes)
            example = tuple(pair.value.string_value for pair in point.attributes)
            if kind == "sum":
                shapes.append(ShapeTemplate(keys, example, len(group), value=point.as_double))
            else:
                shapes.append(
                    ShapeTemplate(
                        keys,
                        example,
                        len(group),
                        count=int(point.count),
                        total=float(point.sum),
                        buckets=tuple(int(c) for c in point.bucket_counts),
                        bounds=tuple(point.explicit_bounds),
                        minimum=float(point.min),
                        maximum=float(point.max),
                    )
                )
        metrics.append(MetricTemplate(metric.name, metric.description, metric.unit, kind, tuple(shapes)))
    return Template(resource, tuple(metrics), f"{BASE_CAPTURE} (last export) + {SUPPLEMENT_CAPTURE}")


# -- the stream plan ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StreamPlan:
    metric: int  # index into Template.metrics
    shape: int  # index into MetricTemplate.shapes
    values: tuple[str, ...]  # attribute values, in the shape's key order


def _pool(metric: str, key: str, example: str) -> tuple[str, ...]:
    pinned = PINNED.get((metric, key))
    if pinned is not None:
        return pinned
    pool = POOLS.get(key)
    if pool is None:
        return (example,)
    return pool if example in pool else (example, *pool)


def _lane(rng: random.Random) -> str:
    if rng.random() < 0.15:
        return rng.choice(("main", "cron", "subagent", "nested"))
    agent = rng.choice(_AGENTS)
    kind = rng.choice(_SESSION_KINDS)
    ident = rng.getrandbits(128).to_bytes(16, "big").hex()
    return f"session:agent:{agent}:{kind}:{ident[:8]}-{ident[8:12]}-{ident[12:16]}-{ident[16:20]}-{ident[20:]}"


def _capacity(template: Template, metric: int, shape: int) -> float:
    metric_template = template.metrics[metric]
    keys = metric_template.shapes[shape].keys
    example = metric_template.shapes[shape].example
    if LANE_KEY in keys:
        return math.inf
    return math.prod(len(_pool(metric_template.name, k, e)) for k, e in zip(keys, example, strict=True))


def _allocate(template: Template, points: int) -> list[tuple[int, int, int]]:
    """How many streams each (metric, shape) gets: attribute-less shapes one, the rest evenly, each capped by its
    number of distinct value combinations (what a shape cannot take goes to the others; lanes are unbounded)."""
    shapes = [(m, s) for m, metric in enumerate(template.metrics) for s in range(len(metric.shapes))]
    fixed = [(m, s) for m, s in shapes if not template.metrics[m].shapes[s].keys]
    scalable = [(m, s) for m, s in shapes if template.metrics[m].shapes[s].keys]
    remaining = points - len(fixed)
    if remaining < len(scalable):
        msg = f"need at least {len(fixed) + len(scalable)} points per gateway for every captured shape"
        raise ValueError(msg)
    counts = {shape: 1 for shape in fixed}
    weights = dict.fromkeys(scalable, 1)
    open_shapes = dict(weights)
    left = remaining
    while left > 0 and open_shapes:
        total_weight = sum(open_shapes.values())
        share = {shape: left * weight / total_weight for shape, weight in open_shapes.items()}
        floors = {shape: max(0, int(value)) for shape, value in share.items()}
        short = left - sum(floors.values())
        for shape, _ in sorted(share.items(), key=lambda item: item[1] - int(item[1]), reverse=True)[:short]:
            floors[shape] += 1
        left = 0
        for shape, want in floors.items():
            cap = _capacity(template, *shape) - counts.get(shape, 0)
            take = int(min(want, cap))
            counts[shape] = counts.get(shape, 0) + take
            left += want - take
            if counts[shape] >= _capacity(template, *shape):
                open_shapes.pop(shape, None)
    if left:
        msg = f"cannot place {points} distinct streams per gateway"
        raise ValueError(msg)
    return [(m, s, counts[(m, s)]) for m, s in shapes if counts.get((m, s))]


def plan_streams(template: Template, points: int, seed: int) -> list[StreamPlan]:
    """The streams every gateway has (a fleet of like gateways): distinct attribute sets per metric."""
    rng = random.Random(seed)
    plans: list[StreamPlan] = []
    for m, s, count in _allocate(template, points):
        metric = template.metrics[m]
        shape = metric.shapes[s]
        pools = [_pool(metric.name, key, example) for key, example in zip(shape.keys, shape.example, strict=True)]
        chosen: list[tuple[str, ...]] = [shape.example] if count else []
        taken = set(chosen)
        for _ in range(count * 50):
            if len(chosen) >= count:
                break
            values = tuple(
                _lane(rng) if key == LANE_KEY else rng.choice(pool) for key, pool in zip(shape.keys, pools, strict=True)
            )
            if values not in taken:
                taken.add(values)
                chosen.append(values)
        if len(chosen) < count:  # small products: enumerate them
            for values in _product(pools):
                if len(chosen) >= count:
                    break
                if values not in taken:
                    taken.add(values)
                    chosen.append(values)
        plans.extend(StreamPlan(m, s, values) for values in chosen[:count])
    return plans


def _product(pools: Sequence[tuple[str, ...]]) -> Iterator[tuple[str, ...]]:
    import itertools  # noqa: PLC0415

    return itertools.product(*pools)


# -- values -------------------------------------------------------------------------------------------------------
def _bucket_values(shape: ShapeTemplate) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Bucket indices to draw new observations from (weighted like the template) and a value inside each bucket."""
    mean = shape.total / shape.count if shape.count else 1.0
    values = []
    for index in range(len(shape.buckets)):
        if index == 0:
            value = shape.bounds[0] if shape.bounds else mean
        elif index >= len(shape.bounds):
            value = max(mean, shape.bounds[-1] * 1.5 if shape.bounds else mean)
        else:
            value = (shape.bounds[index - 1] + shape.bounds[index]) / 2
        values.append(value)
    choices = [index for index, count in enumerate(shape.buckets) for _ in range(min(count, 8))]
    if not choices:
        choices = [len(shape.buckets) - 1]
    return tuple(choices), tuple(values)


def _integral(value: float) -> bool:
    return float(value).is_integer()


class _Stream:
    """A stream's generator state: its point (inside the gateway's message) and how it grows."""

    __slots__ = ("choices", "histogram", "point", "step", "values")

    def __init__(self, point: Any, histogram: bool, step: float, choices: tuple[int, ...], values: tuple[float, ...]):
        self.point = point
        self.histogram = histogram
        self.step = step
        self.choices = choices
        self.values = values


def _stamp(value: int) -> bytes:
    return struct.pack("<Q", value)


class Gateway:
    """One simulated OpenClaw gateway: a resource and its streams, producing one export body per interval."""

    def __init__(self, index: int, spec: WorkloadSpec, template: Template, plans: Sequence[StreamPlan]) -> None:
        self.index = index
        self.spec = spec
        self.rng = random.Random(spec.seed * 1_000_003 + index)
        self.interval = 0
        self.interval_ns = round(spec.interval_seconds * 1e9)
        self.request = ExportMetricsServiceRequest()
        self.streams: list[_Stream] = []
        self.variants: list[bytes] = []
        self.variant_totals: list[float] = []  # delta: the sum of the counter points of each variant
        self.sent_total = 0.0  # delta: the counter points of every body produced so far
        self.delta = spec.temporality == "delta"
        self._build(template, plans)
        self.points = len(self.streams)
        self.changed_per_interval = 0 if self.delta else max(1, round(self.points * spec.change_fraction))
        marks: tuple[tuple[int, int], ...]
        if self.delta:
            for _ in range(DELTA_VARIANTS):
                self.variants.append(self._delta_variant())
                self.variant_totals.append(self._counter_state())
            marks = ((TIME_MARK, self.points), (START_MARK, self.points))
            body = self.variants[0]
        else:
            marks = ((TIME_MARK, self.points),)
            body = self.request.SerializeToString()
        for mark, expected in marks:
            found = body.count(_stamp(mark))
            if found != expected:
                msg = f"timestamp placeholder found {found} times in a body of {expected} points"
                raise AssertionError(msg)

    @property
    def host_name(self) -> str:
        return f"gw-{self.index:04d}"

    def _build(self, template: Template, plans: Sequence[StreamPlan]) -> None:
        resource_metrics = self.request.resource_metrics.add()
        for key, value in template.resource:
            attribute = resource_metrics.resource.attributes.add(key=key)
            if key == "host.name":
                attribute.value.string_value = self.host_name
            elif key == "host.id":
                attribute.value.string_value = f"{self.spec.seed:08x}{self.index:024x}"
            elif key == "process.pid":
                attribute.value.int_value = 20_000 + self.index
            elif isinstance(value, list):
                for item in value:
                    attribute.value.array_value.values.add(string_value=str(item))
            elif isinstance(value, bool):
                attribute.value.bool_value = value
            elif isinstance(value, int):
                attribute.value.int_value = value
            elif isinstance(value, float):
                attribute.value.double_value = value
            else:
                attribute.value.string_value = str(value)
        scope_metrics = resource_metrics.scope_metrics.add()
        scope_metrics.scope.name = "openclaw"
        by_metric: dict[int, list[StreamPlan]] = {}
        for plan in plans:
            by_metric.setdefault(plan.metric, []).append(plan)
        rng = self.rng
        temporality = DELTA if self.delta else CUMULATIVE
        for m, metric_plans in sorted(by_metric.items()):
            metric_template = template.metrics[m]
            metric = scope_metrics.metrics.add(
                name=metric_template.name, description=metric_template.description, unit=metric_template.unit
            )
            histogram = metric_template.kind == "histogram"
            data_points: Any
            if histogram:
                metric.histogram.aggregation_temporality = temporality  # type: ignore[assignment]
                data_points = metric.histogram.data_points
            else:
                metric.sum.aggregation_temporality = temporality  # type: ignore[assignment]
                metric.sum.is_monotonic = True
                data_points = metric.sum.data_points
            for plan in metric_plans:
                shape = metric_template.shapes[plan.shape]
                point = data_points.add()
                for key, text in zip(shape.keys, plan.values, strict=True):
                    point.attributes.add(key=key).value.string_value = text
                start_offset = rng.randrange(1, 3600) * 1_000_000_000 + rng.randrange(1000) * 1_000_000
                point.start_time_unix_nano = START_MARK if self.delta else BASE_TIME_NS - start_offset
                point.time_unix_nano = TIME_MARK
                factor = rng.uniform(0.5, 4.0)
                if histogram:
                    choices, values = _bucket_values(shape)
                    counts = [round(count * factor) for count in shape.buckets]
                    if not any(counts):
                        counts[choices[0]] = 1
                    count = sum(counts)
                    mean = shape.total / shape.count if shape.count else values[choices[0]]
                    point.count = count
                    point.sum = mean * count
                    point.bucket_counts.extend(counts)
                    point.explicit_bounds.extend(shape.bounds)
                    point.min = shape.minimum
                    point.max = shape.maximum
                    self.streams.append(_Stream(point, True, 0.0, choices, values))
                else:
                    value = shape.value * factor
                    step = max(shape.value * rng.uniform(0.02, 0.2), 1.0)
                    if _integral(shape.value):
                        value, step = float(max(1, round(value))), float(round(step))
                    point.as_double = value
                    self.streams.append(_Stream(point, False, step, (), ()))

    # -- growth -------------------------------------------------------------------------------------------------
    def _grow(self, stream: _Stream) -> None:
        point = stream.point
        if not stream.histogram:
            point.as_double += stream.step
            return
        rng = self.rng
        for _ in range(rng.randint(1, MAX_OBSERVATIONS)):
            index = rng.choice(stream.choices)
            value = stream.values[index]
            point.bucket_counts[index] += 1
            point.count += 1
            point.sum += value
            point.max = max(point.max, value)
            point.min = min(point.min, value)

    def _delta_variant(self) -> bytes:
        """Every point a fresh increment: 1–3 observations, or one counter step."""
        rng = self.rng
        for stream in self.streams:
            point = stream.point
            if not stream.histogram:
                point.as_double = stream.step * rng.randint(1, MAX_OBSERVATIONS)
                continue
            counts = [0] * len(point.bucket_counts)
            total, low, high = 0.0, math.inf, -math.inf
            observations = rng.randint(1, MAX_OBSERVATIONS)
            for _ in range(observations):
                index = rng.choice(stream.choices)
                value = stream.values[index]
                counts[index] += 1
                total += value
                low, high = min(low, value), max(high, value)
            del point.bucket_counts[:]
            point.bucket_counts.extend(counts)
            point.count = observations
            point.sum = total
            point.min = low
            point.max = high
        return self.request.SerializeToString()

    def _counter_state(self) -> float:
        return math.fsum(stream.point.as_double for stream in self.streams if not stream.histogram)

    def counter_total(self) -> float:
        """What the bridge's counters fed by this gateway's Sum streams must add up to: the last cumulative values,
        or every delta produced (with every produced body acknowledged)."""
        return self.sent_total if self.delta else self._counter_state()

    # -- bodies -------------------------------------------------------------------------------------------------
    def export_time_ns(self, interval: int) -> int:
        return BASE_TIME_NS + interval * self.interval_ns

    def next_body(self) -> bytes:
        """The body of this gateway's next export (interval 0 is its first full snapshot)."""
        interval = self.interval
        self.interval += 1
        if self.delta:
            self.sent_total += self.variant_totals[interval % DELTA_VARIANTS]
            body = self.variants[interval % DELTA_VARIANTS]
            body = body.replace(_stamp(START_MARK), _stamp(self.export_time_ns(interval - 1)))
            return body.replace(_stamp(TIME_MARK), _stamp(self.export_time_ns(interval)))
        if interval:
            streams = self.streams
            for index in self.rng.sample(range(len(streams)), self.changed_per_interval):
                self._grow(streams[index])
        body = self.request.SerializeToString()
        return body.replace(_stamp(TIME_MARK), _stamp(self.export_time_ns(interval)))

    def skip(self, intervals: int) -> None:
        """Advance as if ``intervals`` bodies had been produced (same state, same random stream)."""
        for _ in range(intervals):
            if self.delta:
                self.sent_total += self.variant_totals[self.interval % DELTA_VARIANTS]
                self.interval += 1
            else:
                self.next_body()


class Workload:
    """``spec.gateways`` gateways of ``spec.points`` streams."""

    def __init__(self, spec: WorkloadSpec) -> None:
        self.spec = spec
        self.template = load_template()
        self.plans = plan_streams(self.template, spec.points, spec.seed)
        self.gateways = [Gateway(index, spec, self.template, self.plans) for index in range(spec.gateways)]

    @property
    def points_per_request(self) -> int:
        return len(self.plans)

    def round_robin(self, intervals: int) -> Iterator[bytes]:
        """``intervals`` rounds of one export per gateway."""
        for _ in range(intervals):
            for gateway in self.gateways:
                yield gateway.next_body()

    def describe(self) -> dict[str, Any]:
        """The generated shapes: per metric, its kind, unit, bounds, attribute keys and streams per gateway."""
        streams: dict[tuple[int, int], int] = {}
        for plan in self.plans:
            streams[(plan.metric, plan.shape)] = streams.get((plan.metric, plan.shape), 0) + 1
        metrics = []
        for m, metric in enumerate(self.template.metrics):
            for s, shape in enumerate(metric.shapes):
                metrics.append(
                    {
                        "metric": metric.name,
                        "kind": metric.kind,
                        "unit": metric.unit,
                        "bounds": len(shape.bounds),
                        "attribute_keys": list(shape.keys),
                        "captured_example": dict(zip(shape.keys, shape.example, strict=True)),
                        "streams_per_gateway": streams.get((m, s), 0),
                    }
                )
        sample = self.gateways[0].request.SerializeToString() if self.gateways else b""
        return {
            "source": self.template.source,
            "spec": dataclasses.asdict(self.spec),
            "points_per_request": self.points_per_request,
            "histogram_points_per_request": sum(
                1 for plan in self.plans if self.template.metrics[plan.metric].kind == "histogram"
            ),
            "changed_per_interval": self.gateways[0].changed_per_interval if self.gateways else 0,
            "body_bytes": len(sample),
            "metrics": metrics,
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.workload", description=__doc__.split("\n\n")[0])
    default = WorkloadSpec()
    parser.add_argument("--gateways", type=int, default=default.gateways)
    parser.add_argument("--points", type=int, default=default.points)
    parser.add_argument("--change-fraction", type=float, default=default.change_fraction)
    parser.add_argument("--temporality", choices=("cumulative", "delta"), default="cumulative")
    parser.add_argument("--json", action="store_true", help="print the description as JSON")
    args = parser.parse_args(argv)
    spec = WorkloadSpec(
        gateways=args.gateways, points=args.points, change_fraction=args.change_fraction, temporality=args.temporality
    )
    description = Workload(spec).describe()
    if args.json:
        print(json.dumps(description, indent=2))
        return 0
    print(f"source: {description['source']}")
    print(
        f"{spec.gateways} gateways × {description['points_per_request']} points/request "
        f"({description['histogram_points_per_request']} histogram), {description['body_bytes']} bytes/body, "
        f"{description['changed_per_interval']} streams grow per interval ({spec.temporality})"
    )
    print(f"{'metric':<44} {'kind':<9} {'unit':<8} {'bounds':>6} {'streams':>7}  attribute keys")
    for row in description["metrics"]:
        keys = ", ".join(row["attribute_keys"]) or "–"
        print(
            f"{row['metric']:<44} {row['kind']:<9} {row['unit']:<8} {row['bounds']:>6} "
            f"{row['streams_per_gateway']:>7}  {keys}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
