"""Expiry under ``--series-ttl``: a delta stream lives as long as its sender, a cumulative stream only while re-sent.

A delta exporter (the OpenTelemetry SDKs with ``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta``) sends no
point for a counter or histogram that did not move, so the bridge must keep its running total while the sender sends
anything else; the official plugin keeps it for the life of the process."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from otlp_bridge.expose.exposition import Format, render
from otlp_bridge.store import HistogramSeries, ScalarSeries, Store
from otlp_bridge.translate.metrics import MetricsTranslator, TranslateOptions
from otlp_bridge.translate.senders import sender_id
from tests.support import (
    CUMULATIVE,
    DELTA,
    USAGE_ATTRIBUTES,
    USAGE_LABELS,
    bridge_process,
    find,
    histogram_metric,
    metrics_request,
    parse_exposition,
    scrape,
    sum_metric,
)
from tests.test_exporters import JS_DIR, require_js

TTL = 600.0
TICK = 60.0  # the expiry timer, in the translator tests
TOKENS = "openclaw_model_tokens_total"
RUNS = "openclaw_run_duration_seconds"
RUN_ATTRIBUTES = {
    "openclaw.channel": "webchat",
    "openclaw.provider": "fakeai",
    "openclaw.model": "fake-model",
    "openclaw.outcome": "completed",
}


def export(sender: str, what: str, at: float) -> ExportMetricsServiceRequest:
    """One export of ``sender`` at ``at`` seconds: ``tokens`` (5 input tokens, delta), ``tokens-cumulative`` (a
    running total of 5), ``run`` (one 1.5 s run, delta) or ``other`` (an unrelated counter that keeps moving)."""
    time_ns = int(at * 1e9) + 1
    tokens = [({**USAGE_ATTRIBUTES, "openclaw.token": "input"}, 5.0)]
    metric = {
        "tokens": lambda: sum_metric("openclaw.tokens", tokens, start=time_ns - 1, time=time_ns, temporality=DELTA),
        "tokens-cumulative": lambda: sum_metric("openclaw.tokens", tokens, time=time_ns, temporality=CUMULATIVE),
        "run": lambda: histogram_metric(
            "openclaw.run.duration_ms", [(RUN_ATTRIBUTES, [1500])], time=time_ns, temporality=DELTA
        ),
        "other": lambda: sum_metric("gateway.heartbeats", [({}, at + 1)], time=time_ns, temporality=CUMULATIVE),
    }[what]()
    return metrics_request(metric, resource={"service.name": "openclaw-gateway", "host.name": sender})


@dataclass(frozen=True)
class Case:
    name: str
    sends: Sequence[tuple[float, str, str]]  # (seconds, sender, what: see ``export``)
    until: float  # the expiry timer runs every TICK seconds up to here
    tokens: float | None  # the input-token series' value then (None: expired)
    runs: float | None = None  # the run-duration histogram's count then
    source_label: str | None = None  # with it, ``tokens`` is the series of ``sender``
    sender: str = "a"


def heartbeat(sender: str, start: float, stop: float) -> list[tuple[float, str, str]]:
    """``sender`` exporting its other counter every 30 s from ``start`` to ``stop``."""
    return [(start + 30 * n, sender, "other") for n in range(int((stop - start) // 30) + 1)]


CASES = [
    Case("delta counter, sender alive past the TTL", [(0, "a", "tokens"), *heartbeat("a", 30, 1500)], 1500, 5),
    Case("delta counter, sender silent past the TTL", [(0, "a", "tokens"), *heartbeat("a", 30, 300)], 1500, None),
    Case(
        "delta counter and histogram, sender alive",
        [(0, "a", "tokens"), (10, "a", "run"), *heartbeat("a", 30, 1500)],
        1500,
        5,
        runs=1,
    ),
    Case(
        "delta counter moving again adds up",
        [(0, "a", "tokens"), *heartbeat("a", 30, 1500), (1500, "a", "tokens")],
        1500,
        10,
    ),
    Case(
        "delta counter taken by the fast path, sender alive",
        [(10, "a", "tokens"), (20, "a", "tokens"), *heartbeat("a", 30, 1500)],  # (time 0: no start field)
        1500,
        10,
    ),
    Case(
        "cumulative counter no longer sent, sender alive",
        [(0, "a", "tokens-cumulative"), *heartbeat("a", 30, 1500)],
        1500,
        None,
    ),
    Case(
        "two delta senders, one series: one alive keeps it",
        [(0, "a", "tokens"), (5, "b", "tokens"), *heartbeat("b", 30, 1500)],
        1500,
        10,
    ),
    Case(
        "two delta senders, one series: both silent",
        [(0, "a", "tokens"), (5, "b", "tokens"), *heartbeat("b", 30, 300)],
        1500,
        None,
    ),
    Case(
        "two delta senders, own series: the silent one's goes",
        [(0, "a", "tokens"), (5, "b", "tokens"), *heartbeat("b", 30, 1500)],
        1500,
        None,
        source_label="gateway",
    ),
    Case(
        "two delta senders, own series: the live one's stays",
        [(0, "a", "tokens"), (5, "b", "tokens"), *heartbeat("b", 30, 1500)],
        1500,
        5,
        source_label="gateway",
        sender="b",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_expiry(case: Case) -> None:
    store = Store(max_series=100, max_series_per_family=100, ttl=TTL)
    translator = MetricsTranslator(store, TranslateOptions(source_label=case.source_label))
    sends = sorted(case.sends)
    tick = 0.0
    while tick <= case.until:
        while sends and sends[0][0] <= tick:
            at, sender, what = sends.pop(0)
            result = translator.apply(export(sender, what, at), at)
            assert result.rejected == 0, case.name
        translator.expire(tick)
        tick += TICK
    labels = (*sorted({**USAGE_LABELS, "token_type": "input"}.items()),)
    if case.source_label:
        labels = tuple(sorted((*labels, (case.source_label, f"openclaw-gateway:{case.sender}"))))
    families = store.families
    tokens = families[TOKENS].series.get(labels) if TOKENS in families else None
    assert (tokens.value if isinstance(tokens, ScalarSeries) else None) == case.tokens
    runs = (
        [s.count for s in families[RUNS].series.values() if isinstance(s, HistogramSeries)] if RUNS in families else []
    )
    assert (runs[0] if runs else None) == case.runs


# -- the JS SDK (what OpenClaw ships) in delta mode --------------------------------------------------------------

SERIES_TTL = 2.0  # the bridge's expiry timer then runs every 0.5 s


async def test_js_delta_counter_lives_as_long_as_its_sender() -> None:
    """tests/js/quiet.mjs adds tokens once and records a run before every export for 2.5 TTLs: the SDK exports the
    counter once, and its total stays while runs arrive; once the sender is silent for the TTL, both go."""
    node = require_js()
    seconds = 2.5 * SERIES_TTL
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    run_labels = {"channel": "webchat", "provider": "fakeai", "model": "fake-model", "outcome": "completed"}
    with bridge_process("--series-ttl", str(SERIES_TTL)) as child:
        process = await asyncio.create_subprocess_exec(
            node,
            str(JS_DIR / "quiet.mjs"),
            "--endpoint",
            child.otlp_url,
            "--seconds",
            str(seconds),
            cwd=JS_DIR,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30 + seconds)
        assert process.returncode == 0, stderr.decode()
        summary = json.loads(stdout.decode().strip().splitlines()[-1])
        exports = summary["exports"]
        assert sum("openclaw.tokens" in names for names in exports) == 1, exports  # delta: once, never again
        assert sum("openclaw.run.duration_ms" in names for names in exports) >= 10, exports

        async with aiohttp.ClientSession() as session:
            samples = await scrape(session, child.metrics_url)
            assert find(samples, TOKENS, token_type="input", **USAGE_LABELS) == 100
            assert find(samples, f"{RUNS}_count", **run_labels) == summary["runs"]

            await asyncio.sleep(SERIES_TTL + 2.5)  # the sender silent for the TTL, and a timer tick or two
            samples = await scrape(session, child.metrics_url)
        assert find(samples, TOKENS, token_type="input", **USAGE_LABELS) is None
        assert find(samples, f"{RUNS}_count", **run_labels) is None


def test_expiry_in_slices_keeps_what_arrives_between_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """``expire_steps`` pauses every few entries (the server lets requests in there). A sender heard in any pause,
    whether its entries were visited before it or come after, keeps its streams, its export and its series, and its
    next export adds only what it grew by; the silent senders' state all goes."""
    from otlp_bridge.translate import metrics  # noqa: PLC0415

    monkeypatch.setattr(metrics, "EXPIRY_SLICE", 2)

    def export(translator: MetricsTranslator, sender: int, total: float, time: int) -> None:
        request = metrics_request(
            sum_metric("openclaw.queue.lane.enqueue", [({"openclaw.lane": "main"}, total)], start=1, time=time),
            histogram_metric("openclaw.queue.wait_ms", [({"openclaw.lane": "main"}, [5.0])], start=1, time=time),
            resource={"service.name": "openclaw", "host.name": f"gw-{sender}"},
        )
        translator.apply(request, float(time), request.SerializeToString())

    def _sender_of(sender: int) -> bytes:
        request = metrics_request(resource={"service.name": "openclaw", "host.name": f"gw-{sender}"})
        return sender_id(request.resource_metrics[0].resource.SerializeToString())

    def fleet() -> MetricsTranslator:
        translator = MetricsTranslator(Store(10_000, 10_000, ttl=TTL), TranslateOptions())
        for sender in range(6):
            export(translator, sender, 10.0, 0)
            export(translator, sender, 10.0, 1)
        assert len(translator.exports) == 6
        return translator

    pauses = sum(1 for _ in fleet().expire_steps(TTL + 100))
    assert pauses > 10
    for returning in (0, 5):  # its entries first in every table, or last
        for pause in range(pauses + 1):
            translator = fleet()
            steps = translator.expire_steps(TTL + 100)
            for _ in range(pause):
                next(steps)
            # Judged when visited: if its counter's stream already went, it comes back new (its whole total).
            stream = (_sender_of(returning), "openclaw", "openclaw.queue.lane.enqueue")
            known = any(key[0][:3] == stream for key in translator.stream_keys())
            export(translator, returning, 12.0, int(TTL + 100))  # heard in this pause
            assert metrics.drained(steps) == 0  # the series are shared by all six, and one of them is alive
            export(translator, returning, 15.0, int(TTL + 101))
            senders = {key[0] for key in translator.known}
            assert len(senders) == 1, (returning, pause)
            assert {key[0][0] for key in translator.stream_keys()} == senders
            assert set(translator.export_keys) <= senders
            samples = parse_exposition(render(translator.store, Format.TEXT))
            grew = 2.0 if known else 12.0
            assert find(samples, "openclaw_queue_lane_enqueue_total", lane="main") == 6 * 10.0 + grew + 3.0, pause
