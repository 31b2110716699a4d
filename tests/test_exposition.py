"""The scrape endpoint: both exposition formats checked with prometheus_client's own parsers and promtool on the real
captured OpenClaw bodies, content negotiation, gzip, HEAD, methods, JSON views, the render cache and self-metrics."""

from __future__ import annotations

import collections
import contextlib
import functools
import gzip
import math
import re
import subprocess
import time
import zlib
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as _openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as parse_text

from otlp_bridge import __version__
from otlp_bridge.config import Config
from otlp_bridge.expose.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    SERIES_PER_PART,
    TEXT_CONTENT_TYPE,
    UNCACHED,
    Format,
    GzipMember,
    escape_label_value,
    format_bound,
    format_number,
    format_numbers,
    gzip_parts,
    label_text,
    pack,
    render,
    render_parts,
    series_text,
    unpack,
)
from otlp_bridge.receive.codec import Encoding, Signal, decode_request
from otlp_bridge.store import FamilyInfo, HistogramSeries, Kind, ScalarSeries, Store
from otlp_bridge.translate.metrics import MetricsTranslator, TranslateOptions
from tests.conftest import CAPTURES, SCRAPES, require_fixtures, require_tool
from tests.support import RunningBridge, captured_requests, in_process_bridge

FOLDERS = sorted(p.name for p in CAPTURES.iterdir() if p.is_dir())
MAIN = "03a-main-part1-cumulative"
SELF_METRICS_START = "# HELP otlp_bridge_build_info "  # prometheus_client renders the self-metrics after the store
SCRAPE_PATHS = ("/metrics", "/api/diagnostics/prometheus")
TEXT = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
SampleKey = tuple[str, frozenset[tuple[str, Any]]]

# Accept headers real scrapers send. Prometheus 2 (Debian's 2.42.0, recorded from a real scrape); Prometheus 3 as
# built by scrape.go acceptHeader (translation-rules.md §12): q from 0.{n+1} down, escaping only on the 1.0.0 texts.
PROMETHEUS_2 = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
PROMETHEUS_3 = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;"
    "q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
)
PROMETHEUS_3_UNDERSCORES = PROMETHEUS_3.replace("allow-utf-8", "underscores")
PROMETHEUS_3_PROTOBUF_FIRST = (
    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,"
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;"
    "q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)
PROMETHEUS_3_TEXT_0_0_4_ONLY = "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"  # scrape_protocols: [PrometheusText0.0.4]
PROMETHEUS_3_TEXT_1_0_0_ONLY = "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,*/*;q=0.5"
# content_negotiation.md's own example spells the scheme `allow-utf8` (prometheus/docs#2747); OM 0.0.1 still matches.
PROMETHEUS_DOCS_EXAMPLE = (
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf8;q=0.5,application/openmetrics-text;version=0.0.1;"
    "q=0.4,text/plain;version=1.0.0;escaping=allow-utf8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
)
FIREFOX = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
CHROME = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,"
    "application/signed-exchange;v=b3;q=0.7"
)
NOT_ACCEPTABLE = 406

NEGOTIATION: list[tuple[str, str | None, str | int]] = [
    # Prometheus 2 gets the official plugin's text format: it would store OpenMetrics buckets as le="1.0".
    ("prometheus-2.42", PROMETHEUS_2, TEXT),
    ("prometheus-3", PROMETHEUS_3, OPENMETRICS + "; escaping=allow-utf-8"),
    ("prometheus-3-underscores", PROMETHEUS_3_UNDERSCORES, OPENMETRICS + "; escaping=underscores"),
    ("prometheus-3-protobuf-first", PROMETHEUS_3_PROTOBUF_FIRST, OPENMETRICS + "; escaping=allow-utf-8"),
    ("prometheus-3-text-0.0.4-only", PROMETHEUS_3_TEXT_0_0_4_ONLY, TEXT),
    ("prometheus-3-text-1.0.0-only", PROMETHEUS_3_TEXT_1_0_0_ONLY, TEXT),
    ("prometheus-docs-example", PROMETHEUS_DOCS_EXAMPLE, OPENMETRICS + "; escaping=allow-utf8"),
    ("curl", "*/*", TEXT),
    ("firefox", FIREFOX, TEXT),
    ("chrome", CHROME, TEXT),
    ("absent", None, TEXT),
    ("empty", "", TEXT),
    ("text-plain-bare", "text/plain", TEXT),
    ("openmetrics-bare", "application/openmetrics-text", OPENMETRICS),
    ("openmetrics-0.0.1", "application/openmetrics-text;version=0.0.1", OPENMETRICS),
    ("openmetrics-case-and-spaces", "Application/OpenMetrics-Text; Version=1.0.0; q=1", OPENMETRICS),
    ("text-preferred-by-q", "application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.9", TEXT),
    ("invalid-escaping-alone", "application/openmetrics-text;version=1.0.0;escaping=bogus", NOT_ACCEPTABLE),
    ("invalid-escaping-text", "text/plain;version=1.0.0;escaping=utf8", NOT_ACCEPTABLE),
    (
        "invalid-escaping-with-fallback",
        "application/openmetrics-text;version=1.0.0;escaping=bogus;q=0.9,text/plain;version=0.0.4;q=0.5",
        TEXT,
    ),
    ("json", "application/json", NOT_ACCEPTABLE),
    ("html-only", "text/html", NOT_ACCEPTABLE),
    (
        "protobuf-only",
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
        NOT_ACCEPTABLE,
    ),
    ("openmetrics-2.0.0-only", "application/openmetrics-text;version=2.0.0", NOT_ACCEPTABLE),
    ("everything-refused", "*/*;q=0", NOT_ACCEPTABLE),
]


