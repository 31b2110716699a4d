"""The load client's raw HTTP/1.1 transport (``bench/httpclient.py``) and the load client on it (``bench/loadgen.py``),
against byte streams and against real aiohttp servers started here: framing, keep-alive, the answers' checks, and
a server that closes or never answers (an error, never a hang). Nothing here is timed."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)

from bench import loadgen, procs
from bench.fleet import FleetSpec
from bench.harness import client_bound
from bench.httpclient import Answer, Connection, HttpError, ResponseReader

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 5\r\n\r\nhello"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nTrailer: x\r\n\r\n"


@pytest.mark.parametrize(
    ("stream", "answers"),
    [
        (OK, [Answer(200, b"hello", False)]),
        (CHUNKED, [Answer(200, b"hello", False)]),
        (OK + CHUNKED + OK, [Answer(200, b"hello", False)] * 3),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + OK, [Answer(200, b"hello", False)]),
        (
            b"HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n" + OK,
            [Answer(204, b"", False), Answer(200, b"hello", False)],
        ),
        (b"HTTP/1.1 503 Busy\r\ncontent-length: 2\r\nConnection: close\r\n\r\nno", [Answer(503, b"no", True)]),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", [Answer(200, b"ok", True)]),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", [Answer(200, b"ok", False)]),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n0\r\n\r\n",
            [Answer(200, b"", False)],
        ),
    ],
)
def test_framing(stream: bytes, answers: list[Answer]) -> None:
    assert ResponseReader().feed(stream) == answers
    reader = ResponseReader()
    one_byte_at_a_time = [answer for index in range(len(stream)) for answer in reader.feed(stream[index : index + 1])]
    assert one_byte_at_a_time == answers
    assert not reader.pending


@given(st.lists(st.sampled_from([OK, CHUNKED]), min_size=1, max_size=4), st.lists(st.integers(0, 400), max_size=6))
def test_any_split_of_a_stream_gives_the_same_answers(answers: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(answers)
    edges = [0, *sorted(min(cut, len(stream)) for cut in cuts), len(stream)]
    reader = ResponseReader()
    got = [answer for start, end in itertools.pairwise(edges) for answer in reader.feed(stream[start:end])]
    assert got == [Answer(200, b"hello", False)] * len(answers)


def test_a_body_that_runs_to_the_end_of_the_connection() -> None:
    reader = ResponseReader()
    assert reader.feed(b"HTTP/1.1 200 OK\r\n\r\npart one, ") == []
    assert reader.feed(b"part two") == []
    assert reader.feed_eof() == Answer(200, b"part one, part two", True)


@pytest.mark.parametrize(
    "stream",
    [
        b"SMTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 2x0 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX",
        b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"a" * 70_000,
    ],
)
def test_malformed_answers_are_errors(stream: bytes) -> None:
    with pytest.raises(HttpError):
        ResponseReader().feed(stream)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[tuple[str, Counter[Any]]]:
    """A real aiohttp server on a free loopback port answering POST /v1/metrics; yields its URL and a count of the
    requests each client connection (by its port) carried."""
    connections: Counter[Any] = Counter()

    async def counted(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        connections[request.transport.get_extra_info("peername")[1]] += 1
        return await handler(request)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/metrics", counted)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1/metrics", connections
    finally:
        await runner.cleanup()


def _partial(rejected: int) -> bytes:
    response = ExportMetricsServiceResponse()
    response.partial_success.rejected_data_points = rejected
    response.partial_success.error_message = "over the cap"
    return response.SerializeToString()


async def test_keep_alive_over_many_requests_content_length_and_chunked() -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        assert request.headers["Content-Type"] == "application/x-protobuf"
        if body == b"chunked":
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(b"ch")
            await response.write(b"unked")
            await response.write_eof()
            return response
        return web.Response(body=body[::-1])

    async with serving(answer) as (url, connections):
        connection = Connection(url, {"Content-Type": "application/x-protobuf"})
        bodies = [b"x" * size for size in (0, 1, 100, 70_000, 1_000_000)] + [b"chunked"] * 3
        for body in bodies * 20:
            got = await connection.post(body)
            assert got == Answer(200, body[::-1] if body != b"chunked" else b"chunked", False)
        connection.close()
    assert list(connections.values()) == [len(bodies) * 20]  # one connection carried them all
    assert connection.connects == 1


async def test_a_connection_close_answer_opens_a_new_connection() -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=b"", headers={"Connection": "close"})

    async with serving(answer) as (url, connections):
        connection = Connection(url, {})
        answers = [await connection.post(b"body") for _ in range(5)]
    assert answers == [Answer(200, b"", True)] * 5
    assert connection.connects == 5
    assert sorted(connections.values()) == [1] * 5


async def test_a_server_that_closes_instead_of_answering_is_an_error_and_the_next_request_reconnects() -> None:
    seen = [0]

    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        seen[0] += 1
        if seen[0] % 2:
            assert request.transport is not None
            request.transport.close()  # no answer at all
        return web.Response(body=b"")

    async with serving(answer) as (url, _):
        connection = Connection(url, {}, timeout=10)
        outcomes: list[int | str] = []
        for _ in range(4):
            try:
                outcomes.append((await asyncio.wait_for(connection.post(b"body"), 10)).status)
            except HttpError as error:
                outcomes.append(error.reason)
    assert outcomes == ["connection closed", 200, "connection closed", 200]


async def test_a_server_that_never_answers_times_out() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        await asyncio.sleep(30)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        connection = Connection(f"http://127.0.0.1:{port}/v1/metrics", {}, timeout=0.3)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(connection.post(b"body"), 10)
        server.close()


def _args(url: str, spec: FleetSpec, *extra: str) -> Any:
    return loadgen.build_parser().parse_args(
        [
            *("--url", url, "--spec", spec.to_json(), "--requests", "40", "--duration", "30"),
            *("--warmup-intervals", "1", "--request-timeout", "5", *extra),
        ]
    )


async def test_the_load_client_checks_every_answer_and_keeps_each_gateways_exports_in_order() -> None:
    """Answers cycle through 200, 200 with partial_success (3 rejected points), 503 and 200 chunked; every gateway's
    export times only grow on the server's side, each worker keeps one connection."""
    times: dict[str, list[int]] = {}
    count = [0]

    async def answer(request: web.Request) -> web.StreamResponse:
        export = ExportMetricsServiceRequest.FromString(await request.read())
        (resource_metrics,) = export.resource_metrics
        host = next(a.value.string_value for a in resource_metrics.resource.attributes if a.key == "host.name")
        point = resource_metrics.scope_metrics[0].metrics[0]
        data = getattr(point, str(point.WhichOneof("data"))).data_points[0]
        times.setdefault(host, []).append(data.time_unix_nano)
        count[0] += 1
        if count[0] <= 6:  # the warm-up round: every gateway's first export
            return web.Response(body=b"", content_type="application/x-protobuf")
        kind = count[0] % 4
        if kind == 1:
            return web.Response(body=_partial(3), content_type="application/x-protobuf")
        if kind == 2:
            return web.Response(status=503, text="busy")
        if kind == 3:
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(_partial(2))
            await response.write_eof()
            return response
        return web.Response(body=b"", content_type="application/x-protobuf")

    async with serving(answer) as (url, connections):
        result = await loadgen.run(_args(url, FleetSpec(gateways=6), "--concurrency", "3"))
    assert result["warmup"]["requests"] == 6
    assert result["warmup"]["statuses"] == {200: 6}
    assert result["requests"] == 40
    assert result["statuses"] == {"200": 30, "503": 10}
    assert result["non_200"] == 10
    assert result["partial_responses"] == 20
    assert result["rejected_points"] == 10 * 3 + 10 * 2
    assert result["errors"] == {}
    assert result["latency"]["samples"] == 40
    assert len(connections) == 3  # one keep-alive connection per worker
    assert sum(connections.values()) == 46
    assert len(times) == 6
    for sent in times.values():
        assert sent == sorted(sent)
        assert len(set(sent)) == len(sent)
    assert 0 < result["client_cpu_share"] < 1.5
    json.dumps(result)


