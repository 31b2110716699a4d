"""Configuration: command line > ``OTLP_BRIDGE_*`` environment > YAML file > defaults, validated once."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import difflib
import enum
import ipaddress
import os
import re
import ssl
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, NoReturn, TypeVar

import yaml
from yarl import URL

from otlp_bridge import __version__
from otlp_bridge.errors import ConfigError
from otlp_bridge.log import LogFormat, LogLevel

ENV_PREFIX = "OTLP_BRIDGE_"
# Variables with the prefix that are not options: the container image's health check URL and the test suite's switch
# for CI. Any other OTLP_BRIDGE_* name that is not an option is a configuration error.
ENV_NOT_OPTIONS = frozenset({"OTLP_BRIDGE_HEALTHCHECK_URL", "OTLP_BRIDGE_REQUIRE_TOOLS"})
# Kubernetes gives every pod variables for each Service of its namespace: a Service "otlp-bridge" (the chart's, for
# a release of that name) yields OTLP_BRIDGE_SERVICE_HOST, OTLP_BRIDGE_PORT_4318_TCP_ADDR and so on. Not ours.
SERVICE_LINK = re.compile(r"\w*?_(SERVICE_HOST|SERVICE_PORT(_\w+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)")
# Names a source label must not take: the labels a scrape attaches to every sample (Prometheus: job, instance; the
# Prometheus Operator's monitors also namespace, service, pod, container, endpoint) would turn the bridge's label
# into exported_<name>, and le/quantile belong to histograms and summaries.
REFUSED_SOURCE_LABELS = {
    **{
        name: f"a label Prometheus sets on every scraped series (yours would become exported_{name})"
        for name in ("job", "instance", "namespace", "service", "pod", "container", "endpoint")
    },
    "le": "the bucket label of histograms",
    "quantile": "the quantile label of summaries",
}
ALERT_RELAY_ACTIONS = ("agent", "wake")
ALERT_RELAY_LANGUAGES = ("en", "zh-CN")


class ListenAddress(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def loopback(host: str) -> bool:
    """Whether a listener on ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name, or "" (every interface)


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
    log_format: LogFormat = LogFormat.JSON
    log_level: LogLevel = LogLevel.INFO
    remote_write_targets: tuple[Target, ...] = ()
    remote_write_interval: float = 15.0
    remote_write_job: str = "otlp-bridge"
    remote_write_instance: str = ""  # empty: the host name
    remote_write_external_label: tuple[tuple[str, str], ...] = ()
    alert_relay_url: str | None = None
    alert_relay_token_file: Path | None = None
    alert_webhook_token_file: Path | None = None
    alert_relay_action: str = "agent"
    alert_relay_channel: str | None = None
    alert_relay_to: str | None = None
    alert_relay_agent_id: str | None = None
    alert_relay_template: Path | None = None
    alert_relay_language: str = "en"

    def __post_init__(self) -> None:
        if not self.max_series_per_family:
            object.__setattr__(self, "max_series_per_family", self.max_series)

    def describe(self) -> dict[str, object]:
        """The effective configuration, safe to print (token files are paths, never contents)."""
        out: dict[str, object] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, ListenAddress | Path):
                value = str(value)
            elif isinstance(value, enum.Enum):
                value = value.value
            elif field.name == "remote_write_targets":
                value = [found.describe() for found in value]
            elif field.name == "remote_write_external_label":
                value = [f"{name}={text}" for name, text in value]
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


def _path(text: str) -> Path:
    """A file option's value; the file itself is checked by ``check_files`` (or skipped by ``--check-config``)."""
    if not text.strip():
        msg = "needs a file name"
        raise ValueError(msg)
    return Path(text)


