"""``remotewrite``: the remote-write collector's cost per sample on the render part's stores
(``bench/bench_remotewrite.py``)."""

from __future__ import annotations

import gc
from typing import Any

from bench.harness import Context, log


def part_remotewrite(ctx: Context) -> dict[str, Any]:
    from bench.bench_remotewrite import measure  # noqa: PLC0415
    from bench.bench_render import SIZES  # noqa: PLC0415

    rows = []
    for size in ctx.settings.render_sizes or SIZES:
        row = {"size": size, **measure(size)}
        rows.append(row)
        gc.collect()
        log(
            f"  {size:>7,} lines: steady {row['steady_us_per_sample']:.2f} µs/sample (p99 slice "
            f"{row['steady_p99_slice_ms']:.1f} ms), first {row['first_us_per_sample']:.2f} µs/sample, "
            f"{row['queued_bytes_per_sample']:.0f} B/sample queued, {row['kept_bytes_per_sample']:.0f} B/sample kept"
        )
    return {"rows": rows}
