"""Names for metrics the OpenClaw mapping does not know, by Prometheus's own OTLP rules (``prometheus/otlptranslator``,
strategy ``UnderscoreEscapingWithSuffixes``, the default of Prometheus's OTLP receiver).

Most rows are Prometheus's own test cases (``metric_namer_test.go``, ``label_namer_test.go``, with suffixes, without
UTF-8 and without a namespace); the others state the rules where the bridge met them: units trimmed, special
characters in units, one OTLP name sent with two units or two kinds."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from opentelemetry.proto.metrics.v1 import metrics_pb2
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

from otlp_bridge.expose.exposition import Format, render
from otlp_bridge.store import Store
from otlp_bridge.translate.labels import sanitize_label_name
from otlp_bridge.translate.metrics import MetricsTranslator, TranslateOptions
from otlp_bridge.translate.naming import metric_name, unit_word
from otlp_bridge.translate.result import Reason
from tests.support import AttributeValue, histogram_metric, key_values, metrics_request, sum_metric

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"

# (OTLP name, unit, kind, Prometheus name, unit word), from Prometheus's metric_namer_test.go.
PROMETHEUS_CASES = [
    ("requests", "", COUNTER, "requests_total", ""),
    ("cpu_usage", "1", GAUGE, "cpu_usage_ratio", ""),
    ("items", "1", COUNTER, "items_total", ""),
    ("response_time", "ms", GAUGE, "response_time_milliseconds", "milliseconds"),
    ("memory_usage", "By", GAUGE, "memory_usage_bytes", "bytes"),
    ("requests", "1/s", GAUGE, "requests_per_second", "per_second"),
    ("throughput", "By/s", GAUGE, "throughput_bytes_per_second", "bytes_per_second"),
    ("custom_metric", "custom_unit", GAUGE, "custom_metric_custom_unit", "custom_unit"),
    ("custom_metric", "{custom}", GAUGE, "custom_metric", ""),
    ("custom_metric", "By/{custom}", GAUGE, "custom_metric_bytes", "bytes"),
    ("requests_total", "", COUNTER, "requests_total", ""),
    ("cpu_usage_ratio", "1", GAUGE, "cpu_usage_ratio", ""),
    ("response_time_seconds", "s", GAUGE, "response_time_seconds", "seconds"),
    (
        "metric__with__multiple__underscores",
        "unit__multiple__underscores",
        GAUGE,
        "metric_with_multiple_underscores_unit_multiple_underscores",
        "unit_multiple_underscores",
    ),
    ("custom_metric", "unit@with#special/chars", GAUGE, "custom_metric_unit_with_special_per_chars", ""),
    ("@#$%", "", GAUGE, "", ""),
    ("request_duration", "s", HISTOGRAM, "request_duration_seconds", "seconds"),
    ("active_connections", "", GAUGE, "active_connections", ""),
    ("uptime", "d", GAUGE, "uptime_days", "days"),
    ("duration", "h", GAUGE, "duration_hours", "hours"),
    ("timeout", "min", GAUGE, "timeout_minutes", "minutes"),
    ("latency", "us", GAUGE, "latency_microseconds", "microseconds"),
    ("precision_time", "ns", GAUGE, "precision_time_nanoseconds", "nanoseconds"),
    ("cache_size", "KiBy", GAUGE, "cache_size_kibibytes", "kibibytes"),
    ("memory", "MiBy", GAUGE, "memory_mebibytes", "mebibytes"),
    ("storage", "GiBy", GAUGE, "storage_gibibytes", "gibibytes"),
    ("capacity", "TiBy", GAUGE, "capacity_tibibytes", "tibibytes"),
    ("transfer", "KBy", GAUGE, "transfer_kilobytes", "kilobytes"),
    ("download", "MBy", GAUGE, "download_megabytes", "megabytes"),
    ("backup", "GBy", GAUGE, "backup_gigabytes", "gigabytes"),
    ("archive", "TBy", GAUGE, "archive_terabytes", "terabytes"),
    ("distance", "m", GAUGE, "distance_meters", "meters"),
    ("voltage", "V", GAUGE, "voltage_volts", "volts"),
    ("current", "A", GAUGE, "current_amperes", "amperes"),
    ("energy", "J", GAUGE, "energy_joules", "joules"),
    ("power", "W", GAUGE, "power_watts", "watts"),
    ("weight", "g", GAUGE, "weight_grams", "grams"),
    ("temperature", "Cel", GAUGE, "temperature_celsius", "celsius"),
    ("frequency", "Hz", GAUGE, "frequency_hertz", "hertz"),
    ("cpu_usage", "%", GAUGE, "cpu_usage_percent", "percent"),
    ("requests", "1/m", GAUGE, "requests_per_minute", "per_minute"),
    ("events", "1/h", GAUGE, "events_per_hour", "per_hour"),
    ("transactions", "1/d", GAUGE, "transactions_per_day", "per_day"),
    ("reports", "1/w", GAUGE, "reports_per_week", "per_week"),
    ("invoices", "1/mo", GAUGE, "invoices_per_month", "per_month"),
    ("renewals", "1/y", GAUGE, "renewals_per_year", "per_year"),
    ("custom", "1/custom_unit", GAUGE, "custom_per_custom_unit", "per_custom_unit"),
    ("metric", "By/", GAUGE, "metric_bytes", "bytes"),
    ("metric", " By / s ", GAUGE, "metric_bytes_per_second", "bytes_per_second"),
    ("metric", "/", GAUGE, "metric", ""),
    ("http.request.duration", "ms", HISTOGRAM, "http_request_duration_milliseconds", "milliseconds"),
    ("http.requests", "1", COUNTER, "http_requests_total", ""),
    # The same tokenising as Prometheus's cases without suffixes (no unit, not a counter, so nothing is added).
    ("metric@with#special$chars", "", GAUGE, "metric_with_special_chars", ""),
    ("metric@@##$$name", "", GAUGE, "metric_name", ""),
    ("123metric", "", GAUGE, "_123metric", ""),
]

# The rules as the issue and the OTel specification state them, and what OpenClaw sends.
RULE_CASES = [
    ("net.io", "By / s", GAUGE, "net_io_bytes_per_second", "bytes_per_second"),  # units are trimmed
    ("net.io", "  By\t", GAUGE, "net_io_bytes", "bytes"),
    ("disk.io", "kB@disk/s", GAUGE, "disk_io_kB_disk_per_second", "kB_disk_per_second"),  # special characters → _
    ("build.info", "{packets}", GAUGE, "build_info", ""),
    ("build.info", "packets", GAUGE, "build_info_packets", "packets"),
    ("jobs.total", "", COUNTER, "jobs_total", ""),  # a "total" token moves to the end, once
    ("total.jobs", "", COUNTER, "jobs_total", ""),
    ("openclaw.run.duration_ms", "ms", HISTOGRAM, "openclaw_run_duration_ms_milliseconds", "milliseconds"),
    ("gen_ai.client.token.usage", "{token}", HISTOGRAM, "gen_ai_client_token_usage", ""),
    ("openclaw.liveness.event_loop_utilization", "1", HISTOGRAM, "openclaw_liveness_event_loop_utilization", ""),
    ("process.cpu.utilization", "1", GAUGE, "process_cpu_utilization_ratio", ""),
]


@pytest.mark.parametrize(("name", "unit", "kind", "expected", "word"), PROMETHEUS_CASES + RULE_CASES)
def test_metric_names_follow_prometheus(name: str, unit: str, kind: str, expected: str, word: str) -> None:
    assert metric_name(name, unit, counter=kind == COUNTER, gauge=kind == GAUGE) == expected
    if expected and "@" not in unit:  # Prometheus's own case with "@" checks the name only
        assert unit_word(unit) == word
        assert word in expected


# (attribute key, label name) from Prometheus's label_namer_test.go, with the underscore sanitisation its OTLP
# receiver applies by default (label_name_underscore_sanitization: true); None: no label.
LABEL_CASES = [
    ("label:with:colons", "label_with_colons"),
    ("LabelWithCapitalLetters", "LabelWithCapitalLetters"),
    ("label!with&special$chars)", "label_with_special_chars_"),
    ("label_with_foreign_characters_字符", "label_with_foreign_characters___"),
    ("label.with.dots", "label_with_dots"),
    ("123label", "key_123label"),
    ("_label_starting_with_underscore", "key_label_starting_with_underscore"),
    ("regular label", "regular_label"),
    ("ようこそ", None),
    ("", None),
    ("__", None),
    # The one deviation: Prometheus keeps its reserved "__" prefix; the bridge never lets a sender write one.
    ("__label_starting_with_2underscores", "key__label_starting_with_2underscores"),
    ("__name__", "key__name__"),
    ("openclaw.channel", "openclaw_channel"),
]


@pytest.mark.parametrize(("key", "label"), LABEL_CASES)
def test_attribute_keys_follow_prometheus_label_sanitisation(key: str, label: str | None) -> None:
    assert sanitize_label_name(key) == label


# -- through the translator ---------------------------------------------------------------------------------------
def _gauge(
    name: str, unit: str, value: float, attributes: Mapping[str, AttributeValue] | None = None
) -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=name, unit=unit)
    point = metric.gauge.data_points.add(time_unix_nano=2_000, as_double=value)
    point.attributes.extend(key_values(attributes or {}))
    return metric


def _translate(*metrics: metrics_pb2.Metric) -> tuple[Store, list[dict[Reason, int]]]:
    store = Store(2048, 2048, 600)
    translator = MetricsTranslator(store, TranslateOptions())
    reasons = []
    for metric in metrics:
        result = translator.apply(metrics_request(metric, scope="other"), now=1.0)
        reasons.append(dict(result.reasons))
    return store, reasons


def _text_samples(store: Store) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in parse_text(render(store, Format.TEXT))
        for sample in family.samples
    }


def test_one_name_with_two_units_makes_two_families() -> None:
    store, reasons = _translate(
        sum_metric("net.sent", [({}, 3.0)], unit="{packets}"),
        sum_metric("net.sent", [({}, 5.0)], unit="packets", start=1_500),
        _gauge("queue.size", "{items}", 2.0),
        _gauge("queue.size", "By", 7.0),
    )
    assert reasons == [{}, {}, {}, {}]
    assert {name: family.info.unit for name, family in store.families.items()} == {
        "net_sent_total": "",
        "net_sent_packets_total": "packets",
        "queue_size": "",
        "queue_size_bytes": "bytes",
    }
    samples = _text_samples(store)
    assert samples[("net_sent_total", frozenset())] == 3.0
    assert samples[("net_sent_packets_total", frozenset())] == 5.0
    assert samples[("queue_size", frozenset())] == 2.0
    assert samples[("queue_size_bytes", frozenset())] == 7.0


def test_one_name_with_two_kinds_makes_two_families_and_both_formats_stay_valid() -> None:
    """A counter ``jobs`` (``jobs_total``) beside a gauge ``jobs``: two names by the rules, both kept. In OpenMetrics,
    where the counter's family would also be ``jobs``, the counter is an ``unknown`` family named ``jobs_total``."""
    store, reasons = _translate(sum_metric("jobs", [({}, 4.0)]), _gauge("jobs", "", 9.0))
    assert reasons == [{}, {}]
    assert {name: family.info.kind.name for name, family in store.families.items()} == {
        "jobs_total": "COUNTER",
        "jobs": "GAUGE",
    }
    text = render(store, Format.TEXT)
    assert "# TYPE jobs_total counter\njobs_total 4\n" in text
    assert "# TYPE jobs gauge\njobs 9\n" in text
    openmetrics = render(store, Format.OPENMETRICS) + "# EOF\n"
    families = {f.name: f for f in parse_openmetrics(openmetrics)}  # type: ignore[no-untyped-call]  # strict parser
    assert families["jobs"].type == "gauge"
    assert families["jobs_total"].type == "unknown"
    assert [(s.name, s.value) for s in families["jobs_total"].samples] == [("jobs_total", 4.0)]


