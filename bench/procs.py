"""Processes the harness starts: the bridge, the naive bridge, the aiohttp floor and rotel on the server core; load
clients, the scraper and py-spy on the client core. Loopback only; every process is stopped in ``finally``."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class Cores:
    """The core the measured server runs on and the one the clients run on (None: no pinning possible)."""

    server: int | None
    client: int | None

    def pin(self, core: int | None, command: Sequence[str]) -> list[str]:
        if core is None or shutil.which("taskset") is None:
            return list(command)
        return ["taskset", "-c", str(core), *command]

    def server_command(self, command: Sequence[str]) -> list[str]:
        return self.pin(self.server, command)

    def client_command(self, command: Sequence[str]) -> list[str]:
        return self.pin(self.client, command)


@contextlib.contextmanager
def pinned(core: int | None) -> Iterator[None]:
    """Run this process (in-process measurements) on ``core`` for a while."""
    if core is None:
        yield
        return
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def pick_cores() -> Cores:
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2 or shutil.which("taskset") is None:
        return Cores(None, None)
    return Cores(available[0], available[1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15 of the full line)


def core_ticks(core: int | None) -> tuple[int, int]:
    """(busy, total) clock ticks of one core (or all cores for None), from /proc/stat. Interrupt and softirq time
    count as total, not busy: loopback TCP is processed there, on behalf of the benchmark's own processes."""
    name = "cpu" if core is None else f"cpu{core}"
    for line in Path("/proc/stat").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == name:
            user, nice, system, idle, iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
            busy = user + nice + system + steal
            return busy, busy + idle + iowait + irq + softirq
    return 0, 0


def busy_shares(seconds: float = 1.0) -> dict[str, float]:
    """How busy each core is, over ``seconds``: a check for other load on the machine."""
    available = sorted(os.sched_getaffinity(0))
    before = {core: core_ticks(core) for core in available}
    time.sleep(seconds)
    after = {core: core_ticks(core) for core in available}
    out = {}
    for core in available:
        busy = after[core][0] - before[core][0]
        total = after[core][1] - before[core][1]
        out[f"cpu{core}"] = busy / total if total else 0.0
    return out


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def tcp_open(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_get(url: str, headers: dict[str, str] | None = None, timeout: float = 60.0) -> bytes:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return bytes(response.read())


def sample_lines(page: bytes) -> int:
    return sum(1 for line in page.split(b"\n") if line and not line.startswith(b"#"))


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, wait, then SIGKILL: for a process this harness started."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    otlp_url: str
    metrics_url: str | None
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextlib.contextmanager
def _server(
    name: str,
    command: Sequence[str],
    otlp_url: str,
    metrics_url: str | None,
    ready: Callable[[], bool],
    workdir: Path,
    timeout: float = 30.0,
) -> Iterator[Server]:
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO, env=child_env())
    server = Server(name, process, otlp_url, metrics_url, log)
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                msg = f"{name} did not start ({' '.join(command)}):\n{server.log_tail()}"
                raise RuntimeError(msg)
            time.sleep(0.05)
        yield server
    finally:
        stop(process)


BRIDGE_CAPS = ("--max-series", "400000", "--max-series-per-family", "400000", "--max-streams", "1000000")


@contextlib.contextmanager
def bridge(cores: Cores, workdir: Path, extra: Sequence[str] = ()) -> Iterator[Server]:
    """``python -m otlp_bridge`` pinned to the server core, with caps high enough that nothing is refused."""
    otlp, metrics = free_port(), free_port()
    command = cores.server_command(
        [
            sys.executable,
            "-m",
            "otlp_bridge",
            "--otlp-listen",
            f"{LOOPBACK}:{otlp}",
            "--metrics-listen",
            f"{LOOPBACK}:{metrics}",
            "--log-level",
            "warning",
            *BRIDGE_CAPS,
            *extra,
        ]
    )
    metrics_url = f"http://{LOOPBACK}:{metrics}"
    with _server(
        "bridge",
        command,
        f"http://{LOOPBACK}:{otlp}/v1/metrics",
        f"{metrics_url}/metrics",
        lambda: http_ok(f"{metrics_url}/readyz"),
        workdir,
    ) as server:
        yield server


