"""Benchmark sluicegate's Client against the raw HTTP clients and the openai SDK.

Why it is built this way (see bench/README.md): every client run is a fresh process
pinned to one core, the server is another process pinned to the other core, and each
figure is the median of several runs, because on a 2-core machine anything sharing a core
with the client or server shows up as client cost. The server is bench/fast_server.py
(uvloop + httptools); sluicegate's own Starlette mock server is measured first only to
show that it would be the bottleneck. Results print as a table with ratios against raw
aiohttp and against the transport under each client, then PASS/FAIL per target, and are
saved as JSON under bench/results/.

Run: ``python bench/http_clients.py`` (several minutes) or ``--quick`` (well under a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from client_worker import CLIENTS

BENCH = Path(__file__).resolve().parent
SRC = BENCH.parent / "src" / "sluicegate"
RESULTS = BENCH / "results"
WORKER = BENCH / "client_worker.py"
FAST_SERVER = BENCH / "fast_server.py"
MOCK_SERVER = BENCH / "mock_server.py"
MOCK_MISSING_EXIT = 3
CLOCK_TICK = os.sysconf("SC_CLK_TCK")

BASELINE = "aiohttp"
CAPACITY_CLIENT = "aiohttp"
CAPACITY_CONCURRENCY = 64


# -- measuring other processes ----------------------------------------------------------


def _proc_cpu_s(pid: int) -> float:
    """utime + stime of a running process, from /proc (the server is never reaped mid-run)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


def _cores_busy_s(cores: set[int]) -> float:
    """Busy time of the given cores since boot: everything running there, ours or not."""
    busy = 0
    with open("/proc/stat") as f:
        for line in f:
            name, _, rest = line.partition(" ")
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cores:
                v = [int(x) for x in rest.split()]
                busy += (
                    v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
                )  # user nice system irq softirq steal
    return busy / CLOCK_TICK


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- servers ----------------------------------------------------------------------------


@dataclass
class Server:
    """A server process we started; we stop it by its own pid, nothing else."""

    name: str
    process: subprocess.Popen[str]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        return _proc_cpu_s(self.process.pid)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _pin_args(cpu: int | None) -> list[str]:
    return [] if cpu is None else ["--cpu", str(cpu)]


