"""The deadline stage: one limit over every attempt, wait and stream read of a request."""

from __future__ import annotations

import random
import time

import anyio
import pytest

from retry.helpers import (
    OTHER_STAGES,
    PROVIDERS,
    ClockedTransport,
    CountingClock,
    Spy,
    error,
    jumping,
    make_client,
    ok,
    stage_specs,
    stream_ok,
)
from sluicegate import Client, Phase, ProviderError, RequestTimeoutError, StreamError, TextDelta
from sluicegate.chain import ChainContext
from sluicegate.clock import AnyioClock, FakeClock
from sluicegate.errors import ConfigError
from sluicegate.middleware import deadline as deadline_stage
from sluicegate.middleware.deadline import (
    DEADLINE_EXCEEDED,
    DeadlineMiddleware,
    DeadlinePolicy,
    DefaultDeadlineMiddleware,
)
from sluicegate.observers import Observers
from sluicegate.testing import Answer, openai_sse

pytestmark = pytest.mark.anyio

MODEL = "openai/gpt-4o-mini"


async def test_a_hanging_attempt_ends_exactly_at_the_deadline() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, Answer(hang=True))
    deadline = clock.now() + 30
    async with make_client(transport, clock) as client:
        with pytest.raises(RequestTimeoutError) as info:
            await jumping(clock, lambda: client.chat(MODEL, "hi", deadline=deadline))
    assert clock.now() == deadline
    assert info.value.error_type == DEADLINE_EXCEEDED and not info.value.retryable
    assert info.value.provider == "openai" and info.value.model == "gpt-4o-mini"
    assert len(transport.requests) == 1


async def test_the_deadline_covers_retries_and_their_waits() -> None:
    clock = FakeClock()
    transport = ClockedTransport(
        clock, error(500, None, {"retry-after": "4"}), error(503), Answer(hang=True)
    )
    deadline = clock.now() + 10
    async with make_client(transport, clock) as client:
        with pytest.raises(RequestTimeoutError):
            await jumping(clock, lambda: client.chat(MODEL, "hi", deadline=deadline))
    assert len(transport.requests) == 3  # two failures, then the hang the deadline ends
    assert transport.times[1] == 1_004.0
    assert clock.now() == deadline


async def test_retry_gives_up_with_the_real_error_when_no_time_is_left_to_wait() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(503, None, {"retry-after": "3"}), ok())
    async with make_client(transport, clock, deadline=DeadlinePolicy(total=2.5)) as client:
        with pytest.raises(ProviderError) as info:
            await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert info.value.status == 503 and not isinstance(info.value, RequestTimeoutError)
    assert len(transport.requests) == 1 and clock.now() == 1_000.0


async def test_a_client_default_total_stamps_the_deadline_for_inner_stages() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, Answer(hang=True))
    spy = Spy()
    extra = [spy.spec("spy", Phase.RETRY + 1)]
    async with make_client(transport, clock, deadline=7.5, extra=extra) as client:
        with pytest.raises(RequestTimeoutError, match=r"7\.5s"):
            await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert spy.requests[0].metadata.deadline == 1_007.5
    assert clock.now() == 1_007.5


async def test_a_request_deadline_wins_over_the_client_default() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, Answer(hang=True))
    async with make_client(transport, clock, deadline={"total": 100}) as client:
        with pytest.raises(RequestTimeoutError):
            await jumping(clock, lambda: client.chat(MODEL, "hi", deadline=clock.now() + 3))
    assert clock.now() == 1_003.0


async def test_total_timeout_per_client_and_per_call_in_seconds() -> None:
    """The friendly forms: ``Client(total_timeout=)`` and a call's ``total_timeout=``
    (seconds from now on the client's clock), the call's winning."""
    clock = FakeClock()
    transport = ClockedTransport(clock, Answer(hang=True))
    async with Client(
        providers=PROVIDERS,
        transport=transport,
        load_entry_points=False,
        middleware=stage_specs(),
        disable=OTHER_STAGES,
        clock=clock,
        rng=random.Random(1),
        total_timeout=20,
    ) as client:
        with pytest.raises(RequestTimeoutError):
            await jumping(clock, lambda: client.chat(MODEL, "hi"))
        assert clock.now() == 1_020.0
        with pytest.raises(RequestTimeoutError):
            await jumping(clock, lambda: client.chat(MODEL, "hi", total_timeout=2.5))
        assert clock.now() == 1_022.5
        with pytest.raises(ConfigError, match="total_timeout"):
            await client.chat(MODEL, "hi", total_timeout=-1)


async def test_a_deadline_already_passed_sends_nothing() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, ok())
    async with make_client(transport, clock) as client:
        with pytest.raises(RequestTimeoutError, match="before it was sent"):
            await client.chat(MODEL, "hi", deadline=clock.now() - 1)
    assert transport.requests == []