def test_one_prometheus_name_for_two_types_keeps_the_first() -> None:
    """A gauge and a histogram both named ``latency`` cannot share a page (one TYPE line per name): the later one
    is refused, as the OTel specification requires, and counted."""
    store, reasons = _translate(_gauge("latency", "", 1.0), histogram_metric("latency", [({}, [2.0])], unit=""))
    assert reasons == [{}, {"invalid": 1}]
    assert store.families["latency"].info.kind.name == "GAUGE"


def test_a_name_with_nothing_valid_is_refused() -> None:
    _, reasons = _translate(_gauge("@#$%", "", 1.0))
    assert reasons == [{"invalid": 1}]


def test_attribute_keys_that_sanitise_alike_share_one_label() -> None:
    """Prometheus joins their values with ``;`` in the order of the original keys; a key with nothing valid is
    no label."""
    store, reasons = _translate(
        _gauge("doors", "", 1.0, {"http_method": "b", "http.method": "a", "ようこそ": "x", "2x": "y"})
    )
    assert reasons == [{}]
    assert _text_samples(store) == {("doors", frozenset({("http_method", "a;b"), ("key_2x", "y")})): 1.0}
    many = {f"k{mark}x": "v" * 60 for mark in ".-:"}  # k.x, k-x, k:x are all k_x: 3 × 60 characters joined
    store, _ = _translate(_gauge("doors", "", 1.0, many))
    assert _text_samples(store) == {("doors", frozenset({("k_x", "unknown")})): 1.0}


def test_the_official_families_keep_their_names() -> None:
    """The OpenClaw mapping is not generic naming: ``openclaw.run.duration_ms`` in scope ``openclaw`` stays
    ``openclaw_run_duration_seconds``, whatever Prometheus's rules would call it."""
    store = Store(2048, 2048, 600)
    translator = MetricsTranslator(store, TranslateOptions())
    run = {"openclaw.outcome": "completed", "openclaw.provider": "p", "openclaw.model": "m", "openclaw.channel": "c"}
    translator.apply(metrics_request(histogram_metric("openclaw.run.duration_ms", [(run, [4.0])])), now=1.0)
    assert set(store.families) == {"openclaw_run_completed_total", "openclaw_run_duration_seconds"}
