"""The remote-write options: command line, environment and YAML; validation; ``--check-config``; and a bridge
process that pushes to a receiver and flushes on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from otlp_bridge.config import Config, QueueConfig, Target, build_parser, check_files, load_config
from otlp_bridge.errors import ConfigError
from tests.conftest import CAPTURES, require_fixtures
from tests.support import bridge_process, captured_requests, receiver, until

URL = "https://mimir.example.com/api/v1/push"


def load(
    argv: list[str], env: dict[str, str] | None = None, document: Any = None, tmp_path: Path | None = None
) -> Config:
    if document is not None:
        assert tmp_path is not None
        config_file = tmp_path / "bridge.yaml"
        config_file.write_text(yaml.safe_dump(document))
        argv = [*argv, "--config", str(config_file)]
    return load_config(build_parser().parse_args(argv), env or {})


@pytest.fixture
def token(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text("secret-token-value\n")
    return path


def test_command_line_options_make_one_target_per_url(token: Path) -> None:
    config = load(
        [
            "--remote-write-url", URL,
            "--remote-write-url", "http://victoria:8428/api/v1/write",
            "--remote-write-header", "X-Scope-OrgID=openclaw",
            "--remote-write-bearer-token-file", str(token),
            "--remote-write-timeout", "7",
            "--remote-write-external-label", "cluster=eu-1",
            "--remote-write-interval", "5",
            "--remote-write-job", "bridges",
            "--remote-write-instance", "bridge-0",
        ]
    )  # fmt: skip
    common: dict[str, Any] = {"headers": (("X-Scope-OrgID", "openclaw"),), "bearer_token_file": token, "timeout": 7.0}
    assert config.remote_write_targets == (Target(URL, **common), Target("http://victoria:8428/api/v1/write", **common))
    assert config.remote_write_external_label == (("cluster", "eu-1"),)
    assert (config.remote_write_interval, config.remote_write_job, config.remote_write_instance) == (
        5.0,
        "bridges",
        "bridge-0",
    )


def test_environment_lists_are_comma_separated() -> None:
    env = {
        "OTLP_BRIDGE_REMOTE_WRITE_URL": f"{URL}, http://b/api/v1/write",
        "OTLP_BRIDGE_REMOTE_WRITE_EXTERNAL_LABEL": "cluster=eu-1,region=west",
    }
    config = load([], env)
    assert [t.url for t in config.remote_write_targets] == [URL, "http://b/api/v1/write"]
    assert config.remote_write_external_label == (("cluster", "eu-1"), ("region", "west"))


def test_yaml_targets_take_the_common_options_under_their_own(tmp_path: Path, token: Path) -> None:
    document = {
        "remote_write_timeout": 9,
        "remote_write_header": {"X-Scope-OrgID": "fleet"},
        "remote_write_external_label": ["cluster=eu-1"],
        "remote_write": [
            {"url": URL, "headers": {"X-Scope-OrgID": "openclaw"}, "bearer_token_file": str(token)},
            {"url": "http://victoria:8428/api/v1/write", "timeout": 3, "queue": {"capacity": 1000}},
        ],
    }
    config = load([], document=document, tmp_path=tmp_path)
    assert config.remote_write_targets == (
        Target(URL, timeout=9.0, headers=(("X-Scope-OrgID", "openclaw"),), bearer_token_file=token),
        Target(
            "http://victoria:8428/api/v1/write",
            timeout=3.0,
            headers=(("X-Scope-OrgID", "fleet"),),
            queue=QueueConfig(capacity=1000),
        ),
    )


@pytest.mark.parametrize(
    ("argv", "document", "message"),
    [
        (["--remote-write-header", "X-A=1"], None, "no --remote-write-url"),
        (["--remote-write-url", URL, "--remote-write-url", URL], None, "same URL is given twice"),
        (
            ["--remote-write-url", URL, "--remote-write-header", "X-A"],
            None,
            "--remote-write-header: expected NAME=VALUE",
        ),
        (["--remote-write-url", URL, "--remote-write-header", "Bad Name=1"], None, "not an HTTP header name"),
        (["--remote-write-url", URL, "--remote-write-external-label", "9x=1"], None, "not a Prometheus label name"),
        (["--remote-write-url", "https://u:p@mimir/api/v1/push"], None, "credentials in a file"),
        (["--remote-write-url", URL, "--remote-write-basic-auth-user", "u"], None, "both a user and a password"),
        (["--remote-write-url", URL, "--remote-write-interval", "0"], None, "greater than 0"),
        ([], {"remote_write": {"url": URL}}, "must be a list of mappings"),
        ([], {"remote_write": [{"url": URL, "token": "x"}]}, "entry 1: unknown key"),
        ([], {"remote_write": [{"headers": {"a": "b"}}]}, "entry 1: url is required"),
    ],
)
def test_mistakes_are_config_errors(argv: list[str], document: Any, message: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        load(argv, document=document, tmp_path=tmp_path)


def test_target_files_are_checked_like_the_other_files(tmp_path: Path) -> None:
    """Read at startup (a missing or empty file is an error), skipped and named by ``--check-config`` when absent."""
    empty = tmp_path / "empty"
    empty.write_text("\n")
    absent = load(["--remote-write-url", URL, "--remote-write-bearer-token-file", str(tmp_path / "absent")])
    with pytest.raises(ConfigError, match=r"bearer_token_file .*absent"):
        check_files(absent)
    (skipped,) = check_files(absent, missing_ok=True)
    assert "not found here, not checked" in skipped
    with pytest.raises(ConfigError, match="is empty"):
        check_files(load(["--remote-write-url", URL, "--remote-write-basic-auth-user", "u",
                          "--remote-write-basic-auth-password-file", str(empty)]))  # fmt: skip
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="TLS files do not load"):
        check_files(load(["--remote-write-url", URL, "--remote-write-tls-ca-file", str(not_pem)]))


def test_check_config_shows_targets_without_secrets(token: Path) -> None:
    out = subprocess.run(
        [
            sys.executable, "-m", "otlp_bridge", "--check-config",
            "--remote-write-url", URL + "?api_key=query-secret",
            "--remote-write-header", "X-Api-Key=header-secret",
            "--remote-write-bearer-token-file", str(token),
        ],
        capture_output=True, text=True, timeout=60, check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("OTLP_BRIDGE_")},
    )  # fmt: skip
    assert "secret" not in out.stdout.replace(str(token.parent), "")
    (described,) = json.loads(out.stdout)["remote_write_targets"]
    assert described["url"] == URL
    assert described["headers"] == ["X-Api-Key"]
    assert described["bearer_token_file"] == str(token)


async def test_a_bridge_process_pushes_and_flushes_on_sigterm(token: Path) -> None:
    require_fixtures()
    (body,) = captured_requests(CAPTURES / "03a-main-part1-cumulative", "metrics")[:1]
    async with receiver() as target, aiohttp.ClientSession() as client:
        argv = [
            "--remote-write-url", target.url,
            "--remote-write-interval", "3600",  # only the final flush sends
            "--remote-write-header", "X-Scope-OrgID=openclaw",
            "--remote-write-bearer-token-file", str(token),
            "--remote-write-instance", "bridge-under-test",
        ]  # fmt: skip
        with bridge_process(*argv) as bridge:
            headers = {k: v for k, v in body.headers.items() if k in ("Content-Type", "Content-Encoding")}
            async with client.post(f"{bridge.otlp_url}/v1/metrics", data=body.body, headers=headers) as response:
                assert response.status == 200
            async with client.get(bridge.metrics_url + "/metrics") as response:
                page = await response.text()
            assert f'otlp_bridge_remote_write_samples_sent_total{{url="{target.url}"}} 0.0' in page
            assert target.received == []
            started = time.monotonic()
            bridge.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(bridge.process.wait, 20)
        await until(lambda: target.received)
    assert bridge.process.returncode == 0
    assert time.monotonic() - started < 10
    samples = [s for r in target.received for s in r.samples]
    names = {s.labels["__name__"] for s in samples}
    assert any(name.startswith("openclaw_") for name in names)
    assert "otlp_bridge_build_info" in names
    assert {s.labels["instance"] for s in samples} == {"bridge-under-test"}
    assert {r.headers["X-Scope-OrgID"] for r in target.received} == {"openclaw"}
    assert {r.headers["Authorization"] for r in target.received} == {"Bearer secret-token-value"}
