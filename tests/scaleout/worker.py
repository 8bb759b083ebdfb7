"""One process of a scale-out run: one ``sluicegate.Client`` with a rate limit, sending
to the mock server as fast as the limit lets it, for a bounded time and count.

Several of these, on asyncio and on trio, share one limit only if the client shares it
(``--store URL``: passed as ``Client(store=...)``, and only when given, so the harness
also runs against a sluicegate without a shared store, where it must see the limit
multiplied by the number of processes). Whether they kept to the limit is judged from
the mock server's arrival record, never from this summary, which only says what this
process believes it did.

Each request carries ``x-mock-client: <--name>``, which the server records with its
arrival, so each process's share is judged by the server too.

Protocol with the harness (:mod:`scaleout.cluster`), one line each on stdout: ``ready``
once the client is open, then (after ``go`` on stdin) the summary as one JSON object.
Waiting for ``go`` lets every process pay its imports and start-up first, so the run
starts at once for all of them.

Requests are made so that sluicegate's token estimate is exactly the mock's count: the
prompt is three one-letter words (5 characters: ceil(5/4) + 4 = 6 estimated input
tokens; 3 + 3 = 6 counted by the mock) and ``max_tokens`` is the mock's shortest answer
(16 tokens), so every answer is cut to exactly that. A token limit is then judged on
what it was told, with no estimation error for either side to blame.

Run: ``python tests/scaleout/worker.py --backend trio --base-url http://127.0.0.1:PORT
--rps 20 [--burst-s 0.1] [--tpm T] [--concurrency C] [--tasks 8] [--requests 1000]
[--duration-s 3] [--timeout-s 10] [--total-timeout-s 10] [--store redis://...]
[--model mock/fast] [--name worker-0]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio

import sluicegate
from sluicegate import BreakerPolicy, Limit, ModelPrice, ProviderSettings, RateLimits
from sluicegate.stores import RedisStore
from sluicegate.testing.content import MIN_ANSWER_TOKENS

MAX_TOKENS = MIN_ANSWER_TOKENS
"""The mock's shortest natural answer: every answer is cut to it."""


@dataclass
class Summary:
    name: str
    backend: str
    pid: int
    sent: int = 0
    """Calls started (a call may wait in the limiter before its request leaves)."""
    ok: int = 0
    cancelled: int = 0
    """Calls still waiting or in flight when the run's time was up."""
    errors: dict[str, int] = field(default_factory=dict)
    """Failed calls by exception type."""
    go_ns: int = 0
    """``time.monotonic_ns()`` when ``go`` was read (the server's arrival clock)."""
    end_ns: int = 0
    spent: float | None = None
    """What this process's client budget counts as spent (``--budget``)."""


def prompt(serial: int) -> str:
    """Three one-letter words: 6 input tokens by sluicegate's estimate and the mock's count."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return " ".join(letters[(serial // 26**i) % 26] for i in range(3))


def has_limit(args: argparse.Namespace) -> bool:
    return any(v is not None for v in (args.rps, args.tpm, args.concurrency))


def limit(args: argparse.Namespace) -> Limit:
    return Limit(
        "mock/*",
        rpm=round(args.rps * 60) if args.rps else None,
        tpm=args.tpm,
        concurrency=args.concurrency,
        burst_s=args.burst_s,
    )


def client(args: argparse.Namespace) -> sluicegate.Client:
    options: dict[str, Any] = {}
    stages: dict[str, Any] = {}
    if args.budget is not None:
        price = args.price_per_mtok
        options["budget"] = args.budget
        options["prices"] = [ModelPrice(args.model, price, price)]
    if args.breaker_min is not None:
        stages["breaker"] = BreakerPolicy(
            min_throughput=args.breaker_min, failure_ratio=0.5, break_s=args.breaker_break_s
        )
    if args.no_retry:
        options["disable"] = ["retry"]
    if args.store:
        # only when given: without it, per-process limits
        options["store"] = (
            RedisStore(args.store, lease_s=args.lease_s) if args.lease_s else args.store
        )
    return sluicegate.Client(
        providers={"mock": ProviderSettings(base_url=f"{args.base_url}/v1")},
        concurrency=args.tasks,
        load_entry_points=False,
        timeout=args.timeout_s,
        total_timeout=args.total_timeout_s,
        # Only the configured rule: the mock never refuses, so adaptive pacing would have
        # nothing to learn, and the run measures the rule alone.
        stage_settings={
            "rate_limit": RateLimits(
                rules=[limit(args)] if has_limit(args) else [], adaptive=False
            ),
            **stages,
        },
        **options,
    )


async def run(args: argparse.Namespace) -> Summary:
    summary = Summary(args.name, args.backend, os.getpid())
    tag = {"x-mock-client": args.name}
    errors: Counter[str] = Counter()
    serials = itertools.count()
    async with client(args) as sg:
        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        summary.go_ns = time.monotonic_ns()
        if args.start_after_s:
            await anyio.sleep(args.start_after_s)
        keyed = {"idempotency_key": args.idempotency_key} if args.idempotency_key else {}

        async def sender() -> None:
            while (serial := next(serials)) < args.requests:
                summary.sent += 1
                try:
                    text = "one shared question" if keyed else prompt(serial)
                    await sg.chat(args.model, text, max_tokens=MAX_TOKENS, headers=tag, **keyed)
                except anyio.get_cancelled_exc_class():
                    summary.cancelled += 1
                    raise
                except Exception as exc:
                    errors[type(exc).__name__] += 1
                else:
                    summary.ok += 1

        with anyio.move_on_after(args.duration_s):
            async with anyio.create_task_group() as group:
                for _ in range(args.tasks):
                    group.start_soon(sender)
        summary.end_ns = time.monotonic_ns()
        if sg.budget is not None:
            summary.spent = sg.budget.spent
    summary.errors = dict(errors)
    return summary


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["asyncio", "trio"], required=True)
    parser.add_argument("--base-url", required=True, help="the mock server, without /v1")
    parser.add_argument("--rps", type=float, default=None, help="requests a second (as rpm)")
    parser.add_argument("--burst-s", type=float, default=0.1)
    parser.add_argument("--tpm", type=int, default=None, help="tokens a minute")
    parser.add_argument("--concurrency", type=int, default=None, help="the limit's, shared")
    parser.add_argument("--tasks", type=int, default=8, help="calls this process keeps going")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--duration-s", type=float, default=3.0)
    parser.add_argument("--timeout-s", type=float, default=10.0, help="per attempt")
    parser.add_argument("--total-timeout-s", type=float, default=10.0, help="per request")
    parser.add_argument("--name", default=None, help="sent as x-mock-client (default: pid)")
    parser.add_argument("--store", default=None)
    parser.add_argument("--lease-s", type=float, default=None)
    parser.add_argument("--model", default="mock/fast")
    parser.add_argument("--idempotency-key", default=None, help="sent with every request")
    parser.add_argument("--budget", type=float, default=None, help="the client's, in USD")
    parser.add_argument("--price-per-mtok", type=float, default=1000.0, help="with --budget")
    parser.add_argument("--breaker-min", type=int, default=None, help="calls before opening")
    parser.add_argument("--breaker-break-s", type=float, default=30.0)
    parser.add_argument("--no-retry", action="store_true", help="fail at the first error")
    parser.add_argument("--start-after-s", type=float, default=0.0, help="wait after go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    args.name = args.name or f"{args.backend}-{os.getpid()}"
    summary = anyio.run(run, args, backend=args.backend)
    print(json.dumps(asdict(summary)), flush=True)


if __name__ == "__main__":
    main()
