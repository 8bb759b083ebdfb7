"""The client's default total deadline (600 s) against the client's own rate-limit queue.

A bulk run with a high concurrency at a low rate (``-c 200 --rpm 6``) keeps lines in the
client's own pacing queue far longer than 600 s, by design. That wait is not the
request's: the default deadline's clock stops while the first attempt waits in the queue
and starts, a whole ``total_timeout``, when the queue lets it through. A deadline the
caller gave is absolute and keeps counting. All on virtual time.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from sluicegate import Client, ProviderSettings
from sluicegate.errors import RateLimitedError, RequestTimeoutError, SluicegateError
from sluicegate.limits import Limit, RateLimits
from sluicegate.transports.memory import MemoryTransport

from .helpers import BASE_URL, KEY, QUIET, mock_app
from .virtual_time import VirtualClock

pytestmark = pytest.mark.anyio

MODEL = "openai/gpt-4o-mini"


def _client(clock: VirtualClock, rpm: int, **config: Any) -> Client:
    return Client(
        providers={"openai": ProviderSettings(base_url=BASE_URL, api_key=KEY)},
        transport=MemoryTransport(mock_app(clock, **config)),
        clock=clock,
        concurrency=200,
        load_entry_points=False,
        logger=QUIET,
        stage_settings={"rate_limit": RateLimits(rules=[Limit("openai/*", rpm=rpm)])},
    )


async def _all(client: Client, clock: VirtualClock, count: int, **params: Any) -> list[Any]:
    """``count`` requests at once; each one's response or error, in order."""
    outcomes: list[Any] = [None] * count

    async def one(index: int) -> None:
        try:
            outcomes[index] = await client.chat(MODEL, f"line {index}", **params)
        except SluicegateError as exc:
            outcomes[index] = exc

    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        async with client:
            async with anyio.create_task_group() as callers:
                for index in range(count):
                    callers.start_soon(one, index)
        group.cancel_scope.cancel()
    return outcomes


async def test_a_long_wait_in_the_clients_own_queue_does_not_fail_requests(
    anyio_backend: str,
) -> None:
    clock = VirtualClock(start=1_000.0)
    client = _client(clock, rpm=6)
    outcomes = await _all(client, clock, 100)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert errors == []
    # the last request left the queue ~16 minutes in: far past the 600 s default
    assert clock.now() - 1_000.0 > 900


async def test_the_default_deadline_still_bounds_the_request_once_admitted(
    anyio_backend: str,
) -> None:
    clock = VirtualClock(start=1_000.0)
    client = _client(clock, rpm=6, latency_s=700.0)
    outcomes = await _all(client, clock, 3)
    for outcome in outcomes:
        assert isinstance(outcome, RequestTimeoutError), outcome
        assert outcome.error_type == "deadline_exceeded"
    # the third left the queue at ~20 s and timed out 600 s after that, not at 600 s
    assert 615 <= clock.now() - 1_000.0 < 700


async def test_a_deadline_the_caller_gave_keeps_counting_in_the_queue(
    anyio_backend: str,
) -> None:
    clock = VirtualClock(start=1_000.0)
    client = _client(clock, rpm=6)
    outcomes = await _all(client, clock, 20, total_timeout=60.0)
    answered = [o for o in outcomes if not isinstance(o, BaseException)]
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    assert 5 <= len(answered) <= 8  # one every 10 s within the minute
    assert all(isinstance(e, RequestTimeoutError | RateLimitedError) for e in failed), failed
