"""Prometheus text 0.0.4 and OpenMetrics 1.0 rendering of the series store, with content negotiation and gzip.

Each series caches its rendered lines until it changes, so a scrape re-renders only what changed since the previous
one. A histogram's lines (18 with OpenClaw's bounds, each repeating the label set) are cached deflated on their
own: about 15 B per line instead of 200. A gzip scrape (what Prometheus asks for) splices those deflated blocks into
its stream as they are, so it costs less than compressing the page; a plain scrape inflates them. A histogram that
changed since its last render is rendered as text and cached only once a scrape finds it unchanged: in a busy fleet
most series change between two scrapes, and deflating their lines for a cache would be wasted. Rendering is a
generator of parts so the server can yield to the event loop between parts: a large store never stalls ingest.
"""

from __future__ import annotations

import enum
import functools
import itertools
import math
import struct
import zlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Final, NamedTuple

from prometheus_client.utils import floatToGoString

from otlp_bridge.store import Family, HistogramSeries, Kind, Labels, ScalarSeries, Series, Store, openmetrics_name

TEXT_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE: Final = "application/openmetrics-text; version=1.0.0; charset=utf-8"
ESCAPING_SCHEMES: Final = frozenset({"allow-utf-8", "allow-utf8", "underscores", "dots", "values"})
SERIES_PER_PART: Final = 500  # counters and gauges: one line each
HISTOGRAMS_PER_PART: Final = 25  # about 500 lines with OpenClaw's 15 bounds
_TYPE_WORD: Final = {Kind.COUNTER: "counter", Kind.GAUGE: "gauge", Kind.HISTOGRAM: "histogram"}
GZIP_LEVEL: Final = 1  # scrapes are fetched every few seconds: speed over the last few percent of size


class Format(enum.Enum):
    TEXT = "text"
    OPENMETRICS = "openmetrics"


class NotAcceptable(Exception):
    """The ``Accept`` header admits no format this endpoint can produce (406)."""


def negotiate(accept: str | None) -> tuple[Format, str]:
    """Pick the format and the exact ``Content-Type`` from an ``Accept`` header.

    OpenMetrics 1.0.0 (or 0.0.1) when it is acceptable with the highest weight, else text 0.0.4. A range whose
    ``escaping`` parameter names no known scheme is ignored; every name this bridge exposes is a legacy Prometheus
    name, so all schemes produce the same bytes and the requested one is echoed back.

    One exception keeps the official plugin's series identical on Prometheus 2: Prometheus 2 asks for OpenMetrics
    first but also accepts text 0.0.4, and it would store OpenMetrics buckets as ``le="1.0"`` (and ``_created``
    samples as extra series) where the official plugin's text gives ``le="1"``. Prometheus 3 normalises ``le``
    whatever the format and always sends an ``escaping`` parameter. So OpenMetrics requested without ``escaping``
    while text is also acceptable is answered with text.
    """
    if not accept or not accept.strip():
        return Format.TEXT, TEXT_CONTENT_TYPE
    best: tuple[float, int, Format, str, bool] | None = None
    text_acceptable = False
    for position, item in enumerate(accept.split(",")):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        params: dict[str, str] = {}
        for param in parts[1:]:
            key, _, value = param.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            weight = float(params.get("q", "1"))
        except ValueError:
            continue
        if not 0 < weight <= 1:
            continue
        escaping = params.get("escaping")
        if escaping is not None and escaping not in ESCAPING_SCHEMES:
            continue
        if media == "application/openmetrics-text" and params.get("version", "1.0.0") in ("1.0.0", "0.0.1"):
            content_type = OPENMETRICS_CONTENT_TYPE + (f"; escaping={escaping}" if escaping else "")
            choice = (weight, -position, Format.OPENMETRICS, content_type, escaping is not None)
        elif media in ("text/plain", "text/*", "*/*"):
            choice = (weight, -position, Format.TEXT, TEXT_CONTENT_TYPE, False)
            text_acceptable = True
        else:
            continue
        if best is None or choice[:2] > best[:2]:
            best = choice
    if best is None:
        msg = f"none of {accept!r} can be served; use text/plain or application/openmetrics-text"
        raise NotAcceptable(msg)
    _, _, fmt, content_type, escaping_given = best
    if fmt is Format.OPENMETRICS and not escaping_given and text_acceptable:
        return Format.TEXT, TEXT_CONTENT_TYPE
    return fmt, content_type


