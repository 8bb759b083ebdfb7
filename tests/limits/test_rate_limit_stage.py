"""The rate-limit stage in a client: estimates and their correction, failing too-heavy
requests at once, holds after a 429, streams, scopes, and configuration."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from sluicegate import ConfigError, ProviderError, ProviderSettings, RateLimitedError
from sluicegate.estimate import TOKENS_PER_MESSAGE, TokenEstimate, estimate_input_tokens
from sluicegate.limits import Adaptive, Limit, RateLimits, RequestTooLargeError
from sluicegate.limits.dimensions import REQUESTS, TOKENS, RateDimension
from sluicegate.limits.gate import now_ns
from sluicegate.limits.headers import LimitReading, ServerLimits
from sluicegate.testing.content import count_input_tokens
from sluicegate.types import Message, Params, Request

from .helpers import BASE_URL, KEY, Built, make_client, mock_app
from .virtual_time import VirtualClock

pytestmark = pytest.mark.anyio

MODEL = "openai/fast"
PROMPT = "Tell me about the history of the river and its bridges."


def bucket(built: Built, kind: int, model: str = MODEL) -> RateDimension:
    assert built.limiter is not None
    for dimension in built.limiter.plan(model).dimensions:
        if isinstance(dimension, RateDimension) and dimension.kind == kind:
            return dimension
    raise AssertionError(f"no bucket of kind {kind}")


async def run(clock: VirtualClock, body: Any) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        await body()
        group.cancel_scope.cancel()


# -- estimates and corrections ----------------------------------------------------------------


def test_estimate_rule() -> None:
    request = Request(
        model=MODEL,
        messages=(Message("system", "x" * 9), Message("user", "y" * 8)),
        params=Params(max_tokens=7),
    )
    assert estimate_input_tokens(request) == 3 + 2 + 2 * TOKENS_PER_MESSAGE


def test_the_estimate_is_not_below_the_mocks_count_for_plain_text() -> None:
    """The end-to-end runs rely on it: with estimates at or above the true count, a client
    holding the server's limits is never refused."""
    for prompt in (PROMPT, "What is the capital of France?", "Hello, world!"):
        request = Request(model=MODEL, messages=(Message("user", prompt),))
        assert estimate_input_tokens(request) >= count_input_tokens([prompt]), prompt
    # dense text does go under (4 characters a token is a rule of thumb): usage corrects it
    dense = Request(model=MODEL, messages=(Message("user", "a b c d"),))
    assert estimate_input_tokens(dense) < count_input_tokens(["a b c d"])


async def test_the_token_charge_is_corrected_to_the_actual_usage() -> None:
    clock = VirtualClock()
    app = mock_app(clock)
    built = Built()
    settings = RateLimits(rules=[Limit(MODEL, tpm=10_000, burst_s=60)], adaptive=False)

    async def body() -> None:
        async with make_client(app, clock, settings, built) as client:
            response = await client.chat(MODEL, PROMPT, max_tokens=2_000)
            tokens = bucket(built, TOKENS)
            assert tokens.remaining(now_ns(clock)) == 10_000 - response.usage.total_tokens
            async with client.stream(MODEL, PROMPT, max_tokens=2_000) as stream:
                streamed = await stream.final_response()
            used = response.usage.total_tokens + streamed.usage.total_tokens
            assert tokens.remaining(now_ns(clock)) == 10_000 - used

    await run(clock, body)
    assert app.stats.input_tokens + app.stats.output_tokens == 10_000 - (
        bucket(built, TOKENS).remaining(now_ns(clock))
    )


async def test_a_stream_closed_early_keeps_its_charge_and_frees_its_slot() -> None:
    clock = VirtualClock()
    app = mock_app(clock)
    built = Built()
    settings = RateLimits(
        rules=[Limit(MODEL, tpm=10_000, concurrency=1, burst_s=60)], adaptive=False
    )

    async def body() -> None:
        async with make_client(app, clock, settings, built) as client:
            async with client.stream(MODEL, PROMPT, max_tokens=500) as stream:
                async for _ in stream:
                    break
            estimate = estimate_input_tokens(
                Request(model=MODEL, messages=(Message("user", PROMPT),))
            )
            assert bucket(built, TOKENS).remaining(now_ns(clock)) == 10_000 - estimate - 500
            with anyio.fail_after(1):  # the slot is free again: no wait
                await client.chat(MODEL, PROMPT, max_tokens=5)

    await run(clock, body)


async def test_a_waiting_request_gets_the_slot_when_a_stream_ends() -> None:
    clock = VirtualClock()
    app = mock_app(clock)
    settings = RateLimits(rules=[Limit(MODEL, concurrency=1)], adaptive=False)
    finished: list[str] = []

    async def body() -> None:
        async with make_client(app, clock, settings) as client:

            async def second() -> None:
                await client.chat(MODEL, PROMPT, max_tokens=5)
                finished.append("second")

            async with client.stream(MODEL, PROMPT, max_tokens=5) as stream:
                async with anyio.create_task_group() as group:
                    group.start_soon(second)
                    await clock.sleep(5)
                    assert finished == []  # the stream still holds the only slot
                    await stream.final_response()
                    finished.append("stream")
            assert finished == ["stream", "second"]

    await run(clock, body)


