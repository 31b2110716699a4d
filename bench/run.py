"""``python -m bench``: every figure of issue 7 in one run, with its baseline ratios and the goals.

Parts (``--parts``, default all; ``--quick`` leaves out ``profile`` unless ``--profile``):

* ``parse``: raw protobuf parse of the workload's bodies (the floor) and parse plus a bare Python walk;
* ``translate``: ``MetricsTranslator.apply`` alone on pre-decoded requests, cumulative and delta;
* ``ingest``: the bridge as a real process pinned to one core, a load client on the other, cumulative and delta;
* ``idle``: the bridge's CPU with no traffic, after the cumulative ingest run;
* ``naive``: the naive bridge (``bench/naive_bridge.py``) under the same load;
* ``rotel``: rotel's OTLP/HTTP receiver with the blackhole exporter under the same load (the native ceiling);
* ``memory``: bytes per retained series at 10k and 100k sample lines (tracemalloc and RSS, fresh processes);
* ``scrape``: ack latency of paced 1k-point exports while a scraper fetches ~100k-series pages back to back,
  the bridge and the naive bridge;
* ``render``: render cost per series at 10k and 100k, next to ``prometheus_client.generate_latest``
  (``bench/bench_render.py``);
* ``profile``: py-spy on the bridge under cumulative and delta load; the hottest functions.

Prints one table and writes ``bench/results/bench.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import hashlib
import importlib
import importlib.metadata
import itertools
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs
from bench.inproc import measure_parse, measure_translate, measure_walk, sample_bodies
from bench.procs import REPO, Cores, Server
from bench.workload import Workload, WorkloadSpec

RESULTS = Path(__file__).resolve().parent / "results"
PARTS = ("parse", "translate", "ingest", "idle", "naive", "rotel", "memory", "scrape", "render", "profile")
QUICK_PARTS = tuple(part for part in PARTS if part != "profile")
TEMPORALITIES = ("cumulative", "delta")
IN_PROCESS = frozenset({"parse", "translate", "render"})  # measured inside this process, pinned to the server core
SOURCE_LABEL_ARGS = ("--source-label", "gateway")

# The goals of issue 7.
GOAL_INGEST = 250_000.0  # data points/s end to end
GOAL_VS_NAIVE = 4.0
GOAL_VS_ROTEL = 0.25
GOAL_RENDER_US = 0.3  # µs per series
# bench_render's pages with a goal: what Prometheus fetches (it always sends Accept-Encoding: gzip) and plain text
RENDER_PAGES = {"text+gzip": "text+gzip (as Prometheus fetches it)", "text": "plain text"}
GOAL_BYTES = 400.0  # per retained series
GOAL_ACK_P99_MS = 5.0  # under back-to-back 100k-series scrapes
GOAL_IDLE = 0.01  # share of one core
# The bridge's counter families fed by the workload's Sum streams, all EXACT (README mapping table): after a run
# their sample values must add up to what the client sent.
SUM_FAMILIES = frozenset(
    {
        "openclaw_queue_lane_enqueue_total",
        "openclaw_queue_lane_dequeue_total",
        "openclaw_session_state_total",
        "openclaw_liveness_warning_total",
        "openclaw_telemetry_exporter_total",
    }
)


@dataclass(frozen=True)
class Settings:
    quick: bool
    spec: WorkloadSpec
    concurrency: int
    ingest_seconds: float
    ingest_requests: int
    baseline_seconds: float
    warmup_intervals: int
    parse_intervals: int
    translate_intervals: int
    idle_seconds: float
    memory_targets: tuple[int, ...]
    scrape_target: int
    scrape_seconds: float
    scrape_rate: float
    render_sizes: tuple[int, ...] | None  # None: bench_render's own
    profile_seconds: float

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        spec = WorkloadSpec(gateways=args.gateways, points=args.points, change_fraction=args.change_fraction)
        if args.quick:
            return cls(
                True,
                spec,
                args.concurrency,
                ingest_seconds=4.0,
                ingest_requests=2_000,
                baseline_seconds=3.0,
                warmup_intervals=2,
                parse_intervals=2,
                translate_intervals=3,
                idle_seconds=3.0,
                memory_targets=(10_000,),
                scrape_target=100_000,
                scrape_seconds=4.0,
                scrape_rate=20.0,
                render_sizes=(10_000,),
                profile_seconds=4.0,
            )
        return cls(
            False,
            spec,
            args.concurrency,
            ingest_seconds=10.0,
            ingest_requests=20_000,
            baseline_seconds=8.0,
            warmup_intervals=2,
            parse_intervals=6,
            translate_intervals=10,
            idle_seconds=5.0,
            memory_targets=(10_000, 100_000),
            scrape_target=100_000,
            scrape_seconds=15.0,  # 300 acks per variant: the p99 is the 3rd worst, not the 2nd
            scrape_rate=20.0,
            render_sizes=None,
            profile_seconds=8.0,
        )


@dataclass
class Context:
    settings: Settings
    cores: Cores
    workdir: Path
    parts: tuple[str, ...]
    results: dict[str, Any] = field(default_factory=dict)


# -- helpers ------------------------------------------------------------------------------------------------------
class CpuSampler:
    """Samples a process's CPU time, and how busy its core is, every 0.1 s: the server's CPU share inside a
    client's measured window, and how much of its core other processes took (a contended machine)."""

    def __init__(self, pid: int, core: int | None, other_core: int | None = None) -> None:
        self.pid = pid
        self.core = core
        self.other_core = other_core
        self.samples: list[tuple[float, float, int, int]] = []
        self.other: list[tuple[float, float, int, int]] = []  # (wall, 0, busy, total) of the other core
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                busy, total = procs.core_ticks(self.core)
                now = time.time()
                self.samples.append((now, procs.cpu_seconds(self.pid), busy, total))
                if self.other_core is not None:
                    self.other.append((now, 0.0, *procs.core_ticks(self.other_core)))
            self._stop.wait(0.1)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _inside(
        self, started: float, ended: float, samples: list[tuple[float, float, int, int]] | None = None
    ) -> list[tuple[float, float, int, int]]:
        inside = [sample for sample in (self.samples if samples is None else samples) if started <= sample[0] <= ended]
        return inside if len(inside) >= 2 and inside[-1][0] > inside[0][0] else []

    def share(self, started: float, ended: float) -> float | None:
        """The process's CPU time over the window, as a share of one core."""
        inside = self._inside(started, ended)
        if not inside:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def core_busy(self, started: float, ended: float, other: bool = False) -> float | None:
        """How busy the process's core (or the other core) was over the window (everything on it)."""
        inside = self._inside(started, ended, self.other if other else None)
        if not inside or inside[-1][3] <= inside[0][3]:
            return None
        return (inside[-1][2] - inside[0][2]) / (inside[-1][3] - inside[0][3])


