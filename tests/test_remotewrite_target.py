"""Targets: validation, the URL label, and targets from YAML mappings over the shared options."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from otlp_bridge.config import REMOTE_WRITE_RESERVED_HEADERS, QueueConfig, Target, pair, target
from otlp_bridge.errors import ConfigError
from otlp_bridge.remotewrite import wire


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"url": "ftp://store/write"}, "must be http"),
        ({"url": "https://user:pw@store/write"}, "credentials in a file"),
        ({"timeout": 0.0}, "positive"),
        ({"bearer_token_file": Path("t"), "basic_auth_user": "u", "basic_auth_password_file": Path("p")}, "not both"),
        ({"basic_auth_user": "u"}, "both a user and a password file"),
        ({"cert_file": Path("c")}, "both a certificate and a key"),
        ({"headers": (("Content-Encoding", "gzip"),)}, "cannot be set"),
        ({"headers": (("Authorization", "x"),), "bearer_token_file": Path("t")}, "conflict"),
    ],
)
def test_invalid_targets_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Target(**{"url": "https://store/api/v1/push", **options})  # type: ignore[arg-type]


def test_the_url_label_shows_no_query() -> None:
    assert Target("https://store:8443/api/v1/push?token=x").display_url == "https://store:8443/api/v1/push"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("X-Scope-OrgID=tenant-1", ("X-Scope-OrgID", "tenant-1")), ("a=b=c", ("a", "b=c")), ("cluster=", ("cluster", ""))],
)
def test_pairs(text: str, expected: tuple[str, str]) -> None:
    assert pair(text) == expected


@pytest.mark.parametrize("text", ["novalue", "=value", ""])
def test_bad_pairs(text: str) -> None:
    with pytest.raises(ValueError, match="NAME=VALUE"):
        pair(text)


def test_a_yaml_target_inherits_the_shared_options_and_merges_headers(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t\n")
    shared: dict[str, Any] = {"timeout": 10, "bearer_token_file": str(token), "headers": (("X-A", "1"), ("X-B", "2"))}
    entry = {"url": "https://mimir/api/v1/push", "headers": {"X-B": "own"}, "queue": {"capacity": 50}}
    found = target(entry, shared, "remote_write[0]")
    assert found == Target(
        "https://mimir/api/v1/push",
        timeout=10.0,
        bearer_token_file=token,
        headers=(("X-A", "1"), ("X-B", "own")),
        queue=QueueConfig(capacity=50),
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"url": "https://x/"}, None),
        ({}, "url is required"),
        ({"url": "https://x/", "colour": "red"}, "unknown key"),
        ({"url": "https://x/", "headers": ["a"]}, "headers must be a mapping"),
        ({"url": "https://x/", "queue": {"size": 1}}, "queue takes"),
        ({"url": "https://x/", "queue": {"capacity": 0}}, "at least 1"),
        ({"url": "https://x/", "queue": {"min_backoff": 10}}, "min_backoff <= max_backoff"),
        ({"url": "https://x/", "timeout": "soon"}, "could not convert"),
    ],
)
def test_yaml_targets_are_validated(entry: dict[str, Any], message: str | None) -> None:
    if message is None:
        assert target(entry, {}, "remote_write[1]").url == "https://x/"
        return
    with pytest.raises(ConfigError, match=message) as raised:
        target(entry, {}, "remote_write[1]")
    assert "url is required" in message or str(raised.value).startswith(("remote_write[1]", "remote write"))


def test_an_empty_or_absent_token_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        Target("https://x/", bearer_token_file=empty).check_files()
    with pytest.raises(ConfigError, match="No such file"):
        Target("https://x/", bearer_token_file=tmp_path / "absent").check_files()


def test_the_protocol_headers_cannot_be_set() -> None:
    """The configuration's reserved names cover every header the sender sets itself."""
    assert {name.lower() for name in (*wire.HEADERS, "User-Agent")} <= REMOTE_WRITE_RESERVED_HEADERS
