"""The Helm chart: lint and render every values file, then check what the rendered objects promise."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from otlp_bridge.config import OPTIONS
from tests.conftest import REPO, require_tool
from tests.support import check_config
from tests.test_robustness import make_certificate

CHART = REPO / "helm" / "otlp-bridge"
EXAMPLES = REPO / "examples"
CI_VALUES = sorted((CHART / "ci").glob("*.yaml"))
STANDALONE = ["default-values.yaml", "full-values.yaml", "existing-secrets-values.yaml", "remote-write-values.yaml"]
NAMESPACE = "openclaw"

Doc = dict[str, Any]

# Kinds each values file renders (multiset).
EXPECTED_KINDS = {
    "default-values.yaml": {"ConfigMap": 1, "Deployment": 1, "Service": 1},
    "existing-secrets-values.yaml": {"ConfigMap": 1, "Deployment": 1, "Service": 1, "ServiceMonitor": 1},
    "full-values.yaml": {
        "ConfigMap": 2,  # config, dashboards
        "Deployment": 1,
        "PodDisruptionBudget": 1,
        "PrometheusRule": 1,
        "Secret": 4,  # ingest, scrape, OpenClaw's hooks token, Alertmanager's webhook token
        "Service": 1,
        "ServiceMonitor": 1,
    },
    "remote-write-values.yaml": {"ConfigMap": 1, "Deployment": 1, "Service": 1},
    "sidecar-values.yaml": {
        "ConfigMap": 2,  # config, sidecar snippet
        "PodMonitor": 1,
        "PrometheusRule": 1,
        "Secret": 2,
    },
}


@pytest.fixture(scope="module")
def helm() -> str:
    return require_tool("helm")


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)


def render(helm: str, values: str | None = None, *sets: str) -> list[Doc]:
    cmd = [helm, "template", "rel", str(CHART), "--namespace", NAMESPACE]
    if values:
        cmd += ["-f", str(CHART / "ci" / values)]
    for s in sets:
        cmd += ["--set", s]
    out = _run(cmd)
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def one(docs: list[Doc], kind: str, name_suffix: str = "") -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, f"expected one {kind} *{name_suffix}, got {[d['metadata']['name'] for d in found]}"
    return found[0]


def arg_value(args: list[str], flag: str) -> str | None:
    """The value after `flag` in an argv list (the chart passes `--flag value` as two items)."""
    values = [args[i + 1] for i, a in enumerate(args[:-1]) if a == flag]
    assert len(values) <= 1, f"{flag} given more than once"
    return values[0] if values else None


def interface_yaml_keys() -> set[str]:
    """The YAML keys the bridge accepts (one per command-line option; the README documents each)."""
    return {option.name.replace("-", "_") for option in OPTIONS}


def mounted_source(pod: Doc, container: Doc, path: str) -> tuple[Doc, str]:
    """The pod volume and the file name inside it that `path` in `container` resolves to."""
    for mount in container["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
            return volume, path[len(prefix) :]
    message = f"{path} is not under any volumeMount of {container['name']}"
    raise AssertionError(message)


def secret_file(pod: Doc, container: Doc, path: str) -> tuple[str, str]:
    """(Secret name, key) behind a mounted token file."""
    volume, filename = mounted_source(pod, container, path)
    assert "secret" in volume, f"{path} is not mounted from a Secret"
    items = {i["path"]: i["key"] for i in volume["secret"]["items"]}
    return volume["secret"]["secretName"], items[filename]


def deployment_parts(docs: list[Doc]) -> tuple[Doc, Doc]:
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def sidecar_parts(docs: list[Doc]) -> tuple[Doc, Doc]:
    snippet = one(docs, "ConfigMap", "-sidecar")["data"]
    (container,) = yaml.safe_load(snippet["container.yaml"])
    volumes = yaml.safe_load(snippet["volumes.yaml"])
    return {"volumes": volumes, "containers": [container]}, container


# --- lint and render ------------------------------------------------------------------------------------------


def test_ci_values_cover_the_documented_shapes() -> None:
    assert {p.name for p in CI_VALUES} == set(EXPECTED_KINDS)


@pytest.mark.parametrize("values", [None, *[p.name for p in CI_VALUES]])
def test_lint(helm: str, values: str | None) -> None:
    cmd = [helm, "lint", "--strict", str(CHART)]
    if values:
        cmd += ["-f", str(CHART / "ci" / values)]
    out = _run(cmd)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("values", sorted(EXPECTED_KINDS))
def test_rendered_kinds(helm: str, values: str) -> None:
    docs = render(helm, values)
    assert Counter(d["kind"] for d in docs) == Counter(EXPECTED_KINDS[values])


def test_defaults_render_like_default_values(helm: str) -> None:
    assert render(helm) == render(helm, "default-values.yaml")


# --- standalone shape -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("values", STANDALONE)
def test_standalone_listens_on_all_interfaces(helm: str, values: str) -> None:
    docs = render(helm, values)
    _, container = deployment_parts(docs)
    assert container["command"] == ["otlp-bridge"]
    assert arg_value(container["args"], "--otlp-listen") == "0.0.0.0:4318"
    assert arg_value(container["args"], "--metrics-listen") == "0.0.0.0:9464"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"otlp-http": 4318, "metrics": 9464}

    service = one(docs, "Service")
    assert {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]} == {
        "otlp-http": (4318, "otlp-http"),
        "metrics": (9464, "metrics"),
    }
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_no_service_link_variables(helm: str) -> None:
    """A Service named otlp-bridge would otherwise put OTLP_BRIDGE_SERVICE_HOST and the like into the pod."""
    pod, _ = deployment_parts(render(helm, None))
    assert pod["enableServiceLinks"] is False


@pytest.mark.parametrize("values", STANDALONE)
def test_probes_use_health_endpoints_on_metrics_port(helm: str, values: str) -> None:
    _, container = deployment_parts(render(helm, values))
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] == "metrics"


def test_tls_switches_probes_and_scrape_to_https(helm: str) -> None:
    docs = render(helm, "full-values.yaml")
    pod, container = deployment_parts(docs)
    assert container["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    assert container["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    volume, name = mounted_source(pod, container, arg_value(container["args"], "--tls-cert-file") or "")
    assert (volume["secret"]["secretName"], name) == ("otlp-bridge-tls", "tls.crt")
    assert one(docs, "ServiceMonitor")["spec"]["endpoints"][0]["scheme"] == "https"


@pytest.mark.parametrize("values", [*STANDALONE, "sidecar-values.yaml"])
def test_security_context(helm: str, values: str) -> None:
    docs = render(helm, values)
    pod, container = sidecar_parts(docs) if values == "sidecar-values.yaml" else deployment_parts(docs)
    ctx = container["securityContext"]
    assert ctx["runAsNonRoot"] is True
    assert ctx["runAsUser"] != 0
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    assert "add" not in ctx["capabilities"]
    assert ctx["seccompProfile"]["type"] == "RuntimeDefault"
    assert container["resources"]["limits"]["memory"]
    assert container["resources"]["requests"]["cpu"]
    if values != "sidecar-values.yaml":
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("values", [*STANDALONE, "sidecar-values.yaml"])
def test_config_file_is_mounted_from_the_configmap(helm: str, values: str) -> None:
    docs = render(helm, values)
    pod, container = sidecar_parts(docs) if values == "sidecar-values.yaml" else deployment_parts(docs)
    path = arg_value(container["args"], "--config")
    assert path
    volume, filename = mounted_source(pod, container, path)
    configmap = one(docs, "ConfigMap", "-config")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    config = yaml.safe_load(configmap["data"][filename])
    assert set(config) <= interface_yaml_keys() | {"remote_write"}  # the targets of remoteWrite


def test_empty_config_renders_no_configmap_and_no_flag(helm: str) -> None:
    docs = render(helm, None, "config=null")
    _, container = deployment_parts(docs)
    assert "--config" not in container["args"]
    assert not [d for d in docs if d["kind"] == "ConfigMap"]


def test_config_change_rolls_the_pods(helm: str) -> None:
    def checksums(*sets: str) -> dict[str, str]:
        template: Doc = one(render(helm, "full-values.yaml", *sets), "Deployment")["spec"]["template"]
        annotations: dict[str, str] = template["metadata"]["annotations"]
        return annotations

    base = checksums()
    assert checksums("config.log_level=debug")["checksum/config"] != base["checksum/config"]
    assert checksums("auth.scrape.token=other")["checksum/secret"] != base["checksum/secret"]


@pytest.mark.parametrize("values", [*STANDALONE, "sidecar-values.yaml"])
def test_bridge_accepts_the_rendered_command_line(helm: str, values: str, tmp_path: Path) -> None:
    docs = render(helm, values)
    _, container = sidecar_parts(docs) if values == "sidecar-values.yaml" else deployment_parts(docs)
    assert container["command"] == ["otlp-bridge"]
    args = container["args"]
    files = {}
    if config := arg_value(args, "--config"):
        files[config] = one(docs, "ConfigMap", "-config")["data"]["bridge.yaml"]
    # Token and TLS files come from Secrets that do not exist here: --check-config skips them.
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    effective = check_config(args, files, tmp_path, env=env)
    assert effective["otlp_listen"] == arg_value(args, "--otlp-listen")
    assert effective["metrics_listen"] == "0.0.0.0:9464"
    assert (effective["ingest_token_file"] is None) == (arg_value(args, "--ingest-token-file") is None)
    if values == "full-values.yaml":
        assert effective["source_label"] == "gateway"
        assert effective["max_inflight"] == 128  # extraArgs
        assert effective["max_body_bytes"] == 10485760  # extraEnv
        assert effective["ingest_token_header"] == "x-collector-token"
        assert effective["alert_relay_url"] == "http://openclaw-gateway.openclaw:18789/hooks"
        assert (effective["alert_relay_channel"], effective["alert_relay_language"]) == ("feishu", "zh-CN")


# --- tokens ---------------------------------------------------------------------------------------------------


def test_no_tokens_by_default(helm: str) -> None:
    docs = render(helm)
    pod, container = deployment_parts(docs)
    assert "--ingest-token-file" not in container["args"]
    assert "--scrape-token-file" not in container["args"]
    assert not [v for v in pod["volumes"] if "secret" in v]


def test_chart_created_token_secrets_are_mounted(helm: str) -> None:
    docs = render(helm, "full-values.yaml")
    pod, container = deployment_parts(docs)
    secrets = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "Secret"}
    for flag in ("--ingest-token-file", "--scrape-token-file"):
        name, key = secret_file(pod, container, arg_value(container["args"], flag) or "")
        assert key in secrets[name]
    assert arg_value(container["args"], "--ingest-token-header") == "x-collector-token"
    ingest = secret_file(pod, container, arg_value(container["args"], "--ingest-token-file") or "")
    scrape = secret_file(pod, container, arg_value(container["args"], "--scrape-token-file") or "")
    assert ingest[0] != scrape[0]
    token_volumes = [v for v in pod["volumes"] if "secret" in v and "token" in v["name"]]
    assert {v["secret"]["defaultMode"] for v in token_volumes} == {0o440}
    assert pod["securityContext"]["fsGroup"] == container["securityContext"]["runAsGroup"]


def test_existing_secrets_are_mounted(helm: str) -> None:
    docs = render(helm, "existing-secrets-values.yaml")
    pod, container = deployment_parts(docs)
    assert secret_file(pod, container, arg_value(container["args"], "--ingest-token-file") or "") == (
        "openclaw-otlp-ingest",
        "collector-token",
    )
    assert secret_file(pod, container, arg_value(container["args"], "--scrape-token-file") or "") == (
        "prometheus-scrape-tokens",
        "otlp-bridge",
    )
    credentials = one(docs, "ServiceMonitor")["spec"]["endpoints"][0]["authorization"]["credentials"]
    assert credentials == {"name": "prometheus-scrape-tokens", "key": "otlp-bridge"}
    assert secret_file(pod, container, arg_value(container["args"], "--alert-relay-token-file") or "") == (
        "openclaw-hooks",
        "hooks-token",
    )
    assert secret_file(pod, container, arg_value(container["args"], "--alert-webhook-token-file") or "") == (
        "alertmanager-webhook-tokens",
        "otlp-bridge",
    )


def test_the_alert_relay_is_off_by_default_and_its_tokens_are_secrets(helm: str) -> None:
    """No alertRelay.url: no relay options. With it: the URL and both token files, from Secrets the chart made."""
    assert not [a for a in deployment_parts(render(helm))[1]["args"] if a.startswith("--alert-")]
    docs = render(helm, "full-values.yaml")
    pod, container = deployment_parts(docs)
    assert arg_value(container["args"], "--alert-relay-url") == "http://openclaw-gateway.openclaw:18789/hooks"
    secrets = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "Secret"}
    tokens = {}
    for flag in ("--alert-relay-token-file", "--alert-webhook-token-file"):
        name, key = secret_file(pod, container, arg_value(container["args"], flag) or "")
        tokens[flag] = base64.b64decode(secrets[name][key]).decode()
    assert tokens == {
        "--alert-relay-token-file": "full-hooks-token-change-me",
        "--alert-webhook-token-file": "full-alert-webhook-token-change-me",
    }


# --- sidecar shape --------------------------------------------------------------------------------------------


def test_sidecar_binds_ingest_to_loopback(helm: str) -> None:
    docs = render(helm, "sidecar-values.yaml")
    assert not [d for d in docs if d["kind"] in ("Deployment", "Service", "ServiceMonitor")]
    _, container = sidecar_parts(docs)
    assert arg_value(container["args"], "--otlp-listen") == "127.0.0.1:4318"
    assert arg_value(container["args"], "--metrics-listen") == "0.0.0.0:9464"
    # Only the metrics port is declared; the loopback OTLP port is not reachable from outside the pod.
    assert [(p["name"], p["containerPort"]) for p in container["ports"]] == [("bridge-metrics", 9464)]
    assert container["livenessProbe"]["httpGet"]["port"] == "bridge-metrics"


def test_sidecar_does_not_gate_the_gateway_pods_readiness(helm: str) -> None:
    """A pod is ready only when all its containers are: a bridge readiness probe would take the gateway out of its
    Service whenever the bridge starts or stalls. The sidecar keeps its liveness probe and has no readiness probe."""
    _, container = sidecar_parts(render(helm, "sidecar-values.yaml"))
    assert "readinessProbe" not in container
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    deploy = (REPO / "docs" / "deploy.md").read_text()
    assert "### Readiness: why the sidecar has no readiness probe" in deploy


def test_sidecar_snippet_is_self_contained(helm: str) -> None:
    docs = render(helm, "sidecar-values.yaml")
    pod, container = sidecar_parts(docs)
    volume_names = [v["name"] for v in pod["volumes"]]
    assert sorted(m["name"] for m in container["volumeMounts"]) == sorted(volume_names)
    rendered_secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    for flag in ("--ingest-token-file", "--scrape-token-file"):
        name, key = secret_file(pod, container, arg_value(container["args"], flag) or "")
        assert name in rendered_secrets and key == "token"
    # No fsGroup in someone else's pod: token files must be readable by the bridge's uid anyway.
    assert {v["secret"]["defaultMode"] for v in pod["volumes"] if "secret" in v} == {0o444}


def test_sidecar_podmonitor_scrapes_the_sidecar_port(helm: str) -> None:
    docs = render(helm, "sidecar-values.yaml")
    spec = one(docs, "PodMonitor")["spec"]
    assert spec["selector"]["matchLabels"] == {"app.kubernetes.io/name": "openclaw"}
    (endpoint,) = spec["podMetricsEndpoints"]
    assert endpoint["port"] == "bridge-metrics"
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"] == {"name": "rel-otlp-bridge-scrape-token", "key": "token"}


PARENT_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: openclaw
spec:
  selector: {matchLabels: {app: openclaw}}
  template:
    metadata: {labels: {app: openclaw}}
    spec:
      containers:
        - name: openclaw
          image: openclaw
        {{- $ctx := dict "Values" (index .Values "otlp-bridge") "Release" .Release
              "Chart" (dict "Name" "otlp-bridge" "AppVersion" "0.1.0") }}
        - {{ include "otlp-bridge.sidecarContainer" $ctx | trim | indent 10 | trim }}
      volumes:
        {{- include "otlp-bridge.sidecarVolumes" $ctx | trim | nindent 8 }}
"""


