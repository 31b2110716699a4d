"""The real command line as a child process: options and config errors, signals, a gzip bomb, rude scrapers."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from otlp_bridge.config import OPTIONS
from tests.conftest import missing
from tests.support import (
    PROTOBUF,
    BridgeProcess,
    bridge_process,
    find,
    gauge_request,
    parse_exposition,
    scrape,
    tokens_request,
)
from tests.test_robustness import make_certificate

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
CONFIG_ERROR = "otlp-bridge: config error:"
EPHEMERAL = ("--otlp-listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any OTLP_BRIDGE_* option that could leak into the child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTLP_BRIDGE_")}
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otlp_bridge", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else clean_env(),
        check=False,
    )


def check_config(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = run_cli(*args, "--check-config", env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert isinstance(document, dict)
    return document


def console_script() -> str:
    beside = Path(sys.executable).with_name("otlp-bridge")
    found = str(beside) if beside.exists() else shutil.which("otlp-bridge")
    assert found, "the otlp-bridge console script is not installed (pip install -e '.[test]')"
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def wait_ready(session: aiohttp.ClientSession, metrics_url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, "the bridge exited while starting"
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(f"{metrics_url}/readyz") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.05)
    message = "the bridge did not become ready"
    raise AssertionError(message)


def stop(process: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 10) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


# -- starting and serving ---------------------------------------------------------------------------------------


async def test_console_script_serves_on_the_given_ports(tmp_path: Path) -> None:
    """``otlp-bridge --otlp-listen 127.0.0.1:P1 --metrics-listen 127.0.0.1:P2`` accepts OTLP and serves scrapes."""
    otlp_port, metrics_port = free_port(), free_port()
    command = [
        console_script(),
        "--otlp-listen",
        f"127.0.0.1:{otlp_port}",
        "--metrics-listen",
        f"127.0.0.1:{metrics_port}",
    ]
    log_path = tmp_path / "stderr.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True, env=clean_env())
    try:
        async with aiohttp.ClientSession() as session:
            metrics_url = f"http://127.0.0.1:{metrics_port}"
            await wait_ready(session, metrics_url, process)
            body = tokens_request({"input": 321}).SerializeToString()
            headers = {"Content-Type": PROTOBUF}
            async with session.post(f"http://127.0.0.1:{otlp_port}/v1/metrics", data=body, headers=headers) as answer:
                assert answer.status == 200
            samples = await scrape(session, metrics_url)
            assert find(samples, "openclaw_model_tokens_total", token_type="input") == 321
    finally:
        code = stop(process)
    assert code == 0
    events = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(event.get("event") == "listening" for event in events), "default log format is JSON lines"


async def test_defaults_listen_on_4318_and_9464() -> None:
    """With no options the bridge listens on 127.0.0.1:4318 (OTLP) and 127.0.0.1:9464 (scrape)."""
    if port_in_use(4318) or port_in_use(9464):
        missing("the default ports 4318 and 9464 are taken on this machine: stop what listens there")
    process = subprocess.Popen(
        [console_script()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, env=clean_env()
    )
    try:
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, "http://127.0.0.1:9464", process)
            async with session.post(
                "http://127.0.0.1:4318/v1/metrics", data=b"", headers={"Content-Type": PROTOBUF}
            ) as answer:
                assert answer.status == 200
    finally:
        assert stop(process) == 0


@pytest.mark.parametrize("entry", ["module", "script"])
def test_version(entry: str) -> None:
    """``--version`` prints ``otlp-bridge <version>`` (the installed distribution's) and exits 0."""
    command = [sys.executable, "-m", "otlp_bridge"] if entry == "module" else [console_script()]
    result = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=20, check=False)
    assert result.returncode == 0
    assert result.stdout.strip() == f"otlp-bridge {importlib.metadata.version('otlp-bridge')}"


def test_check_config_prints_the_effective_config_as_json() -> None:
    """``--check-config`` validates, prints the effective config as JSON and exits 0 without starting."""
    document = check_config()
    assert document["otlp_listen"] == "127.0.0.1:4318"
    assert document["metrics_listen"] == "127.0.0.1:9464"
    assert document["max_series"] == 2048
    assert document["max_body_bytes"] == 20 * MiB
    assert document["max_inflight"] == 64
    assert document["ingest_token_header"] == "Authorization"
    assert document["log_format"] == "json"


