"""Collection: every sample of the scrape page goes out with the page's value and labels (plus job, instance and
the external labels), stamped with the clock; an expired series gets one stale marker."""

from __future__ import annotations

import struct

import aiohttp
import pytest

from otlp_bridge.expose.exposition import SERIES_PER_PART, Format, format_number, render
from otlp_bridge.remotewrite import wire
from otlp_bridge.remotewrite.collect import DEFAULT_JOB, Collector, Identity
from otlp_bridge.store import FamilyInfo, HistogramSeries, Kind, ScalarSeries, Store
from tests.conftest import CAPTURES, require_fixtures
from tests.support import (
    SampleKey,
    WrittenSample,
    captured_requests,
    decode_write_request,
    in_process_bridge,
    page_samples,
)

FOLDERS = sorted(p.name for p in CAPTURES.iterdir() if p.is_dir())
NOW = 1_800_000_000.0
BOUNDS = (0.005, 0.25, 1.0, 30.0)


def written(entries: list[bytes]) -> list[WrittenSample]:
    return decode_write_request(b"".join(entries))[0]


def by_labels(samples: list[WrittenSample], drop: tuple[str, ...] = ("job", "instance")) -> dict[SampleKey, float]:
    return {frozenset((k, v) for k, v in s.labels.items() if k not in drop): s.value for s in samples}


def is_stale(value: float) -> bool:
    return bool(struct.unpack("<Q", struct.pack("<d", value))[0] == wire.STALE_NAN_BITS)


def small_store() -> Store:
    store = Store(100, 100, 60.0)
    counter = store.family(FamilyInfo("openclaw_x_total", Kind.COUNTER, "Runs.", ""))
    gauge = store.family(FamilyInfo("openclaw_queue_depth", Kind.GAUGE, "Depth.", ""))
    histogram = store.family(FamilyInfo("openclaw_run_duration_seconds", Kind.HISTOGRAM, "Runs.", "seconds"))
    assert counter and gauge and histogram
    scalar = store.series(counter, (("channel", 'we"b\\x\ny'), ("Zone", "z")), NOW, NOW)
    assert isinstance(scalar, ScalarSeries)
    scalar.add(0.1)
    scalar.add(0.2)  # 0.30000000000000004, printed 0.3
    depth = store.series(gauge, (("lane", "main"),), NOW, NOW)
    assert isinstance(depth, ScalarSeries)
    depth.set(float("nan"))  # the page prints 0
    runs = store.series(histogram, (("model", "m"), ("zeta", "z")), NOW, NOW)
    assert isinstance(runs, HistogramSeries)
    for value in (0.001, 0.7, 0.7, 45.0):
        runs.observe(BOUNDS, value)
    return store


def test_every_sample_of_the_page_is_written_with_the_value_it_shows() -> None:
    store = small_store()
    samples = written(Collector(store, None, Identity(instance="bridge-0")).collect(NOW))
    page = page_samples(render(store, Format.TEXT))
    assert len(samples) == len(page) == 2 + 4 + 1 + 2
    sent = by_labels(samples)
    assert sent.keys() == page.keys()
    for key, text in page.items():
        assert format_number(sent[key]) == text, dict(key)
    assert {s.timestamp for s in samples} == {int(NOW * 1000)}
    assert all(s.labels["job"] == DEFAULT_JOB and s.labels["instance"] == "bridge-0" for s in samples)
    assert all(list(s.label_order) == sorted(s.label_order) for s in samples)


@pytest.mark.parametrize(
    ("identity", "series_labels", "expected"),
    [
        (Identity(instance="a:9464"), (), {"job": DEFAULT_JOB, "instance": "a:9464"}),
        (Identity("bridges", "b", (("cluster", "eu"),)), (), {"job": "bridges", "instance": "b", "cluster": "eu"}),
        (Identity(instance="b", external_labels=(("job", "ext"),)), (), {"job": DEFAULT_JOB, "instance": "b"}),
        (Identity(instance="b", external_labels=(("cluster", "eu"),)), (("cluster", "own"),), {"cluster": "own"}),
        (Identity(instance=""), (("x", "1"),), {"job": DEFAULT_JOB, "x": "1"}),  # an empty label is no label
    ],
)
def test_job_instance_and_external_labels_yield_to_the_series_own(
    identity: Identity, series_labels: tuple[tuple[str, str], ...], expected: dict[str, str]
) -> None:
    store = Store(10, 10, 60.0)
    family = store.family(FamilyInfo("openclaw_x_total", Kind.COUNTER, "X.", ""))
    assert family is not None
    series = store.series(family, series_labels, NOW, NOW)
    assert isinstance(series, ScalarSeries)
    series.add(1)
    (sample,) = written(Collector(store, None, identity).collect(NOW))
    assert {k: v for k, v in sample.labels.items() if k != "__name__"}.items() >= expected.items()
    assert "instance" in sample.labels or not identity.instance