def test_sidecar_templates_are_usable_from_a_parent_chart(helm: str, tmp_path: Path) -> None:
    """The way docs/deploy.md tells an OpenClaw chart to embed the sidecar."""
    parent = tmp_path / "openclaw"
    shutil.copytree(CHART, parent / "charts" / "otlp-bridge")
    (parent / "templates").mkdir()
    (parent / "templates" / "deployment.yaml").write_text(PARENT_TEMPLATE)
    (parent / "Chart.yaml").write_text(
        "apiVersion: v2\nname: openclaw\nversion: 0.1.0\ndependencies:\n  - name: otlp-bridge\n    version: 0.1.0\n"
    )
    (parent / "values.yaml").write_text("otlp-bridge:\n  mode: sidecar\n  auth:\n    ingest:\n      token: t\n")
    out = _run([helm, "template", "rel", str(parent)])
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["name"] == "openclaw"
    bridge = pod["containers"][1]
    assert arg_value(bridge["args"], "--otlp-listen") == "127.0.0.1:4318"
    assert (
        one(docs, "ConfigMap", "-config")["metadata"]["name"]
        == mounted_source(pod, bridge, arg_value(bridge["args"], "--config") or "")[0]["configMap"]["name"]
    )
    assert secret_file(pod, bridge, arg_value(bridge["args"], "--ingest-token-file") or "")[0] in {
        d["metadata"]["name"] for d in docs if d["kind"] == "Secret"
    }


