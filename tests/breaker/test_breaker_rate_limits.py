"""Rate limiting through the breaker stage: a 429, or a rate-limit error event inside a
200 stream, is backpressure from a live endpoint. It counts neither as failure nor as
success: it never opens a circuit, never adds to the window's throughput, never closes a
half-open circuit, and gives a half-open probe slot back. Async tests run on asyncio and
trio; the property test runs each example on both.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breaker.helpers import Rig, make_rig
from sluicegate import Client, ProviderError, RateLimitedError
from sluicegate.breaker import BreakerPolicy, CircuitOpenError, CircuitState
from sluicegate.testing import Answer, ScriptedTransport, openai_completion, openai_sse
from sluicegate.transports.base import HttpRequest

pytestmark = pytest.mark.anyio

MODEL = "openai/gpt-4o"
OUTCOME = "x-test-outcome"


def _error(status: int, type_: str, code: str | None) -> Answer:
    return Answer.json(status, {"error": {"message": "scripted", "type": type_, "code": code}})


def _stream_event_error(type_: str, code: str | None) -> Answer:
    body = {"error": {"message": "scripted", "type": type_, "code": code}}
    return Answer(
        200, {"content-type": "text/event-stream"}, [f"data: {json.dumps(body)}\n\n".encode()]
    )


ANSWERS = {
    "ok": Answer.json(200, openai_completion("fine")),
    "ok-stream": Answer(200, {"content-type": "text/event-stream"}, openai_sse(["fine"])),
    "503": _error(503, "server_error", None),
    "429": _error(429, "requests", "rate_limit_exceeded"),
    "429-bare": _error(429, "x", None),
    "stream-rate-limit": _stream_event_error("requests", "rate_limit_exceeded"),
    "stream-overloaded": _stream_event_error("server_error", "overloaded"),
}
RATE_LIMITED = frozenset({"429", "429-bare", "stream-rate-limit"})
STREAMED = frozenset({"ok-stream", "stream-rate-limit", "stream-overloaded"})


def answer(request: HttpRequest) -> Answer:
    return ANSWERS[request.headers[OUTCOME]]


def rig(policy: BreakerPolicy | None = None, transport: ScriptedTransport | None = None) -> Rig:
    """A client with only the breaker (and fallback, unused) stages, answering by the
    ``x-test-outcome`` header of each call."""
    return make_rig(transport or ScriptedTransport(answer), breaker=policy)  # type: ignore[arg-type]


async def call(client: Client, outcome: str) -> str:
    """Make one call whose answer is ``outcome``; what came of it: "ok", the error type's
    name, or "open" when the circuit failed it fast."""
    headers = {OUTCOME: outcome}
    try:
        if outcome in STREAMED:
            async with client.stream(MODEL, "hi", headers=headers) as stream:
                await stream.final_response()
        else:
            await client.chat(MODEL, "hi", headers=headers)
    except CircuitOpenError:
        return "open"
    except ProviderError as exc:
        return type(exc).__name__
    return "ok"


def state(r: Rig) -> CircuitState:
    return r.built["breaker"].breaker_for(MODEL).snapshot().state


async def test_200_consecutive_429s_never_open_the_circuit_while_20_503s_do() -> None:
    r = rig()  # the default policy: 20 calls in 30 s, half of them failed
    async with r.client as client:
        results = [await call(client, "429") for _ in range(200)]
        assert results == ["RateLimitedError"] * 200
        assert len(r.transport.requests) == 200  # every one was sent: nothing failed fast
        snap = r.built["breaker"].breaker_for(MODEL).snapshot()
        assert (snap.state, snap.calls, snap.failures) == (CircuitState.CLOSED, 0, 0)
        results = [await call(client, "503") for _ in range(20)]
        assert results == ["ProviderError"] * 20
        assert await call(client, "503") == "open"
    assert len(r.transport.requests) == 220


async def test_429s_do_not_make_up_the_minimum_throughput() -> None:
    # 19 failures and many 429s: still below min_throughput (20), because a 429 is not a
    # call with an outcome; the 20th failure opens it.
    r = rig()
    async with r.client as client:
        for _ in range(19):
            assert await call(client, "503") == "ProviderError"
            for kind in ("429", "429-bare", "stream-rate-limit"):
                assert await call(client, kind) != "open"
        assert state(r) is CircuitState.CLOSED
        assert await call(client, "503") == "ProviderError"
        assert state(r) is CircuitState.OPEN


async def test_429s_do_not_dilute_the_failure_ratio_either() -> None:
    # Not successes: 10 failures among 10 counted calls open a circuit with
    # min_throughput=10, however many 429s came in between.
    r = rig(BreakerPolicy(min_throughput=10, failure_ratio=0.9))
    async with r.client as client:
        for _ in range(9):
            await call(client, "503")
            for _ in range(5):
                await call(client, "429")
        assert state(r) is CircuitState.CLOSED
        await call(client, "503")
        assert state(r) is CircuitState.OPEN


async def test_a_rate_limit_error_event_in_a_stream_does_not_count_but_overloaded_does() -> None:
    policy = BreakerPolicy(min_throughput=2, break_s=30.0)
    r = rig(policy)
    async with r.client as client:
        for _ in range(50):
            assert await call(client, "stream-rate-limit") == "StreamError"
        assert state(r) is CircuitState.CLOSED
        assert await call(client, "stream-overloaded") == "StreamError"
        assert await call(client, "stream-overloaded") == "StreamError"
        assert state(r) is CircuitState.OPEN
        assert await call(client, "ok-stream") == "open"


async def test_a_half_open_probe_that_gets_a_429_gives_its_slot_back() -> None:
    policy = BreakerPolicy(min_throughput=2, break_s=10.0, half_open_probes=1)
    r = rig(policy)
    async with r.client as client:
        await call(client, "503")
        await call(client, "503")
        assert state(r) is CircuitState.OPEN
        r.clock.advance(10.0)
        # The only probe slot, taken and given back each time: a 429 neither reopens the
        # circuit (as a failure would) nor closes it (as a success would).
        for _ in range(5):
            assert await call(client, "429") == "RateLimitedError"
            assert state(r) is CircuitState.HALF_OPEN
        assert await call(client, "ok") == "ok"
        assert state(r) is CircuitState.CLOSED


async def test_a_half_open_probe_that_fails_with_a_503_still_reopens() -> None:
    r = rig(BreakerPolicy(min_throughput=2, break_s=10.0, half_open_probes=1))
    async with r.client as client:
        await call(client, "503")
        await call(client, "503")
        r.clock.advance(10.0)
        assert await call(client, "429") == "RateLimitedError"
        assert await call(client, "503") == "ProviderError"
        assert state(r) is CircuitState.OPEN


async def test_insufficient_quota_429_is_still_the_callers_fault_and_counts_for_nothing() -> None:
    quota = _error(429, "insufficient_quota", "insufficient_quota")
    r = rig(BreakerPolicy(min_throughput=2), ScriptedTransport(quota))
    async with r.client as client:
        for _ in range(10):
            with pytest.raises(RateLimitedError) as info:
                await client.chat(MODEL, "hi")
            assert info.value.retryable is False
        assert r.built["breaker"].breaker_for(MODEL).snapshot().state is CircuitState.CLOSED


@settings(max_examples=40, deadline=None)
@given(
    outcomes=st.lists(
        st.sampled_from(["ok", "503", "429", "429-bare", "stream-rate-limit", "stream-overloaded"]),
        max_size=40,
    ),
    min_throughput=st.integers(1, 5),
)
def test_rate_limited_calls_change_nothing(outcomes: Sequence[str], min_throughput: int) -> None:
    """The metamorphic property: a sequence of calls with its rate-limited ones removed
    drives the circuit exactly as the full sequence does: the same results for every
    other call, and the same window and state at the end."""
    policy = BreakerPolicy(min_throughput=min_throughput, failure_ratio=0.5, break_s=30.0)
    rest = [o for o in outcomes if o not in RATE_LIMITED]

    async def run(sequence: Sequence[str]) -> tuple[list[tuple[str, str]], object]:
        r = rig(policy)
        async with r.client as client:
            results = [(o, await call(client, o)) for o in sequence]
            snap = r.built["breaker"].breaker_for(MODEL).snapshot()
        return results, (snap.state, snap.calls, snap.failures, snap.generation)

    async def scenario() -> None:
        full, full_end = await run(outcomes)
        only, only_end = await run(rest)
        assert [x for x in full if x[0] not in RATE_LIMITED] == only
        assert full_end == only_end
        # a rate-limited call is refused only while the circuit is open, never counted
        assert all(
            res in ("open", "RateLimitedError", "StreamError")
            for o, res in full
            if o in RATE_LIMITED
        )

    for backend in ("asyncio", "trio"):
        anyio.run(scenario, backend=backend)
