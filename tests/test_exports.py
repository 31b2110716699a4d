"""The whole-export fast path (``otlp_bridge.translate.exports``): a sender's export read in one go gives what the
metric-by-metric paths give, and stops being used the moment its bytes or its metrics move apart."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otlp_bridge.expose.exposition import Format, render
from otlp_bridge.receive import codec
from otlp_bridge.store import Store
from otlp_bridge.translate import metrics, wire
from otlp_bridge.translate.metrics import MetricsTranslator, Taken, TranslateOptions
from otlp_bridge.translate.senders import sender_id
from tests.support import (
    CUMULATIVE,
    DELTA,
    GATEWAY,
    PROTOBUF,
    ForgetfulTable,
    find,
    histogram_metric,
    in_process_bridge,
    metrics_request,
    scrape,
    sum_metric,
)

HEADERS = {"Content-Type": PROTOBUF}
LANES = ("main", "cron:nightly", "session:agent:main:openai:1")


def export(
    sender: int,
    totals: tuple[float, ...],
    waits: tuple[list[float], ...],
    *,
    start: int = 1_000,
    time: int = 10_000,
    delta: bool = False,
    extra_metric: bool = False,
    name_twice: bool = False,
) -> ExportMetricsServiceRequest:
    """A gateway's export: a counter and a histogram per lane (and, with ``extra_metric``, one more metric; with
    ``name_twice``, the counter's name once more, for another lane)."""
    temporality = DELTA if delta else CUMULATIVE
    metrics = [
        sum_metric(
            "openclaw.queue.lane.enqueue",
            [({"openclaw.lane": lane}, total) for lane, total in zip(LANES, totals, strict=True)],
            start=start,
            time=time,
            temporality=temporality,
        ),
        histogram_metric(
            "openclaw.queue.wait_ms",
            [({"openclaw.lane": lane}, observed) for lane, observed in zip(LANES, waits, strict=True)],
            start=start,
            time=time,
            temporality=temporality,
        ),
    ]
    if extra_metric:
        metrics.append(sum_metric("openclaw.queue.lane.dequeue", [({"openclaw.lane": "main"}, 1.0)], start=start))
    if name_twice:
        twice = [({"openclaw.lane": "late"}, totals[0] * 2)]
        metrics.append(sum_metric("openclaw.queue.lane.enqueue", twice, start=start, time=time))
    return metrics_request(*metrics, resource={**GATEWAY, "process.pid": sender})


def translators() -> tuple[MetricsTranslator, MetricsTranslator]:
    """One translator with every fast path, one that walks every point every time (the reference)."""
    fast = MetricsTranslator(Store(4096, 4096, ttl=10**9), TranslateOptions())
    slow = MetricsTranslator(Store(4096, 4096, ttl=10**9), TranslateOptions())
    slow.known = ForgetfulTable()
    return fast, slow


def send(
    fast: MetricsTranslator, slow: MetricsTranslator, request: ExportMetricsServiceRequest, now: float
) -> tuple[int, int]:
    body = request.SerializeToString()
    fast_result, slow_result = fast.apply(request, now, body), slow.apply(request, now)
    assert (fast_result.accepted, fast_result.rejected, fast_result.reasons, fast_result.sources) == (
        slow_result.accepted,
        slow_result.rejected,
        slow_result.reasons,
        slow_result.sources,
    )
    return fast_result.accepted, fast_result.rejected


def same_pages(fast: MetricsTranslator, slow: MetricsTranslator) -> None:
    assert render(fast.store, Format.TEXT) == render(slow.store, Format.TEXT)


def taken(translator: MetricsTranslator, request: ExportMetricsServiceRequest, now: float) -> Taken | None:
    """What the whole-export path alone takes of ``request`` (the rest, if any, read metric by metric)."""
    body = request.SerializeToString()
    took = translator.apply_export(body, now)
    translator.apply(request, now, body, took)
    return took


WAITS = ([5.0], [1.0], [2.0])  # every point observed: a layout the fast path reads


