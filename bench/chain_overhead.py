"""sluicegate's own CPU per request, without any network: where the overhead goes.

http_clients.py compares whole clients through real sockets, which on a shared 2-core
machine is noisy by tens of percent. This measures only what sluicegate adds above its
transport: the Client's default chain with a transport that answers at once with a fixed
body, in one process pinned to one core, many requests, best of several rounds. It then
times each piece of the hot path on its own (building the Request, auth's copy, encode,
decode, the loggers, the latency stamp, and what a timeout scope would cost), so a
regression or a target miss can be pinned to a line. ``--profile`` adds a cProfile
listing of the chain. ``--stream`` also times streamed calls: a stream of no deltas and
one of ``STREAM_DELTAS``, with every stage that wraps a stream engaged (a caller's
idempotency key and a concurrency limit, which the default chain would leave unwrapped),
so the difference divided by the deltas is the chain's cost per streamed event.

Run: ``python bench/chain_overhead.py`` (about 20 s).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import time
from collections.abc import Callable
from typing import Any

import anyio

import sluicegate
from sluicegate.transports.base import HttpRequest, HttpResponse

API_KEY = "sk-bench-key-0123456789abcdef"
MODEL = "openai/gpt-bench"
MESSAGES: list[dict[str, str]] = [{"role": "user", "content": "hello"}]
BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1_764_000_000,
        "model": "gpt-bench",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! A fixed answer."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 10, "total_tokens": 19},
    }
).encode()


STREAM_DELTAS = 40
"""Text deltas in the long bench stream (each its own chunk, so each is one event)."""


def _sse(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _stream_chunks(deltas: int) -> tuple[bytes, ...]:
    """An OpenAI-style stream: ``deltas`` one-word text chunks, then the finish and usage
    chunk and ``[DONE]``."""
    chunks = [
        _sse({"choices": [{"index": 0, "delta": {"content": "word "}}]}) for _ in range(deltas)
    ]
    chunks.append(
        _sse(
            {
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 9, "completion_tokens": deltas, "total_tokens": 9},
            }
        )
    )
    chunks.append(b"data: [DONE]\n\n")
    return tuple(chunks)


class NullStream:
    """A streamed body already in memory: one chunk per read, no waiting."""

    status = 200
    headers = {"content-type": "text/event-stream"}

    def __init__(self, chunks: tuple[bytes, ...]) -> None:
        self._chunks = chunks

    async def iter_bytes(self) -> Any:
        for chunk in self._chunks:
            yield chunk

    async def read(self) -> bytes:
        return b"".join(self._chunks)

    async def aclose(self) -> None:
        return None


class NullTransport:
    """Answers every request at once with the same body: the chain's cost alone.
    Streamed requests get ``stream_chunks`` (the long stream unless set otherwise)."""

    name = "null"
    enforces_total = True  # it answers at once: no exchange to bound (as aiohttp's timer)

    def __init__(self) -> None:
        self._response = HttpResponse(200, {"content-type": "application/json"}, BODY)
        self.stream_chunks = _stream_chunks(STREAM_DELTAS)

    async def send(self, request: HttpRequest) -> HttpResponse:
        return self._response

    async def open_stream(self, request: HttpRequest) -> Any:
        return NullStream(self.stream_chunks)

    async def aclose(self) -> None:
        return None


def _client(
    disable: tuple[str, ...] = (),
    stage_settings: dict[str, Any] | None = None,
    transport: NullTransport | None = None,
) -> sluicegate.Client:
    return sluicegate.Client(
        providers={
            "openai": sluicegate.ProviderSettings(base_url="http://127.0.0.1:9/v1", api_key=API_KEY)
        },
        concurrency=1,
        transport=transport or NullTransport(),
        # a price for the bench model, so the cost stage does its usual work per request
        prices=[sluicegate.ModelPrice(MODEL, 0.15, 0.60, cached_input_per_mtok=0.075)],
        disable=disable,
        stage_settings=stage_settings,
    )


def _best_us(fn: Callable[[], object], n: int, rounds: int) -> float:
    """Best-of-rounds CPU µs per call of a synchronous piece."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


