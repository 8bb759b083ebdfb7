"""One benchmark run of one HTTP client, in its own process pinned to one core.

bench/http_clients.py starts this once per (client, scenario, repeat) so that no run
inherits another's warm pools, caches or garbage, and so that the process CPU time it
reports belongs to that client alone. Every client does the same work per request: encode
a small chat-completion JSON body, POST it, read the whole body, ``json.loads`` it and pick
the answer text (sluicegate and the openai SDK do the encoding and parsing themselves).
Every client is driven the same way: C tasks in an anyio task group pulling from a shared
counter until N requests are done, first ``--warmup`` of them unmeasured.

Prints one JSON object on stdout: requests, wall_s, cpu_s, errors, first_error.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import anyio

API_KEY = "sk-bench-key-0123456789abcdef"
MODEL = "gpt-bench"
MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "hello"}]
MAX_TOKENS = 16

Send = Callable[[], Awaitable[None]]
ClientFactory = Callable[[str, int], AbstractAsyncContextManager[Send]]


@dataclass(frozen=True, slots=True)
class ClientKind:
    """A benchmarked client: its name, event loop, and the raw transport it sits on."""

    name: str
    backend: str
    factory: ClientFactory
    underlying: str | None = None
    label: str = ""


def _payload() -> bytes:
    """The request body, encoded per request as a hand-written client would."""
    return json.dumps(
        {"model": MODEL, "messages": MESSAGES, "max_tokens": MAX_TOKENS},
        separators=(",", ":"),
    ).encode()


_HEADERS = {"content-type": "application/json", "authorization": f"Bearer {API_KEY}"}


def _answer_text(body: bytes | str) -> str:
    """Parse the body and pick the text, the work every client must do with an answer."""
    data = json.loads(body)
    text: str = data["choices"][0]["message"]["content"]
    return text


class BadStatus(Exception):
    """A non-2xx answer; counted as an error of the run."""


# -- clients ---------------------------------------------------------------------------


def _sluicegate_on(transport: str) -> ClientFactory:
    """sluicegate's Client with the default chain on ``transport``."""

    @asynccontextmanager
    async def factory(base: str, concurrency: int) -> AsyncIterator[Send]:
        import sluicegate

        providers = {"openai": sluicegate.ProviderSettings(base_url=f"{base}/v1", api_key=API_KEY)}
        async with sluicegate.Client(
            providers=providers, concurrency=concurrency, transport=transport
        ) as client:

            async def send() -> None:
                response = await client.chat(f"openai/{MODEL}", MESSAGES, max_tokens=MAX_TOKENS)
                if not response.text:
                    raise BadStatus("empty answer")

            yield send

    return factory


_sluicegate = _sluicegate_on("auto")


def _installed_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "(not installed)"


_HTTPX = _installed_version("httpx")
"""The httpx the table names: the issues ask for 0.28, the registry here serves 0.29."""


@asynccontextmanager
async def _native(base: str, concurrency: int) -> AsyncIterator[Send]:
    """sluicegate's native transport alone: what a hand-written client on it would do."""
    from sluicegate.transports.base import HttpRequest, TransportOptions
    from sluicegate.transports.native import NativeTransport

    transport = NativeTransport(TransportOptions(concurrency=concurrency))
    url = f"{base}/v1/chat/completions"
    try:

        async def send() -> None:
            response = await transport.send(HttpRequest("POST", url, _HEADERS, _payload()))
            if response.status != 200:
                raise BadStatus(response.status)
            _answer_text(response.body)

        yield send
    finally:
        await transport.aclose()


@asynccontextmanager
async def _aiohttp(base: str, concurrency: int) -> AsyncIterator[Send]:
    import aiohttp

    url = f"{base}/v1/chat/completions"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send() -> None:
            async with session.post(url, data=_payload(), headers=_HEADERS) as response:
                body = await response.read()
                if response.status != 200:
                    raise BadStatus(response.status)
            _answer_text(body)

        yield send


def _httpx_like(module_name: str) -> ClientFactory:
    """httpx (0.28 and later) and httpx2 share an API; the pool is sized to the concurrency and the
    timeout raised from 5 s so that pool waits at C=256 are measured, not failed."""

    @asynccontextmanager
    async def factory(base: str, concurrency: int) -> AsyncIterator[Send]:
        lib: Any = __import__(module_name)
        url = f"{base}/v1/chat/completions"
        limits = lib.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with lib.AsyncClient(limits=limits, timeout=lib.Timeout(60.0)) as client:

            async def send() -> None:
                response = await client.post(url, content=_payload(), headers=_HEADERS)
                if response.status_code != 200:
                    raise BadStatus(response.status_code)
                _answer_text(response.content)

            yield send

    return factory


@asynccontextmanager
async def _openai(base: str, concurrency: int) -> AsyncIterator[Send]:
    from openai import AsyncOpenAI

    async with AsyncOpenAI(base_url=f"{base}/v1", api_key=API_KEY, max_retries=0) as client:

        async def send() -> None:
            completion = await client.chat.completions.create(
                model=MODEL,
                messages=MESSAGES,  # type: ignore[arg-type]
                max_tokens=MAX_TOKENS,
            )
            if not completion.choices[0].message.content:
                raise BadStatus("empty answer")

        yield send


