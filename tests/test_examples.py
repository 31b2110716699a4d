"""The files in examples/ and the Dockerfile: alert rules and their unit tests, Prometheus/Alertmanager configs,
Grafana dashboards, docker-compose wiring, the systemd unit and the OpenClaw config fragment."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from otlp_bridge.config import OPTIONS
from tests.conftest import REPO, require_tool
from tests.support import check_config

EXAMPLES = REPO / "examples"
RULES = EXAMPLES / "alert-rules.yml"
RULE_TESTS = EXAMPLES / "alert-rules.test.yml"
DASHBOARDS = sorted((EXAMPLES / "grafana").glob("*.json"))
ALERTS = {
    "OpenClawGatewayDown",
    "OpenClawGatewaySilent",
    "OpenClawHighModelErrorRate",
    "OpenClawModelProviderFailures",
    "OpenClawHighCost",
    "OpenClawQueueDepth",
    "OpenClawSessionRecovery",
    "OpenClawHighMemory",
    "OpenClawPrometheusSeriesDropped",
}
METRIC_PREFIXES = ("openclaw_", "otlp_bridge_", "process_")
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# Grafana variables in panel queries, replaced by something PromQL parses.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__range": "1h",
    "$job": "otlp-bridge",
    "$instance": ".*",
    "$gateway": ".*",
}


def _run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120, cwd=cwd)


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rules() -> list[dict[str, Any]]:
    return [rule for group in _yaml(RULES)["groups"] for rule in group["rules"]]


def interface_yaml_keys() -> set[str]:
    """The YAML keys the bridge accepts (one per command-line option; the README documents each)."""
    return {option.name.replace("-", "_") for option in OPTIONS}


# --- alert rules ----------------------------------------------------------------------------------------------


def test_alert_rules_pass_promtool_check() -> None:
    out = _run([require_tool("promtool"), "check", "rules", str(RULES)])
    assert out.returncode == 0, out.stdout + out.stderr


def test_alert_rules_unit_tests_pass() -> None:
    out = _run([require_tool("promtool"), "test", "rules", RULE_TESTS.name], cwd=EXAMPLES)
    assert out.returncode == 0, out.stdout + out.stderr


def test_alert_rules_are_the_documented_set() -> None:
    found = rules()
    assert sorted(r["alert"] for r in found) == sorted(ALERTS)
    for rule in found:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
    by_name = {r["alert"]: r for r in found}
    assert by_name["OpenClawGatewayDown"]["expr"] == 'up{job="otlp-bridge"} == 0'
    assert "OpenClawGatewaySilent" in by_name["OpenClawGatewayDown"]["annotations"]["description"]
    assert "otlp_bridge_last_receive_timestamp_seconds" in by_name["OpenClawGatewaySilent"]["expr"]


def test_every_rule_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in _yaml(RULE_TESTS)["tests"]:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    assert firing == ALERTS, f"rules never shown firing: {ALERTS - firing}"
    assert quiet == ALERTS, f"rules never shown quiet: {ALERTS - quiet}"


# --- Prometheus and Alertmanager ------------------------------------------------------------------------------


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    config = _yaml(EXAMPLES / "prometheus.yml")
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "otlp-bridge"]
    credentials = job["authorization"]["credentials_file"]
    # promtool checks that the token file exists; the real one is made by the operator, never shipped.
    shutil.copy(EXAMPLES / "prometheus.yml", tmp_path)
    for rule_file in config["rule_files"]:
        shutil.copy(EXAMPLES / rule_file, tmp_path / rule_file)
    (tmp_path / credentials).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / credentials).write_text("token\n")
    out = _run([promtool, "check", "config", str(tmp_path / "prometheus.yml")])
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(ALERTS)} rules found" in out.stdout


def test_alertmanager_config_passes_amtool() -> None:
    out = _run([require_tool("amtool"), "check-config", str(EXAMPLES / "alertmanager.yml")])
    assert out.returncode == 0, out.stdout + out.stderr


# --- Grafana dashboards ---------------------------------------------------------------------------------------


def _strings(node: Any, keys: set[str]) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys and isinstance(value, str):
                yield value
            else:
                yield from _strings(value, keys)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, keys)


def panel_exprs(dashboard: dict[str, Any]) -> list[str]:
    return list(_strings(dashboard["panels"], {"expr"}))


def metric_names(expr: str) -> set[str]:
    """Names in a PromQL expression that look like bridge series (quoted strings removed first)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    return {t for t in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare) if t.startswith(METRIC_PREFIXES)}