def test_check_config_never_prints_a_token(tmp_path: Path) -> None:
    """The effective config names token files, never their contents."""
    token = tmp_path / "token"
    token.write_text("very-secret-value\n")
    result = run_cli("--ingest-token-file", str(token), "--scrape-token-file", str(token), "--check-config")
    assert result.returncode == 0, result.stderr
    assert "very-secret-value" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["ingest_token_file"] == str(token)


def _yaml(tmp_path: Path, text: str, name: str = "bridge.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_yaml_keys_and_env_vars_are_honoured(tmp_path: Path) -> None:
    """Keys of the --config YAML file and OTLP_BRIDGE_* variables set the options."""
    token = tmp_path / "token"
    token.write_text("t0k3n\n")
    config = _yaml(
        tmp_path,
        f"""
max_series: 100
series_ttl: 30
log_level: debug
spans_complete: true
source_attributes: [service.name, host.name, process.pid]
ingest_token_file: {token}
ingest_token_header: x-collector-token
otlp_listen: 0.0.0.0:14318
""",
    )
    document = check_config("--config", config)
    assert document["max_series"] == 100
    assert document["series_ttl"] == 30
    assert document["log_level"] == "debug"
    assert document["spans_complete"] is True
    assert document["source_attributes"] == "service.name,host.name,process.pid"
    assert document["ingest_token_header"] == "x-collector-token"
    assert document["otlp_listen"] == "0.0.0.0:14318"
    env = clean_env(
        OTLP_BRIDGE_MAX_SERIES="77",
        OTLP_BRIDGE_LOG_FORMAT="console",
        OTLP_BRIDGE_MAX_BODY_BYTES="1048576",
        OTLP_BRIDGE_SPANS_COMPLETE="true",
        OTLP_BRIDGE_METRICS_LISTEN="127.0.0.1:19464",
    )
    document = check_config(env=env)
    assert document["max_series"] == 77
    assert document["log_format"] == "console"
    assert document["max_body_bytes"] == MiB
    assert document["spans_complete"] is True
    assert document["metrics_listen"] == "127.0.0.1:19464"
    assert check_config(env=clean_env(OTLP_BRIDGE_CONFIG=config))["max_series"] == 100


def test_precedence_cli_over_env_over_file(tmp_path: Path) -> None:
    """Command line beats OTLP_BRIDGE_* beats the YAML file beats the default."""
    config = _yaml(tmp_path, "max_series: 100\nseries_ttl: 60\nlog_level: warning\n")
    env = clean_env(OTLP_BRIDGE_MAX_SERIES="200", OTLP_BRIDGE_SERIES_TTL="120")
    document = check_config("--config", config, "--max-series", "300", env=env)
    assert (document["max_series"], document["series_ttl"], document["log_level"]) == (300, 120, "warning")
    document = check_config("--config", config, env=env)
    assert (document["max_series"], document["series_ttl"]) == (200, 120)
    document = check_config("--config", config)
    assert (document["max_series"], document["series_ttl"]) == (100, 60)
    # --config beats OTLP_BRIDGE_CONFIG
    other = _yaml(tmp_path, "max_series: 5\n", "other.yaml")
    assert check_config("--config", config, env=clean_env(OTLP_BRIDGE_CONFIG=other))["max_series"] == 100


def _config_error_cases(tmp_path: Path) -> dict[str, tuple[list[str], dict[str, str]]]:
    empty_token = tmp_path / "empty-token"
    empty_token.write_text("\n")
    cert = tmp_path / "cert.pem"
    cert.write_text("not really a certificate\n")
    (tmp_path / "good").mkdir()
    (tmp_path / "other").mkdir()
    good, other = make_certificate(tmp_path / "good"), make_certificate(tmp_path / "other")
    return {
        "max-series-zero": (["--max-series", "0"], {}),
        "max-series-word": (["--max-series", "many"], {}),
        "missing-token-file": (["--ingest-token-file", str(tmp_path / "nope")], {}),
        "empty-token-file": (["--scrape-token-file", str(empty_token)], {}),
        "bad-listen": (["--otlp-listen", "localhost"], {}),
        "port-out-of-range": (["--metrics-listen", "127.0.0.1:70000"], {}),
        "bad-log-format": (["--log-format", "xml"], {}),
        "cert-without-key": (["--tls-cert-file", str(cert)], {}),
        "bad-source-label": (["--source-label", "1bad"], {}),
        "same-listen-address": (["--otlp-listen", "127.0.0.1:5000", "--metrics-listen", "127.0.0.1:5000"], {}),
        "missing-config-file": (["--config", str(tmp_path / "absent.yaml")], {}),
        "unknown-yaml-key": (["--config", _yaml(tmp_path, "max_series: 10\nmax_serie: 20\n", "typo.yaml")], {}),
        "invalid-yaml": (["--config", _yaml(tmp_path, "max_series: [1, 2\nlog_level: : :\n", "invalid.yaml")], {}),
        "yaml-not-a-mapping": (["--config", _yaml(tmp_path, "- max_series\n- 10\n", "list.yaml")], {}),
        "bad-yaml-value": (["--config", _yaml(tmp_path, "max_body_bytes: -5\n", "negative.yaml")], {}),
        "bad-env-value": ([], {"OTLP_BRIDGE_MAX_SERIES": "0"}),
        "bad-env-config": ([], {"OTLP_BRIDGE_CONFIG": _yaml(tmp_path, "{{{{\n", "braces.yaml")}),
        "unknown-env-var": ([], {"OTLP_BRIDGE_MAX_SERIS": "5"}),
        "garbage-cert": (["--tls-cert-file", str(cert), "--tls-key-file", str(good.key)], {}),
        "garbage-key": (["--tls-cert-file", str(good.cert), "--tls-key-file", str(cert)], {}),
        "key-of-another-cert": (["--tls-cert-file", str(good.cert), "--tls-key-file", str(other.key)], {}),
        "source-label-job": (["--source-label", "job"], {}),
        "source-label-reserved": (["--source-label", "__name"], {}),
    }


CONFIG_ERROR_CASES = [
    "max-series-zero",
    "max-series-word",
    "missing-token-file",
    "empty-token-file",
    "bad-listen",
    "port-out-of-range",
    "bad-log-format",
    "cert-without-key",
    "bad-source-label",
    "same-listen-address",
    "missing-config-file",
    "unknown-yaml-key",
    "invalid-yaml",
    "yaml-not-a-mapping",
    "bad-yaml-value",
    "bad-env-value",
    "bad-env-config",
    "unknown-env-var",
    "garbage-cert",
    "garbage-key",
    "key-of-another-cert",
    "source-label-job",
    "source-label-reserved",
]


def assert_one_config_error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1, f"expected exactly one stderr line, got:\n{result.stderr}"
    assert lines[0].startswith(CONFIG_ERROR), lines[0]
    return lines[0]


@pytest.mark.parametrize("case", CONFIG_ERROR_CASES)
def test_bad_configuration_is_one_line_and_exit_2(tmp_path: Path, case: str) -> None:
    """A bad option, env var or config file stops the start with one ``config error`` line and exit code 2."""
    args, env = _config_error_cases(tmp_path)[case]
    result = run_cli(*args, env=clean_env(**env))
    line = assert_one_config_error_line(result)
    assert result.stdout == ""
    assert "Traceback" not in line


# What the line must name, beyond the config error prefix.
CONFIG_ERROR_NAMES = {
    "unknown-yaml-key": "unknown config key 'max_serie' (did you mean max_series?)",
    "unknown-env-var": "unknown environment variable OTLP_BRIDGE_MAX_SERIS (did you mean OTLP_BRIDGE_MAX_SERIES?)",
    "garbage-cert": "--tls-cert-file {tmp}/cert.pem: not a PEM certificate",
    "garbage-key": "--tls-key-file {tmp}/cert.pem: not a PEM private key",
    "key-of-another-cert": "--tls-key-file {tmp}/other/key.pem: not the private key of --tls-cert-file {tmp}/good/",
    "source-label-job": "'job' is a label Prometheus sets on every scraped series (yours would become exported_job)",
    "source-label-reserved": "'__name' is reserved",
    "empty-token-file": "--scrape-token-file: token file is empty: {tmp}/empty-token",
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERROR_NAMES))
def test_config_error_names_the_culprit(tmp_path: Path, case: str) -> None:
    """The one line says which key, variable or file is wrong (and the closest valid name for a typo)."""
    args, env = _config_error_cases(tmp_path)[case]
    line = assert_one_config_error_line(run_cli(*args, env=clean_env(**env)))
    assert CONFIG_ERROR_NAMES[case].format(tmp=tmp_path) in line