# --- Prometheus Operator and Grafana objects ------------------------------------------------------------------


def test_servicemonitor_scrapes_pods_with_the_alerting_job_label(helm: str) -> None:
    docs = render(helm, "full-values.yaml")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service = one(docs, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["path"] == "/metrics"
    assert endpoint["authorization"]["credentials"] == {"name": "rel-otlp-bridge-scrape-token", "key": "token"}
    job = [r for r in endpoint["relabelings"] if r.get("targetLabel") == "job"]
    assert [r["replacement"] for r in job] == ["otlp-bridge"]


def test_prometheusrule_carries_the_example_rules(helm: str) -> None:
    chart_copy = CHART / "files" / "alert-rules.yml"
    assert chart_copy.read_text() == (EXAMPLES / "alert-rules.yml").read_text(), "copy examples/alert-rules.yml"
    rule = one(render(helm, "full-values.yaml"), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"]["groups"] == yaml.safe_load((EXAMPLES / "alert-rules.yml").read_text())["groups"]


def test_prometheusrule_follows_the_scrape_job_name(helm: str) -> None:
    docs = render(helm, None, "prometheusRule.enabled=true", "scrapeJobName=openclaw-bridge")
    rules = {r["alert"]: r for g in one(docs, "PrometheusRule")["spec"]["groups"] for r in g["rules"]}
    assert rules["OpenClawGatewayDown"]["expr"] == 'up{job="openclaw-bridge"} == 0'


def test_dashboards_configmap(helm: str) -> None:
    configmap = one(render(helm, "full-values.yaml"), "ConfigMap", "-dashboards")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    examples = {p.name: p for p in (EXAMPLES / "grafana").glob("*.json")}
    assert set(configmap["data"]) == set(examples)
    for name, path in examples.items():
        assert (CHART / "dashboards" / name).read_text() == path.read_text(), f"copy {path} into the chart"
        assert json.loads(configmap["data"][name]) == json.loads(path.read_text())


# --- values that cannot work are refused ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["replicaCount=2"], "sessionAffinity=ClientIP"),
        (["config.otlp_listen=0.0.0.0:4318"], "config.otlp_listen is set by the chart"),
        (["auth.ingest.token=a", "auth.ingest.existingSecret=b"], "either token or existingSecret"),
        (["mode=sidecar", "podMonitor.enabled=true"], "podSelector"),
        (["mode=sidecar", "serviceMonitor.enabled=true"], "use podMonitor"),
        (["podDisruptionBudget.enabled=true", "podDisruptionBudget.maxUnavailable=null"], "minAvailable or max"),
        (["config.remote_write_url=http://x/"], "give remote-write targets in remoteWrite"),
        (["remoteWrite[0].url=http://x/", "remoteWrite[0].token=a", "remoteWrite[0].existingSecret=b"], "not both"),
        (["remoteWrite[0].url=http://x/", "remoteWrite[0].basicAuthUser=u"], "needs the password"),
        (
            ["remoteWrite[0].url=http://x/", "remoteWrite[0].tls.existingSecret=s", "remoteWrite[0].tls.certKey=c"],
            "certKey and keyKey together",
        ),
        (["remoteWrite[0].url=http://x/", "remoteWrite[0].tls.existingSecret=s"], "name caKey, certKey/keyKey"),
        (["alertRelay.url=http://gw:18789/hooks"], "alertRelay.url needs OpenClaw's hooks token"),
        (["alertRelay.url=http://gw/hooks", "alertRelay.token=a", "alertRelay.existingSecret=b"], "not both"),
        (["auth.alertWebhook.token=a"], "set alertRelay.url too"),
        (["config.alert_relay_url=http://gw/hooks"], "config.alert_relay_url is set by the chart"),
    ],
)
def test_invalid_values_fail(helm: str, sets: list[str], message: str) -> None:
    assert message in template_error(helm, sets)


