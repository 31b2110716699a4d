"""Memory per retained series, in a fresh process: fill a bridge (translator + store, in-process) with whole gateways'
first snapshots until the exposition has at least ``--target`` sample lines, and report bytes per sample line.

``--mode tracemalloc``: Python allocations still live after the fill (``tracemalloc``), split into the translator's
stream table and the store (measured again after clearing the stream table), plus the render caches two
scrapes leave behind. ``--mode rss``: the growth of the process's resident set over the same fill (no tracemalloc
overhead; includes allocator overhead and fragmentation), each reading taken after glibc's ``malloc_trim`` so that
freed memory the allocator would keep for reuse is not counted as retained.

``python -m bench.memory --target 100000 --mode rss --out result.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import math
import struct
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from bench.inproc import translator
from bench.procs import emit, rss_bytes
from bench.workload import Workload, WorkloadSpec
from otlp_bridge.expose.exposition import Format, render
from otlp_bridge.store import HistogramSeries, Store

NOW = 1_000_000.0


def store_lines(store: Store) -> int:
    """Sample lines the text exposition of ``store`` has: 1 per counter/gauge, buckets + 2 per histogram."""
    lines = 0
    for family in store.ordered_families():
        for series in family.series.values():
            lines += len(series.counts) + 2 if isinstance(series, HistogramSeries) else 1
    return lines


def lines_per_gateway(spec: WorkloadSpec) -> int:
    """Sample lines one gateway's first snapshot produces (all gateways have the same streams)."""
    one = Workload(spec.with_(gateways=1))
    bridge = translator()
    bridge.apply(ExportMetricsServiceRequest.FromString(one.gateways[0].next_body()), NOW)
    return store_lines(bridge.store)


def fill_bodies(spec: WorkloadSpec, target: int) -> list[bytes]:
    """The first snapshots of as many gateways as it takes to reach ``target`` sample lines."""
    gateways = max(1, math.ceil(target / lines_per_gateway(spec)))
    return list(Workload(spec.with_(gateways=gateways)).round_robin(1))


def write_bodies(bodies: Sequence[bytes], path: Path) -> None:
    with path.open("wb") as sink:
        for body in bodies:
            sink.write(struct.pack("<I", len(body)))
            sink.write(body)


def read_bodies(path: Path) -> list[bytes]:
    data = path.read_bytes()
    bodies, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from("<I", data, offset)
        bodies.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return bodies


def measure(bodies: Sequence[bytes], spec: WorkloadSpec, target: int, mode: str) -> dict[str, Any]:
    """Fill a fresh translator + store with ``bodies`` (one per gateway) and measure what stays allocated."""
    gateways = len(bodies)
    gc.collect()
    tracing = mode == "tracemalloc"
    reading: Callable[[], int]
    if tracing:
        tracemalloc.start()

        def traced() -> int:
            return tracemalloc.get_traced_memory()[0]

        reading = traced
    else:

        def resident() -> int:
            release_free_memory()  # what is still allocated, not what the allocator keeps around
            return rss_bytes_self()

        reading = resident
    bridge = translator()  # its fixed cost (the mapping tables) is not per series
    gc.collect()
    before = reading()  # (rss: after malloc_trim, so the fill cannot reuse pages the setup freed)
    parse = ExportMetricsServiceRequest.FromString
    rejected = 0
    for body in bodies:
        result = bridge.apply(parse(body), NOW)
        rejected += result.rejected
    gc.collect()
    filled = reading()
    lines = store_lines(bridge.store)
    # Two scrapes: a histogram is cached (packed) by the first scrape that finds it unchanged since the last one.
    render(bridge.store, Format.TEXT)
    page = render(bridge.store, Format.TEXT)
    rendered_lines = sum(1 for line in page.split("\n") if line and not line.startswith("#"))
    del page
    gc.collect()
    with_render = reading()
    streams = len(bridge.tracked_streams)
    bridge.streams.clear()
    bridge.known.clear()
    gc.collect()
    store_only = reading()
    if tracing:
        tracemalloc.stop()
    state = filled - before
    return {
        "mode": mode,
        "target": target,
        "gateways": gateways,
        "points_per_gateway": spec.points,
        "lines": lines,
        "rendered_lines": rendered_lines,
        "series_objects": bridge.store.live_series,
        "streams": streams,
        "rejected": rejected,
        "state_bytes": state,
        "bytes_per_line": state / lines if lines else math.nan,
        "render_cache_bytes": with_render - filled,
        "render_cache_bytes_per_line": (with_render - filled) / lines if lines else math.nan,
        # Freed memory goes back to the allocator, not the OS: only tracemalloc can split the state.
        "store_only_bytes_per_line": (store_only - before - (with_render - filled)) / lines
        if tracing and lines
        else None,
        "stream_table_bytes_per_stream": (with_render - store_only) / streams if tracing and streams else None,
    }


def release_free_memory() -> None:
    """Hand freed heap pages back to the OS (glibc ``malloc_trim``), so RSS growth measures new memory only."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_bytes_self() -> int:
    import os  # noqa: PLC0415

    return rss_bytes(os.getpid())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=int, default=100_000, help="sample lines to reach at least")
    parser.add_argument("--mode", choices=("tracemalloc", "rss"), default="tracemalloc")
    parser.add_argument("--spec", default=WorkloadSpec().to_json(), help="WorkloadSpec as JSON")
    parser.add_argument("--bodies", type=Path, help="pre-made bodies (from write_bodies): no generation garbage")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    spec = WorkloadSpec.from_json(args.spec)
    bodies = read_bodies(args.bodies) if args.bodies else fill_bodies(spec, args.target)
    result = measure(bodies, spec, args.target, args.mode)
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