def parse_openmetrics(page: str) -> list[Metric]:
    """prometheus_client's strict OpenMetrics parser (unannotated upstream)."""
    return list(_openmetrics_families(page))  # type: ignore[no-untyped-call]


# -- replay helpers -------------------------------------------------------------------------------------------
@functools.cache
def _decoded(folder: str) -> tuple[tuple[Any, float], ...]:
    """The folder's metric bodies, decoded once, with their receive times."""
    return tuple(
        (decode_request(Signal.METRICS, Encoding.PROTOBUF, request.decoded_body()), request.time)
        for request in captured_requests(CAPTURES / folder, "metrics")
    )


def _new_store() -> tuple[Store, MetricsTranslator]:
    config = Config()
    store = Store(config.max_series, config.max_series_per_family, config.series_ttl)
    return store, MetricsTranslator(store, TranslateOptions())


def _replayed(folder: str, count: int | None = None) -> Store:
    """A fresh store fed the folder's first ``count`` metric bodies (all when None)."""
    store, translator = _new_store()
    for message, at in _decoded(folder)[:count]:
        translator.apply(message, at)
    return store


async def _post_bodies(client: aiohttp.ClientSession, otlp_url: str, folder: str) -> int:
    """POST every captured metric body of ``folder`` with the headers OpenClaw sent; returns how many."""
    requests = captured_requests(CAPTURES / folder, "metrics")
    for request in requests:
        headers = {"Content-Type": request.headers["Content-Type"]}
        if "Content-Encoding" in request.headers:
            headers["Content-Encoding"] = request.headers["Content-Encoding"]
        async with client.post(f"{otlp_url}/v1/metrics", data=request.body, headers=headers) as response:
            assert response.status == 200, await response.text()
    return len(requests)


@contextlib.asynccontextmanager
async def _fed_bridge(folder: str, **options: Any) -> AsyncIterator[tuple[RunningBridge, aiohttp.ClientSession]]:
    """An in-process bridge that has received every metric body of ``folder`` over HTTP."""
    require_fixtures()
    async with in_process_bridge(**options) as running, aiohttp.ClientSession() as client:
        await _post_bodies(client, running.otlp_url, folder)
        yield running, client


async def _scrape(
    client: aiohttp.ClientSession, url: str, accept: str | None = None, **headers: str
) -> tuple[aiohttp.ClientResponse, str]:
    if accept is not None:
        headers["Accept"] = accept
    async with client.get(url, headers=headers) as response:
        return response, await response.text()


def _translated_part(page: str) -> str:
    """The store's part of a scrape page (the self-metrics follow it)."""
    index = page.find(SELF_METRICS_START)
    assert index >= 0, "self-metrics missing from the page"
    return page[:index]


# -- what the store holds, independently of the renderer ------------------------------------------------------
def _expected_samples(store: Store, fmt: Format) -> dict[SampleKey, float]:
    """Every sample the store should expose in ``fmt``, keyed by sample name and labels (``le`` as a float)."""
    out: dict[SampleKey, float] = {}
    for family in store.ordered_families():
        info = family.info
        for labels, series in family.series.items():
            key = frozenset(labels)
            if isinstance(series, ScalarSeries):
                name = info.name
                if info.kind is Kind.COUNTER and fmt is Format.OPENMETRICS:
                    stem = name.removesuffix("_total")
                    out[(stem + "_total", key)] = series.value
                    out[(stem + "_created", key)] = series.created
                else:
                    out[(name, key)] = series.value
                continue
            assert isinstance(series, HistogramSeries)
            cumulative = 0.0
            for bound, count in zip((*series.bounds, math.inf), series.counts, strict=True):
                cumulative += count
                out[(info.name + "_bucket", key | {("le", bound)})] = cumulative
            out[(info.name + "_sum", key)] = series.sum
            out[(info.name + "_count", key)] = series.count
            if fmt is Format.OPENMETRICS:
                out[(info.name + "_created", key)] = series.created
    return out


def _parsed_samples(families: Iterable[Metric]) -> dict[SampleKey, float]:
    out: dict[SampleKey, float] = {}
    for family in families:
        for sample in family.samples:
            labels = {name: (float(value) if name == "le" else value) for name, value in sample.labels.items()}
            key = (sample.name, frozenset(labels.items()))
            assert key not in out, f"duplicate sample {key}"
            out[key] = sample.value
    return out


def _assert_same_samples(parsed: dict[SampleKey, float], expected: dict[SampleKey, float]) -> None:
    assert parsed.keys() == expected.keys()
    for key, value in expected.items():
        assert math.isclose(parsed[key], value, rel_tol=1e-11), (key, parsed[key], value)


def _metadata(page: str) -> list[tuple[str, str, str]]:
    """``(keyword, family, rest)`` for every ``# HELP|TYPE|UNIT`` line, in order."""
    return [
        (match[1], match[2], match[3])
        for match in re.finditer(r"^# (HELP|TYPE|UNIT) (\S+) ?(.*)$", page, flags=re.MULTILINE)
    ]


def _assert_metadata_once(page: str) -> None:
    counts = collections.Counter((keyword, name) for keyword, name, _ in _metadata(page))
    repeated = {key: count for key, count in counts.items() if count > 1}
    assert not repeated, f"metadata repeated: {repeated}"
    types = {name for keyword, name, _ in _metadata(page) if keyword == "TYPE"}
    helps = {name for keyword, name, _ in _metadata(page) if keyword == "HELP"}
    assert types == helps