@contextlib.contextmanager
def naive(cores: Cores, workdir: Path, extra: Sequence[str] = ()) -> Iterator[Server]:
    otlp, metrics = free_port(), free_port()
    command = cores.server_command(
        [
            sys.executable,
            "-m",
            "bench.naive_bridge",
            "--otlp-listen",
            f"{LOOPBACK}:{otlp}",
            "--metrics-listen",
            f"{LOOPBACK}:{metrics}",
            *extra,
        ]
    )
    metrics_url = f"http://{LOOPBACK}:{metrics}"
    with _server(
        "naive",
        command,
        f"http://{LOOPBACK}:{otlp}/v1/metrics",
        f"{metrics_url}/metrics",
        lambda: http_ok(f"{metrics_url}/healthz") and tcp_open(otlp),
        workdir,
    ) as server:
        yield server


@contextlib.contextmanager
def floor(cores: Cores, workdir: Path, extra: Sequence[str] = ()) -> Iterator[Server]:
    """``bench/floor_server.py``, the do-nothing aiohttp receiver, pinned to the server core."""
    otlp = free_port()
    command = [sys.executable, "-m", "bench.floor_server", "--otlp-listen", f"{LOOPBACK}:{otlp}", *extra]
    command = cores.server_command(command)
    url = f"http://{LOOPBACK}:{otlp}/v1/metrics"
    with _server("floor", command, url, None, lambda: tcp_open(otlp), workdir) as server:
        yield server


def rotel_binary() -> Path | None:
    spec = importlib.util.find_spec("rotel")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).parent / "rotel-agent"
    return binary if binary.is_file() and os.access(binary, os.X_OK) else None


@contextlib.contextmanager
def rotel(cores: Cores, workdir: Path) -> Iterator[Server]:
    """rotel-agent with the blackhole exporter; its gRPC receiver bound to another free loopback port."""
    binary = rotel_binary()
    if binary is None:
        msg = "rotel is not installed (pip install rotel)"
        raise FileNotFoundError(msg)
    http, grpc = free_port(), free_port()
    command = cores.server_command(
        [
            str(binary),
            "start",
            "--otlp-http-endpoint",
            f"{LOOPBACK}:{http}",
            "--otlp-grpc-endpoint",
            f"{LOOPBACK}:{grpc}",
            "--exporter",
            "blackhole",
            "--pid-file",
            str(workdir / "rotel.pid"),
            "--log-file",
            str(workdir / "rotel-agent.log"),
        ]
    )
    with _server("rotel", command, f"http://{LOOPBACK}:{http}/v1/metrics", None, lambda: tcp_open(http), workdir) as s:
        yield s


def python_module(cores: Cores, module: str, args: Sequence[str]) -> list[str]:
    return cores.client_command([sys.executable, "-m", module, *args])


def child_env() -> dict[str, str]:
    """The environment of child Pythons: the repository importable (``bench`` is not an installed package)."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


def run_json(command: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run a client process that writes its JSON result to ``--out``; killed if it overruns ``timeout``."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        completed = subprocess.run(
            [*command, "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=REPO,
            env=child_env(),
        )
        if completed.returncode != 0:
            msg = f"{' '.join(command[:6])} … failed ({completed.returncode}):\n{completed.stderr[-3000:]}"
            raise RuntimeError(msg)
        result: dict[str, Any] = json.loads(out.read_text())
        return result
    finally:
        out.unlink(missing_ok=True)


@contextlib.contextmanager
def background(command: Sequence[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A helper process (scraper, py-spy) that runs alongside a measurement; stopped in ``finally``."""
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=REPO, env=child_env())
    try:
        yield process
    finally:
        stop(process)


def emit(result: object, out: Path | None) -> None:
    """A child process's result: JSON to ``out`` when given, else to stdout."""
    text = json.dumps(result, indent=2)
    if out:
        out.write_text(text + "\n")
    else:
        print(text)
