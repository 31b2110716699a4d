"""Shared fixtures: paths to the captured OpenClaw payloads and access to real external tools."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Real OpenClaw 2026.4.29 payloads and the official plugin's scrapes (see the folder's README.md).
FIXTURES = REPO / "tests" / "fixtures" / "openclaw-2026.4.29"
CAPTURES = FIXTURES / "captures"
SCRAPES = FIXTURES / "prometheus-scrapes"

# CI sets this so that a missing external tool fails the run instead of skipping tests silently.
REQUIRE_TOOLS = os.environ.get("OTLP_BRIDGE_REQUIRE_TOOLS") == "1"


def require_tool(name: str) -> str:
    """Return the path of an external program, or skip (fail under CI) when it is not installed."""
    found = shutil.which(name) or _local_tool(name)
    if found:
        return found
    if REQUIRE_TOOLS:
        pytest.fail(f"required tool {name!r} is not installed (see .ci/run)")
    pytest.skip(f"{name} is not installed")


def _local_tool(name: str) -> str | None:
    candidate = REPO / ".tools" / "bin" / name
    return str(candidate) if candidate.exists() else None


def require_fixtures() -> Path:
    """Return the captures folder; a missing fixture is an error, never a skip."""
    if not CAPTURES.is_dir():
        pytest.fail(f"captured OpenClaw fixtures not found at {CAPTURES} (they are part of the repository)")
    return CAPTURES