def template_error(helm: str, sets: list[str]) -> str:
    """``helm template`` with these ``--set`` values must fail; its error output."""
    cmd = [helm, "template", "rel", str(CHART)]
    for s in sets:
        cmd += ["--set", s]
    out = _run(cmd)
    assert out.returncode != 0
    return out.stderr


# --- docs/deploy.md: what to do before helm install ---------------------------------------------------------

DEPLOY = (REPO / "docs" / "deploy.md").read_text()


def test_deploy_doc_builds_and_loads_the_image_the_chart_uses() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    image = f"{values['image']['repository']}:{yaml.safe_load((CHART / 'Chart.yaml').read_text())['appVersion']}"
    assert re.search(rf"^docker build -t {re.escape(image)} \.$", DEPLOY, flags=re.MULTILINE)
    assert re.search(rf"^kind load docker-image {re.escape(image)}$", DEPLOY, flags=re.MULTILINE)
    pushed = re.findall(r"^docker push (\S+)$", DEPLOY, flags=re.MULTILINE)
    assert pushed, "no docker push example"
    assert f"--set image.repository={pushed[0].rsplit(':', 1)[0]}" in DEPLOY


def test_deploy_doc_creates_the_secrets_the_chart_mounts(helm: str) -> None:
    """The kubectl commands make Secrets with the names of the standalone install command and the keys the chart
    mounts as the token and TLS files."""
    generic = dict(re.findall(r"create secret generic (\S+) --from-file=(\w+)=", DEPLOY))
    (tls_name,) = re.findall(r"create secret tls (\S+) ", DEPLOY)
    install = DEPLOY.split("## Kubernetes: standalone", 1)[1].split("```", 2)[1]
    sets = re.findall(r"--set (auth\.\w+\.existingSecret=\S+)", install)
    assert sorted(s.split("=")[1] for s in sets) == sorted(generic)
    docs = render(helm, None, *sets, f"tls.existingSecret={tls_name}")
    pod, container = deployment_parts(docs)
    for flag in ("--ingest-token-file", "--scrape-token-file"):
        name, key = secret_file(pod, container, arg_value(container["args"], flag) or "")
        assert generic[name] == key, flag
    for flag, key in (("--tls-cert-file", "tls.crt"), ("--tls-key-file", "tls.key")):
        volume, filename = mounted_source(pod, container, arg_value(container["args"], flag) or "")
        assert (volume["secret"]["secretName"], filename) == (tls_name, key)