def test_an_expired_series_gets_one_stale_marker_per_sample() -> None:
    store = small_store()
    collector = Collector(store, None, Identity(instance="i"))
    first = by_labels(written(collector.collect(NOW)))
    histogram = store.families["openclaw_run_duration_seconds"]
    assert store.expire(NOW + 61) == 3
    family = store.family(FamilyInfo("openclaw_x_total", Kind.COUNTER, "Runs.", ""))
    assert family is not None and store.series(family, (("channel", "new"),), NOW + 61, NOW + 61)
    second = written(collector.collect(NOW + 62))
    stale = by_labels([s for s in second if is_stale(s.value)])
    assert stale.keys() == first.keys()  # every sample of every expired series, histogram buckets included
    assert len(stale) == 9 and histogram.info.name
    fresh = [s for s in second if not is_stale(s.value)]
    assert [s.labels["channel"] for s in fresh] == ["new"]
    third = written(collector.collect(NOW + 63))
    assert not [s for s in third if is_stale(s.value)]


def test_timestamps_only_move_forward() -> None:
    store = small_store()
    collector = Collector(store, None, Identity())
    stamps = [written(collector.collect(NOW))[0].timestamp for _ in range(3)]
    stamps.append(written(collector.collect(NOW - 10))[0].timestamp)  # the clock stepped back
    assert stamps == [int(NOW * 1000) + n for n in range(4)]


def test_metadata_of_each_family() -> None:
    store = small_store()
    collector = Collector(store, None, Identity())
    collector.collect(NOW)
    _, metadata = decode_write_request(b"".join(collector.metadata))
    assert sorted((m.type, m.metric_family_name, m.help, m.unit) for m in metadata) == [
        (wire.MetricType.COUNTER, "openclaw_x_total", "Runs.", ""),
        (wire.MetricType.GAUGE, "openclaw_queue_depth", "Depth.", ""),
        (wire.MetricType.HISTOGRAM, "openclaw_run_duration_seconds", "Runs.", "seconds"),
    ]


def test_a_large_store_is_collected_in_slices() -> None:
    count = SERIES_PER_PART * 4 + 7
    store = Store(count, count, 60.0)
    family = store.family(FamilyInfo("openclaw_x_total", Kind.COUNTER, "X.", ""))
    assert family is not None
    for index in range(count):
        series = store.series(family, (("n", str(index)),), NOW, NOW)
        assert isinstance(series, ScalarSeries)
        series.add(index)
    parts = list(Collector(store, None, Identity()).parts(NOW))
    assert max(map(len, parts)) == SERIES_PER_PART
    assert sum(map(len, parts)) == count
    assert by_labels(written([e for part in parts for e in part]), ("job",)) == {
        frozenset({("__name__", "openclaw_x_total"), ("n", str(i))}): float(i) for i in range(count)
    }


@pytest.mark.parametrize("folder", FOLDERS)
async def test_captured_sessions_are_written_as_the_page_shows_them(folder: str) -> None:
    """The captured OpenClaw bodies through a real bridge: every translated sample with the page's value, and every
    self-metric and process metric of the page (their values move between the scrape and the collection)."""
    require_fixtures()
    async with in_process_bridge() as running, aiohttp.ClientSession() as client:
        for request in captured_requests(CAPTURES / folder):
            headers = {k: v for k, v in request.headers.items() if k in ("Content-Type", "Content-Encoding")}
            url = f"{running.otlp_url}/v1/{request.signal}"
            async with client.post(url, data=request.body, headers=headers) as response:
                assert response.status == 200
        async with client.get(running.metrics_url + "/metrics") as response:
            page = page_samples(await response.text())
        bridge = running.bridge
        collector = Collector(bridge.store, bridge.metrics.registry, Identity(instance="i"))
        sent = by_labels(written(collector.collect(bridge.clock())))
    translated = {key: text for key, text in page.items() if dict(key)["__name__"].startswith("openclaw_")}
    assert len(translated) > 20
    for key, text in translated.items():  # prometheus_client prints the self-metric openclaw_…_dropped as 0.0
        assert float(format_number(sent[key])) == float(text), dict(key)
    assert sent.keys() == page.keys()
    assert {name for key in page for name, value in key if name == "__name__" and value.startswith("process_")}


def test_a_series_expired_and_created_again_before_the_next_collection_is_not_marked_stale() -> None:
    store = Store(10, 10, 60.0)
    info = FamilyInfo("openclaw_x_total", Kind.COUNTER, "X.", "")
    family = store.family(info)
    assert family is not None
    old = store.series(family, (("a", "1"),), NOW, NOW)
    assert isinstance(old, ScalarSeries)
    old.add(5)
    collector = Collector(store, None, Identity())
    collector.collect(NOW)
    assert store.expire(NOW + 61) == 1
    family = store.family(info)
    assert family is not None
    new = store.series(family, (("a", "1"),), NOW + 61, NOW + 61)
    assert isinstance(new, ScalarSeries) and new is not old
    new.add(2)
    (sample,) = written(collector.collect(NOW + 62))
    assert sample.value == 2.0
