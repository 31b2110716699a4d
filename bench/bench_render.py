"""Render cost per series: the bridge's cached renderer next to ``prometheus_client.generate_latest`` on the same data.

Run with ``python -m bench.bench_render``. A "series" is one sample line of the text 0.0.4 exposition. The stores
are shaped like the captured OpenClaw data seen through a bridge that serves a fleet of gateways
(``--source-label gateway``): the official families and label names, the SDK's default duration bounds
(15 bounds → 18 lines per histogram), about 90 % of the lines from histograms.

Measured for each size and format, each the median of several runs with the garbage collector paused:

* ``cold``: every series changed since the last scrape (nothing cached);
* ``warm``: nothing changed;
* ``warm+1%``: 1 % of the label sets (counters and histograms alike) changed since the last scrape;
* ``warm+100%``: every label set's values changed since the last scrape (a busy fleet: issue 17);
* ``prometheus_client``: ``generate_latest`` (text) or the OpenMetrics ``generate_latest`` over a custom collector
  that yields pre-built metric families holding the same samples (its most favourable case: no collection work).

Pages: ``text``, ``text+gzip`` (what Prometheus fetches: it always sends ``Accept-Encoding: gzip``; next to
``gzip.compress(generate_latest())`` as prometheus_client's HTTP handlers do) and ``openmetrics``. Every figure is the
page as bytes, as the server sends it (``generate_latest`` returns bytes). Results are printed as a table
and written to ``bench/results/render.json``.
"""

from __future__ import annotations

import gc
import gzip
import importlib.metadata
import itertools
import json
import math
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client import generate_latest as generate_text
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from otlp_bridge.expose.exposition import Format, GzipMember, gzip_parts, render_parts
from otlp_bridge.store import FamilyInfo, HistogramSeries, Kind, ScalarSeries, Series, Store

SIZES = (10_000, 100_000)
HISTOGRAM_SHARE = 0.9
CHANGED_SHARE = 0.01
GOAL_US_PER_SERIES = 0.3
RESULTS = Path(__file__).resolve().parent / "results" / "render.json"
SEED = 20260429
GATEWAY_LABEL = "gateway"
# diagnostics-otel's histograms use the SDK default bounds in ms; the bridge divides them by 1000.
BOUNDS = tuple(b / 1000 for b in (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000))
LINES_PER_HISTOGRAM = len(BOUNDS) + 1 + 2  # buckets incl. +Inf, _sum, _count

