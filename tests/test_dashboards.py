"""The shipped Grafana dashboards proven on data: a real Prometheus scrapes a bridge fed with a captured OpenClaw
session (metrics, traces and logs), and every panel query is evaluated with its template variables resolved the
way Grafana resolves them. A query returns data exactly when the capture holds every series it selects; the panels
that stay empty on that capture are the ones README.md lists as empty on a quiet gateway."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import pytest

from tests.conftest import CAPTURES, REPO, require_fixtures, require_tool
from tests.support import captured_requests, in_process_bridge, real_prometheus, wait_until_ready

pytestmark = pytest.mark.slow

FOLDER = "03a-main-part1-cumulative"
JOB = "otlp-bridge"
DASHBOARDS = sorted((REPO / "examples" / "grafana").glob("*.json"))
# Grafana's built-in intervals, as Grafana would set them for a 1 s scrape interval and a 1 h dashboard range.
BUILT_INS = {"$__rate_interval": "15s", "$__range": "1h"}
# A vector selector as the dashboards write them: a name followed by its matchers.
SELECTOR = re.compile(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})")
SCRAPES_BEFORE_QUERYING = 4
DEADLINE_SECONDS = 40.0


class Panel(NamedTuple):
    dashboard: str
    title: str
    expr: str


def _panels() -> list[Panel]:
    out: list[Panel] = []
    for path in DASHBOARDS:
        document = json.loads(path.read_text())
        stack = list(document["panels"])
        while stack:
            panel = stack.pop(0)
            stack.extend(panel.get("panels", []))
            out.extend(Panel(path.name, panel["title"], t["expr"]) for t in panel.get("targets", []) if "expr" in t)
    return out


def _variables(path_name: str) -> list[dict[str, Any]]:
    document = json.loads((REPO / "examples" / "grafana" / path_name).read_text())
    return [v for v in document["templating"]["list"] if v["type"] == "query"]


def _substitute(text: str, values: dict[str, str]) -> str:
    for name, value in sorted(values.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(name, value)
    return text


def _regex_of(values: list[str]) -> str:
    """Grafana's "All" of a multi-value variable in a `=~` matcher: one alternation of the values, each escaped as
    Grafana's Prometheus data source does (regex metacharacters behind a backslash that is itself escaped for the
    PromQL string)."""
    return "(" + "|".join(re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", v) for v in values) + ")"


async def _query(client: aiohttp.ClientSession, prometheus: str, promql: str) -> list[dict[str, Any]]:
    async with client.get(f"{prometheus}/api/v1/query", params={"query": promql}) as response:
        document = await response.json()
    assert document["status"] == "success", (promql, document)
    result: list[dict[str, Any]] = document["data"]["result"]
    return result


async def _label_values(client: aiohttp.ClientSession, prometheus: str, query: str) -> list[str]:
    """Grafana's `label_values(selector, label)` through the Prometheus series API."""
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
    assert match, query
    selector, label = match.groups()
    async with client.get(f"{prometheus}/api/v1/series", params={"match[]": selector}) as response:
        document = await response.json()
    assert document["status"] == "success", document
    return sorted({series[label] for series in document["data"] if label in series})


async def _resolve_variables(client: aiohttp.ClientSession, prometheus: str, dashboard: str) -> dict[str, str]:
    """Each query variable in dashboard order (later ones refer to earlier ones), set to "All" of its values."""
    values = dict(BUILT_INS)
    for variable in _variables(dashboard):
        query = _substitute(variable["query"]["query"], values)
        found = await _label_values(client, prometheus, query)
        assert found, f"{dashboard}: variable {variable['name']} has no values ({query})"
        values["$" + variable["name"]] = _regex_of(found) if variable.get("multi") or len(found) > 1 else found[0]
    return values


async def _wait_for_scrapes(client: aiohttp.ClientSession, prometheus: str, deadline: float) -> None:
    """Until Prometheus has scraped the fed bridge a few times (rates need two samples in their window)."""
    while time.monotonic() < deadline:
        result = await _query(client, prometheus, f'count_over_time(openclaw_run_completed_total{{job="{JOB}"}}[1m])')
        if result and min(float(r["value"][1]) for r in result) >= SCRAPES_BEFORE_QUERYING:
            return
        await asyncio.sleep(0.2)
    pytest.fail("Prometheus did not scrape the bridge often enough before the deadline")


def readme_empty_panels() -> set[tuple[str, str]]:
    """The `(dashboard, panel title)` pairs README.md lists as empty on the captured quiet gateway."""
    text = (REPO / "README.md").read_text()
    section = text.split("<!-- empty-panels -->")[1]
    return {(m[1], m[2]) for m in re.finditer(r"^\| `([\w.-]+\.json)` \| (.+?) \|", section, re.MULTILINE)}


def test_readme_lists_empty_panels_by_their_real_titles() -> None:
    titles = {(p.dashboard, p.title) for p in _panels()}
    listed = readme_empty_panels()
    assert listed, "README.md has no list of panels that stay empty on a quiet gateway"
    assert listed <= titles, listed - titles


async def test_every_panel_query_returns_data_when_the_capture_holds_its_series(tmp_path: Path) -> None:
    binary = require_tool("prometheus")
    require_fixtures()
    deadline = time.monotonic() + DEADLINE_SECONDS
    async with in_process_bridge(source_label="gateway") as running, aiohttp.ClientSession() as client:
        for request in captured_requests(CAPTURES / FOLDER):
            headers = {k: v for k, v in request.headers.items() if k in {"Content-Type", "Content-Encoding"}}
            url = f"{running.otlp_url}/v1/{request.signal}"
            async with client.post(url, data=request.body, headers=headers) as response:
                assert response.status == 200, request.path
        target = running.metrics_url.removeprefix("http://")
        jobs = [{"job_name": JOB, "static_configs": [{"targets": [target]}]}]
        with real_prometheus(binary, tmp_path, jobs) as prometheus:
            await wait_until_ready(client, prometheus, deadline)
            await _wait_for_scrapes(client, prometheus, deadline)
            variables = {d.name: await _resolve_variables(client, prometheus, d.name) for d in DASHBOARDS}
            empty: set[tuple[str, str]] = set()
            mismatches = []
            for panel in _panels():
                promql = _substitute(panel.expr, variables[panel.dashboard])
                assert "$" not in promql.replace("$1", ""), f"unresolved variable in {panel}"
                returned = bool(await _query(client, prometheus, promql))
                selectors = [m[0] for m in SELECTOR.finditer(promql)]
                assert selectors, panel
                held = [bool(await _query(client, prometheus, f"count({s})")) for s in selectors]
                # `… or vector(0)` answers even when nothing matches; every other query answers iff all it selects
                # is there.
                expected = all(held) or "or vector(0)" in promql
                if returned != expected:
                    mismatches.append((panel, held))
                if not returned or not all(held):
                    empty.add((panel.dashboard, panel.title))

    assert not mismatches, mismatches
    # A panel with several queries is empty in README's sense when any of them selects nothing.
    listed = readme_empty_panels()
    assert empty == listed, (sorted(empty - listed), sorted(listed - empty))
    # The panels people open first have data on a capture with runs and model calls.
    for title in ("Runs (range)", "Run duration", "Model calls per minute", "Memory by kind", "Bridge target"):
        assert ("openclaw-gateway.json", title) not in empty, title
