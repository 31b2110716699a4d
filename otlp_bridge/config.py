"""Configuration: command line > ``OTLP_BRIDGE_*`` environment > YAML file > defaults, validated once."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import yaml

from otlp_bridge import __version__
from otlp_bridge.errors import ConfigError

ENV_PREFIX = "OTLP_BRIDGE_"
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")


class ListenAddress(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclasses.dataclass(frozen=True, slots=True)
class Config:
    otlp_listen: ListenAddress = ListenAddress("127.0.0.1", 4318)
    metrics_listen: ListenAddress = ListenAddress("127.0.0.1", 9464)
    ingest_token_file: Path | None = None
    ingest_token_header: str = "Authorization"
    scrape_token_file: Path | None = None
    max_series: int = 2048
    max_series_per_family: int = 0  # 0: unset, the same as max_series (resolved in __post_init__)
    max_streams: int = 32768
    series_ttl: float = 600.0
    metric_name_prefix: str = "openclaw."
    source_label: str | None = None
    source_attributes: tuple[str, ...] = ("service.name", "host.name")
    spans_complete: bool = False
    max_body_bytes: int = 20 * 1024 * 1024
    max_inflight: int = 64
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    log_format: str = "json"
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not self.max_series_per_family:
            object.__setattr__(self, "max_series_per_family", self.max_series)

    def describe(self) -> dict[str, Any]:
        """The effective configuration, safe to print (token files are paths, never contents)."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, ListenAddress | Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = ",".join(value)
            out[field.name] = value
        return out


def _listen(text: str) -> ListenAddress:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        msg = f"expected HOST:PORT, got {text!r}"
        raise ValueError(msg)
    host = host.strip("[]")
    number = int(port)
    if not 0 <= number <= 65535:
        msg = f"port out of range in {text!r}"
        raise ValueError(msg)
    return ListenAddress(host, number)


def _positive_int(text: str) -> int:
    number = int(text)
    if number < 1:
        msg = f"must be at least 1, got {number}"
        raise ValueError(msg)
    return number


def _positive_float(text: str) -> float:
    number = float(text)
    if not number > 0:
        msg = f"must be greater than 0, got {text}"
        raise ValueError(msg)
    return number


def _readable_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        msg = f"file not found: {text}"
        raise ValueError(msg)
    if not os.access(path, os.R_OK):
        msg = f"file not readable: {text}"
        raise ValueError(msg)
    return path


def _token_file(text: str) -> Path:
    path = _readable_file(text)
    if not path.read_text(encoding="utf-8").strip():
        msg = f"token file is empty: {text}"
        raise ValueError(msg)
    return path


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            msg = f"must be one of {', '.join(choices)}, got {text!r}"
            raise ValueError(msg)
        return value

    return parse


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    msg = f"expected true or false, got {text!r}"
    raise ValueError(msg)


def _header_name(text: str) -> str:
    value = text.strip()
    if not value or any(c in value for c in " :\r\n\t"):
        msg = f"not an HTTP header name: {text!r}"
        raise ValueError(msg)
    return value


def _label_name_or_none(text: str) -> str | None:
    value = text.strip()
    if not value:
        return None
    if not value.replace("_", "a").isalnum() or value[0].isdigit() or value.startswith("__"):
        msg = f"not a Prometheus label name: {text!r}"
        raise ValueError(msg)
    return value