# -- rendering the store --------------------------------------------------------------------------------------
@pytest.mark.parametrize("folder", FOLDERS)
def test_text_render_parses_with_prometheus_client(folder: str) -> None:
    """The text render of every capture parses with prometheus_client and holds exactly the store's samples."""
    require_fixtures()
    store = _replayed(folder)
    page = render(store, Format.TEXT)
    assert page.endswith("\n")
    assert store.live_series > 0
    families = list(parse_text(page))
    _assert_same_samples(_parsed_samples(families), _expected_samples(store, Format.TEXT))
    _assert_metadata_once(page)
    assert "_created" not in page
    assert "# EOF" not in page
    assert "# UNIT" not in page


@pytest.mark.parametrize("folder", FOLDERS)
def test_openmetrics_render_parses_with_prometheus_client(folder: str) -> None:
    """The OpenMetrics render (plus ``# EOF``) parses with prometheus_client's strict parser, with ``_created``."""
    require_fixtures()
    store = _replayed(folder)
    page = render(store, Format.OPENMETRICS)
    families = list(parse_openmetrics(page + "# EOF\n"))
    _assert_same_samples(_parsed_samples(families), _expected_samples(store, Format.OPENMETRICS))
    _assert_metadata_once(page)
    assert len(families) == len(store.families)


@pytest.mark.parametrize("folder", FOLDERS)
def test_families_are_ordered_like_the_official_plugin(folder: str) -> None:
    """Counters, then gauges, then histograms, each by name; series by labels; buckets ascending, +Inf = _count."""
    require_fixtures()
    store = _replayed(folder)
    page = render(store, Format.TEXT)
    rank = {"counter": 0, "gauge": 1, "histogram": 2}
    order = [(rank[rest], name) for keyword, name, rest in _metadata(page) if keyword == "TYPE"]
    assert order == sorted(order)
    assert {kind for kind, _ in order} <= {0, 1, 2}
    for family in parse_text(page):
        if family.type != "histogram":
            label_order = [tuple(sorted(sample.labels.items())) for sample in family.samples]
            assert label_order == sorted(label_order)
            continue
        by_series: dict[tuple[tuple[str, str], ...], list[Any]] = collections.defaultdict(list)
        for sample in family.samples:
            plain = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
            by_series[plain].append(sample)
        assert list(by_series) == sorted(by_series)
        for samples in by_series.values():
            names = [s.name.removeprefix(family.name) for s in samples]
            assert names == ["_bucket"] * (len(samples) - 2) + ["_sum", "_count"]
            bounds = [float(s.labels["le"]) for s in samples[:-2]]
            assert bounds == sorted(bounds) and bounds[-1] == math.inf
            counts = [s.value for s in samples[:-2]]
            assert counts == sorted(counts)
            assert counts[-1] == samples[-1].value


@pytest.mark.parametrize("folder", FOLDERS)
def test_le_is_printed_like_the_official_plugin(folder: str) -> None:
    """Text ``le`` values are JavaScript number strings (``1`` not ``1.0``); ``le`` is sorted among the labels."""
    require_fixtures()
    page = render(_replayed(folder), Format.TEXT)
    values = re.findall(r'le="([^"]*)"', page)
    assert values
    for value in values:
        assert value == "+Inf" or value == format_bound(float(value)), value
        assert not value.endswith(".0")
    for line in page.splitlines():
        if "_bucket{" in line:
            names = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', line)
            assert names == sorted(names), line
    if folder == MAIN:
        run_buckets = [line for line in page.splitlines() if line.startswith("openclaw_run_duration_seconds_bucket")]
        assert any('le="1",' in line for line in run_buckets)
        assert any('le="0.005",' in line for line in run_buckets)
        assert any('le="10",' in line for line in run_buckets)


def test_le_strings_of_the_official_scrapes_are_reproduced() -> None:
    """Every ``le`` the official plugin printed in the captured scrapes is what ``format_bound`` prints."""
    require_fixtures()
    values = {value for path in SCRAPES.glob("*.txt") for value in re.findall(r'le="([^"]*)"', path.read_text())}
    assert {"0.005", "1", "2.5", "600", "+Inf"} <= values
    for value in values - {"+Inf"}:
        assert format_bound(float(value)) == value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (10.0, "10"),
        (0.005, "0.005"),
        (2.5, "2.5"),
        (1048576.0, "1048576"),
        (0.1 + 0.2, "0.3"),  # toPrecision(12)
        (256.27100000000002, "256.271"),
        (1 / 3, "0.333333333333"),
        (12345678.123456789, "12345678.1235"),
        (1e-6, "0.000001"),
        (1.5e-7, "1.5e-7"),
        (1e21, "1e+21"),
        (-2.5, "-2.5"),
        (math.nan, "0"),
        (math.inf, "0"),
        (-math.inf, "0"),
    ],
)
def test_numbers_are_printed_like_the_official_plugin(value: float, text: str) -> None:
    """Sample values: ``String(Number(v.toPrecision(12)))``, non-finite as ``0``."""
    assert format_number(value) == text


@pytest.mark.parametrize("folder", FOLDERS)
def test_openmetrics_units_and_created(folder: str) -> None:
    """``# UNIT`` only where the name ends with the unit (and always for _seconds/_bytes/_ratio); ``_created``."""
    require_fixtures()
    store = _replayed(folder)
    page = render(store, Format.OPENMETRICS)
    metadata = _metadata(page)
    units = {name: rest for keyword, name, rest in metadata if keyword == "UNIT"}
    for name, unit in units.items():
        assert name.endswith("_" + unit), (name, unit)
    for keyword, name, _ in metadata:
        if keyword == "TYPE":
            suffix = name.rsplit("_", 1)[-1]
            if suffix in ("seconds", "bytes", "ratio"):
                assert units.get(name) == suffix, name
    # OpenMetrics recommends TYPE, UNIT, HELP
    for index, (keyword, name, _) in enumerate(metadata):
        if keyword == "TYPE":
            following = [k for k, n, _ in metadata[index + 1 : index + 3] if n == name]
            assert following in (["HELP"], ["UNIT", "HELP"]), name
    created = {(s.name, frozenset(s.labels.items())) for f in parse_openmetrics(page + "# EOF\n") for s in f.samples}
    for family in store.ordered_families():
        if family.info.kind is Kind.GAUGE:
            continue
        stem = family.info.name.removesuffix("_total")
        for labels in family.series:
            assert (stem + "_created", frozenset(labels)) in created
    assert "_total_created" not in page


