"""One remote-write target: where, how to authenticate, and its queue; validated, safe to show."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from yarl import URL

from otlp_bridge.errors import ConfigError
from otlp_bridge.remotewrite.queue import QueueConfig
from otlp_bridge.remotewrite.wire import HEADERS

DEFAULT_TIMEOUT_SECONDS = 30.0
_RESERVED_HEADERS = frozenset(name.lower() for name in (*HEADERS, "Content-Length", "Host"))


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    headers: tuple[tuple[str, str], ...] = ()
    bearer_token_file: Path | None = None
    basic_auth_user: str | None = None
    basic_auth_password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    queue: QueueConfig = field(default_factory=QueueConfig)

    def __post_init__(self) -> None:
        try:
            url = URL(self.url)
        except (TypeError, ValueError):
            msg = f"remote write URL is not a URL: {self.url!r}"
            raise ConfigError(msg) from None
        if url.scheme not in ("http", "https") or not url.host:
            msg = f"remote write URL must be http(s)://host/path, got {self.display_url}"
            raise ConfigError(msg)
        if url.user is not None or url.password is not None:
            msg = f"remote write URL {self.display_url}: put credentials in a file option, not in the URL"
            raise ConfigError(msg)
        if self.timeout <= 0:
            msg = f"remote write timeout must be positive, got {self.timeout:g}"
            raise ConfigError(msg)
        if self.bearer_token_file is not None and self.basic_auth_user is not None:
            msg = "remote write: choose a bearer token file or basic auth, not both"
            raise ConfigError(msg)
        if (self.basic_auth_user is None) != (self.basic_auth_password_file is None):
            msg = "remote write basic auth needs both a user and a password file"
            raise ConfigError(msg)
        if (self.cert_file is None) != (self.key_file is None):
            msg = "remote write TLS client authentication needs both a certificate and a key file"
            raise ConfigError(msg)
        for name, _ in self.headers:
            if not name or name.lower() in _RESERVED_HEADERS:
                msg = f"remote write header {name!r} cannot be set (the protocol sets it)"
                raise ConfigError(msg)
            if name.lower() == "authorization" and (self.bearer_token_file or self.basic_auth_user):
                msg = "remote write: an Authorization header and a token or basic auth option conflict"
                raise ConfigError(msg)

    @property
    def display_url(self) -> str:
        """The URL without user info or query (the ``url`` label of the self-metrics and logs)."""
        url = URL(self.url)
        return str(url.with_user(None).with_query(None).with_fragment(None))

    def request_headers(self) -> dict[str, str]:
        """Headers for one request; secret files are read each time, so a rotated file is picked up."""
        out = dict(self.headers)
        if self.bearer_token_file is not None:
            out["Authorization"] = "Bearer " + self.bearer_token_file.read_text().strip()
        elif self.basic_auth_user is not None and self.basic_auth_password_file is not None:
            password = self.basic_auth_password_file.read_text().strip()
            pair = f"{self.basic_auth_user}:{password}".encode()
            out["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return out
