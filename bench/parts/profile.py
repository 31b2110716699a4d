"""``profile``: py-spy on the bridge under saturating load and during back-to-back scrapes; the hottest functions."""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import procs
from bench.harness import (
    RESULTS,
    SOURCE_LABEL_ARGS,
    Context,
    loadgen,
    log,
)
from bench.parts.memory import lines_per_gateway_bridge
from bench.procs import REPO
from bench.workload import WorkloadSpec

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
    spec = settings.spec.with_(gateways=math.ceil(settings.scrape_target / lines_per_gateway_bridge(settings.spec)))
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