# -- the page the bridge serves -------------------------------------------------------------------------------
@pytest.mark.parametrize("folder", FOLDERS)
async def test_full_text_page_parses_and_promtool_is_silent(folder: str) -> None:
    """The served text page (store + self-metrics) parses, has each family once, and ``promtool check metrics``
    reports nothing."""
    promtool = require_tool("promtool")
    async with _fed_bridge(folder) as (running, client):
        response, page = await _scrape(client, running.metrics_url + "/metrics")
        store = running.bridge.store
    assert response.status == 200
    assert response.headers["Content-Type"] == TEXT
    families = list(parse_text(page))
    _assert_metadata_once(page)
    assert len({f.name for f in families}) == len(families)
    translated = _translated_part(page)
    _assert_same_samples(_parsed_samples(parse_text(translated)), _expected_samples(store, Format.TEXT))
    lint = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True, text=True, check=False)
    assert (lint.returncode, lint.stdout, lint.stderr) == (0, "", "")


@pytest.mark.parametrize("folder", FOLDERS)
async def test_full_openmetrics_page_parses_and_ends_with_eof(folder: str) -> None:
    """The served OpenMetrics page parses strictly, ends with exactly one ``# EOF`` and carries the self-metrics."""
    async with _fed_bridge(folder) as (running, client):
        response, page = await _scrape(client, running.metrics_url + "/metrics", PROMETHEUS_3)
        store = running.bridge.store
    assert response.status == 200
    assert response.headers["Content-Type"] == OPENMETRICS + "; escaping=allow-utf-8"
    assert page.endswith("\n# EOF\n")
    assert page.count("# EOF") == 1
    families = list(parse_openmetrics(page))
    names = {f.name for f in families}
    assert len(names) == len(families)
    assert {"otlp_bridge_build_info", "otlp_bridge_series", "openclaw_prometheus_series_dropped"} <= names
    translated = _translated_part(page)
    expected = _expected_samples(store, Format.OPENMETRICS)
    _assert_same_samples(_parsed_samples(parse_openmetrics(translated + "# EOF\n")), expected)


async def test_promtool_lints_only_the_text_format() -> None:
    """promtool's ``check metrics`` reads stdin as text 0.0.4 (promlint decodes with ``expfmt.FmtText``), so only
    the text page can be linted; the OpenMetrics page is checked by the strict parsers and by a real Prometheus
    (tests/test_prometheus.py), whose default Accept asks for OpenMetrics."""
    promtool = require_tool("promtool")
    async with _fed_bridge(MAIN) as (running, client):
        _, page = await _scrape(client, running.metrics_url + "/metrics", PROMETHEUS_3)
    assert page.endswith("# EOF\n")
    lint = subprocess.run([promtool, "check", "metrics"], input=page, capture_output=True, text=True, check=False)
    # Read as text 0.0.4, an OpenMetrics counter's `_total`/`_created` samples do not match its TYPE name.
    assert lint.returncode == 3
    assert "openclaw_run_completed_total" in lint.stderr and "no help text" in lint.stderr


async def test_empty_bridge_serves_valid_pages() -> None:
    """Before anything was received, both formats are just the self-metrics and still parse."""
    promtool = require_tool("promtool")
    async with in_process_bridge() as running, aiohttp.ClientSession() as client:
        _, text_page = await _scrape(client, running.metrics_url + "/metrics")
        _, om_page = await _scrape(client, running.metrics_url + "/metrics", PROMETHEUS_3)
    assert text_page.startswith(SELF_METRICS_START)
    assert om_page.endswith("# EOF\n")
    assert list(parse_text(text_page))
    assert list(parse_openmetrics(om_page))
    lint = subprocess.run([promtool, "check", "metrics"], input=text_page, capture_output=True, text=True, check=False)
    assert (lint.returncode, lint.stderr) == (0, "")


# -- content negotiation --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("accept", "expected"), [(a, e) for _, a, e in NEGOTIATION], ids=[n for n, _, _ in NEGOTIATION]
)
async def test_content_negotiation(accept: str | None, expected: str | int) -> None:
    """The format and exact Content-Type chosen for the Accept headers real scrapers, browsers and curl send."""
    async with _fed_bridge(MAIN) as (running, client):
        headers = {} if accept is None else {"Accept": accept}
        async with client.get(running.metrics_url + "/metrics", headers=headers, skip_auto_headers=["Accept"]) as r:
            body = await r.text()
            status, content_type = r.status, r.headers.get("Content-Type", "")
    if expected == NOT_ACCEPTABLE:
        assert status == 406, body[:200]
        assert "openclaw_" not in body
        return
    assert status == 200
    assert content_type == expected
    if content_type.startswith("application/openmetrics-text"):
        assert body.endswith("# EOF\n")
        assert any(f.name == "openclaw_run_completed" for f in parse_openmetrics(body))
    else:
        assert "# EOF" not in body
        assert any(f.name == "openclaw_run_completed" for f in parse_text(body))


def test_content_types_are_exact() -> None:
    """The Content-Types Prometheus 3 requires to be exact and parseable."""
    assert TEXT_CONTENT_TYPE == TEXT
    assert OPENMETRICS_CONTENT_TYPE == OPENMETRICS