# --- values.schema.json ---------------------------------------------------------------------------------------


def schema() -> Doc:
    document: Doc = json.loads((CHART / "values.schema.json").read_text())
    return document


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["config.max_seris=5"], "additional properties 'max_seris' not allowed"),
        (["replicaCont=2"], "additional properties 'replicaCont' not allowed"),
        (["auth.ingest.existingSecretKy=token"], "additional properties 'existingSecretKy' not allowed"),
        (["serviceMonitor.enable=true"], "additional properties 'enable' not allowed"),
        (["config.log_level=verbose"], "/config/log_level"),
        (["config.max_series=0"], "/config/max_series"),
        (["ports.otlp=70000"], "/ports/otlp"),
        (["mode=daemonset"], "/mode"),
        (["alertRelay.url=ftp://gw/hooks"], "/alertRelay/url"),
        (["config.alert_relay_language=fr"], "/config/alert_relay_language"),
    ],
)
def test_schema_refuses_misspelled_and_out_of_range_values(helm: str, sets: list[str], message: str) -> None:
    """A typo fails at helm template/install with a schema error, instead of a pod that exits 2."""
    error = template_error(helm, sets)
    assert "schema" in error
    assert message in error


def test_schema_config_keys_are_the_bridge_keys() -> None:
    """``config`` allows exactly the bridge's YAML keys (the chart-set ones get their own clearer error)."""
    assert set(schema()["properties"]["config"]["properties"]) == interface_yaml_keys()
    assert schema()["properties"]["config"]["additionalProperties"] is False