def accepts_gzip(header: str | None) -> bool:
    """Whether ``Accept-Encoding`` admits gzip (``gzip;q=0`` does not)."""
    for item in (header or "").split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        return weight > 0
    return False


# -- numbers --------------------------------------------------------------------------------------------------
def format_number(value: float) -> str:
    """Like the official plugin: ``String(Number(v.toPrecision(12)))``, non-finite as ``0``."""
    value = float(value)
    if not math.isfinite(value):
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return format_bound(float(f"{value:.12g}"))


_EXACT: Final = 2**53  # whole numbers up to here print the same whether given as int or float


def _number(value: float) -> str:
    """``format_number``, the common case (a whole number) inline."""
    return str(int(value)) if -_EXACT <= value <= _EXACT and value == value // 1 else format_number(value)


def format_numbers(values: list[float]) -> list[str]:
    """``format_number`` of each value; whole numbers (the common case: counts) all at once."""
    try:
        whole = list(map(int, values))
    except (OverflowError, ValueError):  # infinite or NaN
        whole = []
    if whole and whole == values and min(whole) >= -_EXACT and max(whole) <= _EXACT:
        return list(map(str, whole))
    return [format_number(value) for value in values]


def format_bound(bound: float) -> str:
    """A number as JavaScript's ``String(n)`` prints it: ``1``, ``0.005``, ``2.5``, ``1e-7``, ``1e+21``."""
    if bound.is_integer() and abs(bound) < 1e21:
        return str(int(bound))
    text = repr(bound)
    if "e" not in text:
        return text
    mantissa, exponent_text = text.split("e")
    exponent = int(exponent_text)
    if -7 < exponent < 21:
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label_pairs(labels: Labels) -> list[str]:
    """Each label as ``name="value"``, escaped (values rarely need it: checked once for the whole set)."""
    values = "".join([value for _, value in labels])
    if "\\" in values or "\n" in values or '"' in values:
        return [f'{name}="{escape_label_value(value)}"' for name, value in labels]
    return [f'{name}="{value}"' for name, value in labels]


def label_text(labels: Labels) -> str:
    return "{" + ",".join(_label_pairs(labels)) + "}" if labels else ""


# -- series ---------------------------------------------------------------------------------------------------
def _split_at_le(labels: Labels) -> tuple[str, str, str]:
    """The label text before and after an ``le`` label sorted in among the others, and the whole label text."""
    pairs = _label_pairs(labels)
    if not pairs:
        return "", "", ""
    split = sum(1 for name, _ in labels if name < "le")
    before, after = ",".join(pairs[:split]), ",".join(pairs[split:])
    return (before + "," if before else ""), ("," + after if after else ""), "{" + ",".join(pairs) + "}"


@functools.lru_cache(maxsize=64)
def _le_texts(bounds: tuple[float, ...]) -> tuple[str, ...]:
    """The quoted ``le`` value of each finite bound (a few distinct bound sets serve every histogram)."""
    return tuple(f'"{format_bound(bound)}"' for bound in bounds)


def _cumulative_counts(series: HistogramSeries) -> list[float]:
    """The cumulative bucket counts, ``+Inf`` last and equal to ``_count``: a count past 2^53 is no longer exact
    as a float, so the finite buckets are capped at it and stay monotonic (and equal ``_count`` as printed)."""
    out = list(itertools.accumulate(series.counts))
    total = series.count
    out[:-1] = map(min, out[:-1], itertools.repeat(total))
    out[-1] = total
    return out