def _choice(choices: Sequence[str]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            msg = f"must be one of {', '.join(choices)}, got {text!r}"
            raise ValueError(msg)
        return value

    return parse


_E = TypeVar("_E", bound=enum.StrEnum)


def _member(kind: type[_E]) -> Callable[[str], _E]:
    def parse(text: str) -> _E:
        try:
            return kind(text.strip().lower())
        except ValueError:
            msg = f"must be one of {', '.join(kind)}, got {text!r}"
            raise ValueError(msg) from None

    return parse


def _http_url(text: str) -> str:
    value = text.strip()
    scheme, _, rest = value.partition("://")
    if scheme.lower() not in ("http", "https") or not rest or rest.startswith("/") or any(c.isspace() for c in value):
        msg = f"expected an http:// or https:// URL, got {text!r}"
        raise ValueError(msg)
    if "?" in value or "#" in value:
        msg = f"the hooks base URL takes no query or fragment (OpenClaw refuses tokens in the query): {text!r}"
        raise ValueError(msg)
    return value.rstrip("/")


def _language(text: str) -> str:
    for language in ALERT_RELAY_LANGUAGES:
        if text.strip().lower() == language.lower():
            return language
    msg = f"must be one of {', '.join(ALERT_RELAY_LANGUAGES)}, got {text!r}"
    raise ValueError(msg)


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
    if not value.isascii() or not value.replace("_", "a").isalnum() or value[0].isdigit():
        msg = f"not a Prometheus label name: {text!r}"
        raise ValueError(msg)
    if value.startswith("__"):
        msg = f"{value!r} is reserved: Prometheus keeps names starting with __ for itself"
        raise ValueError(msg)
    if value in REFUSED_SOURCE_LABELS:
        msg = f"{value!r} is {REFUSED_SOURCE_LABELS[value]}; pick another name, e.g. gateway"
        raise ValueError(msg)
    return value


PREFIX_SEPARATORS = "._-/"


def _metric_name_prefix(text: str) -> str:
    """OpenClaw's rule for ``metricNamePrefix`` (empty, or an ASCII letter then letters, digits, ``_ . - /``, at
    most 128 characters), ending with its separator: OpenClaw puts the prefix right before the name."""
    if not text:
        return text
    if len(text) > 128 or not (text[0].isascii() and text[0].isalpha()):
        msg = f"{text!r} is not an OpenClaw metricNamePrefix (an ASCII letter first, at most 128 characters)"
        raise ValueError(msg)
    if not all((c.isascii() and c.isalnum()) or c in PREFIX_SEPARATORS for c in text):
        msg = f"{text!r} is not an OpenClaw metricNamePrefix (letters, digits, '_', '.', '-' and '/' only)"
        raise ValueError(msg)
    if text[-1] not in PREFIX_SEPARATORS:
        msg = f"{text!r} must end with its separator, as OpenClaw's metricNamePrefix does: did you mean {text + '.'!r}?"
        raise ValueError(msg)
    return text


def _nonempty(text: str) -> str:
    value = text.strip()
    if not value:
        msg = "must not be empty"
        raise ValueError(msg)
    return value


def _header(text: str) -> tuple[str, str]:
    name, value = pair(text)
    return _header_name(name), value.strip()


def _external_label(text: str) -> tuple[str, str]:
    name, value = pair(text)
    if _label_name_or_none(name) is None or not value:
        msg = f"expected NAME=VALUE with a label name and a value, got {text!r}"
        raise ValueError(msg)
    return name, value


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
    default: str | None = None  # what --help says when the default is not a value of its own
    repeat: bool = False  # given several times; environment: comma-separated; YAML: a list


OPTIONS: tuple[_Option, ...] = (
    _Option("otlp-listen", _listen, "OTLP/HTTP listener", "HOST:PORT"),
    _Option("metrics-listen", _listen, "scrape, JSON and health listener", "HOST:PORT"),
    _Option("ingest-token-file", _path, "require the token in this file on OTLP requests", "FILE"),
    _Option("ingest-token-header", _header_name, "header carrying the ingest token", "NAME"),
    _Option("scrape-token-file", _path, "require Authorization: Bearer <token> on scrapes", "FILE"),
    _Option("max-series", _positive_int, "global series cap, a histogram counts once", "N"),
    _Option("max-series-per-family", _positive_int, "series cap per family", "N", default="the same as --max-series"),
    _Option("max-streams", _positive_int, "incoming OTLP streams tracked", "N"),
    _Option("series-ttl", _positive_float, "remove series not updated for this long", "SECONDS"),
    _Option(
        "metric-name-prefix",
        _metric_name_prefix,
        "OpenClaw's diagnostics.otel.metricNamePrefix, separator included",
        "PREFIX",
    ),
    _Option("source-label", _label_name_or_none, "label naming the sending gateway on every series", "NAME"),
    _Option("source-attributes", _attribute_list, "resource attributes whose values name a source", "LIST"),
    _Option("spans-complete", _boolean, "the sender exports every span (sampleRate 1)", None, flag=True),
    _Option("max-body-bytes", _positive_int, "request body limit, after decompression", "N"),
    _Option("max-inflight", _positive_int, "concurrent OTLP requests before 503", "N"),
    _Option("tls-cert-file", _path, "serve both listeners over TLS with this PEM certificate (chain)", "FILE"),
    _Option("tls-key-file", _path, "PEM private key for --tls-cert-file", "FILE"),
    _Option("log-format", _member(LogFormat), "json or console", "FORMAT"),
    _Option("log-level", _member(LogLevel), "debug, info, warning or error", "LEVEL"),
    _Option("remote-write-url", _nonempty, "push the series to this remote-write URL", "URL", repeat=True),
    _Option("remote-write-interval", _positive_float, "seconds between remote-write collections", "SECONDS"),
    _Option("remote-write-timeout", _positive_float, "remote-write request timeout", "SECONDS", default="30"),
    _Option("remote-write-bearer-token-file", _path, "send Authorization: Bearer <token in FILE>", "FILE"),
    _Option("remote-write-basic-auth-user", _nonempty, "remote-write basic auth user", "NAME"),
    _Option("remote-write-basic-auth-password-file", _path, "remote-write basic auth password", "FILE"),
    _Option("remote-write-header", _header, "extra remote-write request header", "NAME=VALUE", repeat=True),
    _Option(
        "remote-write-external-label",
        _external_label,
        "label on every written sample",
        "NAME=VALUE",
        default="none",
        repeat=True,
    ),
    _Option("remote-write-job", _nonempty, "job label of written samples", "NAME"),
    _Option("remote-write-instance", _nonempty, "instance label of written samples", "VALUE", default="the host name"),
    _Option("remote-write-tls-ca-file", _path, "CA bundle for the remote-write targets", "FILE", default="system CAs"),
    _Option("remote-write-tls-cert-file", _path, "client certificate for the remote-write targets", "FILE"),
    _Option("remote-write-tls-key-file", _path, "key of --remote-write-tls-cert-file", "FILE"),
    _Option(
        "alert-relay-url",
        _http_url,
        "OpenClaw's hooks base URL (e.g. http://127.0.0.1:18789/hooks); enables POST /alertmanager on the scrape"
        " listener",
        "URL",
    ),
    _Option("alert-relay-token-file", _path, "OpenClaw's hooks.token, sent as Authorization: Bearer", "FILE"),
    _Option("alert-webhook-token-file", _path, "require Authorization: Bearer <token> on POST /alertmanager", "FILE"),
    _Option(
        "alert-relay-action",
        _choice(ALERT_RELAY_ACTIONS),
        "agent (an agent turn that delivers the message to a chat) or wake",
        "ACTION",
    ),
    _Option(
        "alert-relay-channel",
        _nonempty,
        "channel of the agent turn's reply; unset: OpenClaw's default, last",
        "CHANNEL",
    ),
    _Option("alert-relay-to", _nonempty, "recipient in that channel (e.g. a Feishu chat_id oc_...)", "TO"),
    _Option("alert-relay-agent-id", _nonempty, "agent that runs the turn; unset: OpenClaw's default agent", "ID"),
    _Option(
        "alert-relay-template",
        _path,
        "Jinja2 message template; unset: the built-in one of --alert-relay-language",
        "FILE",
    ),
    _Option("alert-relay-language", _language, "built-in message template: en or zh-CN", "LANGUAGE"),
)
TOKEN_FILE_OPTIONS = ("ingest-token-file", "scrape-token-file", "alert-relay-token-file", "alert-webhook-token-file")
FILE_OPTIONS = (*TOKEN_FILE_OPTIONS, "tls-cert-file", "tls-key-file", "alert-relay-template")
# The --remote-write-* options that every target shares, by the key a YAML ``remote_write`` entry gives them.
_TARGET_OPTIONS = {
    "remote_write_timeout": "timeout",
    "remote_write_bearer_token_file": "bearer_token_file",
    "remote_write_basic_auth_user": "basic_auth_user",
    "remote_write_basic_auth_password_file": "basic_auth_password_file",
    "remote_write_header": "headers",
    "remote_write_tls_ca_file": "tls_ca_file",
    "remote_write_tls_cert_file": "tls_cert_file",
    "remote_write_tls_key_file": "tls_key_file",
}


def _default_text(option: _Option) -> str:
    """The default as ``--help`` shows it, taken from ``Config`` itself."""
    if option.default is not None:
        return option.default
    value = Config().describe().get(option.name.replace("-", "_"))  # shared remote-write options: on the targets
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return repr(text) if not text or text.endswith(".") else text  # 'openclaw.': the dot belongs to the value


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
    parser.add_argument("--config", metavar="FILE", help="YAML configuration file (default: none)")
    for option in OPTIONS:
        help_text = f"{option.help} (default: {_default_text(option)})"
        if option.flag:
            parser.add_argument(f"--{option.name}", action="store_const", const="true", help=help_text)
        elif option.repeat:
            parser.add_argument(f"--{option.name}", metavar=option.metavar, help=help_text, action="append")
        else:
            parser.add_argument(f"--{option.name}", metavar=option.metavar, help=help_text)
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration, print the effective configuration as JSON on stdout and exit "
        "(0: valid, 2: invalid); token, certificate and key files are checked when they exist here, "
        "absent ones are named on stderr and skipped",
    )
    parser.add_argument("--version", action="version", version=f"otlp-bridge {__version__}")
    return parser


