"""The retry stage through a real client, on both backends, in virtual time."""

from __future__ import annotations

import json
import random

import anyio
import pytest
import structlog

from retry.helpers import (
    ClockedTransport,
    CountingClock,
    Spy,
    error,
    jumping,
    make_client,
    ok,
    stage_of,
    stream_cut_after,
    stream_error_event,
    stream_ok,
)
from sluicegate import (
    Client,
    Done,
    Phase,
    ProviderError,
    RateLimitedError,
    StreamError,
    TextDelta,
    TransportError,
)
from sluicegate.clock import FakeClock
from sluicegate.errors import AuthenticationError, ConfigError
from sluicegate.retry import stage as retry_stage
from sluicegate.retry.stage import RetryMiddleware, RetryPolicy
from sluicegate.testing import Answer
from sluicegate.transports.base import TransportFailure

pytestmark = pytest.mark.anyio

MODEL = "openai/gpt-4o-mini"


async def test_a_5xx_is_retried_and_the_attempts_are_stamped() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(503), error(500), ok("third time"))
    spy = Spy()
    async with make_client(transport, clock, extra=[spy.spec("spy", Phase.ATTEMPT)]) as client:
        response = await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert response.text == "third time"
    assert response.attempts == 3
    assert [r.metadata.attempt for r in spy.requests] == [1, 2, 3]
    assert len({r.metadata.request_id for r in spy.requests}) == 1
    # full jitter under the doubling ceiling: [0, 0.5) then [0, 1)
    first, second = transport.waits
    assert 0 <= first < 0.5 and 0 <= second < 1.0


async def test_retry_after_is_honoured_exactly() -> None:
    clock = FakeClock()
    transport = ClockedTransport(
        clock,
        error(429, "rate_limit_exceeded", {"retry-after": "7"}),
        error(503, None, {"retry-after-ms": "1500"}),
        error(429, "rate_limit_exceeded", {"retry-after": "0"}),
        ok(),
    )
    async with make_client(transport, clock) as client:
        response = await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert response.attempts == 4
    assert transport.waits[:2] == [7.0, 1.5]
    # ``Retry-After: 0`` (LiteLLM's) names no wait: a jittered backoff for retry 3, whose
    # ceiling is 0.5 * 2**2 s, instead of an instant retry into the same wall
    assert 0.0 < transport.waits[2] < 2.0


async def test_a_wait_longer_than_max_retry_after_is_not_slept_on() -> None:
    """``Retry-After: 3600`` with a 45 s cap: no retry, the error raised at once with the
    whole wait on it (a bulk run sets the model aside until then)."""
    clock = FakeClock()
    transport = ClockedTransport(clock, error(429, None, {"retry-after": "3600"}), ok())
    async with make_client(transport, clock, retry={"max_retry_after": 45}) as client:
        with pytest.raises(RateLimitedError) as caught:
            await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert caught.value.retry_after == 3600.0
    assert "longer than max_retry_after (45s)" in "".join(caught.value.__notes__)
    assert transport.waits == []
    assert clock.now() == 1_000.0  # FakeClock's start: no time passed


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "invalid_request_error"),
        (401, "invalid_api_key"),
        (403, None),
        (404, "model_not_found"),
        (422, None),
        (429, "insufficient_quota"),
        (503, None),  # with x-should-retry: false
    ],
)
async def test_answers_that_cannot_succeed_are_not_retried(status: int, code: str | None) -> None:
    clock = FakeClock()
    headers = {"x-should-retry": "false"} if status == 503 else {"retry-after": "1"}
    transport = ClockedTransport(clock, error(status, code, headers), ok())
    async with make_client(transport, clock) as client:
        with pytest.raises(ProviderError) as info:
            await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert info.value.status == status and not info.value.retryable
    assert len(transport.requests) == 1
    assert clock.now() == 1_000.0  # no wait either


async def test_insufficient_quota_fails_fast_as_a_rate_limit_error() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(429, "insufficient_quota"))
    async with make_client(transport, clock) as client:
        with pytest.raises(RateLimitedError) as info:
            await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert info.value.error_type == "insufficient_quota"
    assert len(transport.requests) == 1


