"""The status page (``GET /`` on the scrape listener): one HTML page, no JavaScript, nothing from other hosts, that
says whether OpenClaw reaches the bridge and what the bridge made of it. Every value is escaped by the template
engine (autoescape), so a sender's service name or a Host header cannot become markup."""

from __future__ import annotations

import datetime
import functools
import itertools
import json
from collections.abc import Iterator
from importlib import resources
from typing import NamedTuple

import jinja2

from otlp_bridge import __version__
from otlp_bridge.config import Config, loopback
from otlp_bridge.expose.status import Refusal, Sender, StatusBook
from otlp_bridge.receive.codec import Encoding
from otlp_bridge.store import DropReason, Family, Kind, Store
from otlp_bridge.translate.mapping import LOG_SPECS, METRIC_SPECS, SPAN_SPECS, SPANS_COMPLETE_SPECS

STALE_INTERVALS = 3  # a sender is late after this many flush intervals without an export,
# and never before this: a live OpenClaw 2026.4.29 (flushIntervalMs 1000) went 35 s without an export while its
# event loop was busy with an agent run, and with delta temporality an idle one exports only its memory sample,
# about every 30 s
LATE_AFTER_SECONDS = 90
DEFAULT_INTERVAL_SECONDS = 60.0  # until two metric exports show the sender's own interval
MAX_FAMILY_ROWS = 500
DEFAULT_PREFIX = Config().metric_name_prefix  # OpenClaw's own: no metricNamePrefix in the hint
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    # No scripts, no resources, no frames: were markup ever to slip through, it could do nothing.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
_TYPES = {Kind.COUNTER: "counter", Kind.GAUGE: "gauge", Kind.HISTOGRAM: "histogram"}
# What to check for each refusal cause (the outcome label of the self-metrics).
HINTS = {
    ("otlp", "unauthorized"): "no token in {header}: set diagnostics.otel.headers in openclaw.json",
    ("otlp", "forbidden"): "wrong token: the value of {header} differs from the bridge's --ingest-token-file",
    ("otlp", "unsupported_media_type"): "only OTLP/HTTP protobuf or JSON, identity or gzip: protocol http/protobuf",
    ("otlp", "too_large"): "body over --max-body-bytes: raise it or lower flushIntervalMs",
    ("otlp", "bad_request"): "not an OTLP body of this signal (decode error, bad gzip)",
    ("otlp", "timeout"): "the body did not arrive within the bridge's read timeout (a slow or stalled sender)",
    ("otlp", "method_not_allowed"): "OTLP/HTTP uses POST",
    ("otlp", "overloaded"): "more than --max-inflight requests at once; the sender retries",
    ("otlp", "error"): "the bridge failed on the request: see its log (otlp_request_failed)",
    ("scrape", "unauthorized"): "a scrape without Authorization: Bearer (the --scrape-token-file token)",
    ("scrape", "forbidden"): "a scrape with a token that differs from --scrape-token-file",
}


class Listeners(NamedTuple):
    """The bound listener URLs (the ports are known once the sites have started)."""

    otlp: str
    metrics: str


