"""``fleet``: thousands of small real-sized exports, one gateway each (``bench/fleet.py``): throughput and ack latency
at saturation next to the naive bridge and the aiohttp floor (a receiver that does nothing), the exports per CPU-second
when every export is read (paced), the translation alone in process, RSS per gateway, and what back-to-back scrapes
add to the acks."""

from __future__ import annotations

import contextlib
import gc
import json
import math
from typing import Any

from bench import procs
from bench.fleet import Fleet, FleetSpec
from bench.harness import SOURCE_LABEL_ARGS, Context, get_path, loadgen, log, summary, warn_client_bound
from bench.inproc import measure_fleet_translate
from bench.parts.ingest import INGEST_SCRAPE_INTERVAL, check_counters
from bench.parts.scrape import scraped_exports
from bench.procs import Server

# The two change profiles: the share of a gateway's points that changed since its previous export.
FLEET_PROFILES = {"10 %": 0.10, "every point": 1.0}
FLEET_ROUNDS = 3  # exports per gateway before RSS is read
FLEET_INPROC_ROUNDS = 4  # timed exports per gateway of the in-process measurement
NAIVE_SHARED = ("--no-gateway-label",)  # the naive bridge with series shared across gateways, like the bridge
# The scrape shape of issue 17: 16 gateways per request (~1k points, every point changed) at 50/s while a scraper
# reads a ~90k-series store (per-gateway series) back to back.
SCRAPE_PER_REQUEST = 16
SCRAPE_RATE = 50.0
SCRAPE_SERIES = 90_000
FLEET_SCRAPE_VARIANTS = ("none", "gzip", "plain")
FLEET_PACED_SHARE = 0.35  # of the saturating rate: the read-each-export run's pace (one paced sender keeps up with it)
FLEET_MAX_RATE = 50_000  # exports/s: a saturating run's request cap is its duration at this rate (a bound, not a limit)
FLOOR_PREGENERATE = 2  # the floor reads no value: the client cycles 2 pre-made exports per gateway, its cheapest load
FLOOR_READ_BYTES = 64 * 1024  # as the bridge reads its OTLP connections (asyncio's own 256 KiB reads cost more)