def series_text(name: str, series: Series) -> str:
    """The series' lines in text 0.0.4."""
    labels = series.labels
    if isinstance(series, ScalarSeries):
        return f"{name}{label_text(labels)} {_number(series.value)}\n"
    assert isinstance(series, HistogramSeries)
    before, after, plain = _split_at_le(labels)
    head = f"{name}_bucket{{{before}le="
    tail = f"{after}}} "
    numbers = format_numbers(_cumulative_counts(series))
    lines = [f"{head}{le}{tail}{number}\n" for le, number in zip(_le_texts(series.bounds), numbers, strict=False)]
    total = numbers[-1]  # the +Inf bucket is the count
    lines.append(f'{head}"+Inf"{tail}{total}\n{name}_sum{plain} {format_number(series.sum)}\n')
    lines.append(f"{name}_count{plain} {total}\n")
    return "".join(lines)


def series_openmetrics(name: str, kind: Kind, series: Series) -> str:
    """The series' lines in OpenMetrics 1.0."""
    labels = series.labels
    plain = label_text(labels)
    created = f"{name}_created{plain} {floatToGoString(series.created)}\n" if series.created > 0 else ""
    if isinstance(series, ScalarSeries):
        if kind is Kind.COUNTER:
            text = f"{name}_total{plain} {format_number(series.value)}\n{created}"
        else:
            text = f"{name}{plain} {format_number(series.value)}\n"
    else:
        assert isinstance(series, HistogramSeries)
        exemplars = series.exemplars or {}
        before, after, _ = _split_at_le(labels)
        bucket = f"{name}_bucket{{{before}le="
        lines = []
        bounds = (*series.bounds, math.inf)
        for index, (bound, cumulative) in enumerate(zip(bounds, _cumulative_counts(series), strict=False)):
            line = f'{bucket}"{floatToGoString(bound)}"{after}}} {format_number(cumulative)}'
            exemplar = exemplars.get(index)
            if exemplar is not None:
                trace_id, value, timestamp = exemplar
                line += f' # {{trace_id="{trace_id}"}} {floatToGoString(value)} {floatToGoString(timestamp)}'
            lines.append(line + "\n")
        # OpenMetrics: _sum (and with it _count) only for histograms that cannot hold negative observations
        if series.sum >= 0 and not (series.bounds and series.bounds[0] < 0):
            lines.append(f"{name}_count{plain} {format_number(series.count)}\n")
            lines.append(f"{name}_sum{plain} {format_number(series.sum)}\n")
        lines.append(created)
        text = "".join(lines)
    return text


def cached_lines(name: str, kind: Kind, series: Series, fmt: Format) -> bytes:
    """A counter's or gauge's lines in ``fmt`` (UTF-8) from its cache, rendered (and cached) when it changed since."""
    if fmt is Format.TEXT:
        cached = series.text
        if cached is None:
            cached = series.text = series_text(name, series).encode()
    else:
        cached = series.om
        if cached is None:
            cached = series.om = series_openmetrics(name, kind, series).encode()
    return cached


UNCACHED: Final = b""  # in a histogram's cache: rendered since its last change, but not cached


def histogram_lines(name: str, series: Series, fmt: Format) -> tuple[bool, bytes]:
    """A histogram's lines in ``fmt``: ``(True, packed)`` from its cache, or ``(False, UTF-8 text)``.

    A histogram that changed since it was last rendered will likely change again before the next scrape (a busy
    fleet changes most series between two scrapes), so its lines are rendered but not deflated into a cache that
    would be thrown away; only when a scrape finds it unchanged since then are they rendered again and cached."""
    text_format = fmt is Format.TEXT
    cached = series.text if text_format else series.om
    if cached:
        return True, cached
    text = (series_text(name, series) if text_format else series_openmetrics(name, Kind.HISTOGRAM, series)).encode()
    block = UNCACHED if cached is None else pack(text)
    if text_format:
        series.text = block
    else:
        series.om = block
    return (True, block) if block else (False, text)


