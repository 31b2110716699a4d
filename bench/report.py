"""The table ``python -m bench`` prints: one row per figure, with its baseline ratios and goal verdicts."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.harness import TEMPORALITIES, client_bound, contention, get_path
from bench.parts.fleet import FLEET_PROFILES, FLEET_SCRAPE_VARIANTS
from bench.parts.ingest import INGEST_SCRAPE_INTERVAL, SUM_FAMILIES
from bench.parts.profile import PROFILE_SCENARIOS
from bench.parts.render import RENDER_PAGES
from bench.parts.scrape import SCRAPE_VARIANTS

# The goals of issue 7.
GOAL_INGEST = 250_000.0  # data points/s end to end
GOAL_VS_NAIVE = 4.0
GOAL_VS_ROTEL = 0.25
GOAL_RENDER_US = 0.3  # µs per series
GOAL_RENDER_ALL_US = 1.5  # µs per series with every series changed since the last scrape (issue 17)
GOAL_RENDER_ALL_VS_CLIENT = 7.0
GOAL_BYTES = 400.0  # per retained series
GOAL_ACK_P99_MS = 5.0  # under back-to-back 100k-series scrapes
GOAL_IDLE = 0.01  # share of one core
# The goals of issue 17 (the fleet part).
GOAL_FLEET_VS_NAIVE = {"10 %": 8.0, "every point": 4.0}
GOAL_FLEET_KIB = 8.0  # RSS per gateway, shared series
GOAL_FLEET_ACK_P99_MS = 25.0  # at saturation
GOAL_FLEET_SCRAPE_ADDS_MS = 5.0  # to the ack p99 of every-point-changed exports, back-to-back scrapes


@dataclass
class Row:
    part: str
    figure: str
    value: str
    ratios: str = ""
    goal: str = ""
    status: str = ""
    number: float | None = None


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


class Goals:
    """The goal verdicts of a run, in the order the table checks them."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def __call__(self, name: str, value: float | None, target: str, ok: Callable[[float], bool]) -> str:
        status = _verdict(value, ok)
        self.entries.append({"goal": name, "value": value, "target": target, "status": status})
        return status


def build_table(results: dict[str, Any]) -> tuple[list[Row], list[dict[str, Any]]]:
    """Every figure of the run as a row, in the order the table prints them, and the goals they were checked against."""
    goal = Goals()
    rows: list[Row] = []
    for temporality in TEMPORALITIES:
        rows += _throughput_rows(results, temporality, goal)
    for part_rows in (_idle_rows, _memory_rows, _scrape_rows, _render_rows, _remotewrite_rows, _fleet_rows):
        rows += part_rows(results, goal)
    return rows, goal.entries


def _throughput_rows(results: dict[str, Any], temporality: str, goal: Goals) -> list[Row]:
    """The floors, the translator, the baselines and the bridge end to end, for one temporality."""
    parse = results.get("parse", {})
    raw = get_path(parse, temporality, "parse", "points_per_second")
    walk = get_path(parse, temporality, "walk", "points_per_second")
    naive = get_path(results, "naive", temporality, "points_per_second")
    rotel = get_path(results, "rotel", temporality, "points_per_second")
    rows = _floor_rows(parse, temporality, raw, walk)
    rows += _translate_rows(results, temporality, parse)
    rows += _baseline_rows(results, temporality, naive, rotel)
    rows += _ingest_rows(results, temporality, goal, {"parse": raw, "walk": walk, "naive": naive, "rotel": rotel})
    return rows


def _floor_rows(parse: Any, temporality: str, raw: float | None, walk: float | None) -> list[Row]:
    parse_warning = contention(parse) if isinstance(parse, dict) else ""
    rows: list[Row] = []
    if raw is not None:
        rows.append(
            Row(
                "floor",
                f"raw protobuf parse ({temporality})",
                f"{raw:,.0f} pts/s",
                f"{get_path(parse, temporality, 'parse', 'us_per_point'):.3f} µs/pt"
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
                f"{get_path(parse, temporality, 'walk', 'us_per_point'):.3f} µs/pt; "
                f"{_times(_ratio(walk, raw), 'parse')}" + (f"; {parse_warning}" if parse_warning else ""),
                number=walk,
            )
        )
    return rows