async def test_the_load_client_counts_a_closing_server_as_errors_and_ends() -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        assert request.transport is not None
        request.transport.close()
        return web.Response(body=b"")

    async with serving(answer) as (url, _):
        result = await asyncio.wait_for(loadgen.run(_args(url, FleetSpec(gateways=4), "--concurrency", "2")), 60)
    assert result["requests"] == 0
    assert result["errors"] == {"connection closed": 40}
    assert result["warmup"]["errors"] == {"connection closed": 4}


async def test_the_load_client_counts_a_refused_connection_as_an_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    result = await loadgen.run(_args(f"http://127.0.0.1:{port}/v1/metrics", FleetSpec(gateways=2), "--requests", "3"))
    assert result["requests"] == 0
    assert result["errors"] == {"ConnectionRefusedError": 3}
    assert result["warmup"]["errors"] == {"ConnectionRefusedError": 2}


@pytest.mark.parametrize("extra", [(), ("--read-bytes", "1000")])
async def test_the_floor_server_reads_the_body_and_answers_an_empty_export_response(
    tmp_path: Path, extra: tuple[str, ...]
) -> None:
    with procs.floor(procs.Cores(None, None), tmp_path, extra) as server:
        connection = Connection(server.otlp_url, loadgen.HEADERS)
        for body in (b"", b"not even protobuf", b"x" * 3_000_000):
            answer = await connection.post(body)
            assert answer.status == 200
            assert ExportMetricsServiceResponse.FromString(answer.body) == ExportMetricsServiceResponse()
        connection.close()
        assert connection.connects == 1


@pytest.mark.parametrize(("share", "warned"), [(0.0, False), (0.5, False), (0.9, False), (0.91, True), (1.02, True)])
def test_a_figure_is_flagged_as_the_clients_when_the_client_used_its_core(share: float, warned: bool) -> None:
    warning = client_bound({"client_cpu_share": share})
    assert bool(warning) == warned
    if warned:
        assert f"{share * 100:.0f} %" in warning


async def test_a_paced_run_sends_no_faster_than_its_rate_over_one_connection() -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        await request.read()
        return web.Response(body=b"", content_type="application/x-protobuf")

    async with serving(answer) as (url, connections):
        args = _args(url, FleetSpec(gateways=5), "--rate", "40", "--duration", "0.5", "--requests", "1000")
        result = await loadgen.run(args)
    assert 1 <= result["requests"] <= 40 * 0.5 + 2
    assert result["errors"] == {}
    assert result["statuses"] == {"200": result["requests"]}
    # the warm-up's 4 workers send the 5 gateways' first exports (2, 1, 1, 1); the paced sender then uses the first
    assert sorted(connections.values()) == [1, 1, 1, 2 + result["requests"]]