CLIENTS: dict[str, ClientKind] = {
    kind.name: kind
    for kind in (
        ClientKind(
            "sluicegate-asyncio",
            "asyncio",
            _sluicegate,
            underlying="native-asyncio",
            label="sluicegate (asyncio, auto: native)",
        ),
        ClientKind(
            "sluicegate-trio",
            "trio",
            _sluicegate,
            underlying="native-trio",
            label="sluicegate (trio, auto: native)",
        ),
        ClientKind(
            "sluicegate-asyncio-aiohttp",
            "asyncio",
            _sluicegate_on("aiohttp"),
            underlying="aiohttp",
            label="sluicegate (asyncio, aiohttp transport)",
        ),
        ClientKind(
            "sluicegate-trio-httpx2",
            "trio",
            _sluicegate_on("httpx2"),
            underlying="httpx2-trio",
            label="sluicegate (trio, httpx2 transport)",
        ),
        ClientKind("native-trio", "trio", _native, label="native transport (trio, raw)"),
        ClientKind("native-asyncio", "asyncio", _native, label="native transport (asyncio, raw)"),
        ClientKind("aiohttp", "asyncio", _aiohttp, label="aiohttp (limit=C)"),
        ClientKind("httpx2-asyncio", "asyncio", _httpx_like("httpx2"), label="httpx2 (asyncio)"),
        ClientKind("httpx2-trio", "trio", _httpx_like("httpx2"), label="httpx2 (trio)"),
        ClientKind(
            "httpx-asyncio", "asyncio", _httpx_like("httpx"), label=f"httpx {_HTTPX} (asyncio, C/C)"
        ),
        ClientKind(
            "openai-asyncio",
            "asyncio",
            _openai,
            underlying="httpx2-asyncio",
            label="openai AsyncOpenAI (defaults)",
        ),
    )
}


# -- driving ---------------------------------------------------------------------------


@dataclass(slots=True)
class RunResult:
    """What one run measured (after warm-up)."""

    client: str
    concurrency: int
    requests: int
    wall_s: float
    cpu_s: float
    errors: int
    first_error: str | None


async def _drive(send: Send, total: int, concurrency: int) -> tuple[int, str | None]:
    """C workers pull from one shared counter until ``total`` requests are done."""
    remaining = total
    errors = 0
    first_error: str | None = None

    async def worker() -> None:
        nonlocal remaining, errors, first_error
        while remaining > 0:
            remaining -= 1
            try:
                await send()
            except Exception as exc:
                errors += 1
                if first_error is None:
                    first_error = f"{type(exc).__name__}: {exc}"[:300]

    async with anyio.create_task_group() as group:
        for _ in range(min(concurrency, total)):
            group.start_soon(worker)
    return errors, first_error


async def run(
    kind: ClientKind,
    base: str,
    concurrency: int,
    requests: int,
    warmup: int,
    profile: str | None,
) -> RunResult:
    """Warm up (at least one request per connection), then measure wall and CPU time."""
    async with kind.factory(base, concurrency) as send:
        await _drive(send, max(warmup, concurrency), concurrency)
        gc.collect()
        profiler: Any = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        errors, first_error = await _drive(send, requests, concurrency)
        wall1, cpu1 = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
    return RunResult(
        kind.name, concurrency, requests, wall1 - wall0, cpu1 - cpu0, errors, first_error
    )


def _settle_allocator() -> None:
    """Put glibc's malloc in the same state in every worker, whatever it imported.

    asyncio's socket transport reads with ``recv(256 KiB)``: a buffer past malloc's mmap
    threshold (128 KiB at start), so unless the heap has a free chunk that large, every
    read is an mmap, an mremap to shrink it and an munmap when freed: three system calls
    and a page fault, some 60 µs of kernel CPU per request here. Whether the heap has one
    depends on how much the process imported and freed before: the raw native client
    (few imports) paid it on every request, sluicegate (many) did not, so the raw
    transport measured dearer than sluicegate on top of it. Freeing one mmapped 1 MiB
    block raises the threshold past 256 KiB (glibc adjusts it to the largest mmapped
    block freed), for every client alike.
    """
    block = bytearray(1 << 20)
    del block


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--client", choices=sorted(CLIENTS), required=True)
    parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8123")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    parser.add_argument("--uvloop", action="store_true", help="run asyncio clients on uvloop")
    parser.add_argument("--profile", default=None, help="write cProfile stats of the run here")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    kind = CLIENTS[args.client]
    _settle_allocator()
    options: dict[str, Any] = {}
    if kind.backend == "asyncio" and args.uvloop:
        options["use_uvloop"] = True
    result = anyio.run(
        run,
        kind,
        args.base_url,
        args.concurrency,
        args.requests,
        args.warmup,
        args.profile,
        backend=kind.backend,
        backend_options=options,
    )
    json.dump(asdict(result), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
