"""What every part shares: the run's settings and context, a CPU sampler, the load client, one-line summaries."""

from __future__ import annotations

import argparse
import contextlib
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs
from bench.fleet import FleetSpec
from bench.procs import Cores, Server
from bench.workload import WorkloadSpec

RESULTS = Path(__file__).resolve().parent / "results"


TEMPORALITIES = ("cumulative", "delta")


SOURCE_LABEL_ARGS = ("--source-label", "gateway")


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
    fleet_gateways: int

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
                fleet_gateways=args.fleet_gateways,
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
            fleet_gateways=args.fleet_gateways,
        )


@dataclass
class Context:
    settings: Settings
    cores: Cores
    workdir: Path
    parts: tuple[str, ...]
    results: dict[str, Any] = field(default_factory=dict)


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
    spec: WorkloadSpec | FleetSpec,
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


CLIENT_BOUND = 0.90  # the load client's CPU share above which a saturating figure is the client's


def client_bound(result: dict[str, Any]) -> str:
    """A warning when the load client used nearly all of its core: the figure is then the client's ceiling."""
    share = result.get("client_cpu_share") or 0.0
    if share <= CLIENT_BOUND:
        return ""
    return f"⚠ the load client used {share * 100:.0f} % of its core: this figure is the client's, not the server's"


def warn_client_bound(result: dict[str, Any]) -> None:
    """Log the client-bound warning on a line of its own, when there is one."""
    if warning := client_bound(result):
        log(f"    {warning}")


def summary(result: dict[str, Any]) -> str:
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


def get_path(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data