# -- deflated blocks and gzip ---------------------------------------------------------------------------------
_PACK_HEADER: Final = struct.Struct("<II")  # the CRC-32 key and the length of the packed text
_ZEROS: Final = memoryview(bytes(1 << 16))
_GZIP_HEADER: Final = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, no mtime, unknown OS


def _crc32_after_zeros(length: int, crc: int) -> int:
    """The CRC-32 of the bytes ``crc`` was taken of, followed by ``length`` zero bytes."""
    while length > len(_ZEROS):
        crc = zlib.crc32(_ZEROS, crc)
        length -= len(_ZEROS)
    return zlib.crc32(_ZEROS[:length], crc)


def pack(data: bytes) -> bytes:
    """``data`` deflated on its own and flushed to a byte boundary (no final block), so that packed blocks can be
    spliced into one deflate stream in any order; prefixed with its length and a CRC-32 key.

    CRC-32 is affine, so ``crc32(prefix + data) == crc32(zeros(len(data)), crc32(prefix)) ^ key`` with
    ``key = crc32(data) ^ crc32(zeros(len(data)))``: the gzip trailer of a spliced stream needs no inflating."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    key = zlib.crc32(data) ^ _crc32_after_zeros(len(data), 0)
    return _PACK_HEADER.pack(key, len(data)) + deflated


def unpack(blocks: Sequence[bytes]) -> bytes:
    """The text of packed blocks, in order."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    return inflater.decompress(b"".join([memoryview(block)[_PACK_HEADER.size :] for block in blocks]))


class GzipMember:
    """One gzip member (RFC 1952) written piece by piece: text is deflated here, packed blocks are spliced in as
    they are. Every gzip reader sees an ordinary single-member stream."""

    def __init__(self) -> None:
        self._compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        self._unflushed = False  # text given to the compressor since its last full flush

    @staticmethod
    def header() -> bytes:
        return _GZIP_HEADER

    def text(self, data: bytes) -> bytes:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._unflushed = True
        return self._compressor.compress(data)

    def packed(self, blocks: Sequence[bytes]) -> bytes:
        # A full flush ends the compressor's output on a byte boundary and makes it forget its window, so no
        # later match points into the spliced blocks (whose text it never saw).
        out: list[bytes | memoryview] = [self._compressor.flush(zlib.Z_FULL_FLUSH)] if self._unflushed else []
        self._unflushed = False
        crc, size = self._crc, self._size
        for block in blocks:
            key, length = _PACK_HEADER.unpack_from(block)
            crc = _crc32_after_zeros(length, crc) ^ key
            size += length
            out.append(memoryview(block)[_PACK_HEADER.size :])
        self._crc, self._size = crc, size
        return b"".join(out)

    def finish(self) -> bytes:
        return self._compressor.flush() + struct.pack("<II", self._crc, self._size & 0xFFFFFFFF)


# -- families -------------------------------------------------------------------------------------------------
def _header(family: Family, fmt: Format, unknown: bool = False) -> tuple[str, str]:
    """The family's metadata lines and the sample name stem (``unknown``: an OpenMetrics ``unknown`` family under
    the full name)."""
    info = family.info
    if fmt is Format.TEXT:
        return (
            f"# HELP {info.name} {escape_help(info.help)}\n# TYPE {info.name} {_TYPE_WORD[info.kind]}\n",
            info.name,
        )
    if unknown:
        return f"# TYPE {info.name} unknown\n# HELP {info.name} {escape_help(info.help)}\n", info.name
    name = openmetrics_name(info)
    unit = f"# UNIT {name} {info.unit}\n" if info.unit and name.endswith("_" + info.unit) else ""
    return f"# TYPE {name} {_TYPE_WORD[info.kind]}\n{unit}# HELP {name} {escape_help(info.help)}\n", name