def ago(seconds: float) -> str:
    """``12 s ago``, ``3 min ago``, ``2 h ago``, ``4 d ago``."""
    seconds = max(0.0, seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def duration(seconds: float) -> str:
    return ago(seconds).removesuffix(" ago")


def encoding(name: Encoding, gzipped: bool) -> str:
    """How a request was encoded, as the page shows it: ``protobuf, gzip``."""
    return f"{name.name.lower()}, {'gzip' if gzipped else 'identity'}"


def flush_interval(seconds: float) -> str:
    """A flush interval: ``0.5 s``, ``15 s``, ``120 s``."""
    return f"{seconds:.2g} s" if seconds < 100 else f"{seconds:.0f} s"


def _iso(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@functools.cache
def exactness(spans_complete: bool) -> dict[str, str]:
    """Family name → how exact it is with this ``--spans-complete`` setting (the README's mapping table)."""
    found: dict[str, list[str]] = {}
    specs = (*METRIC_SPECS, *SPAN_SPECS, *LOG_SPECS, *(SPANS_COMPLETE_SPECS if spans_complete else ()))
    for spec in specs:
        if spans_complete and spec.span_fed:
            continue
        values = found.setdefault(spec.name, [])
        if spec.exactness not in values:
            values.append(spec.exactness)
    return {name: " / ".join(values) for name, values in found.items()}


def otlp_endpoint(config: Config, otlp_url: str, browser_host: str | None) -> str:
    """The ``diagnostics.otel.endpoint`` a gateway should use: the OTLP listener's URL, with the host name the
    browser reached this page by when the listener takes every interface."""
    scheme, _, address = otlp_url.partition("://")
    port = address.rpartition(":")[2]
    host = config.otlp_listen.host
    if host in WILDCARD_HOSTS:
        host = browser_host or "<this machine's address>"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def openclaw_fragment(config: Config, endpoint: str) -> str:
    """The ``openclaw.json`` fragment that points a gateway at this bridge (a placeholder for the token)."""
    otel: dict[str, object] = {
        "enabled": True,
        "endpoint": endpoint,
        "protocol": "http/protobuf",
        "metrics": True,
        "traces": True,
        "logs": True,
        "flushIntervalMs": 15000,
    }
    if config.ingest_token_file is not None:
        header = config.ingest_token_header
        value = "the token in " + str(config.ingest_token_file)
        otel["headers"] = {header: f"Bearer <{value}>" if header.lower() == "authorization" else f"<{value}>"}
    if config.metric_name_prefix != DEFAULT_PREFIX:
        otel["metricNamePrefix"] = config.metric_name_prefix
    document = {
        "diagnostics": {"enabled": True, "otel": otel},
        # No plugins.allow: OpenClaw loads only the plugins an allow list names, so a pasted one would turn off
        # every other plugin (the model providers among them); the page says to add the id to an existing list.
        "plugins": {"entries": {"diagnostics-otel": {"enabled": True}}},
    }
    return json.dumps(document, indent=2)


def _sender_row(sender: Sender, now: float) -> dict[str, object]:
    interval = sender.interval or DEFAULT_INTERVAL_SECONDS
    age = now - sender.last_seen
    return {
        "service": sender.key.service,
        "host": sender.key.host,
        "instance": sender.key.instance,
        "signals": [(signal, ago(now - at)) for signal, at in sorted(sender.last.items())],
        "last": ago(age),
        "late": age > max(STALE_INTERVALS * interval, LATE_AFTER_SECONDS),
        "interval": flush_interval(sender.interval) if sender.interval else "",
        "exports": sender.exports,
        "accepted": sender.accepted,
        "rejected": sum(sender.rejected.values()),
        "reasons": sorted(sender.rejected.items()),
        "temporality": ", ".join(sorted(sender.temporality)),
        "encodings": ", ".join(sorted(encoding(name, gzipped) for name, gzipped in sender.encodings)),
    }


def _refusal_row(refusal: Refusal, now: float, header: str) -> dict[str, object]:
    return {
        "listener": refusal.listener,
        "cause": refusal.cause,
        "status": refusal.status,
        "count": refusal.count,
        "ago": ago(now - refusal.at),
        "peer": refusal.peer,
        "where": refusal.where,
        "message": refusal.message,
        "hint": HINTS.get((refusal.listener, refusal.cause), "").format(header=header),
    }


def _family_rows(families: list[Family], store: Store, spans_complete: bool) -> Iterator[dict[str, object]]:
    """The first ``MAX_FAMILY_ROWS`` families' rows, each made as the page gets to it."""
    table = exactness(spans_complete)
    cap = store.max_series_per_family
    for family in itertools.islice(families, MAX_FAMILY_ROWS):
        yield {
            "name": family.info.name,
            "type": _TYPES[family.info.kind],
            "series": len(family.series),
            "full": len(family.series) >= cap,
            "exactness": table.get(family.info.name, "GENERIC"),
            "unplaced": store.unplaced.get(family.info.name, 0),
        }


def _bridge_rows(
    config: Config, listeners: Listeners, started: float, now: float, ready: bool
) -> list[tuple[str, str]]:
    ingest = config.ingest_token_header if config.ingest_token_file else "none: open to anyone who reaches it"
    return [
        ("version", __version__),
        ("started", f"{_iso(started)} (up {duration(now - started)})"),
        ("ready", "yes" if ready else "no (starting or draining)"),
        ("OTLP listener", listeners.otlp),
        ("scrape listener", listeners.metrics),
        ("ingest token", ingest),
        ("scrape token", "required" if config.scrape_token_file else "none"),
        ("--metric-name-prefix", repr(config.metric_name_prefix)),
        ("--spans-complete", "on: runs and processed messages from spans" if config.spans_complete else "off"),
        ("--source-label", config.source_label or "none (gateways are summed)"),
        ("--source-attributes", ", ".join(config.source_attributes)),
        ("--max-series", str(config.max_series)),
        ("--max-series-per-family", str(config.max_series_per_family)),
        ("--max-streams", str(config.max_streams)),
        ("--series-ttl", f"{config.series_ttl:g} s"),
        ("--max-body-bytes", str(config.max_body_bytes)),
        ("--max-inflight", str(config.max_inflight)),
        ("remote write", f"{len(config.remote_write_targets)} target(s)" if config.remote_write_targets else "off"),
        ("alert relay", "on (POST /alertmanager)" if config.alert_relay_url else "off"),
    ]


def render_parts(
    config: Config,
    store: Store,
    book: StatusBook,
    *,
    listeners: Listeners,
    started: float,
    now: float,
    ready: bool,
    streams: int,
    browser_host: str | None = None,
) -> Iterator[str]:
    """The page in pieces, so that a server can let ingest run between them; only reads the store (settled by the
    caller) and the book (whose silent senders the bridge's expiry forgets)."""
    senders = [_sender_row(sender, now) for sender in sorted(book.senders.values(), key=lambda s: s.key)]
    refusals = sorted(book.refusals.values(), key=lambda r: -r.at)
    families = store.ordered_families()
    endpoint = otlp_endpoint(config, listeners.otlp, browser_host)
    return _template().generate(
        now=_iso(now),
        bridge=_bridge_rows(config, listeners, started, now, ready),
        senders=senders,
        receiving=any(not sender["late"] for sender in senders),
        exports=book.exports,
        unattributed=sorted(book.unattributed.items()),
        refusals=[_refusal_row(refusal, now, config.ingest_token_header) for refusal in refusals],
        families=_family_rows(families, store, config.spans_complete),
        family_count=len(families),
        families_left=max(0, len(families) - MAX_FAMILY_ROWS),
        live=store.live_series,
        max_series=store.max_series,
        per_family=store.max_series_per_family,
        streams=streams,
        max_streams=config.max_streams,
        drops=[(reason.value, store.dropped_by_reason.get(reason, 0)) for reason in DropReason],
        dropped=store.dropped_observations,
        endpoint=endpoint,
        fragment=openclaw_fragment(config, endpoint),
        loopback_only=loopback(config.otlp_listen.host),
        token_flags=_token_flags(config),
        late_after=LATE_AFTER_SECONDS,
        prefixed=config.metric_name_prefix != DEFAULT_PREFIX,
    )


def _token_flags(config: Config) -> str:
    if config.ingest_token_file is None:
        return ""
    return f"--ingest-token-file {config.ingest_token_file} --ingest-token-header {config.ingest_token_header}"


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined
    )
    source = resources.files(__package__).joinpath("templates/status.html.j2").read_text("utf-8")
    return environment.from_string(source)