def test_a_repeated_export_takes_the_whole_export_path() -> None:
    fast, _ = translators()
    took = [taken(fast, export(1, (1.0 + n, 2.0, 3.0), WAITS, time=10_000 + n), float(n)) for n in range(3)]
    assert took[0] is None  # the first is read metric by metric, and remembered
    assert [(t.complete, t.metrics, t.result.accepted) for t in took[1:] if t is not None] == [(True, 2, 6)] * 2
    (record,) = fast.exports.values()
    assert len(record.knowns) == 2
    resource = export(1, (1.0,) * 3, WAITS).resource_metrics[0].resource.SerializeToString()
    assert fast.export_keys == {sender_id(resource): next(iter(fast.exports))}
    assert record.knowns is fast.known.senders[sender_id(resource)].knowns  # (one tuple of them, not two)


@pytest.mark.parametrize(
    ("name", "sequence"),
    [
        # the exact bytes of an earlier export after a later one: a reset, not a repeat
        ("back to the first bytes", [(1.0, 5.0), (4.0, 9.0), (1.0, 5.0), (2.0, 6.0)]),
        ("unchanged, then grows", [(1.0, 5.0), (1.0, 5.0), (1.0, 5.0), (3.0, 5.0)]),
        ("goes down", [(5.0, 5.0), (6.0, 6.0), (2.0, 6.0), (3.0, 7.0)]),
        ("only the histogram grows", [(1.0, 5.0), (1.0, 6.0), (1.0, 7.0)]),
    ],
)
def test_cumulative_sequences_give_what_the_general_path_gives(name: str, sequence: list[tuple[float, float]]) -> None:
    fast, slow = translators()
    for number, (total, wait) in enumerate(sequence):
        waits = ([wait] * int(wait), [1.0], [wait])
        time = 10_000 if name == "back to the first bytes" else 10_000 + number * 1_000  # (the very same bytes)
        request = export(1, (total, 1.0, 2.0), waits, time=time)
        send(fast, slow, request, float(number))
        same_pages(fast, slow)


def test_a_restart_in_the_same_bytes_but_the_start_is_not_a_repeat() -> None:
    fast, slow = translators()
    send(fast, slow, export(1, (3.0, 1.0, 1.0), WAITS, start=1_000), 0.0)
    send(fast, slow, export(1, (4.0, 1.0, 1.0), WAITS, start=1_000), 1.0)
    send(fast, slow, export(1, (4.0, 1.0, 1.0), WAITS, start=1_001), 2.0)  # same values, a new start: a restart
    same_pages(fast, slow)


@pytest.mark.parametrize(
    ("name", "sequence", "remembered"),
    [
        # read metric by metric: the previous shape's record is gone, the new shape is remembered
        ("another shape", [{}, {}, {"extra_metric": True}, {}, {}], 2),
        # the second "enqueue" replaces the first's known metric: never remembered, always the general way
        ("a name twice", [{}, {}, {"name_twice": True}, {"name_twice": True}, {"name_twice": True}, {}], 2),
    ],
)
def test_an_export_of_another_shape_from_the_same_sender_forgets_its_export(
    name: str, sequence: list[dict[str, bool]], remembered: int
) -> None:
    fast, slow = translators()
    for number, options in enumerate(sequence):
        send(fast, slow, export(1, (1.0 + number, 1.0 + 2 * number, 1.0), WAITS, time=10_000 + number, **options), 0.0)
        if options.get("name_twice"):
            assert not fast.exports
        same_pages(fast, slow)
    (record,) = fast.exports.values()
    assert len(record.knowns) == remembered


