"""Reading an OTLP body: its content encoding, gzip with a hard output limit, a size limit per body and one budget
for all bodies in flight together.

Pure and synchronous: the server feeds the chunks as they arrive.
"""

from __future__ import annotations

import zlib

from otlp_bridge.errors import BadRequest, Overloaded, PayloadTooLarge, UnsupportedMediaType

INFLATE_SLICE = 1 << 20  # inflate at most this much per call, so a bomb never holds more than the limit + 1 MiB


def parse_content_encoding(header: str | None) -> bool:
    """Return True for gzip, False for identity; anything else is unsupported (415)."""
    codings = [c.strip().lower() for c in (header or "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return False
    if codings in (["gzip"], ["x-gzip"]):
        return True
    msg = f"unsupported content encoding {header!r}; use gzip or identity"
    raise UnsupportedMediaType(msg)


class GzipReader:
    """Incremental gunzip that never produces more than ``limit`` bytes in total.

    Each compressed chunk is inflated in slices of at most ``limit - produced + 1`` bytes, so a bomb is refused
    after inflating one byte past the limit, not after inflating the whole chunk.
    """

    __slots__ = ("_decompressor", "_limit", "_parts", "_produced")

    def __init__(self, limit: int) -> None:
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._limit = limit
        self._produced = 0
        self._parts: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        data = chunk
        while data:
            decompressor = self._decompressor
            if decompressor.eof:  # another gzip member follows (concatenated members are valid gzip)
                decompressor = self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out = decompressor.decompress(data, min(INFLATE_SLICE, self._limit - self._produced + 1))
            except zlib.error as exc:
                msg = f"invalid gzip body: {exc}"
                raise BadRequest(msg) from None
            self._produced += len(out)
            if self._produced > self._limit:
                raise PayloadTooLarge(self._limit)
            if out:
                self._parts.append(out)
            data = decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail

    @property
    def produced(self) -> int:
        return self._produced

    def finish(self) -> bytes:
        if not self._decompressor.eof:
            msg = "invalid gzip body: truncated stream"
            raise BadRequest(msg)
        return b"".join(self._parts)


class BodyBudget:
    """The body bytes (decompressed) that all requests being read hold together, under ``bodies`` × ``limit``, so
    that many slow senders cannot hold ``max_inflight`` × the limit in memory."""

    def __init__(self, limit: int, bodies: int) -> None:
        self.limit = limit  # per body
        self.budget = bodies * limit
        self.held = 0

    def reader(self, declared: int | None, gzipped: bool) -> BodyReader:
        """A reader for one body; 413 at once when its declared length is over the limit."""
        if declared is not None and declared > self.limit:
            raise PayloadTooLarge(self.limit)
        return BodyReader(self, gzipped)


class BodyReader:
    """One body, fed chunk by chunk: 413 past the limit (on the wire or decompressed), 503 when the bodies in flight
    together go over the budget. ``release`` gives its bytes back to the budget."""

    __slots__ = ("_budget", "_gzip", "_held", "_parts", "gzipped", "received")

    def __init__(self, budget: BodyBudget, gzipped: bool) -> None:
        self._budget = budget
        self.gzipped = gzipped
        self._gzip = GzipReader(budget.limit) if gzipped else None
        self._parts: list[bytes] = []
        self._held = 0
        self.received = 0  # bytes on the wire

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self._budget.limit:
            raise PayloadTooLarge(self._budget.limit)
        if self._gzip is not None:
            self._gzip.feed(chunk)
            size = self._gzip.produced
        else:
            self._parts.append(chunk)
            size = self.received
        self._budget.held += size - self._held
        self._held = size
        if self._budget.held > self._budget.budget:
            msg = "too much request data in flight; retry later"
            raise Overloaded(msg)

    def finish(self) -> bytes:
        """The whole body (decompressed); 400 for a truncated gzip stream."""
        return self._gzip.finish() if self._gzip is not None else b"".join(self._parts)

    def release(self) -> None:
        self._budget.held -= self._held
        self._held = 0
