"""Deadlines on the default (event loop's) clock: kept below the chain, per attempt.

On the loop's clock no cancel scope is opened around a request: each attempt's transport
gets the time left as ``timeouts.total`` (see sluicegate.middleware.deadline), and the
waits above it (retry's backoff, the rate limiter's queue after a first attempt) end
there. These check what reaches the transport and what a request that runs out of time
raises. The hangs are bounded by deadlines of a tenth of a second, with a guard of
seconds around each, as the suite's other loop-clock tests.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from sluicegate import Client, ProviderSettings, RequestTimeoutError, StreamError
from sluicegate.clock import FakeClock
from sluicegate.limits import Limit, RateLimits
from sluicegate.middleware.deadline import QUEUED_PAST
from sluicegate.testing import Answer, ScriptedTransport, openai_completion, openai_sse

pytestmark = pytest.mark.anyio

MODEL = "openai/gpt-4o-mini"
OK = Answer.json(200, openai_completion("hi"))


def _client(transport: ScriptedTransport, **options: Any) -> Client:
    return Client(
        providers={"openai": ProviderSettings(base_url="http://127.0.0.1:9/v1", api_key="sk-x")},
        transport=transport,
        load_entry_points=False,
        **options,
    )


def _totals(transport: ScriptedTransport) -> list[float | None]:
    return [r.timeouts.total if r.timeouts is not None else None for r in transport.requests]


async def test_each_attempt_carries_the_time_left_before_the_deadline() -> None:
    transport = ScriptedTransport(Answer.json(500, {"error": {"message": "busy"}}), OK)
    async with _client(transport, stage_settings={"retry": {"base": 0.01}}) as client:
        await client.chat(MODEL, "hi", total_timeout=30.0)
    first, second = _totals(transport)
    assert first is not None and second is not None
    assert 29.0 < second < first <= 30.0


async def test_the_client_default_total_timeout_reaches_the_transport() -> None:
    transport = ScriptedTransport(OK)
    async with _client(transport) as client:
        await client.chat(MODEL, "hi")
    (total,) = _totals(transport)
    assert total is not None and 599.0 < total <= 600.0


async def test_no_total_without_a_deadline_or_with_the_stage_off() -> None:
    transport = ScriptedTransport(OK)
    async with _client(transport, total_timeout=None) as client:
        await client.chat(MODEL, "hi")
    async with _client(transport, stage_settings={"deadline": False}, total_timeout=None) as client:
        await client.chat(MODEL, "hi", total_timeout=5.0)
    assert _totals(transport) == [None, None]


async def test_a_virtual_clock_keeps_its_deadlines_itself() -> None:
    """A FakeClock's time is not the loop's, so a transport timer cannot keep it: the
    deadline stage's watchdog does (tests/middleware/test_deadline.py)."""
    transport = ScriptedTransport(OK)
    async with _client(transport, clock=FakeClock()) as client:
        await client.chat(MODEL, "hi")
    assert _totals(transport) == [None]


async def test_a_hang_ends_at_the_deadline_as_the_deadlines_error() -> None:
    transport = ScriptedTransport(Answer(hang=True))
    async with _client(transport) as client:
        started = anyio.current_time()
        with anyio.fail_after(5), pytest.raises(RequestTimeoutError) as caught:
            await client.chat(MODEL, "hi", total_timeout=0.1)
    assert caught.value.error_type == "deadline_exceeded"
    assert not caught.value.retryable
    assert anyio.current_time() - started >= 0.1 - 1e-3
    assert len(transport.requests) == 1  # not retried: no time was left


async def test_the_default_total_timeout_is_named_in_the_error() -> None:
    transport = ScriptedTransport(Answer(hang=True))
    async with _client(transport, total_timeout=0.1) as client:
        with anyio.fail_after(5), pytest.raises(RequestTimeoutError) as caught:
            await client.chat(MODEL, "hi")
    assert "total_timeout (0.1s)" in caught.value.message


async def test_a_stream_cut_by_its_deadline_keeps_the_text_received() -> None:
    transport = ScriptedTransport(Answer(200, {}, openai_sse(["par"], done=False)[:1], hang=True))
    async with _client(transport) as client:
        with anyio.fail_after(5), pytest.raises(StreamError) as caught:
            async with client.stream(MODEL, "hi", total_timeout=0.1) as stream:
                await stream.final_response()
    assert caught.value.error_type == "deadline_exceeded"
    assert caught.value.partial_text == "par"
    assert all(s.closed for s in transport.streams)


async def test_a_stream_without_a_first_event_is_a_request_timeout() -> None:
    transport = ScriptedTransport(Answer(200, {}, (), hang=True))
    async with _client(transport) as client:
        with anyio.fail_after(5), pytest.raises(RequestTimeoutError) as caught:
            async with client.stream(MODEL, "hi", total_timeout=0.1) as stream:
                await stream.final_response()
    assert caught.value.error_type == "deadline_exceeded"
    assert "first event" in caught.value.message


async def test_a_callers_deadline_ends_its_wait_in_the_clients_own_queue() -> None:
    """Concurrency 1, the one slot held by a call that hangs: a second call with a short
    deadline gives up in the queue at its deadline, having sent nothing."""
    release = anyio.Event()

    async def held(_: object) -> Answer:
        await release.wait()
        return OK

    transport = ScriptedTransport(held, OK)
    limits = RateLimits(rules=[Limit("openai/*", concurrency=1)])
    async with _client(transport, stage_settings={"rate_limit": limits}) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.chat, MODEL, "first")
            await anyio.wait_all_tasks_blocked()
            with anyio.fail_after(5), pytest.raises(RequestTimeoutError) as caught:
                await client.chat(MODEL, "second", total_timeout=0.1)
            release.set()
    assert caught.value.error_type == "deadline_exceeded"
    assert caught.value.message.endswith(QUEUED_PAST)
    assert len(transport.requests) == 1