class Part(NamedTuple):
    """A run of one family's series: the family's header (before its first run) and the series' lines, all packed
    (histograms from their caches) or all UTF-8 text."""

    header: bytes
    lines: list[bytes]
    packed: bool


def cached_parts(store: Store, fmt: Format) -> Iterator[Part]:
    """The exposition of the translated series as cached pieces, in runs small enough to interleave with ingest.

    Unchanged series come from their caches, so a scrape costs little more than joining them. The caller settles the
    store first (``render_parts`` and ``gzip_parts`` do, unless told the caller has)."""
    for family in list(store.ordered_families(settle=False)):
        if not family.series:
            continue
        kind = family.info.kind
        # A counter whose OpenMetrics name another family has (gauge ``x`` beside counter ``x_total``) is shown
        # there as an ``unknown`` family named ``x_total``, rendered afresh each time (rare, and never cached).
        unknown = fmt is Format.OPENMETRICS and kind is Kind.COUNTER and store.shares_openmetrics_name(family)
        header, name = _header(family, fmt, unknown)
        order = family.sorted_labels()
        text_format = fmt is Format.TEXT
        if kind is Kind.HISTOGRAM:
            for start in range(0, len(order), HISTOGRAMS_PER_PART):
                yield from _histogram_parts(header.encode() if start == 0 else b"", name, family, order, start, fmt)
            continue
        for start in range(0, len(order), SERIES_PER_PART):
            members = family.series  # may change between parts; a removed series is simply skipped
            lines: list[bytes] = []
            append = lines.append
            for labels in order[start : start + SERIES_PER_PART]:
                series = members.get(labels)
                if series is None:
                    continue
                if unknown:
                    append(series_openmetrics(name, Kind.GAUGE, series).encode())
                    continue
                cached = series.text if text_format else series.om
                append(cached if cached is not None else cached_lines(name, kind, series, fmt))
            yield Part(header.encode() if start == 0 else b"", lines, False)


def _histogram_parts(
    header: bytes, name: str, family: Family, order: list[Labels], start: int, fmt: Format
) -> Iterator[Part]:
    """One slice of a histogram family, as runs of packed blocks and runs of text."""
    members = family.series  # may change between parts; a removed series is simply skipped
    lines: list[bytes] = []
    packed = True
    for labels in order[start : start + HISTOGRAMS_PER_PART]:
        series = members.get(labels)
        if series is None:
            continue
        is_packed, block = histogram_lines(name, series, fmt)
        if is_packed is not packed and lines:
            yield Part(header, lines, packed)
            header, lines = b"", []
        packed = is_packed
        lines.append(block)
    if lines or header:
        yield Part(header, lines, packed)


def render_parts(store: Store, fmt: Format, settle: bool = True) -> Iterator[bytes]:
    """The exposition as UTF-8 text, in parts; ``settle=False`` when the caller has just settled the store in steps
    (what arrives meanwhile waits for the next read rather than being settled all at once here)."""
    if settle:
        store.settle()
    for header, lines, packed in cached_parts(store, fmt):
        if header:
            yield header
        yield unpack(lines) if packed else b"".join(lines)


def gzip_parts(store: Store, fmt: Format, member: GzipMember, settle: bool = True) -> Iterator[bytes]:
    """The exposition deflated into ``member``, in parts (the caller writes ``member``'s header and finish);
    ``settle`` as in ``render_parts``."""
    if settle:
        store.settle()
    for header, lines, packed in cached_parts(store, fmt):
        out = member.text(header) if header else b""
        yield out + (member.packed(lines) if packed else member.text(b"".join(lines)))


def render(store: Store, fmt: Format) -> str:
    """The whole translated exposition at once (tests, benchmarks)."""
    return b"".join(render_parts(store, fmt)).decode()
