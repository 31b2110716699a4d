"""A bounded soak of a real bridge process: nothing accepted is lost, no counter ever goes backwards.

Concurrent senders, each the only owner of its label values so that the truth is known per series: cumulative
gateways (they re-export their whole state each time, as OpenClaw does) and delta gateways (they export what changed
since their last successful export), plus one shared counter and one shared histogram fed by every sender. One
cumulative gateway restarts halfway (new ``process.pid``, new start time, counters from 0; what it counted but had not
exported when it "crashed" is lost, as it would be). Concurrent scrapers check that every counter, bucket, count and
sum is monotonic from one scrape to the next. At the end every sender flushes, and the scraped value of every series
must equal the total of what the senders had delivered (exactly; sums converted from ms to seconds to 1e-9).

Like OpenClaw, senders send chunked bodies, a fifth of them slowly (two chunks 10 ms apart). The bridge runs with
``--max-inflight 2``, so some requests are refused with 503; senders retry them with the same body, as OTLP says
they should, which is part of what is checked.

    python -m tests.soak.soak --seconds 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import math
import os
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Sequence

import aiohttp
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from tests.support import CUMULATIVE, DELTA, Sample, bridge_process, key_values, parse_exposition

USAGE_BOUNDS = (1.0, 4.0, 16.0, 64.0, 256.0, 1024.0)  # gen_ai.client.token.usage: no unit conversion
TOOL_BOUNDS = (0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0, 10000.0)
SHARED = "shared"
OPENMETRICS = "application/openmetrics-text;version=1.0.0"
SUM_TOLERANCE = 1e-9  # relative, for histogram sums converted from ms to seconds


# -- what one sender has counted: scalar streams and histogram streams ------------------------------------------


@dataclasses.dataclass
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int]
    total: float = 0.0

    @classmethod
    def empty(cls, bounds: tuple[float, ...]) -> Histogram:
        return cls(bounds, [0] * (len(bounds) + 1))

    def observe(self, value: float) -> None:
        self.counts[next((i for i, bound in enumerate(self.bounds) if value <= bound), len(self.bounds))] += 1
        self.total += value

    def add(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total

    @property
    def count(self) -> int:
        return sum(self.counts)

    def copy(self) -> Histogram:
        return Histogram(self.bounds, list(self.counts), self.total)


# A stream: (metric, key attribute value, token type or ""); each sender owns its keys, except SHARED.
StreamKey = tuple[str, str, str]


@dataclasses.dataclass
class Ledger:
    """Scalar and histogram state of one sender (or of what it has delivered)."""

    scalars: dict[StreamKey, float] = dataclasses.field(default_factory=lambda: defaultdict(float))
    histograms: dict[StreamKey, Histogram] = dataclasses.field(default_factory=dict)

    def histogram(self, key: StreamKey) -> Histogram:
        if key not in self.histograms:
            self.histograms[key] = Histogram.empty(USAGE_BOUNDS if key[0] == "usage" else TOOL_BOUNDS)
        return self.histograms[key]

    def add(self, other: Ledger) -> None:
        for key, value in other.scalars.items():
            self.scalars[key] += value
        for key, histogram in other.histograms.items():
            self.histogram(key).add(histogram)

    def copy(self) -> Ledger:
        out = Ledger()
        out.add(self)
        return out

    def empty(self) -> bool:
        return not any(self.scalars.values()) and not any(h.count for h in self.histograms.values())


def _point_attributes(key: StreamKey) -> dict[str, str]:
    metric, owner, token = key
    if metric == "tokens":
        return {
            "openclaw.agent": "main",
            "openclaw.channel": "soak",
            "openclaw.provider": owner,
            "openclaw.model": "m",
            "openclaw.token": token,
        }
    if metric == "usage":
        return {"gen_ai.provider.name": owner, "gen_ai.request.model": "m", "gen_ai.token.type": "input"}
    if metric == "lane":
        return {"openclaw.lane": f"soak-{owner}"}
    return {"openclaw.toolName": f"{owner}tool"}


OTLP_NAMES = {
    "tokens": "openclaw.tokens",
    "lane": "openclaw.queue.lane.enqueue",
    "usage": "gen_ai.client.token.usage",
    "tool": "openclaw.tool.execution.duration_ms",
}


def export_request(
    ledger: Ledger, resource: dict[str, str], start: int, now: int, temporality: int
) -> metrics_service_pb2.ExportMetricsServiceRequest:
    """One request with a metric per instrument and a point per stream of ``ledger``."""
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    block = request.resource_metrics.add()
    block.resource.attributes.extend(key_values(resource))
    scope = block.scope_metrics.add()
    scope.scope.name = "openclaw"
    metrics: dict[str, metrics_pb2.Metric] = {}

    def metric(kind: str) -> metrics_pb2.Metric:
        if kind not in metrics:
            made = scope.metrics.add(name=OTLP_NAMES[kind], unit="ms" if kind == "tool" else "1")
            if kind in ("tokens", "lane"):
                made.sum.aggregation_temporality = temporality  # type: ignore[assignment]
                made.sum.is_monotonic = True
            else:
                made.histogram.aggregation_temporality = temporality  # type: ignore[assignment]
            metrics[kind] = made
        return metrics[kind]

    for key, value in sorted(ledger.scalars.items()):
        if temporality == DELTA and not value:
            continue
        point = metric(key[0]).sum.data_points.add(start_time_unix_nano=start, time_unix_nano=now, as_double=value)
        point.attributes.extend(key_values(_point_attributes(key)))
    for key, histogram in sorted(ledger.histograms.items()):
        if temporality == DELTA and not histogram.count:
            continue
        bucketed = metric(key[0]).histogram.data_points.add(
            start_time_unix_nano=start,
            time_unix_nano=now,
            count=histogram.count,
            sum=histogram.total,
            bucket_counts=histogram.counts,
            explicit_bounds=histogram.bounds,
        )
        bucketed.attributes.extend(key_values(_point_attributes(key)))
    return request


# -- senders -----------------------------------------------------------------------------------------------------


async def chunked(body: bytes, pause: float) -> AsyncIterator[bytes]:
    """The body in two chunks (Transfer-Encoding: chunked, as OpenClaw sends), ``pause`` seconds apart."""
    half = len(body) // 2
    yield body[:half]
    if pause:
        await asyncio.sleep(pause)
    yield body[half:]


@dataclasses.dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)
    rejected_points: int = 0
    scrapes: int = 0
    monotonic_checks: int = 0
    violations: list[str] = dataclasses.field(default_factory=list)


class Sender:
    """A gateway: counts into ``pending``/``current`` and exports; ``delivered`` is what the bridge acknowledged."""

    def __init__(self, name: str, temporality: int, url: str, stats: Stats, rng: random.Random) -> None:
        self.name = name
        self.temporality = temporality
        self.url = url
        self.stats = stats
        self.rng = rng
        self.pid = 1000 + rng.randrange(10**6)
        self.start = time.time_ns()
        self.last_time = self.start
        self.current = Ledger()  # cumulative: the whole state of this process; delta: not yet delivered
        self.delivered = Ledger()  # everything the bridge has acknowledged from this sender, all processes
        self.acknowledged = Ledger()  # cumulative: the state the bridge last acknowledged from this process
        self.restarts = 0

    @property
    def resource(self) -> dict[str, str]:
        return {"service.name": f"soak-{self.name}", "host.name": "soak", "process.pid": str(self.pid)}

    def count(self) -> None:
        """Some activity: tokens, lane events, token-usage and tool-duration observations, own and shared."""
        rng = self.rng
        for owner in (self.name, SHARED):
            self.current.scalars[("tokens", owner, "input")] += rng.randrange(0, 60)
        self.current.scalars[("tokens", self.name, "output")] += rng.randrange(0, 30)
        self.current.scalars[("lane", self.name, "")] += rng.randrange(0, 3)
        for owner in (self.name, SHARED):
            for _ in range(rng.randrange(0, 3)):
                self.current.histogram(("usage", owner, "")).observe(float(rng.randrange(0, 2000)))
        for _ in range(rng.randrange(0, 3)):
            self.current.histogram(("tool", self.name, "")).observe(float(rng.randrange(0, 12000)))

    async def export(self, session: aiohttp.ClientSession) -> None:
        """Send the current state (cumulative) or the pending increments (delta) until the bridge takes them."""
        now = max(time.time_ns(), self.last_time + 1)
        start = self.start if self.temporality == CUMULATIVE else self.last_time
        snapshot = self.current.copy()
        if self.temporality == DELTA and snapshot.empty():
            return
        body = export_request(snapshot, self.resource, start, now, self.temporality).SerializeToString()
        while True:
            self.stats.requests += 1
            try:
                async with session.post(
                    self.url,
                    data=chunked(body, pause=0.01 if self.rng.random() < 0.2 else 0.0),
                    headers={"Content-Type": "application/x-protobuf"},
                ) as response:
                    raw = await response.read()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError):
                status, raw, retry_after = 0, b"", None  # unknown outcome: resending the same body is safe
            self.stats.statuses[status] += 1
            if status == 200:
                break
            if status not in (0, 429, 502, 503, 504):
                self.stats.violations.append(f"{self.name}: export answered {status} {raw[:200]!r}")
                return
            self.stats.retries += 1
            # Retry-After says 1 s; a soak honours it scaled down so that retries happen within its run.
            await asyncio.sleep(0.05 if retry_after else 0.02)
        answer = metrics_service_pb2.ExportMetricsServiceResponse()
        answer.ParseFromString(raw)
        if answer.partial_success.rejected_data_points:
            self.stats.rejected_points += answer.partial_success.rejected_data_points
            self.stats.violations.append(f"{self.name}: {answer.partial_success.error_message}")
        self.last_time = now
        if self.temporality == DELTA:
            self.delivered.add(snapshot)
            self.current = Ledger()  # counting and exporting share one task: nothing was counted meanwhile
        else:
            self.acknowledged = snapshot

    def restart(self) -> None:
        """A crash and a new process: what was counted since the last acknowledged export is lost."""
        assert self.temporality == CUMULATIVE
        self.delivered.add(self.acknowledged)
        self.acknowledged = Ledger()
        self.current = Ledger()
        self.pid += 1
        self.start = self.last_time = max(time.time_ns(), self.last_time + 1)
        self.restarts += 1

    def final(self) -> Ledger:
        total = self.delivered.copy()
        if self.temporality == CUMULATIVE:
            total.add(self.acknowledged)
        return total


async def run_sender(sender: Sender, session: aiohttp.ClientSession, stop: asyncio.Event, restart_at: float) -> None:
    while not stop.is_set():
        sender.count()
        if restart_at and time.monotonic() >= restart_at and not sender.restarts:
            sender.count()  # counted, never exported: lost with the crash
            sender.restart()
            continue
        await sender.export(session)
        await asyncio.sleep(sender.rng.uniform(0.002, 0.03))


# -- scrapers ----------------------------------------------------------------------------------------------------

MONOTONIC_SUFFIXES = ("_total", "_count", "_bucket", "_sum")


def _sample_key(sample: Sample) -> tuple[str, tuple[tuple[str, str], ...]]:
    return sample.name, tuple(sorted(sample.labels.items()))


async def run_scraper(
    metrics_url: str, session: aiohttp.ClientSession, stop: asyncio.Event, stats: Stats, openmetrics: bool
) -> None:
    """Scrape until stopped; every counter-like sample must be present again and not smaller next time."""
    previous: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    headers = {"Accept": OPENMETRICS} if openmetrics else {}
    while not stop.is_set():
        async with session.get(f"{metrics_url}/metrics", headers=headers) as response:
            text = await response.text()
            if response.status != 200:
                stats.violations.append(f"scrape answered {response.status}")
                continue
        if openmetrics:
            samples = [
                Sample(s.name, dict(s.labels), float(s.value))
                for family in parse_openmetrics(text)  # type: ignore[no-untyped-call]
                for s in family.samples
            ]
        else:
            samples = parse_exposition(text)
        stats.scrapes += 1
        current = {
            _sample_key(s): s.value
            for s in samples
            if s.name.endswith(MONOTONIC_SUFFIXES) and not s.name.startswith("process_")
        }
        for key, value in previous.items():
            now = current.get(key)
            stats.monotonic_checks += 1
            if now is None or now < value:
                stats.violations.append(f"{'openmetrics' if openmetrics else 'text'} scrape: {key} {value} → {now}")
        previous = current
        await asyncio.sleep(0.01)


# -- the truth ---------------------------------------------------------------------------------------------------


def expected_samples(total: Ledger) -> list[tuple[str, dict[str, str], float, bool]]:
    """(sample name, identifying labels, value, exact?) for every series the senders fed."""
    out: list[tuple[str, dict[str, str], float, bool]] = []
    for (metric, owner, token), value in sorted(total.scalars.items()):
        if metric == "tokens":
            out.append(("openclaw_model_tokens_total", {"provider": owner, "token_type": token}, value, True))
        else:
            out.append(("openclaw_queue_lane_enqueue_total", {"lane": f"soak-{owner}"}, value, True))
    for (metric, owner, _), histogram in sorted(total.histograms.items()):
        if metric == "usage":
            name, labels, divisor = "openclaw_gen_ai_client_token_usage", {"provider": owner}, 1.0
        else:
            name, labels, divisor = "openclaw_tool_execution_duration_seconds", {"tool": f"{owner}tool"}, 1000.0
            out.append(("openclaw_tool_execution_total", labels, float(histogram.count), True))
        out.append((f"{name}_count", labels, float(histogram.count), True))
        out.append((f"{name}_sum", labels, histogram.total / divisor, divisor == 1.0))
        running = 0
        for bound, count in zip((*histogram.bounds, math.inf), histogram.counts, strict=True):
            running += count
            le = "+Inf" if bound == math.inf else repr(bound / divisor)
            out.append((f"{name}_bucket", {**labels, "le": le}, float(running), True))
    return out


def check_final(samples: Sequence[Sample], total: Ledger, violations: list[str]) -> int:
    """Compare the final scrape with the truth; returns how many samples were compared."""
    index: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        index[sample.name].append(sample)
    checked = 0
    for name, labels, value, exact in expected_samples(total):
        le = labels.get("le")
        matches = [
            s
            for s in index[name]
            if all(s.labels.get(k) == v for k, v in labels.items() if k != "le")
            and (le is None or float(s.labels.get("le", "nan")) == float(le))
        ]
        checked += 1
        if len(matches) != 1:
            violations.append(f"final: {name}{labels} matches {len(matches)} samples")
            continue
        got = matches[0].value
        if (got != value) if exact else not math.isclose(got, value, rel_tol=SUM_TOLERANCE):
            violations.append(f"final: {name}{labels} = {got}, senders sent {value}")
    rejected = [s for s in index["otlp_bridge_received_points_total"] if s.labels.get("outcome") == "rejected"]
    if any(s.value for s in rejected):
        violations.append(f"final: the bridge rejected points: {rejected}")
    return checked


# -- the run -----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    seconds: float
    senders: int
    requests: int
    retries: int
    statuses: dict[int, int]
    scrapes: int
    monotonic_checks: int
    points_checked: int
    restarts: int
    rss_mib: float
    violations: list[str]

    def summary(self) -> str:
        verdict = "OK" if not self.violations else f"{len(self.violations)} VIOLATIONS"
        return (
            f"soak {verdict}: {self.seconds:.1f} s, {self.senders} senders, {self.requests} requests "
            f"(answers {self.statuses}, {self.retries} retried), {self.restarts} sender restart, "
            f"{self.scrapes} scrapes with {self.monotonic_checks} monotonic checks, "
            f"{self.points_checked} series values checked exactly at the end, bridge RSS {self.rss_mib:.1f} MiB"
        )


async def run(
    seconds: float = 20.0, cumulative: int = 3, delta: int = 3, scrapers: int = 2, seed: int | None = None
) -> Report:
    """Run the soak for ``seconds`` against a fresh bridge process and return what it found."""
    rng = random.Random(seed)
    stats = Stats()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTLP_BRIDGE_")}
    with bridge_process("--max-inflight", "2", env=env) as child:
        url = f"{child.otlp_url}/v1/metrics"
        senders = [
            Sender(f"cum{i}", CUMULATIVE, url, stats, random.Random(rng.random())) for i in range(cumulative)
        ] + [Sender(f"delta{i}", DELTA, url, stats, random.Random(rng.random())) for i in range(delta)]
        stop = asyncio.Event()
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=30)
        async with (
            aiohttp.ClientSession(timeout=timeout) as send_session,
            aiohttp.ClientSession(timeout=timeout) as scrape_session,
        ):
            tasks = [
                asyncio.create_task(
                    run_sender(sender, send_session, stop, started + seconds / 2 if index == 0 else 0.0)
                )
                for index, sender in enumerate(senders)
            ]
            tasks += [
                asyncio.create_task(run_scraper(child.metrics_url, scrape_session, stop, stats, openmetrics=n % 2 == 1))
                for n in range(scrapers)
            ]
            await asyncio.sleep(seconds)
            stop.set()
            await asyncio.gather(*tasks)
            for sender in senders:  # the final flush
                await sender.export(send_session)
            async with scrape_session.get(f"{child.metrics_url}/metrics") as response:
                final = parse_exposition(await response.text())
        elapsed = time.monotonic() - started
        rss = child.rss_bytes()
    total = Ledger()
    for sender in senders:
        total.add(sender.final())
    checked = check_final(final, total, stats.violations)
    return Report(
        seconds=elapsed,
        senders=len(senders),
        requests=stats.requests,
        retries=stats.retries,
        statuses=dict(sorted(stats.statuses.items())),
        scrapes=stats.scrapes,
        monotonic_checks=stats.monotonic_checks,
        points_checked=checked,
        restarts=sum(sender.restarts for sender in senders),
        rss_mib=rss / 2**20,
        violations=stats.violations,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long senders and scrapers run")
    parser.add_argument("--cumulative", type=int, default=3, help="cumulative senders")
    parser.add_argument("--delta", type=int, default=3, help="delta senders")
    parser.add_argument("--scrapers", type=int, default=2, help="concurrent scrapers")
    parser.add_argument("--seed", type=int, default=None, help="random seed")
    options = parser.parse_args(argv)
    report = asyncio.run(run(options.seconds, options.cumulative, options.delta, options.scrapers, options.seed))
    print(report.summary())
    for violation in report.violations[:50]:
        print("  " + violation)
    return 1 if report.violations else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