async def test_x_should_retry_true_makes_a_400_retryable() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(400, None, {"x-should-retry": "true"}), ok())
    async with make_client(transport, clock) as client:
        response = await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert response.attempts == 2


async def test_a_later_non_retryable_answer_ends_the_retries_with_its_attempt_noted() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(500), error(401, "invalid_api_key"), ok())
    async with make_client(transport, clock) as client:
        with pytest.raises(AuthenticationError) as info:
            await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert len(transport.requests) == 2
    assert "sluicegate: attempt 2 of 4" in info.value.__notes__


async def test_transport_failures_and_timeouts_are_retried() -> None:
    clock = FakeClock()
    transport = ClockedTransport(
        clock, TransportFailure("connect", "refused"), TransportFailure("timeout", "read"), ok()
    )
    async with make_client(transport, clock) as client:
        response = await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert response.attempts == 3


async def test_when_attempts_are_spent_the_last_error_is_raised_with_a_note() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, TransportFailure("connect", "refused"))
    async with make_client(transport, clock, retry={"attempts": 5, "base": 1, "cap": 3}) as client:
        with pytest.raises(TransportError) as info:
            await jumping(clock, lambda: client.chat(MODEL, "hi"))
    assert len(transport.requests) == 5 and info.value.attempts == 5
    assert any("not retried after 5 attempts: no attempts left" in n for n in info.value.__notes__)
    ceilings = [1, 2, 3, 3]
    assert all(0 <= w < c for w, c in zip(transport.waits, ceilings, strict=True))


async def test_no_wait_is_scheduled_past_the_deadline() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(429, None, {"retry-after": "10"}), ok())
    async with make_client(transport, clock) as client:
        with pytest.raises(RateLimitedError) as info:
            await jumping(clock, lambda: client.chat(MODEL, "hi", deadline=clock.now() + 5))
    assert len(transport.requests) == 1
    assert clock.now() == 1_000.0  # gave up at once instead of sleeping into the deadline
    assert any("deadline" in note for note in info.value.__notes__)


@pytest.mark.parametrize("seed", range(8))
async def test_backoff_retries_stop_before_the_deadline(seed: int) -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(500), latency=0.25)
    deadline = clock.now() + 6.0
    policy = {"attempts": 50, "base": 1.0, "cap": 2.0, "budget_ratio": None}
    async with make_client(transport, clock, retry=policy, seed=seed) as client:
        with pytest.raises(ProviderError):
            await jumping(clock, lambda: client.chat(MODEL, "hi", deadline=deadline))
    assert len(transport.requests) >= 3
    assert all(t < deadline for t in transport.times)
    assert clock.now() <= deadline  # no sleep ended past it


async def test_the_budget_caps_retries_under_total_failure() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(503), latency=0.1)
    policy = {"budget_ratio": 0.2, "budget_min_per_second": 0.0}
    async with make_client(transport, clock, retry=policy) as client:

        async def many() -> None:
            async with anyio.create_task_group() as group:
                for _ in range(50):
                    group.start_soon(_failing_chat, client)

        await jumping(clock, many)
    # 50 requests, 20% of them in retries, however many attempts each may make
    assert len(transport.requests) == 60


async def test_the_budget_bound_holds_with_its_reserve_over_a_long_outage() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, TransportFailure("connect", "refused"), latency=0.05)
    policy = {"budget_min_per_second": 1.0}  # 20% of requests + 1 retry/s, over 10 s
    async with make_client(transport, clock, retry=policy) as client:

        async def user() -> None:  # a request every 0.25 s plus its retries' time
            for _ in range(150):
                await _failing_chat(client)
                await clock.sleep(0.25)

        async def outage() -> None:
            async with anyio.create_task_group() as group:
                for _ in range(4):
                    group.start_soon(user)

        await jumping(clock, outage)
    requests = 600
    duration = clock.now() - 1_000.0
    attempts = len(transport.requests)
    assert attempts <= requests * 1.2 + 1.0 * duration + 1.0 * (10 + 1)
    assert attempts < requests * 1.5  # where 4 attempts each would have made it 4x


