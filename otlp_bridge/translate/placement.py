"""Placing observations above a sender's last bucket bound into the official buckets above it.

OpenClaw 2026.4.29 exports its durations with the SDK's default bounds (last finite bound 10,000 ms); the official
plugin has buckets up to 600 s. Of one export interval the bridge knows, per stream, how many observations landed in
each bucket and how much the sum grew. The observations above the last bound are the only values it does not know
within a bucket: the sum's growth, less what the other observations can add (each lies within its own bucket),
bounds their total, and so each of them. Sorted, the ``i``-th smallest of ``k`` observations above ``L`` whose total
is at most ``T`` is at most ``(T - (i - 1) L) / (k - i + 1)``, and the largest is at least ``T_low / k``. A delta
point's min and max are two of its interval's observations, known exactly, and bound the others (a cumulative
point's cover everything since its start, so they are not used). An observation whose possible range lies inside
one official bucket is placed there; the rest stay in ``+Inf`` only.

Pure functions: the translator passes what one interval added and gets the counts in the extended layout.
"""

from __future__ import annotations

import bisect
import functools
import math
import operator
from collections.abc import Sequence
from typing import NamedTuple

# Beyond this many observations above the last bound in one interval, none is placed (the ranges are wide by then,
# and the loop below stays short).
MAX_UNKNOWNS = 64


class Placement(NamedTuple):
    """Bucket counts in the extended layout (the sender's bounds, then ``extra``, then ``+Inf``) and how many
    observations above the last bound could not be placed (they are in ``+Inf``)."""

    counts: tuple[float, ...]
    unplaced: float


def extension(bounds: Sequence[float], official: Sequence[float]) -> tuple[float, ...]:
    """The official bounds above the sender's last finite bound (all in the sender's unit); empty when the sender's
    bounds reach as far as the official ones, or when it sent none."""
    if not bounds:
        return ()
    last = bounds[-1]
    return tuple(bound for bound in official if bound > last)


def sum_error(observations: float, magnitude: float) -> float:
    """How far a sender's sum growth over ``observations`` additions may be from the exact total of their values:
    one rounding of the running sum (at most ``magnitude`` in size) per addition, and one for the difference."""
    return (observations + 1) * math.ulp(magnitude)


def place(
    bounds: Sequence[float],
    extra: Sequence[float],
    counts: Sequence[float],
    total: float,
    error: float,
    extremes: Extremes | None = None,
    floor: float = 0.0,
) -> Placement:
    """Split the ``+Inf`` count of one interval (``counts`` per bucket of ``bounds``, sum growth ``total`` known to
    within ``error``, every value at least ``floor``) over the ``extra`` bounds where the interval allows."""
    overflow = counts[-1]
    if not overflow or not extra:
        return Placement((*counts[:-1], *(0.0,) * len(extra), overflow), 0.0)
    placed, unplaced = above(bounds, extra, counts, total, error, extremes, floor)
    return Placement((*counts[:-1], *placed), unplaced)


def above(
    bounds: Sequence[float],
    extra: Sequence[float],
    counts: Sequence[float],
    total: float,
    error: float,
    extremes: Extremes | None = None,
    floor: float = 0.0,
) -> tuple[list[float], float]:
    """``place`` of an interval with observations above the last bound: the counts of the ``extra`` buckets and
    ``+Inf``, and how many are unplaced."""
    edges = (bounds[-1], *extra)  # bucket j is (edges[j], edges[j + 1]], the last one (edges[-1], +Inf)
    overflow = counts[-1]
    placed = [0.0] * len(edges)
    unplaced = overflow
    k = int(overflow)
    if k == overflow and k <= MAX_UNKNOWNS:
        # What the other observations add, each within its bucket (often none: the sums would be zero).
        others_low = others_high = 0.0
        if any(counts[:-1]):
            lows, highs = _edges(tuple(bounds), floor)
            others_low = sum(map(operator.mul, counts, lows))  # (map stops at the finite buckets)
            others_high = sum(map(operator.mul, counts, highs))
        low_total, high_total = total - others_high - error, total - others_low + error
        for low, high in _ranges(bounds[-1], low_total, high_total, k, extremes, counts):
            j = bisect.bisect_left(edges, high) - 1  # the bucket of ``high``
            if j == 0 or (j > 0 and low > edges[j]):  # (every value is above edges[0])
                placed[j] += 1
                unplaced -= 1
    placed[-1] += unplaced
    return placed, unplaced


class Extremes(NamedTuple):
    """The min and max of one interval's observations (a delta point's; None when not sent): bounds of every value,
    and two of its observations, known exactly (one when it holds one)."""

    low: float | None
    high: float | None


def _ranges(
    last: float, low_total: float, high_total: float, k: int, extremes: Extremes | None, counts: Sequence[float]
) -> list[tuple[float, float]]:
    """The possible range of each of the ``k`` observations above ``last`` whose total is within ``[low_total,
    high_total]``; none when the numbers disagree."""
    known: list[tuple[float, float]] = []
    floor, ceiling = last, math.inf
    if extremes is not None:
        low, high = extremes
        floor = max(last, low) if low is not None else last
        ceiling = high if high is not None else math.inf
        seen = (high,) if sum(counts) < 2 else (high, low)  # the min is another observation only then
        for value in (v for v in seen if v is not None and v > last and len(known) < k):
            known.append((value, value))
            low_total = low_total - value - math.ulp(low_total)
            high_total = high_total - value + math.ulp(high_total)
    rest = k - len(known)
    if ceiling <= last or high_total < rest * floor or low_total > rest * ceiling:
        return []
    for i in range(1, rest + 1):
        high = min(ceiling, (high_total - (i - 1) * floor) / (rest - i + 1))
        larger = (rest - i) * ceiling if i < rest else 0.0  # the most the observations above the i-th can add
        known.append((max(floor, (low_total - larger) / i), high))
    return known


@functools.lru_cache(maxsize=64)
def _edges(bounds: tuple[float, ...], floor: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The lower and upper edge of every finite bucket (the first one's lower edge: ``floor``)."""
    return (floor, *bounds[:-1]), bounds
