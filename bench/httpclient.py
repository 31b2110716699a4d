"""The load client's transport: one HTTP/1.1 keep-alive connection on a raw asyncio ``BufferedProtocol``.

A ``Connection`` posts one request at a time to a loopback ``http://`` URL: a pre-formatted request head and the body
in one write, then the answer (status line, headers, a body framed by ``Content-Length``, ``chunked`` or the end of
the connection), read into the protocol's own buffer. aiohttp's client took 190–240 µs of its core per 19 KB request,
this one 45–75 µs (``bench/README.md``), so the load client stays far from its own ceiling at 10,000 requests a
second. When the server closes the connection (or says ``Connection: close``), the next request opens a new one; a
request whose answer never completes raises ``HttpError`` (or ``TimeoutError``), never hangs.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import NamedTuple

MAX_HEAD = 64 * 1024
RECEIVE_BUFFER = 64 * 1024
_SIZE_LINE, _TRAILER = -1, -2  # where a chunked body's reader is, between chunks


class HttpError(Exception):
    """The answer did not arrive whole: the connection closed early, or the server sent no valid HTTP/1.1."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Answer(NamedTuple):
    status: int
    body: bytes
    close: bool  # the server closes the connection after this answer


class _Head(NamedTuple):
    status: int
    length: int | None  # None: chunked, or until the connection closes
    chunked: bool
    close: bool