CHECK_CONFIG_ERRORS = ["max-series-zero", "unknown-yaml-key", "invalid-yaml", "empty-token-file", "garbage-cert"]


@pytest.mark.parametrize("case", [*CHECK_CONFIG_ERRORS, "key-of-another-cert", "unknown-env-var"])
def test_check_config_reports_the_same_errors(tmp_path: Path, case: str) -> None:
    """``--check-config`` fails the same way (one line, exit 2) on a bad configuration."""
    args, env = _config_error_cases(tmp_path)[case]
    line = assert_one_config_error_line(run_cli(*args, "--check-config", env=clean_env(**env)))
    assert line == assert_one_config_error_line(run_cli(*args, env=clean_env(**env)))


def test_kubernetes_service_variables_are_not_taken_for_misspelled_options() -> None:
    """A Service named otlp-bridge (the chart's, for a release of that name) gives every pod of its namespace
    OTLP_BRIDGE_SERVICE_HOST and friends; the bridge must still start there."""
    service_links = {
        "OTLP_BRIDGE_SERVICE_HOST": "10.96.0.10",
        "OTLP_BRIDGE_SERVICE_PORT": "4318",
        "OTLP_BRIDGE_SERVICE_PORT_OTLP_HTTP": "4318",
        "OTLP_BRIDGE_PORT": "tcp://10.96.0.10:4318",
        "OTLP_BRIDGE_PORT_9464_TCP": "tcp://10.96.0.10:9464",
        "OTLP_BRIDGE_PORT_9464_TCP_PROTO": "tcp",
        "OTLP_BRIDGE_PORT_9464_TCP_PORT": "9464",
        "OTLP_BRIDGE_PORT_9464_TCP_ADDR": "10.96.0.10",
        "OTLP_BRIDGE_METRICS_SERVICE_HOST": "10.96.0.11",
    }
    assert check_config(env=clean_env(**service_links, OTLP_BRIDGE_MAX_SERIES="9"))["max_series"] == 9
    typo = clean_env(**service_links, OTLP_BRIDGE_METRICS_LISTN="0.0.0.0:9464")
    line = assert_one_config_error_line(run_cli("--check-config", env=typo))
    assert "OTLP_BRIDGE_METRICS_LISTN (did you mean OTLP_BRIDGE_METRICS_LISTEN?)" in line


