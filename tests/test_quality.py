"""The code-quality gates run as tests, so the README's one test command covers them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.conftest import REPO


def _run(*command: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}  # the package of this checkout, never an installed one
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def _lint_imports(cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """import-linter's ``lint-imports`` with the contracts of ``[tool.importlinter]`` in pyproject.toml."""
    beside_python = Path(sys.executable).parent / "lint-imports"
    command = str(beside_python) if beside_python.exists() else shutil.which("lint-imports") or "lint-imports"
    return _run(command, "--no-cache", cwd=cwd)


def test_ruff_lint_is_clean() -> None:
    """ruff finds nothing to complain about."""
    result = _run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    """Every file is formatted."""
    result = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    """mypy --strict over the package, the tests and the benchmarks."""
    result = _run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers_are_kept() -> None:
    """Every import follows the layers of pyproject.toml's contracts (README's architecture section)."""
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(tmp_path: Path) -> None:
    """The contract has teeth: the store importing an exposition module (a copy of the package) fails it."""
    shutil.copytree(REPO / "otlp_bridge", tmp_path / "otlp_bridge", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    store = tmp_path / "otlp_bridge" / "store.py"
    store.write_text(store.read_text() + "\nfrom otlp_bridge.expose import jsonapi  # a lower layer upwards\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "otlp_bridge.store is not allowed to import otlp_bridge.expose" in result.stdout, result.stdout


def test_readme_shows_the_layers_of_the_contract() -> None:
    """README's Development listing names every layer of the contract, top to bottom, siblings on one line."""
    contract = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]
    readme = (REPO / "README.md").read_text()
    listing = readme.partition("## Development")[2].partition("```\notlp_bridge/\n")[2].partition("```")[0]
    entries = [re.findall(r"\b([a-z_]+)(?:/|\.py)", line.split("  ", 2)[1]) for line in listing.splitlines()]
    lines = [sorted(names) for names in entries if names]
    layers = [sorted(name.strip(" ()") for name in layer.split("|")) for layer in contract["layers"]]
    assert [names for names in lines if names in layers] == layers, listing