def _parse_head(head: bytes) -> _Head:
    status_line, _, fields = head.partition(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
        msg = "malformed status line"
        raise HttpError(msg)
    status = int(code)
    length: int | None = None
    chunked = False
    close = version == b"HTTP/1.0"
    for line in fields.split(b"\r\n") if fields else ():
        name, colon, value = line.partition(b":")
        if not colon:
            msg = "malformed header line"
            raise HttpError(msg)
        name = name.strip().lower()
        if name == b"content-length":
            if not value.strip().isdigit():
                msg = "malformed Content-Length"
                raise HttpError(msg)
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = value.strip().lower().endswith(b"chunked")
        elif name == b"connection":
            tokens = {token.strip().lower() for token in value.split(b",")}
            close = b"close" in tokens or (close and b"keep-alive" not in tokens)
    if status < 200 or status in (204, 304):
        length, chunked = 0, False
    elif chunked:
        length = None
    return _Head(status, length, chunked, close or (length is None and not chunked))


class ResponseReader:
    """Incremental HTTP/1.1 response parser: ``feed`` bytes as they arrive, take the complete answers it returns.
    Interim (1xx) answers are dropped."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._head: _Head | None = None
        self._chunks: list[bytes] = []
        self._chunk_left = _SIZE_LINE  # bytes left of the current chunk's data and its CRLF, or where we are

    def feed(self, data: bytes | memoryview) -> list[Answer]:
        self._buffer += data
        answers = []
        while (answer := self._next()) is not None:
            if answer.status >= 200:
                answers.append(answer)
        return answers

    def feed_eof(self) -> Answer | None:
        """The connection closed: the answer whose body ran to the end of it, if one was being read."""
        head = self._head
        if head is None or head.length is not None or head.chunked:
            return None
        self._head = None
        body, self._buffer = bytes(self._buffer), bytearray()
        return Answer(head.status, body, True)

    @property
    def pending(self) -> bool:
        """Part of an answer has arrived."""
        return self._head is not None or bool(self._buffer)

    def _next(self) -> Answer | None:
        buffer = self._buffer
        head = self._head
        if head is None:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    msg = "answer head too long"
                    raise HttpError(msg)
                return None
            head = self._head = _parse_head(bytes(buffer[:end]))
            del buffer[: end + 4]
        if head.chunked:
            return self._next_chunked(head)
        if head.length is None or len(buffer) < head.length:
            return None
        body = bytes(buffer[: head.length])
        del buffer[: head.length]
        self._head = None
        return Answer(head.status, body, head.close)

    def _next_chunked(self, head: _Head) -> Answer | None:
        buffer = self._buffer
        while True:
            if self._chunk_left == _TRAILER:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return None
                del buffer[: end + 2]
                if end:
                    continue  # a trailer field
                self._chunk_left = _SIZE_LINE
                self._head = None
                body, self._chunks = b"".join(self._chunks), []
                return Answer(head.status, body, head.close)
            if self._chunk_left == _SIZE_LINE:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return None
                try:
                    size = int(bytes(buffer[:end]).split(b";", 1)[0], 16)
                except ValueError:
                    msg = "malformed chunk size"
                    raise HttpError(msg) from None
                if size < 0:
                    msg = "malformed chunk size"
                    raise HttpError(msg)
                del buffer[: end + 2]
                self._chunk_left = size + 2 if size else _TRAILER
                continue
            if len(buffer) < self._chunk_left:
                return None
            if buffer[self._chunk_left - 2 : self._chunk_left] != b"\r\n":
                msg = "malformed chunk"
                raise HttpError(msg)
            self._chunks.append(bytes(buffer[: self._chunk_left - 2]))
            del buffer[: self._chunk_left]
            self._chunk_left = _SIZE_LINE


class _Protocol(asyncio.BufferedProtocol):
    """The socket's side: feeds the reader and resolves the one outstanding request's future. Reads into a buffer
    of its own (a plain ``Protocol`` receives each read in a fresh 256 KiB allocation, mapped and unmapped by the
    kernel every time: as much system time as the request itself)."""

    def __init__(self) -> None:
        self.buffer = memoryview(bytearray(RECEIVE_BUFFER))
        self.reader = ResponseReader()
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[Answer] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        try:
            answers = self.reader.feed(self.buffer[:nbytes])
        except HttpError as error:
            self.fail(error)
            return
        for answer in answers:
            waiter, self.waiter = self.waiter, None
            if waiter is None or waiter.done():
                self.fail(HttpError("answer without a request"))
                return
            waiter.set_result(answer)

    def eof_received(self) -> bool:
        return False  # close our side too: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self.reader.feed_eof()
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        if answer is not None:
            waiter.set_result(answer)
        else:
            reason = "connection closed during the answer" if self.reader.pending else "connection closed"
            waiter.set_exception(HttpError(reason))

    def fail(self, error: Exception) -> None:
        self.closed = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        if self.transport is not None:
            self.transport.abort()


class Connection:
    """A keep-alive connection to one loopback URL, opened on the first request and again after the server closed
    it. ``post`` sends one request and returns its answer; one request at a time."""

    def __init__(self, url: str, headers: dict[str, str], timeout: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            msg = f"only http:// URLs: {url}"
            raise ValueError(msg)
        self.host = parts.hostname
        self.port = parts.port or 80
        self.timeout = timeout
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        fields = {"Host": parts.netloc, **headers}
        lines = [f"POST {target} HTTP/1.1", *(f"{name}: {value}" for name, value in fields.items())]
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
        self._protocol: _Protocol | None = None
        self.connects = 0

    async def post(self, body: bytes) -> Answer:
        loop = asyncio.get_running_loop()
        protocol = self._protocol
        if protocol is None or protocol.closed:
            _, protocol = await loop.create_connection(_Protocol, self.host, self.port)
            self._protocol = protocol
            self.connects += 1
        transport = protocol.transport
        assert transport is not None
        waiter: asyncio.Future[Answer] = loop.create_future()
        protocol.waiter = waiter
        transport.write(b"%b%d\r\n\r\n%b" % (self._head, len(body), body))
        timer = loop.call_later(self.timeout, protocol.fail, TimeoutError("no answer in time"))
        try:
            answer = await waiter
        except BaseException:
            protocol.fail(HttpError("request abandoned"))  # its answer may still come: no other request on it
            raise
        finally:
            timer.cancel()
        if answer.close:
            self.close()
        return answer

    def close(self) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
