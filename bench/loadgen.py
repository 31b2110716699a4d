"""Load client: posts the workload's protobuf bodies over keep-alive HTTP/1.1 and measures acknowledgements.

Run by the harness in its own process (pinned to the other core), one per measurement::

    python -m bench.loadgen --url http://127.0.0.1:4318/v1/metrics --spec '{"gateways": 8, ...}' \
        --warmup-intervals 2 --requests 2000 --duration 10 --concurrency 4 --out result.json

Each of ``--concurrency`` workers owns a fixed subset of the gateways and keeps one keep-alive connection, so every
gateway's exports arrive in order (cumulative points never go backwards). The connections are the raw asyncio
transport of ``bench/httpclient.py`` (far less CPU per request than a general client, so that the client is not what
a saturating run measures). The first ``--warmup-intervals`` rounds (every gateway's first full snapshot creates its
streams and series) are sent before the clock starts. Bodies are
generated on the fly (``--pregenerate K`` instead cycles K pre-made exports per gateway: for receivers that do not
interpret the data, so the client is never the bottleneck). ``--rate`` paces a single sender instead of saturating.

Every answer must be 200 with no ``partial_success``; anything else is counted and reported, and so is a request
that got no whole answer (the connection closed, or ``--request-timeout``). ``client_cpu_share`` is this process's
CPU time over the measured window divided by its wall time: near 100 %, the figure is the client's, not the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse

from bench.fleet import Fleet, FleetSpec, is_fleet_spec
from bench.httpclient import Connection, HttpError
from bench.procs import emit
from bench.workload import Workload, WorkloadSpec

HEADERS = {"Content-Type": "application/x-protobuf", "User-Agent": "otlp-bridge-bench/1"}


@dataclass
class Tally:
    requests: int = 0
    points: int = 0
    body_bytes: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    rejected_points: int = 0
    partial_responses: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    first_send: float = math.inf
    last_ack: float = 0.0


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def latency_summary(latencies: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": percentile(latencies, 0.50) * 1e3,
        "p90_ms": percentile(latencies, 0.90) * 1e3,
        "p99_ms": percentile(latencies, 0.99) * 1e3,
        "max_ms": max(latencies) * 1e3 if latencies else math.nan,
        "mean_ms": sum(latencies) / len(latencies) * 1e3 if latencies else math.nan,
        "samples": len(latencies),
    }


def check_response(status: int, body: bytes, tally: Tally) -> None:
    tally.statuses[status] += 1
    if status != 200:
        return
    try:
        response = ExportMetricsServiceResponse.FromString(body)
    except Exception:
        tally.errors["undecodable response"] += 1
        return
    if response.HasField("partial_success"):
        partial = response.partial_success
        if partial.rejected_data_points or partial.error_message:
            tally.partial_responses += 1
            tally.rejected_points += partial.rejected_data_points


class Exporter(Protocol):
    """What sends one request after another: a workload gateway, or a fleet's sender (one or more gateways)."""

    points: int

    def next_body(self) -> bytes: ...

    def skip(self, intervals: int) -> None: ...

    def counter_total(self) -> float: ...


class Source:
    """The bodies of one exporter: generated on the fly, or cycled from a few pre-made ones."""

    def __init__(self, gateway: Exporter, pregenerate: int) -> None:
        self.gateway = gateway
        self.points = gateway.points
        self._cycle: Callable[[], bytes] | None = None
        if pregenerate:
            bodies = itertools.cycle([gateway.next_body() for _ in range(pregenerate)])
            self._cycle = bodies.__next__

    def next(self) -> bytes:
        return self._cycle() if self._cycle is not None else self.gateway.next_body()


async def _post(connection: Connection, body: bytes, points: int, tally: Tally) -> None:
    started = time.perf_counter()
    tally.first_send = min(tally.first_send, started)
    try:
        answer = await connection.post(body)
    except HttpError as error:
        tally.errors[error.reason] += 1
        return
    except (OSError, TimeoutError) as error:
        tally.errors[type(error).__name__] += 1
        return
    finished = time.perf_counter()
    tally.last_ack = max(tally.last_ack, finished)
    tally.latencies.append(finished - started)
    tally.requests += 1
    tally.points += points
    tally.body_bytes += len(body)
    check_response(answer.status, answer.body, tally)


async def _saturate(
    connections: Sequence[Connection],
    sources: list[Source],
    max_requests: int,
    deadline: float,
    max_rounds: int | None,
    tally: Tally,
) -> None:
    """A worker per connection, each cycling over its own gateways, until a bound is hit."""
    budget = [max_requests]

    async def worker(connection: Connection, mine: list[Source]) -> None:
        rounds = itertools.count() if max_rounds is None else range(max_rounds)
        for _ in rounds:
            for source in mine:
                if budget[0] <= 0 or time.perf_counter() >= deadline:
                    return
                budget[0] -= 1
                await _post(connection, source.next(), source.points, tally)

    count = len(connections)
    await asyncio.gather(*(worker(connection, sources[index::count]) for index, connection in enumerate(connections)))