# -- HTTP behaviour of the scrape paths -----------------------------------------------------------------------
@pytest.mark.parametrize("accept", [None, PROMETHEUS_3])
async def test_gzip_when_accepted(accept: str | None) -> None:
    """``Accept-Encoding: gzip`` (what Prometheus sends) gets a gzip body; identity gets plain text."""
    async with _fed_bridge(MAIN) as (running, _), aiohttp.ClientSession(auto_decompress=False) as raw:
        headers = {"Accept-Encoding": "gzip"} | ({"Accept": accept} if accept else {})
        async with raw.get(running.metrics_url + "/metrics", headers=headers) as response:
            body = await response.read()
            assert response.headers["Content-Encoding"] == "gzip"
            assert response.headers["Cache-Control"] == "no-store"
        async with raw.get(running.metrics_url + "/metrics", headers={"Accept-Encoding": "identity"}) as response:
            plain = await response.read()
            assert "Content-Encoding" not in response.headers
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    page = inflater.decompress(body).decode()
    assert inflater.eof and not inflater.unused_data, "one gzip member, nothing after it"
    assert len(body) < len(page)
    parsed = list(parse_openmetrics(page)) if accept else list(parse_text(page))
    assert any(f.name == "openclaw_run_completed" for f in parsed)
    assert plain.startswith(b"# HELP openclaw_")
    if not accept:  # the same series as the plain page (the self-metrics differ from scrape to scrape)
        assert page[: page.index(SELF_METRICS_START)] == plain.decode()[: plain.decode().index(SELF_METRICS_START)]


# A gzip member written from deflated text and spliced packed blocks, in any order and of any size (beyond the
# 64 KiB of zeros the CRC-32 shift uses at a time), is one ordinary gzip stream of their text.
_pieces = st.lists(
    st.tuples(st.booleans(), st.binary(max_size=300) | st.sampled_from([b"x" * 70_000, bytes(140_000)])),
    max_size=8,
)


@given(pieces=_pieces)
@settings(max_examples=60, deadline=None)
def test_gzip_member_of_text_and_packed_blocks_is_their_text(pieces: list[tuple[bool, bytes]]) -> None:
    member = GzipMember()
    out = [member.header()]
    for packed, data in pieces:
        out.append(member.packed([pack(data)]) if packed else member.text(data))
    out.append(member.finish())
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert inflater.decompress(b"".join(out)) == b"".join(data for _, data in pieces)
    assert inflater.eof and not inflater.unused_data
    assert gzip.decompress(b"".join(out)) == b"".join(data for _, data in pieces)  # CRC and length checked


@given(texts=st.lists(st.binary(max_size=5_000), max_size=6))
@settings(max_examples=40, deadline=None)
def test_unpack_gives_the_packed_texts_in_order(texts: list[bytes]) -> None:
    assert unpack([pack(text) for text in texts]) == b"".join(texts)


@given(values=st.lists(st.floats() | st.integers(-(2**64), 2**64) | st.sampled_from([2.0**53, 2**53 + 1, 1e21, -1e21])))
def test_numbers_in_bulk_are_printed_like_one_by_one(values: list[float]) -> None:
    """``format_numbers`` (whole numbers at once) prints exactly what ``format_number`` prints for each value, and
    so does a counter's line."""
    assert format_numbers(values) == [format_number(value) for value in values]
    store = Store(10, 10, ttl=600.0)
    family = store.family(FamilyInfo("n_total", Kind.COUNTER, "N."))
    assert family is not None
    series = store.series(family, (), created=1.0, now=1.0)
    assert isinstance(series, ScalarSeries)
    for value in values:
        series.value = value
        assert series_text("n_total", series) == f"n_total {format_number(value)}\n"


@given(labels=st.dictionaries(st.sampled_from(["a", "k", "le_x", "z"]), st.text(max_size=8)))
def test_label_text_escapes_each_value(labels: dict[str, str]) -> None:
    pairs = tuple(sorted(labels.items()))
    expected = ",".join(f'{name}="{escape_label_value(value)}"' for name, value in pairs)
    assert label_text(pairs) == (f"{{{expected}}}" if pairs else "")


def test_histogram_caches_are_packed_and_a_fraction_of_their_text() -> None:
    """A histogram's cached lines are deflated (the label set repeats on every bucket line); a counter's are not. A
    histogram changed since its last render is rendered without being cached, and cached once a scrape finds it
    unchanged since."""
    store = _replayed(MAIN)
    page = render(store, Format.TEXT)
    histograms = [s for f in store.ordered_families() for s in f.series.values() if isinstance(s, HistogramSeries)]
    assert histograms
    assert all(series.text == UNCACHED for series in histograms)  # they all changed since (never rendered)
    assert render(store, Format.TEXT) == page
    for series in histograms:
        assert series.text
        text = unpack([series.text])
        assert text.decode() in page
        assert len(series.text) * 3 < len(text)
    counters = [s for f in store.ordered_families() for s in f.series.values() if isinstance(s, ScalarSeries)]
    assert all(s.text is not None and s.text.decode() in page for s in counters)
    changed = histograms[0]
    assert isinstance(changed, HistogramSeries)
    changed.add(changed.bounds, [1] + [0] * len(changed.bounds), 0.001, 1)
    page = render(store, Format.TEXT)
    assert changed.text == UNCACHED  # changed since the last render: rendered, not cached
    assert render(store, Format.TEXT) == page
    assert changed.text and unpack([changed.text]).decode() in page  # unchanged since: cached


