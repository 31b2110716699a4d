"""``memory``: bytes per retained series at 10k and 100k sample lines (tracemalloc and RSS, fresh processes)."""

from __future__ import annotations

import gc
import sys
from typing import Any

from bench import procs
from bench.harness import (
    Context,
    log,
)
from bench.workload import Workload, WorkloadSpec


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


def lines_per_gateway_bridge(spec: WorkloadSpec) -> int:
    from bench.memory import lines_per_gateway  # noqa: PLC0415

    return lines_per_gateway(spec)


def lines_per_gateway_naive(spec: WorkloadSpec) -> int:
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (  # noqa: PLC0415
        ExportMetricsServiceRequest,
    )
    from prometheus_client import generate_latest  # noqa: PLC0415

    from bench.naive_bridge import NaiveBridge  # noqa: PLC0415

    bridge = NaiveBridge()
    one = Workload(spec.with_(gateways=1))
    bridge.ingest(ExportMetricsServiceRequest.FromString(one.gateways[0].next_body()))
    return procs.sample_lines(generate_latest(bridge.registry))
