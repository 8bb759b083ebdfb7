"""The breaker stage in a client's chain, on asyncio and trio, with a fake clock."""

from __future__ import annotations

import anyio
import pytest

from breaker.helpers import (
    CountingRetry,
    ModelTransport,
    cut,
    error,
    make_rig,
    ok,
    request_for,
    stream_error_event,
    stream_ok,
)
from sluicegate import ProviderError, StreamError, TextDelta
from sluicegate.breaker import BreakerPolicy, CircuitOpenError, CircuitState
from sluicegate.breaker.stage import BreakerStage, build
from sluicegate.clock import FakeClock
from sluicegate.errors import TransportError
from sluicegate.streaming import EventStream

pytestmark = pytest.mark.anyio

MODEL = "openai/gpt-4o"
TRIP_AT_2 = BreakerPolicy(min_throughput=2, failure_ratio=0.5, break_s=30.0, half_open_probes=3)


async def test_open_circuit_fails_fast_without_sending() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)]})
    rig = make_rig(transport, breaker=TRIP_AT_2)
    async with rig.client as client:
        for _ in range(2):
            with pytest.raises(ProviderError) as info:
                await client.chat(MODEL, "hi")
            assert info.value.status == 503
        assert transport.count("gpt-4o") == 2
        rig.clock.advance(10.0)
        with pytest.raises(CircuitOpenError) as info:
            await client.chat(MODEL, "hi")
    assert transport.count("gpt-4o") == 2  # nothing was sent
    err = info.value
    assert (err.provider, err.model, err.state) == ("openai", "gpt-4o", CircuitState.OPEN)
    assert err.retryable is False
    assert err.retry_after == pytest.approx(20.0)
    assert err.until == pytest.approx(rig.clock.now() + 20.0)


async def test_an_opening_circuit_stops_the_remaining_retries_at_once() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)]})
    retry = CountingRetry(attempts=10)
    rig = make_rig(transport, breaker=BreakerPolicy(min_throughput=3), retry=retry)
    async with rig.client as client:
        with pytest.raises(CircuitOpenError):
            await client.chat(MODEL, "hi")
    assert transport.count("gpt-4o") == 3  # every attempt was counted; the 4th failed fast
    assert len(retry.tries) == 4


async def test_half_open_lets_exactly_n_probes_through_concurrently() -> None:
    transport = ModelTransport({"gpt-4o": [error(503), error(503), ok("back")]})
    rig = make_rig(transport, breaker=TRIP_AT_2)
    async with rig.client as client:
        for _ in range(2):
            with pytest.raises(ProviderError):
                await client.chat(MODEL, "hi")
        rig.clock.advance(30.0)
        gate = transport.hold()
        outcomes: list[str] = []

        async def call() -> None:
            try:
                response = await client.chat(MODEL, "hi")
            except CircuitOpenError as exc:
                assert exc.state is CircuitState.HALF_OPEN and exc.retry_after is None
                outcomes.append("rejected")
            else:
                outcomes.append(response.text)

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            assert transport.waiting == 3
            assert outcomes == ["rejected", "rejected"]
            assert rig.breaker(MODEL).state is CircuitState.HALF_OPEN
            gate.set()
        assert sorted(outcomes) == ["back", "back", "back", "rejected", "rejected"]
        assert rig.breaker(MODEL).state is CircuitState.CLOSED
        transport.gate = None
        assert (await client.chat(MODEL, "hi")).text == "back"


async def test_a_failed_probe_reopens_the_circuit() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)]})
    rig = make_rig(transport, breaker=TRIP_AT_2)
    async with rig.client as client:
        for _ in range(2):
            with pytest.raises(ProviderError):
                await client.chat(MODEL, "hi")
        rig.clock.advance(30.0)
        with pytest.raises(ProviderError) as info:
            await client.chat(MODEL, "hi")
        assert not isinstance(info.value, CircuitOpenError)  # the probe went out, and failed
        with pytest.raises(CircuitOpenError) as info:
            await client.chat(MODEL, "hi")
        assert info.value.retry_after == pytest.approx(30.0)
        assert "probe failed" in info.value.message
    assert transport.count("gpt-4o") == 3


async def test_a_late_failure_does_not_extend_the_break() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)]})
    rig = make_rig(transport, breaker=TRIP_AT_2)
    async with rig.client as client:
        release_early = transport.hold_next()
        failures: list[BaseException] = []

        async def early_call() -> None:
            try:
                await client.chat(MODEL, "hi")
            except ProviderError as exc:
                failures.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(early_call)
            await anyio.wait_all_tasks_blocked()
            assert transport.waiting == 1
            for _ in range(2):
                with pytest.raises(ProviderError):
                    await client.chat(MODEL, "hi")
            opened = rig.breaker(MODEL).snapshot()
            assert opened.state is CircuitState.OPEN
            rig.clock.advance(20.0)
            release_early.set()
        assert len(failures) == 1 and not isinstance(failures[0], CircuitOpenError)
        assert rig.breaker(MODEL).snapshot() == opened  # same break, same counts
        rig.clock.advance(10.0)
        assert rig.breaker(MODEL).state is CircuitState.HALF_OPEN