@pytest.mark.parametrize(
    ("name", "refused", "totals", "waits", "taken_metrics"),
    [
        ("a negative counter", 1, (3.0, -1.0, 1.0), ([6.0, 7.0], [1.0], [2.0]), 0),
        # the counter grows and is taken; the histogram's count went down (a reset): the general way from there
        ("a histogram reset", 0, (3.0, 2.0, 1.0), ([6.0], [1.0], [2.0]), 1),
    ],
)
def test_a_metric_the_fast_path_refuses_goes_the_general_way_and_the_rest_are_still_taken(
    name: str, refused: int, totals: tuple[float, ...], waits: tuple[list[float], ...], taken_metrics: int
) -> None:
    fast, slow = translators()
    before = ([5.0, 6.0], [1.0], [2.0])
    send(fast, slow, export(1, (1.0, 1.0, 1.0), before, time=10_000), 0.0)
    send(fast, slow, export(1, (2.0, 1.0, 1.0), before, time=10_001), 1.0)
    request = export(1, totals, waits, time=10_002)
    took = fast.apply_export(request.SerializeToString(), 2.0)
    assert took is not None
    assert (took.complete, took.metrics) == (False, taken_metrics)
    assert not fast.exports  # read metric by metric from there
    slow_result = slow.apply(request, 2.0)
    fast_result = fast.apply(request, 2.0, request.SerializeToString(), took)
    assert (fast_result.accepted, fast_result.rejected) == (slow_result.accepted, slow_result.rejected)
    assert fast_result.rejected == refused
    same_pages(fast, slow)
    send(fast, slow, export(1, (4.0, 3.0, 1.0), ([6.0, 7.0, 8.0], [1.0], [2.0]), time=10_003), 3.0)
    same_pages(fast, slow)


def test_a_known_export_names_its_sources_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole-export path answers with its senders' sources as named when the export became known: a fleet larger
    than any cache of resources parses none of them again."""
    named: list[bytes] = []
    real_source_name = metrics.source_name

    def counting_source_name(resource_key: bytes, attributes: tuple[str, ...]) -> str:
        named.append(resource_key)
        return real_source_name(resource_key, attributes)

    monkeypatch.setattr(metrics, "source_name", counting_source_name)
    fast, slow = translators()
    for number in range(5):
        request = export(7, (1.0 + number, 1.0, 1.0), WAITS, time=10_000 + number)
        send(fast, slow, request, float(number))  # (the sources too: what decoding every export gives)
    assert len(fast.exports) == 1
    before = len(named)
    fast.sources.clear()  # as a fleet larger than the table of source names leaves it
    taken = fast.apply_export(export(7, (9.0, 1.0, 1.0), WAITS, time=20_000).SerializeToString(), 9.0)
    assert taken is not None and taken.complete and taken.result.sources == {"openclaw-gateway:vm"}
    assert len(named) == before


def test_expiry_forgets_the_export_with_its_metrics() -> None:
    fast, _ = translators()
    fast.store.ttl = 10
    for number in range(2):
        request = export(1, (1.0 + number, 1.0, 1.0), WAITS)
        fast.apply(request, float(number), request.SerializeToString())
    assert fast.exports
    fast.expire(100.0)
    assert not fast.exports
    assert not fast.export_keys
    assert not fast.known


def test_a_batch_of_gateways_leaves_no_key_behind_when_its_members_come_and_go() -> None:
    """A collector sending several gateways per request: each departed gateway's key goes with the export."""
    fast, _ = translators()
    fast.store.ttl = 10
    steady = export(0, (1.0, 1.0, 1.0), WAITS).resource_metrics[0]
    for pod in range(1, 20):
        for repeat in range(2):
            request = export(pod, (1.0 + repeat, 1.0, 1.0), WAITS)
            request.resource_metrics.insert(0, steady)
            fast.apply(request, float(pod), request.SerializeToString())
    assert len(fast.export_keys) <= 2 * len(fast.exports)
    fast.expire(1_000.0)
    assert (fast.exports, fast.export_keys, len(fast.known)) == ({}, {}, 0)


def test_a_resource_without_metrics_has_no_temporality_as_the_status_page_reads_it() -> None:
    fast, _ = translators()
    gateways = [export(sender, (1.0, 1.0, 1.0), WAITS).resource_metrics[0] for sender in (1, 2, 3)]
    for empty, expected in ((2, ["cumulative", "cumulative", ""]), (1, ["cumulative", "", "cumulative"])):
        request = ExportMetricsServiceRequest()
        for number, gateway in enumerate(gateways):
            added = request.resource_metrics.add()
            if number == empty:
                added.resource.CopyFrom(gateway.resource)  # a resource, and no metric
            else:
                added.CopyFrom(gateway)
        fast.apply(request, float(empty), request.SerializeToString())
        (record,) = fast.exports.values()
        assert [sender.temporality for sender in record.senders] == expected