def load_config(args: argparse.Namespace, environ: Mapping[str, str]) -> Config:
    """Merge the three sources and validate; every problem becomes one ``ConfigError``.

    Files named by options are not read here: ``check_files`` does that."""
    _check_environment_names(environ)
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
        try:
            if option.repeat:
                values[key] = tuple(option.parse(item) for item in _items(raw))
                continue
            if isinstance(raw, list):
                raw = ",".join(str(item) for item in raw)
            values[key] = option.parse(str(raw).lower() if isinstance(raw, bool) else str(raw))
        except ValueError as exc:
            msg = f"{origin}: {exc}"
            raise ConfigError(msg) from None
    entries = file_values.pop("remote_write", None) or []
    if file_values:
        key = sorted(file_values)[0]
        msg = f"unknown config key {key!r}{_hint(_closest(key, [o.name.replace('-', '_') for o in OPTIONS]))}"
        raise ConfigError(msg)
    values["remote_write_targets"] = _targets(values, entries)
    config = Config(**values)
    _check_consistency(config)
    return config


def _check_environment_names(environ: Mapping[str, str]) -> None:
    """A misspelled ``OTLP_BRIDGE_*`` variable is an error, like a misspelled YAML key."""
    options = ["CONFIG", *(o.name.replace("-", "_").upper() for o in OPTIONS)]
    known = {ENV_PREFIX + name for name in options} | ENV_NOT_OPTIONS
    unknown = sorted(
        name
        for name in environ
        if name.startswith(ENV_PREFIX) and name not in known and not SERVICE_LINK.fullmatch(name)
    )
    if unknown:
        close = _closest(unknown[0].removeprefix(ENV_PREFIX), options)
        msg = f"unknown environment variable {unknown[0]}{_hint(close and ENV_PREFIX + close)}"
        raise ConfigError(msg)


