"""OpenClaw's hook API as the relay uses it (docs/openclaw-hooks.md): one POST to ``<base>/agent`` or
``<base>/wake`` and what its answer means."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import time

import aiohttp

MAX_HOOK_BODY_BYTES = 256 * 1024  # OpenClaw's hooks.maxBodyBytes default; one byte more and it drops the connection
TIMEOUT_SECONDS = 60.0  # a busy gateway answered after 20+ s; a timeout may still mean accepted
HOOK_NAME = "Alertmanager"
# Answers that a retry of the same request can turn into a success (the rest are permanent).
_TRANSIENT = frozenset({408, 425, 429})


class Verdict(enum.Enum):
    ACCEPTED = "accepted"
    TRANSIENT = "transient"  # Alertmanager should retry
    PERMANENT = "permanent"  # retrying the same request cannot help


@dataclasses.dataclass(frozen=True, slots=True)
class HookTarget:
    """Where and how to post: the hooks base URL, the action and its routing fields."""

    base_url: str
    action: str = "agent"
    channel: str | None = None
    to: str | None = None
    agent_id: str | None = None
    timeout: float = TIMEOUT_SECONDS

    @property
    def url(self) -> str:
        return f"{self.base_url.rstrip('/')}/{self.action}"

    def body(self, message: str) -> bytes:
        document: dict[str, object]
        if self.action == "wake":
            document = {"text": message, "mode": "now"}
        else:
            document = {"message": message, "name": HOOK_NAME, "deliver": True}
            for key, value in (("channel", self.channel), ("to", self.to), ("agentId", self.agent_id)):
                if value:
                    document[key] = value
        return json.dumps(document, ensure_ascii=False).encode()


@dataclasses.dataclass(frozen=True, slots=True)
class HookResult:
    verdict: Verdict
    cause: str  # a short, stable name for logs and self-metrics: ok, http_401, timeout, unreachable, ...
    detail: str  # one line for the operator (never the message sent)
    status: int = 0
    seconds: float = 0.0


def classify(status: int) -> Verdict:
    if 200 <= status < 300:
        return Verdict.ACCEPTED
    if status >= 500 or status in _TRANSIENT:
        return Verdict.TRANSIENT
    return Verdict.PERMANENT


_ADVICE = {
    400: "OpenClaw refused the request body",
    401: "OpenClaw refused the hook token: check --alert-relay-token-file against hooks.token",
    403: "forbidden by OpenClaw or a proxy in front of it",
    404: "no hook endpoint at this URL: check --alert-relay-url against hooks.path",
    405: "the hook URL does not accept POST",
    413: "OpenClaw or a proxy refused the body as too large",
    429: "OpenClaw throttles this client after wrong tokens (or a proxy rate-limits it)",
}


async def post(session: aiohttp.ClientSession, target: HookTarget, token: str, message: str, key: str) -> HookResult:
    """Send one message; never raises for what the network or OpenClaw does."""
    body = target.body(message)
    if len(body) > MAX_HOOK_BODY_BYTES:  # OpenClaw would drop the connection without an answer
        return HookResult(Verdict.PERMANENT, "too_large", f"hook body of {len(body)} bytes exceeds the hook limit")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Idempotency-Key": key}
    started = time.perf_counter()
    try:
        async with (
            asyncio.timeout(target.timeout),
            session.post(target.url, data=body, headers=headers, allow_redirects=False) as response,
        ):
            text = (await response.content.read(2048)).decode("utf-8", "replace")
            status = response.status
    except TimeoutError:
        seconds = time.perf_counter() - started
        return HookResult(Verdict.TRANSIENT, "timeout", f"no answer within {target.timeout:g} s", 0, seconds)
    except aiohttp.ClientError as exc:
        seconds = time.perf_counter() - started
        return HookResult(Verdict.TRANSIENT, "unreachable", f"{type(exc).__name__}: {exc}", 0, seconds)
    seconds = time.perf_counter() - started
    verdict = classify(status)
    if verdict is Verdict.ACCEPTED:
        return HookResult(verdict, "ok", "accepted", status, seconds)  # the runId is a request id: not logged
    advice = _ADVICE.get(status, "OpenClaw is unavailable" if status >= 500 else "OpenClaw refused the request")
    return HookResult(verdict, f"http_{status}", f"{advice} (HTTP {status}: {_summary(text)})", status, seconds)


def _summary(text: str) -> str:
    """An answer body on one short line (OpenClaw's are ``{"ok":true,"runId":...}`` or a short error)."""
    return " ".join(text.split())[:200]
