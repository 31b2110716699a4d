"""Scraper: GET /metrics over one keep-alive connection, back to back like an impatient Prometheus, or every
``--interval`` seconds like a real one.

``python -m bench.scraper --url http://127.0.0.1:9464/metrics --duration 10 --out result.json``. Sends
Prometheus' own ``Accept-Encoding: gzip`` unless ``--no-gzip``; asks for text 0.0.4. Records every scrape's
duration and size; SIGTERM ends the run early and still writes the result.
"""

from __future__ import annotations

import argparse
import http.client
import signal
import sys
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

from bench.loadgen import latency_summary
from bench.procs import emit

ACCEPT = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"


class _Stopped(Exception):
    pass


def _stop(_signum: int, _frame: object) -> None:
    raise _Stopped


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scraper", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-scrapes", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=0.0, help="seconds from one scrape's start to the next")
    parser.add_argument("--no-gzip", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    url = urllib.parse.urlsplit(args.url)
    if url.hostname not in ("127.0.0.1", "::1", "localhost") or url.port is None:
        print("scraper: only loopback URLs with a port", file=sys.stderr)
        return 2
    headers = {"Accept": ACCEPT}
    if not args.no_gzip:
        headers["Accept-Encoding"] = "gzip"
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=args.timeout)
    durations: list[float] = []
    sizes: list[int] = []
    statuses: dict[str, int] = {}
    run_started = time.perf_counter()
    cpu_started = time.process_time()
    deadline = run_started + args.duration
    signal.signal(signal.SIGTERM, _stop)
    try:
        for _ in range(args.max_scrapes):
            if time.perf_counter() >= deadline:
                break
            started = time.perf_counter()
            connection.request("GET", url.path or "/metrics", headers=headers)
            response = connection.getresponse()
            body = response.read()
            durations.append(time.perf_counter() - started)
            sizes.append(len(body))
            statuses[str(response.status)] = statuses.get(str(response.status), 0) + 1
            if args.interval:
                time.sleep(max(0.0, started + args.interval - time.perf_counter()))
    except _Stopped:
        pass
    finally:
        connection.close()
    elapsed = time.perf_counter() - run_started
    result = {
        "scrapes": len(durations),
        "cpu_share": (time.process_time() - cpu_started) / elapsed if elapsed > 0 else 0.0,
        "gzip": not args.no_gzip,
        "duration": latency_summary(durations),
        "mean_bytes": sum(sizes) / len(sizes) if sizes else 0,
        "statuses": statuses,
    }
    emit(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