# A sender's values step by step: grow, repeat, go back to earlier bytes, restart, change shape, or a refused value.
step = st.sampled_from(
    ["grow", "grow", "same", "earlier", "restart", "shape", "twice", "invalid", "reset", "read", "other sender"]
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=3, max_size=40), amounts=st.lists(st.integers(0, 5), min_size=6, max_size=6))
def test_the_whole_export_path_gives_what_the_general_path_gives(steps: list[str], amounts: list[int]) -> None:
    fast, slow = translators()
    history: list[ExportMetricsServiceRequest] = []
    totals = [0.0, 0.0, 0.0]
    waits: list[list[float]] = [[1.0], [2.0], [3.0]]  # every point observed: a layout the fast path reads
    start, time = 1_000, 10_000
    shape = twice = False
    for number, what in enumerate(steps):
        now = float(number)
        if what == "read":
            same_pages(fast, slow)
            continue
        if what == "earlier" and history:
            request = history[amounts[number % 6] % len(history)]
        else:
            if what == "restart":
                start, totals, waits = time + 1, [0.0, 0.0, 0.0], [[1.0], [2.0], [3.0]]
            if what == "shape":
                shape = not shape
            if what == "twice":
                twice = not twice
            reset = what == "reset" and len(waits[1]) > 1
            if reset:
                # the histogram alone resets, its count down (a take refused past metric 0); a count that stays while
                # the sum moves is no valid export (README: seen as a reset only at the next read)
                waits[1] = [1.0]
                # nor is an export of before the reset sent again after it, under the same start: its buckets go down
                # and up again between two reads, which only walking every export sees (README: the fast path)
                history.clear()
            if what in ("grow", "other sender", "invalid", "reset"):
                for lane in (0, 2) if reset else range(3):
                    grow = amounts[(number + lane) % 6]
                    totals[lane] += grow
                    waits[lane] += [float(grow * 3_000)] * (grow % 3)  # some above the last bound: placed
            time += 1_000
            sent = (totals[0], -1.0 if what == "invalid" else totals[1], totals[2])
            request = export(
                1, sent, (waits[0], waits[1], waits[2]), start=start, time=time, extra_metric=shape, name_twice=twice
            )
            history.append(request)
        send(fast, slow, request, now)
        if what == "other sender":
            send(fast, slow, export(2, (float(number), 1.0, 1.0), ([1.0], [2.0], [3.0]), time=time, delta=True), now)
    same_pages(fast, slow)
    assert render(fast.store, Format.OPENMETRICS) == render(slow.store, Format.OPENMETRICS)


# --- through the server: a known export is translated without being decoded --------------------------------------


async def test_the_server_takes_a_known_export_without_decoding_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three exports of one gateway over HTTP: only the first is decoded; the answers, the series, the sources and
    the status page's sender are what decoding every request gives."""
    decoded: list[int] = []
    real_decode = codec.decode_request

    def counting_decode(*args: Any) -> Any:
        decoded.append(1)
        return real_decode(*args)

    monkeypatch.setattr(codec, "decode_request", counting_decode)
    waits = ([5.0], [1.0], [2.0])
    async with in_process_bridge() as bridge, aiohttp.ClientSession() as client:
        for number in range(3):
            body = export(1, (1.0 + number, 1.0, 1.0), waits, time=10_000 + number).SerializeToString()
            async with client.post(f"{bridge.otlp_url}/v1/metrics", data=body, headers=HEADERS) as answer:
                assert answer.status == 200
                assert not (await answer.read())  # an empty ExportMetricsServiceResponse: nothing rejected
        samples = await scrape(client, bridge.metrics_url)
    assert len(decoded) == 1
    assert find(samples, "openclaw_queue_lane_enqueue_total", lane="main") == 3.0
    assert find(samples, "otlp_bridge_received_points_total", signal="metrics", outcome="accepted") == 3 * 6
    (sender,) = bridge.bridge.status.senders.values()
    assert (sender.key.service, sender.exports, sender.accepted, sender.temporality) == (
        GATEWAY["service.name"],
        3,
        18,
        {"cumulative"},
    )
    assert list(bridge.bridge.metrics.last_receive) == [("metrics", sender.key.service + ":" + sender.key.host)]


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("nested groups", b"\x0b" * 20_000),
        ("a group whose end is past the bound", b"\x0b" + b"\x08\x00" * 2_000_000),
        ("a varint that never ends", b"\xff" * 320_000),
        ("a varint of eleven bytes", b"\x0a" + b"\x80" * 10 + b"\x01"),
        ("a resource_metrics longer than the body", b"\x0a\xff\xff\x03" + b"\x00" * 10),
        ("a megabyte of unknown fields", b"\x78\x01" * 500_000),
        ("wire types 6 and 7", b"\x0e\x0f"),
        ("nothing", b""),
    ],
)
def test_first_metric_start_reads_hostile_bytes_safely(name: str, body: bytes) -> None:
    assert wire.first_metric_start(body) is None


