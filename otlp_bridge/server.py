"""The aiohttp side: the OTLP listener, the scrape listener, their background work, start and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal as signals
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

import structlog
from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader

from otlp_bridge import __version__
from otlp_bridge.alerts.handler import alertmanager_handler
from otlp_bridge.alerts.hook import HookTarget
from otlp_bridge.alerts.message import MessageRenderer
from otlp_bridge.alerts.metrics import AlertMetrics
from otlp_bridge.alerts.relay import Relay
from otlp_bridge.config import Config, loopback, tls_context
from otlp_bridge.errors import (
    BadRequest,
    BridgeError,
    MethodNotAllowed,
    Overloaded,
    PayloadTooLarge,
    RequestTimeout,
)
from otlp_bridge.expose import jsonapi, statuspage
from otlp_bridge.expose.exposition import (
    Format,
    GzipMember,
    NotAcceptable,
    accepts_gzip,
    gzip_parts,
    negotiate,
    render_parts,
)
from otlp_bridge.expose.selfmetrics import SelfMetrics
from otlp_bridge.expose.status import Arrival, StatusBook
from otlp_bridge.log import LogLevel, Throttle, get_logger
from otlp_bridge.receive import auth, codec
from otlp_bridge.receive.auth import TokenFile
from otlp_bridge.receive.body import BodyBudget, BodyReader, parse_content_encoding
from otlp_bridge.receive.codec import Encoding, ExportRequest, Signal
from otlp_bridge.remotewrite import sender as remotewrite
from otlp_bridge.store import Store
from otlp_bridge.translate.metrics import NOT_TRIED, NotTried, Taken, drained, sender_prefix
from otlp_bridge.translate.result import IngestResult
from otlp_bridge.translate.signals import SignalTranslators

READ_TIMEOUT_SECONDS = 30.0
SHUTDOWN_TIMEOUT_SECONDS = 10.0
RENDER_SLICE_SECONDS = 0.0005
Result = TypeVar("Result")
# From a request's bytes to its handler's first step, aiohttp takes two loop iterations on Python 3.11: one wakes
# the connection's task, which starts the handler as a task of its own.
HANDLER_START_ITERATIONS = 2
INGEST_FIRST_SECONDS = 0.005  # a scrape waits up to this long per slice for the OTLP requests in flight to finish
LINGER_SECONDS = 2.0  # after refusing a body, how long unread bytes are drained before the socket closes
SCRAPE_CHUNK_BYTES = 64 * 1024  # written at a time (gzip: compressed bytes)
BUFFER_BUDGET_BODIES = 4  # bodies of the maximum size that may be held in memory at once
WARNING_INTERVAL_SECONDS = 10.0  # at most one warning line per cause this often; the others are counted


class Bridge:
    """Everything one running bridge holds: its services, and the handlers of its two listeners. The event loop
    thread owns it."""

    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        self.started = clock()
        self.store = Store(config.max_series, config.max_series_per_family, config.series_ttl)
        self.metrics = SelfMetrics(self.store)
        self.translators = SignalTranslators(self.store, config, self.metrics.family_names())
        self.metrics.watch_streams(self.translators.metrics.tracked_streams)
        self.remote_writer = remotewrite.from_config(config, self.store, self.metrics.registry, clock)
        self.ready = False
        self.log = get_logger()
        self.throttle = Throttle(WARNING_INTERVAL_SECONDS)
        self.relay = _alert_relay(config, self.metrics, self.log)
        self.status = StatusBook()  # for the status page: senders' exports, refusals by cause
        self.listeners = statuspage.Listeners("", "")  # the bound URLs, once listening
        self.receiver = OtlpReceiver(self)
        self.pages = MetricsPages(self, self.receiver.idle)

    def expire(self) -> int:
        """Remove series, stream state and sources not heard from for ``--series-ttl``."""
        return drained(self.expire_steps())

    def expire_steps(self) -> Generator[None, None, int]:
        """``expire`` in slices: the caller lets requests in between."""
        now = self.clock()
        removed = yield from self.translators.expire_steps(now)
        gone = self.metrics.expire_sources(now - self.config.series_ttl)
        self.status.expire(now - self.config.series_ttl)
        if gone:
            self.log.info("sources_expired", sources=gone, ttl=self.config.series_ttl)
        return removed


class OtlpReceiver:
    """The OTLP listener's handler: auth, the body under its limits, ingest, the answer, and the request's record."""

    def __init__(self, bridge: Bridge) -> None:
        config = bridge.config
        self.bridge = bridge
        self.token = TokenFile(config.ingest_token_file) if config.ingest_token_file else None
        self.bodies = BodyBudget(config.max_body_bytes, BUFFER_BUDGET_BODIES)
        self.debug = config.log_level is LogLevel.DEBUG  # each request is logged (else only those that went wrong)
        self.inflight = 0
        self.idle = asyncio.Event()  # set while no OTLP request is in flight
        self.idle.set()

    def check_ingest_auth(self, request: web.Request) -> None:
        if self.token is not None:
            header_name = self.bridge.config.ingest_token_header
            self.token.check(auth.credential(header_name, request.headers.get(header_name)))

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """Count a request in flight for as long as it is handled; 503 when ``--max-inflight`` are already."""
        limit = self.bridge.config.max_inflight
        if self.inflight >= limit:
            msg = f"too many concurrent requests ({limit}); retry later"
            raise Overloaded(msg)
        self.inflight += 1
        self.idle.clear()
        try:
            yield
        finally:
            self.inflight -= 1
            if not self.inflight:
                self.idle.set()

    async def read_body(self, request: web.Request, reader: BodyReader) -> bytes:
        """Feed ``reader`` the body as it arrives, within ``READ_TIMEOUT_SECONDS``; its bytes are given back to the
        budget once read."""
        content = request.content
        try:
            if content.is_eof():  # it came whole with the headers (a gateway's export does): no wait, no timer
                while chunk := content.read_nowait():
                    reader.feed(chunk)
                return reader.finish()
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                while chunk := await content.readany():
                    reader.feed(chunk)
        except TimeoutError:
            msg = f"request body not received within {READ_TIMEOUT_SECONDS:g} s"
            raise RequestTimeout(msg) from None
        finally:
            reader.release()
        return reader.finish()

    def translate(
        self, signal: Signal, encoding: Encoding, body: bytes, now: float
    ) -> tuple[IngestResult, ExportRequest | None]:
        """Translate a request's body, and the decoded request (None when a sender's known export in new values was
        taken without decoding it)."""
        protobuf = encoding is Encoding.PROTOBUF
        metrics = self.bridge.translators.metrics
        taken = metrics.apply_export(body, now) if protobuf and signal is Signal.METRICS else None
        if taken is not None and taken.complete:
            self.answered(signal, taken.result, now)
            return taken.result, None
        message = codec.decode_request(signal, encoding, body)
        return self.ingest(signal, message, now, body if protobuf else None, taken), message

    def ingest(
        self,
        signal: Signal,
        message: ExportRequest,
        now: float,
        body: bytes | None = None,
        resume: Taken | NotTried | None = NOT_TRIED,
    ) -> IngestResult:
        result = self.bridge.translators.apply(message, now, body, resume)
        self.answered(signal, result, now)
        return result

    def answered(self, signal: Signal, result: IngestResult, now: float) -> None:
        """Note a translated request's sources, and warn when its metrics' names do not match the prefix."""
        bridge = self.bridge
        for source in result.sources:
            bridge.metrics.received(signal.value, source, now)
        if result.unprefixed:
            self.warn_unprefixed(result.unprefixed)

    def warn_unprefixed(self, name: str) -> None:
        """OpenClaw metrics arrive, none named with ``--metric-name-prefix``: the two settings disagree."""
        suppressed = self.bridge.throttle.allow("metric_name_prefix", time.monotonic())
        if suppressed is not None:
            self.bridge.log.warning(
                "metric_name_prefix_mismatch",
                metric_name_prefix=self.bridge.config.metric_name_prefix,
                example_metric=name,
                sender_prefix=sender_prefix(name),
                hint="set --metric-name-prefix to the gateways' diagnostics.otel.metricNamePrefix",
                suppressed=suppressed,
            )

    async def handle_otlp(self, request: web.Request) -> web.Response:
        signal = Signal(request.match_info["signal"])
        started = time.perf_counter()
        content_type = request.headers.get("Content-Type")
        encoding = codec.response_encoding(content_type)
        reader: BodyReader | None = None
        result: IngestResult | None = None
        detail = ""
        try:
            if request.method != "POST":
                msg = f"method {request.method} not allowed; OTLP/HTTP uses POST"
                raise MethodNotAllowed(msg)
            self.check_ingest_auth(request)
            encoding = codec.parse_content_type(content_type)
            gzipped = parse_content_encoding(request.headers.get("Content-Encoding"))
            with self.admitted():
                reader = self.bodies.reader(request.content_length, gzipped)
                body = await self.read_body(request, reader)
                now = self.bridge.clock()
                result, message = self.translate(signal, encoding, body, now)
                arrival = Arrival(encoding, gzipped, request.remote or "")
                self.bridge.status.exported(signal.value, message, result, arrival, now)
            outcome = "partial" if result.rejected else "ok"
            response = web.Response(
                body=codec.encode_response(signal, encoding, result.rejected, result.message),
                content_type=encoding.value,
            )
        except BridgeError as error:
            outcome = error.outcome
            detail = "" if isinstance(error, BadRequest) else error.message  # a decoder's words may quote the body
            response = error_response(error, encoding)
        except Exception:  # a bug must still answer with a Status, be counted, and leave the process running
            self.bridge.log.exception("otlp_request_failed", signal=signal.value)
            outcome = "error"
            response = error_response(BridgeError("internal error while handling the request"), encoding)
        wire = reader.received if reader is not None else 0
        self.record(request, signal, outcome, response.status, result, started, wire, detail)
        return response

    def record(
        self,
        request: web.Request,
        signal: Signal,
        outcome: str,
        status: int,
        result: IngestResult | None,
        started: float,
        wire: int,
        detail: str = "",
    ) -> None:
        """Count the request; log it at debug when all went well, else at warning (throttled per cause)."""
        bridge = self.bridge
        bridge.metrics.count_request(signal.value, outcome, wire, result)
        if outcome == "ok" and not self.debug:
            return
        fields: dict[str, object] = {
            "signal": signal.value,
            "status": status,
            "outcome": outcome,
            "points": result.accepted if result else 0,
            "rejected": result.rejected if result else 0,
            "bytes": wire,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
            "peer": request.remote,
        }
        if outcome == "ok":
            bridge.log.debug("otlp_request", **fields)
            return
        if status >= 400:
            bridge.status.refused("otlp", outcome, status, request.remote, signal.value, detail, bridge.clock())
        reasons = {str(reason): count for reason, count in sorted(result.reasons.items())} if result else {}
        suppressed = bridge.throttle.allow(("otlp", signal.value, outcome, *reasons), time.monotonic())
        if suppressed is not None:
            extra = {"reasons": reasons} if reasons else {"message": detail} if detail else {}
            bridge.log.warning("otlp_request", **fields, **extra, suppressed=suppressed)


class MetricsPages:
    """The scrape listener's handlers: the exposition (streamed in slices that let OTLP requests through), the JSON
    views, the status page, health and readiness. ``ingest_idle`` is set while no OTLP request is in flight."""

    def __init__(self, bridge: Bridge, ingest_idle: asyncio.Event) -> None:
        self.bridge = bridge
        self.token = TokenFile(bridge.config.scrape_token_file) if bridge.config.scrape_token_file else None
        self.ingest_idle = ingest_idle

    def check_scrape_auth(self, request: web.Request) -> web.Response | None:
        """Count the scrape or JSON request by outcome; the error to answer when its credentials fail."""
        bridge = self.bridge
        try:
            if self.token is not None:
                self.token.check(auth.bearer(request.headers.get("Authorization")))
        except BridgeError as error:
            bridge.metrics.scrapes.labels(error.outcome).inc()
            bridge.status.refused(
                "scrape", error.outcome, error.status, request.remote, request.path, "", bridge.clock()
            )
            suppressed = bridge.throttle.allow(("scrape", error.outcome), time.monotonic())
            if suppressed is not None:
                bridge.log.warning(
                    "scrape_refused",
                    path=request.path,
                    status=error.status,
                    outcome=error.outcome,
                    peer=request.remote,
                    suppressed=suppressed,
                )
            return auth_error(error)
        bridge.metrics.scrapes.labels("ok").inc()
        return None

    async def handle_scrape(self, request: web.Request) -> web.StreamResponse:
        """Render and send the exposition in pieces: the event loop keeps acknowledging OTLP requests meanwhile, and
        no copy of the whole page is ever built (a 100k-series page is tens of megabytes)."""
        started = time.perf_counter()
        refused = self.check_scrape_auth(request)
        if refused is not None:
            return refused
        try:
            fmt, content_type = negotiate(request.headers.get("Accept"))
        except NotAcceptable as error:
            return web.Response(status=406, text=str(error))
        headers = {"Content-Type": content_type, "Cache-Control": "no-store"}
        member = None
        if accepts_gzip(request.headers.get("Accept-Encoding")):
            headers["Content-Encoding"] = "gzip"
            member = GzipMember()
        if request.method == "HEAD":  # the headers a GET would get, with its length
            return web.Response(body=b"".join(self._page(fmt, member, started)), headers=headers)
        response = web.StreamResponse(headers=headers)
        try:
            await response.prepare(request)
            await self._stream(response, self._page(fmt, member, started))
        except ConnectionResetError:
            self.bridge.log.debug("scrape_aborted", peer=request.remote)  # the scraper hung up; nothing to answer
        return response

    def _page(self, fmt: Format, member: GzipMember | None, started: float) -> Iterator[bytes]:
        """The page in parts: the translated series, then the self-metrics; gzip-encoded into ``member`` if given.
        Settling what the fast path kept back comes first, in steps like the rendering (empty parts); what arrives
        meanwhile is left to the next read, rather than settled all at once before the render."""
        for _ in self.bridge.store.settle_steps():
            yield b""
        if member is None:
            yield from render_parts(self.bridge.store, fmt, settle=False)
        else:
            yield member.header()
            yield from gzip_parts(self.bridge.store, fmt, member, settle=False)
        self.bridge.metrics.scrape_duration.set(time.perf_counter() - started)
        own = self._self_metrics(fmt).encode()
        yield own if member is None else member.text(own) + member.finish()

    async def _stream(self, response: web.StreamResponse, page: Iterator[bytes]) -> None:
        pending: list[bytes] = []
        pending_size = 0
        slice_started = time.perf_counter()
        for part in page:
            pending.append(part)
            pending_size += len(part)
            if pending_size >= SCRAPE_CHUNK_BYTES:
                await response.write(b"".join(pending))  # suspends only when the socket is full
                pending, pending_size = [], 0
            if time.perf_counter() - slice_started > RENDER_SLICE_SECONDS:
                await self._let_ingest_through()
                slice_started = time.perf_counter()
        await response.write(b"".join(pending))
        await response.write_eof()

    async def _let_ingest_through(self) -> None:
        """Between render slices: let a request that arrived during the slice start, and while OTLP requests are in
        flight let them finish first (a body arrives over several reads; without this, each read would wait behind
        another slice). Bounded, so a busy ingest slows a scrape down but never starves it."""
        for _ in range(HANDLER_START_ITERATIONS):
            await _after_io()
        if not self.ingest_idle.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(INGEST_FIRST_SECONDS):
                    await self.ingest_idle.wait()

    def _self_metrics(self, fmt: Format) -> str:
        return self.bridge.metrics.text() if fmt is Format.TEXT else self.bridge.metrics.openmetrics()

    async def handle_json(self, request: web.Request) -> web.Response:
        refused = self.check_scrape_auth(request)
        if refused is not None:
            return refused
        now = self.bridge.clock()
        view = request.match_info["view"]
        if view == "health":
            document = jsonapi.health(
                self.bridge.store,
                self.bridge.started,
                now,
                self.bridge.ready,
                ((s, src, at) for (s, src), at in self.bridge.metrics.last_receive.items()),
                stale_after=max(300.0, self.bridge.config.series_ttl / 2),
            )
        elif view == "per-object":
            document = jsonapi.per_object(self.bridge.store, now)
        else:
            document = jsonapi.detailed(self.bridge.store, request.query.get("family", ""), now)
        return web.json_response(document, dumps=_dumps, headers={"Cache-Control": "no-store"})

    async def handle_status(self, request: web.Request) -> web.StreamResponse:
        """The status page: settled in slices like a scrape, then rendered (bounded: a row per family and sender)."""
        refused = self.check_scrape_auth(request)
        if refused is not None:
            return refused
        if request.method == "HEAD":  # the headers a GET would get, with its length
            return web.Response(body=b"".join(self._status_page(request.url.host)), headers=statuspage.HEADERS)
        response = web.StreamResponse(headers=statuspage.HEADERS)
        await response.prepare(request)
        await self._stream(response, self._status_page(request.url.host))
        return response

    def _status_page(self, browser_host: str | None) -> Iterator[bytes]:
        bridge = self.bridge
        for _ in bridge.store.settle_steps():
            yield b""
        page = statuspage.render_parts(
            bridge.config,
            bridge.store,
            bridge.status,
            listeners=bridge.listeners,
            started=bridge.started,
            now=bridge.clock(),
            ready=bridge.ready,
            streams=len(bridge.translators.metrics.tracked_streams),
            browser_host=browser_host,
        )
        for part in page:  # jinja's pieces: the scrape's slices run between them
            yield part.encode()

    async def handle_healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def handle_readyz(self, request: web.Request) -> web.Response:
        if self.bridge.ready:
            return web.Response(text="ready\n")
        return web.Response(status=503, text="not ready\n")


BRIDGE = web.AppKey("bridge", Bridge)


class StalledConnections:
    """Closes connections that have not sent a complete request head within ``READ_TIMEOUT_SECONDS`` (aiohttp has no
    header timeout of its own, so a slow-loris client would otherwise hold a socket for ever). Idle keep-alive
    connections between requests are aiohttp's: ``keepalive_timeout``. Sees connections through the server's public
    ``connections`` and their first requests through its ``request_factory``."""

    def __init__(self) -> None:
        self.servers: list[web.Server] = []
        self.requested: set[web.RequestHandler] = set()  # connections that have sent a request head

    def watch(self, server: web.Server) -> None:
        """Watch ``server``'s connections; before its site starts (a connection takes the factory it finds)."""
        on_request(server, self.requested.add)
        self.servers.append(server)

    def sweep(self, first_seen: dict[web.RequestHandler, float], now: float) -> dict[web.RequestHandler, float]:
        """Close the stalled connections; returns when each open one was first seen (the next sweep's input)."""
        alive: dict[web.RequestHandler, float] = {}
        for server in self.servers:
            for handler in server.connections:
                since = alive[handler] = first_seen.get(handler, now)
                if handler not in self.requested and now - since > READ_TIMEOUT_SECONDS and handler.transport:
                    handler.transport.close()
        self.requested.intersection_update(alive)
        return alive

    async def sweep_forever(self) -> None:
        first_seen: dict[web.RequestHandler, float] = {}
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, READ_TIMEOUT_SECONDS / 4))
            first_seen = self.sweep(first_seen, loop.time())