def loadgen(
    ctx: Context,
    server: Server,
    spec: WorkloadSpec,
    *,
    seconds: float,
    requests: int,
    warmup: int,
    skip: int = 0,
    rate: float = 0.0,
    concurrency: int | None = None,
    pregenerate: int = 0,
) -> dict[str, Any]:
    """Run the load client against ``server`` and return its result, with the server's CPU share added."""
    args = [
        "--url",
        server.otlp_url,
        "--spec",
        spec.to_json(),
        "--warmup-intervals",
        str(warmup),
        "--skip-intervals",
        str(skip),
        "--requests",
        str(requests),
        "--duration",
        str(seconds),
        "--concurrency",
        str(concurrency or ctx.settings.concurrency),
        "--rate",
        str(rate),
        "--pregenerate",
        str(pregenerate),
    ]
    with CpuSampler(server.pid, ctx.cores.server, ctx.cores.client) as sampler:
        result = procs.run_json(procs.python_module(ctx.cores, "bench.loadgen", args), timeout=seconds + 300)
    window = (result["wall_started"], result["wall_ended"])
    share = result["server_cpu_share"] = sampler.share(*window)
    busy = sampler.core_busy(*window) if ctx.cores.server is not None else None
    result["server_core_busy"] = busy
    result["foreign_load"] = max(0.0, busy - share) if busy is not None and share is not None else None
    client_busy = sampler.core_busy(*window, other=True) if ctx.cores.client is not None else None
    result["client_core_busy"] = client_busy
    result["foreign_client_load"] = max(0.0, client_busy - result["client_cpu_share"]) if client_busy else None
    if server.process.poll() is not None:
        msg = f"{server.name} exited during the run:\n{server.log_tail()}"
        raise RuntimeError(msg)
    return result


def contention(result: dict[str, Any]) -> str:
    """A warning when other processes took a noticeable share of the server's or the client's core."""
    warnings = []
    for key, core in (("foreign_load", "server"), ("foreign_client_load", "client")):
        foreign = result.get(key)
        if foreign and foreign > 0.05:
            warnings.append(f"⚠ other processes took {foreign * 100:.0f} % of the {core} core")
    return "; ".join(warnings)


def _summary(result: dict[str, Any]) -> str:
    latency = result["latency"]
    share = result.get("server_cpu_share")
    warning = contention(result)
    return (
        f"{result['points_per_second']:,.0f} points/s, {result['requests']} requests, "
        f"ack p50 {latency['p50_ms']:.1f} ms p99 {latency['p99_ms']:.1f} ms, "
        f"server CPU {share * 100 if share is not None else math.nan:.0f} %, "
        f"client CPU {result['client_cpu_share'] * 100:.0f} %, non-200 {result['non_200']}, "
        f"rejected {result['rejected_points']}" + (f" {warning}" if warning else "") + _scrapes(result)
    )


def _scrapes(result: dict[str, Any]) -> str:
    scrapes = result.get("scrapes")
    if not scrapes:
        return ""
    return f", {scrapes['scrapes']} scrapes during the run (p99 {scrapes['duration']['p99_ms']:.1f} ms)"


def log(message: str) -> None:
    print(message, flush=True)