POOLS: dict[str, tuple[str, ...]] = {
    "agent": ("main", "ops", "support"),
    "api": ("openai-completions", "openai-responses", "anthropic-messages"),
    "channel": ("webchat", "telegram", "slack", "discord"),
    "error_category": ("none", "timeout", "rate_limit", "other"),
    "error_type": ("none", "Error"),
    "harness": ("pi",),
    "lane": ("main", "session", "cron", "subagent"),
    "model": ("fake-model", "gpt-5.1-mini", "claude-sonnet-4-5", "qwen3-coder"),
    "observation_unit": ("request", "turn"),
    "operation": ("text_completion", "chat"),
    "outcome": ("completed", "error"),
    "params_kind": ("object", "none"),
    "phase": ("none", "prompt", "stream"),
    "plugin": ("unknown", "memory-core"),
    "provider": ("fakeai", "openai", "anthropic", "openrouter"),
    "reason": ("none", "run_completed", "run_started"),
    "state": ("idle", "processing", "waiting"),
    "token_type": ("input", "output", "cache_read", "cache_write", "total"),
    "tool": ("session_status", "exec", "web_fetch", "read", "write"),
    "tool_owner": ("none", "core"),
    "tool_source": ("core", "plugin"),
    "transport": ("sse", "http"),
    "trigger": ("user", "cron", "heartbeat"),
}
HISTOGRAMS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("openclaw_run_duration_seconds", "Agent run duration in seconds.", ("channel", "model", "outcome", "provider")),
    (
        "openclaw_model_call_duration_seconds",
        "Model request or synthetic agent-turn duration in seconds.",
        ("api", "error_category", "model", "observation_unit", "outcome", "provider", "transport"),
    ),
    (
        "openclaw_tool_execution_duration_seconds",
        "Tool execution duration in seconds.",
        ("error_category", "outcome", "params_kind", "tool", "tool_owner", "tool_source"),
    ),
    (
        "openclaw_harness_run_duration_seconds",
        "Agent harness run duration in seconds.",
        ("channel", "error_category", "harness", "model", "outcome", "phase", "plugin", "provider"),
    ),
    (
        "openclaw_message_processed_duration_seconds",
        "Inbound message processing duration in seconds.",
        ("channel", "outcome", "reason"),
    ),
    ("openclaw_queue_lane_wait_seconds", "Queue lane wait time in seconds.", ("lane",)),
    (
        "openclaw_model_call_time_to_first_byte_seconds",
        "Model call time to first byte in seconds.",
        ("api", "model", "provider", "transport"),
    ),
    (
        "openclaw_gen_ai_client_operation_duration_seconds",
        "GenAI client operation duration in seconds.",
        ("error_type", "model", "operation", "provider"),
    ),
)
COUNTERS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("openclaw_run_completed_total", "Agent runs completed by outcome.", ("channel", "model", "outcome", "provider")),
    (
        "openclaw_model_call_total",
        "Model requests or synthetic agent turns completed by outcome.",
        ("api", "error_category", "model", "observation_unit", "outcome", "provider", "transport"),
    ),
    (
        "openclaw_tool_execution_total",
        "Tool executions completed by outcome.",
        ("error_category", "outcome", "params_kind", "tool", "tool_owner", "tool_source"),
    ),
    (
        "openclaw_model_tokens_total",
        "Model tokens reported by diagnostic usage events.",
        ("agent", "channel", "model", "provider", "token_type"),
    ),
    (
        "openclaw_harness_run_total",
        "Agent harness runs completed by outcome.",
        ("channel", "error_category", "harness", "model", "outcome", "phase", "plugin", "provider"),
    ),
    ("openclaw_message_processed_total", "Inbound messages processed by outcome.", ("channel", "outcome", "reason")),
    ("openclaw_queue_lane_enqueue_total", "Command queue lane enqueue events.", ("lane",)),
    ("openclaw_session_state_total", "Session state observations.", ("reason", "state")),
)


@dataclass
class Workload:
    """One store and the equivalent prometheus_client registry."""

    lines: int
    store: Store
    series: list[Series]
    registries: dict[Format, CollectorRegistry]


@dataclass
class Row:
    size: int
    format: str
    measure: str
    milliseconds: float
    us_per_series: float
    vs_prometheus_client: float | None
    runs: int