async def test_gzip_refused_with_q_zero_is_not_used() -> None:
    """``Accept-Encoding: gzip;q=0`` forbids gzip (RFC 9110 §12.5.3), so the body must not be gzip-encoded."""
    async with _fed_bridge(MAIN) as (running, _), aiohttp.ClientSession(auto_decompress=False) as raw:
        headers = {"Accept-Encoding": "gzip;q=0, identity"}
        async with raw.get(running.metrics_url + "/metrics", headers=headers) as response:
            assert response.status == 200
            assert "Content-Encoding" not in response.headers


@pytest.mark.parametrize("path", SCRAPE_PATHS)
async def test_head_returns_headers_only(path: str) -> None:
    """HEAD answers like GET (status, Content-Type, Cache-Control, length) without a body."""
    async with _fed_bridge(MAIN) as (running, client):
        for accept, content_type in ((None, TEXT), (PROMETHEUS_3, OPENMETRICS + "; escaping=allow-utf-8")):
            headers = {"Accept-Encoding": "identity"} | ({"Accept": accept} if accept else {})
            async with client.head(running.metrics_url + path, headers=headers) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == content_type
                assert response.headers["Cache-Control"] == "no-store"
                assert int(response.headers["Content-Length"]) > 1000
                assert await response.read() == b""


@pytest.mark.parametrize("accept", [None, PROMETHEUS_3])
async def test_official_path_serves_the_same_page(accept: str | None) -> None:
    """``/api/diagnostics/prometheus`` (the official plugin's path) serves what ``/metrics`` serves."""
    async with _fed_bridge(MAIN) as (running, client):
        first, metrics_page = await _scrape(client, running.metrics_url + "/metrics", accept)
        second, official_page = await _scrape(client, running.metrics_url + "/api/diagnostics/prometheus", accept)
    assert first.status == second.status == 200
    assert first.headers["Content-Type"] == second.headers["Content-Type"]
    assert second.headers["Cache-Control"] == "no-store"
    assert _translated_part(metrics_page) == _translated_part(official_page)
    assert "openclaw_run_completed" in official_page


@pytest.mark.parametrize("path", SCRAPE_PATHS)
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_are_not_allowed(path: str, method: str) -> None:
    """Methods other than GET and HEAD get 405 with ``Allow: GET, HEAD``, like the official endpoint."""
    async with (
        in_process_bridge() as running,
        aiohttp.ClientSession() as client,
        client.request(method, running.metrics_url + path, data=b"x") as response,
    ):
        assert response.status == 405
        assert response.headers["Allow"] == "GET, HEAD"
        assert (await response.text()).strip() == "Method Not Allowed"


async def test_scrape_token_guards_scrape_and_json_paths(tmp_path: Path) -> None:
    """With a scrape token: 401 without (WWW-Authenticate), 403 wrong, 200 right; health probes stay open."""
    token_file = tmp_path / "scrape-token"
    token_file.write_text("s3cret-scrape\n")
    async with in_process_bridge(scrape_token_file=token_file) as running, aiohttp.ClientSession() as client:
        for path in (*SCRAPE_PATHS, "/metrics/health", "/metrics/per-object", "/metrics/detailed?family=run"):
            url = running.metrics_url + path
            async with client.get(url) as response:
                assert response.status == 401, path
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
            async with client.get(url, headers={"Authorization": "Bearer wrong"}) as response:
                assert response.status == 403, path
            async with client.get(url, headers={"Authorization": "Bearer s3cret-scrape"}) as response:
                assert response.status == 200, path
        async with client.head(running.metrics_url + "/metrics") as response:
            assert response.status == 401
        for path in ("/healthz", "/readyz"):
            async with client.get(running.metrics_url + path) as response:
                assert response.status == 200, path


# -- JSON views -----------------------------------------------------------------------------------------------
def _assert_histogram_sample(sample: dict[str, Any]) -> None:
    assert set(sample) == {"labels", "buckets", "sum", "count"}
    buckets = sample["buckets"]
    assert list(buckets)[-1] == "+Inf"
    bounds = [float(b) for b in buckets]
    assert bounds == sorted(bounds)
    counts = list(buckets.values())
    assert counts == sorted(counts)
    assert buckets["+Inf"] == sample["count"]


async def test_json_health() -> None:
    """``/metrics/health``: bridge health, last receive per source, series counts."""
    async with _fed_bridge(MAIN) as (running, client):
        async with client.get(running.metrics_url + "/metrics/health") as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            assert response.content_type == "application/json"
            health = await response.json()
        live = running.bridge.store.live_series
    assert health["ok"] is True
    assert health["healthy"] is True
    assert health["ready"] is True
    assert health["plugin"] == "otlp-bridge"
    assert health["version"] == __version__
    assert {"startedAt", "uptimeSeconds"} <= set(health)
    assert [(s["signal"], s["source"]) for s in health["sources"]] == [("metrics", "openclaw-gateway:vm")]
    assert set(health["sources"][0]) == {"signal", "source", "lastReceiveAt", "ageSeconds"}
    assert health["series"] == {
        "live": live,
        "max": 2048,
        "maxPerFamily": 2048,
        "droppedObservations": 0,
        "expired": 0,
    }


