"""The relay's options: command line, environment and YAML like every other option; validated together."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from otlp_bridge.alerts.message import check_template
from otlp_bridge.config import build_parser, check_files, load_config
from otlp_bridge.errors import ConfigError

URL = "http://127.0.0.1:18789/hooks"


@pytest.fixture(name="token")
def _token(tmp_path: Path) -> str:
    path = tmp_path / "hooks-token"
    path.write_text("secret\n")
    return str(path)


def _load(argv: list[str], environ: dict[str, str] | None = None) -> dict[str, object]:
    config = load_config(build_parser().parse_args(argv), environ or {})
    check_files(config)
    check_template(config)  # as the command line does, after the files
    return config.describe()


def test_off_by_default() -> None:
    """No URL: no relay, the defaults agent and en."""
    config = _load([])
    assert (config["alert_relay_url"], config["alert_relay_action"], config["alert_relay_language"]) == (
        None,
        "agent",
        "en",
    )


def test_every_option_from_the_command_line(token: str, tmp_path: Path) -> None:
    """All nine options, as the issue names them."""
    template = tmp_path / "message.j2"
    template.write_text("{{ alerts[0].name }}")
    config = _load(
        [
            "--alert-relay-url", URL + "/",
            "--alert-relay-token-file", token,
            "--alert-webhook-token-file", token,
            "--alert-relay-action", "agent",
            "--alert-relay-channel", "feishu",
            "--alert-relay-to", "oc_0123",
            "--alert-relay-agent-id", "ops",
            "--alert-relay-template", str(template),
            "--alert-relay-language", "ZH-cn",
        ]
    )  # fmt: skip
    assert {key: value for key, value in config.items() if key.startswith("alert_")} == {
        "alert_relay_url": URL,
        "alert_relay_token_file": token,
        "alert_webhook_token_file": token,
        "alert_relay_action": "agent",
        "alert_relay_channel": "feishu",
        "alert_relay_to": "oc_0123",
        "alert_relay_agent_id": "ops",
        "alert_relay_template": str(template),
        "alert_relay_language": "zh-CN",
    }


def test_environment_and_yaml(token: str, tmp_path: Path) -> None:
    """OTLP_BRIDGE_ALERT_RELAY_* and the YAML keys work like the other options (the environment wins over YAML)."""
    config_file = tmp_path / "bridge.yaml"
    config_file.write_text(f"alert_relay_url: {URL}\nalert_relay_token_file: {token}\nalert_relay_action: wake\n")
    config = _load(["--config", str(config_file)], {"OTLP_BRIDGE_ALERT_RELAY_LANGUAGE": "zh-CN"})
    assert (config["alert_relay_url"], config["alert_relay_action"], config["alert_relay_language"]) == (
        URL,
        "wake",
        "zh-CN",
    )


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--alert-relay-url", URL], "--alert-relay-url needs --alert-relay-token-file"),
        (["--alert-relay-channel", "feishu"], "--alert-relay-channel needs --alert-relay-url"),
        (["--alert-webhook-token-file", "TOKEN"], "--alert-webhook-token-file needs --alert-relay-url"),
        (["--alert-relay-language", "zh-CN"], "--alert-relay-language needs --alert-relay-url"),
        (["--alert-relay-url", "ftp://x/hooks"], "expected an http:// or https:// URL"),
        (["--alert-relay-url", "http:///hooks"], "expected an http:// or https:// URL"),
        (["--alert-relay-url", URL + "?token=x"], "takes no query"),
        (["--alert-relay-action", "page"], "must be one of agent, wake"),
        (["--alert-relay-language", "fr"], "must be one of en, zh-CN"),
        (["--alert-relay-channel", " "], "must not be empty"),
        (
            ["--alert-relay-url", URL, "--alert-relay-token-file", "TOKEN", "--alert-relay-template", "/no/such.j2"],
            "--alert-relay-template: file not found",
        ),
        (["--alert-relay-url", URL, "--alert-relay-token-file", "/no/such/token"], "file not found"),
        (
            ["--alert-relay-url", URL, "--alert-relay-token-file", "TOKEN", "--alert-relay-action", "wake",
             "--alert-relay-to", "oc_1"],
            "apply to --alert-relay-action agent",
        ),
        (
            ["--alert-relay-url", URL, "--alert-relay-token-file", "TOKEN", "--alert-relay-template", "BROKEN"],
            "--alert-relay-template: template",
        ),
    ],
)  # fmt: skip
def test_bad_combinations_are_one_line_errors(argv: list[str], problem: str, token: str, tmp_path: Path) -> None:
    """Each mistake names the option; a template that does not compile is caught before the bridge starts."""
    broken = tmp_path / "broken.j2"
    broken.write_text("{% if %}")
    argv = [token if arg == "TOKEN" else str(broken) if arg == "BROKEN" else arg for arg in argv]
    with pytest.raises(ConfigError, match=problem):
        _load(argv)


def test_check_config_validates_the_relay(token: str, tmp_path: Path) -> None:
    """--check-config exits 2 on a broken template, 0 (printing the options) on a good configuration."""
    broken = tmp_path / "broken.j2"
    broken.write_text("{{ }")
    base = [sys.executable, "-m", "otlp_bridge", "--alert-relay-url", URL, "--alert-relay-token-file", token]
    bad = subprocess.run([*base, "--alert-relay-template", str(broken), "--check-config"], capture_output=True,
                         text=True, timeout=60, check=False)  # fmt: skip
    assert bad.returncode == 2
    assert "--alert-relay-template" in bad.stderr
    good = subprocess.run([*base, "--check-config"], capture_output=True, text=True, timeout=60, check=False)
    assert good.returncode == 0, good.stderr
    assert f'"alert_relay_url": "{URL}"' in good.stdout
