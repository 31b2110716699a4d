"""The repository stands on its own: its fixtures are inside it, nothing reads a path outside it, and a test skips only
for a missing external tool, naming the command that installs it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import CAPTURES, FIXTURES, INSTALL, REPO, SCRAPES
from tests.support import SCRAPES_03A

CODE = ("otlp_bridge", "tests", "bench")
TEXT = {".py", ".md", ".sh", ".mjs", ".toml", ".yaml", ".yml", ".cfg"}
# A path into the reference material beside the project, or the variable that pointed there (written so that this
# file does not match itself).
OUTSIDE = re.compile(r"\bshare[d]/|/share[d]\b|OTLP_BRIDGE_SHARE[D]")
FOLDERS = (
    "01-run1-startup-and-npm-failure",
    "02-run2-restarts-first-success-and-tool",
    "03a-main-part1-cumulative",
    "04-variant-delta-gzip",
)


def _text_files() -> list[Path]:
    return [
        path
        for folder in CODE
        for path in sorted((REPO / folder).rglob("*"))
        if path.suffix in TEXT and path.is_file() and "node_modules" not in path.parts
    ]


def test_nothing_reads_a_path_outside_the_project() -> None:
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _text_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert offenders == []


def test_the_captures_and_scrapes_are_in_the_repository() -> None:
    assert FIXTURES.is_relative_to(REPO)
    assert (FIXTURES / "README.md").is_file()
    assert sorted(p.name for p in CAPTURES.iterdir() if p.is_dir()) == list(FOLDERS)
    for folder in FOLDERS:
        bodies = sorted((CAPTURES / folder).glob("*.pb"))
        assert any(b.name.endswith("-metrics.pb") for b in bodies), folder
        assert [b for b in bodies if not b.with_suffix(".meta.json").is_file()] == []
    assert {*SCRAPES_03A, "scrape-first.txt"} <= {p.name for p in SCRAPES.glob("*.txt")}
    size = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    assert size < 6_000_000, f"fixtures are {size} bytes: keep them to a few MB"


def test_every_external_tool_has_its_install_command() -> None:
    sources = {path: path.read_text() for path in sorted((REPO / "tests").glob("*.py"))}
    tools = {name for text in sources.values() for name in re.findall(r'require_tool\("([^"]+)"\)', text)}
    assert tools
    assert tools <= INSTALL.keys()
    # Skips go through conftest.missing(), which fails instead under OTLP_BRIDGE_REQUIRE_TOOLS=1 (.ci/run).
    direct = [p.name for p, text in sources.items() if re.search(r"pytest\.(skip\(|importorskip|mark\.skip)", text)]
    assert direct == ["conftest.py"]