def is_family(name: str, families: frozenset[str]) -> bool:
    """`name` is a family (counters named with `_total`, as exposed) or a histogram's sample series."""
    if name in families:
        return True
    return any(name.endswith(s) and name.removesuffix(s) in families for s in HISTOGRAM_SUFFIXES)


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le) (rate(openclaw_run_duration_seconds_bucket{job="process_x"}[5m])))'
        " / process_cpu_seconds_total"
    )
    assert metric_names(expr) == {"openclaw_run_duration_seconds_bucket", "process_cpu_seconds_total"}
    families = frozenset({"openclaw_run_duration_seconds", "openclaw_model_call_total"})
    assert is_family("openclaw_run_duration_seconds_bucket", families)
    assert is_family("openclaw_model_call_total", families)
    assert not is_family("openclaw_run_duration", families)
    assert not is_family("openclaw_model_call", families)
    assert not is_family("openclaw_run_duration_seconds_total_bucket", families)


@pytest.fixture(params=DASHBOARDS, ids=lambda p: p.name)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(request.param.read_text())
    return loaded


def test_dashboards_exist() -> None:
    assert [p.name for p in DASHBOARDS] == ["openclaw-fleet.json", "openclaw-gateway.json"]


def test_dashboard_uses_a_datasource_variable(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    datasources = {json.dumps(ds, sort_keys=True) for ds in _datasources(dashboard["panels"])}
    assert datasources == {json.dumps({"type": "prometheus", "uid": "${datasource}"}, sort_keys=True)}
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def _datasources(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from _datasources(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasources(item)


def test_dashboard_queries_parse_as_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    exprs = panel_exprs(dashboard)
    assert len(exprs) > 20
    records = []
    for i, expr in enumerate(exprs):
        promql = expr
        for variable, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
            promql = promql.replace(variable, value)
        assert not re.search(r"\$(?!1\b)", promql), f"unknown Grafana variable in {expr}"
        records.append({"record": f"dashboard:expr_{i}", "expr": promql})
    rule_file = tmp_path / "dashboard-exprs.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    out = _run([require_tool("promtool"), "check", "rules", str(rule_file)])
    assert out.returncode == 0, out.stdout + out.stderr


def test_gateway_dashboard_covers_the_essentials() -> None:
    names = set()
    for expr in panel_exprs(json.loads((EXAMPLES / "grafana" / "openclaw-gateway.json").read_text())):
        names |= metric_names(expr)
    for needed in (
        "openclaw_run_completed_total",
        "openclaw_model_call_total",
        "openclaw_model_tokens_total",
        "openclaw_model_cost_usd_total",
        "openclaw_run_duration_seconds_bucket",
        "openclaw_tool_execution_total",
        "openclaw_queue_lane_size",
        "openclaw_queue_lane_wait_seconds_bucket",
        "openclaw_memory_bytes",
        "openclaw_liveness_warning_total",
        "openclaw_prometheus_series_dropped_total",
        "otlp_bridge_requests_total",
        "otlp_bridge_last_receive_timestamp_seconds",
    ):
        assert needed in names


def test_fleet_dashboard_splits_by_gateway() -> None:
    exprs = panel_exprs(json.loads((EXAMPLES / "grafana" / "openclaw-fleet.json").read_text()))
    openclaw = [e for e in exprs if any(n.startswith("openclaw_") for n in metric_names(e))]
    assert sum("by (gateway)" in e for e in openclaw) >= 8
    assert all('gateway=~"$gateway"' in e for e in openclaw if "openclaw_prometheus_series_dropped" not in e)
    assert any("otlp_bridge_" in e for e in exprs)


def test_queries_use_only_families_the_bridge_exposes() -> None:
    """Every series named by a dashboard or an alert rule is one the bridge can produce."""
    # imported here: the package is optional for the other tests
    from otlp_bridge.expose.selfmetrics import SelfMetrics  # noqa: PLC0415
    from otlp_bridge.store import Store  # noqa: PLC0415
    from otlp_bridge.translate.mapping import family_names  # noqa: PLC0415

    families = family_names() | SelfMetrics(Store(1, 1, 1.0)).family_names()
    assert {"openclaw_model_tokens_total", "otlp_bridge_requests_total", "process_cpu_seconds_total"} <= families
    exprs = [r["expr"] for r in rules()]
    for path in DASHBOARDS:
        exprs += panel_exprs(json.loads(path.read_text()))
    unknown = {(name, path) for name, path in _names_with_origin(exprs) if not is_family(name, families)}
    assert not unknown, f"not families of the bridge: {sorted(unknown)}"


def _names_with_origin(exprs: list[str]) -> Iterator[tuple[str, str]]:
    for expr in exprs:
        for name in metric_names(expr):
            yield name, expr[:60]


# --- docker-compose -------------------------------------------------------------------------------------------


def _bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to examples/) of a service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = source
    return mounts


def test_compose_services_and_mounted_files() -> None:
    compose = _yaml(EXAMPLES / "docker-compose.yml")
    services = compose["services"]
    assert set(services) == {"otlp-bridge", "prometheus", "alertmanager", "grafana"}
    assert (EXAMPLES / services["otlp-bridge"]["build"]["context"] / "Dockerfile").is_file()
    for name, service in services.items():
        for target, source in _bind_mounts(service).items():
            if source.startswith("./secrets/"):
                continue  # made by the operator (see the file's header), never shipped
            assert (EXAMPLES / source).exists(), f"{name}: {source} -> {target} does not exist"
        for named in (v.split(":")[0] for v in service.get("volumes", []) if not v.startswith(".")):
            assert named in compose["volumes"], f"{name}: undeclared volume {named}"


def test_compose_paths_match_the_configs() -> None:
    services = _yaml(EXAMPLES / "docker-compose.yml")["services"]

    bridge = _bind_mounts(services["otlp-bridge"])
    config_path = services["otlp-bridge"]["command"][services["otlp-bridge"]["command"].index("--config") + 1]
    assert bridge[config_path] == "./bridge.yaml"
    bridge_config = _yaml(EXAMPLES / "bridge.yaml")
    assert bridge[bridge_config["ingest_token_file"]] == "./secrets/ingest-token"
    assert bridge[bridge_config["scrape_token_file"]] == "./secrets/scrape-token"

    prometheus = _bind_mounts(services["prometheus"])
    config_file = next(a for a in services["prometheus"]["command"] if a.startswith("--config.file="))
    config_path = config_file.split("=", 1)[1]
    assert prometheus[config_path] == "./prometheus.yml"
    config = _yaml(EXAMPLES / "prometheus.yml")
    config_dir = PurePosixPath(config_path).parent
    for rule_file in config["rule_files"]:
        assert prometheus[str(config_dir / rule_file)] == f"./{rule_file}"
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "otlp-bridge"]
    assert prometheus[str(config_dir / job["authorization"]["credentials_file"])] == "./secrets/scrape-token"
    assert job["static_configs"][0]["targets"] == ["otlp-bridge:9464"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]

    grafana = _bind_mounts(services["grafana"])
    provider = _yaml(EXAMPLES / "grafana" / "provisioning" / "dashboards" / "openclaw.yml")["providers"][0]
    dashboard_dir = PurePosixPath(provider["options"]["path"])
    for path in DASHBOARDS:
        assert grafana[str(dashboard_dir / path.name)] == f"./grafana/{path.name}"
    assert grafana["/etc/grafana/provisioning"] == "./grafana/provisioning"
    datasources = _yaml(EXAMPLES / "grafana" / "provisioning" / "datasources" / "prometheus.yml")["datasources"]
    assert {d["type"]: d["url"] for d in datasources}["prometheus"] == "http://prometheus:9090"


def test_bridge_accepts_the_compose_command_line(tmp_path: Path) -> None:
    """The image's entrypoint plus the compose command, with the files compose mounts."""
    instructions = _dockerfile()
    (entrypoint,) = [json.loads(v) for k, v in instructions if k == "ENTRYPOINT"]
    service = _yaml(EXAMPLES / "docker-compose.yml")["services"]["otlp-bridge"]
    files = {target: "not-a-real-secret\n" for target, source in _bind_mounts(service).items()}
    for target, source in _bind_mounts(service).items():
        if not source.startswith("./secrets/"):
            files[target] = (EXAMPLES / source).read_text()
    effective = check_config([*entrypoint[1:], *service["command"]], files, tmp_path)
    assert effective["otlp_listen"] == "0.0.0.0:4318"  # the entrypoint wins over bridge.yaml
    assert effective["metrics_listen"] == "0.0.0.0:9464"
    assert effective["ingest_token_header"] == "x-collector-token"
    assert effective["scrape_token_file"] == f"{tmp_path}/scrape-token"


# --- OpenClaw and bridge config -------------------------------------------------------------------------------


def test_bridge_yaml_uses_interface_keys() -> None:
    config = _yaml(EXAMPLES / "bridge.yaml")
    assert set(config) <= interface_yaml_keys()
    assert config["metric_name_prefix"] == "openclaw."


def test_bridge_accepts_the_example_config(tmp_path: Path) -> None:
    config = _yaml(EXAMPLES / "bridge.yaml")
    files = {
        "/etc/otlp-bridge/bridge.yaml": (EXAMPLES / "bridge.yaml").read_text(),
        config["ingest_token_file"]: "not-a-real-secret\n",
        config["scrape_token_file"]: "not-a-real-secret\n",
    }
    effective = check_config(["--config", "/etc/otlp-bridge/bridge.yaml"], files, tmp_path)
    expected = {
        k: v.replace("/etc/otlp-bridge/", f"{tmp_path}/") if k.endswith("_file") else v for k, v in config.items()
    }
    assert {k: effective[k] for k in config} == expected


def test_example_config_checks_on_a_machine_without_its_secrets() -> None:
    """``otlp-bridge --config examples/bridge.yaml --check-config`` as CI or a laptop runs it: the token files under
    /etc/otlp-bridge/ are not there, so they are named as skipped and the check passes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTLP_BRIDGE_")}
    out = subprocess.run(
        [sys.executable, "-m", "otlp_bridge", "--config", str(EXAMPLES / "bridge.yaml"), "--check-config"],
        capture_output=True, text=True, check=False, timeout=60, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    config = _yaml(EXAMPLES / "bridge.yaml")
    assert json.loads(out.stdout)["ingest_token_file"] == config["ingest_token_file"]
    for key in ("ingest_token_file", "scrape_token_file"):
        if not Path(config[key]).exists():
            assert f"{config[key]}: not found here, not checked" in out.stderr


def test_openclaw_fragment_points_at_the_bridge() -> None:
    otel = json.loads((EXAMPLES / "openclaw.json").read_text())["diagnostics"]["otel"]
    assert otel["enabled"] is True
    assert otel["endpoint"] == "http://127.0.0.1:4318"
    assert otel["protocol"] == "http/protobuf"
    assert otel["metrics"] is otel["traces"] is otel["logs"] is True
    bridge = _yaml(EXAMPLES / "bridge.yaml")
    assert list(otel["headers"]) == [bridge["ingest_token_header"]]
    # Exports at least once per scrape (mapping G2), and never below OpenClaw's 1000 ms minimum.
    scrape = next(j for j in _yaml(EXAMPLES / "prometheus.yml")["scrape_configs"] if j["job_name"] == "otlp-bridge")
    assert 1000 <= otel["flushIntervalMs"] <= _seconds(scrape["scrape_interval"]) * 1000


def _seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)([sm])", duration)
    assert match, duration
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


# --- systemd unit ---------------------------------------------------------------------------------------------


def _unit() -> dict[str, list[str]]:
    entries: dict[str, list[str]] = {}
    for line in (EXAMPLES / "otlp-bridge.service").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            entries.setdefault(key.strip(), []).append(value.strip())
    return entries


def test_systemd_unit_settings() -> None:
    unit = _unit()
    assert unit["DynamicUser"] == ["yes"]
    assert unit["EnvironmentFile"] == ["-/etc/default/otlp-bridge"]
    credentials = dict(c.split(":", 1) for c in unit["LoadCredential"])
    argv = shlex.split(unit["ExecStart"][0])
    assert argv[0].endswith("/otlp-bridge")
    assert argv[argv.index("--ingest-token-file") + 1] == "%d/ingest-token"
    assert argv[argv.index("--scrape-token-file") + 1] == "%d/scrape-token"
    assert set(credentials) == {"ingest-token", "scrape-token"}
    for hardening in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "RestrictAddressFamilies"):
        assert hardening in unit
    assert unit["CapabilityBoundingSet"] == [""]


def test_systemd_unit_header_is_the_documented_install() -> None:
    """The unit's header gives the same install commands as docs/deploy.md: the directory is made before anything
    goes into it, and systemd re-reads its units before the new one is enabled."""
    header = [
        line.removeprefix("#   ")
        for line in (EXAMPLES / "otlp-bridge.service").read_text().splitlines()
        if line.startswith("#   ")
    ]
    deploy = (REPO / "docs" / "deploy.md").read_text().split("## systemd", 1)[1]
    assert header == deploy.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    steps = " && ".join(header).replace("; ", " && ").split(" && ")
    first_use = next(i for i, step in enumerate(steps) if "/etc/otlp-bridge/" in step)
    assert "install -d /etc/otlp-bridge" in steps[:first_use]
    unit_installed = next(i for i, step in enumerate(steps) if "/etc/systemd/system/" in step)
    reload = steps.index("systemctl daemon-reload")
    assert unit_installed < reload < steps.index("systemctl enable --now otlp-bridge")


def test_bridge_accepts_the_systemd_command_line(tmp_path: Path) -> None:
    unit = _unit()
    argv = shlex.split(unit["ExecStart"][0])[1:]
    credentials = dict(c.split(":", 1) for c in unit["LoadCredential"])
    # %d is the credentials directory, where systemd puts the LoadCredential copies.
    argv = [a.replace("%d/", "/etc/otlp-bridge/credentials/") for a in argv]
    files = {f"/etc/otlp-bridge/credentials/{name}": "not-a-real-secret\n" for name in credentials}
    files["/etc/otlp-bridge/bridge.yaml"] = (EXAMPLES / "bridge.yaml").read_text()
    files.update({source: "not-a-real-secret\n" for source in credentials.values()})
    effective = check_config(argv, files, tmp_path)
    assert effective["ingest_token_file"] == f"{tmp_path}/credentials/ingest-token"
    assert effective["otlp_listen"] == "127.0.0.1:4318"


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    # verify insists that ExecStart's program exists: point it at one that does.
    text = (EXAMPLES / "otlp-bridge.service").read_text()
    program = shlex.split(_unit()["ExecStart"][0])[0]
    (tmp_path / "otlp-bridge.service").write_text(text.replace(program, shutil.which("true") or "/bin/true"))
    out = _run([analyze, "verify", str(tmp_path / "otlp-bridge.service")])
    assert out.returncode == 0, out.stderr
    assert out.stdout + out.stderr == "", "systemd-analyze warned about the unit"


# --- Dockerfile -----------------------------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile() -> None:
    instructions = _dockerfile()
    final_stage = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    assert final_stage[0][1] == "python:3.11-slim"
    user = [v for k, v in final_stage if k == "USER"]
    assert user and user[-1].split(":")[0] not in {"0", "root"}
    assert [v for k, v in final_stage if k == "EXPOSE"] == ["4318 9464"]
    (entrypoint,) = [json.loads(v) for k, v in final_stage if k == "ENTRYPOINT"]
    assert entrypoint == ["otlp-bridge", "--otlp-listen", "0.0.0.0:4318", "--metrics-listen", "0.0.0.0:9464"]
    assert any(k == "RUN" and "pip install ." in v for k, v in instructions)


def test_docker_context_has_what_the_build_copies() -> None:
    ignore = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()]
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, ".dockerignore is an allow-list"
    for keyword, rest in _dockerfile():
        if keyword == "COPY" and not rest.startswith("--from"):
            for source in rest.split()[:-1]:
                assert source in allowed, f"COPY {source} is excluded by .dockerignore"
                assert (REPO / source).exists() or source in {"README.md", "otlp_bridge"}


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_docker_healthcheck_command(status: int, healthy: bool) -> None:
    (healthcheck,) = [v for k, v in _dockerfile() if k == "HEALTHCHECK"]
    argv = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert argv[0] == "python"
    handler = type("Handler", (_Health,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**os.environ, "OTLP_BRIDGE_HEALTHCHECK_URL": f"http://127.0.0.1:{server.server_port}/healthz"}
        out = subprocess.run([sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert (out.returncode == 0) is healthy
    default = next(v for k, v in _dockerfile() if k == "ENV" and "OTLP_BRIDGE_HEALTHCHECK_URL" in v)
    assert "OTLP_BRIDGE_HEALTHCHECK_URL=http://127.0.0.1:9464/healthz" in default


# --- the examples agree with each other ------------------------------------------------------------------------


def _port(address: str) -> int:
    return int(address.rsplit(":", 1)[1].rstrip("/"))


def _published(service: dict[str, Any]) -> dict[int, int]:
    """Container port -> host port of a compose service."""
    return {int(p.rsplit(":", 1)[1]): int(p.rsplit(":", 2)[1]) for p in service["ports"]}


def _agreements() -> dict[str, tuple[object, ...]]:
    """What must be equal across openclaw.json, bridge.yaml, prometheus.yml, docker-compose.yml, the Dockerfile and
    the chart, for someone who follows all of them."""
    otel = json.loads((EXAMPLES / "openclaw.json").read_text())["diagnostics"]["otel"]
    bridge = _yaml(EXAMPLES / "bridge.yaml")
    (job,) = [j for j in _yaml(EXAMPLES / "prometheus.yml")["scrape_configs"] if j["job_name"] == "otlp-bridge"]
    compose = _yaml(EXAMPLES / "docker-compose.yml")["services"]["otlp-bridge"]
    (entrypoint,) = [json.loads(v) for k, v in _dockerfile() if k == "ENTRYPOINT"]
    chart = _yaml(REPO / "helm" / "otlp-bridge" / "values.yaml")
    chart_ci = {p.name: _yaml(p) for p in (REPO / "helm" / "otlp-bridge" / "ci").glob("*.yaml")}
    token_headers = {
        name: values["auth"]["ingest"].get("header")
        for name, values in chart_ci.items()
        if values and "ingest" in values.get("auth", {})
    }
    exports_every_span = otel["traces"] is True and otel.get("sampleRate", 1.0) == 1.0
    placeholder = next(iter(otel["headers"].values()))
    ingest_secret = _bind_mounts(compose)[bridge["ingest_token_file"]].removeprefix("./")
    return {
        # --spans-complete is right exactly when the gateway exports every span
        "sampleRate and spans_complete": (exports_every_span, bridge["spans_complete"]),
        # OpenClaw's default metricNamePrefix is "openclaw."
        "metric name prefix": (
            otel.get("metricNamePrefix", "openclaw."),
            bridge["metric_name_prefix"],
            chart["config"]["metric_name_prefix"],
            *(v["config"]["metric_name_prefix"] for v in chart_ci.values() if v and v.get("config")),
        ),
        "ingest token header": (
            *otel["headers"],
            bridge["ingest_token_header"],
            *token_headers.values(),
        ),
        "ingest token file": (ingest_secret in placeholder, True),
        "OTLP port": (
            _port(otel["endpoint"]),
            _port(bridge["otlp_listen"]),
            _port(entrypoint[entrypoint.index("--otlp-listen") + 1]),
            _published(compose)[_port(bridge["otlp_listen"])],
            chart["ports"]["otlp"],
        ),
        "metrics port": (
            _port(job["static_configs"][0]["targets"][0]),
            _port(bridge["metrics_listen"]),
            _port(entrypoint[entrypoint.index("--metrics-listen") + 1]),
            _published(compose)[_port(bridge["metrics_listen"])],
            chart["ports"]["metrics"],
        ),
        "metrics path": (job["metrics_path"], "/metrics"),
        "scrape job name (alert rules match on it)": (job["job_name"], chart["scrapeJobName"]),
    }


@pytest.mark.parametrize("what", sorted(_agreements()))
def test_examples_agree_with_each_other(what: str) -> None:
    values = _agreements()[what]
    assert len(set(values)) == 1, f"{what}: {values}"


def test_compose_alert_relay_override_wires_bridge_and_alertmanager(tmp_path: Path) -> None:
    """docker-compose.alert-relay.yml: the bridge gets the relay options and both token files, Alertmanager the webhook
    token where examples/alertmanager.yml reads it, and the bridge accepts the result."""
    override = _yaml(EXAMPLES / "docker-compose.alert-relay.yml")["services"]
    base = _yaml(EXAMPLES / "docker-compose.yml")["services"]
    assert set(override) <= set(base)
    bridge = override["otlp-bridge"]
    env = {name: re.sub(r"\$\{\w+:-(.*)\}", r"\1", value) for name, value in bridge["environment"].items()}
    mounts = _bind_mounts(bridge)
    assert mounts[env["OTLP_BRIDGE_ALERT_RELAY_TOKEN_FILE"]] == "./secrets/hooks-token"
    webhook_token = mounts[env["OTLP_BRIDGE_ALERT_WEBHOOK_TOKEN_FILE"]]
    (receiver,) = _yaml(EXAMPLES / "alertmanager.yml")["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert _bind_mounts(override["alertmanager"])[webhook["http_config"]["authorization"]["credentials_file"]] == (
        webhook_token
    )
    assert webhook["url"] == f"http://otlp-bridge:{base['otlp-bridge']['ports'][1].split(':')[-1]}/alertmanager"
    files = {target: "not-a-real-secret\n" for target in mounts}
    local_env = {name: value.replace("/etc/otlp-bridge/", f"{tmp_path}/") for name, value in env.items()}
    effective = check_config([], files, tmp_path, env=local_env)
    assert effective["alert_relay_url"] == "http://host.docker.internal:18789/hooks"
    assert effective["alert_relay_token_file"] == f"{tmp_path}/hooks-token"


def test_bridge_yaml_alert_relay_block_works_uncommented(tmp_path: Path) -> None:
    """The commented alert relay settings in bridge.yaml are real keys and a valid configuration once uncommented."""
    text = (EXAMPLES / "bridge.yaml").read_text()
    block = "\n".join(line.removeprefix("# ") for line in text.splitlines() if line.startswith("# alert_"))
    relay = yaml.safe_load(block)
    assert set(relay) <= interface_yaml_keys()
    assert {key.removeprefix("alert_relay_") for key in relay} >= {"url", "token_file", "channel", "to"}
    files = {
        "/etc/otlp-bridge/bridge.yaml": text + block + "\n",
        "/etc/otlp-bridge/ingest-token": "not-a-real-secret\n",
        "/etc/otlp-bridge/scrape-token": "not-a-real-secret\n",
        relay["alert_relay_token_file"]: "not-a-real-secret\n",
        relay["alert_webhook_token_file"]: "not-a-real-secret\n",
    }
    effective = check_config(["--config", "/etc/otlp-bridge/bridge.yaml"], files, tmp_path)
    assert effective["alert_relay_url"] == relay["alert_relay_url"]
    assert effective["alert_relay_token_file"] == f"{tmp_path}/hooks-token"
