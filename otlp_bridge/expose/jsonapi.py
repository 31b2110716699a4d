"""JSON views of the store for people and scripts, shaped like the community exporter's endpoints
(``/metrics/health``, ``/metrics/per-object``, ``/metrics/detailed``) — histograms included."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from otlp_bridge import __version__
from otlp_bridge.store import Family, HistogramSeries, Kind, ScalarSeries, Series, Store

OBJECT_LABELS = ("provider", "model", "channel", "tool", "lane")
_TYPES = {Kind.COUNTER: "counter", Kind.GAUGE: "gauge", Kind.HISTOGRAM: "histogram"}


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).isoformat(timespec="milliseconds")


def sample(series: Series) -> dict[str, object]:
    labels = dict(series.labels)
    if isinstance(series, ScalarSeries):
        return {"labels": labels, "value": series.value}
    assert isinstance(series, HistogramSeries)
    buckets: dict[str, float] = {}
    cumulative = 0.0
    for bound, count in zip(series.bounds, series.counts, strict=False):
        cumulative += count
        buckets[repr(bound)] = cumulative
    buckets["+Inf"] = series.count
    return {"labels": labels, "buckets": buckets, "sum": series.sum, "count": series.count}


def family_json(family: Family) -> dict[str, object]:
    info = family.info
    return {
        "name": info.name,
        "help": info.help,
        "type": _TYPES[info.kind],
        "samples": [sample(family.series[labels]) for labels in family.sorted_labels()],
    }


def meta(store: Store) -> dict[str, object]:
    return {
        "series": {
            "live": store.live_series,
            "max": store.max_series,
            "maxPerFamily": store.max_series_per_family,
            "droppedObservations": store.dropped_observations,
            "expired": store.expired_total,
        }
    }


def detailed(store: Store, family_filter: str, now: float) -> dict[str, object]:
    families = [family_json(f) for f in store.ordered_families() if family_filter in f.info.name]
    return {"timestamp": _iso(now), "meta": meta(store), "metrics": families}


def per_object(store: Store, now: float) -> dict[str, object]:
    """Series grouped by the object they describe: each provider, model, channel, tool and lane."""
    objects: dict[str, dict[str, list[dict[str, object]]]] = {label: {} for label in OBJECT_LABELS}
    for family in store.ordered_families():
        for labels in family.sorted_labels():
            series = family.series[labels]
            entry = None
            for name, value in labels:
                if name in objects:
                    if entry is None:
                        entry = {"name": family.info.name, **sample(series)}
                    objects[name].setdefault(value, []).append(entry)
    return {"timestamp": _iso(now), "meta": meta(store), "objects": objects}


def health(
    store: Store,
    started: float,
    now: float,
    ready: bool,
    last_receive: Iterable[tuple[str, str, float]],
    stale_after: float,
) -> dict[str, object]:
    receives = sorted(last_receive)
    sources = [
        {"signal": signal, "source": source, "lastReceiveAt": _iso(at), "ageSeconds": round(now - at, 3)}
        for signal, source, at in receives
    ]
    fresh = any(now - at <= stale_after for _, _, at in receives)
    return {
        "ok": True,
        "healthy": ready and (fresh or not sources),
        "plugin": "otlp-bridge",
        "version": __version__,
        "startedAt": _iso(started),
        "uptimeSeconds": round(now - started, 3),
        "ready": ready,
        "sources": sources,
        **meta(store),
    }