async def test_json_detailed_includes_histograms() -> None:
    """``/metrics/detailed?family=run``: the matching families, histograms with buckets, sum and count."""
    async with _fed_bridge(MAIN) as (running, client):
        async with client.get(running.metrics_url + "/metrics/detailed", params={"family": "run"}) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            detailed = await response.json()
        async with client.get(running.metrics_url + "/metrics/detailed") as response:
            everything = await response.json()
        store = running.bridge.store
    assert set(detailed) == {"timestamp", "meta", "metrics"}
    names = [m["name"] for m in detailed["metrics"]]
    assert names and all("run" in name for name in names)
    assert {"openclaw_run_completed_total", "openclaw_run_duration_seconds", "openclaw_harness_run_total"} <= set(names)
    assert len(everything["metrics"]) == len(store.families)
    by_name = {m["name"]: m for m in detailed["metrics"]}
    for metric in detailed["metrics"]:
        assert set(metric) == {"name", "help", "type", "samples"}
        assert metric["type"] in ("counter", "gauge", "histogram")
    completed = by_name["openclaw_run_completed_total"]
    assert completed["type"] == "counter"
    assert [s["value"] for s in completed["samples"]] == [10]
    duration = by_name["openclaw_run_duration_seconds"]
    assert duration["type"] == "histogram"
    assert duration["help"] == "Agent run duration in seconds."
    assert len(duration["samples"]) == 1
    sample = duration["samples"][0]
    _assert_histogram_sample(sample)
    assert sample["count"] == 10
    assert math.isclose(sample["sum"], 256.271, rel_tol=1e-9)
    assert sample["labels"]["provider"] == "fakeai"


async def test_json_per_object() -> None:
    """``/metrics/per-object``: series grouped by provider, model, channel, tool and lane, histograms included."""
    async with (
        _fed_bridge(MAIN) as (running, client),
        client.get(running.metrics_url + "/metrics/per-object") as response,
    ):
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        document = await response.json()
    assert set(document) == {"timestamp", "meta", "objects"}
    objects = document["objects"]
    assert set(objects) == {"provider", "model", "channel", "tool", "lane"}
    fakeai = objects["provider"]["fakeai"]
    entries = {entry["name"]: entry for entry in fakeai}
    assert entries["openclaw_run_completed_total"]["value"] == 10
    assert entries["openclaw_model_call_total"]["value"] == 16
    _assert_histogram_sample({k: v for k, v in entries["openclaw_run_duration_seconds"].items() if k != "name"})
    assert set(objects["lane"]) >= {"main", "session"}
    assert set(objects["channel"]) == {"webchat"}
    for groups in objects.values():
        for series_list in groups.values():
            for entry in series_list:
                assert "name" in entry and "labels" in entry


# -- the render cache -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("folder", FOLDERS)
def test_cached_render_matches_a_fresh_render(folder: str) -> None:
    """Rendering after every body (so caches are warm) gives exactly what a fresh store fed the same bodies gives."""
    require_fixtures()
    bodies = _decoded(folder)
    checkpoints = {1, len(bodies) // 4, len(bodies) // 2, 3 * len(bodies) // 4, len(bodies)}
    store, translator = _new_store()
    for index, (message, at) in enumerate(bodies, start=1):
        translator.apply(message, at)
        text, om = render(store, Format.TEXT), render(store, Format.OPENMETRICS)
        assert render(store, Format.TEXT) == text  # a warm render is stable
        if index in checkpoints:
            fresh = _replayed(folder, index)
            assert text == render(fresh, Format.TEXT), f"stale text after {index} bodies"
            assert om == render(fresh, Format.OPENMETRICS), f"stale OpenMetrics after {index} bodies"


def test_cached_render_follows_expiry_and_new_series() -> None:
    """Series added, changed and expired after a warm render show up in the next render, in both formats."""
    store = Store(100, 100, ttl=10.0)
    counter = store.family(FamilyInfo("a_total", Kind.COUNTER, "A."))
    gauge = store.family(FamilyInfo("b", Kind.GAUGE, "B."))
    assert counter is not None and gauge is not None
    first = store.series(counter, (("x", "1"),), created=1.0, now=1.0)
    assert isinstance(first, ScalarSeries)
    first.add(1.0)
    for fmt in Format:
        render(store, fmt)
    second = store.series(counter, (("x", "2"),), created=2.0, now=20.0)
    level = store.series(gauge, (), created=2.0, now=20.0)
    assert isinstance(second, ScalarSeries) and isinstance(level, ScalarSeries)
    second.add(2.5)
    level.set(7.0)
    assert 'a_total{x="2"} 2.5\n' in render(store, Format.TEXT)
    assert 'a_total{x="2"} 2.5\n' in render(store, Format.OPENMETRICS)
    assert store.expire(now=15.0) == 1  # x="1" was last seen at 1.0
    for fmt in Format:
        page = render(store, fmt)
        assert 'x="1"' not in page
        assert "b 7\n" in page
    level.set(8.0)
    assert "b 8\n" in render(store, Format.TEXT)


def test_a_render_settles_first_unless_its_caller_has() -> None:
    """What a writer kept back is applied before a render reads the store; a scrape that settled in steps itself
    renders without settling again (what arrived meanwhile waits for the next read, not all at once)."""
    store = Store(10, 10, ttl=600.0)
    family = store.family(FamilyInfo("kept_total", Kind.COUNTER, "Kept back."))
    assert family is not None
    kept: list[float] = []

    def settle() -> Iterator[None]:
        while kept:
            series = store.series(family, (), created=1.0, now=1.0)
            assert isinstance(series, ScalarSeries)
            series.add(kept.pop())
            yield

    store.add_settler(settle)
    kept.append(2.0)
    assert b"kept_total 2\n" in b"".join(render_parts(store, Format.TEXT))
    kept.append(3.0)
    for unsettled in (
        render_parts(store, Format.TEXT, settle=False),
        gzip_parts(store, Format.TEXT, GzipMember(), settle=False),
    ):
        b"".join(unsettled)
        assert kept == [3.0]
    assert "kept_total 5\n" in render(store, Format.TEXT)


def test_overlapping_renders_do_not_cache_a_stale_block() -> None:
    """Two scrapes rendering one large family at the same time, with an update in between, leave no stale cache."""
    store = Store(10_000, 10_000, 600.0)
    family = store.family(FamilyInfo("x_total", Kind.COUNTER, "X."))
    assert family is not None
    for index in range(2 * SERIES_PER_PART):
        series = store.series(family, (("i", f"{index:05d}"),), created=1.0, now=1.0)
        assert isinstance(series, ScalarSeries)
        series.add(1.0)
    first_labels = sorted(family.series)[0]

    scrape_a = render_parts(store, Format.TEXT)
    parts_a = [next(scrape_a), next(scrape_a)]  # the header, then the first run of series; A pauses there
    assert b'x_total{i="00000"} 1\n' in parts_a[1]
    first = family.series[first_labels]
    assert isinstance(first, ScalarSeries)
    first.add(1.0)  # ingest updates it while A is paused
    scrape_b = render_parts(store, Format.TEXT)
    parts_b = [next(scrape_b), next(scrape_b)]  # a second scraper (e.g. an HA Prometheus pair) starts
    parts_a.extend(scrape_a)
    parts_b.extend(scrape_b)
    assert b'x_total{i="00000"} 2\n' in b"".join(parts_b)
    # A's page was taken before the update, which is fine; the *next* scrape must see the new value.
    assert 'x_total{i="00000"} 2\n' in render(store, Format.TEXT)


# -- self-metrics ---------------------------------------------------------------------------------------------
async def test_self_metrics_on_the_page() -> None:
    """Build info, live series, streams, drops, expiry, scrape duration, last receive and request counts appear."""
    started = time.time()
    async with _fed_bridge(MAIN) as (running, client):
        _, page = await _scrape(client, running.metrics_url + "/metrics")
        _, page = await _scrape(client, running.metrics_url + "/metrics")  # the second sees the first's duration
        store = running.bridge.store
        streams = len(running.bridge.translators.metrics.tracked_streams)
    bodies = len(captured_requests(CAPTURES / MAIN, "metrics"))
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in parse_text(page[page.index(SELF_METRICS_START) :])
        for s in family.samples
    }

    def value(name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))]

    assert value("otlp_bridge_build_info", version=__version__) == 1
    assert value("otlp_bridge_series") == store.live_series > 0
    assert value("otlp_bridge_streams") == streams > 0
    assert value("openclaw_prometheus_series_dropped_total") == 0
    for reason in ("series_cap", "family_cap", "stream_cap"):
        assert value("otlp_bridge_series_dropped_total", reason=reason) == 0
    assert value("otlp_bridge_series_expired_total") == 0
    assert 0 < value("otlp_bridge_last_scrape_duration_seconds") < 5
    received = value("otlp_bridge_last_receive_timestamp_seconds", signal="metrics", source="openclaw-gateway:vm")
    assert started <= received <= time.time()
    assert value("otlp_bridge_requests_total", signal="metrics", outcome="ok") == bodies
    assert value("otlp_bridge_received_points_total", signal="metrics", outcome="accepted") > bodies
    wire = sum(len(r.body) for r in captured_requests(CAPTURES / MAIN, "metrics"))
    assert value("otlp_bridge_received_bytes_total", signal="metrics", outcome="ok") == wire
    assert "# TYPE otlp_bridge_rejected_points_total counter" in page
    assert any(name.startswith("process_") for name, _ in samples)