def test_first_metric_start_reads_nothing_past_its_bound() -> None:
    """A real export after more unknown fields than the bound holds is not found (nothing past it is read)."""
    body = export(1, (1.0, 1.0, 1.0), WAITS).SerializeToString()
    assert wire.first_metric_start(body) is not None
    padding = b"\x78\x01" * (wire.FIRST_METRIC_WITHIN // 2)
    assert wire.first_metric_start(padding + body) is None
    within = len(padding) - len(body) - 64
    assert wire.first_metric_start(padding[: within - within % 2] + body) is not None  # (whole unknown fields)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=2_000), cut=st.integers(0, 4_000))
def test_first_metric_start_answers_any_bytes(body: bytes, cut: int) -> None:
    """Any bytes, or a real export cut anywhere: an offset inside the body, or None; never an exception."""
    real = export(1, (1.0, 1.0, 1.0), WAITS).SerializeToString()[:cut]
    for candidate in (body, real, real + body):
        found = wire.first_metric_start(candidate)
        assert found is None or 0 < found <= len(candidate)


def test_first_metric_start_finds_the_first_metric() -> None:
    request = export(1, (1.0, 1.0, 1.0), ([5.0], [1.0], [2.0]))
    body = request.SerializeToString()
    start = wire.first_metric_start(body)
    assert start is not None
    first = request.resource_metrics[0].scope_metrics[0].metrics[0].SerializeToString()
    assert body[start : start + len(first)] == first
    spans = wire.metric_spans(body)
    assert spans is not None
    assert spans[0] == (start, start + len(first))


async def test_hostile_bodies_are_refused_with_400_and_nothing_else_changes() -> None:
    async with in_process_bridge() as bridge, aiohttp.ClientSession() as client:
        good = export(1, (1.0, 1.0, 1.0), ([5.0], [1.0], [2.0]), time=10_000).SerializeToString()
        for body in (good, b"\x0b" * 20_000, good[:-3] + b"\xff\xff\xff", good):
            async with client.post(f"{bridge.otlp_url}/v1/metrics", data=body, headers=HEADERS) as answer:
                assert answer.status == (200 if body == good else 400), body[:20]
        samples = await scrape(client, bridge.metrics_url)
    assert find(samples, "openclaw_queue_lane_enqueue_total", lane="main") == 1.0
    assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="bad_request") == 2


def test_senders_whose_keys_collide_only_take_each_others_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key is a hash of the bytes before the first metric; with every key the same, two senders keep replacing
    each other's export, and what they send is still translated as the general path translates it."""
    from otlp_bridge.translate import metrics  # noqa: PLC0415

    monkeypatch.setattr(metrics, "export_key", lambda body: 0 if wire.first_metric_start(body) else None)
    fast, slow = translators()
    waits = ([5.0], [1.0], [2.0])
    for number in range(6):
        for sender in (1, 2):
            request = export(sender, (1.0 + number * sender, 1.0, 1.0), waits, time=10_000 + number)
            send(fast, slow, request, float(number))
        same_pages(fast, slow)
    assert len(fast.exports) == 1