CONNECTIONS = web.AppKey("connections", StalledConnections)

# What each socket read of the OTLP listener asks for. asyncio's own (256 KiB) is allocated afresh for every read,
# above glibc's mmap threshold: that cost a 19 KB export about 30 µs of system time, a tenth of its handling.
READ_BYTES = 64 * 1024


def on_request(server: web.Server, see: Callable[[web.RequestHandler], object]) -> None:
    """Have ``see`` called with the connection of every request ``server`` reads a head of (through its public
    ``request_factory``); before its site starts."""
    make_request = server.request_factory

    def request_factory(
        message: RawRequestMessage,
        payload: StreamReader,
        protocol: web.RequestHandler,
        writer: AbstractStreamWriter,
        task: asyncio.Task[None],
    ) -> web.BaseRequest:
        see(protocol)
        return make_request(message, payload, protocol, writer, task)

    server.request_factory = request_factory


def read_in_small_chunks(connection: web.RequestHandler) -> None:
    """Have a connection read ``READ_BYTES`` at a time (asyncio's selector transports read ``max_size`` bytes;
    others, such as TLS, are left as they are)."""
    transport: Any = connection.transport
    if getattr(transport, "max_size", READ_BYTES) != READ_BYTES:
        transport.max_size = READ_BYTES