def test_check_config_skips_absent_secret_files_and_says_so(tmp_path: Path) -> None:
    """A config whose token and TLS files exist only where the bridge runs still validates (CI, a laptop); the
    skipped files are named on stderr, stdout stays the JSON. Starting with the same config is an error."""
    absent = tmp_path / "absent"
    args = [
        "--ingest-token-file", str(absent / "ingest-token"),
        "--scrape-token-file", str(absent / "scrape-token"),
        "--tls-cert-file", str(absent / "tls.crt"),
        "--tls-key-file", str(absent / "tls.key"),
    ]  # fmt: skip
    result = run_cli(*args, "--check-config")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ingest_token_file"] == str(absent / "ingest-token")
    skipped = result.stderr.splitlines()
    for name in ("ingest-token", "scrape-token", "tls.crt", "tls.key"):
        assert sum(str(absent / name) in line and "not checked" in line for line in skipped) == 1, skipped
    assert all(line.startswith("otlp-bridge: check-config: ") for line in skipped)
    line = assert_one_config_error_line(run_cli(*args))
    assert f"file not found: {absent / 'ingest-token'}" in line


def test_check_config_loads_a_present_certificate_pair(tmp_path: Path) -> None:
    """A real certificate and its key pass, with nothing skipped."""
    made = make_certificate(tmp_path)
    result = run_cli("--tls-cert-file", str(made.cert), "--tls-key-file", str(made.key), "--check-config")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_help_shows_every_default_and_the_json_output() -> None:
    """``--help`` gives each option's default (from the code's own defaults) and says what --check-config prints."""
    result = run_cli("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    for option in OPTIONS:
        described = " ".join(option.help.split())
        assert re.search(rf"--{option.name}\b.*?{re.escape(described)} \(default: [^)]+\)", text), option.name
    assert "(default: service.name,host.name)" in text
    assert "print the effective configuration as JSON" in text


def test_unknown_option_is_one_config_error_line() -> None:
    """An unknown command-line option is bad configuration too: one ``config error`` line and exit code 2."""
    assert_one_config_error_line(run_cli("--max-seriess", "10"))


# -- signals ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_drains_the_inflight_request_and_exits_0(sig: signal.Signals) -> None:
    """On SIGTERM/SIGINT a request in flight completes with 200, readiness drops, and the process exits 0 in 10 s."""
    body = tokens_request({"input": 5}).SerializeToString()
    signalled = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield body[:10]
        await signalled.wait()
        for offset in range(10, len(body), 20):
            await asyncio.sleep(0.05)
            yield body[offset : offset + 20]

    with bridge_process(env=clean_env()) as child:
        try:
            async with aiohttp.ClientSession() as session, aiohttp.ClientSession() as probe:
                headers = {"Content-Type": PROTOBUF}
                request = asyncio.create_task(
                    session.post(f"{child.otlp_url}/v1/metrics", data=slow_body(), headers=headers)
                )
                await asyncio.sleep(0.5)  # the headers and the first bytes are in; the handler is reading the body
                sent_at = time.monotonic()
                child.process.send_signal(sig)
                readiness = await _await_status(probe, f"{child.metrics_url}/readyz", 503)
                refused = await _otlp_refuses_new_connections(child.otlp_url)
                signalled.set()
                async with asyncio.timeout(5):  # the rest of the body takes about 0.5 s
                    response = await request
                async with response:
                    assert response.status == 200, await response.read()
                code = await asyncio.to_thread(child.process.wait, 10)
                elapsed = time.monotonic() - sent_at
        finally:
            if child.process.poll() is None:
                child.process.kill()  # a failed drain should not cost the suite another 10 s
    assert code == 0
    assert elapsed < 10
    assert readiness, "/readyz should answer 503 while draining"
    assert refused, "the OTLP listener should stop accepting new connections while draining"
    events = [json.loads(line).get("event") for line in child.log_lines if line.startswith("{")]
    assert "shutting_down" in events
    assert events[-1] == "stopped"


async def _await_status(session: aiohttp.ClientSession, url: str, wanted: int) -> bool:
    for _ in range(40):
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(url) as response:
                if response.status == wanted:
                    return True
        await asyncio.sleep(0.05)
    return False


async def _otlp_refuses_new_connections(otlp_url: str) -> bool:
    host, port = otlp_url.removeprefix("http://").rsplit(":", 1)
    for _ in range(40):
        try:
            _, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            return True
        writer.close()
        await asyncio.sleep(0.05)
    return False


# -- gzip bomb -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def gzip_bomb(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """1 GiB of zeros, gzip-compressed in a stream (about 1 MiB); cached between runs in pytest's cache."""
    cache = getattr(pytestconfig, "cache", None)
    folder = cache.mkdir("otlp-bridge-gzip-bomb") if cache is not None else tmp_path_factory.mktemp("bomb")
    path = folder / "zeros-1GiB.gz"
    if not path.exists() or path.stat().st_size > 2 * MiB:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        zeros = bytes(MiB)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            for _ in range(1024):
                out.write(compressor.compress(zeros))
            out.write(compressor.flush())
        partial.replace(path)
    data = path.read_bytes()
    assert struct.unpack("<I", data[-4:])[0] == (1024 * MiB) % 2**32, "the trailer records 1 GiB mod 2**32"
    return data


def peak_rss_reset(pid: int) -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of ``pid``; False where that is not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


async def _post_bomb(child: BridgeProcess, bomb: bytes, chunked: bool) -> tuple[int, dict[str, int]]:
    async def in_chunks() -> AsyncIterator[bytes]:
        for offset in range(0, len(bomb), 64 * 1024):
            yield bomb[offset : offset + 64 * 1024]

    pid = child.process.pid
    before = child.rss_bytes()
    reset = peak_rss_reset(pid)
    headers = {"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{child.otlp_url}/v1/metrics", data=in_chunks() if chunked else bomb, headers=headers) as answer,
    ):
        await answer.read()
        status = answer.status
    await asyncio.sleep(0.2)
    numbers = {"rss_before": before, "rss_after": child.rss_bytes()}
    if reset:
        numbers["peak_during"] = peak_rss_bytes(pid)
    return status, numbers


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_gzip_bomb_is_413_with_bounded_rss(gzip_bomb: bytes, chunked: bool) -> None:
    """A 1 GiB-of-zeros gzip bomb (~1 MiB on the wire) gets 413 while the child's RSS grows by less than 50 MiB."""
    with bridge_process(env=clean_env()) as child:
        async with aiohttp.ClientSession() as session:  # warm up: one real request and one scrape
            body = tokens_request({"input": 1}).SerializeToString()
            async with session.post(f"{child.otlp_url}/v1/metrics", data=body, headers={"Content-Type": PROTOBUF}):
                pass
            await scrape(session, child.metrics_url)
        status, numbers = await _post_bomb(child, gzip_bomb, chunked)
        growth = max(numbers.values()) - numbers["rss_before"]
        report = ", ".join(f"{k}={v / MiB:.1f} MiB" for k, v in numbers.items())
        print(f"gzip bomb ({len(gzip_bomb)} bytes on the wire, {'chunked' if chunked else 'Content-Length'}): {report}")
        assert status == 413
        assert growth < 50 * MiB, report
        async with aiohttp.ClientSession() as session:  # still alive and serving
            samples = await scrape(session, child.metrics_url)
        assert find(samples, "otlp_bridge_requests_total", signal="metrics", outcome="too_large") == 1
        assert child.process.poll() is None


