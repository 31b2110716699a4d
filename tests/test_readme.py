"""The README is a promise: every option, environment variable, endpoint and family it must name is there."""

from __future__ import annotations

import re
from pathlib import Path

from otlp_bridge.config import ENV_NOT_OPTIONS, OPTIONS, REFUSED_SOURCE_LABELS, Config
from otlp_bridge.expose.selfmetrics import SelfMetrics
from otlp_bridge.store import Store
from otlp_bridge.translate.mapping import METRIC_SPECS, family_names
from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def test_starts_with_the_install_and_test_commands() -> None:
    """The first code block installs and runs the bridge, then runs the tests."""
    block = README.split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line and not line.startswith("#")]
    venv = "python3 -m venv .venv && . .venv/bin/activate && "
    assert commands == [f"{venv}pip install . && otlp-bridge", f"{venv}pip install -e '.[test]' && python -m pytest"]


def test_ci_runs_the_readme_test_command() -> None:
    """``.ci/run`` ends with the README's test command, verbatim."""
    block = README.split("```bash", 1)[1].split("```", 1)[0]
    test_command = [line for line in block.splitlines() if line and not line.startswith("#")][1]
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test_command


def test_every_option_and_environment_variable_is_documented() -> None:
    """Each command-line option appears with its environment variable and YAML key."""
    for option in OPTIONS:
        key = option.name.replace("-", "_")
        row = _option_line(option.name)
        assert row is not None, option.name
        assert f"`OTLP_BRIDGE_{key.upper()}`" in row
        assert f"`{key}`" in row
    for flag in ("--config FILE", "--check-config", "--version"):
        assert f"`{flag}`" in README


def _option_line(option_name: str) -> str | None:
    """The table row of an option (``--alert-relay-to``'s, not ``--alert-relay-token-file``'s)."""
    return next((line for line in README.splitlines() if re.match(rf"\| `--{option_name}[` ]", line)), None)


def _option_row(option_name: str) -> list[str]:
    row = _option_line(option_name)
    assert row is not None, option_name
    return [cell.strip() for cell in row.strip("|").split(" | ")]


def test_documented_defaults_are_the_code_defaults() -> None:
    """The default column says what ``Config`` (and so ``--help``) uses."""
    defaults = Config().describe()
    for option in OPTIONS:
        cell = _option_row(option.name)[3]
        value = defaults.get(option.name.replace("-", "_"))  # the shared remote-write options live on the targets
        if option.default is not None:  # another option's value: "the same as --max-series"
            assert option.default.endswith(cell.strip("`")), (option.name, cell)
        elif value is None:
            assert cell.startswith("none"), (option.name, cell)
        elif isinstance(value, bool):
            assert cell == str(value).lower(), (option.name, cell)
        else:
            shown = int(value) if isinstance(value, float) and value.is_integer() else value
            assert cell == f"`{shown}`", (option.name, cell)


def test_prefixed_variables_that_are_not_options_are_named() -> None:
    """The README names every OTLP_BRIDGE_* variable the bridge tolerates without it being an option."""
    for name in ENV_NOT_OPTIONS:
        assert f"`{name}`" in README, name


def test_refused_source_labels_are_named() -> None:
    """The --source-label row names every label the bridge refuses for it."""
    meaning = _option_row("source-label")[4]
    for name in REFUSED_SOURCE_LABELS:
        assert f"`{name}`" in meaning, name


def test_selected_points_are_defined_and_marked_where_the_code_selects() -> None:
    """ "(selected points)" marks exactly the mapping entries with a ``select``, and the note under the table
    names each such OTLP metric."""
    table, note = README.split("**(selected points)**", 1)
    note = " ".join(note.split("\n\n", 1)[0].split())
    for spec in METRIC_SPECS:
        (row,) = [line for line in table.splitlines() if line.startswith(f"| `{spec.name}` |")]
        # the liveness row spells its selection out: `openclaw.queue.depth{openclaw.channel="liveness"}`
        marked = f"`openclaw.{spec.source}` (selected points)" in row or f"`openclaw.{spec.source}{{" in row
        assert marked == (spec.select is not None), (spec.name, spec.source)
        if spec.select is not None:
            source = spec.source if not spec.source.startswith("memory.") else "memory.*_bytes"
            assert f"`openclaw.{source}`" in note, source


def test_every_family_is_documented() -> None:
    """Every family the bridge can expose is named in the README."""
    families = family_names() | SelfMetrics(Store(1, 1, 1.0)).family_names()
    missing = [name for name in sorted(families) if name not in README and not name.startswith("process_")]
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
        "/",
    ):
        assert re.search(rf"[` ]{re.escape(path)}[`? ,]", README), path


MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
# A file named in a comment of the chart's values: a path with a slash, or a Markdown file.
MENTIONED_PATH = re.compile(r"(?<![\w./-])((?:[\w.-]+/)+[\w.-]+\.(?:md|ya?ml|json)|[\w.-]+\.md)\b")


def _markdown_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "bench" / "README.md"]


def test_relative_links_resolve() -> None:
    """Every relative link in README.md and docs/, and every file the chart's values.yaml points to, exists in the
    repository (a user who clones it has nothing else)."""
    dead = []
    for path in _markdown_files():
        for target in MARKDOWN_LINK.findall(path.read_text()):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            resolved = (path.parent / target.split("#", 1)[0]).resolve()
            if not resolved.exists() or not resolved.is_relative_to(REPO):
                dead.append(f"{path.relative_to(REPO)}: {target}")
    chart = REPO / "helm" / "otlp-bridge"
    dead += [
        f"values.yaml: {mention}"
        for mention in MENTIONED_PATH.findall((chart / "values.yaml").read_text())
        if not any((base / mention).exists() for base in (REPO, chart))
    ]
    assert dead == []


def test_link_check_sees_a_dead_link() -> None:
    """The patterns above find what they are meant to find."""
    assert MARKDOWN_LINK.findall("see [the docs](docs/nope.md#x) and [site](https://x)") == [
        "docs/nope.md#x",
        "https://x",
    ]
    assert MENTIONED_PATH.findall("# keys of docs/interfaces.md, README.md and ci/a-values.yaml; bridge.yaml") == [
        "docs/interfaces.md",
        "README.md",
        "ci/a-values.yaml",
    ]