async def test_without_max_tokens_the_default_output_estimate_is_capped_to_fit() -> None:
    clock = VirtualClock()
    app = mock_app(clock)
    settings = RateLimits(rules=[Limit(MODEL, tpm=300)], default_output_tokens=4_096)

    async def body() -> None:
        async with make_client(app, clock, settings) as client:
            await client.chat(MODEL, PROMPT)

    await run(clock, body)
    assert app.stats.succeeded == 1


async def test_a_request_heavier_than_the_burst_fails_at_once() -> None:
    clock = VirtualClock()
    app = mock_app(clock)
    settings = RateLimits(rules=[Limit("openai/*", tpm=1_000)])

    async def body() -> None:
        async with make_client(app, clock, settings) as client:
            with pytest.raises(RequestTooLargeError) as caught:
                await client.chat(MODEL, PROMPT, max_tokens=2_000)
            error = caught.value
            assert error.scope == MODEL and error.capacity == 1_000 and not error.retryable
            over = error.cost - 1_000
            assert f"({over:,} over)" in str(error)
            assert "'openai/fast' limit on tokens per minute admits at most 1,000" in str(error)
            assert clock.now() == 1_000.0  # no wait at all

    await run(clock, body)
    assert app.stats.requests == 0


async def test_a_custom_estimate_is_used() -> None:
    clock = VirtualClock()
    app = mock_app(clock)
    settings = RateLimits(
        rules=[Limit(MODEL, input_tpm=100, output_tpm=100)],
        estimate=lambda request: TokenEstimate(150, 1),
    )

    async def body() -> None:
        async with make_client(app, clock, settings) as client:
            with pytest.raises(RequestTooLargeError, match="input tokens per minute"):
                await client.chat(MODEL, PROMPT)

    await run(clock, body)


async def test_an_error_answer_refunds_tokens_but_counts_the_request() -> None:
    clock = VirtualClock()
    app = mock_app(clock)
    built = Built()
    settings = RateLimits(rules=[Limit(MODEL, rpm=10, tpm=10_000, burst_s=60)], adaptive=False)

    async def body() -> None:
        async with make_client(app, clock, settings, built) as client:
            with pytest.raises(ProviderError) as caught:
                await client.chat(
                    MODEL, PROMPT, max_tokens=100, headers={"x-mock-fault": "server_error"}
                )
            assert caught.value.status == 500
            now = now_ns(clock)
            assert bucket(built, TOKENS).remaining(now) == 10_000
            assert bucket(built, REQUESTS).remaining(now) == 9

    await run(clock, body)


# -- 429s and holds ---------------------------------------------------------------------------


async def test_a_429_holds_the_model_until_retry_after() -> None:
    """The client believes 100 RPM, the server allows 1: the refused request's
    Retry-After (exact, 60 s) holds the next request instead of letting it hit the wall.
    (The adaptive rate is off: with it, the server's headers, remaining 0 of 1, would
    have held the second request before it was refused.)"""
    clock = VirtualClock(start=0.0)
    app = mock_app(clock, rpm=1)
    settings = RateLimits(rules=[Limit(MODEL, rpm=100, burst_s=60)], adaptive=False)
    times: list[float] = []

    async def body() -> None:
        async with make_client(app, clock, settings) as client:
            await client.chat(MODEL, PROMPT, max_tokens=5)
            with pytest.raises(RateLimitedError) as caught:
                await client.chat(MODEL, PROMPT, max_tokens=5)
            assert caught.value.retry_after == 60.0
            await client.chat(MODEL, PROMPT, max_tokens=5)
            times.append(clock.now())

    await run(clock, body)
    assert times == [60.0]
    assert app.stats.by_status[429] == 1


# -- scopes -----------------------------------------------------------------------------------


async def test_scopes_share_or_separate_buckets() -> None:
    clock = VirtualClock(start=0.0)
    app = mock_app(clock)
    providers = {
        "openai": ProviderSettings(base_url=BASE_URL, api_key=KEY),
        "same-key": ProviderSettings(kind="openai", base_url=BASE_URL, api_key=KEY),
        "other-key": ProviderSettings(kind="openai", base_url=BASE_URL, api_key=KEY + "x"),
    }
    built = Built()
    settings = RateLimits(
        rules=[
            Limit("key:openai", rpm=60, burst_s=1),  # one request, then one a second
            Limit("other-key/*", rpm=6, burst_s=10),
        ],
        adaptive=False,
    )
    times: dict[str, float] = {}

    async def body() -> None:
        async with make_client(app, clock, settings, built, providers=providers) as client:
            for model in ("openai/a", "same-key/b", "other-key/c", "other-key/d"):
                await client.chat(model, PROMPT, max_tokens=5)
                times[model] = clock.now()

    await run(clock, body)
    # same key: b waits a second behind a; another key's models have their own buckets
    assert times == {"openai/a": 0.0, "same-key/b": 1.0, "other-key/c": 1.0, "other-key/d": 1.0}
    assert built.limiter is not None
    assert bucket(built, REQUESTS, "openai/a") is bucket(built, REQUESTS, "same-key/b")
    assert bucket(built, REQUESTS, "other-key/c") is not bucket(built, REQUESTS, "other-key/d")