def start_fast_server(latency_ms: float, cpu: int | None) -> Server:
    process = subprocess.Popen(
        [
            sys.executable,
            str(FAST_SERVER),
            "--port",
            "0",
            "--latency-ms",
            str(latency_ms),
            *_pin_args(cpu),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline().split()
    if len(line) != 2 or line[0] != "READY":
        process.kill()
        raise RuntimeError(f"fast server did not start: {line!r}")
    return Server(f"fast server ({latency_ms:g} ms)", process, int(line[1]))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_mock_server(cpu: int | None) -> Server | str:
    """The mock server, or why it could not be started."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(MOCK_SERVER), "--port", str(port), *_pin_args(cpu)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            out, err = process.communicate()
            reason = out.strip() or err.strip().splitlines()[-1:] or [f"exit {code}"]
            return str(reason if isinstance(reason, str) else reason[0])
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return Server("sluicegate mock server (Starlette + hypercorn)", process, port)
        time.sleep(0.1)
    process.kill()
    process.wait()
    return "did not listen within 20 s"


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


# -- runs -------------------------------------------------------------------------------


@dataclass
class Run:
    """One client process's measurement plus what the server and others did meanwhile."""

    client: str
    latency_ms: float
    concurrency: int
    requests: int
    wall_s: float = 0.0
    cpu_s: float = 0.0
    errors: int = 0
    first_error: str | None = None
    server_cpu_us_per_req: float = 0.0
    background_load: float = 0.0  # other processes' CPU on our cores, in cores
    failed: str | None = None

    @property
    def req_per_s(self) -> float:
        return self.requests / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_us_per_req(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else 0.0

    @property
    def server_busy(self) -> float:
        """Share of the server's core in use while measuring (it must stay well below 1)."""
        return self.server_cpu_us_per_req * self.req_per_s / 1e6

    @property
    def client_busy(self) -> float:
        """Share of the client's core in use while measuring."""
        return self.cpu_us_per_req * self.req_per_s / 1e6


@dataclass
class Settings:
    concurrencies: list[int]
    latencies_ms: list[float]
    requests_c1: int
    requests: int
    latency_budget_s: float
    repeats: int
    warmup: int
    clients: list[str]
    client_cpu: int | None
    server_cpu: int | None
    uvloop: bool
    run_timeout_s: float
    capacity_requests: int
    quick: bool
    extra: dict[str, Any] = field(default_factory=dict)

    def scenarios(self) -> list[tuple[float, int]]:
        """(latency, C) pairs: every combination, or in a quick run only the two that the
        targets are judged on (lowest C at lowest latency, highest C at highest latency)."""
        pairs = [(lat, c) for lat in self.latencies_ms for c in self.concurrencies]
        if self.quick:
            low = (min(self.latencies_ms), min(self.concurrencies))
            high = (max(self.latencies_ms), max(self.concurrencies))
            pairs = [p for p in pairs if p in (low, high)]
        return pairs

    def concurrencies_at(self, latency_ms: float) -> list[int]:
        return [c for lat, c in self.scenarios() if lat == latency_ms]

    def n_for(self, concurrency: int, latency_ms: float) -> int:
        """N for a scenario, capped so a run with server latency takes about
        ``latency_budget_s`` at the physical limit (C=1 at 50 ms is 20 req/s)."""
        n = self.requests_c1 if concurrency == 1 else self.requests
        if latency_ms > 0:
            n = min(n, max(20, int(concurrency / (latency_ms / 1000) * self.latency_budget_s)))
        return n


def run_client(
    settings: Settings,
    server: Server,
    client: str,
    concurrency: int,
    requests: int,
    latency_ms: float,
    profile: str | None = None,
) -> Run:
    """Start one worker process and account for everything that ran while it did."""
    run = Run(client, latency_ms, concurrency, requests)
    # A full run warms one request per connection so that no connect is measured; a quick
    # run (a smoke test) does not spend the time.
    warmup = settings.warmup if settings.quick else max(settings.warmup, concurrency)
    args = [
        sys.executable,
        str(WORKER),
        "--client",
        client,
        "--base-url",
        server.base_url,
        "--concurrency",
        str(concurrency),
        "--requests",
        str(requests),
        "--warmup",
        str(warmup),
        *_pin_args(settings.client_cpu),
    ]
    if settings.uvloop:
        args.append("--uvloop")
    if profile:
        args += ["--profile", profile]
    cores = {c for c in (settings.client_cpu, settings.server_cpu) if c is not None}
    cores = cores or set(os.sched_getaffinity(0))
    server0, children0, self0 = server.cpu_s(), _children_cpu_s(), _self_cpu_s()
    busy0, wall0 = _cores_busy_s(cores), time.monotonic()
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=settings.run_timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        run.failed = f"timed out after {settings.run_timeout_s:g} s"
        return run
    wall = time.monotonic() - wall0
    server_cpu = server.cpu_s() - server0
    ours = server_cpu + (_children_cpu_s() - children0) + (_self_cpu_s() - self0)
    run.background_load = max(0.0, (_cores_busy_s(cores) - busy0 - ours) / wall)
    run.server_cpu_us_per_req = server_cpu / (requests + warmup) * 1e6
    if done.returncode != 0 or not done.stdout.strip():
        run.failed = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:300]
        return run
    result = json.loads(done.stdout.strip().splitlines()[-1])
    run.wall_s, run.cpu_s = result["wall_s"], result["cpu_s"]
    run.errors, run.first_error = result["errors"], result["first_error"]
    return run


# -- capacity ---------------------------------------------------------------------------


@dataclass
class Capacity:
    server: str
    note: str = ""
    req_per_s: float = 0.0
    server_cpu_us_per_req: float = 0.0
    server_busy: float = 0.0
    client_busy: float = 0.0

    @property
    def cpu_bound_req_per_s(self) -> float:
        """What one core of server could serve if only its CPU limited it."""
        return 1e6 / self.server_cpu_us_per_req if self.server_cpu_us_per_req else 0.0

    def line(self) -> str:
        if self.note:
            return f"{self.server}: {self.note}"
        if self.server_busy > 0.85:
            bound = "server-bound"
        elif self.client_busy > 0.85:
            bound = "client-bound"
        else:
            bound = "neither core saturated: other processes took CPU"
        return (
            f"{self.server}: {self.req_per_s:,.0f} req/s observed ({bound}; server core "
            f"{self.server_busy:.0%}, client core {self.client_busy:.0%} busy), "
            f"{self.server_cpu_us_per_req:.1f} server CPU µs/req "
            f"→ ~{self.cpu_bound_req_per_s:,.0f} req/s per server core"
        )


def measure_capacity(settings: Settings, server: Server, requests: int) -> Capacity:
    run = run_client(settings, server, CAPACITY_CLIENT, CAPACITY_CONCURRENCY, requests, 0)
    capacity = Capacity(server.name)
    if run.failed or run.errors:
        capacity.note = f"capacity run failed: {run.failed or run.first_error}"
        return capacity
    capacity.req_per_s = run.req_per_s
    capacity.server_cpu_us_per_req = run.server_cpu_us_per_req
    capacity.server_busy = run.server_busy
    capacity.client_busy = run.client_busy
    return capacity


# -- report -----------------------------------------------------------------------------


@dataclass
class Row:
    """Medians over the repeats of one client in one scenario."""

    client: str
    latency_ms: float
    concurrency: int
    requests: int
    req_per_s: float
    cpu_us_per_req: float
    server_busy: float
    background_load: float
    errors: int
    failed: str | None
    vs_aiohttp: float | None = None
    cpu_vs_transport: float | None = None


def summarize(runs: Sequence[Run]) -> Row:
    ok = [r for r in runs if not r.failed]
    first = runs[0]
    failed = next((r.failed for r in runs if r.failed), None)
    errors = sum(r.errors for r in runs)
    if not ok:
        return Row(
            first.client,
            first.latency_ms,
            first.concurrency,
            first.requests,
            0,
            0,
            0,
            0,
            errors,
            failed,
        )
    return Row(
        first.client,
        first.latency_ms,
        first.concurrency,
        first.requests,
        statistics.median(r.req_per_s for r in ok),
        statistics.median(r.cpu_us_per_req for r in ok),
        statistics.median(r.server_busy for r in ok),
        statistics.median(r.background_load for r in ok),
        errors,
        failed,
    )


def add_ratios(rows: list[Row]) -> None:
    """req/s against raw aiohttp; CPU/req against the raw transport under the client."""
    by_key = {(r.latency_ms, r.concurrency, r.client): r for r in rows}
    for row in rows:
        base = by_key.get((row.latency_ms, row.concurrency, BASELINE))
        if base is not None and base.req_per_s:
            row.vs_aiohttp = row.req_per_s / base.req_per_s
        under = CLIENTS[row.client].underlying
        below = by_key.get((row.latency_ms, row.concurrency, under)) if under else None
        if below is not None and below.cpu_us_per_req and row.cpu_us_per_req:
            row.cpu_vs_transport = row.cpu_us_per_req / below.cpu_us_per_req


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def table(rows: Sequence[Row]) -> str:
    header = (
        "| client | N | req/s | CPU µs/req | req/s vs aiohttp | CPU/req vs transport "
        "| transport | server busy | other load |"
    )
    lines: list[str] = []
    scenarios = sorted({(r.latency_ms, r.concurrency) for r in rows})
    for latency, concurrency in scenarios:
        lines += ["", f"C={concurrency}, server latency {latency:g} ms", header]
        lines.append("|" + "---|" * header.count(" | ") + "---|")
        for row in rows:
            if (row.latency_ms, row.concurrency) != (latency, concurrency):
                continue
            kind = CLIENTS[row.client]
            if row.failed and not row.req_per_s:
                lines.append(f"| {kind.label} | {row.requests} | FAILED: {row.failed} |")
                continue
            errors = f" ({row.errors} errors)" if row.errors else ""
            if row.failed:
                errors += f" (some runs failed: {row.failed})"
            lines.append(
                f"| {kind.label}{errors} | {row.requests} | {row.req_per_s:,.0f} "
                f"| {row.cpu_us_per_req:,.0f} | {_ratio(row.vs_aiohttp)} "
                f"| {_ratio(row.cpu_vs_transport)} | {kind.underlying or '—'} "
                f"| {row.server_busy:.0%} | {row.background_load:.2f} cores |"
            )
    return "\n".join(lines)


@dataclass
class Target:
    description: str
    passed: bool | None
    detail: str


def check_targets(rows: Sequence[Row]) -> list[Target]:
    """The performance targets from the project's issues, judged on the medians."""
    by_key = {(r.latency_ms, r.concurrency, r.client): r for r in rows}
    targets: list[Target] = []
    if not rows:
        return targets

    def ratio_target(
        description: str,
        key: tuple[float, int],
        ours: str,
        theirs: str,
        metric: str,
        limit: float,
        at_least: bool,
    ) -> None:
        a, b = by_key.get((*key, ours)), by_key.get((*key, theirs))
        if a is None or b is None or not getattr(a, metric) or not getattr(b, metric):
            targets.append(Target(description, None, "not measured in this run"))
            return
        if metric == "req_per_s" and key[1] == 1:
            targets.append(Target(description, None, "needs a run with C > 1"))
            return
        value = getattr(a, metric) / getattr(b, metric)
        passed = value >= limit if at_least else value <= limit
        sign = "≥" if at_least else "≤"
        targets.append(Target(description, passed, f"{value:.2f}x (target {sign} {limit:.2f}x)"))

    # The issues set them at C=256 with 50 ms and at C=1 with 0 ms; a run with other
    # scenarios (--quick) judges its highest and lowest ones instead.
    high = (max(r.latency_ms for r in rows), max(r.concurrency for r in rows))
    low = (min(r.latency_ms for r in rows), min(r.concurrency for r in rows))
    at_high = f"C={high[1]}, {high[0]:g} ms"
    at_low = f"C={low[1]}, {low[0]:g} ms"
    # issue 14's targets
    ratio_target(
        f"{at_high}: sluicegate asyncio req/s vs raw aiohttp",
        high,
        "sluicegate-asyncio",
        "aiohttp",
        "req_per_s",
        0.90,
        True,
    )
    ratio_target(
        f"{at_high}: sluicegate trio req/s vs raw httpx2 on trio",
        high,
        "sluicegate-trio",
        "httpx2-trio",
        "req_per_s",
        2.0,
        True,
    )
    ratio_target(
        f"{at_high}: sluicegate trio req/s vs sluicegate asyncio (within 25%)",
        high,
        "sluicegate-trio",
        "sluicegate-asyncio",
        "req_per_s",
        0.75,
        True,
    )
    ratio_target(
        f"{at_low}: sluicegate asyncio CPU/req vs its raw transport (native)",
        low,
        "sluicegate-asyncio",
        "native-asyncio",
        "cpu_us_per_req",
        1.10,
        False,
    )
    ratio_target(
        f"{at_low}: sluicegate trio CPU/req vs its raw transport (native)",
        low,
        "sluicegate-trio",
        "native-trio",
        "cpu_us_per_req",
        1.10,
        False,
    )
    return targets


def code_state() -> dict[str, str]:
    """Which sluicegate was measured: HEAD plus a digest of the working tree's sources, so
    a run can be matched to the code even while it is being edited."""
    digest = hashlib.sha256()
    for path in sorted(SRC.rglob("*.py")):
        digest.update(str(path.relative_to(SRC)).encode() + b"\0" + path.read_bytes())
    state = {"src_digest": digest.hexdigest()[:12], "head": "unknown"}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=BENCH.parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        state["head"] = head.stdout.strip()
    return state


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in (
        "sluicegate",
        "aiohttp",
        "httpx",
        "httpx2",
        "openai",
        "anyio",
        "trio",
        "uvloop",
        "httptools",
        "hypercorn",
        "starlette",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[name] = metadata.version(name)
    return out


# -- main -------------------------------------------------------------------------------


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def parse_args(argv: list[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="[x] is the full run's default; --quick uses smaller ones (see bench/README.md).",
    )
    parser.add_argument("--quick", action="store_true", help="small N, 1 repeat: a smoke run")
    parser.add_argument("--concurrency", type=_ints, default=None, help="e.g. 1,256 [1,256]")
    parser.add_argument("--latency-ms", type=_floats, default=None, help="e.g. 0,50 [0,50]")
    parser.add_argument("--requests-c1", type=int, default=None, help="N at C=1 [2000]")
    parser.add_argument("--requests", type=int, default=None, help="N at C>1 [5000]")
    parser.add_argument(
        "--latency-budget-s",
        type=float,
        default=None,
        help="cap N with server latency to ~this many seconds at the physical limit [5]",
    )
    parser.add_argument("--repeats", type=int, default=None, help="runs per median [3]")
    parser.add_argument(
        "--warmup", type=int, default=None, help="unmeasured requests, at least C [50]"
    )
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated [all]")
    parser.add_argument("--client-cpu", type=int, default=0, help="core for clients [0]")
    parser.add_argument("--server-cpu", type=int, default=1, help="core for the server [1]")
    parser.add_argument("--uvloop", action="store_true", help="asyncio clients on uvloop")
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness for server and clients [0]; -10 (needs root) keeps a shared "
        "machine's other work from taking the benchmark's cores",
    )
    parser.add_argument("--run-timeout-s", type=float, default=300.0, help="per run [300]")
    parser.add_argument("--capacity-requests", type=int, default=None, help="[20000]")
    parser.add_argument("--skip-capacity", action="store_true", help="skip the servers' capacity")
    parser.add_argument("--out", type=Path, default=None, help="JSON path [bench/results/...]")
    parser.add_argument("--enforce-targets", action="store_true", help="exit 2 when a target fails")
    parser.add_argument(
        "--profile",
        metavar="CLIENT",
        default=None,
        help="instead of benchmarking, cProfile CLIENT once per scenario and print hot spots",
    )
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    clients = [c for c in args.clients.split(",") if c]
    unknown = [c for c in clients if c not in CLIENTS]
    if unknown:
        parser.error(f"unknown clients {unknown}; known: {', '.join(CLIENTS)}")
    client_cpu, server_cpu = args.client_cpu, args.server_cpu
    available = os.sched_getaffinity(0)
    if client_cpu not in available or server_cpu not in available or client_cpu == server_cpu:
        print(
            f"note: cores {client_cpu}/{server_cpu} not both available ({sorted(available)}); "
            "running unpinned, figures will be noisier",
            file=sys.stderr,
        )
        client_cpu = server_cpu = None
    if args.nice:
        try:
            os.nice(args.nice)  # inherited by the server and client processes
        except PermissionError:
            print(f"note: cannot set niceness {args.nice} without privileges", file=sys.stderr)
    settings = Settings(
        concurrencies=pick(args.concurrency, [1, 256], [1, 64]),
        latencies_ms=pick(args.latency_ms, [0.0, 50.0], [0.0, 50.0]),
        requests_c1=pick(args.requests_c1, 2000, 300),
        requests=pick(args.requests, 5000, 100),
        latency_budget_s=pick(args.latency_budget_s, 5.0, 0.25),
        repeats=pick(args.repeats, 3, 1),
        warmup=pick(args.warmup, 50, 10),
        clients=clients,
        client_cpu=client_cpu,
        server_cpu=server_cpu,
        uvloop=args.uvloop,
        run_timeout_s=args.run_timeout_s,
        capacity_requests=pick(args.capacity_requests, 20000, 2000),
        quick=quick,
        extra={"nice": os.nice(0)},
    )
    return settings, args


def profile(settings: Settings, client: str, top: int = 30) -> None:
    """cProfile one run per scenario; print the hottest functions, sluicegate's marked."""
    import pstats
    import tempfile

    for latency in sorted({lat for lat, _ in settings.scenarios()}):
        with running(start_fast_server(latency, settings.server_cpu)) as server:
            for concurrency in settings.concurrencies_at(latency):
                n = settings.n_for(concurrency, latency)
                with tempfile.NamedTemporaryFile(suffix=".prof", delete=False) as tmp:
                    path = tmp.name
                run = run_client(settings, server, client, concurrency, n, latency, path)
                print(
                    f"\n=== {client}, C={concurrency}, {latency:g} ms, N={n} "
                    f"(under cProfile: {run.cpu_us_per_req:,.0f} CPU µs/req) ==="
                )
                stats = pstats.Stats(path)
                os.unlink(path)
                for order in ("tottime", "cumulative"):
                    print(f"\n--- top {top} by {order} ---")
                    stats.sort_stats(order).print_stats(top)
                print("\n--- sluicegate functions by cumulative time ---")
                stats.sort_stats("cumulative").print_stats("sluicegate", top)


def main(argv: list[str] | None = None) -> int:
    settings, args = parse_args(argv)
    if args.profile:
        if args.profile not in CLIENTS:
            print(f"unknown client {args.profile!r}", file=sys.stderr)
            return 1
        profile(settings, args.profile)
        return 0

    print(
        f"Server under test: bench/fast_server.py (uvloop + httptools), pinned to core "
        f"{settings.server_cpu}; clients pinned to core {settings.client_cpu}; "
        f"medians of {settings.repeats}; warm-up "
        f"{settings.warmup if settings.quick else f'max({settings.warmup}, C)'} requests."
    )
    code = code_state()
    print(f"sluicegate: HEAD {code['head']}, src digest {code['src_digest']}.")
    if settings.quick:
        print(
            "QUICK MODE: small N, one repeat, only the scenarios the targets use: "
            "a smoke run, not a measurement."
        )
    if settings.extra["nice"]:
        print(f"Server and clients run at niceness {settings.extra['nice']}.")
    capacities: list[Capacity] = []
    if not args.skip_capacity:
        print(f"\nServer capacity (raw aiohttp, C={CAPACITY_CONCURRENCY}, one client core):")
        with running(start_fast_server(0, settings.server_cpu)) as server:
            capacities.append(measure_capacity(settings, server, settings.capacity_requests))
        print("  " + capacities[-1].line(), flush=True)
        mock = start_mock_server(settings.server_cpu)
        if isinstance(mock, str):
            capacities.append(
                Capacity("sluicegate mock server", note=f"skipped, not available yet ({mock})")
            )
        else:
            with running(mock) as server:
                capacities.append(
                    measure_capacity(settings, server, max(1000, settings.capacity_requests // 4))
                )
        print("  " + capacities[-1].line(), flush=True)

    started = time.monotonic()
    runs: list[Run] = []
    for latency in sorted({lat for lat, _ in settings.scenarios()}):
        with running(start_fast_server(latency, settings.server_cpu)) as server:
            for concurrency in settings.concurrencies_at(latency):
                n = settings.n_for(concurrency, latency)
                print(f"\nC={concurrency}, latency {latency:g} ms, N={n}:", flush=True)
                # Repeats interleave clients, so slow drift in machine load hits all alike.
                for repeat in range(settings.repeats):
                    for client in settings.clients:
                        run = run_client(settings, server, client, concurrency, n, latency)
                        runs.append(run)
                        state = run.failed or (
                            f"{run.req_per_s:,.0f} req/s, {run.cpu_us_per_req:,.0f} µs/req"
                            + (f", {run.errors} errors" if run.errors else "")
                        )
                        print(f"  [{repeat + 1}/{settings.repeats}] {client}: {state}", flush=True)

    groups: dict[tuple[float, int, str], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.latency_ms, run.concurrency, run.client), []).append(run)
    rows = [summarize(group) for group in groups.values()]
    add_ratios(rows)
    targets = check_targets(rows)

    print(f"\nResults (medians of {settings.repeats}; {time.monotonic() - started:.0f} s):")
    print(table(rows))
    print("\nServer capacity:")
    for capacity in capacities:
        print("  " + capacity.line())
    print("\nTargets:")
    for target in targets:
        verdict = {True: "PASS", False: "FAIL", None: "SKIP"}[target.passed]
        print(f"  {verdict}  {target.description}: {target.detail}")
    busiest = max((r.server_busy for r in rows), default=0.0)
    loaded = max((r.background_load for r in rows), default=0.0)
    print(
        f"\nServer core at most {busiest:.0%} busy in any scenario median; "
        f"other processes used up to {loaded:.2f} cores during runs."
    )
    if loaded > 0.2:
        print("WARNING: other processes competed for the benchmark's cores; expect noise.")
    code_after = code_state()
    if code_after["src_digest"] != code["src_digest"]:  # a commit of docs alone is no change
        print(
            f"WARNING: src/sluicegate changed during the run (digest {code['src_digest']} → "
            f"{code_after['src_digest']}); the runs measured a mix of versions."
        )

    out = args.out or RESULTS / time.strftime("http_clients-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "settings": asdict(settings),
        "versions": versions(),
        "code": {"start": code, "end": code_after},
        "server": "bench/fast_server.py",
        "capacity": [
            asdict(c) | {"cpu_bound_req_per_s": c.cpu_bound_req_per_s} for c in capacities
        ],
        "rows": [asdict(r) for r in rows],
        "runs": [
            asdict(r) | {"req_per_s": r.req_per_s, "cpu_us_per_req": r.cpu_us_per_req} for r in runs
        ],
        "targets": [asdict(t) for t in targets],
    }
    out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"\nJSON: {out}")

    if any(r.failed or r.errors for r in rows):
        return 1
    if args.enforce_targets and any(t.passed is False for t in targets):
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