def background(
    work: Callable[[web.Application], Coroutine[Any, Any, None]],
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry: ``work(app)`` runs as a task from the application's startup to its cleanup."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(work(app))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context


async def _after_io() -> None:
    """Resume after the I/O callbacks of the loop's next iteration. A bare yield (``sleep(0)``) resumes before them,
    and a short ``sleep`` waits at least 1 ms in epoll when nothing else is ready; a timer that is already due does
    neither: the loop polls without waiting and runs due timers after the I/O it found."""
    loop = asyncio.get_running_loop()
    woken = loop.create_future()
    loop.call_at(loop.time(), _wake, woken)
    await woken


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # the awaiting task may have been cancelled
        future.set_result(None)


def _dumps(document: object) -> str:
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def error_response(error: BridgeError, encoding: Encoding) -> web.Response:
    """A ``google.rpc.Status`` answer in the request's encoding, with the headers its status calls for."""
    response = web.Response(
        status=error.status,
        body=codec.encode_status(encoding, error.status, error.message),
        content_type=encoding.value,
    )
    if isinstance(error, MethodNotAllowed):
        response.headers["Allow"] = "POST"
    if isinstance(error, Overloaded):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    if isinstance(error, PayloadTooLarge | BadRequest | RequestTimeout):
        response.force_close()  # the rest of the body is not read
    return response


def auth_error(error: BridgeError) -> web.Response:
    response = web.Response(status=error.status, text=error.message + "\n")
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="otlp-bridge"'
    return response


async def _method_not_allowed(request: web.Request) -> web.Response:
    return web.Response(status=405, text="Method Not Allowed\n", headers={"Allow": "GET, HEAD"})


async def _sweep_stalled(app: web.Application) -> None:
    await app[CONNECTIONS].sweep_forever()


async def _in_slices(steps: Generator[None, None, Result]) -> Result:
    """Run a generator of steps, letting I/O in every ``RENDER_SLICE_SECONDS``; what it returns."""
    slice_started = time.perf_counter()
    while True:
        try:
            next(steps)
        except StopIteration as done:
            value: Result = done.value
            return value
        if time.perf_counter() - slice_started > RENDER_SLICE_SECONDS:
            await _after_io()
            slice_started = time.perf_counter()


async def _expire_forever(app: web.Application) -> None:
    bridge = app[BRIDGE]
    interval = max(0.5, min(30.0, bridge.config.series_ttl / 10))
    while True:
        await asyncio.sleep(interval)
        # Both in slices, as a scrape settles: at thousands of gateways the tables take a tenth of a second.
        await _in_slices(bridge.store.settle_steps())
        removed = await _in_slices(bridge.expire_steps())
        if removed:
            bridge.log.info("series_expired", count=removed, live=bridge.store.live_series)


def _application(bridge: Bridge) -> web.Application:
    """An application holding ``bridge`` and sweeping its own stalled connections."""
    app = web.Application()
    app[BRIDGE] = bridge
    app[CONNECTIONS] = StalledConnections()
    app.cleanup_ctx.append(background(_sweep_stalled))
    return app


async def _remote_writing(app: web.Application) -> AsyncIterator[None]:
    writer = app[BRIDGE].remote_writer
    if writer is not None:
        await writer.start()
    yield
    if writer is not None:
        await writer.close()  # on the OTLP listener's cleanup: a last collection after the last request, the flush


def create_otlp_app(bridge: Bridge) -> web.Application:
    app = _application(bridge)
    app.cleanup_ctx.append(background(_expire_forever))
    app.cleanup_ctx.append(_remote_writing)
    app.router.add_route("*", "/v1/{signal:metrics|traces|logs}", bridge.receiver.handle_otlp)
    return app


def _alert_relay(config: Config, own: SelfMetrics, log: structlog.typing.FilteringBoundLogger) -> Relay | None:
    """The relay behind ``POST /alertmanager`` when ``--alert-relay-url`` is set."""
    if config.alert_relay_url is None or config.alert_relay_token_file is None:
        return None
    hooks_token = TokenFile(config.alert_relay_token_file)
    target = HookTarget(
        config.alert_relay_url,
        config.alert_relay_action,
        config.alert_relay_channel,
        config.alert_relay_to,
        config.alert_relay_agent_id,
    )
    renderer = MessageRenderer(config.alert_relay_language, config.alert_relay_template)
    metrics = AlertMetrics(own.registry, target.action)
    return Relay(target, lambda: hooks_token.token().decode(errors="replace"), renderer, metrics, log)


def _add_alert_relay(app: web.Application, relay: Relay, webhook_token_file: Path | None) -> None:
    webhook_token = TokenFile(webhook_token_file) if webhook_token_file else None

    def authorize(request: web.Request) -> None:
        if webhook_token is not None:
            webhook_token.check(auth.bearer(request.headers.get("Authorization")))

    async def close_session(_app: web.Application) -> AsyncIterator[None]:
        yield
        await relay.close()

    app.router.add_post("/alertmanager", alertmanager_handler(relay, authorize))
    app.cleanup_ctx.append(close_session)


def create_metrics_app(bridge: Bridge) -> web.Application:
    app = _application(bridge)
    if bridge.relay is not None:
        _add_alert_relay(app, bridge.relay, bridge.config.alert_webhook_token_file)
    for path in ("/metrics", "/api/diagnostics/prometheus"):
        app.router.add_get(path, bridge.pages.handle_scrape)
        app.router.add_route("*", path, _method_not_allowed)
    app.router.add_get("/metrics/{view:health|per-object|detailed}", bridge.pages.handle_json)
    app.router.add_get("/", bridge.pages.handle_status)
    app.router.add_get("/healthz", bridge.pages.handle_healthz)
    app.router.add_get("/readyz", bridge.pages.handle_readyz)
    return app


@contextlib.asynccontextmanager
async def running(bridge: Bridge) -> AsyncIterator[tuple[int, int]]:
    """Start both listeners (their applications start the background work); yields the bound ports; drains on
    exit."""
    config = bridge.config
    context = tls_context(config)
    otlp_runner = web.AppRunner(
        create_otlp_app(bridge),
        access_log=None,
        auto_decompress=False,
        lingering_time=LINGER_SECONDS,
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
    )
    metrics_runner = web.AppRunner(
        create_metrics_app(bridge), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS
    )
    await otlp_runner.setup()
    await metrics_runner.setup()
    for runner in (otlp_runner, metrics_runner):
        assert runner.server is not None  # set up
        runner.app[CONNECTIONS].watch(runner.server)
    assert otlp_runner.server is not None
    on_request(otlp_runner.server, read_in_small_chunks)  # from each connection's first request on
    try:
        otlp_site = web.TCPSite(otlp_runner, config.otlp_listen.host, config.otlp_listen.port, ssl_context=context)
        metrics_site = web.TCPSite(
            metrics_runner, config.metrics_listen.host, config.metrics_listen.port, ssl_context=context
        )
        await otlp_site.start()
        await metrics_site.start()
        ports = (_bound_port(otlp_runner), _bound_port(metrics_runner))
        bridge.ready = True
        scheme = "https" if context else "http"
        bridge.listeners = statuspage.Listeners(
            f"{scheme}://{config.otlp_listen.host}:{ports[0]}", f"{scheme}://{config.metrics_listen.host}:{ports[1]}"
        )
        bridge.log.info(
            "listening",
            version=__version__,
            otlp=bridge.listeners.otlp,
            metrics=f"{bridge.listeners.metrics}/metrics",
            ingest_auth=config.ingest_token_file is not None,
            scrape_auth=config.scrape_token_file is not None,
            tls=context is not None,
            metric_name_prefix=config.metric_name_prefix,
            spans_complete=config.spans_complete,
            source_label=config.source_label,
            max_series=config.max_series,
            max_series_per_family=config.max_series_per_family,
            max_streams=config.max_streams,
            series_ttl=config.series_ttl,
        )
        if config.ingest_token_file is None and not loopback(config.otlp_listen.host):
            bridge.log.warning(
                "ingest_open",
                otlp_listen=str(config.otlp_listen),
                hint="anyone who can reach this address can write series; set --ingest-token-file",
            )
        yield ports
    finally:
        bridge.ready = False
        await _drain(bridge, otlp_runner)
        await otlp_runner.cleanup()
        await metrics_runner.cleanup()


async def _drain(bridge: Bridge, runner: web.AppRunner) -> None:
    """Stop accepting connections, then let requests already in flight (bodies still arriving) finish."""
    for site in list(runner.sites):
        await site.stop()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SHUTDOWN_TIMEOUT_SECONDS
    while bridge.receiver.inflight and loop.time() < deadline:
        await asyncio.sleep(0.02)


def _bound_port(runner: web.AppRunner) -> int:
    addresses = runner.addresses
    return int(addresses[0][1]) if addresses else 0


async def serve(config: Config, on_ready: Callable[[tuple[int, int]], Awaitable[None]] | None = None) -> None:
    """Run until SIGTERM or SIGINT, then drain and return."""
    bridge = Bridge(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signals.SIGTERM, signals.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running(bridge) as ports:
        if on_ready is not None:
            await on_ready(ports)
        await stop.wait()
        bridge.log.info("shutting_down", inflight=bridge.receiver.inflight)
    bridge.log.info("stopped")