def _translate_rows(results: dict[str, Any], temporality: str, parse: Any) -> list[Row]:
    translate = get_path(results, "translate", temporality, "steady", "points_per_second")
    translate_warning = contention(results["translate"]) if isinstance(results.get("translate"), dict) else ""
    rows: list[Row] = []
    if translate is not None:
        us = get_path(results, "translate", temporality, "steady", "us_per_point")
        walk_us = get_path(parse, temporality, "walk", "us_per_point")
        parse_us = get_path(parse, temporality, "parse", "us_per_point")
        first_us = get_path(results, "translate", temporality, "first_snapshot", "us_per_point")
        settle_us = get_path(results, "translate", temporality, "settle", "us_per_point")
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
    return rows


def _baseline_rows(results: dict[str, Any], temporality: str, naive: float | None, rotel: float | None) -> list[Row]:
    rows: list[Row] = []
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
    return rows


def _ingest_rows(
    results: dict[str, Any], temporality: str, goal: Goals, baselines: dict[str, float | None]
) -> list[Row]:
    bridge = get_path(results, "ingest", temporality, "points_per_second")
    naive, rotel = baselines["naive"], baselines["rotel"]
    rows: list[Row] = []
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
                        _times(_ratio(bridge, baselines["parse"]), "parse"),
                        _times(_ratio(bridge, baselines["walk"]), "walk"),
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
    return rows


def _idle_rows(results: dict[str, Any], goal: Goals) -> list[Row]:
    rows: list[Row] = []
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
    return rows


def _memory_rows(results: dict[str, Any], goal: Goals) -> list[Row]:
    rows: list[Row] = []
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
    return rows


def _scrape_rows(results: dict[str, Any], goal: Goals) -> list[Row]:
    rows: list[Row] = []
    scrape = results.get("scrape", {})
    naive_p99 = get_path(scrape, "naive", "gzip", "acks", "latency", "p99_ms")
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
                            f"{scrapes['scrapes']} scrapes, mean {get_path(scrapes, 'duration', 'mean_ms'):.0f} ms, "
                            f"scraper CPU {(get_path(scrapes, 'cpu_share') or 0) * 100:.0f} %"
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
    return rows