def _attribute_list(text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    if not items:
        msg = "needs at least one resource attribute"
        raise ValueError(msg)
    return items


class _Option(NamedTuple):
    name: str
    parse: Callable[[str], Any]
    help: str
    metavar: str | None = None
    flag: bool = False


OPTIONS: tuple[_Option, ...] = (
    _Option("otlp-listen", _listen, "OTLP/HTTP listener (default 127.0.0.1:4318)", "HOST:PORT"),
    _Option("metrics-listen", _listen, "scrape and health listener (default 127.0.0.1:9464)", "HOST:PORT"),
    _Option("ingest-token-file", _token_file, "require this token on OTLP requests", "FILE"),
    _Option(
        "ingest-token-header",
        _header_name,
        "header carrying the ingest token (default Authorization)",
        "NAME",
    ),
    _Option("scrape-token-file", _token_file, "require Authorization: Bearer <token> on scrapes", "FILE"),
    _Option("max-series", _positive_int, "global series cap, a histogram counts once (default 2048)", "N"),
    _Option(
        "max-series-per-family",
        _positive_int,
        "series cap per family (default: the same as --max-series, so a family can use the whole budget)",
        "N",
    ),
    _Option("max-streams", _positive_int, "incoming OTLP streams tracked (default 32768)", "N"),
    _Option("series-ttl", _positive_float, "remove series not updated for this long (default 600)", "SECONDS"),
    _Option("metric-name-prefix", str, "OpenClaw metricNamePrefix (default 'openclaw.')", "PREFIX"),
    _Option("source-label", _label_name_or_none, "label that keeps gateways apart (default: none)", "NAME"),
    _Option("source-attributes", _attribute_list, "resource attributes naming a source", "LIST"),
    _Option("spans-complete", _boolean, "the sender exports every span (sampleRate 1)", None, flag=True),
    _Option("max-body-bytes", _positive_int, "body limit after decompression (default 20 MiB)", "N"),
    _Option("max-inflight", _positive_int, "concurrent OTLP requests before 503 (default 64)", "N"),
    _Option("tls-cert-file", _readable_file, "serve both listeners over TLS with this certificate", "FILE"),
    _Option("tls-key-file", _readable_file, "private key for --tls-cert-file", "FILE"),
    _Option("log-format", _choice(LOG_FORMATS), "json or console (default json)", "FORMAT"),
    _Option("log-level", _choice(LOG_LEVELS), "debug, info, warning or error (default info)", "LEVEL"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """A command-line mistake is a configuration error: one line, exit code 2."""
        raise ConfigError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="otlp-bridge",
        description="Receive OpenClaw diagnostics-otel OTLP/HTTP and expose the official openclaw_* series.",
        epilog=f"Every option can also be set as {ENV_PREFIX}<OPTION> or as a key in the --config YAML file.",
    )
    parser.add_argument("--config", metavar="FILE", help="YAML configuration file")
    for option in OPTIONS:
        if option.flag:
            parser.add_argument(f"--{option.name}", action="store_const", const="true", help=option.help)
        else:
            parser.add_argument(f"--{option.name}", metavar=option.metavar, help=option.help)
    parser.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    parser.add_argument("--version", action="version", version=f"otlp-bridge {__version__}")
    return parser


def load_config(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    """Merge the three sources and validate; every problem becomes one ``ConfigError``."""
    file_values = _read_yaml(args.config or environ.get(ENV_PREFIX + "CONFIG"))
    values: dict[str, Any] = {}
    for option in OPTIONS:
        key = option.name.replace("-", "_")
        env_name = ENV_PREFIX + key.upper()
        raw: Any = getattr(args, key)
        origin = f"--{option.name}"
        if raw is None and env_name in environ:
            raw, origin = environ[env_name], env_name
        if raw is None and key in file_values:
            raw, origin = file_values.pop(key), f"config key {key!r}"
        else:
            file_values.pop(key, None)
        if raw is None:
            continue
        if isinstance(raw, list):
            raw = ",".join(str(item) for item in raw)
        try:
            values[key] = option.parse(str(raw).lower() if isinstance(raw, bool) else str(raw))
        except ValueError as exc:
            msg = f"{origin}: {exc}"
            raise ConfigError(msg) from None
    if file_values:
        msg = f"unknown config key(s): {', '.join(sorted(file_values))}"
        raise ConfigError(msg)
    config = Config(**values)
    _check_consistency(config)
    return config


def _read_yaml(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as stream:
            document = yaml.safe_load(stream)
    except OSError as exc:
        msg = f"cannot read config file {path}: {exc.strerror}"
        raise ConfigError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"config file {path} is not valid YAML: {' '.join(str(exc).split())}"
        raise ConfigError(msg) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        msg = f"config file {path} must be a mapping of option names to values"
        raise ConfigError(msg)
    return {str(key).replace("-", "_"): value for key, value in document.items()}


def _check_consistency(config: Config) -> None:
    if (config.tls_cert_file is None) != (config.tls_key_file is None):
        msg = "--tls-cert-file and --tls-key-file go together"
        raise ConfigError(msg)
    if config.otlp_listen == config.metrics_listen and config.otlp_listen.port != 0:
        msg = f"--otlp-listen and --metrics-listen are the same address ({config.otlp_listen})"
        raise ConfigError(msg)
