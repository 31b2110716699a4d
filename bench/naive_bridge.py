"""The naive bridge: the straightforward way to turn OTLP metrics into Prometheus series, as a baseline.

Decode the request, walk every point, difference cumulative points against the last value of their stream (a
gateway restart, i.e. a new start time or a decrease, starts from zero), and feed the increments into
``prometheus_client`` ``Counter``/``Histogram`` children found with ``.labels(...)``. ``/metrics`` serves
``generate_latest`` (gzip when asked, as ``prometheus_client``'s own HTTP handlers do), synchronously, on the same
event loop. No mapping to the official ``openclaw_*`` families: names and labels are the sanitised OTLP names and
attribute keys, plus a ``gateway`` label (``service.name:host.name``), like ``--source-label gateway``
(``--no-gateway-label``: without it, so that like gateways share series, like the bridge without ``--source-label``;
each gateway's cumulative streams are still differenced apart).

Run: ``python -m bench.naive_bridge --otlp-listen 127.0.0.1:4318 --metrics-listen 127.0.0.1:9464``.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import re
import signal
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest

CUMULATIVE = 2
GATEWAY_LABEL = "gateway"
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def sanitize(name: str) -> str:
    return _INVALID.sub("_", name)


class NaiveBridge:
    """All state: the prometheus_client registry and the last cumulative value of every stream."""

    def __init__(self, gateway_label: bool = True) -> None:
        self.gateway_label = gateway_label
        disable_created_metrics()  # type: ignore[no-untyped-call]  # the bridge prints no _created lines in text 0.0.4
        self.registry = CollectorRegistry(auto_describe=False)
        self.counters: dict[str, tuple[Counter, tuple[str, ...]]] = {}
        self.histograms: dict[str, tuple[Histogram, tuple[str, ...]]] = {}
        self.last_sum: dict[tuple[Any, ...], tuple[int, float]] = {}
        self.last_histogram: dict[tuple[Any, ...], tuple[int, int, float, list[int]]] = {}
        self.points = 0

    def _label_names(self, points: Any) -> tuple[str, ...]:
        keys = {sanitize(pair.key) for point in points for pair in point.attributes} - {GATEWAY_LABEL}
        return (*sorted(keys), GATEWAY_LABEL) if self.gateway_label else tuple(sorted(keys))

    def _counter(self, metric: Any, points: Any) -> tuple[Counter, tuple[str, ...]]:
        found = self.counters.get(metric.name)
        if found is None:
            names = self._label_names(points)
            counter = Counter(sanitize(metric.name), metric.description or metric.name, names, registry=self.registry)
            found = self.counters[metric.name] = (counter, names)
        return found

    def _histogram(self, metric: Any, points: Any) -> tuple[Histogram, tuple[str, ...]]:
        found = self.histograms.get(metric.name)
        if found is None:
            names = self._label_names(points)
            bounds = [*points[0].explicit_bounds, float("inf")]
            histogram = Histogram(
                sanitize(metric.name), metric.description or metric.name, names, registry=self.registry, buckets=bounds
            )
            found = self.histograms[metric.name] = (histogram, names)
        return found

    def ingest(self, request: Any) -> int:
        points = 0
        for resource_metrics in request.resource_metrics:
            resource = {pair.key: pair.value for pair in resource_metrics.resource.attributes}
            service = resource["service.name"].string_value if "service.name" in resource else "unknown"
            host = resource["host.name"].string_value if "host.name" in resource else "unknown"
            pid = resource["process.pid"].int_value if "process.pid" in resource else 0
            gateway = f"{service}:{host}"
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    if kind == "sum":
                        points += self._sums(metric, gateway, pid)
                    elif kind == "histogram":
                        points += self._histograms(metric, gateway, pid)
        self.points += points
        return points

    def _sums(self, metric: Any, gateway: str, pid: int) -> int:
        data = metric.sum
        cumulative = data.aggregation_temporality == CUMULATIVE
        counter, names = self._counter(metric, data.data_points)
        for point in data.data_points:
            attributes = {sanitize(pair.key): pair.value.string_value for pair in point.attributes}
            attributes[GATEWAY_LABEL] = gateway
            labels = [attributes.get(name, "") for name in names]
            value = point.as_double
            increment = value
            if cumulative:
                key = (gateway, pid, metric.name, *labels)
                start = point.start_time_unix_nano
                previous = self.last_sum.get(key)
                if previous is not None and previous[0] == start and value >= previous[1]:
                    increment = value - previous[1]
                self.last_sum[key] = (start, value)
            child = counter.labels(*labels) if names else counter
            if increment > 0:
                child.inc(increment)
        return len(data.data_points)

    def _histograms(self, metric: Any, gateway: str, pid: int) -> int:
        data = metric.histogram
        cumulative = data.aggregation_temporality == CUMULATIVE
        histogram, names = self._histogram(metric, data.data_points)
        for point in data.data_points:
            attributes = {sanitize(pair.key): pair.value.string_value for pair in point.attributes}
            attributes[GATEWAY_LABEL] = gateway
            labels = [attributes.get(name, "") for name in names]
            counts = list(point.bucket_counts)
            total = point.sum
            count = point.count
            deltas, delta_sum = counts, total
            if cumulative:
                key = (gateway, pid, metric.name, *labels)
                start = point.start_time_unix_nano
                previous = self.last_histogram.get(key)
                if (
                    previous is not None
                    and previous[0] == start
                    and count >= previous[1]
                    and len(previous[3]) == len(counts)
                ):
                    deltas = [now - old for now, old in zip(counts, previous[3], strict=True)]
                    delta_sum = total - previous[2]
                self.last_histogram[key] = (start, count, total, counts)
            child: Any = histogram.labels(*labels) if names else histogram
            buckets = child._buckets  # prometheus_client keeps per-bucket (non-cumulative) counts
            for index, amount in enumerate(deltas[: len(buckets)]):
                if amount > 0:
                    buckets[index].inc(amount)
            if delta_sum:
                child._sum.inc(delta_sum)
        return len(data.data_points)


async def handle_otlp(request: web.Request) -> web.Response:
    bridge: NaiveBridge = request.app["bridge"]
    body = await request.read()
    message = ExportMetricsServiceRequest.FromString(body)
    bridge.ingest(message)
    return web.Response(body=b"", content_type="application/x-protobuf")  # an empty ExportMetricsServiceResponse


async def handle_metrics(request: web.Request) -> web.Response:
    bridge: NaiveBridge = request.app["bridge"]
    body = generate_latest(bridge.registry)
    headers = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


async def handle_health(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


async def serve(otlp: tuple[str, int], metrics: tuple[str, int], gateway_label: bool = True) -> None:
    bridge = NaiveBridge(gateway_label)
    otlp_app = web.Application(client_max_size=64 * 1024 * 1024)
    otlp_app["bridge"] = bridge
    otlp_app.router.add_post("/v1/metrics", handle_otlp)
    metrics_app = web.Application()
    metrics_app["bridge"] = bridge
    metrics_app.router.add_get("/metrics", handle_metrics)
    metrics_app.router.add_get("/healthz", handle_health)
    runners = [web.AppRunner(otlp_app, access_log=None), web.AppRunner(metrics_app, access_log=None)]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        for runner, (host, port) in zip(runners, (otlp, metrics), strict=True):
            await runner.setup()
            await web.TCPSite(runner, host, port).start()
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive_bridge", description=__doc__.split("\n\n")[0])
    parser.add_argument("--otlp-listen", default="127.0.0.1:4318", metavar="HOST:PORT")
    parser.add_argument("--metrics-listen", default="127.0.0.1:9464", metavar="HOST:PORT")
    parser.add_argument("--no-gateway-label", action="store_true", help="no gateway label: like gateways share series")
    args = parser.parse_args(argv)
    asyncio.run(serve(address(args.otlp_listen), address(args.metrics_listen), not args.no_gateway_label))
    return 0


if __name__ == "__main__":
    sys.exit(main())
