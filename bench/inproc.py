"""In-process measurements on the workload's bodies: the raw protobuf parse (the floor), parse plus a bare Python
walk over the points, and the bridge's translate step alone (``MetricsTranslator.apply`` on pre-decoded requests)."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from bench.workload import Workload, WorkloadSpec
from otlp_bridge.store import Store
from otlp_bridge.translate.metrics import MetricsTranslator, TranslateOptions

if TYPE_CHECKING:
    from bench.fleet import FleetSpec

SOURCE_LABEL = "gateway"
FLEET_WARM_ROUNDS = 2  # a gateway's first export is decoded; its second is the first the whole-export path takes


@dataclass
class Rate:
    """Points per second and microseconds per point of one in-process measurement (median of ``runs``)."""

    points: int
    seconds: float
    runs: int

    @property
    def points_per_second(self) -> float:
        return self.points / self.seconds if self.seconds > 0 else 0.0

    @property
    def us_per_point(self) -> float:
        return self.seconds / self.points * 1e6 if self.points else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "points": self.points,
            "seconds": self.seconds,
            "runs": self.runs,
            "points_per_second": self.points_per_second,
            "us_per_point": self.us_per_point,
        }


def sample_bodies(spec: WorkloadSpec, intervals: int, skip: int = 1) -> tuple[list[bytes], int]:
    """Steady-state bodies (after ``skip`` intervals per gateway) and the data points they hold in total."""
    workload = Workload(spec)
    for gateway in workload.gateways:
        gateway.skip(skip)
    bodies = list(workload.round_robin(intervals))
    return bodies, len(bodies) * workload.points_per_request


def _timed(action: Callable[[], None], runs: int) -> float:
    timings = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def measure_parse(bodies: Sequence[bytes], points: int, runs: int = 5) -> Rate:
    """``ExportMetricsServiceRequest.FromString`` on every body: what any Python receiver pays at least."""
    parse = ExportMetricsServiceRequest.FromString

    def action() -> None:
        for body in bodies:
            parse(body)

    return Rate(points, _timed(action, runs), runs)


def walk(request: Any) -> int:
    """Visit every data point, reading its attributes (key, string value) and values, storing nothing.

    Sums: ``as_double`` and both timestamps; histograms: ``count``, ``sum``, both timestamps and the bucket-count
    container (not each bucket). The least a bridge must read to tell whether a point changed.
    """
    visited = 0
    for resource_metrics in request.resource_metrics:
        for pair in resource_metrics.resource.attributes:
            _ = pair.key, pair.value
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind == "sum":
                    for point in metric.sum.data_points:
                        for pair in point.attributes:
                            _ = pair.key, pair.value.string_value
                        _ = point.as_double, point.start_time_unix_nano, point.time_unix_nano
                        visited += 1
                elif kind == "histogram":
                    for point in metric.histogram.data_points:
                        for pair in point.attributes:
                            _ = pair.key, pair.value.string_value
                        _ = point.count, point.sum, point.start_time_unix_nano, point.time_unix_nano
                        _ = point.bucket_counts
                        visited += 1
    return visited


def measure_walk(bodies: Sequence[bytes], points: int, runs: int = 3) -> Rate:
    """Parse plus :func:`walk`: the floor for any per-point Python work."""
    parse = ExportMetricsServiceRequest.FromString

    def action() -> None:
        for body in bodies:
            walk(parse(body))

    return Rate(points, _timed(action, runs), runs)


def translator(max_streams: int = 10_000_000, source_label: str | None = SOURCE_LABEL) -> MetricsTranslator:
    """A translator over an uncapped store, with the gateway label the end-to-end runs use (by default)."""
    store = Store(max_series=10_000_000, max_series_per_family=10_000_000, ttl=600.0)
    return MetricsTranslator(store, TranslateOptions(source_label=source_label, max_streams=max_streams))


@dataclass
class TranslateResult:
    first: Rate  # every gateway's first snapshot: streams and series created
    steady: Rate  # later exports
    settle: Rate  # ``settle()`` after every round of exports: a read after each export interval (the worst case)
    rejected: int
    series: int
    streams: int


def measure_translate(spec: WorkloadSpec, intervals: int) -> TranslateResult:
    """``MetricsTranslator.apply`` on pre-decoded requests: the first snapshot of every gateway, then ``intervals``
    further exports per gateway (each request timed alone, decoding outside the clock). After every round the store
    is settled, as a read would (timed apart: ``settle``)."""
    workload = Workload(spec)
    bridge = translator()
    parse = ExportMetricsServiceRequest.FromString
    per_request = workload.points_per_request
    rejected = 0
    now = 1_000_000.0

    def apply_all(requests: list[tuple[Any, bytes]]) -> float:
        nonlocal rejected, now
        total = 0.0
        gc.collect()
        for request, body in requests:
            now += 0.01
            started = time.perf_counter()
            result = bridge.apply(request, now, body)  # with its body, as the server passes it
            total += time.perf_counter() - started
            rejected += result.rejected
        return total

    first = [(parse(body), body) for body in workload.round_robin(1)]
    first_seconds = apply_all(first)
    first_rate = Rate(len(first) * per_request, first_seconds, 1)
    del first
    steady_seconds = settle_seconds = 0.0
    steady_points = 0
    bridge.settle()
    for _ in range(intervals):  # one round at a time keeps the decoded requests small
        requests = [(parse(body), body) for body in workload.round_robin(1)]
        steady_seconds += apply_all(requests)
        steady_points += len(requests) * per_request
        started = time.perf_counter()
        bridge.settle()
        settle_seconds += time.perf_counter() - started
    return TranslateResult(
        first_rate,
        Rate(steady_points, steady_seconds, 1),
        Rate(steady_points, settle_seconds, 1),
        rejected,
        bridge.store.live_series,
        len(bridge.tracked_streams),
    )


@dataclass(frozen=True)
class FleetTranslate:
    """Microseconds per export of a fleet's bodies in this process: the server's path through the translator
    (``apply_export``, else decode and ``apply``), and a settle after every round (each export settled on its own)."""

    apply_us: float
    settle_us: float
    exports: int

    def as_dict(self) -> dict[str, float]:
        return {"apply_us": self.apply_us, "settle_us": self.settle_us, "exports": self.exports}


def measure_fleet_translate(spec: FleetSpec, rounds: int, warm: int = FLEET_WARM_ROUNDS) -> FleetTranslate:
    """``FleetTranslate`` over ``rounds`` exports of every gateway of ``spec`` after ``warm`` (shared series, as the
    bridge runs by default). Bodies are made outside the clock, a round at a time."""
    from bench.fleet import Fleet  # noqa: PLC0415  # (the memory part's process imports this module: not the fleet)

    gateways = Fleet(spec).gateways
    bridge = translator(source_label=None)
    parse = ExportMetricsServiceRequest.FromString
    now = 1_000_000.0
    applying = settling = 0.0
    for round_number in range(warm + rounds):
        bodies = [gateway.next_body() for gateway in gateways]
        now += 1.0
        gc.collect()
        started = time.perf_counter()
        for body in bodies:
            taken = bridge.apply_export(body, now)
            if taken is None or not taken.complete:
                bridge.apply(parse(body), now, body, taken)
        applied = time.perf_counter()
        bridge.settle()
        settled = time.perf_counter()
        if round_number >= warm:
            applying += applied - started
            settling += settled - applied
    exports = rounds * len(gateways)
    return FleetTranslate(applying / exports * 1e6, settling / exports * 1e6, exports)
