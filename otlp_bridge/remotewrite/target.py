"""One remote-write target: where, how to authenticate, and its queue; validated, safe to show."""

from __future__ import annotations

import base64
import dataclasses
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    def describe(self) -> dict[str, Any]:
        """What ``--check-config`` prints: header names but never their values, file paths but never contents."""
        return {
            "url": self.display_url,
            "timeout": self.timeout,
            "headers": [name for name, _ in self.headers],
            "bearer_token_file": _text(self.bearer_token_file),
            "basic_auth_user": self.basic_auth_user,
            "basic_auth_password_file": _text(self.basic_auth_password_file),
            "tls_ca_file": _text(self.ca_file),
            "tls_cert_file": _text(self.cert_file),
            "tls_key_file": _text(self.key_file),
            "queue": dataclasses.asdict(self.queue),
        }

    def check_files(self, *, missing_ok: bool = False) -> list[str]:
        """Every file the target names is readable, token files hold a token and the TLS files load; with
        ``missing_ok`` (``--check-config``) a file absent here is skipped and named in the returned lines."""
        skipped = []
        present = {}
        for option, path in self.files().items():
            if missing_ok and not path.exists():
                skipped.append(f"remote write {self.display_url}: {option} {path}: not found here, not checked")
                continue
            try:
                content = path.read_bytes()
            except OSError as error:
                msg = f"remote write {self.display_url}: {option} {path}: {error.strerror}"
                raise ConfigError(msg) from None
            if option in ("bearer_token_file", "basic_auth_password_file") and not content.strip():
                msg = f"remote write {self.display_url}: {option} {path} is empty"
                raise ConfigError(msg)
            present[option] = path
        if "tls_ca_file" in present or {"tls_cert_file", "tls_key_file"} <= present.keys():
            try:
                self.ssl_context()
            except (ssl.SSLError, OSError) as error:
                msg = f"remote write {self.display_url}: the TLS files do not load: {error}"
                raise ConfigError(msg) from None
        return skipped

    def files(self) -> dict[str, Path]:
        named = {
            "bearer_token_file": self.bearer_token_file,
            "basic_auth_password_file": self.basic_auth_password_file,
            "tls_ca_file": self.ca_file,
            "tls_cert_file": self.cert_file,
            "tls_key_file": self.key_file,
        }
        return {option: path for option, path in named.items() if path is not None}

    def ssl_context(self) -> ssl.SSLContext | None:
        """The client TLS context when the target names a CA or a client certificate (else aiohttp's default)."""
        if self.ca_file is None and self.cert_file is None:
            return None
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None and self.key_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def pair(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` (for headers and external labels); the value may contain ``=``."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        msg = f"expected NAME=VALUE, got {text!r}"
        raise ValueError(msg)
    return name.strip(), value


_PATHS = {"bearer_token_file", "basic_auth_password_file", "tls_ca_file", "tls_cert_file", "tls_key_file"}
_FIELDS = {"tls_ca_file": "ca_file", "tls_cert_file": "cert_file", "tls_key_file": "key_file"}
TARGET_KEYS = frozenset({"url", "timeout", "headers", "basic_auth_user", "queue", *_PATHS})
QUEUE_KEYS = frozenset(QueueConfig.__dataclass_fields__)
_CONVERT: dict[str, Callable[[Any], Any]] = {"timeout": float, **{key: lambda v: Path(str(v)) for key in _PATHS}}


def target(entry: Mapping[str, Any], shared: Mapping[str, Any], where: str) -> Target:
    """A target from a YAML mapping (the keys of ``TARGET_KEYS``); what it leaves out comes from ``shared`` (the
    ``--remote-write-*`` options, same keys). Headers are merged by name, the entry's winning."""
    unknown = set(entry) - TARGET_KEYS
    if unknown:
        msg = f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(TARGET_KEYS))}"
        raise ConfigError(msg)
    values: dict[str, Any] = {k: v for k, v in (*shared.items(), *entry.items()) if k != "headers"}
    headers = dict(shared.get("headers", ()))
    own_headers = entry.get("headers") or {}
    if not isinstance(own_headers, Mapping):
        msg = f"{where}: headers must be a mapping of names to values"
        raise ConfigError(msg)
    headers.update({str(k): str(v) for k, v in own_headers.items()})
    queue = values.pop("queue", None) or {}
    if not isinstance(queue, Mapping) or set(queue) - QUEUE_KEYS:
        msg = f"{where}: queue takes {', '.join(sorted(QUEUE_KEYS))}"
        raise ConfigError(msg)
    kwargs: dict[str, Any] = {"headers": tuple(headers.items())}
    try:
        kwargs["queue"] = QueueConfig(**{k: type(getattr(QueueConfig(), k))(v) for k, v in queue.items()})
        for key, value in values.items():
            if value is not None:
                kwargs[_FIELDS.get(key, key)] = _CONVERT.get(key, str)(value)
    except (TypeError, ValueError) as error:
        msg = f"{where}: {error}"
        raise ConfigError(msg) from None
    if "url" not in kwargs:
        msg = f"{where}: url is required"
        raise ConfigError(msg)
    return Target(**kwargs)