def _closest(name: str, valid: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return close[0] if close else None


def _hint(close: str | None) -> str:
    return f" (did you mean {close}?)" if close else " (not an option; see otlp-bridge --help)"


def _items(raw: object) -> list[str]:
    """A repeatable option's values: a list (command line, YAML), a mapping (YAML headers, labels) or a
    comma-separated string (environment)."""
    if isinstance(raw, dict):
        return [f"{name}={value}" for name, value in raw.items()]
    if isinstance(raw, list):
        return [str(item) for item in raw]
    return [item.strip() for item in str(raw).split(",") if item.strip()]


def _targets(values: dict[str, Any], entries: Any) -> tuple[Target, ...]:
    """The remote-write targets: one per ``--remote-write-url`` and one per YAML ``remote_write`` entry, each with
    the shared ``--remote-write-*`` options (popped from ``values``) under what the entry sets itself."""
    shared = {name: values.pop(key) for key, name in _TARGET_OPTIONS.items() if key in values}
    urls = values.pop("remote_write_url", ())
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        msg = "config key 'remote_write' must be a list of mappings (url: ..., headers: ..., ...)"
        raise ConfigError(msg)
    targets = [target({"url": url}, shared, f"--remote-write-url {url}") for url in urls]
    targets += [target(entry, shared, f"config key 'remote_write' entry {n}") for n, entry in enumerate(entries, 1)]
    seen = [found.url for found in targets]
    if len(set(seen)) < len(seen):
        msg = "remote write: the same URL is given twice"
        raise ConfigError(msg)
    if not targets and (shared or "remote_write_external_label" in values):
        msg = "remote-write options are set but there is no --remote-write-url (or config key 'remote_write')"
        raise ConfigError(msg)
    return tuple(targets)


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


def _check_alert_relay(config: Config) -> None:
    if config.alert_relay_url is None:
        dependent = [
            field.name
            for field in dataclasses.fields(config)
            if field.name.startswith(("alert_relay_", "alert_webhook_"))
            and field.name != "alert_relay_url"
            and getattr(config, field.name) != field.default
        ]
        if dependent:
            msg = f"--{dependent[0].replace('_', '-')} needs --alert-relay-url"
            raise ConfigError(msg)
        return
    if config.alert_relay_token_file is None:
        msg = "--alert-relay-url needs --alert-relay-token-file (OpenClaw's hooks.token)"
        raise ConfigError(msg)
    if config.alert_relay_action == "wake" and (
        config.alert_relay_channel or config.alert_relay_to or config.alert_relay_agent_id
    ):
        msg = "--alert-relay-channel, --alert-relay-to and --alert-relay-agent-id apply to --alert-relay-action agent"
        raise ConfigError(msg)


def _check_consistency(config: Config) -> None:
    _check_alert_relay(config)
    if (config.tls_cert_file is None) != (config.tls_key_file is None):
        msg = "--tls-cert-file and --tls-key-file go together"
        raise ConfigError(msg)
    if config.otlp_listen == config.metrics_listen and config.otlp_listen.port != 0:
        msg = f"--otlp-listen and --metrics-listen are the same address ({config.otlp_listen})"
        raise ConfigError(msg)


def check_files(config: Config, *, missing_ok: bool = False) -> list[str]:
    """Read the files the options name: token files must hold a token, the certificate and key must load as a pair.

    ``missing_ok`` (``--check-config``): a file that does not exist on this machine is skipped, not an error (a
    secret is often only present where the bridge runs); the returned lines name the skipped files."""
    skipped = []
    present: dict[str, Path] = {}
    for name in FILE_OPTIONS:
        path = getattr(config, name.replace("-", "_"))
        if path is None:
            continue
        if missing_ok and not path.exists():
            skipped.append(f"--{name} {path}: not found here, not checked")
            continue
        if not path.is_file():
            msg = f"--{name}: file not found: {path}"
            raise ConfigError(msg)
        if not os.access(path, os.R_OK):
            msg = f"--{name}: file not readable: {path}"
            raise ConfigError(msg)
        present[name] = path
    for name in TOKEN_FILE_OPTIONS:
        if name in present and not present[name].read_bytes().strip():
            msg = f"--{name}: token file is empty: {present[name]}"
            raise ConfigError(msg)
    if "tls-cert-file" in present and "tls-key-file" in present:
        tls_context(config)
    elif config.tls_cert_file is not None:
        skipped.append("--tls-cert-file and --tls-key-file: not loaded as a pair (not both found here)")
    for remote in config.remote_write_targets:
        skipped += remote.check_files(missing_ok=missing_ok)
    return skipped


def tls_context(config: Config) -> ssl.SSLContext | None:
    """The server-side TLS context; a certificate or key that does not load is a ``ConfigError`` naming the file."""
    cert, key = config.tls_cert_file, config.tls_key_file
    if cert is None or key is None:
        return None
    try:  # the certificate alone first, so that its error names its own file
        ssl.create_default_context().load_verify_locations(cafile=str(cert))
    except (ssl.SSLError, OSError) as exc:
        msg = f"--tls-cert-file {cert}: not a PEM certificate{_ssl_reason(exc)}"
        raise ConfigError(msg) from None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)

    def encrypted() -> bytes:
        msg = f"--tls-key-file {key}: the private key is encrypted; give the bridge an unencrypted key"
        raise ConfigError(msg)

    try:
        context.load_cert_chain(str(cert), str(key), password=encrypted)
    except (ssl.SSLError, OSError) as exc:
        if getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
            msg = f"--tls-key-file {key}: not the private key of --tls-cert-file {cert}"
        else:
            msg = f"--tls-key-file {key}: not a PEM private key{_ssl_reason(exc)}"
        raise ConfigError(msg) from None
    return context


