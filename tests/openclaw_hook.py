"""An HTTP endpoint that answers like OpenClaw 2026.4.29's hook API (docs/openclaw-hooks.md), for the relay's tests.

It follows the recorded order of checks (query token, method, token, sub-path, body size, JSON, fields) and the
idempotency cache; ``tests/test_alerts_relay.py`` replays the recorded exchanges against it. ``fail`` makes it answer
the given statuses first (a proxy or a restarting gateway in front of it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

MAX_BODY_BYTES = 262144
REPLAY_SECONDS = 300.0  # the gateway's idempotency cache keeps an answer for 5 minutes
_NORMALISED = ("message", "name", "agentId", "wakeMode", "deliver", "channel", "to", "model", "thinking")


@dataclasses.dataclass(frozen=True)
class Run:
    """One request the gateway accepted and started a run (or queued a wake event) for."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    run_id: str


@dataclasses.dataclass
class FakeOpenClaw:
    token: str
    channels: tuple[str, ...] = ("last",)
    fail: list[int] = dataclasses.field(default_factory=list)  # statuses to answer first, one per request
    delay: float = 0.0  # seconds before answering (a busy gateway)
    runs: list[Run] = dataclasses.field(default_factory=list)
    requests: int = 0
    url: str = ""
    clock: Callable[[], float] = time.monotonic
    _replays: dict[tuple[str, str], tuple[str, float]] = dataclasses.field(default_factory=dict)
    arrived: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:  # a proxy in front, or a gateway that is restarting
            return _text(self.fail.pop(0), "Service Unavailable")
        if "token" in request.query:
            return _text(
                400, "Hook token must be provided via Authorization: Bearer <token> or X-OpenClaw-Token header"
            )
        if request.method != "POST":
            return web.Response(status=405, text="Method Not Allowed", headers={"Allow": "POST"})
        if not self._authorized(request):
            return _text(401, "Unauthorized")
        endpoint = request.path.removeprefix("/hooks")
        if endpoint not in ("/agent", "/wake"):
            return _text(404, "Not Found")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            assert request.transport is not None
            request.transport.close()  # OpenClaw destroys the socket without an answer
            return web.Response()
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            return _error(str(exc))
        if not isinstance(body, dict):
            body = {}
        headers = dict(request.headers)
        return self._wake(headers, body) if endpoint == "/wake" else self._agent(headers, body)

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        presented = credentials.strip() if scheme.lower() == "bearer" else request.headers.get("x-openclaw-token")
        return presented == self.token

    def _agent(self, headers: dict[str, str], body: dict[str, Any]) -> web.Response:
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            return _error("message required")
        if body.get("channel", "last") not in self.channels:
            return _error("channel must be " + "|".join(self.channels))
        if "model" in body and (not isinstance(body["model"], str) or not body["model"].strip()):
            return _error("model required")
        if "sessionKey" in body:
            return _error("sessionKey is disabled for externally supplied hook payload values")
        key = headers.get("Idempotency-Key") or headers.get("X-OpenClaw-Idempotency-Key") or body.get("idempotencyKey")
        normalised = json.dumps([body.get(name) for name in _NORMALISED] + [body.get("deliver") is not False])
        if isinstance(key, str):
            run_id, at = self._replays.get((key, normalised), ("", 0.0))
            if run_id and self.clock() - at <= REPLAY_SECONDS:
                return web.json_response({"ok": True, "runId": run_id})
        run = Run("/agent", headers, body, str(uuid.uuid4()))
        if isinstance(key, str):
            self._replays[key, normalised] = (run.run_id, self.clock())
        self._accept(run)
        return web.json_response({"ok": True, "runId": run.run_id})

    def _wake(self, headers: dict[str, str], body: dict[str, Any]) -> web.Response:
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error("text required")
        mode = "next-heartbeat" if body.get("mode") == "next-heartbeat" else "now"
        self._accept(Run("/wake", headers, body, ""))
        return web.json_response({"ok": True, "mode": mode})

    def _accept(self, run: Run) -> None:
        self.runs.append(run)
        self.arrived.set()

    async def wait_for_runs(self, count: int, timeout: float) -> list[Run]:
        async with asyncio.timeout(timeout):
            while len(self.runs) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.runs


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text)


def _error(message: str) -> web.Response:
    return web.json_response({"ok": False, "error": message}, status=400)


@contextlib.asynccontextmanager
async def fake_openclaw(token: str = "hooks-secret", **options: Any) -> AsyncIterator[FakeOpenClaw]:
    """The fake on a free loopback port; ``.url`` is its hooks base (``http://127.0.0.1:<port>/hooks``)."""
    fake = FakeOpenClaw(token, **options)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield fake
    finally:
        await runner.cleanup()
