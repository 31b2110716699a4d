"""--metric-name-prefix as the docs say: refused without its separator, the official families empty on a mismatch,
unmatched OpenClaw metrics under generic names outside the official namespace, and a throttled warning."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from structlog.testing import capture_logs

from otlp_bridge.config import Config, build_parser, load_config
from otlp_bridge.errors import ConfigError
from otlp_bridge.receive.codec import Signal
from otlp_bridge.server import Bridge
from otlp_bridge.store import Store
from otlp_bridge.translate.metrics import MetricsTranslator, TranslateOptions, sender_prefix
from tests.support import histogram_metric, metrics_request, sum_metric

STATE = {"openclaw.state": "idle", "openclaw.reason": "run_completed"}
RUN = {"openclaw.outcome": "completed", "openclaw.provider": "p", "openclaw.model": "m", "openclaw.channel": "c"}


@pytest.mark.parametrize(
    ("prefix", "error"),
    [
        ("acme", "did you mean 'acme.'"),
        ("1acme.", "an ASCII letter first"),
        ("acme prod.", "letters, digits"),
        ("a" * 128 + ".", "at most 128"),
        ("acme.", None),
        ("acme_", None),
        ("acme.openclaw.", None),
        ("", None),
    ],
)
def test_prefix_needs_its_separator_and_openclaws_characters(prefix: str, error: str | None) -> None:
    args = build_parser().parse_args(["--metric-name-prefix", prefix])
    if error is None:
        assert load_config(args, {}).metric_name_prefix == prefix
        return
    with pytest.raises(ConfigError, match="--metric-name-prefix") as raised:
        load_config(args, {})
    assert error in str(raised.value)


def _default_gateway() -> ExportMetricsServiceRequest:
    return metrics_request(
        sum_metric("openclaw.session.state", [(STATE, 3.0)]),
        sum_metric("openclaw.tokens", [({**RUN, "openclaw.token": "input"}, 9.0)]),
        histogram_metric("openclaw.run.duration_ms", [(RUN, [10.0])]),
        histogram_metric("gen_ai.client.token.usage", [({}, [3.0])], unit="{token}"),
    )


def test_a_prefix_mismatch_leaves_the_official_families_empty() -> None:
    """A bridge expecting acme. and a gateway with the default prefix: no openclaw_* family at all but the one fed by
    gen_ai.* (which never takes the prefix); the OpenClaw metrics land under unmapped_openclaw_* names."""
    store = Store(2048, 1024, ttl=600)
    translator = MetricsTranslator(store, TranslateOptions(metric_name_prefix="acme."))
    result = translator.apply(_default_gateway(), now=1.0)
    assert result.rejected == 0
    names = set(store.families)
    assert {name for name in names if name.startswith("openclaw_")} == {"openclaw_gen_ai_client_token_usage"}
    assert {"unmapped_openclaw_session_state_total", "unmapped_openclaw_tokens_total"} <= names
    labels = dict(next(iter(store.families["unmapped_openclaw_session_state_total"].series)))
    assert labels == {"openclaw_reason": "run_completed", "openclaw_state": "idle"}
    assert result.unprefixed.startswith("openclaw.")
    assert sender_prefix(result.unprefixed) == "openclaw."


def test_matching_prefix_and_other_senders_raise_no_mismatch() -> None:
    """With the right prefix, or from a scope other than OpenClaw's, nothing is reported; an unknown metric with the
    right prefix is a new metric, not a mismatch."""
    store = Store(2048, 1024, ttl=600)
    translator = MetricsTranslator(store, TranslateOptions())
    assert translator.apply(_default_gateway(), now=1.0).unprefixed == ""
    foreign = metrics_request(sum_metric("acme.widgets", [({}, 1.0)]), scope="acme")
    assert translator.apply(foreign, now=1.0).unprefixed == ""
    newer = metrics_request(sum_metric("openclaw.brand.new", [({}, 1.0)]))
    assert translator.apply(newer, now=1.0).unprefixed == ""
    assert "unmapped_openclaw_brand_new_total" in store.families


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("otlp_bridge.series", "gauge", "unmapped_otlp_bridge_series"),
        ("process.cpu.seconds", "sum", "unmapped_process_cpu_seconds_total"),
        ("process.cpu.time", "sum", "process_cpu_time_total"),
        ("acme.widgets", "sum", "acme_widgets_total"),
    ],
)
def test_generic_names_never_take_the_bridges_own(name: str, kind: str, expected: str) -> None:
    """A foreign metric whose standard name would be a self-metric's (or in otlp_bridge_*) gets unmapped_ in front;
    others keep the standard name."""
    bridge = Bridge(Config())
    metric = sum_metric(name, [({}, 1.0)], monotonic=kind == "sum", unit="")
    bridge.translators.apply(metrics_request(metric, scope="foreign"), now=1.0)
    assert set(bridge.store.families) == {expected}


def test_the_mismatch_warning_is_throttled() -> None:
    """Every request from a gateway with another prefix would warn; one line per 10 s gets through."""
    bridge = Bridge(Config(metric_name_prefix="acme."))
    with capture_logs() as logs:
        for now in range(5):
            bridge.receiver.ingest(Signal.METRICS, _default_gateway(), float(now))
    warnings = [entry for entry in logs if entry["event"] == "metric_name_prefix_mismatch"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert (warnings[0]["metric_name_prefix"], warnings[0]["sender_prefix"]) == ("acme.", "openclaw.")