# -- parts --------------------------------------------------------------------------------------------------------
def part_parse(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for temporality in TEMPORALITIES:
        spec = ctx.settings.spec.with_(temporality=temporality)
        bodies, points = sample_bodies(spec, ctx.settings.parse_intervals)
        parse = measure_parse(bodies, points)
        walk = measure_walk(bodies, points, runs=5)
        out[temporality] = {
            "bodies": len(bodies),
            "mean_body_bytes": sum(map(len, bodies)) / len(bodies),
            "parse": parse.as_dict(),
            "walk": walk.as_dict(),
        }
        log(
            f"  {temporality}: parse {parse.points_per_second:,.0f} points/s ({parse.us_per_point:.3f} µs/point), "
            f"parse+walk {walk.points_per_second:,.0f} points/s ({walk.us_per_point:.3f} µs/point)"
        )
        del bodies
        gc.collect()
    return out


def part_translate(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for temporality in TEMPORALITIES:
        spec = ctx.settings.spec.with_(temporality=temporality)
        result = measure_translate(spec, ctx.settings.translate_intervals)
        out[temporality] = {
            "first_snapshot": result.first.as_dict(),
            "steady": result.steady.as_dict(),
            "settle": result.settle.as_dict(),
            "rejected": result.rejected,
            "series": result.series,
            "streams": result.streams,
        }
        log(
            f"  {temporality}: steady {result.steady.us_per_point:.3f} µs/point "
            f"({result.steady.points_per_second:,.0f} points/s), + settle after every round "
            f"{result.settle.us_per_point:.3f} µs/point, first snapshot {result.first.us_per_point:.2f} "
            f"µs/point, {result.series} series, {result.streams} streams, rejected {result.rejected}"
        )
        gc.collect()
    return out


def _idle(server: Server, seconds: float) -> dict[str, Any]:
    time.sleep(1.0)  # let the last request's garbage settle
    cpu_before, wall_before = procs.cpu_seconds(server.pid), time.monotonic()
    time.sleep(seconds)
    cpu_after, wall_after = procs.cpu_seconds(server.pid), time.monotonic()
    share = (cpu_after - cpu_before) / (wall_after - wall_before)
    return {
        "seconds": wall_after - wall_before,
        "cpu_seconds": cpu_after - cpu_before,
        "cpu_share": share,
        "resolution": 1 / procs.CLOCK_TICKS / (wall_after - wall_before),
        "rss_bytes": procs.rss_bytes(server.pid),
    }


INGEST_SCRAPE_INTERVAL = 5.0  # Prometheus' default is 15 s


def part_ingest(ctx: Context) -> dict[str, Any]:
    settings = ctx.settings
    out: dict[str, Any] = {}
    for temporality in TEMPORALITIES:
        spec = settings.spec.with_(temporality=temporality)
        with procs.bridge(ctx.cores, ctx.workdir, SOURCE_LABEL_ARGS) as server:
            # A scrape every second during the whole load (Prometheus' default is every 15 s): the work the fast
            # path keeps back until the store is read, and the renders, count against the bridge's own figure.
            scrape_out = ctx.workdir / f"ingest-scrapes-{temporality}.json"
            assert server.metrics_url is not None
            scraper_args = ["--url", server.metrics_url, "--interval", str(INGEST_SCRAPE_INTERVAL)]
            scraper_args += ["--duration", str(settings.ingest_seconds + 300), "--out", str(scrape_out)]
            scraper = procs.python_module(ctx.cores, "bench.scraper", scraper_args)
            with procs.background(scraper, ctx.workdir / f"ingest-scraper-{temporality}.log"):
                result = loadgen(
                    ctx,
                    server,
                    spec,
                    seconds=settings.ingest_seconds,
                    requests=settings.ingest_requests,
                    warmup=settings.warmup_intervals,
                )
            result["scrapes"] = json.loads(scrape_out.read_text()) if scrape_out.exists() else None
            result["rss_bytes"] = procs.rss_bytes(server.pid)
            result["counters"] = check_counters(server, result.get("counter_total"))
            log(f"  bridge {temporality}: {_summary(result)}")
            log(f"  counter check: {result['counters']}")
            if temporality == "cumulative" and "idle" in ctx.parts:
                ctx.results["idle"] = idle = _idle(server, settings.idle_seconds)
                log(f"  idle: {idle['cpu_share'] * 100:.2f} % of a core over {idle['seconds']:.1f} s")
        out[temporality] = result
    return out


def check_counters(server: Server, expected: float | None) -> dict[str, Any]:
    """Sum the exposed counters fed by the workload's Sum streams and compare with what the client sent."""
    assert server.metrics_url is not None
    page = procs.http_get(server.metrics_url, {"Accept": "text/plain;version=0.0.4"}).decode()
    values = []
    for line in page.splitlines():
        if not line or line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in SUM_FAMILIES:
            values.append(float(line.rsplit(" ", 1)[1]))
    exposed = math.fsum(values)
    ok = expected is not None and math.isclose(exposed, expected, rel_tol=1e-9)
    return {"expected": expected, "exposed": exposed, "series": len(values), "match": ok}


def part_idle(ctx: Context) -> dict[str, Any]:
    """Only when ``ingest`` is not run (it measures idle on its own bridge)."""
    spec = ctx.settings.spec
    with procs.bridge(ctx.cores, ctx.workdir, SOURCE_LABEL_ARGS) as server:
        loadgen(ctx, server, spec, seconds=1.0, requests=0, warmup=ctx.settings.warmup_intervals)
        idle = _idle(server, ctx.settings.idle_seconds)
    log(f"  idle: {idle['cpu_share'] * 100:.2f} % of a core over {idle['seconds']:.1f} s")
    return idle


def part_naive(ctx: Context) -> dict[str, Any]:
    settings = ctx.settings
    out: dict[str, Any] = {}
    for temporality in TEMPORALITIES:
        spec = settings.spec.with_(temporality=temporality)
        with procs.naive(ctx.cores, ctx.workdir) as server:
            result = loadgen(
                ctx,
                server,
                spec,
                seconds=settings.baseline_seconds,
                requests=settings.ingest_requests,
                warmup=settings.warmup_intervals,
            )
        log(f"  naive {temporality}: {_summary(result)}")
        out[temporality] = result
    return out


def part_rotel(ctx: Context) -> dict[str, Any]:
    settings = ctx.settings
    binary = procs.rotel_binary()
    if binary is None:
        log("  rotel is not installed (pip install rotel): skipped")
        return {"skipped": "rotel not installed"}
    version = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30, check=False)
    out: dict[str, Any] = {"version": version.stdout.strip()}
    for temporality in TEMPORALITIES:
        spec = settings.spec.with_(temporality=temporality)
        with procs.rotel(ctx.cores, ctx.workdir) as server:
            result = loadgen(
                ctx,
                server,
                spec,
                seconds=settings.baseline_seconds,
                requests=settings.ingest_requests * 5,
                warmup=1,
                pregenerate=4,
            )
        log(f"  rotel {temporality}: {_summary(result)}")
        out[temporality] = result
    return out


def part_memory(ctx: Context) -> dict[str, Any]:
    from bench.memory import fill_bodies, write_bodies  # noqa: PLC0415

    out: dict[str, Any] = {}
    for target in ctx.settings.memory_targets:
        bodies_file = ctx.workdir / f"memory-{target}.bin"
        write_bodies(fill_bodies(ctx.settings.spec, target), bodies_file)
        gc.collect()
        for mode in ("tracemalloc", "rss"):
            command = ctx.cores.server_command(
                [
                    sys.executable,
                    "-m",
                    "bench.memory",
                    "--target",
                    str(target),
                    "--mode",
                    mode,
                    "--spec",
                    ctx.settings.spec.to_json(),
                    "--bodies",
                    str(bodies_file),
                ]
            )
            result = procs.run_json(command, timeout=600)
            out[f"{target}:{mode}"] = result
            log(
                f"  {result['lines']:,} series ({mode}): {result['bytes_per_line']:.0f} B/series state, "
                f"+{result['render_cache_bytes_per_line']:.0f} B/series render caches after a scrape"
            )
    return out


def _lines_per_gateway_bridge(spec: WorkloadSpec) -> int:
    from bench.memory import lines_per_gateway  # noqa: PLC0415

    return lines_per_gateway(spec)


def _lines_per_gateway_naive(spec: WorkloadSpec) -> int:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (  # noqa: PLC0415
        ExportMetricsServiceRequest,
    )
    from prometheus_client import generate_latest  # noqa: PLC0415

    from bench.naive_bridge import NaiveBridge  # noqa: PLC0415

    bridge = NaiveBridge()
    one = Workload(spec.with_(gateways=1))
    bridge.ingest(ExportMetricsServiceRequest.FromString(one.gateways[0].next_body()))
    return procs.sample_lines(generate_latest(bridge.registry))


# The scraper stands in for a Prometheus on another machine, but here it shares the client core with the load client:
# as SCHED_IDLE it gives way whenever the load client needs the core, so the acks measure the bridge and not the
# harness's own contention (it still scrapes back to back: the paced client leaves the core idle most of the time).
SCRAPER_PRIORITY = ["chrt", "--idle", "0"] if shutil.which("chrt") else []
SCRAPE_VARIANTS = ("none", "gzip", "plain")  # no scraper (the bridge's own ack latency), gzip like Prometheus, plain


def _scrape_session(ctx: Context, server: Server, spec: WorkloadSpec, variants: Sequence[str]) -> dict[str, Any]:
    """Fill ``server`` with every gateway's first snapshot, then per variant: paced 1k-point exports while a
    scraper fetches the whole page back to back (``none``: no scraper)."""
    settings = ctx.settings
    fill = loadgen(ctx, server, spec, seconds=1.0, requests=0, warmup=1)
    assert server.metrics_url is not None
    page = procs.http_get(server.metrics_url, {"Accept": "text/plain;version=0.0.4"})
    out: dict[str, Any] = {
        "gateways": spec.gateways,
        "lines": procs.sample_lines(page),
        "page_bytes": len(page),
        "fill_rejected": fill["warmup"]["rejected_points"],
        "scraper_sched_idle": bool(SCRAPER_PRIORITY),
    }
    del page
    skip = 1
    for variant in variants:
        scrape_out = ctx.workdir / f"scrape-{server.name}-{variant}.json"
        scraper_args = ["--url", server.metrics_url, "--duration", str(settings.scrape_seconds + 1.5)]
        scraper_args += ["--out", str(scrape_out)] + (["--no-gzip"] if variant == "plain" else [])
        command = [*SCRAPER_PRIORITY, *procs.python_module(ctx.cores, "bench.scraper", scraper_args)]
        with contextlib.ExitStack() as stack:
            scraper = None
            if variant != "none":
                scraper = stack.enter_context(procs.background(command, ctx.workdir / f"scraper-{server.name}.log"))
                time.sleep(1.0)  # the first scrape is under way
            acks = loadgen(
                ctx,
                server,
                spec,
                seconds=settings.scrape_seconds,
                requests=100_000,
                warmup=0,
                skip=skip,
                rate=settings.scrape_rate,
                concurrency=1,
            )
            if scraper is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    scraper.wait(timeout=settings.scrape_seconds + 120)
        skip += math.ceil(acks["requests"] / spec.gateways) + 1
        scrapes: dict[str, Any] = json.loads(scrape_out.read_text()) if scrape_out.exists() else {"scrapes": 0}
        out[variant] = {"acks": acks, "scrapes": scrapes}
        scrape_ms = _get(scrapes, "duration", "mean_ms") or math.nan
        log(
            f"  {server.name} ({variant}): {out['lines']:,} series, {scrapes['scrapes']} scrapes (mean "
            f"{scrape_ms:.0f} ms); acks p50 {acks['latency']['p50_ms']:.1f} ms p99 {acks['latency']['p99_ms']:.1f} "
            f"ms max {acks['latency']['max_ms']:.1f} ms over {acks['requests']} exports"
        )
    return out


def part_scrape(ctx: Context) -> dict[str, Any]:
    settings = ctx.settings
    target = settings.scrape_target
    out: dict[str, Any] = {"target": target, "rate": settings.scrape_rate}
    bridge_gateways = math.ceil(target / _lines_per_gateway_bridge(settings.spec))
    naive_gateways = math.ceil(target / _lines_per_gateway_naive(settings.spec))
    with procs.bridge(ctx.cores, ctx.workdir, SOURCE_LABEL_ARGS) as server:
        out["bridge"] = _scrape_session(ctx, server, settings.spec.with_(gateways=bridge_gateways), SCRAPE_VARIANTS)
    with procs.naive(ctx.cores, ctx.workdir) as server:
        out["naive"] = _scrape_session(ctx, server, settings.spec.with_(gateways=naive_gateways), ("gzip",))
    return out


def part_render(ctx: Context) -> dict[str, Any]:
    """``bench/bench_render.py`` (maintained separately): its ``build``/``measure`` in-process, else its CLI."""
    try:
        module = importlib.import_module("bench.bench_render")
        build: Callable[[int, random.Random], Any] = module.build
        measure: Callable[[Any, random.Random], list[Any]] = module.measure
        sizes = ctx.settings.render_sizes or tuple(module.SIZES)
        rng = random.Random(getattr(module, "SEED", 20260429))
        rows: list[dict[str, Any]] = []
        for size in sizes:
            workload = build(size, rng)
            rows.extend(_row_dict(row) for row in measure(workload, rng))
            del workload
            gc.collect()
        source = "in-process bench.bench_render.build/measure"
    except (ImportError, AttributeError, TypeError) as error:
        log(f"  bench.bench_render has no usable build/measure ({error!r}); running it as a program")
        completed = subprocess.run(
            [sys.executable, "-m", "bench.bench_render"],
            cwd=REPO,
            env=procs.child_env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if completed.returncode != 0:
            msg = f"bench.bench_render failed:\n{completed.stderr[-3000:]}"
            raise RuntimeError(msg) from None
        document = json.loads((RESULTS / "render.json").read_text())
        rows = list(document.get("rows", []))
        source = "python -m bench.bench_render (bench/results/render.json)"
    for row in rows:
        if row.get("format") in RENDER_PAGES:
            log(
                f"  {row['size']:>7,} {row['format']:<9} {row['measure']:<18} {row['us_per_series']:.3f} µs/series "
                f"({row.get('vs_prometheus_client') or math.nan:.1f}× prometheus_client)"
            )
    return {"source": source, "rows": rows}


def _row_dict(row: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    return dict(vars(row))


PROFILE_SCENARIOS = ("cumulative", "delta", "scrape")


def _py_spy(ctx: Context, spy: str, pid: int, fmt: str, path: Path, seconds: float) -> None:
    record = ctx.cores.client_command(
        [
            *(spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds)))),
            *("--rate", "100", "--format", fmt, "--function", "--output", str(path)),
        ]
    )
    completed = subprocess.run(record, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if completed.returncode != 0:
        msg = f"py-spy failed: {completed.stderr[-2000:]}"
        raise RuntimeError(msg)


def _profile_saturated(ctx: Context, spy: str, spec: WorkloadSpec, windows: Sequence[tuple[str, Path]]) -> float:
    """The bridge under saturating load while py-spy records each window; returns the load's points/s."""
    settings = ctx.settings
    seconds = settings.profile_seconds
    client_seconds = 2.0 + len(windows) * (seconds + 2.0) + 2.0
    with procs.bridge(ctx.cores, ctx.workdir, SOURCE_LABEL_ARGS) as server:
        client_out = ctx.workdir / f"profile-client-{spec.temporality}.json"
        client_args = ["--url", server.otlp_url, "--spec", spec.to_json(), "--out", str(client_out)]
        client_args += ["--warmup-intervals", str(settings.warmup_intervals), "--requests", "1000000"]
        client_args += ["--duration", str(client_seconds), "--concurrency", str(settings.concurrency)]
        command = procs.python_module(ctx.cores, "bench.loadgen", client_args)
        with procs.background(command, ctx.workdir / "profile-client.log") as client:
            time.sleep(2.0)  # past the first snapshots
            for fmt, path in windows:
                _py_spy(ctx, spy, server.pid, fmt, path, seconds)
            with contextlib.suppress(subprocess.TimeoutExpired):
                client.wait(timeout=client_seconds + 60)
        load = json.loads(client_out.read_text()) if client_out.exists() else {}
    return float(load.get("points_per_second") or 0.0)


def _profile_scrapes(ctx: Context, spy: str, windows: Sequence[tuple[str, Path]]) -> float:
    """The bridge holding ~100k series, scraped back to back (text, no gzip) while paced 1k-point exports arrive."""
    settings = ctx.settings
    seconds = settings.profile_seconds
    spec = settings.spec.with_(gateways=math.ceil(settings.scrape_target / _lines_per_gateway_bridge(settings.spec)))
    busy_seconds = 1.5 + len(windows) * (seconds + 2.0) + 1.0
    with procs.bridge(ctx.cores, ctx.workdir, SOURCE_LABEL_ARGS) as server:
        assert server.metrics_url is not None
        loadgen(ctx, server, spec, seconds=1.0, requests=0, warmup=1)
        client_out = ctx.workdir / "profile-client-scrape.json"
        client_args = ["--url", server.otlp_url, "--spec", spec.to_json(), "--out", str(client_out)]
        client_args += ["--warmup-intervals", "0", "--skip-intervals", "1", "--requests", "1000000"]
        client_args += ["--duration", str(busy_seconds), "--concurrency", "1", "--rate", str(settings.scrape_rate)]
        scraper_args = ["--url", server.metrics_url, "--duration", str(busy_seconds), "--no-gzip"]
        with (
            procs.background(
                procs.python_module(ctx.cores, "bench.scraper", scraper_args), ctx.workdir / "profile-scraper.log"
            ) as scraper,
            procs.background(
                procs.python_module(ctx.cores, "bench.loadgen", client_args), ctx.workdir / "profile-client.log"
            ) as client,
        ):
            time.sleep(1.5)
            for fmt, path in windows:
                _py_spy(ctx, spy, server.pid, fmt, path, seconds)
            for process in (client, scraper):
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=busy_seconds + 120)
        load = json.loads(client_out.read_text()) if client_out.exists() else {}
    return float(load.get("points_per_second") or 0.0)


