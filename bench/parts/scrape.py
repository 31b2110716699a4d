"""``scrape``: ack latency of paced 1k-point exports while a scraper fetches ~100k-series pages back to back."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from bench import procs
from bench.fleet import FleetSpec
from bench.harness import (
    SOURCE_LABEL_ARGS,
    Context,
    get_path,
    loadgen,
    log,
)
from bench.parts.memory import lines_per_gateway_bridge, lines_per_gateway_naive
from bench.procs import Server
from bench.workload import WorkloadSpec

# The scraper stands in for a Prometheus on another machine, but here it shares the client core with the load client:
# as SCHED_IDLE it gives way whenever the load client needs the core, so the acks measure the bridge and not the
# harness's own contention (it still scrapes back to back: the paced client leaves the core idle most of the time).
SCRAPER_PRIORITY = ["chrt", "--idle", "0"] if shutil.which("chrt") else []


SCRAPE_VARIANTS = ("none", "gzip", "plain")  # no scraper (the bridge's own ack latency), gzip like Prometheus, plain


def scraped_exports(
    ctx: Context, server: Server, spec: WorkloadSpec | FleetSpec, variant: str, skip: int, rate: float, name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Paced exports (``loadgen`` acks) while a scraper fetches the whole page back to back in ``variant`` (``gzip``,
    ``plain``; ``none``: no scraper); the scraper's figures beside them."""
    settings = ctx.settings
    assert server.metrics_url is not None
    scrape_out = ctx.workdir / f"scrape-{name}-{variant}.json"
    scraper_args = ["--url", server.metrics_url, "--duration", str(settings.scrape_seconds + 1.5)]
    scraper_args += ["--out", str(scrape_out)] + (["--no-gzip"] if variant == "plain" else [])
    command = [*SCRAPER_PRIORITY, *procs.python_module(ctx.cores, "bench.scraper", scraper_args)]
    with contextlib.ExitStack() as stack:
        scraper = None
        if variant != "none":
            scraper = stack.enter_context(procs.background(command, ctx.workdir / f"scraper-{name}.log"))
            time.sleep(1.0)  # the first scrape is under way
        acks = loadgen(
            ctx,
            server,
            spec,
            seconds=settings.scrape_seconds,
            requests=100_000,
            warmup=0,
            skip=skip,
            rate=rate,
            concurrency=1,
        )
        if scraper is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                scraper.wait(timeout=settings.scrape_seconds + 120)
    scrapes: dict[str, Any] = json.loads(scrape_out.read_text()) if scrape_out.exists() else {"scrapes": 0}
    return acks, scrapes


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
        acks, scrapes = scraped_exports(ctx, server, spec, variant, skip, settings.scrape_rate, server.name)
        skip += math.ceil(acks["requests"] / spec.gateways) + 1
        out[variant] = {"acks": acks, "scrapes": scrapes}
        scrape_ms = get_path(scrapes, "duration", "mean_ms") or math.nan
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
    bridge_gateways = math.ceil(target / lines_per_gateway_bridge(settings.spec))
    naive_gateways = math.ceil(target / lines_per_gateway_naive(settings.spec))
    with procs.bridge(ctx.cores, ctx.workdir, SOURCE_LABEL_ARGS) as server:
        out["bridge"] = _scrape_session(ctx, server, settings.spec.with_(gateways=bridge_gateways), SCRAPE_VARIANTS)
    with procs.naive(ctx.cores, ctx.workdir) as server:
        out["naive"] = _scrape_session(ctx, server, settings.spec.with_(gateways=naive_gateways), ("gzip",))
    return out
