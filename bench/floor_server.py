"""The aiohttp floor: a server that does nothing but what every aiohttp OTLP receiver must do.

``POST /v1/metrics`` reads the whole body and answers an empty ``ExportMetricsServiceResponse`` (200,
``application/x-protobuf``, no bytes), like the bridge and the naive bridge, without decoding anything. Saturated with
the fleet's bodies it gives the most exports/s any aiohttp-based bridge could reach on one core: the bridge's and the
naive bridge's figures are read against it.

Run: ``python -m bench.floor_server --otlp-listen 127.0.0.1:4318``. ``--read-bytes N`` sets how much asyncio's socket
transports ask of each read: asyncio's own 256 KiB are allocated afresh for every read, which costs a 19 KB request
about 30 µs of system time; the bench's floor reads 64 KiB at a time, as the bridge does.
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.selector_events
import signal
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from bench.naive_bridge import address

EMPTY_RESPONSE = b""  # ExportMetricsServiceResponse() serialized: no field set


async def handle_otlp(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=EMPTY_RESPONSE, content_type="application/x-protobuf")


async def serve(otlp: tuple[str, int]) -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/metrics", handle_otlp)
    runner = web.AppRunner(app, access_log=None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.setup()
        await web.TCPSite(runner, *otlp).start()
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--otlp-listen", default="127.0.0.1:4318", metavar="HOST:PORT")
    parser.add_argument("--read-bytes", type=int, default=0, help="bytes asked of each socket read (0: asyncio's own)")
    args = parser.parse_args(argv)
    if args.read_bytes:
        transport: Any = getattr(asyncio.selector_events, "_SelectorSocketTransport")  # noqa: B009  # private, untyped
        transport.max_size = args.read_bytes
    asyncio.run(serve(address(args.otlp_listen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
