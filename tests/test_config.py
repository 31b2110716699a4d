"""Options from the command line, the environment and a YAML file: parsing, precedence and the errors they give."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from otlp_bridge import cli
from otlp_bridge.config import Config, ListenAddress, build_parser, load_config
from otlp_bridge.errors import ConfigError
from otlp_bridge.log import LogFormat, LogLevel


def load(argv: list[str], environ: dict[str, str] | None = None) -> Config:
    return load_config(build_parser().parse_args(argv), environ or {})


@pytest.mark.parametrize(
    ("argv", "field", "expected"),
    [
        (["--otlp-listen", "0.0.0.0:4318"], "otlp_listen", ListenAddress("0.0.0.0", 4318)),
        (["--otlp-listen", "[::1]:0"], "otlp_listen", ListenAddress("::1", 0)),
        (["--max-series", "10"], "max_series", 10),
        (["--max-series", "10"], "max_series_per_family", 10),  # follows the global cap unless set
        (["--max-series", "10", "--max-series-per-family", "3"], "max_series_per_family", 3),
        (["--series-ttl", "0.5"], "series_ttl", 0.5),
        (["--spans-complete"], "spans_complete", True),
        (["--log-format", "console"], "log_format", LogFormat.CONSOLE),
        (["--log-level", "DEBUG"], "log_level", LogLevel.DEBUG),
        (["--source-label", "gateway"], "source_label", "gateway"),
        (["--source-label", " "], "source_label", None),
        (
            ["--source-attributes", "service.name, host.name ,k8s.pod.name"],
            "source_attributes",
            ("service.name", "host.name", "k8s.pod.name"),
        ),
        (["--ingest-token-header", "X-Token"], "ingest_token_header", "X-Token"),
    ],
)
def test_an_option_is_parsed_into_its_field(argv: list[str], field: str, expected: object) -> None:
    assert getattr(load(argv), field) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--otlp-listen", "4318"], "--otlp-listen: expected HOST:PORT"),
        (["--otlp-listen", "host:70000"], "--otlp-listen: port out of range"),
        (["--max-series", "0"], "--max-series: must be at least 1"),
        (["--series-ttl", "-1"], "--series-ttl: must be greater than 0"),
        (["--log-format", "xml"], "--log-format: must be one of json, console, got 'xml'"),
        (["--log-level", "trace"], "--log-level: must be one of debug, info, warning, error"),
        (["--source-label", "1bad"], "not a Prometheus label name"),
        (["--source-label", "job"], "a label Prometheus sets on every scraped series"),
        (["--tls-cert-file", "cert.pem"], "--tls-cert-file and --tls-key-file go together"),
        (["--otlp-listen", "127.0.0.1:9000", "--metrics-listen", "127.0.0.1:9000"], "are the same address"),
        (["--no-such-option"], "unrecognized arguments"),
    ],
)
def test_a_bad_option_is_one_config_error_naming_it(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(argv)
    assert message in str(raised.value)


def test_command_line_beats_environment_beats_file(tmp_path: Path) -> None:
    config_file = tmp_path / "bridge.yaml"
    config_file.write_text(yaml.safe_dump({"max_series": 30, "max-streams": 300, "series_ttl": 3.0}))
    environ = {"OTLP_BRIDGE_MAX_SERIES": "20", "OTLP_BRIDGE_MAX_STREAMS": "200"}
    config = load(["--config", str(config_file), "--max-series", "10"], environ)
    assert (config.max_series, config.max_streams, config.series_ttl) == (10, 200, 3.0)


def test_the_environment_names_the_config_file(tmp_path: Path) -> None:
    config_file = tmp_path / "bridge.yaml"
    config_file.write_text("spans_complete: true\nsource_attributes: [service.name]\n")
    config = load([], {"OTLP_BRIDGE_CONFIG": str(config_file)})
    assert config.spans_complete is True
    assert config.source_attributes == ("service.name",)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTLP_BRIDGE_MAX_SERIE": "1"}, "unknown environment variable OTLP_BRIDGE_MAX_SERIE (did you mean "),
        ({"OTLP_BRIDGE_NOTHING_LIKE_IT": "1"}, "(not an option; see otlp-bridge --help)"),
        ({"OTLP_BRIDGE_MAX_SERIES": "many"}, "OTLP_BRIDGE_MAX_SERIES: invalid literal"),
    ],
)
def test_a_misspelled_or_bad_environment_variable_is_an_error(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load([], environ)
    assert message in str(raised.value)


def test_service_links_and_the_tools_own_variables_are_not_options() -> None:
    environ = {
        "OTLP_BRIDGE_SERVICE_HOST": "10.0.0.1",
        "OTLP_BRIDGE_PORT_4318_TCP": "tcp://x",
        "OTLP_BRIDGE_REQUIRE_TOOLS": "1",
    }
    assert load([], environ) == Config()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("max_seris: 5\n", "unknown config key 'max_seris' (did you mean max_series?)"),
        ("- a\n- b\n", "must be a mapping of option names to values"),
        ("max_series: [1\n", "is not valid YAML"),
        ("remote_write: {url: x}\n", "'remote_write' must be a list of mappings"),
    ],
)
def test_a_bad_config_file_is_an_error(tmp_path: Path, document: str, message: str) -> None:
    config_file = tmp_path / "bridge.yaml"
    config_file.write_text(document)
    with pytest.raises(ConfigError) as raised:
        load(["--config", str(config_file)])
    assert message in str(raised.value)


def test_the_effective_configuration_read_back_is_the_same(tmp_path: Path) -> None:
    """``--check-config`` prints ``describe()``; as a config file it gives the same configuration."""
    config = load(
        [
            "--otlp-listen", "[::]:4318",
            "--max-series", "100",
            "--source-label", "gateway",
            "--source-attributes", "service.name",
            "--log-level", "warning",
            "--spans-complete",
        ]
    )  # fmt: skip
    described = {key: value for key, value in config.describe().items() if value not in (None, "", [])}
    described.pop("remote_write_targets", None)
    config_file = tmp_path / "effective.yaml"
    config_file.write_text(yaml.safe_dump(described))
    assert load(["--config", str(config_file)]) == config


@pytest.mark.parametrize("label", ["model", "channel", "severity"])
def test_a_source_label_that_a_family_already_has_is_refused(label: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--source-label", label, "--check-config"]) == 2
    assert f"--source-label {label!r} collides with an openclaw_* label" in capsys.readouterr().err


def test_a_free_source_label_passes_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--source-label", "gateway", "--check-config"]) == 0
    assert '"source_label": "gateway"' in capsys.readouterr().out
