"""``ingest``, ``idle``, ``naive`` and ``rotel``: the bridge and its two baselines as real processes under the
same load."""

from __future__ import annotations

import json
import math
import subprocess
import time
from typing import Any

from bench import procs
from bench.harness import (
    SOURCE_LABEL_ARGS,
    TEMPORALITIES,
    Context,
    loadgen,
    log,
    summary,
    warn_client_bound,
)
from bench.procs import Server

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
            log(f"  bridge {temporality}: {summary(result)}")
            warn_client_bound(result)
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
        log(f"  naive {temporality}: {summary(result)}")
        warn_client_bound(result)
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
        log(f"  rotel {temporality}: {summary(result)}")
        warn_client_bound(result)
        out[temporality] = result
    return out