def _ssl_reason(error: OSError) -> str:
    reason = getattr(error, "reason", None) or (None if isinstance(error, ssl.SSLError) else error.strerror)
    return f" ({reason})" if reason else ""


# -- remote-write targets ---------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class QueueConfig:
    """Prometheus's ``queue_config`` defaults where it has one; capacity is per target (Prometheus: per shard)."""

    capacity: int = 200_000  # samples
    max_bytes: int = 64 * 1024 * 1024
    max_samples_per_send: int = 2000
    min_backoff: float = 0.03
    max_backoff: float = 5.0

    def __post_init__(self) -> None:
        if min(self.capacity, self.max_bytes, self.max_samples_per_send) < 1:
            msg = "capacity, max_bytes and max_samples_per_send must be at least 1"
            raise ValueError(msg)
        if not 0 < self.min_backoff <= self.max_backoff:
            msg = "backoffs must satisfy 0 < min_backoff <= max_backoff"
            raise ValueError(msg)


DEFAULT_TIMEOUT_SECONDS = 30.0
# Headers the remote-write protocol sets itself (remotewrite.wire.HEADERS and the User-Agent), never replaced.
REMOTE_WRITE_RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "Content-Encoding",
        "Content-Type",
        "X-Prometheus-Remote-Write-Version",
        "User-Agent",
        "Content-Length",
        "Host",
    )
)


@dataclasses.dataclass(frozen=True, slots=True)
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
    queue: QueueConfig = dataclasses.field(default_factory=QueueConfig)

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
            if not name or name.lower() in REMOTE_WRITE_RESERVED_HEADERS:
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

    def describe(self) -> dict[str, object]:
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
