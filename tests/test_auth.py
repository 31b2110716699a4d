"""Tokens: presented in a header, read from a file (re-read when it changes), compared in constant time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from otlp_bridge.errors import BridgeError, Forbidden, Unauthorized
from otlp_bridge.receive.auth import TokenFile, bearer, credential


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("  BEARER   abc  ", "abc"),
        ("Bearer", None),
        ("Bearer ", None),
        ("Basic abc", None),
        ("abc", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_takes_the_token_of_a_bearer_header_only(header: str | None, token: str | None) -> None:
    assert bearer(header) == token


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Authorization", "Bearer abc", "abc"),
        ("authorization", "Basic abc", None),
        ("X-Token", " abc ", "abc"),
        ("X-Token", "Bearer abc", "Bearer abc"),  # another header carries the bare token
        ("X-Token", None, None),
    ],
)
def test_the_credential_depends_on_the_header(name: str, value: str | None, expected: str | None) -> None:
    assert credential(name, value) == expected


@pytest.mark.parametrize(
    ("file_text", "offered", "error"),
    [
        ("s3cret\n", "s3cret", None),
        ("s3cret\n", None, Unauthorized),
        ("s3cret\n", "", Unauthorized),
        ("s3cret\n", "s3cre", Forbidden),
        ("s3cret\n", "s3cret\n", Forbidden),
        ("\n", "anything", Forbidden),  # an empty token file lets nobody in
    ],
)
def test_a_token_check_answers_401_or_403(
    tmp_path: Path, file_text: str, offered: str | None, error: type[BridgeError] | None
) -> None:
    path = tmp_path / "token"
    path.write_text(file_text)
    token = TokenFile(path)
    if error is None:
        token.check(offered)
        return
    with pytest.raises(error) as raised:
        token.check(offered)
    assert raised.value.status == (401 if error is Unauthorized else 403)


def test_a_rotated_token_file_is_read_again_and_a_missing_one_keeps_the_last_token(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("first")
    token = TokenFile(path)
    assert token.token() == b"first"
    path.write_text("second")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a new stamp even on a coarse clock
    assert token.token() == b"second"
    path.unlink()
    assert token.token() == b"second"
    token.check("second")