def _render_rows(results: dict[str, Any], goal: Goals) -> list[Row]:
    rows: list[Row] = []
    render = results.get("render", {})
    render_rows = render.get("rows", []) if isinstance(render, dict) else []
    render_warning = contention(render) if isinstance(render, dict) else ""
    sizes = sorted({row["size"] for row in render_rows})
    for size, (page, what) in itertools.product(sizes, RENDER_PAGES.items()):
        by_measure = {row["measure"]: row for row in render_rows if row["size"] == size and row["format"] == page}
        client = by_measure.get("prometheus_client")
        for measure in ("cold", "warm", "warm+1%", "warm+100%"):
            row = by_measure.get(measure)
            if row is None:
                continue
            largest = size == sizes[-1]
            us = row["us_per_series"]
            ratio = row.get("vs_prometheus_client")
            goal_text, status = "", ""
            if largest and measure == "warm+1%":
                goal_text = f"≤ {GOAL_RENDER_US:g}"
                status = goal(f"render {what} ≤ 0.3 µs/series at {size}", us, "≤ 0.3", lambda v: v <= GOAL_RENDER_US)
            elif largest and measure == "warm+100%":
                goal_text = f"≤ {GOAL_RENDER_ALL_US:g}, ≥ {GOAL_RENDER_ALL_VS_CLIENT:g}× p_c"
                status = " ".join(
                    (
                        goal(
                            f"render {what}, every series changed, ≤ 1.5 µs/series at {size}",
                            us,
                            "≤ 1.5",
                            lambda v: v <= GOAL_RENDER_ALL_US,
                        ),
                        goal(
                            f"render {what}, every series changed, ≥ 7× prometheus_client at {size}",
                            ratio,
                            "≥ 7",
                            lambda v: v >= GOAL_RENDER_ALL_VS_CLIENT,
                        ),
                    )
                )
            rows.append(
                Row(
                    "render",
                    f"render {what} at {size:,} series ({measure})",
                    f"{us:.3f} µs/series",
                    f"{row['milliseconds']:.1f} ms; {_times(ratio, 'faster than prometheus_client')}"
                    + (f"; {render_warning}" if render_warning else ""),
                    goal_text,
                    status,
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
    return rows


def _remotewrite_rows(results: dict[str, Any], goal: Goals) -> list[Row]:
    remotewrite = results.get("remotewrite")
    if not isinstance(remotewrite, dict):
        return []
    warning = contention(remotewrite)
    return [
        Row(
            "remotewrite",
            f"remote-write collection at {row['size']:,} series (steady)",
            f"{row['steady_us_per_sample']:.2f} µs/sample",
            f"{row['steady_ms']:.0f} ms for {row['samples']:,.0f} samples; p99 slice {row['steady_p99_slice_ms']:.1f} "
            f"ms; first collection {row['first_us_per_sample']:.2f} µs/sample; {row['queued_bytes_per_sample']:.0f} "
            f"B/sample queued, {row['kept_bytes_per_sample']:.0f} B/sample kept; snappy 2000 samples "
            f"{row['compress_2000_ms']:.2f} ms ({row['compress_ratio']:.1f}×)" + (f"; {warning}" if warning else ""),
            number=row["steady_us_per_sample"],
        )
        for row in remotewrite.get("rows", [])
    ]


# RSS per gateway in other shapes than the profiles' (shared series, the same lanes in every gateway)
FLEET_RSS_VARIANTS = {
    "per_gateway_rss": "per-gateway series (--source-label)",
    "own_lanes_rss": "session lanes of its own (shared series)",
}


def _fleet_rows(results: dict[str, Any], goal: Goals) -> list[Row]:
    fleet = results.get("fleet")
    if not isinstance(fleet, dict):
        return []
    rows: list[Row] = []
    gateways = fleet["gateways"]
    floor = fleet.get("floor")
    if isinstance(floor, dict):
        rows.append(_fleet_floor_row(floor, fleet, gateways))
    for profile in FLEET_PROFILES:
        data = fleet.get(profile)
        if isinstance(data, dict):
            rows += _fleet_profile_rows(data, profile, gateways, goal)
            if isinstance(data.get("in_process"), dict):
                rows.append(_fleet_budget_row(data, profile, floor if isinstance(floor, dict) else None))
    for key, what in FLEET_RSS_VARIANTS.items():
        rss = fleet.get(key)
        if isinstance(rss, dict):
            rows.append(
                Row(
                    "fleet",
                    f"RSS per gateway, {what}, {gateways:,} gateways",
                    f"{rss['bytes_per_gateway'] / 1024:.1f} KiB",
                    f"after {rss['rounds']} exports each; RSS {rss['rss_after_bytes'] / 2**20:.0f} MiB",
                    number=rss["bytes_per_gateway"],
                )
            )
    scrape = fleet.get("scrape")
    if isinstance(scrape, dict):
        rows += _fleet_scrape_rows(scrape, goal)
    return rows


def _warnings(result: dict[str, Any]) -> str:
    return "".join(f"; {text}" for text in (contention(result), client_bound(result)) if text)


def _fleet_floor_row(floor: dict[str, Any], fleet: dict[str, Any], gateways: int) -> Row:
    """The do-nothing aiohttp receiver on the fleet's bodies, as a multiple of each profile's naive bridge."""
    ratios = [
        f"{_times(_ratio(floor['requests_per_second'], get_path(fleet, p, 'naive', 'requests_per_second')), 'naive')} "
        f"({p})"
        for p in FLEET_PROFILES
        if isinstance(fleet.get(p), dict)
    ]
    return Row(
        "fleet",
        f"aiohttp floor (reads the body, answers), {gateways:,} gateways",
        f"{floor['requests_per_second']:,.0f} exports/s",
        ", ".join(ratios)
        + (": the most any aiohttp bridge can be on these bodies; " if ratios else "")
        + f"server CPU {(floor.get('server_cpu_share') or math.nan) * 100:.0f} %, client CPU "
        f"{floor['client_cpu_share'] * 100:.0f} %" + _warnings(floor),
        number=floor["requests_per_second"],
    )


def _per_cpu_second(result: dict[str, Any], figure: str = "points_per_second") -> float | None:
    """Points (or another ``figure`` per second) per second of the server's own CPU time: less sensitive than wall
    time to other load on its core."""
    return _ratio(result[figure], result.get("server_cpu_share"))


def _fleet_profile_rows(data: dict[str, Any], profile: str, gateways: int, goal: Goals) -> list[Row]:
    bridge, naive = data["bridge"], data["naive"]
    ratio = _ratio(bridge["points_per_second"], naive["points_per_second"])
    cpu_ratio = _ratio(_per_cpu_second(bridge), _per_cpu_second(naive))
    share = data.get("bridge_share_of_floor")
    share = share if isinstance(share, float) and math.isfinite(share) else None
    target = GOAL_FLEET_VS_NAIVE[profile]
    rows = [
        Row(
            "fleet",
            f"bridge e2e, {gateways:,} gateways, {profile} changed",
            f"{bridge['points_per_second']:,.0f} pts/s",
            f"{bridge['requests_per_second']:,.0f} exports/s; server CPU "
            f"{(bridge.get('server_cpu_share') or math.nan) * 100:.0f} % ({_per_cpu_second(bridge) or math.nan:,.0f} "
            f"pts per CPU-second), client CPU {bridge['client_cpu_share'] * 100:.0f} %" + _warnings(bridge),
            number=bridge["points_per_second"],
        ),
        Row(
            "fleet",
            f"naive bridge e2e, {profile} changed (shared series)",
            f"{naive['points_per_second']:,.0f} pts/s",
            f"{naive['requests_per_second']:,.0f} exports/s; ack p50 {naive['latency']['p50_ms']:.1f} / p99 "
            f"{naive['latency']['p99_ms']:.1f} ms; server CPU "
            f"{(naive.get('server_cpu_share') or math.nan) * 100:.0f} % ({_per_cpu_second(naive) or math.nan:,.0f} "
            f"pts per CPU-second), client CPU {naive['client_cpu_share'] * 100:.0f} %" + _warnings(naive),
            number=naive["points_per_second"],
        ),
        Row(
            "fleet",
            f"bridge / naive, {profile} changed",
            f"{ratio:.2f}×" if ratio is not None else "",
            "; ".join(
                text
                for text in (
                    f"per server CPU-second {cpu_ratio:.2f}×" if cpu_ratio is not None else "",
                    f"the bridge at {share * 100:.0f} % of the aiohttp floor" if share is not None else "",
                )
                if text
            ),
            goal=f"≥ {target:g}×",
            status=goal(f"fleet ≥ {target:g}× naive ({profile})", ratio, f"≥ {target:g}", lambda v: v >= target),
            number=ratio,
        ),
    ]
    latency = bridge["latency"]
    rows.append(
        Row(
            "fleet",
            f"bridge ack at saturation, {profile} changed ({bridge['concurrency']} connections)",
            f"p50 {latency['p50_ms']:.1f} / p99 {latency['p99_ms']:.1f} ms",
            f"max {latency['max_ms']:.1f} ms; scraped every {INGEST_SCRAPE_INTERVAL:g} s",
            f"p99 ≤ {GOAL_FLEET_ACK_P99_MS:g} ms",
            goal(
                f"fleet ack p99 ≤ 25 ms at saturation ({profile})",
                latency["p99_ms"],
                "≤ 25",
                lambda v: v <= GOAL_FLEET_ACK_P99_MS,
            ),
            number=latency["p99_ms"],
        )
    )
    each = data.get("read_each_export")
    if isinstance(each, dict):
        rows.append(_read_each_export_row(each, bridge, profile))
    counters = bridge.get("counters")
    if isinstance(counters, dict):
        rows.append(
            Row(
                "fleet",
                f"counters add up, {profile} changed",
                f"{counters['exposed']:,.0f} of {counters['expected'] or math.nan:,.0f}",
                f"{counters['series']:,} exposed counter series vs what the client sent",
                "equal",
                goal(f"fleet counters add up ({profile})", float(counters["match"]), "equal", lambda v: v == 1),
            )
        )
    rss, naive_rss = data["bridge_rss"], data["naive_rss"]
    kib = rss["bytes_per_gateway"] / 1024
    rows.append(
        Row(
            "fleet",
            f"RSS per gateway, shared series ({data['bridge_series']:,} lines), {profile} changed",
            f"{kib:.1f} KiB",
            f"after {rss['rounds']} exports each; naive {naive_rss['bytes_per_gateway'] / 1024:.1f} KiB; "
            f"RSS {rss['rss_after_bytes'] / 2**20:.0f} MiB",
            f"≤ {GOAL_FLEET_KIB:g} KiB",
            goal(f"fleet RSS ≤ 8 KiB per gateway ({profile})", kib, "≤ 8", lambda v: v <= GOAL_FLEET_KIB),
            number=kib,
        )
    )
    runs = [bridge, *([each] if isinstance(each, dict) else [])]
    rejected = sum(run["rejected_points"] for run in runs) + rss["rejected_points"]
    bad = sum(run["non_200"] + run["partial_responses"] + sum(run["errors"].values()) for run in runs)
    bad += rss["bad_answers"]
    rows.append(
        Row(
            "fleet",
            f"rejections, {profile} changed",
            f"{rejected} points, {bad} bad answers",
            f"{sum(run['requests'] for run in runs) + rss['gateways'] * rss['rounds']} requests",
            "= 0",
            goal(f"fleet: no rejections ({profile})", float(rejected + bad), "= 0", lambda v: v == 0),
        )
    )
    return rows


def _fleet_budget_row(data: dict[str, Any], profile: str, floor: dict[str, Any] | None) -> Row:
    """The translator's own time per export, measured in the bench process, against what the ratio goal leaves for
    all of the bridge's work once the aiohttp floor has taken its share: where the time of the goal goes."""
    inproc = data["in_process"]
    apply_us, settle_us = inproc["apply_us"], inproc["settle_us"]
    target = GOAL_FLEET_VS_NAIVE[profile]
    detail = f"the whole-export path {apply_us:.0f} µs; a settle after every round {settle_us:.0f} µs"
    naive_rate = data["naive"]["requests_per_second"]
    if floor is not None and naive_rate and floor["requests_per_second"]:
        allowed = 1e6 / (target * naive_rate)
        floor_us = 1e6 / floor["requests_per_second"]
        budget = allowed - floor_us
        detail += (
            f"; ≥ {target:g}× naive allows {allowed:.0f} µs an export, the aiohttp floor takes {floor_us:.0f}: "
            f"{budget:.0f} µs for all the bridge's own work"
            + (f" (the translation alone takes {apply_us / budget:.1f}× that)" if budget > 0 else "")
        )
    return Row(
        "fleet",
        f"translation in process, {profile} changed (per export)",
        f"{apply_us:.0f} + {settle_us:.0f} µs",
        detail,
        number=apply_us,
    )


def _read_each_export_row(each: dict[str, Any], bridge: dict[str, Any], profile: str) -> Row:
    """The bridge paced and read about once per export of each gateway: every export settled on its own (the shape of
    a fleet whose gateways export less often than Prometheus reads; the capacity per core in the README)."""
    scrapes = each.get("scrapes") or {}
    capacity = _per_cpu_second(each, "requests_per_second")
    saturated = _per_cpu_second(bridge, "requests_per_second")
    return Row(
        "fleet",
        f"bridge, {profile} changed, read every export interval",
        f"{capacity or math.nan:,.0f} exports per CPU-s",
        f"paced at {each['requests_per_second']:,.0f} exports/s, server CPU "
        f"{(each.get('server_cpu_share') or math.nan) * 100:.0f} %, a read every {each['scrape_interval']:.2f} s "
        f"({scrapes.get('scrapes', 0)} reads): each export settled about once; "
        f"{_times(_ratio(capacity, saturated), 'the saturated run read every 5 s')}; ack p99 "
        f"{each['latency']['p99_ms']:.1f} ms" + _warnings(each),
        number=capacity,
    )


def _fleet_scrape_rows(scrape: dict[str, Any], goal: Goals) -> list[Row]:
    rows: list[Row] = []
    unscraped = get_path(scrape, "none", "acks", "latency", "p99_ms")
    for variant in FLEET_SCRAPE_VARIANTS:
        data = scrape.get(variant)
        if not isinstance(data, dict):
            continue
        acks, scrapes = data["acks"], data["scrapes"]
        latency = acks["latency"]
        p99 = latency["p99_ms"]
        added = p99 - unscraped if variant != "none" and unscraped is not None else None
        points = acks["points"] // max(1, acks["requests"])
        rows.append(
            Row(
                "fleet",
                f"ack p99, {points}-pt exports ({scrape['per_request']} gateways, every point changed) at "
                f"{scrape['rate']:g}/s, {scrape['lines']:,} series, scrapes: {variant}",
                f"{p99:.1f} ms",
                "; ".join(
                    part
                    for part in (
                        f"p50 {latency['p50_ms']:.1f}, max {latency['max_ms']:.1f} ms, {latency['samples']} acks",
                        f"{scrapes['scrapes']} scrapes, mean {get_path(scrapes, 'duration', 'mean_ms'):.0f} ms"
                        if scrapes.get("scrapes")
                        else "",
                        f"+{added:.1f} ms over unscraped" if added is not None else "",
                    )
                    if part
                ),
                f"adds ≤ {GOAL_FLEET_SCRAPE_ADDS_MS:g} ms" if added is not None else "",
                goal(
                    f"fleet: scrapes add ≤ 5 ms to the ack p99 ({variant})",
                    added,
                    "≤ 5",
                    lambda v: v <= GOAL_FLEET_SCRAPE_ADDS_MS,
                )
                if added is not None
                else "",
                number=p99,
            )
        )
    return rows


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
