"""``parse`` and ``translate``: the floors, measured in this process (a protobuf parse, a bare walk, the
translator alone)."""

from __future__ import annotations

import gc
from typing import Any

from bench.harness import (
    TEMPORALITIES,
    Context,
    log,
)
from bench.inproc import measure_parse, measure_translate, measure_walk, sample_bodies


def part_parse(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for temporality in TEMPORALITIES:
        spec = ctx.settings.spec.with_(temporality=temporality)
        bodies, points = sample_bodies(spec, ctx.settings.parse_intervals)
        parse = measure_parse(bodies, points)
        walk = measure_walk(bodies, points, runs=5)
        out[temporality] = {
            "bodies": len(bodies),
            "mean_body_bytes": sum(map(len, bodies)) / len(bodies),
            "parse": parse.as_dict(),
            "walk": walk.as_dict(),
        }
        log(
            f"  {temporality}: parse {parse.points_per_second:,.0f} points/s ({parse.us_per_point:.3f} µs/point), "
            f"parse+walk {walk.points_per_second:,.0f} points/s ({walk.us_per_point:.3f} µs/point)"
        )
        del bodies
        gc.collect()
    return out


def part_translate(ctx: Context) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for temporality in TEMPORALITIES:
        spec = ctx.settings.spec.with_(temporality=temporality)
        result = measure_translate(spec, ctx.settings.translate_intervals)
        out[temporality] = {
            "first_snapshot": result.first.as_dict(),
            "steady": result.steady.as_dict(),
            "settle": result.settle.as_dict(),
            "rejected": result.rejected,
            "series": result.series,
            "streams": result.streams,
        }
        log(
            f"  {temporality}: steady {result.steady.us_per_point:.3f} µs/point "
            f"({result.steady.points_per_second:,.0f} points/s), + settle after every round "
            f"{result.settle.us_per_point:.3f} µs/point, first snapshot {result.first.us_per_point:.2f} "
            f"µs/point, {result.series} series, {result.streams} streams, rejected {result.rejected}"
        )
        gc.collect()
    return out
