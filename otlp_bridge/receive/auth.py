"""Who may send and scrape: a token read from a file (re-read when it changes), compared in constant time.

Pure; the server hands in the header it received.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from otlp_bridge.errors import Forbidden, Unauthorized


class TokenFile:
    """A secret read from a file, re-read when the file changes (rotation without restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._token = b""

    def token(self) -> bytes:
        try:
            stat = os.stat(self.path)
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp:
                self._token = self.path.read_bytes().strip()
                self._stamp = stamp
        except OSError:
            pass  # keep the last good token while the file is being replaced
        return self._token

    def check(self, presented: str | None) -> None:
        """Raise 401 when no credential is presented, 403 when it is wrong (compared in constant time)."""
        if not presented:
            msg = "missing credentials"
            raise Unauthorized(msg)
        expected = self.token()
        if not expected or not hmac.compare_digest(presented.encode(), expected):
            msg = "invalid credentials"
            raise Forbidden(msg)


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case); None for anything else."""
    if not header:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def credential(header_name: str, value: str | None) -> str | None:
    """The credential in header ``header_name``: a bearer token in ``Authorization``, else the whole value."""
    if header_name.lower() == "authorization":
        return bearer(value)
    return value.strip() if value else None
