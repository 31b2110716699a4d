"""Shared fixtures: paths to the captured OpenClaw payloads and access to real external tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parent.parent
# Real OpenClaw 2026.4.29 payloads and the official plugin's scrapes (see the folder's README.md).
FIXTURES = REPO / "tests" / "fixtures" / "openclaw-2026.4.29"
CAPTURES = FIXTURES / "captures"
SCRAPES = FIXTURES / "prometheus-scrapes"

# CI sets this so that a missing external tool fails the run instead of skipping tests silently.
REQUIRE_TOOLS = os.environ.get("OTLP_BRIDGE_REQUIRE_TOOLS") == "1"

# The command that installs each external program the tests run (Debian; `bash .ci/run` runs all of them).
INSTALL = {
    "prometheus": "apt-get install prometheus",
    "promtool": "apt-get install prometheus",
    "amtool": "apt-get install prometheus-alertmanager",
    "chromium": "apt-get install chromium",
    "helm": "bash .ci/install-helm.sh",
    "node": "apt-get install nodejs npm",
    "openssl": "apt-get install openssl",
    "systemd-analyze": "apt-get install systemd",
}
NODE_PACKAGES = "(cd tests/js && npm ci --no-audit --no-fund)"


def require_tool(name: str) -> str:
    """Return the path of an external program, or skip (fail under CI) when it is not installed."""
    found = shutil.which(name) or _local_tool(name)
    if found:
        return found
    missing(f"{name} is not installed: run `{INSTALL[name]}`")


def missing(message: str) -> NoReturn:
    """Skip a test whose tool (or free default port) is missing here, or fail under CI (OTLP_BRIDGE_REQUIRE_TOOLS=1)."""
    if REQUIRE_TOOLS:
        pytest.fail(f"{message} (OTLP_BRIDGE_REQUIRE_TOOLS=1)")
    pytest.skip(message)


def _local_tool(name: str) -> str | None:
    candidate = REPO / ".tools" / "bin" / name
    return str(candidate) if candidate.exists() else None


def require_fixtures() -> Path:
    """Return the captures folder; a missing fixture is an error, never a skip."""
    if not CAPTURES.is_dir():
        pytest.fail(f"captured OpenClaw fixtures not found at {CAPTURES} (they are part of the repository)")
    return CAPTURES
