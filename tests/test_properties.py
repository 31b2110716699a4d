"""Hypothesis properties of translation and the store: monotonic, exact totals, caps, label hygiene."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from prometheus_client.parser import text_string_to_metric_families

from otlp_bridge.expose.exposition import Format, render
from otlp_bridge.store import Store
from otlp_bridge.translate.labels import LABEL_VALUE_PATTERN
from otlp_bridge.translate.metrics import MetricsTranslator, TranslateOptions
from tests.support import CUMULATIVE, DELTA, GATEWAY, ForgetfulTable, histogram_metric, metrics_request, sum_metric

LANES = ["session:agent:main:openai:1", "session:agent:main:hook:2", "main", "cron:nightly"]


@dataclass
class Sender:
    """One gateway process: its temporality, start time and what it has counted so far per lane."""

    pid: int
    temporality: int
    start: int
    time: int = 0
    totals: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    pending: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    pending_durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


operation = st.one_of(
    st.tuples(st.just("count"), st.integers(0, 2), st.sampled_from(LANES), st.integers(1, 5)),
    st.tuples(st.just("observe"), st.integers(0, 2), st.sampled_from(LANES), st.floats(0, 20000)),
    st.tuples(st.just("export"), st.integers(0, 2), st.just(""), st.just(0)),
    st.tuples(st.just("resend"), st.integers(0, 2), st.just(""), st.just(0)),
    st.tuples(st.just("restart"), st.integers(0, 2), st.just(""), st.just(0)),
)


def exposed(store: Store) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(render(store, Format.TEXT))
        for s in family.samples
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    temporalities=st.lists(st.sampled_from([CUMULATIVE, DELTA]), min_size=3, max_size=3),
    operations=st.lists(operation, max_size=60),
)
def test_counters_are_monotonic_and_exact(
    temporalities: list[int], operations: list[tuple[str, int, str, float]]
) -> None:
    """Any interleaving of counts, exports, resends and restarts across cumulative and delta senders keeps every
    exposed counter and histogram count monotonic, and equal to the true total of what was exported."""
    store = Store(max_series=2048, max_series_per_family=1024, ttl=10**9)
    translator = MetricsTranslator(store, TranslateOptions())
    senders = [Sender(pid=n, temporality=t, start=1_000 * (n + 1)) for n, t in enumerate(temporalities)]
    next_pid = 100
    true_enqueue: dict[str, float] = defaultdict(float)
    true_waits: dict[str, int] = defaultdict(int)
    last_request: dict[int, ExportMetricsServiceRequest] = {}
    previous: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    now = 0.0
    for kind, index, lane, amount in operations:
        sender = senders[index]
        now += 1
        if kind == "count":
            sender.pending[lane] += amount
        elif kind == "observe":
            sender.pending_durations[lane].append(amount)
        elif kind == "restart":
            next_pid += 1
            senders[index] = Sender(
                pid=next_pid, temporality=sender.temporality, start=sender.time + 10_000, time=sender.time + 10_000
            )
        elif kind == "resend":
            if sender.pid in last_request:
                translator.apply(last_request[sender.pid], now)
        else:
            sender.time += 1_000
            resource = {**GATEWAY, "process.pid": sender.pid}
            delta = sender.temporality == DELTA
            for name, value in sender.pending.items():
                sender.totals[name] += value
                true_enqueue[name.split(":")[0]] += value
            for name, values in sender.pending_durations.items():
                sender.durations[name].extend(values)
                true_waits[name.split(":")[0]] += len(values)
            counts = sender.pending if delta else sender.totals
            waits = sender.pending_durations if delta else sender.durations
            start = sender.time - 1_000 if delta else sender.start
            metrics = []
            if counts:
                metrics.append(
                    sum_metric(
                        "openclaw.queue.lane.enqueue",
                        [({"openclaw.lane": name}, value) for name, value in counts.items()],
                        start=start,
                        time=sender.time,
                        temporality=sender.temporality,
                    )
                )
            if waits:
                metrics.append(
                    histogram_metric(
                        "openclaw.queue.wait_ms",
                        [({"openclaw.lane": name}, values) for name, values in waits.items()],
                        start=start,
                        time=sender.time,
                        temporality=sender.temporality,
                    )
                )
            request = metrics_request(*metrics, resource=resource)
            translator.apply(request, now)
            last_request[sender.pid] = request
            sender.pending = defaultdict(float)
            sender.pending_durations = defaultdict(list)
        current = exposed(store)
        for key, value in previous.items():
            assert current.get(key, 0.0) >= value, key  # never backwards
        previous = current
    final = exposed(store)
    for lane, total in true_enqueue.items():
        assert final.get(("openclaw_queue_lane_enqueue_total", frozenset({("lane", lane)})), 0.0) == total
    for lane, count in true_waits.items():
        assert final.get(("openclaw_queue_lane_wait_seconds_count", frozenset({("lane", lane)})), 0.0) == count


label_text = st.text(min_size=0, max_size=200)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.tuples(label_text, label_text, label_text), min_size=1, max_size=40), cap=st.integers(1, 30))
def test_series_stay_under_the_cap_and_labels_are_clean(values: list[tuple[str, str, str]], cap: int) -> None:
    """Whatever attribute values arrive, the series count never exceeds the cap and every label value matches
    the official pattern and is never a session key."""
    store = Store(max_series=cap, max_series_per_family=cap, ttl=600)
    translator = MetricsTranslator(store, TranslateOptions())
    points = [
        (
            {
                "openclaw.channel": a,
                "openclaw.provider": b,
                "openclaw.model": c,
                "openclaw.agent": a,
                "openclaw.token": "input",
                "openclaw.sessionKey": c,
            },
            1.0,
        )
        for a, b, c in values
    ]
    lanes = [({"openclaw.lane": a}, 1.0) for a, _, _ in values]
    result = translator.apply(
        metrics_request(sum_metric("openclaw.tokens", points), sum_metric("openclaw.queue.lane.enqueue", lanes)),
        now=1.0,
    )
    assert store.live_series <= cap
    assert result.accepted + result.rejected == len(points) + len(lanes)
    for family in store.families.values():
        for labels in family.series:
            for name, value in labels:
                assert LABEL_VALUE_PATTERN.match(value), (name, value)
                assert not value.lower().startswith("agent:") and ":agent:" not in value.lower()
    text = render(store, Format.TEXT)
    for line in text.splitlines():
        assert "sessionKey" not in line


fault = st.sampled_from(["none", "none", "none", "reset", "nan", "negative", "miscount", "new-lane"])
step = st.one_of(
    st.tuples(st.just("export"), st.integers(0, 1), fault, st.integers(0, 3)),
    st.tuples(st.just("export"), st.integers(0, 1), st.just("none"), st.integers(0, 3)),
    st.tuples(st.just("resend"), st.integers(0, 1), st.just("none"), st.just(0)),
    st.tuples(st.just("restart"), st.integers(0, 1), st.just("none"), st.just(0)),
    st.tuples(st.just("read"), st.just(0), st.just("none"), st.just(0)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=4, max_size=60), increments=st.lists(st.integers(0, 40), min_size=8, max_size=8))
def test_the_fast_path_gives_what_the_general_path_gives(
    steps: list[tuple[str, int, str, int]], increments: list[int]
) -> None:
    """Exports that mostly repeat their layout (the fast path keeps them until a read) and exports that break it
    (resets, restarts, resends, invalid values, new streams) give the same answers, request by request, and the
    same exposition at every read, as a translator that walks every point every time."""
    fast_store, slow_store = Store(4096, 4096, ttl=10**9), Store(4096, 4096, ttl=10**9)
    fast, slow = MetricsTranslator(fast_store, TranslateOptions()), MetricsTranslator(slow_store, TranslateOptions())
    slow.known = ForgetfulTable()
    lanes = [["main", "cron:nightly", "session:agent:main:openai:1"], ["main", "cron:nightly"]]
    starts, times = [1_000, 2_000], [10_000, 10_000]
    totals: list[dict[str, float]] = [defaultdict(float), defaultdict(float)]
    observed: list[dict[str, list[float]]] = [defaultdict(list), defaultdict(list)]
    depths: list[dict[str, list[float]]] = [defaultdict(list), defaultdict(list)]  # feed APPROX gauges
    last: list[ExportMetricsServiceRequest | None] = [None, None]
    now = 0.0
    for number, (kind, sender, what, pick) in enumerate(steps):
        now += 1
        if kind == "read":
            assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
            continue
        if kind == "restart":
            starts[sender] = times[sender] + 1
            totals[sender], observed[sender], depths[sender] = defaultdict(float), defaultdict(list), defaultdict(list)
            continue
        request = last[sender]
        if kind == "export" or request is None:
            delta = sender == 1
            times[sender] += 1_000
            if what == "new-lane":
                lanes[sender].append(f"session:agent:main:hook:{number}")
            amounts = {lane: float(increments[(i + pick) % 8]) for i, lane in enumerate(lanes[sender])}
            # up to 14.8 s: some land above the last bound and are placed
            durations = {lane: [float(increments[(i + pick + 1) % 8]) * 370] for i, lane in enumerate(lanes[sender])}
            # 0, 1 or 2 queue depths: a delta export without any leaves the fast path (its point lacks a count)
            depth = {
                lane: [float(increments[(i + pick + 3) % 8])] * (increments[(i + pick + 2) % 8] % 3)
                for i, lane in enumerate(lanes[sender])
            }
            for lane in lanes[sender]:
                totals[sender][lane] += amounts[lane]
                observed[sender][lane] += durations[lane]
                depths[sender][lane] += depth[lane]
            if what == "reset" and not delta:
                totals[sender][lanes[sender][0]] = 0.0
                observed[sender][lanes[sender][0]] = []
                depths[sender][lanes[sender][0]] = []
            counter = sum_metric(
                "openclaw.queue.lane.enqueue",
                [({"openclaw.lane": lane}, amounts[lane] if delta else totals[sender][lane]) for lane in lanes[sender]],
                start=times[sender] - 1_000 if delta else starts[sender],
                time=times[sender],
                temporality=DELTA if delta else CUMULATIVE,
            )
            waits = histogram_metric(
                "openclaw.queue.wait_ms",
                [
                    ({"openclaw.lane": lane}, durations[lane] if delta else observed[sender][lane])
                    for lane in lanes[sender]
                ],
                start=times[sender] - 1_000 if delta else starts[sender],
                time=times[sender],
                temporality=DELTA if delta else CUMULATIVE,
            )
            queued = histogram_metric(
                "openclaw.queue.depth",
                [({"openclaw.lane": lane}, depth[lane] if delta else depths[sender][lane]) for lane in lanes[sender]],
                start=times[sender] - 1_000 if delta else starts[sender],
                time=times[sender],
                temporality=DELTA if delta else CUMULATIVE,
                unit="1",
            )
            victim = pick % len(lanes[sender])
            if what == "nan":
                waits.histogram.data_points[victim].sum = math.nan
            elif what == "negative":
                counter.sum.data_points[victim].as_double = -1.0
            elif what == "miscount":
                waits.histogram.data_points[victim].count += 1
            request = last[sender] = metrics_request(
                counter, waits, queued, resource={**GATEWAY, "process.pid": sender}
            )
        body = request.SerializeToString() + (b"\x78\x01" if pick == 3 else b"")  # sometimes an unknown field 15
        fast_result, slow_result = fast.apply(request, now, body), slow.apply(request, now)
        assert (fast_result.accepted, fast_result.rejected, fast_result.reasons) == (
            slow_result.accepted,
            slow_result.rejected,
            slow_result.reasons,
        ), (number, kind, what)
    assert render(fast_store, Format.TEXT) == render(slow_store, Format.TEXT)
    assert render(fast_store, Format.OPENMETRICS) == render(slow_store, Format.OPENMETRICS)