async def _failing_chat(client: Client) -> None:
    with pytest.raises(ProviderError):
        await client.chat(MODEL, "hi")


async def test_a_stream_failing_to_open_is_retried() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(503), stream_ok("Hel", "lo"))

    async def read() -> list[object]:
        async with client.stream(MODEL, "hi") as stream:
            return [event async for event in stream]

    async with make_client(transport, clock) as client:
        events = await jumping(clock, read)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo"]
    done = events[-1]
    assert isinstance(done, Done) and done.response.attempts == 2 and done.response.text == "Hello"


@pytest.mark.parametrize(
    "first",
    [stream_error_event("overloaded"), Answer(200, {}, [], cut=True), stream_cut_after()],
    ids=["error-event", "cut-at-once", "ended-early"],
)
async def test_a_stream_failing_before_its_first_event_is_replaced_transparently(
    first: Answer,
) -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, first, stream_ok("fresh ", "answer"))
    spy = Spy()

    async def read() -> list[object]:
        async with client.stream(MODEL, "hi") as stream:
            return [event async for event in stream]

    async with make_client(transport, clock, extra=[spy.spec("spy", Phase.ATTEMPT)]) as client:
        events = await jumping(clock, read)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["fresh ", "answer"]
    assert isinstance(events[-1], Done) and events[-1].response.attempts == 2
    assert [r.metadata.attempt for r in spy.requests] == [1, 2]
    assert all(s.closed for s in transport.streams)


async def test_a_stream_cut_after_its_first_event_is_not_retried_and_keeps_the_text() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, stream_cut_after("one ", "two "), stream_ok("never"))
    received: list[str] = []

    async def read() -> None:
        async with client.stream(MODEL, "hi") as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    received.append(event.text)

    async with make_client(transport, clock) as client:
        with pytest.raises(StreamError) as info:
            await jumping(clock, read)
    assert received == ["one ", "two "]
    assert info.value.partial_text == "one two "
    assert len(transport.requests) == 1


async def test_a_non_retryable_error_event_before_the_first_event_is_raised() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, stream_error_event("insufficient_quota"), stream_ok())

    async def read() -> None:
        async with client.stream(MODEL, "hi") as stream:
            await stream.final_response()

    async with make_client(transport, clock) as client:
        with pytest.raises(StreamError) as info:
            await jumping(clock, read)
    assert info.value.error_type == "insufficient_quota"
    assert len(transport.requests) == 1


async def test_stream_retries_stop_when_the_attempts_are_spent() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, stream_error_event())

    async def read() -> None:
        async with client.stream(MODEL, "hi") as stream:
            await stream.final_response()

    async with make_client(transport, clock, retry={"attempts": 3}) as client:
        with pytest.raises(StreamError) as info:
            await jumping(clock, read)
    assert len(transport.requests) == 3 and info.value.attempts == 3
    assert info.value.partial_text == ""
    assert any("no attempts left" in note for note in info.value.__notes__)


async def test_the_first_attempt_path_reads_no_clock_and_copies_nothing() -> None:
    clock = CountingClock()
    transport = ClockedTransport(clock, ok())
    outer, inner = Spy(), Spy()
    extra = [outer.spec("outer", Phase.RETRY - 1), inner.spec("inner", Phase.RETRY + 1)]
    async with make_client(transport, clock, extra=extra) as client:
        reads = clock.reads
        transport.clock = FakeClock()  # the transport's own time notes are not the stage's
        response = await client.chat(MODEL, "hi")
        assert clock.reads == reads
    assert response.attempts == 1
    assert inner.requests[0] is outer.requests[0]


async def test_instant_mode_never_waits_but_still_counts() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(429, None, {"retry-after": "30"}), error(500), ok())
    async with make_client(transport, clock, retry=RetryPolicy(instant=True)) as client:
        response = await client.chat(MODEL, "hi")  # no autojump needed: nothing sleeps
    assert response.attempts == 3
    assert clock.now() == 1_000.0