async def test_an_answer_within_the_deadline_passes_untouched() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, ok("in time"), latency=2.0)
    async with make_client(transport, clock) as client:
        response = await jumping(clock, lambda: client.chat(MODEL, "hi", deadline=clock.now() + 3))
    assert response.text == "in time" and clock.now() == 1_002.0


async def test_requests_without_a_deadline_cost_no_clock_read() -> None:
    clock = CountingClock()
    transport = ClockedTransport(FakeClock(), ok())
    async with make_client(transport, clock) as client:
        reads = clock.reads
        await client.chat(MODEL, "hi")
        assert clock.reads == reads


async def test_a_stream_whose_first_event_never_comes_times_out() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, Answer(200, {}, [], hang=True))

    async def read() -> None:
        async with client.stream(MODEL, "hi", deadline=clock.now() + 5) as stream:
            await stream.final_response()

    async with make_client(transport, clock) as client:
        with pytest.raises(RequestTimeoutError) as info:
            await jumping(clock, read)
    assert info.value.error_type == DEADLINE_EXCEEDED and clock.now() == 1_005.0
    assert transport.streams[0].closed


async def test_a_stream_hanging_mid_way_raises_a_stream_error_with_the_partial_text() -> None:
    clock = FakeClock()
    chunks = openai_sse(["Hello ", "wor"], done=False)[:2]
    transport = ClockedTransport(clock, Answer(200, {}, chunks, hang=True))
    received: list[str] = []

    async def read() -> None:
        async with client.stream(MODEL, "hi", deadline=clock.now() + 5) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    received.append(event.text)

    async with make_client(transport, clock) as client:
        with pytest.raises(StreamError) as info:
            await jumping(clock, read)
    assert received == ["Hello ", "wor"]
    assert info.value.partial_text == "Hello wor"
    assert info.value.error_type == DEADLINE_EXCEEDED and not info.value.retryable
    assert clock.now() == 1_005.0
    assert len(transport.requests) == 1  # a stream that delivered text is never retried


async def test_a_stream_read_in_time_is_complete() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, stream_ok("a", "b"), latency=1.0)

    async def read() -> str:
        async with client.stream(MODEL, "hi", deadline=clock.now() + 5) as stream:
            return (await stream.final_response()).text

    async with make_client(transport, clock) as client:
        assert await jumping(clock, read) == "ab"


async def test_on_the_loop_clock_a_cancel_scope_enforces_the_deadline() -> None:
    clock = AnyioClock()
    transport = ClockedTransport(clock, Answer(hang=True))
    started = time.perf_counter()
    async with make_client(transport, clock) as client:
        with pytest.raises(RequestTimeoutError):
            await client.chat(MODEL, "hi", deadline=clock.now() + 0.05)
    assert time.perf_counter() - started < 5


async def test_on_the_loop_clock_a_stream_hanging_mid_way_is_cut_at_the_deadline() -> None:
    clock = AnyioClock()
    chunks = openai_sse(["par"], done=False)[:1]
    transport = ClockedTransport(clock, Answer(200, {}, chunks, hang=True))
    async with make_client(transport, clock) as client:
        with pytest.raises(StreamError) as info:
            async with client.stream(MODEL, "hi", deadline=clock.now() + 0.05) as stream:
                await stream.final_response()
    assert info.value.partial_text == "par"


async def test_cancellation_from_outside_is_not_turned_into_a_timeout() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, Answer(hang=True))
    async with make_client(transport, clock) as client:
        with anyio.CancelScope() as scope:

            async def cancel_soon() -> None:
                await anyio.wait_all_tasks_blocked()
                scope.cancel()

            async with anyio.create_task_group() as group:
                group.start_soon(cancel_soon)
                await client.chat(MODEL, "hi", deadline=clock.now() + 60)
        assert scope.cancelled_caught


async def test_errors_inside_the_deadline_pass_through_as_they_are() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(400))
    async with make_client(transport, clock) as client:
        with pytest.raises(ProviderError) as info:
            await jumping(clock, lambda: client.chat(MODEL, "hi", deadline=clock.now() + 60))
    assert info.value.status == 400


def _build(setting: object) -> object:
    context = ChainContext(
        providers={}, observers=Observers(), settings={"deadline": setting}, clock=FakeClock()
    )
    return deadline_stage.build(context)


def test_settings_forms() -> None:
    assert type(_build(None)) is DeadlineMiddleware
    assert type(_build(True)) is DeadlineMiddleware
    assert _build(False) is None
    assert type(_build(30)) is DefaultDeadlineMiddleware
    assert type(_build({"total": 30.0})) is DefaultDeadlineMiddleware
    assert type(_build(DeadlinePolicy())) is DeadlineMiddleware
    for bad in (0, -1, float("nan"), {"seconds": 3}, "soon"):
        with pytest.raises(ConfigError):
            _build(bad)


async def test_the_stage_is_left_out_when_turned_off() -> None:
    clock = FakeClock()
    async with make_client(ClockedTransport(clock, ok()), clock, deadline=False) as client:
        assert "deadline" not in client.stages