# -- rude scrapers ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _raw_connection(url: str) -> Iterator[socket.socket]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = socket.create_connection((host, int(port)), timeout=10)
    try:
        yield connection
    finally:
        # RST instead of FIN: the rudest way to leave
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.close()


def _abandon_scrapes(metrics_url: str, rounds: int) -> None:
    for index in range(rounds):
        with _raw_connection(metrics_url) as connection:
            encoding = "Accept-Encoding: gzip\r\n" if index % 2 else ""
            connection.sendall(f"GET /metrics HTTP/1.1\r\nHost: bridge\r\n{encoding}\r\n".encode())
            if index % 3 == 0:
                continue  # gone before the first byte of the answer
            connection.recv(2048)  # the status line and a little of the body, then gone


async def test_scrape_client_disconnecting_mid_response_does_not_kill_the_process() -> None:
    """Scrapers that hang up in the middle of a large exposition leave the bridge running and serving."""
    series = 30_000
    args = ("--max-series", "40000", "--max-series-per-family", "40000", "--max-streams", "40000")
    with bridge_process(*args, env=clean_env()) as child:
        body = gauge_request("load.gauge", series).SerializeToString()
        async with aiohttp.ClientSession() as session:
            headers = {"Content-Type": PROTOBUF}
            async with session.post(f"{child.otlp_url}/v1/metrics", data=body, headers=headers) as answer:
                assert answer.status == 200
            async with session.get(f"{child.metrics_url}/metrics") as response:
                size = len(await response.read())
            assert size > MiB, "the exposition should be large enough to be cut off mid-response"
            await asyncio.to_thread(_abandon_scrapes, child.metrics_url, 12)
            await asyncio.sleep(0.2)
            assert child.process.poll() is None, "".join(child.log_lines[-20:])
            async with session.get(f"{child.metrics_url}/healthz") as response:
                assert response.status == 200
            async with session.get(f"{child.metrics_url}/metrics") as response:
                samples = parse_exposition(await response.text())
        assert sum(1 for s in samples if s.name.startswith("load_gauge")) == series
        assert not any("Traceback" in line for line in child.log_lines)