class _PrebuiltCollector(Collector):
    """Yields pre-built metric families: prometheus_client's exposition cost alone, without collection work."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def _label_sets(names: Sequence[str], count: int) -> list[tuple[tuple[str, str], ...]]:
    """``count`` distinct label sets: fixture-shaped combinations, repeated per gateway of a fleet."""
    combos = list(itertools.islice(itertools.product(*(POOLS[name] for name in names)), 64))
    out = []
    for index in range(count):
        gateway = f"gw-{index // len(combos):05d}"
        pairs = [*zip(names, combos[index % len(combos)], strict=True), (GATEWAY_LABEL, gateway)]
        out.append(tuple(sorted(pairs)))
    return out


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def build(lines: int, rng: random.Random) -> Workload:
    """A store with ``lines`` sample lines and prometheus_client registries holding the same samples."""
    histogram_series = round(lines * HISTOGRAM_SHARE / LINES_PER_HISTOGRAM)
    counter_series = lines - histogram_series * LINES_PER_HISTOGRAM
    store = Store(max_series=10**7, max_series_per_family=10**7, ttl=600.0)
    all_series: list[Series] = []
    created = 1_795_312_073.514
    for (name, help_text, names), count in zip(COUNTERS, _split(counter_series, len(COUNTERS)), strict=True):
        family = store.family(FamilyInfo(name, Kind.COUNTER, help_text))
        assert family is not None
        for labels in _label_sets(names, count):
            series = store.series(family, labels, created, created)
            assert isinstance(series, ScalarSeries)
            series.add(float(rng.randrange(1, 100_000)) if rng.random() < 0.8 else rng.uniform(0.001, 50.0))
            all_series.append(series)
    for (name, help_text, names), count in zip(HISTOGRAMS, _split(histogram_series, len(HISTOGRAMS)), strict=True):
        family = store.family(FamilyInfo(name, Kind.HISTOGRAM, help_text, unit="seconds"))
        assert family is not None
        for labels in _label_sets(names, count):
            series = store.series(family, labels, created, created)
            assert isinstance(series, HistogramSeries)
            counts = [float(rng.randrange(0, 40)) for _ in range(len(BOUNDS) + 1)]
            if not sum(counts):
                counts[-1] = 1.0
            series.add(BOUNDS, counts, rng.uniform(0.01, 3000.0), sum(counts))
            all_series.append(series)
    text_registry = CollectorRegistry(auto_describe=False)
    text_registry.register(_PrebuiltCollector(client_families(store, with_created=False)))
    om_registry = CollectorRegistry(auto_describe=False)
    om_registry.register(_PrebuiltCollector(client_families(store, with_created=True)))
    return Workload(lines, store, all_series, {Format.TEXT: text_registry, Format.OPENMETRICS: om_registry})


def client_families(store: Store, with_created: bool) -> list[Metric]:
    """prometheus_client metric families holding exactly the store's samples (``_created`` for OpenMetrics)."""
    out: list[Metric] = []
    for family in store.ordered_families():
        info = family.info
        labels = family.sorted_labels()
        label_names = [name for name, _ in labels[0]]
        if info.kind is Kind.COUNTER:
            counter = CounterMetricFamily(info.name, info.help, labels=label_names)
            for key in labels:
                series = family.series[key]
                assert isinstance(series, ScalarSeries)
                counter.add_metric([v for _, v in key], series.value, created=series.created if with_created else None)
            out.append(counter)
            continue
        histogram = HistogramMetricFamily(info.name, info.help, labels=label_names)
        for key in labels:
            series = family.series[key]
            assert isinstance(series, HistogramSeries)
            cumulative, buckets = 0.0, []
            for bound, count in zip((*series.bounds, math.inf), series.counts, strict=True):
                cumulative += count
                buckets.append((_go_float(bound), cumulative))
            histogram.add_metric([v for _, v in key], buckets, series.sum)
            if with_created:  # the histogram family has no created argument; add the sample the bridge exposes
                histogram.add_sample(info.name + "_created", dict(key), series.created)
        out.append(histogram)
    return out


def _go_float(value: float) -> str:
    """``le`` as a Go/prometheus_client client prints it (``1.0``, ``+Inf``)."""
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]  # unannotated upstream


def _dirty_all(workload: Workload) -> None:
    for series in workload.series:
        series.changed()


def _change_some(workload: Workload, rng: random.Random, share: float = CHANGED_SHARE) -> None:
    chosen = workload.series if share >= 1 else rng.sample(workload.series, max(1, round(len(workload.series) * share)))
    for series in chosen:
        if isinstance(series, ScalarSeries):
            series.add(1.0)
        else:
            assert isinstance(series, HistogramSeries)
            counts = [0.0] * (len(BOUNDS) + 1)
            counts[rng.randrange(len(counts))] = 1.0
            series.add(BOUNDS, counts, 0.75, 1.0)


def _time(action: Callable[[], bytes], prepare: Callable[[], None], runs: int) -> tuple[float, bytes]:
    """Median seconds of ``action`` over ``runs`` runs, ``prepare`` untimed before each; and the last output."""
    timings = []
    output = b""
    for _ in range(runs):
        prepare()
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            output = action()
            timings.append(time.perf_counter() - started)
        finally:
            gc.enable()
    return statistics.median(timings), output


def _sample_lines(page: bytes) -> int:
    return sum(1 for line in page.split(b"\n") if line and not line.startswith(b"#"))