def part_profile(ctx: Context) -> dict[str, Any]:
    """py-spy on the bridge: saturating cumulative and delta load, and paced exports during back-to-back scrapes."""
    spy = shutil.which("py-spy")
    if spy is None:
        log("  py-spy is not installed (pip install py-spy): skipped")
        return {"skipped": "py-spy not installed"}
    out: dict[str, Any] = {}
    RESULTS.mkdir(parents=True, exist_ok=True)
    for scenario in PROFILE_SCENARIOS:
        raw = RESULTS / f"profile-{scenario}.txt"
        svg = RESULTS / f"profile-{scenario}.svg"
        windows = [("raw", raw)] + ([] if ctx.settings.quick else [("flamegraph", svg)])
        for _, path in windows:
            path.unlink(missing_ok=True)
        if scenario == "scrape":
            rate = _profile_scrapes(ctx, spy, windows)
        else:
            rate = _profile_saturated(ctx, spy, ctx.settings.spec.with_(temporality=scenario), windows)
        top = top_functions(raw.read_text())
        out[scenario] = {
            "raw": str(raw.relative_to(REPO)),
            "svg": str(svg.relative_to(REPO)) if len(windows) > 1 and svg.exists() else None,
            "load_points_per_second": rate,
            **top,
        }
        log(f"  {scenario} (under {rate:,.0f} points/s), self time:")
        for entry in top["self"][:12]:
            log(f"    {entry['share'] * 100:5.1f} %  {entry['frame']}")
    return out