def _rss_per_gateway(ctx: Context, server: Server, spec: FleetSpec) -> dict[str, Any]:
    """RSS growth per gateway over ``FLEET_ROUNDS`` exports of each: a tenth of the gateways first (imports, buffers,
    the shared series: what does not grow with the fleet), then the others, whose growth is divided among them."""
    warm = max(1, spec.gateways // 10)
    first = loadgen(ctx, server, spec.with_(gateways=warm), seconds=1.0, requests=0, warmup=FLEET_ROUNDS)
    before = procs.rss_bytes(server.pid)
    rest = loadgen(ctx, server, spec.with_(first=warm), seconds=1.0, requests=0, warmup=FLEET_ROUNDS)
    after = procs.rss_bytes(server.pid)
    measured = spec.gateways - warm
    return {
        "gateways": spec.gateways,
        "rounds": FLEET_ROUNDS,
        "rss_before_bytes": before,
        "rss_after_bytes": after,
        "bytes_per_gateway": (after - before) / measured if measured else math.nan,
        "rejected_points": first["warmup"]["rejected_points"] + rest["warmup"]["rejected_points"],
        "bad_answers": sum(
            sum(count for code, count in run["warmup"]["statuses"].items() if str(code) != "200")
            + run["warmup"]["partial_responses"]
            + sum(run["warmup"]["errors"].values())
            for run in (first, rest)
        ),
    }


def _load(
    ctx: Context,
    server: Server,
    spec: FleetSpec,
    scraped: bool,
    pregenerate: int = 0,
    interval: float = INGEST_SCRAPE_INTERVAL,
    skip: int = FLEET_ROUNDS,
    rate: float = 0.0,
) -> dict[str, Any]:
    """Load after the RSS rounds, saturating unless paced at ``rate`` exports/s (the gateways continue where they
    were: ``skip`` exports each), scraped every ``interval`` seconds (by default like the ``ingest`` part's bridge)
    when ``scraped``."""
    seconds = ctx.settings.ingest_seconds
    requests = round(seconds * FLEET_MAX_RATE)
    with contextlib.ExitStack() as stack:
        scrape_out = ctx.workdir / f"fleet-scrapes-{server.name}.json"
        if scraped:
            assert server.metrics_url is not None
            scraper_args = ["--url", server.metrics_url, "--interval", f"{interval:.3f}"]
            scraper_args += ["--duration", str(seconds + 300), "--out", str(scrape_out)]
            command = procs.python_module(ctx.cores, "bench.scraper", scraper_args)
            stack.enter_context(procs.background(command, ctx.workdir / "fleet-scraper.log"))
        result = loadgen(
            ctx,
            server,
            spec,
            seconds=seconds,
            requests=requests,
            warmup=0,
            skip=skip,
            pregenerate=pregenerate,
            rate=rate,
        )
    result["scrape_interval"] = interval if scraped else None
    result["scrapes"] = json.loads(scrape_out.read_text()) if scraped and scrape_out.exists() else None
    return result


def _floor(ctx: Context, spec: FleetSpec) -> dict[str, Any]:
    """The do-nothing aiohttp receiver (``bench/floor_server.py``) saturated with the fleet's bodies: the most exports/s
    any aiohttp-based bridge could reach on its core, whatever its translation costs."""
    with procs.floor(ctx.cores, ctx.workdir, ("--read-bytes", str(FLOOR_READ_BYTES))) as server:
        result = _load(ctx, server, spec, scraped=False, pregenerate=FLOOR_PREGENERATE)
    log(f"  aiohttp floor (reads the body, answers): {summary(result)}; {result['requests_per_second']:,.0f} exports/s")
    warn_client_bound(result)
    return result


def _profile(ctx: Context, spec: FleetSpec, floor: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"change_fraction": spec.change_fraction}
    out["in_process"] = inproc = measure_fleet_translate(spec, FLEET_INPROC_ROUNDS).as_dict()
    gc.collect()
    log(
        f"  in process: translation {inproc['apply_us']:.0f} µs per export, a settle after every round "
        f"{inproc['settle_us']:.0f} µs per export"
    )
    with procs.bridge(ctx.cores, ctx.workdir) as server:
        out["bridge_rss"] = _rss_per_gateway(ctx, server, spec)
        assert server.metrics_url is not None
        out["bridge_series"] = procs.sample_lines(procs.http_get(server.metrics_url))
        out["bridge"] = bridge = _load(ctx, server, spec, scraped=True)
        bridge["counters"] = check_counters(server, bridge.get("counter_total"))
        out["read_each_export"] = _read_each_export(ctx, server, spec, bridge)
    with procs.naive(ctx.cores, ctx.workdir, NAIVE_SHARED) as server:
        out["naive_rss"] = _rss_per_gateway(ctx, server, spec)
        out["naive"] = naive = _load(ctx, server, spec, scraped=False)
    ratio = _ratio(bridge["requests_per_second"], naive["requests_per_second"])
    out["floor_vs_naive"] = floor_ratio = _ratio(floor["requests_per_second"], naive["requests_per_second"])
    out["bridge_share_of_floor"] = share = _ratio(bridge["requests_per_second"], floor["requests_per_second"])
    log(
        f"  bridge: {summary(bridge)}; {bridge['requests_per_second']:,.0f} exports/s; counters "
        f"{'add up' if bridge['counters']['match'] else 'DO NOT add up'}"
    )
    warn_client_bound(bridge)
    log(f"  naive:  {summary(naive)}; {naive['requests_per_second']:,.0f} exports/s; bridge / naive {ratio:.2f}×")
    warn_client_bound(naive)
    log(
        f"  aiohttp floor / naive {floor_ratio:.2f}× (the most any aiohttp bridge can be on these bodies); "
        f"the bridge reaches {share * 100:.0f} % of the floor"
    )
    log(
        f"  RSS per gateway after {FLEET_ROUNDS} exports each, shared series ({out['bridge_series']:,} lines): "
        f"bridge {out['bridge_rss']['bytes_per_gateway'] / 1024:.1f} KiB, "
        f"naive {out['naive_rss']['bytes_per_gateway'] / 1024:.1f} KiB"
    )
    return out


def _read_each_export(ctx: Context, server: Server, spec: FleetSpec, before: dict[str, Any]) -> dict[str, Any]:
    """Load paced at a share of the rate ``before`` measured, read as often as each gateway exports: every export is
    settled about once, as when Prometheus reads more often than gateways export (15 s against OpenClaw's 60 s),
    where the 5 s reads of a saturating run settle several exports of a gateway at once (and a saturated bridge
    cannot read faster: its reads take seconds). Exports per second of the server's CPU time tell the capacity."""
    rate = FLEET_PACED_SHARE * before["requests_per_second"]
    interval = spec.gateways / rate
    skip = FLEET_ROUNDS + math.ceil(before["requests"] / spec.gateways) + 1  # past what the run before sent
    result = _load(ctx, server, spec, scraped=True, interval=interval, skip=skip, rate=rate)
    scrapes = result["scrapes"]["scrapes"] if result["scrapes"] else 0
    log(f"  bridge paced at {rate:,.0f} exports/s, read every {interval:.2f} s ({scrapes} reads): {summary(result)}")
    return result


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def _scrape_session(ctx: Context) -> dict[str, Any]:
    """Per-gateway series filled to ~90k lines; paced 16-gateway exports, every point changed, with and without a
    scraper fetching the whole page back to back."""
    per_gateway = _lines_per_gateway()
    senders = math.ceil(SCRAPE_SERIES / per_gateway / SCRAPE_PER_REQUEST)
    spec = FleetSpec(gateways=senders * SCRAPE_PER_REQUEST, change_fraction=1.0, per_request=SCRAPE_PER_REQUEST)
    out: dict[str, Any] = {"gateways": spec.gateways, "per_request": SCRAPE_PER_REQUEST, "rate": SCRAPE_RATE}
    with procs.bridge(ctx.cores, ctx.workdir, SOURCE_LABEL_ARGS) as server:
        fill = loadgen(ctx, server, spec, seconds=1.0, requests=0, warmup=1)
        assert server.metrics_url is not None
        out["lines"] = procs.sample_lines(procs.http_get(server.metrics_url))
        out["fill_rejected"] = fill["warmup"]["rejected_points"]
        skip = 1
        for variant in FLEET_SCRAPE_VARIANTS:
            acks, scrapes = scraped_exports(ctx, server, spec, variant, skip, SCRAPE_RATE, "fleet")
            skip += math.ceil(acks["requests"] / senders) + 1
            out[variant] = {"acks": acks, "scrapes": scrapes}
            latency = acks["latency"]
            log(
                f"  scrapes {variant}: {out['lines']:,} series, {scrapes['scrapes']} scrapes (mean "
                f"{get_path(scrapes, 'duration', 'mean_ms') or math.nan:.0f} ms); acks p50 {latency['p50_ms']:.1f} "
                f"p99 {latency['p99_ms']:.1f} max {latency['max_ms']:.1f} ms"
            )
    return out


def _lines_per_gateway() -> int:
    """Sample lines one cloned gateway adds with per-gateway series (its first export, translated in-process)."""
    from bench.inproc import translator  # noqa: PLC0415
    from bench.memory import store_lines  # noqa: PLC0415
    from otlp_bridge.receive.codec import Encoding, Signal, decode_request  # noqa: PLC0415

    bridge = translator()
    body = Fleet(FleetSpec(gateways=1)).gateways[0].next_body()
    bridge.apply(decode_request(Signal.METRICS, Encoding.PROTOBUF, body), 1_000_000.0)
    return store_lines(bridge.store)


def part_fleet(ctx: Context) -> dict[str, Any]:
    gateways = ctx.settings.fleet_gateways
    out: dict[str, Any] = {"gateways": gateways, "describe": Fleet(FleetSpec(gateways=1)).describe()}
    out["floor"] = floor = _floor(ctx, FleetSpec(gateways=gateways, change_fraction=1.0))
    for name, fraction in FLEET_PROFILES.items():
        log(f"  {gateways:,} gateways, {name} changed per export:")
        out[name] = _profile(ctx, FleetSpec(gateways=gateways, change_fraction=fraction), floor)
    with procs.bridge(ctx.cores, ctx.workdir, SOURCE_LABEL_ARGS) as server:
        out["per_gateway_rss"] = rss = _rss_per_gateway(ctx, server, FleetSpec(gateways=gateways))
    log(f"  RSS per gateway with per-gateway series (--source-label): {rss['bytes_per_gateway'] / 1024:.1f} KiB")
    with procs.bridge(ctx.cores, ctx.workdir) as server:
        out["own_lanes_rss"] = rss = _rss_per_gateway(ctx, server, FleetSpec(gateways=gateways, own_lanes=True))
    log(f"  RSS per gateway with session lanes of its own (shared series): {rss['bytes_per_gateway'] / 1024:.1f} KiB")
    out["scrape"] = _scrape_session(ctx)
    return out
