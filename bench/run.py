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
* ``remotewrite``: the remote-write collector per sample on the render part's stores (``bench/bench_remotewrite.py``);
* ``profile``: py-spy on the bridge under cumulative and delta load; the hottest functions;
* ``fleet``: thousands of real-sized exports (the captured gateway cloned, one per request), 10 % and every point
  changed: throughput and ack latency next to the naive bridge and the aiohttp floor (``bench/floor_server.py``),
  RSS per gateway, what back-to-back scrapes add to the acks (``bench/fleet.py``, ``--fleet-gateways``).

Prints one table and writes ``bench/results/bench.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import procs
from bench.fleet import Fleet, FleetSpec
from bench.harness import RESULTS, Context, CpuSampler, Settings, log
from bench.parts import IN_PROCESS, PARTS, QUICK_PARTS, RUNNERS
from bench.procs import REPO, Cores
from bench.report import build_table, print_profile, print_table
from bench.workload import Workload, WorkloadSpec


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
    for path in sorted((REPO / "otlp_bridge").rglob("*.py")):
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
    parser.add_argument(
        "--fleet-gateways", type=int, default=2000, help="distinct gateways in the fleet part (default 2000)"
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
    if set(parts) - {"fleet"}:
        log(
            f"workload: {settings.spec.gateways} gateways × {workload['points_per_request']} points/request "
            f"({workload['histogram_points_per_request']} histograms), {workload['body_bytes']:,} bytes/body, "
            f"{settings.spec.change_fraction:.0%} of cumulative streams grow per interval"
        )
    if "fleet" in parts:
        fleet = Fleet(FleetSpec(gateways=1)).describe()
        log(
            f"fleet: {settings.fleet_gateways:,} gateways × {fleet['points_per_gateway']} points in "
            f"{fleet['metrics_per_gateway']} metrics, {fleet['body_bytes_per_gateway']:,} bytes/body "
            f"({fleet['source']})"
        )
    log(f"parts: {', '.join(parts)}")
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