def test_schema_knows_every_value() -> None:
    """Every key of values.yaml is in the schema, whose top level and chart-owned maps refuse unknown keys."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    properties = schema()["properties"]
    assert schema()["additionalProperties"] is False
    assert set(values) <= set(properties)
    for key, value in values.items():
        if isinstance(value, dict) and properties[key].get("additionalProperties") is False:
            assert set(value) <= set(properties[key]["properties"]), key


def test_remote_write_targets_are_rendered_as_the_bridge_reads_them(helm: str, tmp_path: Path) -> None:
    """The Mimir example: the tenant header and the token file from the existing Secret reach the bridge's own
    --check-config as one target each; a chart-created token and basic auth mount the chart's Secret."""
    docs = render(helm, "remote-write-values.yaml")
    pod, container = deployment_parts(docs)
    config = yaml.safe_load(one(docs, "ConfigMap", "-config")["data"]["bridge.yaml"])
    mimir, victoria = config["remote_write"]
    assert mimir["headers"] == {"X-Scope-OrgID": "openclaw"}
    assert secret_file(pod, container, mimir["bearer_token_file"]) == ("mimir-write", "token")
    assert "bearer_token_file" not in victoria and victoria["queue"] == {"capacity": 500000}
    files = {arg_value(container["args"], "--config") or "": one(docs, "ConfigMap", "-config")["data"]["bridge.yaml"]}
    effective = check_config(container["args"], files, tmp_path)
    described = effective["remote_write_targets"]
    assert [(t["url"], t["headers"]) for t in described] == [
        ("https://mimir.example.com/api/v1/push", ["X-Scope-OrgID"]),
        ("http://victoria-metrics.monitoring.svc:8428/api/v1/write", []),
    ]
    assert effective["remote_write_external_label"] == ["cluster=eu-1"]

    docs = render(helm, None, "remoteWrite[0].url=https://cloud/api/prom/push", "remoteWrite[0].token=s3cret",
                  "remoteWrite[0].basicAuthUser=bridge")  # fmt: skip
    pod, container = deployment_parts(docs)
    (entry,) = yaml.safe_load(one(docs, "ConfigMap", "-config")["data"]["bridge.yaml"])["remote_write"]
    assert entry["basic_auth_user"] == "bridge"
    name, key = secret_file(pod, container, entry["basic_auth_password_file"])
    assert one(docs, "Secret", name)["data"][key] == "czNjcmV0"  # base64 of s3cret


