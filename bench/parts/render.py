"""``render``: render cost per series next to ``prometheus_client.generate_latest`` (``bench/bench_render.py``)."""

from __future__ import annotations

import dataclasses
import gc
import importlib
import importlib.metadata
import json
import math
import random
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from bench import procs
from bench.harness import (
    RESULTS,
    Context,
    log,
)
from bench.procs import REPO

# bench_render's pages with a goal: what Prometheus fetches (it always sends Accept-Encoding: gzip) and plain text
RENDER_PAGES = {"text+gzip": "text+gzip (as Prometheus fetches it)", "text": "plain text"}


def part_render(ctx: Context) -> dict[str, Any]:
    """``bench/bench_render.py`` (maintained separately): its ``build``/``measure`` in-process, else its CLI."""
    try:
        module = importlib.import_module("bench.bench_render")
        build: Callable[[int, random.Random], Any] = module.build
        measure: Callable[[Any, random.Random], list[Any]] = module.measure
        sizes = ctx.settings.render_sizes or tuple(module.SIZES)
        rng = random.Random(getattr(module, "SEED", 20260429))
        rows: list[dict[str, Any]] = []
        for size in sizes:
            workload = build(size, rng)
            rows.extend(_row_dict(row) for row in measure(workload, rng))
            del workload
            gc.collect()
        source = "in-process bench.bench_render.build/measure"
    except (ImportError, AttributeError, TypeError) as error:
        log(f"  bench.bench_render has no usable build/measure ({error!r}); running it as a program")
        completed = subprocess.run(
            [sys.executable, "-m", "bench.bench_render"],
            cwd=REPO,
            env=procs.child_env(),
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if completed.returncode != 0:
            msg = f"bench.bench_render failed:\n{completed.stderr[-3000:]}"
            raise RuntimeError(msg) from None
        document = json.loads((RESULTS / "render.json").read_text())
        rows = list(document.get("rows", []))
        source = "python -m bench.bench_render (bench/results/render.json)"
    for row in rows:
        if row.get("format") in RENDER_PAGES:
            log(
                f"  {row['size']:>7,} {row['format']:<9} {row['measure']:<18} {row['us_per_series']:.3f} µs/series "
                f"({row.get('vs_prometheus_client') or math.nan:.1f}× prometheus_client)"
            )
    return {"source": source, "rows": rows}


def _row_dict(row: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(row) and not isinstance(row, type):
        return dataclasses.asdict(row)
    return dict(vars(row))