def top_functions(collapsed: str, limit: int = 25) -> dict[str, Any]:
    """Self and inclusive shares per frame from py-spy's raw (collapsed stack) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return {"samples": 0, "self": [], "inclusive": []}

    def ranked(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": frame, "share": count / total, "inclusive": inclusive[frame] / total}
            for frame, count in counter.most_common(limit)
        ]

    return {"samples": total, "self": ranked(own), "inclusive": ranked(inclusive)}


RUNNERS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "parse": part_parse,
    "translate": part_translate,
    "ingest": part_ingest,
    "idle": part_idle,
    "naive": part_naive,
    "rotel": part_rotel,
    "memory": part_memory,
    "scrape": part_scrape,
    "render": part_render,
    "profile": part_profile,
}


# -- the table ----------------------------------------------------------------------------------------------------
@dataclass
class Row:
    part: str
    figure: str
    value: str
    ratios: str = ""
    goal: str = ""
    status: str = ""
    number: float | None = None


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or not denominator or math.isnan(denominator):
        return None
    return numerator / denominator


def _times(value: float | None, label: str) -> str:
    return f"{value:.2f}× {label}" if value is not None else ""


def _verdict(value: float | None, ok: Callable[[float], bool]) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return "PASS" if ok(value) else "FAIL"


def build_table(results: dict[str, Any]) -> tuple[list[Row], list[dict[str, Any]]]:
    rows: list[Row] = []
    goals: list[dict[str, Any]] = []

    def goal(name: str, value: float | None, target: str, ok: Callable[[float], bool]) -> str:
        status = _verdict(value, ok)
        goals.append({"goal": name, "value": value, "target": target, "status": status})
        return status

    parse = results.get("parse", {})
    parse_warning = contention(parse) if isinstance(parse, dict) else ""
    translate_warning = contention(results["translate"]) if isinstance(results.get("translate"), dict) else ""
    for temporality in TEMPORALITIES:
        raw = _get(parse, temporality, "parse", "points_per_second")
        walk = _get(parse, temporality, "walk", "points_per_second")
        bridge = _get(results, "ingest", temporality, "points_per_second")
        naive = _get(results, "naive", temporality, "points_per_second")
        rotel = _get(results, "rotel", temporality, "points_per_second")
        translate = _get(results, "translate", temporality, "steady", "points_per_second")
        if raw is not None:
            rows.append(
                Row(
                    "floor",
                    f"raw protobuf parse ({temporality})",
                    f"{raw:,.0f} pts/s",
                    f"{_get(parse, temporality, 'parse', 'us_per_point'):.3f} µs/pt"
                    + (f"; {parse_warning}" if parse_warning else ""),
                    number=raw,
                )
            )
        if walk is not None:
            rows.append(
                Row(
                    "floor",
                    f"parse + bare Python walk ({temporality})",
                    f"{walk:,.0f} pts/s",
                    f"{_get(parse, temporality, 'walk', 'us_per_point'):.3f} µs/pt; "
                    f"{_times(_ratio(walk, raw), 'parse')}" + (f"; {parse_warning}" if parse_warning else ""),
                    number=walk,
                )
            )
        if translate is not None:
            us = _get(results, "translate", temporality, "steady", "us_per_point")
            walk_us = _get(parse, temporality, "walk", "us_per_point")
            parse_us = _get(parse, temporality, "parse", "us_per_point")
            first_us = _get(results, "translate", temporality, "first_snapshot", "us_per_point")
            settle_us = _get(results, "translate", temporality, "settle", "us_per_point")
            rows.append(
                Row(
                    "translate",
                    f"MetricsTranslator.apply ({temporality})",
                    f"{us:.3f} µs/pt",
                    "; ".join(
                        part
                        for part in (
                            f"{translate:,.0f} pts/s",
                            f"+ parse = {us + parse_us:.3f} µs/pt = "
                            f"{_times(_ratio(us + parse_us, walk_us), 'the parse+walk floor')}"
                            if walk_us and parse_us
                            else "",
                            f"+ settle after every round {settle_us:.3f} µs/pt (once per read)" if settle_us else "",
                            f"first snapshot {first_us:.2f} µs/pt" if first_us else "",
                            translate_warning,
                        )
                        if part
                    ),
                    number=us,
                )
            )
        for name, value, key in (("naive bridge", naive, "naive"), ("rotel (blackhole)", rotel, "rotel")):
            if value is not None:
                result = results[key][temporality]
                rows.append(
                    Row(
                        "baseline",
                        f"{name} e2e ({temporality})",
                        f"{value:,.0f} pts/s",
                        f"ack p50 {result['latency']['p50_ms']:.1f} / p99 {result['latency']['p99_ms']:.1f} ms; "
                        f"server CPU {(result.get('server_cpu_share') or math.nan) * 100:.0f} %, "
                        f"client CPU {result['client_cpu_share'] * 100:.0f} %"
                        + (f"; {contention(result)}" if contention(result) else ""),
                        number=value,
                    )
                )
        if bridge is not None:
            result = results["ingest"][temporality]
            rows.append(
                Row(
                    "ingest",
                    f"bridge e2e ({temporality})",
                    f"{bridge:,.0f} pts/s",
                    "; ".join(
                        part
                        for part in (
                            _times(_ratio(bridge, raw), "parse"),
                            _times(_ratio(bridge, walk), "walk"),
                            _times(_ratio(bridge, naive), "naive"),
                            _times(_ratio(bridge, rotel), "rotel"),
                            contention(result),
                        )
                        if part
                    ),
                    f"≥ {GOAL_INGEST:,.0f}",
                    goal(f"ingest {temporality} ≥ 250k points/s", bridge, "≥ 250000", lambda v: v >= GOAL_INGEST),
                    number=bridge,
                )
            )
            share = result.get("server_cpu_share")
            rows.append(
                Row(
                    "ingest",
                    f"bridge ack latency ({temporality}, {result['concurrency']} connections)",
                    f"p50 {result['latency']['p50_ms']:.1f} / p99 {result['latency']['p99_ms']:.1f} ms",
                    f"{result['requests_per_second']:.0f} req/s; bridge CPU "
                    f"{share * 100 if share is not None else math.nan:.0f} %, client CPU "
                    f"{result['client_cpu_share'] * 100:.0f} %"
                    + (
                        f"; scraped every {INGEST_SCRAPE_INTERVAL:g} s throughout ({result['scrapes']['scrapes']} "
                        f"scrapes, p99 {result['scrapes']['duration']['p99_ms']:.1f} ms; the baselines are not scraped)"
                        if result.get("scrapes")
                        else ""
                    ),
                )
            )
            counters = result.get("counters")
            if isinstance(counters, dict):
                rows.append(
                    Row(
                        "ingest",
                        f"counters add up ({temporality})",
                        f"{counters['exposed']:,.0f} of {counters['expected'] or math.nan:,.0f}",
                        f"sum of {counters['series']:,} exposed series of {len(SUM_FAMILIES)} counter families "
                        "vs what the client sent",
                        "equal",
                        goal(
                            f"counters add up ({temporality})",
                            1.0 if counters["match"] else 0.0,
                            "equal",
                            lambda v: v == 1.0,
                        ),
                    )
                )
            rejected = result["rejected_points"] + result["warmup"]["rejected_points"]
            bad = result["non_200"] + sum(result["errors"].values()) + result["partial_responses"]
            rows.append(
                Row(
                    "ingest",
                    f"rejections ({temporality})",
                    f"{rejected} points, {bad} bad answers",
                    f"{result['requests'] + result['warmup']['requests']} requests",
                    "= 0",
                    goal(f"no rejections ({temporality})", float(rejected + bad), "= 0", lambda v: v == 0),
                )
            )
            if naive is not None:
                ratio = _ratio(bridge, naive)
                rows.append(
                    Row(
                        "ingest",
                        f"bridge / naive ({temporality})",
                        f"{ratio:.2f}×" if ratio is not None else "",
                        goal=f"≥ {GOAL_VS_NAIVE:g}×",
                        status=goal(f"≥ 4× naive ({temporality})", ratio, "≥ 4", lambda v: v >= GOAL_VS_NAIVE),
                        number=ratio,
                    )
                )
            if rotel is not None:
                ratio = _ratio(bridge, rotel)
                rows.append(
                    Row(
                        "ingest",
                        f"bridge / rotel ({temporality})",
                        f"{ratio:.2f}×" if ratio is not None else "",
                        goal=f"≥ {GOAL_VS_ROTEL:g}×",
                        status=goal(f"≥ 0.25× rotel ({temporality})", ratio, "≥ 0.25", lambda v: v >= GOAL_VS_ROTEL),
                        number=ratio,
                    )
                )
    idle = results.get("idle")
    if isinstance(idle, dict) and "cpu_share" in idle:
        share = idle["cpu_share"]
        rows.append(
            Row(
                "idle",
                f"bridge idle CPU ({idle['seconds']:.0f} s, loaded)",
                f"{share * 100:.2f} % of a core",
                f"resolution {idle['resolution'] * 100:.2f} %; RSS {idle['rss_bytes'] / 2**20:.0f} MiB",
                "< 1 %",
                goal("idle CPU < 1 %", share, "< 0.01", lambda v: v < GOAL_IDLE),
                number=share,
            )
        )
    for key, result in sorted(results.get("memory", {}).items(), key=lambda item: item[1]["lines"]):
        mode = key.split(":")[1]
        lines = result["lines"]
        state = result["bytes_per_line"]
        steady = state + result["render_cache_bytes_per_line"]
        detail = (
            f"store {result['store_only_bytes_per_line']:.0f} B/series + streams; " if mode == "tracemalloc" else ""
        )
        rows.append(
            Row(
                "memory",
                f"bytes/series at {lines:,} series ({mode}, after ingest)",
                f"{state:.0f} B",
                f"{detail}{result['streams']:,} streams, {result['series_objects']:,} label sets",
                f"≤ {GOAL_BYTES:.0f}",
                goal(f"≤ 400 B/series at {lines} ({mode}, after ingest)", state, "≤ 400", lambda v: v <= GOAL_BYTES),
                number=state,
            )
        )
        rows.append(
            Row(
                "memory",
                f"bytes/series at {lines:,} series ({mode}, after a scrape)",
                f"{steady:.0f} B",
                f"render caches +{result['render_cache_bytes_per_line']:.0f} B/series",
                f"≤ {GOAL_BYTES:.0f}",
                goal(f"≤ 400 B/series at {lines} ({mode}, after a scrape)", steady, "≤ 400", lambda v: v <= GOAL_BYTES),
                number=steady,
            )
        )
    scrape = results.get("scrape", {})
    naive_p99 = _get(scrape, "naive", "gzip", "acks", "latency", "p99_ms")
    for name in ("bridge", "naive"):
        session = scrape.get(name)
        if not isinstance(session, dict):
            continue
        for variant in SCRAPE_VARIANTS:
            data = session.get(variant)
            if not isinstance(data, dict):
                continue
            latency = data["acks"]["latency"]
            scrapes = data["scrapes"]
            p99 = latency["p99_ms"]
            is_goal = name == "bridge" and variant != "none"
            rows.append(
                Row(
                    "scrape",
                    f"{name} ack p99, 1k-pt exports, {session['lines']:,} series, scrapes: {variant}",
                    f"{p99:.1f} ms",
                    "; ".join(
                        part
                        for part in (
                            f"p50 {latency['p50_ms']:.1f}, max {latency['max_ms']:.1f} ms, {latency['samples']} acks",
                            f"{scrapes['scrapes']} scrapes, mean {_get(scrapes, 'duration', 'mean_ms'):.0f} ms, "
                            f"scraper CPU {(_get(scrapes, 'cpu_share') or 0) * 100:.0f} %"
                            if scrapes.get("scrapes")
                            else "",
                            _times(_ratio(naive_p99, p99), "lower than naive") if is_goal and naive_p99 else "",
                        )
                        if part
                    ),
                    f"≤ {GOAL_ACK_P99_MS:g} ms" if is_goal else "",
                    goal(f"ack p99 ≤ 5 ms under scrapes ({variant})", p99, "≤ 5", lambda v: v <= GOAL_ACK_P99_MS)
                    if is_goal
                    else "",
                    number=p99,
                )
            )
    bridge_session = scrape.get("bridge")
    if isinstance(bridge_session, dict):
        runs = [bridge_session[v]["acks"] for v in SCRAPE_VARIANTS if isinstance(bridge_session.get(v), dict)]
        rejected = bridge_session.get("fill_rejected", 0) + sum(run["rejected_points"] for run in runs)
        bad = sum(run["non_200"] + run["partial_responses"] + sum(run["errors"].values()) for run in runs)
        rows.append(
            Row(
                "scrape",
                "rejections (bridge, scrape runs)",
                f"{rejected} points, {bad} bad answers",
                f"{sum(run['requests'] for run in runs)} requests + fill",
                "= 0",
                goal("no rejections (scrape runs)", float(rejected + bad), "= 0", lambda v: v == 0),
            )
        )
    render = results.get("render", {})
    render_rows = render.get("rows", []) if isinstance(render, dict) else []
    render_warning = contention(render) if isinstance(render, dict) else ""
    sizes = sorted({row["size"] for row in render_rows})
    for size, (page, what) in itertools.product(sizes, RENDER_PAGES.items()):
        by_measure = {row["measure"]: row for row in render_rows if row["size"] == size and row["format"] == page}
        client = by_measure.get("prometheus_client")
        for measure in ("cold", "warm", "warm+1%"):
            row = by_measure.get(measure)
            if row is None:
                continue
            is_goal = measure == "warm+1%" and size == sizes[-1]
            us = row["us_per_series"]
            rows.append(
                Row(
                    "render",
                    f"render {what} at {size:,} series ({measure})",
                    f"{us:.3f} µs/series",
                    f"{row['milliseconds']:.1f} ms; "
                    f"{_times(row.get('vs_prometheus_client'), 'faster than prometheus_client')}"
                    + (f"; {render_warning}" if render_warning else ""),
                    f"≤ {GOAL_RENDER_US:g}" if is_goal else "",
                    goal(f"render {what} ≤ 0.3 µs/series at {size}", us, "≤ 0.3", lambda v: v <= GOAL_RENDER_US)
                    if is_goal
                    else "",
                    number=us,
                )
            )
        if client is not None:
            rows.append(
                Row(
                    "render",
                    f"prometheus_client generate_latest{' + gzip.compress' if 'gzip' in page else ''} at {size:,}",
                    f"{client['us_per_series']:.3f} µs/series",
                    f"{client['milliseconds']:.1f} ms",
                    number=client["us_per_series"],
                )
            )
    return rows, goals


def print_table(rows: Sequence[Row]) -> None:
    headers = ("part", "figure", "value", "ratios / detail", "goal", "status")
    cells = [(r.part, r.figure, r.value, r.ratios, r.goal, r.status) for r in rows]
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
    widths[3] = min(widths[3], 110)
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("-" * len(line))
    previous = None
    for cell in cells:
        if previous is not None and cell[0] != previous:
            print()
        previous = cell[0]
        print("  ".join(text.ljust(w) for text, w in zip(cell, widths, strict=True)).rstrip())


def print_profile(profile: Any, limit: int = 12) -> None:
    if not isinstance(profile, dict):
        return
    for scenario in PROFILE_SCENARIOS:
        data = profile.get(scenario)
        if not isinstance(data, dict) or not data.get("self"):
            continue
        rate = data.get("load_points_per_second") or 0.0
        files = ", ".join(path for path in (data["raw"], data.get("svg")) if path)
        load = "paced exports + back-to-back 100k-series scrapes" if scenario == "scrape" else f"{scenario} load"
        print(
            f"\nprofile, {load} ({rate:,.0f} points/s while sampled; {data['samples']} busy samples at 100/s; {files}):"
        )
        print(f"  {'self':>6}  {'incl.':>6}  function")
        for entry in data["self"][:limit]:
            print(f"  {entry['share'] * 100:5.1f}%  {entry['inclusive'] * 100:5.1f}%  {entry['frame']}")


# -- environment --------------------------------------------------------------------------------------------------
def environment(cores: Cores) -> dict[str, Any]:
    from google.protobuf.internal import api_implementation  # noqa: PLC0415

    def version(name: str) -> str | None:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return None

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30, check=False)
        except OSError:
            return ""
        return done.stdout.strip()

    digest = hashlib.sha256()
    for path in sorted((REPO / "otlp_bridge").glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "python": platform.python_version(),
        "protobuf": version("protobuf"),
        "protobuf_backend": api_implementation.Type(),
        "aiohttp": version("aiohttp"),
        "prometheus_client": version("prometheus_client"),
        "rotel": version("rotel"),
        "py_spy": version("py-spy"),
        "cpu": cpu,
        "cpus_available": len(__import__("os").sched_getaffinity(0)),
        "server_core": cores.server,
        "client_core": cores.client,
        "git_commit": git("rev-parse", "HEAD"),
        "otlp_bridge_uncommitted": bool(git("status", "--porcelain", "--", "otlp_bridge")),
        "otlp_bridge_sha256": digest.hexdigest()[:16],
    }


# -- main ---------------------------------------------------------------------------------------------------------
def _parts(args: argparse.Namespace) -> tuple[str, ...]:
    default = QUICK_PARTS if args.quick else PARTS
    chosen = [p.strip() for p in args.parts.split(",") if p.strip()] if args.parts else list(default)
    if args.profile and "profile" not in chosen:
        chosen.append("profile")
    skipped = {p.strip() for p in (args.skip or "").split(",") if p.strip()}
    unknown = (set(chosen) | skipped) - set(PARTS)
    if unknown:
        msg = f"unknown part(s): {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}"
        raise SystemExit(msg)
    return tuple(p for p in PARTS if p in chosen and p not in skipped)


def _in_process(ctx: Context, part: str) -> dict[str, Any]:
    """Run an in-process part pinned to the server core, watching for other processes on that core."""
    with procs.pinned(ctx.cores.server), CpuSampler(os.getpid(), ctx.cores.server) as sampler:
        started = time.time()
        result = RUNNERS[part](ctx)
        ended = time.time()
    share, busy = sampler.share(started, ended), sampler.core_busy(started, ended)
    if ctx.cores.server is not None and share is not None and busy is not None:
        result["foreign_load"] = foreign = max(0.0, busy - share)
        if foreign > 0.05:
            log(f"  ⚠ other processes took {foreign * 100:.0f} % of the core during {part}")
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run (shorter, 10k-only memory/render)")
    parser.add_argument("--parts", help=f"comma-separated subset of: {', '.join(PARTS)}")
    parser.add_argument("--skip", help="comma-separated parts to leave out")
    parser.add_argument("--profile", action="store_true", help="profile with py-spy in --quick runs too")
    default = WorkloadSpec()
    parser.add_argument("--gateways", type=int, default=default.gateways, help="gateways in the load (default 8)")
    parser.add_argument("--points", type=int, default=default.points, help="data points per request (default 1000)")
    parser.add_argument(
        "--change-fraction",
        type=float,
        default=default.change_fraction,
        help="share of cumulative streams that grow each interval (default 0.10)",
    )
    parser.add_argument("--concurrency", type=int, default=4, help="client connections when saturating (default 4)")
    parser.add_argument("--output", type=Path, default=RESULTS / "bench.json", help="JSON results file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    parts = _parts(args)
    settings = Settings.from_args(args)
    cores = procs.pick_cores()
    started = time.perf_counter()
    if cores.server is None:
        log("warning: fewer than 2 usable cores or no taskset: processes are not pinned")
    workload = Workload(settings.spec).describe()
    log(
        f"workload: {settings.spec.gateways} gateways × {workload['points_per_request']} points/request "
        f"({workload['histogram_points_per_request']} histograms), {workload['body_bytes']:,} bytes/body, "
        f"{settings.spec.change_fraction:.0%} of cumulative streams grow per interval; parts: {', '.join(parts)}"
    )
    load = procs.busy_shares(1.0)
    busy = {core: share for core, share in load.items() if share > 0.05}
    if busy:
        log(
            "warning: the machine is busy before the run ("
            + ", ".join(f"{core} {share:.0%}" for core, share in busy.items())
            + "): other processes will lower and scatter the figures"
        )
    document: dict[str, Any] = {
        "benchmark": "otlp-bridge issue 7",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": settings.quick,
        "parts": list(parts),
        "environment": environment(cores),
        "load_before": load,
        "settings": {**dataclasses.asdict(settings), "spec": dataclasses.asdict(settings.spec)},
        "workload": workload,
        "results": {},
        "errors": {},
    }
    results: dict[str, Any] = document["results"]
    with tempfile.TemporaryDirectory(prefix="otlp-bridge-bench-") as tmp:
        ctx = Context(settings, cores, Path(tmp), parts, results)
        for part in parts:
            if part == "idle" and "ingest" in parts:
                continue  # measured on the ingest run's bridge
            log(f"[{time.perf_counter() - started:6.1f} s] {part}")
            try:
                if part in IN_PROCESS:
                    results[part] = _in_process(ctx, part)
                else:
                    results[part] = RUNNERS[part](ctx)
            except Exception as error:
                document["errors"][part] = f"{type(error).__name__}: {error}"
                log(f"  {part} FAILED: {type(error).__name__}: {error}")
    document["load_after"] = after = procs.busy_shares(1.0)
    if any(share > 0.05 for share in after.values()):
        log("warning: the machine is busy after the run: " + ", ".join(f"{c} {s:.0%}" for c, s in after.items()))
    rows, goals = build_table(results)
    document["table"] = [dataclasses.asdict(row) for row in rows]
    document["goals"] = goals
    document["seconds"] = time.perf_counter() - started
    print()
    print_table(rows)
    passed = sum(1 for g in goals if g["status"] == "PASS")
    print_profile(results.get("profile"))
    print(f"\ngoals: {passed}/{len(goals)} PASS; total {document['seconds']:.0f} s")
    for part, message in document["errors"].items():
        print(f"error in {part}: {message}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, default=str) + "\n")
    print(f"wrote {args.output}")
    return 1 if document["errors"] else 0