async def _best_async_us(fn: Callable[[], Any], n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(n):
            await fn()
        best = min(best, time.process_time() - t0)
    return best / n * 1e6


async def measure_streams(n: int, rounds: int, disable: tuple[str, ...]) -> dict[str, float]:
    """CPU µs per streamed call (read to its end), short and long, every stream stage on."""
    out: dict[str, float] = {}
    # a limit far above the bench's pace: the limiter admits and settles every stream
    limits = [sluicegate.Limit("*", concurrency=1_000_000)]
    transport = NullTransport()
    async with _client(disable, {"rate_limit": limits}, transport) as client:
        keys = iter(range(1 << 62))

        async def stream() -> None:
            key = f"bench-{next(keys)}"  # a caller's key: idempotency records the stream
            async with client.stream(MODEL, MESSAGES, max_tokens=16, idempotency_key=key) as s:
                async for _ in s:
                    pass

        totals = {}
        for deltas in (0, STREAM_DELTAS):
            transport.stream_chunks = _stream_chunks(deltas)
            for _ in range(200):
                await stream()
            gc.collect()
            totals[deltas] = await _best_async_us(stream, n, rounds)
            out[f"client.stream() read to its end, {deltas} deltas"] = totals[deltas]
        per_event = (totals[STREAM_DELTAS] - totals[0]) / STREAM_DELTAS
        out["  per streamed event (difference / deltas)"] = per_event
    return out


async def measure(
    n: int, rounds: int, profile: bool, disable: tuple[str, ...] = ()
) -> dict[str, float]:
    """CPU µs per request of the whole chain and of each piece of the hot path."""
    out: dict[str, float] = {}
    async with _client(disable) as client:

        async def chat() -> None:
            await client.chat(MODEL, MESSAGES, max_tokens=16)

        for _ in range(200):
            await chat()
        gc.collect()
        out["client.chat() total"] = await _best_async_us(chat, n, rounds)

        def baseline() -> None:
            # What every raw client in http_clients.py does outside HTTP.
            body = json.dumps({"model": "gpt-bench", "messages": MESSAGES, "max_tokens": 16})
            json.loads(BODY)["choices"][0]["message"]["content"]
            del body

        out["raw client's own JSON work (dumps + loads)"] = _best_us(baseline, n, rounds)

        # The pieces, through the client's internals (they may move; skip what is gone).
        pieces: dict[str, Callable[[], object]] = {}
        try:
            request = client._request(MODEL, MESSAGES, {"max_tokens": 16}, False)
            bound = client._providers["openai"]
            codec = bound.codec
            key = bound.credential
            with_key = request.replace(credential=key)
            http_request = codec.encode(with_key)
            http_response = HttpResponse(200, {}, BODY)
            response = codec.decode(with_key, http_response)
            pieces["Client._request (Request, Messages, Params, Metadata, id)"] = lambda: (
                client._request(MODEL, MESSAGES, {"max_tokens": 16}, False)
            )
            pieces["auth: request.replace(credential=...)"] = lambda: request.replace(
                credential=key
            )
            pieces["OpenAIProvider.encode"] = lambda: codec.encode(with_key)
            pieces["OpenAIProvider.decode"] = lambda: codec.decode(with_key, http_response)
            pieces["send: response.replace(latency=...)"] = lambda: response.replace(latency=0.1)
            from sluicegate.cost.ledger import Ledger
            from sluicegate.cost.rates import CostRates

            rates = CostRates.of(client.prices.lookup(MODEL))  # type: ignore[arg-type]
            ledger = Ledger()
            pieces["cost: CostRates.cost(usage)"] = lambda: rates.cost(response.usage)
            pieces["cost: Ledger.record(model, tags, usage, cost)"] = lambda: ledger.record(
                MODEL, (), response.usage, 1.9e-06
            )
            pieces["json.loads(body) alone"] = lambda: json.loads(BODY)
            del http_request
        except (AttributeError, KeyError, TypeError) as exc:
            out[f"pieces skipped ({type(exc).__name__}: {exc})"] = 0.0
        for name, fn in pieces.items():
            out[name] = _best_us(fn, n, rounds)

        def timeout_scope() -> None:
            with anyio.fail_after(120):  # noqa: ASYNC100 - timing the scope itself
                pass

        out["anyio.fail_after(120) enter+exit (what a per-request timeout scope costs)"] = _best_us(
            timeout_scope, n, rounds
        )

        try:
            from sluicegate.logs import get_logger

            log = get_logger()
            out["logging: filtered log.info (request.finished)"] = _best_us(
                lambda: log.info(
                    "request.finished",
                    request_id="req_1",
                    model=MODEL,
                    answered_by=MODEL,
                    status="ok",
                    latency_s=0.001,
                    attempts=1,
                    input_tokens=9,
                    output_tokens=10,
                    cached_tokens=0,
                ),
                n,
                rounds,
            )
        except ImportError:
            pass
        out["time.perf_counter()"] = _best_us(time.perf_counter, n, rounds)

        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(n):
                await chat()
            profiler.disable()
            stats = pstats.Stats(profiler)
            print("\n--- cProfile of client.chat() over a null transport, by tottime ---")
            stats.sort_stats("tottime").print_stats(25)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=0, help="pin to this core (-1: no pinning)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--stream", action="store_true", help="also time streamed calls (see the docstring)"
    )
    parser.add_argument(
        "--disable",
        action="append",
        default=[],
        help="leave a stage out (repeat), e.g. --disable cost to see what it adds",
    )
    args = parser.parse_args(argv)
    if args.cpu >= 0 and args.cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {args.cpu})
    for backend in ("asyncio", "trio"):
        results = anyio.run(
            measure, args.requests, args.rounds, args.profile, tuple(args.disable), backend=backend
        )
        without = f", without {', '.join(args.disable)}" if args.disable else ""
        print(f"\n{backend}: CPU µs per request, best of {args.rounds} x {args.requests}{without}")
        for name, us in results.items():
            print(f"  {us:8.2f}  {name}")
        if args.stream:
            streams = anyio.run(
                measure_streams,
                max(args.requests // 10, 1),
                args.rounds,
                tuple(args.disable),
                backend=backend,
            )
            print(f"{backend}: streamed calls, best of {args.rounds} x {args.requests // 10}")
            for name, us in streams.items():
                print(f"  {us:8.2f}  {name}")


if __name__ == "__main__":
    main()
