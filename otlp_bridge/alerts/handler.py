"""``POST /alertmanager``: authenticate, read a bounded body, parse, relay, answer with a status Alertmanager acts on
(2xx done, 5xx retry, 4xx give up)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from otlp_bridge.alerts.payload import MAX_BODY_BYTES, parse_notification
from otlp_bridge.alerts.relay import Relay
from otlp_bridge.errors import BridgeError, PayloadTooLarge, RequestTimeout

READ_TIMEOUT_SECONDS = 30.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def read_bounded(request: web.Request, limit: int) -> bytes:
    """The body, or ``PayloadTooLarge`` as soon as it passes ``limit`` (declared or received)."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(limit)
    parts: list[bytes] = []
    received = 0
    try:
        async with asyncio.timeout(READ_TIMEOUT_SECONDS):
            while chunk := await request.content.readany():
                received += len(chunk)
                if received > limit:
                    raise PayloadTooLarge(limit)
                parts.append(chunk)
    except TimeoutError:
        msg = f"body not received within {READ_TIMEOUT_SECONDS:g} s"
        raise RequestTimeout(msg) from None
    return b"".join(parts)


def alertmanager_handler(
    relay: Relay, authorize: Callable[[web.Request], None] | None = None, limit: int = MAX_BODY_BYTES
) -> Handler:
    """The endpoint; ``authorize`` raises ``Unauthorized`` (401) or ``Forbidden`` (403) for a bad webhook token."""

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            if authorize is not None:
                authorize(request)
            notification = parse_notification(await read_bounded(request, limit))
        except BridgeError as error:
            relay.count(error.outcome)
            relay.log.info("alert_refused", status=error.status, reason=error.message, peer=request.remote)
            response = web.Response(status=error.status, text=error.message + "\n")
            if error.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="otlp-bridge"'
            if isinstance(error, PayloadTooLarge | RequestTimeout):
                response.force_close()  # the rest of the body is not read
            return response
        outcome = await relay.deliver(notification)
        return web.Response(status=outcome.status, text=outcome.message)

    return handle
