"""What the shared store costs: sluicegate with ``store="redis://..."`` against the
in-memory store, on asyncio and on trio.

The rate-limit stage with a Redis store admits every attempt through one Lua script in
Redis (src/sluicegate/limits/shared.py). This measures what that costs a client, in one
run, against the same client without a store (limits kept in the process):

1. **Latency** added per request: C=1 sequential ``client.chat`` calls, the default chain,
   over the in-memory transport (sluicegate's mock app, no socket to an LLM server), with
   a rate limit far above anything sent (``rpm``, ``tpm`` and ``concurrency``; ``rpm``
   alone; no rules at all, where a store still checks the shared hold), and once over
   real HTTP against ``fast_server.py``. Median and p99 per request, the µs the store
   adds and the ratio.
2. **Throughput**: C=64 and C=256 callers in one process, then 2 and 4 processes (asyncio
   and trio mixed) on one Redis, with the limit that never binds: req/s with the Redis
   store against the in-memory store.
3. **Raw script rate**: ``SharedStore.run("ADMIT", ...)`` called directly (and a PING, the
   client library's floor), at C=1 and C=64: the ceiling of the admissions one process
   can make. C=1 is the ceiling of a model whose limit binds: while requests wait, the
   stage keeps one admission per model in flight per process (``SharedPlan.admit``).

Each section on each backend runs in a fresh process pinned to core 0; ``redis-server``
(started here, on 127.0.0.1, no persistence) and ``fast_server.py`` are pinned to core 1;
the processes of the multi-process runs are not pinned. The two stores are measured in
the same process in alternating blocks, so drifting machine load hits both alike.

Run: ``python bench/shared_store.py`` (about 3 minutes on the 2-core machine) or
``--quick`` (a smoke run, under 30 s). ``--out FILE`` writes the JSON there (default
``bench/results/shared_store-<time>.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
SELF = Path(__file__).resolve()

API_KEY = "sk-bench-key-0123456789abcdef"
MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "hello"}]
MAX_TOKENS = 16
MOCK_BASE = "http://mock.bench.invalid/v1"
"""Not the mock provider's own URL, so the client uses the transport it is given."""

RULE_SETS = ("rpm+tpm+cc", "rpm", "none")
"""The rate limits of the latency runs; the throughput runs use the first."""
BACKENDS = ("asyncio", "trio")
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def rules_for(name: str, provider: str) -> tuple[Any, ...]:
    """A limit that never binds at the rates a benchmark reaches."""
    from sluicegate import Limit

    scope = f"{provider}/*"
    if name == "rpm+tpm+cc":
        return (Limit(scope, rpm=10_000_000, tpm=10**9, concurrency=1000),)
    if name == "rpm":
        return (Limit(scope, rpm=10_000_000),)
    if name == "none":
        return ()
    raise ValueError(name)