async def test_callers_mistakes_do_not_trip_the_circuit() -> None:
    transport = ModelTransport({"gpt-4o": [error(400)], "gpt-4o-mini": [error(401)]})
    rig = make_rig(transport, breaker=TRIP_AT_2)
    async with rig.client as client:
        for model in ["openai/gpt-4o", "openai/gpt-4o-mini"] * 5:
            with pytest.raises(ProviderError) as info:
                await client.chat(model, "hi")
            assert not isinstance(info.value, CircuitOpenError)
        assert rig.breaker("openai/gpt-4o").snapshot().calls == 0
    assert len(transport.sent) == 10


async def test_transport_errors_trip_and_each_model_has_its_own_circuit() -> None:
    transport = ModelTransport({"gpt-4o": [cut()], "gpt-4o-mini": [ok("fine")]})
    rig = make_rig(transport, breaker=TRIP_AT_2)
    async with rig.client as client:
        for _ in range(2):
            with pytest.raises(TransportError):
                await client.chat("openai/gpt-4o", "hi")
        with pytest.raises(CircuitOpenError):
            await client.chat("openai/gpt-4o", "hi")
        assert (await client.chat("openai/gpt-4o-mini", "hi")).text == "fine"
    assert sorted(rig.breakers.breakers) == ["openai/gpt-4o", "openai/gpt-4o-mini"]


async def test_slow_calls_trip_the_circuit() -> None:
    clock = FakeClock()
    transport = ModelTransport({"gpt-4o": [ok()]}, clock=clock, delay=10.0)
    rig = make_rig(transport, clock, breaker=BreakerPolicy(min_throughput=2, slow_call_s=5.0))
    async with anyio.create_task_group() as group:
        group.start_soon(clock.autojump)
        async with rig.client as client:
            for _ in range(2):
                await client.chat(MODEL, "hi")  # answered, but slowly
            with pytest.raises(CircuitOpenError):
                await client.chat(MODEL, "hi")
        group.cancel_scope.cancel()


async def test_failed_streams_count_when_they_fail() -> None:
    transport = ModelTransport({"gpt-4o": [stream_error_event()]})
    rig = make_rig(transport, breaker=TRIP_AT_2)
    async with rig.client as client:
        for _ in range(2):
            with pytest.raises(StreamError):
                async with client.stream(MODEL, "hi") as stream:
                    await stream.final_response()
        with pytest.raises(CircuitOpenError):
            async with client.stream(MODEL, "hi") as stream:
                pass
    assert transport.count("gpt-4o") == 2


async def test_a_stream_counts_as_success_at_its_end() -> None:
    transport = ModelTransport({"gpt-4o": [stream_ok("a", "b")]})
    rig = make_rig(transport, breaker=TRIP_AT_2)
    async with rig.client as client:
        async with client.stream(MODEL, "hi") as stream:
            assert rig.breaker(MODEL).snapshot().calls == 0  # open stream: not counted yet
            texts = [e.text async for e in stream if isinstance(e, TextDelta)]
        assert texts == ["a", "b"]
        snap = rig.breaker(MODEL).snapshot()
        assert (snap.calls, snap.failures) == (1, 0)


async def test_a_probe_stream_closed_early_gives_its_slot_back() -> None:
    transport = ModelTransport({"gpt-4o": [error(503), error(503), stream_ok("x", "y")]})
    policy = BreakerPolicy(min_throughput=2, break_s=5.0, half_open_probes=1)
    rig = make_rig(transport, breaker=policy)
    async with rig.client as client:
        for _ in range(2):
            with pytest.raises(ProviderError):
                await client.chat(MODEL, "hi")
        rig.clock.advance(5.0)
        reply = await rig.send(request_for(MODEL, stream=True))
        assert isinstance(reply, EventStream)
        with pytest.raises(CircuitOpenError):  # the one probe slot is taken
            await client.chat(MODEL, "hi")
        await reply.__anext__()
        await reply.aclose()  # caller stops reading: no outcome, slot given back
        async with client.stream(MODEL, "hi") as stream:
            await stream.final_response()
        assert rig.breaker(MODEL).state is CircuitState.CLOSED


async def test_cancelled_probe_gives_its_slot_back() -> None:
    transport = ModelTransport({"gpt-4o": [error(503), error(503), ok("later")]})
    policy = BreakerPolicy(min_throughput=2, break_s=5.0, half_open_probes=1)
    rig = make_rig(transport, breaker=policy)
    async with rig.client as client:
        for _ in range(2):
            with pytest.raises(ProviderError):
                await client.chat(MODEL, "hi")
        rig.clock.advance(5.0)
        transport.hold_next()
        async with anyio.create_task_group() as group:
            group.start_soon(client.chat, MODEL, "hi")
            await anyio.wait_all_tasks_blocked()
            assert transport.waiting == 1
            group.cancel_scope.cancel()
        assert (await client.chat(MODEL, "hi")).text == "later"
        assert rig.breaker(MODEL).state is CircuitState.CLOSED


async def test_settings_turn_the_stage_off_or_configure_it() -> None:
    off = make_rig(ModelTransport({"gpt-4o": [ok()]}), breaker=False)
    async with off.client as client:
        assert "breaker" not in client.stages
    on = make_rig(ModelTransport({"gpt-4o": [ok()]}), breaker={"break_s": 7.0})
    async with on.client as client:
        assert "breaker" in client.stages
        assert on.breakers._policy.break_s == 7.0
    assert isinstance(on.breakers, BreakerStage) and build.__doc__