async def test_a_provider_scope_is_shared_by_its_models() -> None:
    clock = VirtualClock(start=0.0)
    app = mock_app(clock)
    settings = RateLimits(rules=[Limit("openai", rpm=60, burst_s=1)])
    times: list[float] = []

    async def body() -> None:
        async with make_client(app, clock, settings) as client:
            for model in ("openai/a", "openai/b", "openai/c"):
                await client.chat(model, PROMPT, max_tokens=5)
                times.append(clock.now())

    await run(clock, body)
    assert times == [0.0, 1.0, 2.0]


# -- headers ----------------------------------------------------------------------------------


async def test_a_servers_lower_remaining_is_believed_for_per_model_buckets() -> None:
    clock = VirtualClock(start=0.0)
    app = mock_app(clock)
    built = Built()
    settings = RateLimits(rules=[Limit("openai/*", rpm=100, tpm=10_000, burst_s=60)])

    async def body() -> None:
        async with make_client(app, clock, settings, built) as client:
            await client.chat(MODEL, PROMPT, max_tokens=5)

    await run(clock, body)
    assert built.limiter is not None
    plan = built.limiter.plan(MODEL)
    plan.observe(
        ServerLimits(
            requests=LimitReading(100, 3, 1_000_000_000),
            tokens=LimitReading(10_000, 20_000, None),
        ),
        0,
    )
    assert bucket(built, REQUESTS).remaining(0) == 3
    assert bucket(built, TOKENS).remaining(0) < 10_000  # never raised by a header


# -- configuration ----------------------------------------------------------------------------


async def test_stage_settings() -> None:
    clock = VirtualClock()
    app = mock_app(clock)
    for value, stages in (
        (None, ["rate_limit"]),
        (False, []),
        (RateLimits(adaptive=False), []),
        (Limit(MODEL, rpm=5), ["rate_limit"]),
        ([Limit(MODEL, rpm=5), Limit("openai", concurrency=2)], ["rate_limit"]),
    ):
        async with make_client(app, clock, value) as client:
            assert [s for s in client.stages if s == "rate_limit"] == stages, value
    with pytest.raises(ConfigError, match="stage_settings\\['rate_limit'\\]"):
        async with make_client(app, clock, {"rpm": 5}):
            pass
    with pytest.raises(ConfigError, match="no provider named 'nope'"):
        async with make_client(app, clock, Limit("key:nope", rpm=5)):
            pass


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scope": "openai/", "rpm": 1}, "scope must be"),
        ({"scope": "*/gpt-4o", "rpm": 1}, "scope must be"),
        ({"scope": "key:", "rpm": 1}, "scope must be"),
        ({"scope": "openai", "rpm": 0}, "rpm must be a whole number >= 1"),
        ({"scope": "openai", "tpm": 2.5}, "tpm must be a whole number"),
        ({"scope": "openai"}, "give at least one of"),
        ({"scope": "openai", "rpm": 1, "burst_s": 0}, "burst_s must be > 0"),
    ],
)
def test_bad_limits_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Limit(**kwargs)


def test_bad_adaptive_settings_are_config_errors() -> None:
    for kwargs in ({"decrease": 1.0}, {"increase": 0}, {"min_rpm": 0}, {"low_remaining": 1}):
        with pytest.raises(ConfigError):
            Adaptive(**kwargs)
    with pytest.raises(ConfigError):
        RateLimits(rules=["openai"])  # type: ignore[list-item]


async def test_a_days_retry_after_is_never_slept_on_by_any_stage() -> None:
    """``Retry-After: 86400`` through the whole default chain (issue 9: one chat() took
    10,800 s of virtual time, the retry stage capping its wait at 60 s and the rate-limit
    stage then holding the model for an hour before each retry): the call fails at once
    carrying the whole wait, and the next call is refused at once by the hold, without
    reaching the server, both with no virtual time passing."""
    from sluicegate.testing.faults import FaultPlan, FaultWindow

    from .helpers import default_client

    clock = VirtualClock(start=1_000.0)
    window = FaultWindow(0.0, None, "rate_limit", retry_after_s=86_400.0)
    app = mock_app(clock, faults=FaultPlan(windows=[window]))
    client = default_client(app, clock)

    async def body() -> None:
        async with client:
            with pytest.raises(RateLimitedError) as first:
                await client.chat(MODEL, PROMPT, max_tokens=5)
            assert first.value.retry_after == 86_400.0
            assert any("longer than max_retry_after" in n for n in first.value.__notes__)
            with pytest.raises(RateLimitedError) as second:
                await client.chat(MODEL, PROMPT, max_tokens=5)
            held = second.value
            assert held.error_type == "server_wait" and held.retryable
            assert held.retry_after is not None and held.retry_after > 86_000
            assert "nothing was sent" in str(held)
            assert clock.now() == 1_000.0

    await run(clock, body)
    assert app.stats.requests == 1
