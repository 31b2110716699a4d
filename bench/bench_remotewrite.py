"""Remote-write collection cost: ``python -m bench.bench_remotewrite``.

On the render benchmark's stores (``bench/bench_render.py``: the official families, about 90 % of the sample lines
from histograms), for each size: the first collection (every series' labels encoded), a steady one (labels reused),
the 99th percentile of the slices (what ingest may wait for between two of them), the bytes a sample takes in the
queue, what the collector keeps between collections, and snappy on one 2000-sample request.
"""

from __future__ import annotations

import gc
import random
import statistics
import time
import tracemalloc
from collections.abc import Iterator

from bench.bench_render import SEED, SIZES, build
from otlp_bridge.remotewrite import wire
from otlp_bridge.remotewrite.collect import Collector, Identity

NOW = 1_800_000_000.0
REPEAT = 5


def _timed(parts: Iterator[list[bytes]]) -> tuple[float, float, list[bytes]]:
    """Total seconds, the 99th percentile of the slices, and the entries."""
    entries: list[bytes] = []
    slices = []
    started = time.perf_counter()
    while True:
        slice_started = time.perf_counter()
        part = next(parts, None)
        if part is None:
            break
        slices.append(time.perf_counter() - slice_started)
        entries += part
    return time.perf_counter() - started, statistics.quantiles(slices, n=100)[98], entries


def measure(size: int) -> dict[str, float]:
    store = build(size, random.Random(SEED)).store
    identity = Identity(instance="bench-0", external_labels=(("cluster", "bench"),))
    collector = Collector(store, None, identity)
    first, first_longest, entries = _timed(collector.parts(NOW))
    del entries
    tracemalloc.start()  # on another collector: tracing slows allocation down, so never while timing
    before = tracemalloc.get_traced_memory()[0]
    traced = Collector(store, None, identity)
    traced.collect(NOW)
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del traced
    steady: list[float] = []
    longest: list[float] = []
    for index in range(1, REPEAT + 1):
        total, worst, entries = _timed(collector.parts(NOW + index))
        steady.append(total)
        longest.append(worst)
    samples = len(entries)
    batch = b"".join(entries[:2000])
    started = time.perf_counter()
    compressed = wire.compress(batch)
    compress_ms = (time.perf_counter() - started) * 1000
    return {
        "samples": samples,
        "first_us_per_sample": first / samples * 1e6,
        "first_p99_slice_ms": first_longest * 1000,
        "steady_us_per_sample": statistics.median(steady) / samples * 1e6,
        "steady_ms": statistics.median(steady) * 1000,
        "steady_p99_slice_ms": max(longest) * 1000,
        "queued_bytes_per_sample": sum(map(len, entries)) / samples,
        "kept_bytes_per_sample": kept / samples,
        "compress_2000_ms": compress_ms,
        "compress_ratio": len(batch) / len(compressed),
    }


def main() -> None:
    gc.collect()
    for size in SIZES:
        row = measure(size)
        print(
            f"{size:>7,} lines: {row['samples']:,.0f} samples; first {row['first_us_per_sample']:.2f} µs/sample "
            f"(p99 slice {row['first_p99_slice_ms']:.1f} ms); steady {row['steady_us_per_sample']:.2f} "
            f"µs/sample = {row['steady_ms']:.0f} ms (p99 slice {row['steady_p99_slice_ms']:.1f} ms); "
            f"{row['queued_bytes_per_sample']:.0f} B/sample queued, {row['kept_bytes_per_sample']:.0f} B/sample kept; "
            f"snappy 2000 samples {row['compress_2000_ms']:.2f} ms, {row['compress_ratio']:.1f}×"
        )


if __name__ == "__main__":
    main()