async def _paced(
    connection: Connection,
    sources: list[Source],
    rate: float,
    max_requests: int,
    deadline: float,
    tally: Tally,
) -> None:
    """One sender, one request every ``1/rate`` seconds (or at once when behind), round-robin over gateways."""
    period = 1.0 / rate
    next_at = time.perf_counter()
    for count, source in enumerate(itertools.cycle(sources)):
        now = time.perf_counter()
        if count >= max_requests or now >= deadline:
            return
        if next_at > now:
            await asyncio.sleep(next_at - now)
        next_at = max(next_at + period, time.perf_counter() - period)
        await _post(connection, source.next(), source.points, tally)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    spec: WorkloadSpec | FleetSpec
    workload: Workload | Fleet
    if is_fleet_spec(args.spec):
        spec = FleetSpec.from_json(args.spec)
        workload = Fleet(spec)
    else:
        spec = WorkloadSpec.from_json(args.spec)
        workload = Workload(spec)
    exporters: Sequence[Exporter] = workload.gateways
    for gateway in exporters:
        gateway.skip(args.skip_intervals)
    sources = [Source(gateway, args.pregenerate) for gateway in exporters]
    concurrency = max(1, min(args.concurrency, len(sources)))
    connections = [Connection(args.url, HEADERS, args.request_timeout) for _ in range(concurrency)]
    cpu_started = time.process_time()
    warmup = Tally()
    warm_started = time.perf_counter()
    if args.warmup_intervals:
        requests, deadline = len(sources) * args.warmup_intervals, warm_started + args.warmup_timeout
        await _saturate(connections, sources, requests, deadline, args.warmup_intervals, warmup)
    warm_seconds = time.perf_counter() - warm_started
    tally = Tally()
    cpu_measured = time.process_time()
    wall_started = time.time()
    started = time.perf_counter()
    deadline = started + args.duration
    if args.requests > 0:
        if args.rate:
            await _paced(connections[0], sources, args.rate, args.requests, deadline, tally)
        else:
            await _saturate(connections, sources, args.requests, deadline, None, tally)
    ended = time.perf_counter()
    wall_ended = time.time()
    cpu_ended = time.process_time()
    for connection in connections:
        connection.close()
    seconds = (tally.last_ack - tally.first_send) if tally.requests else 0.0
    return {
        "spec": json.loads(spec.to_json()),
        "concurrency": concurrency,
        "pregenerate": args.pregenerate,
        "rate": args.rate,
        "warmup": {
            "requests": warmup.requests,
            "points": warmup.points,
            "seconds": warm_seconds,
            "statuses": dict(warmup.statuses),
            "rejected_points": warmup.rejected_points,
            "partial_responses": warmup.partial_responses,
            "errors": dict(warmup.errors),
        },
        "requests": tally.requests,
        "points": tally.points,
        "seconds": seconds,
        "points_per_second": tally.points / seconds if seconds > 0 else 0.0,
        "requests_per_second": tally.requests / seconds if seconds > 0 else 0.0,
        "mean_body_bytes": tally.body_bytes / tally.requests if tally.requests else 0.0,
        "latency": latency_summary(tally.latencies),
        "statuses": {str(code): count for code, count in sorted(tally.statuses.items())},
        "non_200": sum(count for code, count in tally.statuses.items() if code != 200),
        "rejected_points": tally.rejected_points,
        "partial_responses": tally.partial_responses,
        "errors": dict(tally.errors),
        # What the receiver's counters fed by Sum streams must total (every body generated was posted);
        # None when bodies are cycled.
        "counter_total": None if args.pregenerate else math.fsum(g.counter_total() for g in exporters),
        "wall_started": wall_started,
        "wall_ended": wall_ended,
        "client_cpu_seconds": cpu_ended - cpu_measured,
        "client_cpu_share": (cpu_ended - cpu_measured) / (ended - started) if ended > started else 0.0,
        "total_client_cpu_seconds": cpu_ended - cpu_started,
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/v1/metrics (loopback only)")
    parser.add_argument("--spec", required=True, help="WorkloadSpec or FleetSpec as JSON")
    parser.add_argument("--warmup-intervals", type=int, default=1)
    parser.add_argument("--warmup-timeout", type=float, default=120.0)
    parser.add_argument("--skip-intervals", type=int, default=0, help="advance every gateway this many exports")
    parser.add_argument("--requests", type=int, default=1000, help="measured requests at most")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds at most")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.0, help="paced requests per second (one sender)")
    parser.add_argument("--pregenerate", type=int, default=0, help="cycle this many pre-made exports per gateway")
    parser.add_argument("--request-timeout", type=float, default=60.0)
    parser.add_argument("--out", type=Path, help="write the JSON result here (default: stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.url.startswith(("http://127.0.0.1:", "http://[::1]:", "http://localhost:")):
        print("loadgen: only loopback URLs", file=sys.stderr)
        return 2
    result = asyncio.run(run(args))
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