async def test_series_dropped_counter_counts_refused_observations() -> None:
    """Under a tiny cap, ``openclaw_prometheus_series_dropped_total`` and the reason counter count refusals."""
    async with _fed_bridge(MAIN, max_series=3) as (running, client):
        _, page = await _scrape(client, running.metrics_url + "/metrics")
        store = running.bridge.store
    assert store.live_series == 3
    assert store.dropped_observations > 0
    assert f"openclaw_prometheus_series_dropped_total {float(store.dropped_observations)}" in page
    assert f'otlp_bridge_series_dropped_total{{reason="series_cap"}} {float(store.dropped_observations)}' in page
    assert list(parse_text(page))


@pytest.mark.parametrize(
    ("counts", "count"),
    [
        # past 2^53 a float count is no longer the sum of its buckets: the float sum of the buckets (100000000000049999
        # → …050000) prints as 1e17 while the count prints as 100000000001000000 (12 significant digits)
        ([0, 10**17 + 49_999], float(10**17 + 50_016)),
        # a float rounding that puts the finite buckets above the count
        ([10**17 + 50_016, 0], float(10**17)),
        ([1, 2, 3], 6.0),
    ],
)
def test_histogram_buckets_stay_monotonic_and_end_at_the_count(counts: list[int], count: float) -> None:
    """The ``+Inf`` bucket equals ``_count`` and no bucket exceeds it, in both formats, whatever float rounding did to
    huge counts (a fuzzed body made one OpenMetrics page unparseable)."""
    store = Store(10, 10, 600.0)
    family = store.family(FamilyInfo("h_seconds", Kind.HISTOGRAM, "H.", "seconds"))
    assert family is not None
    series = store.series(family, (), created=1.0, now=1.0)
    assert isinstance(series, HistogramSeries)
    series.bounds = tuple(float(bound) for bound in range(1, len(counts)))
    series.counts, series.count, series.sum = list(counts), count, 1.0
    series.changed()
    (om_family,) = [
        f for f in parse_openmetrics(render(store, Format.OPENMETRICS) + "# EOF\n") if f.name == "h_seconds"
    ]
    (text_family,) = [f for f in parse_text(render(store, Format.TEXT)) if f.name == "h_seconds"]
    for parsed in (om_family, text_family):
        buckets = [s.value for s in parsed.samples if s.name == "h_seconds_bucket"]
        (total,) = [s.value for s in parsed.samples if s.name == "h_seconds_count"]
        assert buckets == sorted(buckets)
        assert buckets[-1] == total