async def test_set_testing_makes_every_new_client_instant() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(500))
    retry_stage.set_testing(True, attempts=2)
    try:
        assert retry_stage.is_testing()
        async with make_client(transport, clock) as client:
            with pytest.raises(ProviderError):
                await client.chat(MODEL, "hi")
    finally:
        retry_stage.set_testing(False)
    assert not retry_stage.is_testing()
    assert len(transport.requests) == 2
    assert clock.now() == 1_000.0


async def test_retries_are_logged_with_their_wait() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(429, None, {"retry-after": "2"}), ok())
    with structlog.testing.capture_logs() as logs:
        async with make_client(transport, clock, logger=structlog.get_logger()) as client:
            await jumping(clock, lambda: client.chat(MODEL, "hi"))
    [event] = [e for e in logs if e["event"] == "retry.waiting"]
    assert event["attempt"] == 2 and event["delay_s"] == 2.0 and event["wait"] == "retry-after"
    assert event["model"] == MODEL and event["error_type"] == "RateLimitedError"


async def test_cancelling_a_request_during_its_backoff_stops_it() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(500), ok())
    async with make_client(transport, clock, retry={"base": 100, "cap": 100}) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.chat, MODEL, "hi")
            await anyio.wait_all_tasks_blocked()  # the request is in its backoff sleep
            group.cancel_scope.cancel()
    assert len(transport.requests) == 1


def test_settings_forms() -> None:
    clock = FakeClock()
    assert isinstance(stage_of({}, clock), RetryMiddleware)
    assert isinstance(stage_of({"retry": None}, clock), RetryMiddleware)
    assert isinstance(stage_of({"retry": True}, clock), RetryMiddleware)
    assert stage_of({"retry": False}, clock) is None
    assert stage_of({"retry": RetryPolicy(attempts=1)}, clock) is None
    stage = stage_of({"retry": {"attempts": 2, "budget_ratio": None}}, clock)
    assert isinstance(stage, RetryMiddleware) and stage.budget is None
    with_budget = stage_of({"retry": RetryPolicy()}, clock)
    assert with_budget.budget is not None and with_budget.budget.ratio == 0.2
    with pytest.raises(ConfigError, match=r"^stage_settings\['retry'\]: unknown option"):
        stage_of({"retry": {"tries": 3}}, clock)
    with pytest.raises(ConfigError):
        stage_of({"retry": 3}, clock)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 0},
        {"attempts": 2.5},
        {"base": -1},
        {"cap": float("inf")},
        {"max_retry_after": -1},
        {"budget_ratio": -0.5},
        {"budget_window": 0},
    ],
)
def test_bad_policies_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        retry_stage.set_testing(True, attempts=0)


async def test_the_stage_is_left_out_when_retries_are_off() -> None:
    clock = FakeClock()
    transport = ClockedTransport(clock, error(500), ok())
    async with make_client(transport, clock, retry=False) as client:
        assert "retry" not in client.stages
        with pytest.raises(ProviderError):
            await client.chat(MODEL, "hi")
    assert len(transport.requests) == 1


async def test_the_default_chain_order_puts_retry_inside_the_deadline() -> None:
    clock = FakeClock()
    async with make_client(ClockedTransport(clock, ok()), clock) as client:
        stages = client.stages
    assert stages.index("deadline") < stages.index("retry")


def test_jitter_comes_from_the_injected_rng() -> None:
    policy = RetryPolicy()
    stage = RetryMiddleware(policy, clock=FakeClock(), rng=random.Random(3))
    again = RetryMiddleware(policy, clock=FakeClock(), rng=random.Random(3))
    err = ProviderError("x", provider="p", model="m", status=500, retryable=True)
    assert [stage._delay(err, n) for n in range(1, 6)] == [
        again._delay(err, n) for n in range(1, 6)
    ]
    assert json.dumps([stage._delay(err, n)[1] for n in range(1, 3)]) == '["backoff", "backoff"]'