@pytest.mark.parametrize("mode", ["standalone", "sidecar"])
def test_remote_write_tls_files_come_from_an_existing_secret(helm: str, tmp_path: Path, mode: str) -> None:
    """A target's CA bundle and client certificate are mounted from the named Secret's keys, reach the config file
    as tls_* paths, and the bridge's --check-config loads them as real certificates."""
    mtls = ["existingSecret=mtls", "caKey=ca.crt", "certKey=tls.crt", "keyKey=tls.key"]
    sets = [f"mode={mode}", "remoteWrite[0].url=https://mimir:8443/api/v1/push",
            *[f"remoteWrite[0].tls.{s}" for s in mtls], "remoteWrite[1].url=https://vm:8428/api/v1/write",
            "remoteWrite[1].tls.existingSecret=vm-ca", "remoteWrite[1].tls.caKey=bundle.pem"]  # fmt: skip
    docs = render(helm, None, *sets)
    pod, container = sidecar_parts(docs) if mode == "sidecar" else deployment_parts(docs)
    mutual, ca_only = yaml.safe_load(one(docs, "ConfigMap", "-config")["data"]["bridge.yaml"])["remote_write"]
    assert secret_file(pod, container, mutual["tls_ca_file"]) == ("mtls", "ca.crt")
    assert secret_file(pod, container, mutual["tls_cert_file"]) == ("mtls", "tls.crt")
    assert secret_file(pod, container, mutual["tls_key_file"]) == ("mtls", "tls.key")
    assert secret_file(pod, container, ca_only["tls_ca_file"]) == ("vm-ca", "bundle.pem")
    assert "tls_cert_file" not in ca_only and "tls_key_file" not in ca_only

    (tmp_path / "made").mkdir()
    made = make_certificate(tmp_path / "made")
    cert, key = made.cert.read_text(), made.key.read_text()
    files = {
        arg_value(container["args"], "--config") or "": one(docs, "ConfigMap", "-config")["data"]["bridge.yaml"],
        mutual["tls_ca_file"]: cert, mutual["tls_cert_file"]: cert, mutual["tls_key_file"]: key,
        ca_only["tls_ca_file"]: cert,
    }  # fmt: skip
    (tmp_path / "root").mkdir()
    targets = check_config(container["args"], files, tmp_path / "root")["remote_write_targets"]
    assert [t["url"] for t in targets] == ["https://mimir:8443/api/v1/push", "https://vm:8428/api/v1/write"]


def test_pod_disruption_budget(helm: str) -> None:
    docs = render(helm, "full-values.yaml")
    budget = one(docs, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    pod_labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    docs = render(helm, None, "podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=50%")
    assert one(docs, "PodDisruptionBudget")["spec"] == {
        "minAvailable": "50%",
        "selector": budget["spec"]["selector"],
    }
    assert not [d for d in render(helm) if d["kind"] == "PodDisruptionBudget"]


def test_several_replicas_with_client_affinity(helm: str) -> None:
    docs = render(helm, None, "replicaCount=3", "service.sessionAffinity=ClientIP")
    assert one(docs, "Deployment")["spec"]["replicas"] == 3
    assert one(docs, "Service")["spec"]["sessionAffinity"] == "ClientIP"