def measure(workload: Workload, rng: random.Random) -> list[Row]:
    rows: list[Row] = []
    lines = workload.lines
    bridge_runs = 7 if lines <= 10_000 else 5
    client_runs = 5 if lines <= 10_000 else 3

    def nothing() -> None:
        return None

    for fmt, compressed in ((Format.TEXT, False), (Format.TEXT, True), (Format.OPENMETRICS, False)):
        registry = workload.registries[fmt]
        generate = generate_text if fmt is Format.TEXT else generate_openmetrics

        def bridge(fmt: Format = fmt, compressed: bool = compressed) -> bytes:
            if not compressed:
                return b"".join(render_parts(workload.store, fmt))
            member = GzipMember()
            return b"".join([member.header(), *gzip_parts(workload.store, fmt, member), member.finish()])

        def client(
            generate: Callable[[CollectorRegistry], bytes] = generate,
            registry: CollectorRegistry = registry,
            compressed: bool = compressed,
        ) -> bytes:
            page = generate(registry)
            return gzip.compress(page) if compressed else page  # as prometheus_client's HTTP handlers do

        baseline, client_page = _time(client, nothing, client_runs)
        cold, bridge_page = _time(bridge, lambda: _dirty_all(workload), bridge_runs)
        if compressed:
            client_page, bridge_page = gzip.decompress(client_page), gzip.decompress(bridge_page)
        label = fmt.value + ("+gzip" if compressed else "")
        # the same data: the same sample lines on both sides (text: exactly ``lines``; OpenMetrics adds _created)
        assert _sample_lines(bridge_page) == _sample_lines(client_page)
        assert fmt is not Format.TEXT or _sample_lines(bridge_page) == lines
        bridge()  # fill the caches
        warm, _ = _time(bridge, nothing, bridge_runs)
        changed, _ = _time(bridge, lambda: _change_some(workload, rng), bridge_runs)
        every, _ = _time(bridge, lambda: _change_some(workload, rng, 1.0), bridge_runs)
        for measure_name, seconds, runs in (
            ("cold", cold, bridge_runs),
            ("warm", warm, bridge_runs),
            ("warm+1%", changed, bridge_runs),
            ("warm+100%", every, bridge_runs),
        ):
            rows.append(Row(lines, label, measure_name, seconds * 1e3, seconds / lines * 1e6, baseline / seconds, runs))
        rows.append(Row(lines, label, "prometheus_client", baseline * 1e3, baseline / lines * 1e6, 1.0, client_runs))
    return rows


def _print_table(rows: list[Row]) -> None:
    header = f"{'series':>8} {'format':<12} {'measure':<18} {'ms':>9} {'µs/series':>10} {'× faster than p_c':>18}"
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = f"{row.vs_prometheus_client:.1f}×" if row.vs_prometheus_client is not None else ""
        print(
            f"{row.size:>8} {row.format:<12} {row.measure:<18} {row.milliseconds:>9.2f} "
            f"{row.us_per_series:>10.3f} {ratio:>18}"
        )


def main() -> None:
    started = time.perf_counter()
    rng = random.Random(SEED)
    rows: list[Row] = []
    for size in SIZES:
        workload = build(size, rng)
        rows.extend(measure(workload, rng))
        del workload
        gc.collect()
    print(f"render cost, Python {platform.python_version()}, prometheus_client {_client_version()}, {_cpu_model()}")
    print("µs/series = time / sample lines of the text exposition; each figure is the page as bytes\n")
    _print_table(rows)
    largest = max(SIZES)
    verdict: dict[str, object] = {"goal_us_per_series": GOAL_US_PER_SERIES}
    for page in ("text", "text+gzip"):
        at_goal = [r for r in rows if r.size == largest and r.format == page and r.measure == "warm+1%"]
        verdict[f"{page}_warm_plus_1pct_at_100k"] = at_goal[0].us_per_series if at_goal else None
        verdict[f"{page}_met"] = bool(at_goal) and at_goal[0].us_per_series <= GOAL_US_PER_SERIES
    print(f"\ngoal ≤ {GOAL_US_PER_SERIES} µs/series at {largest} (warm+1%): {verdict}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "benchmark": "render",
        "python": platform.python_version(),
        "prometheus_client": _client_version(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "histogram_share": HISTOGRAM_SHARE,
        "changed_share": CHANGED_SHARE,
        "lines_per_histogram": LINES_PER_HISTOGRAM,
        "goal": verdict,
        "rows": [asdict(row) for row in rows],
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")
    print(f"total {time.perf_counter() - started:.1f} s")


def _client_version() -> str:
    return importlib.metadata.version("prometheus_client")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