def _proc_cpu_s(pid: int | None) -> float:
    """utime + stime of a running process (0 when there is none to read)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK


# == worker side: one section on one backend, in its own process ==========================


@dataclass
class Block:
    """One measured stretch of one client: what it did and what it cost."""

    requests: int = 0
    errors: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    redis_cpu_s: float = 0.0
    store_calls: int = 0
    """Scripts Redis ran meanwhile (all of them: admissions and the deferred calls)."""
    first_error: str | None = None
    latencies_us: list[float] = field(default_factory=list)
    backlog: int = 0
    """Deferred store calls (corrections, releases) still queued when the block ended."""
    leases: int = 0
    """Concurrency leases in Redis when the block ended (in flight, or not yet released)."""

    def add(self, other: Block) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.wall_s += other.wall_s
        self.cpu_s += other.cpu_s
        self.redis_cpu_s += other.redis_cpu_s
        self.store_calls += other.store_calls
        self.first_error = self.first_error or other.first_error
        self.latencies_us += other.latencies_us
        self.backlog = max(self.backlog, other.backlog)
        self.leases = max(self.leases, other.leases)

    def failed(self, exc: Exception) -> None:
        self.errors += 1
        self.first_error = self.first_error or f"{type(exc).__name__}: {exc}"[:300]


class Observer:
    """What Redis did meanwhile: its process's CPU (from /proc) and the scripts it ran
    (``INFO commandstats``), read between blocks through a connection of its own."""

    def __init__(self, pid: int | None, redis: Any = None) -> None:
        self.pid = pid
        self.redis = redis

    async def mark(
        self, done: Callable[[], int], scripts: bool = True
    ) -> tuple[int, float, float, float, int]:
        """(calls done, wall, own CPU, Redis's CPU, scripts Redis ran), read together once
        Redis answered (so the calls in flight are on both sides of a difference).
        ``scripts=False`` reads no scripts and does not suspend (the in-memory store's
        blocks, which run no scripts)."""
        calls = 0
        if scripts and self.redis is not None:
            info = await self.redis.info("commandstats")
            calls = sum(info.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))
        wall, cpu, redis_cpu = time.perf_counter(), time.process_time(), _proc_cpu_s(self.pid)
        return done(), wall, cpu, redis_cpu, calls

    async def leases(self, prefix: str) -> int:
        if self.redis is None:
            return 0
        keys = await self.redis.keys(f"{prefix}:*:cc:*")
        return sum([await self.redis.zcard(key) for key in keys])


def _between(block: Block, start: tuple[Any, ...], end: tuple[Any, ...]) -> Block:
    block.requests = end[0] - start[0]
    block.wall_s = end[1] - start[1]
    block.cpu_s = end[2] - start[2]
    block.redis_cpu_s = end[3] - start[3]
    block.store_calls = end[4] - start[4]
    return block


class Target:
    """A client, the model it calls, and how to read its store's deferred queue."""

    def __init__(self, client: Any, model: str, prefix: str | None = None) -> None:
        self.client = client
        self.model = model
        self.prefix = prefix

    async def call(self) -> None:
        response = await self.client.chat(self.model, MESSAGES, max_tokens=MAX_TOKENS)
        if not response.text:
            raise RuntimeError("empty answer")

    def backlog(self) -> int:
        store = getattr(self.client, "_store", None)
        send = getattr(store, "_send", None)
        return send.statistics().current_buffer_used if send is not None else 0


def make_client(
    transport: str, rules: str, prefix: str | None, concurrency: int, spec: dict[str, Any]
) -> Target:
    """A client with the default chain and ``rules``; with the Redis store under
    ``prefix`` when one is given, else the in-memory store."""
    import sluicegate
    from sluicegate.limits import RateLimits
    from sluicegate.logs import get_logger
    from sluicegate.stores import RedisStore

    options: dict[str, Any] = {}
    if transport == "memory":
        from sluicegate.testing.mock_app import MockConfig, create_app
        from sluicegate.transports.memory import MemoryTransport

        provider = "mock"
        providers = {"mock": sluicegate.ProviderSettings(base_url=MOCK_BASE)}
        options["transport"] = MemoryTransport(create_app(MockConfig()))
        model = "mock/bench"
    else:
        provider = "openai"
        base = spec["http_url"]
        providers = {"openai": sluicegate.ProviderSettings(base_url=f"{base}/v1", api_key=API_KEY)}
        model = "openai/gpt-bench"
    if prefix is not None:
        options["store"] = RedisStore(spec["redis_url"], prefix=prefix)
    client = sluicegate.Client(
        providers=providers,
        concurrency=concurrency,
        load_entry_points=False,
        logger=get_logger(level="critical"),
        stage_settings={"rate_limit": RateLimits(rules=rules_for(rules, provider))},
        **options,
    )
    return Target(client, model, prefix)


async def sequential(target: Target, n: int, observer: Observer) -> Block:
    """n calls one after another, each timed."""
    from anyio.lowlevel import checkpoint

    block = Block()
    latencies = block.latencies_us
    call = target.call
    clock = time.perf_counter
    start = await observer.mark(lambda: 0)
    for _ in range(n):
        t0 = clock()
        try:
            await call()
        except Exception as exc:
            block.failed(exc)
        latencies.append((clock() - t0) * 1e6)
        await checkpoint()  # untimed: lets the other tasks run (see concurrent())
    _between(block, start, await observer.mark(lambda: n))
    block.backlog = target.backlog()
    return block


async def concurrent(
    call: Callable[[], Awaitable[Any]],
    concurrency: int,
    settle_s: float,
    measure_s: float,
    cap: int,
    observer: Observer,
    backlog: Callable[[], int] = lambda: 0,
    scripts: bool = True,
) -> Block:
    """C callers for ``settle_s`` unmeasured, then ``measure_s`` measured (no call is
    started after that, nor more than ``cap`` in all).

    With the in-memory store over the in-memory transport a call never suspends, so
    each caller passes a checkpoint after every call (for both stores alike): without
    it the first caller would run alone to the end, the C callers would be one, and the
    other tasks of the process (the Redis client's background sender, its timers) would
    stall for the whole block, so that the Redis client's call in flight meanwhile
    timed out and failed its next admissions. The callers take the marks themselves.
    """
    import anyio
    from anyio.lowlevel import checkpoint

    block = Block()
    started = done = 0
    clock = time.perf_counter
    begin = clock()
    settle_at, deadline = begin + settle_s, begin + settle_s + measure_s
    marks: list[tuple[Any, ...]] = []

    def count() -> int:
        return done

    if settle_s <= 0:
        marks.append(await observer.mark(count, scripts))
        settle_at = math.inf

    async def caller() -> None:
        nonlocal started, done, settle_at
        while started < cap:
            now = clock()
            if now >= deadline:
                break
            if now >= settle_at:
                settle_at = math.inf
                marks.append(await observer.mark(count, scripts))
            started += 1
            try:
                await call()
            except Exception as exc:
                block.failed(exc)
            done += 1
            await checkpoint()

    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(caller)
    end = await observer.mark(count, scripts)
    _between(block, marks[0] if marks else end, end)
    block.backlog = backlog()
    return block


async def sustained(
    target: Target, concurrency: int, seconds: int, cap: int, observer: Observer
) -> list[dict[str, Any]]:
    """C callers for ``seconds``, sampled every second: requests done in that second,
    and the concurrency leases in Redis and the deferred calls queued at its end."""
    import anyio
    from anyio.lowlevel import checkpoint

    started = done = 0
    clock = time.perf_counter
    begin = clock()
    deadline = begin + seconds
    next_at = begin + 1.0
    samples: list[dict[str, Any]] = []
    last = 0

    async def sample(at: float) -> None:
        nonlocal last
        leases = await observer.leases(target.prefix) if target.prefix else 0
        samples.append(
            {
                "second": len(samples) + 1,
                "requests": done - last,
                "leases": leases,
                "backlog": target.backlog(),
                "at_s": at - begin,
            }
        )
        last = done

    async def caller() -> None:
        nonlocal started, done, next_at
        while started < cap:
            now = clock()
            if now >= deadline:
                break
            if now >= next_at:
                next_at += 1.0
                await sample(now)
            started += 1
            try:
                await target.call()
            except Exception as exc:
                errors.failed(exc)
            done += 1
            await checkpoint()

    errors = Block()
    async with anyio.create_task_group() as group:
        for _ in range(concurrency):
            group.start_soon(caller)
    if len(samples) < seconds:
        await sample(clock())
    samples[-1] |= {"errors": errors.errors, "first_error": errors.first_error}
    return samples


async def _warm(target: Target, n: int, concurrency: int = 1) -> None:
    await concurrent(target.call, concurrency, 0.0, 60.0, n, Observer(None))


@contextlib.asynccontextmanager
async def observing(spec: dict[str, Any]) -> AsyncIterator[Observer]:
    import coredis

    async with coredis.Redis.from_url(spec["redis_url"], decode_responses=True) as redis:
        yield Observer(spec["redis_pid"], redis)


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def section_latency(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Per configuration, both stores in alternating blocks of sequential calls."""
    rows: list[dict[str, Any]] = []
    configs = [("memory", rules) for rules in RULE_SETS]
    if spec.get("http_url"):
        configs.append(("http", RULE_SETS[0]))
    async with observing(spec) as observer:
        for transport, rules in configs:
            prefix = f"sgbench-lat-{os.getpid()}-{transport}-{rules}"
            stores = {
                "memory": make_client(transport, rules, None, 1, spec),
                "redis": make_client(transport, rules, prefix, 1, spec),
            }
            totals = {name: Block() for name in stores}
            async with stores["memory"].client, stores["redis"].client:
                for target in stores.values():
                    await _warm(target, spec["warmup"])
                per_block = max(1, spec["requests"] // spec["latency_rounds"])
                for round_ in range(spec["latency_rounds"]):
                    order = list(stores) if round_ % 2 == 0 else list(reversed(stores))
                    for name in order:
                        gc.collect()
                        totals[name].add(await sequential(stores[name], per_block, observer))
            for name, block in totals.items():
                rows.append(
                    {"transport": transport, "rules": rules, "store": name, **_summary(block)}
                )
            _progress(f"  {spec['backend']}: {transport} transport, rules {rules}: done")
    return rows


async def section_throughput(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Per C and rules, both stores in alternating timed blocks of C concurrent callers."""
    rows: list[dict[str, Any]] = []
    async with observing(spec) as observer:
        for concurrency in spec["concurrencies"]:
            for rules in spec["rules"]:
                prefix = f"sgbench-tp-{os.getpid()}-{concurrency}-{rules}"
                stores = {
                    "memory": make_client("memory", rules, None, concurrency, spec),
                    "redis": make_client("memory", rules, prefix, concurrency, spec),
                }
                totals = {name: Block() for name in stores}
                async with stores["memory"].client, stores["redis"].client:
                    for target in stores.values():
                        await _warm(target, max(spec["warmup"], concurrency), concurrency)
                        await target.client.flush_store()  # no backlog into the next block
                    for round_ in range(spec["rounds"]):
                        order = list(stores) if round_ % 2 == 0 else list(reversed(stores))
                        for name in order:
                            gc.collect()
                            target = stores[name]
                            block = await concurrent(
                                target.call,
                                concurrency,
                                spec["settle_s"],
                                spec["block_s"],
                                spec["cap"],
                                observer,
                                target.backlog,
                                scripts=target.prefix is not None,
                            )
                            if target.prefix is not None:
                                block.leases = await observer.leases(target.prefix)
                                # what this block left queued is sent before the other
                                # store's block: it would otherwise wait, unanswered,
                                # behind that block's callers (see bench/README.md)
                                await target.client.flush_store()
                            totals[name].add(block)
                for name, block in totals.items():
                    row = {"concurrency": concurrency, "rules": rules, "store": name}
                    rows.append(row | _summary(block))
                _progress(f"  {spec['backend']}: C={concurrency}, rules {rules}: done")
    return rows


async def section_sustained(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The Redis store with every kind of limit (rpm+tpm+cc), C callers for a while
    without a pause, second by second."""
    concurrency = spec["concurrency"]
    prefix = f"sgbench-sustained-{os.getpid()}"
    target = make_client("memory", RULE_SETS[0], prefix, concurrency, spec)
    async with observing(spec) as observer, target.client:
        await _warm(target, max(spec["warmup"], concurrency), concurrency)
        samples = await sustained(target, concurrency, spec["seconds"], spec["cap"], observer)
    _progress(f"  {spec['backend']}: done")
    return samples


async def section_script(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """ADMIT (the admission of an rpm+tpm plan) through ``SharedStore.run``, a PING
    through coredis, and a PING over a bare socket, called directly."""
    import anyio

    from sluicegate.stores import RedisStore
    from sluicegate.stores.redis.connection import SharedStore
    from sluicegate.stores.redis.keys import KeySpace, digest_of

    rows: list[dict[str, Any]] = []
    prefix = f"sgbench-raw-{os.getpid()}"
    store = SharedStore(RedisStore(spec["redis_url"], prefix=prefix))
    keys = KeySpace(prefix)
    tag = keys.tag(digest_of(None, "mock"))
    rpm, tpm = 10_000_000, 10**9
    burst_rpm, burst_tpm = -(-rpm // 600), -(-tpm // 600)  # burst_s=0.1, as Limit's default
    script_keys = [
        keys.hold(tag, "mock/bench"),
        keys.rate(tag, "mock/*", "rpm", rpm, burst_rpm),
        keys.rate(tag, "mock/*", "tpm", tpm, burst_tpm),
    ]
    constant = [repr(60_000_000 / rpm), burst_rpm, 1, repr(60_000_000 / tpm), burst_tpm, 30]
    host, _, port = spec["redis_url"].removeprefix("redis://").partition("/")[0].partition(":")
    await store.open()
    try:

        async def admit() -> None:
            argv = ["", 2, 0, store.lease_id(), store.lease_us, 20_000, *constant]
            reply = await store.run("ADMIT", script_keys, argv, "benchmark admission")
            if reply[0] != 1:
                raise RuntimeError(f"refused: {reply}")

        async with observing(spec) as observer, await anyio.connect_tcp(host, int(port)) as sock:

            async def ping() -> None:
                await observer.redis.ping()

            async def raw_ping() -> None:
                await sock.send(b"PING\r\n")
                if not (await sock.receive(64)).startswith(b"+PONG"):
                    raise RuntimeError("no PONG")

            calls = (
                ("ADMIT via SharedStore.run", admit, spec["script_concurrencies"]),
                ("PING via coredis", ping, spec["script_concurrencies"]),
                ("PING, bare anyio socket", raw_ping, [1]),
            )
            for name, call, concurrencies in calls:
                await concurrent(call, 1, 0.0, 60.0, spec["warmup"], Observer(None))
                for concurrency in concurrencies:
                    total = Block()
                    for _ in range(spec["rounds"]):
                        gc.collect()
                        total.add(
                            await concurrent(
                                call, concurrency, 0.0, spec["block_s"], spec["cap"], observer
                            )
                        )
                    rows.append({"call": name, "concurrency": concurrency, **_summary(total)})
    finally:
        await store.aclose()
    _progress(f"  {spec['backend']}: done")
    return rows


async def section_multi(spec: dict[str, Any]) -> None:
    """One of several processes: warm a client per store and rules, say READY, then run
    a timed block of one on each ``RUN <store> <rules> <settle s> <measure s>`` line,
    until ``QUIT``."""
    import anyio

    concurrency = spec["concurrency"]
    targets: dict[tuple[str, str], Target] = {}
    for rules in spec["rules"]:
        targets["memory", rules] = make_client("memory", rules, None, concurrency, spec)
        prefix = f"{spec['prefix']}-{rules}"  # shared by the processes
        targets["redis", rules] = make_client("memory", rules, prefix, concurrency, spec)
    observer = Observer(None)
    async with contextlib.AsyncExitStack() as stack:
        for target in targets.values():
            await stack.enter_async_context(target.client)
            await _warm(target, max(spec["warmup"], concurrency), concurrency)
        print("READY", flush=True)
        while True:
            line = (await anyio.to_thread.run_sync(sys.stdin.readline)).split()
            if not line or line[0] == "QUIT":
                return
            _, name, rules, settle, measure = line
            gc.collect()
            target = targets[name, rules]
            block = await concurrent(
                target.call,
                concurrency,
                float(settle),
                float(measure),
                spec["cap"],
                observer,
                target.backlog,
            )
            print(json.dumps(_summary(block)), flush=True)


def _summary(block: Block) -> dict[str, Any]:
    n = block.requests
    out: dict[str, Any] = {
        "requests": n,
        "errors": block.errors,
        "first_error": block.first_error,
        "wall_s": block.wall_s,
        "req_per_s": n / block.wall_s if block.wall_s else 0.0,
        "cpu_us_per_req": block.cpu_s / n * 1e6 if n else 0.0,
        "redis_cpu_us_per_req": block.redis_cpu_s / n * 1e6 if n else 0.0,
        "store_calls_per_req": block.store_calls / n if n else 0.0,
        "backlog": block.backlog,
        "leases": block.leases,
    }
    if block.latencies_us:
        ordered = sorted(block.latencies_us)
        out["median_us"] = statistics.median(ordered)
        out["p99_us"] = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return out


SECTIONS: dict[str, Callable[[dict[str, Any]], Awaitable[Any]]] = {
    "latency": section_latency,
    "throughput": section_throughput,
    "sustained": section_sustained,
    "script": section_script,
}
"""The sections a worker runs in one process, in this order (``multi`` is apart)."""
TITLES = {
    "latency": "Latency at C=1",
    "throughput": "Throughput in one process",
    "sustained": "Sustained, Redis store, rpm+tpm+cc",
    "script": "Raw store calls",
}


def worker_main(spec: dict[str, Any]) -> None:
    import anyio

    if spec.get("cpu") is not None:
        os.sched_setaffinity(0, {spec["cpu"]})
    if spec["sections"] == ["multi"]:
        anyio.run(section_multi, spec, backend=spec["backend"])
        return
    results = {}
    for name in spec["sections"]:
        results[name] = anyio.run(SECTIONS[name], spec, backend=spec["backend"])
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")


# == orchestrator side =====================================================================


@dataclass
class Settings:
    quick: bool
    latency_requests: int
    latency_rounds: int
    warmup: int
    concurrencies: list[int]
    processes: list[int]
    multi_concurrency: int
    throughput_rules: list[str]
    settle_s: float
    block_s: float
    sustained_s: int
    rounds: int
    cap: int
    script_concurrencies: list[int]
    http: bool
    client_cpu: int | None
    server_cpu: int | None
    run_timeout_s: float


class RedisServer:
    """A redis-server of our own, on 127.0.0.1 and a free port, with no persistence;
    stopped by its own pid."""

    def __init__(self, binary: str, cpu: int | None) -> None:
        self.directory = tempfile.TemporaryDirectory(prefix="sgbench-redis-")
        self.port = _free_port()
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.directory.name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if cpu is not None:
            os.sched_setaffinity(self.process.pid, {cpu})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.process.pid

    def version(self) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall(b"INFO server\r\n")
            data = b""
            while b"redis_version:" not in data or not data.endswith(b"\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        for line in data.decode(errors="replace").splitlines():
            if line.startswith("redis_version:"):
                return line.partition(":")[2]
        return "unknown"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.directory.cleanup()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def redis_server(cpu: int | None) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise SystemExit("needs Debian's redis-server (apt-get install redis-server)")
    server = RedisServer(binary, cpu)
    try:
        yield server
    finally:
        server.stop()


class LoadMeter:
    """The CPU that processes other than the benchmark's used on the machine while it
    ran, in cores (from /proc/stat): on a shared machine, the figures' noise."""

    def __init__(self, servers: Sequence[int]) -> None:
        from http_clients import _children_cpu_s, _cores_busy_s, _self_cpu_s

        self._servers = list(servers)
        self._cores = set(os.sched_getaffinity(0))
        self._busy, self._children, self._self = _cores_busy_s, _children_cpu_s, _self_cpu_s
        self._start = self._read()

    def _read(self) -> tuple[float, float, float]:
        ours = self._children() + self._self() + sum(_proc_cpu_s(p) for p in self._servers)
        return time.monotonic(), self._busy(self._cores), ours

    def cores(self) -> float:
        wall0, busy0, ours0 = self._start
        wall1, busy1, ours1 = self._read()
        return max(0.0, ((busy1 - busy0) - (ours1 - ours0)) / max(wall1 - wall0, 1e-9))


def run_worker(settings: Settings, spec: dict[str, Any], servers: Sequence[int]) -> dict[str, Any]:
    """Sections on one backend in a fresh process; their JSON results, by section, and
    the other load meanwhile under ``"load"``."""
    spec = {**spec, "cpu": settings.client_cpu}
    sys.stdout.flush()
    meter = LoadMeter(servers)
    done = subprocess.run(
        [sys.executable, str(SELF), "--worker", json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=sys.stdout,  # the worker's progress lines, in order with ours
        text=True,
        timeout=settings.run_timeout_s,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"{spec['sections']} worker on {spec['backend']} failed")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["load"] = meter.cores()
    print(f"  {spec['backend']}: other processes used {result['load']:.2f} cores", flush=True)
    return result


def _readline(process: subprocess.Popen[str], timeout_s: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout_s)
    if not ready:
        raise TimeoutError(f"worker {process.pid} did not answer in {timeout_s:g} s")
    return process.stdout.readline()


def run_multi(
    settings: Settings, redis: RedisServer, processes: int, servers: Sequence[int]
) -> list[dict[str, Any]]:
    """``processes`` workers (asyncio and trio alternately) on one Redis, sharing one set
    of limits per rule set; each round runs each client, all processes at once."""
    backends = [BACKENDS[i % 2] for i in range(processes)]
    procs: list[subprocess.Popen[str]] = []
    rows: list[dict[str, Any]] = []
    spec = {
        "sections": ["multi"],
        "redis_url": redis.url,
        "prefix": f"sgbench-multi-{os.getpid()}-{processes}",
        "rules": settings.throughput_rules,
        "concurrency": settings.multi_concurrency,
        "warmup": settings.warmup,
        "cap": settings.cap,
        "cpu": None,  # not pinned: the processes share both cores with redis-server
    }
    sys.stdout.flush()
    meter = LoadMeter(servers)
    try:
        for backend in backends:
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(SELF),
                        "--worker",
                        json.dumps(spec | {"backend": backend}),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        for process in procs:
            if _readline(process, settings.run_timeout_s).strip() != "READY":
                raise RuntimeError(f"multi-process worker {process.pid} did not start")
        totals: dict[tuple[str, str], list[list[dict[str, Any]]]] = {}
        window = settings.settle_s + settings.block_s
        for round_ in range(settings.rounds):
            for rules in settings.throughput_rules:
                order = ["memory", "redis"] if round_ % 2 == 0 else ["redis", "memory"]
                for name in order:
                    command = f"RUN {name} {rules} {settings.settle_s} {settings.block_s}\n"
                    for process in procs:
                        assert process.stdin is not None
                        process.stdin.write(command)
                        process.stdin.flush()
                    time.sleep(settings.settle_s)
                    redis0, wall0 = _proc_cpu_s(redis.pid), time.monotonic()
                    results = [json.loads(_readline(p, window + 60)) for p in procs]
                    busy = (_proc_cpu_s(redis.pid) - redis0) / (time.monotonic() - wall0)
                    for result in results:
                        result["redis_busy"] = busy
                    totals.setdefault((name, rules), []).append(results)
        for (name, rules), rounds in totals.items():
            flat = [r for results in rounds for r in results]
            rows.append(
                {
                    "processes": processes,
                    "backends": backends,
                    "concurrency": settings.multi_concurrency,
                    "rules": rules,
                    "store": name,
                    "req_per_s": statistics.median(
                        sum(r["req_per_s"] for r in results) for results in rounds
                    ),
                    "req_per_s_rounds": [sum(r["req_per_s"] for r in res) for res in rounds],
                    "requests": sum(r["requests"] for r in flat),
                    "errors": sum(r["errors"] for r in flat),
                    "first_error": next((r["first_error"] for r in flat if r["first_error"]), None),
                    "cpu_us_per_req": statistics.median(r["cpu_us_per_req"] for r in flat),
                    "redis_busy": statistics.median(res[0]["redis_busy"] for res in rounds),
                    "backlog": max(r["backlog"] for r in flat),
                }
            )
    finally:
        for process in procs:
            if process.poll() is None and process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.write("QUIT\n")
                    process.stdin.flush()
        for process in procs:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    load = meter.cores()
    print(f"  other processes used {load:.2f} cores", flush=True)
    for row in rows:
        row["load"] = load
    return rows


# -- report ------------------------------------------------------------------------------


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "—"


def _errors(*rows: dict[str, Any]) -> str:
    n = sum(r.get("errors", 0) for r in rows)
    return f" ({n} errors)" if n else ""


def print_tables(record: dict[str, Any]) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(width=250, highlight=False, soft_wrap=True)

    def table(title: str, columns: Sequence[str], left: int) -> Table:
        t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
        for i, column in enumerate(columns):
            t.add_column(column, justify="left" if i < left else "right", no_wrap=True)
        return t

    lat = table(
        "Latency per request at C=1, µs: in-memory store (mem) and Redis store (redis)",
        [
            "backend",
            "transport",
            "rules",
            "median mem",
            "median redis",
            "added",
            "ratio",
            "p99 mem",
            "p99 redis",
            "added p99",
            "CPU/req mem",
            "CPU/req redis",
            "redis-server/req",
            "scripts/req",
        ],
        3,
    )
    for backend in BACKENDS:
        rows = record["latency"].get(backend, [])
        for config in dict.fromkeys((r["transport"], r["rules"]) for r in rows):
            pair = {r["store"]: r for r in rows if (r["transport"], r["rules"]) == config}
            mem, red = pair["memory"], pair["redis"]
            lat.add_row(
                backend,
                config[0] + _errors(mem, red),
                config[1],
                f"{mem['median_us']:,.0f}",
                f"{red['median_us']:,.0f}",
                f"{red['median_us'] - mem['median_us']:+,.0f}",
                _ratio(red["median_us"], mem["median_us"]),
                f"{mem['p99_us']:,.0f}",
                f"{red['p99_us']:,.0f}",
                f"{red['p99_us'] - mem['p99_us']:+,.0f}",
                f"{mem['cpu_us_per_req']:,.0f}",
                f"{red['cpu_us_per_req']:,.0f}",
                f"{red['redis_cpu_us_per_req']:,.0f}",
                f"{red['store_calls_per_req']:.2f}",
            )
    console.print(lat)

    tp = table(
        "Throughput with limits set far above what is sent (req/s through the client; "
        "µs per request; leases: concurrency leases held in Redis, of the limit of 1000)",
        [
            "processes",
            "C",
            "rules",
            "req/s mem",
            "req/s redis",
            "ratio",
            "CPU/req mem",
            "CPU/req redis",
            "redis-server",
            "scripts/req",
            "leases",
            "deferred left",
        ],
        3,
    )
    for backend in BACKENDS:
        rows = record["throughput"].get(backend, [])
        for config in dict.fromkeys((r["concurrency"], r["rules"]) for r in rows):
            pair = {r["store"]: r for r in rows if (r["concurrency"], r["rules"]) == config}
            mem, red = pair["memory"], pair["redis"]
            tp.add_row(
                f"1 ({backend})" + _errors(mem, red),
                str(config[0]),
                config[1],
                f"{mem['req_per_s']:,.0f}",
                f"{red['req_per_s']:,.0f}",
                _ratio(red["req_per_s"], mem["req_per_s"]),
                f"{mem['cpu_us_per_req']:,.0f}",
                f"{red['cpu_us_per_req']:,.0f}",
                f"{red['redis_cpu_us_per_req']:,.0f} µs/req",
                f"{red['store_calls_per_req']:.2f}",
                str(red["leases"]) if config[1] != "rpm" else "—",
                str(red["backlog"]),
            )
    multi = record["multi"]
    for config in dict.fromkeys((r["processes"], r["rules"]) for r in multi):
        pair = {r["store"]: r for r in multi if (r["processes"], r["rules"]) == config}
        mem, red = pair["memory"], pair["redis"]
        mix = " + ".join(f"{mem['backends'].count(b)} {b}" for b in BACKENDS)
        tp.add_row(
            f"{config[0]} ({mix})" + _errors(mem, red),
            f"{mem['concurrency']} each",
            config[1],
            f"{mem['req_per_s']:,.0f}",
            f"{red['req_per_s']:,.0f}",
            _ratio(red["req_per_s"], mem["req_per_s"]),
            f"{mem['cpu_us_per_req']:,.0f}",
            f"{red['cpu_us_per_req']:,.0f}",
            f"{red['redis_busy']:.0%} of a core",
            "",
            "",
            str(red["backlog"]),
        )
    console.print(tp)

    sustained = record["sustained"]
    if sustained:
        seconds = max(len(v) for v in sustained.values())
        concurrency = record["settings"]["concurrencies"][0]
        st = table(
            f"Redis store, rpm+tpm+cc, C={concurrency} without a pause, second by second: "
            "req/s / concurrency leases held in Redis / deferred calls queued",
            ["backend", *(f"s{i + 1}" for i in range(seconds))],
            1,
        )
        for backend, samples in sustained.items():
            cells = [f"{s['requests']:,} / {s['leases']} / {s['backlog']}" for s in samples]
            st.add_row(backend + _errors(samples[-1]), *cells)
        console.print(st)

    sc = table(
        "Store calls from one process, called directly (an ADMIT of an rpm+tpm plan; PINGs)",
        ["backend", "call", "C", "calls/s", "client CPU µs/call", "redis-server µs/call"],
        2,
    )
    for backend in BACKENDS:
        for row in record["script"].get(backend, []):
            sc.add_row(
                backend,
                row["call"] + _errors(row),
                str(row["concurrency"]),
                f"{row['req_per_s']:,.0f}",
                f"{row['cpu_us_per_req']:,.0f}",
                f"{row['redis_cpu_us_per_req']:,.0f}",
            )
    console.print(sc)


def _has_errors(record: dict[str, Any]) -> bool:
    sections = ("latency", "throughput", "sustained", "script")
    flat = [r for s in sections for rows in record[s].values() for r in rows] + record["multi"]
    return any(r.get("errors") for r in flat)


def parse_args(argv: list[str] | None) -> tuple[Settings, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="[x] is the full run's default; --quick uses smaller ones.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run, under 30 s")
    parser.add_argument("--latency-requests", type=int, default=None, help="per store [2000]")
    parser.add_argument("--concurrency", default=None, help="one-process C's [64,256]")
    parser.add_argument("--processes", default=None, help="multi-process runs [2,4]")
    parser.add_argument("--multi-concurrency", type=int, default=64, help="C per process [64]")
    parser.add_argument(
        "--rules", default="rpm,rpm+tpm+cc", help=f"throughput rules, of {RULE_SETS} [%(default)s]"
    )
    parser.add_argument(
        "--settle-s", type=float, default=None, help="unmeasured start of a timed block [1]"
    )
    parser.add_argument("--block-s", type=float, default=None, help="measured part [1.5]")
    parser.add_argument(
        "--sustained-s", type=int, default=None, help="the second-by-second run; 0: none [8]"
    )
    parser.add_argument("--rounds", type=int, default=None, help="blocks per store [2]")
    parser.add_argument("--cap", type=int, default=100_000, help="most calls per block [100000]")
    parser.add_argument("--no-http", action="store_true", help="skip the fast_server.py run")
    parser.add_argument("--client-cpu", type=int, default=0, help="core for clients [0]")
    parser.add_argument("--server-cpu", type=int, default=1, help="core for the servers [1]")
    parser.add_argument("--run-timeout-s", type=float, default=300.0, help="per worker [300]")
    parser.add_argument("--out", type=Path, default=None, help="JSON path [bench/results/...]")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    def ints(text: str | None, full: list[int], small: list[int]) -> list[int]:
        return [int(x) for x in text.split(",") if x] if text else (small if quick else full)

    rules = [r for r in args.rules.split(",") if r]
    if not rules or not set(rules) <= set(RULE_SETS):
        parser.error(f"--rules: a comma-separated choice of {', '.join(RULE_SETS)}")
    client_cpu, server_cpu = args.client_cpu, args.server_cpu
    available = os.sched_getaffinity(0)
    if client_cpu not in available or server_cpu not in available or client_cpu == server_cpu:
        print(
            f"note: cores {client_cpu}/{server_cpu} not both available ({sorted(available)}); "
            "running unpinned, figures will be noisier",
            file=sys.stderr,
        )
        client_cpu = server_cpu = None
    settings = Settings(
        quick=quick,
        latency_requests=pick(args.latency_requests, 2000, 120),
        latency_rounds=4 if not quick else 2,
        warmup=100 if not quick else 10,
        concurrencies=ints(args.concurrency, [64, 256], [64]),
        processes=ints(args.processes, [2, 4], [2]),
        multi_concurrency=args.multi_concurrency,
        throughput_rules=rules,
        settle_s=pick(args.settle_s, 1.0, 0.2),
        block_s=pick(args.block_s, 1.5, 0.3),
        sustained_s=pick(args.sustained_s, 8, 2),
        rounds=pick(args.rounds, 2, 1),
        cap=args.cap,
        script_concurrencies=[1, 64],
        http=not args.no_http,
        client_cpu=client_cpu,
        server_cpu=server_cpu,
        run_timeout_s=args.run_timeout_s,
    )
    return settings, args


def main(argv: list[str] | None = None) -> int:
    settings, args = parse_args(argv)
    if args.worker is not None:
        worker_main(json.loads(args.worker))
        return 0
    sys.path.insert(0, str(BENCH))
    from http_clients import code_state, running, start_fast_server, versions

    code = code_state()
    print(
        f"sluicegate: HEAD {code['head']}, src digest {code['src_digest']}. Clients pinned to "
        f"core {settings.client_cpu}, redis-server and fast_server.py to core "
        f"{settings.server_cpu}."
    )
    if settings.quick:
        print("QUICK MODE: small N, one round: a smoke run, not a measurement.")
    started = time.monotonic()
    record: dict[str, Any] = {
        "settings": asdict(settings),
        "versions": versions(),
        "machine": {"cpus": os.cpu_count(), "platform": sys.platform, "load": os.getloadavg()},
        "latency": {},
        "throughput": {},
        "sustained": {},
        "script": {},
        "multi": [],
        "load": [],
    }
    with contextlib.ExitStack() as stack:
        redis = stack.enter_context(redis_server(settings.server_cpu))
        record["versions"]["redis-server"] = redis.version()
        with contextlib.suppress(metadata.PackageNotFoundError):
            record["versions"]["coredis"] = metadata.version("coredis")
        http_url = None
        if settings.http:
            try:
                server = stack.enter_context(running(start_fast_server(0, settings.server_cpu)))
                http_url = server.base_url
            except (OSError, RuntimeError) as exc:
                print(f"note: fast_server.py did not start ({exc}); no HTTP run", file=sys.stderr)
        print(f"redis-server {record['versions']['redis-server']} on {redis.url}", flush=True)
        servers = [redis.pid] + ([server.process.pid] if http_url else [])
        spec: dict[str, Any] = {
            "redis_url": redis.url,
            "redis_pid": redis.pid,
            "http_url": http_url,
            "warmup": settings.warmup,
            "requests": settings.latency_requests,
            "latency_rounds": settings.latency_rounds,
            "concurrencies": settings.concurrencies,
            "rules": settings.throughput_rules,
            "settle_s": settings.settle_s,
            "block_s": settings.block_s,
            "rounds": settings.rounds,
            "cap": settings.cap,
            "concurrency": settings.concurrencies[0],
            "seconds": settings.sustained_s,
            "script_concurrencies": settings.script_concurrencies,
        }
        sections = [s for s in SECTIONS if s != "sustained" or settings.sustained_s > 0]
        # a fresh process per section and backend; a quick run saves the start-ups
        groups = [sections] if settings.quick else [[s] for s in sections]
        for group in groups:
            print(f"\n{', '.join(TITLES[s] for s in group)}:", flush=True)
            for backend in BACKENDS:
                group_spec = spec | {"sections": group, "backend": backend}
                results = run_worker(settings, group_spec, servers)
                for name in group:
                    record[name][backend] = results[name]
                load = {"sections": group, "backend": backend, "cores": results["load"]}
                record["load"].append(load)
        for processes in settings.processes:
            print(f"\n{processes} processes on one Redis:", flush=True)
            rows = run_multi(settings, redis, processes, servers)
            record["multi"] += rows
            record["load"].append({"sections": [f"multi-{processes}"], "cores": rows[0]["load"]})
    elapsed = time.monotonic() - started
    code_after = code_state()
    record["code"] = {"start": code, "end": code_after}
    record["elapsed_s"] = elapsed
    print(f"\nResults ({elapsed:.0f} s; {time.strftime('%Y-%m-%d %H:%M')}):\n")
    print_tables(record)
    loaded = max((entry["cores"] for entry in record["load"]), default=0.0)
    print(
        f"\nOther processes used up to {loaded:.2f} cores during a section (of {os.cpu_count()})."
    )
    if loaded > 0.2:
        print("WARNING: other processes competed for the benchmark's cores; expect noise.")
    if code_after["src_digest"] != code["src_digest"]:
        print("WARNING: src/sluicegate changed during the run; the runs measured a mix.")
    out = args.out or RESULTS / time.strftime("shared_store-%Y%m%d-%H%M%S.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"\nJSON: {out}")
    return 1 if _has_errors(record) else 0


if __name__ == "__main__":
    sys.exit(main())
