"""The README is a promise: every option, environment variable, endpoint and family it must name is there."""

from __future__ import annotations

import re

from otlp_bridge.config import OPTIONS
from otlp_bridge.mapping import METRIC_SPECS, family_names
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_starts_with_the_install_and_test_commands() -> None:
    """The first code block installs and runs the bridge, then runs the tests."""
    block = README.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    assert commands == ["pip install . && otlp-bridge", "pip install -e '.[test]' && python -m pytest"]


def test_every_option_and_environment_variable_is_documented() -> None:
    """Each command-line option appears with its environment variable and YAML key."""
    for option in OPTIONS:
        key = option.name.replace("-", "_")
        row = next((line for line in README.splitlines() if line.startswith(f"| `--{option.name}")), None)
        assert row is not None, option.name
        assert f"`OTLP_BRIDGE_{key.upper()}`" in row
        assert f"`{key}`" in row
    for flag in ("--config FILE", "--check-config", "--version"):
        assert f"`{flag}`" in README


def test_every_family_is_documented() -> None:
    """Every family the bridge can expose is named in the README."""
    missing = [name for name in sorted(family_names()) if name not in README and not name.startswith("process_")]
    assert missing == []


def test_mapping_table_lists_every_metric_family_once() -> None:
    """The mapping table has one row per translated family."""
    rows = re.findall(r"^\| `(openclaw_[a-z0-9_]+)` \|", README, flags=re.MULTILINE)
    assert len(rows) == len(set(rows))
    assert set(rows) >= {spec.name for spec in METRIC_SPECS}


def test_every_endpoint_is_documented() -> None:
    """The OTLP paths and every scrape-listener path appear."""
    for path in (
        "/v1/metrics",
        "/v1/traces",
        "/v1/logs",
        "/metrics",
        "/api/diagnostics/prometheus",
        "/metrics/health",
        "/metrics/per-object",
        "/metrics/detailed",
        "/healthz",
        "/readyz",
    ):
        assert re.search(rf"[` ]{re.escape(path)}[`? ,]", README), path
