"""Spans and metrics of plain, streamed, retried and failed requests, on both backends:
one request span per logical request (GenAI conventions' name, kind and attributes), one
child span per attempt, and the GenAI client metrics plus sluicegate's cost counter."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from otel.helpers import MODEL, PROVIDERS, Recorder, error, make_client, ok, stream_ok
from retry.helpers import jumping
from sluicegate import CircuitOpenError, Client, ProviderError, RetryPolicy
from sluicegate.breaker.policy import BreakerPolicy
from sluicegate.clock import FakeClock
from sluicegate.testing import ScriptedTransport

pytestmark = pytest.mark.anyio

COMMON = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4.1",
    "server.address": "127.0.0.1",
    "server.port": 9,
}


def has(attributes: object, expected: dict[str, object]) -> None:
    got = dict(attributes or {})  # type: ignore[call-overload]
    assert {k: got.get(k) for k in expected} == expected


async def test_a_plain_request_is_one_request_span_and_one_attempt_span(
    recorder: Recorder,
) -> None:
    async with make_client(ScriptedTransport(ok()), recorder) as sg:
        response = await sg.chat(MODEL, "hi", max_tokens=50, temperature=0.2)
    request = recorder.request_span
    [attempt] = recorder.attempt_spans
    for span in (request, attempt):
        assert span.name == "chat gpt-4.1" and span.kind is SpanKind.CLIENT
        assert span.status.status_code is StatusCode.UNSET
        has(
            span.attributes,
            {
                **COMMON,
                "gen_ai.request.max_tokens": 50,
                "gen_ai.request.temperature": 0.2,
                "gen_ai.response.model": "gpt-4.1",
                "gen_ai.usage.input_tokens": 5,
                "gen_ai.usage.output_tokens": 2,
                "gen_ai.response.finish_reasons": ("stop",),
            },
        )
        assert "error.type" not in span.attributes  # type: ignore[operator]
    assert response.cost is not None and response.cost > 0
    has(request.attributes, {"sluicegate.cost": response.cost, "sluicegate.attempts": 1})
    has(
        attempt.attributes,
        {
            "sluicegate.attempt": 1,
            "sluicegate.idempotency_key.present": True,
            "sluicegate.circuit.state": "closed",
        },
    )
    assert 0.0 <= attempt.attributes["sluicegate.rate_limit.wait"] < 1.0  # type: ignore[index,operator]
    assert "sluicegate.retry.wait" not in attempt.attributes  # type: ignore[operator]
    # the attempt lies within the request
    assert request.start_time <= attempt.start_time <= attempt.end_time <= request.end_time  # type: ignore[operator]

    points = recorder.points()
    metric_attributes = {**COMMON, "gen_ai.response.model": "gpt-4.1"}
    [duration] = points["gen_ai.client.operation.duration"]
    assert points["unit:gen_ai.client.operation.duration"] == ["s"]
    assert dict(duration.attributes) == metric_attributes and duration.count == 1
    tokens = {p.attributes["gen_ai.token.type"]: p for p in points["gen_ai.client.token.usage"]}
    assert points["unit:gen_ai.client.token.usage"] == ["{token}"]
    assert (tokens["input"].sum, tokens["output"].sum) == (5, 2)
    assert dict(tokens["input"].attributes) == {**metric_attributes, "gen_ai.token.type": "input"}
    [cost] = points["sluicegate.client.cost"]
    assert points["unit:sluicegate.client.cost"] == ["USD"]
    assert cost.value == pytest.approx(response.cost)
    assert dict(cost.attributes) == {
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4.1",
        "gen_ai.response.model": "gpt-4.1",
    }


async def test_a_streamed_request_span_ends_when_the_stream_ends(recorder: Recorder) -> None:
    async with make_client(ScriptedTransport(stream_ok("a", "b")), recorder) as sg:
        async with sg.stream(MODEL, "hi") as stream:
            chunks = stream.text_chunks()
            assert await chunks.__anext__() == "a"
            assert recorder.spans == []  # nothing ends before the stream does
            assert [c async for c in chunks] == ["b"]
    request = recorder.request_span
    [attempt] = recorder.attempt_spans
    for span in (request, attempt):
        has(
            span.attributes,
            {
                **COMMON,
                "sluicegate.stream": True,
                "gen_ai.usage.input_tokens": 3,
                "gen_ai.usage.output_tokens": 2,
                "gen_ai.response.finish_reasons": ("stop",),
            },
        )
    assert request.attributes["sluicegate.cost"] > 0  # type: ignore[index,operator]
    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum
        for p in recorder.points()["gen_ai.client.token.usage"]
    }
    assert tokens == {"input": 3, "output": 2}


async def test_a_stream_closed_early_ends_its_spans(recorder: Recorder) -> None:
    async with make_client(ScriptedTransport(stream_ok("a", "b", "c")), recorder) as sg:
        async with sg.stream(MODEL, "hi") as stream:
            async for _ in stream.text_chunks():
                break
    request = recorder.request_span
    [attempt] = recorder.attempt_spans
    for span in (request, attempt):
        assert span.attributes["sluicegate.stream.closed_early"] is True  # type: ignore[index]
        assert span.status.status_code is StatusCode.UNSET
    [duration] = recorder.points()["gen_ai.client.operation.duration"]
    assert "error.type" not in duration.attributes


async def test_a_retried_request_is_one_request_span_and_a_span_per_attempt(
    recorder: Recorder,
) -> None:
    clock = FakeClock()
    transport = ScriptedTransport(error(429, {"retry-after": "2"}), ok())
    async with make_client(transport, recorder, clock=clock) as sg:
        response = await jumping(clock, lambda: sg.chat(MODEL, "hi"))
    assert response.attempts == 2
    request = recorder.request_span
    first, second = recorder.attempt_spans
    assert first.status.status_code is StatusCode.ERROR
    has(first.attributes, {**COMMON, "sluicegate.attempt": 1, "error.type": "429"})
    assert "sluicegate.retry.wait" not in first.attributes  # type: ignore[operator]
    assert second.status.status_code is StatusCode.UNSET
    has(second.attributes, {"sluicegate.attempt": 2, "gen_ai.usage.output_tokens": 2})
    assert "error.type" not in second.attributes  # type: ignore[operator]
    # the server's 2 s, waited by the retry stage or held at the rate limiter: all counted
    waits = (
        second.attributes["sluicegate.retry.wait"] + second.attributes["sluicegate.rate_limit.wait"]
    )  # type: ignore[index,operator]
    assert waits == pytest.approx(2.0)
    assert request.status.status_code is StatusCode.UNSET
    has(request.attributes, {"sluicegate.attempts": 2, "gen_ai.usage.output_tokens": 2})
    [duration] = recorder.points()["gen_ai.client.operation.duration"]
    assert duration.sum == pytest.approx(2.0)  # on the client's clock
    assert "error.type" not in duration.attributes


async def test_a_retry_after_a_503_records_the_backoff_wait(recorder: Recorder) -> None:
    clock = FakeClock()
    transport = ScriptedTransport(error(503), ok())
    async with make_client(transport, recorder, clock=clock) as sg:
        await jumping(clock, lambda: sg.chat(MODEL, "hi"))
    first, second = recorder.attempt_spans
    assert first.attributes["error.type"] == "503"  # type: ignore[index]
    wait = second.attributes["sluicegate.retry.wait"]  # type: ignore[index]
    assert wait > 0  # type: ignore[operator]
    [duration] = recorder.points()["gen_ai.client.operation.duration"]
    assert duration.sum == pytest.approx(wait)


async def test_a_retried_stream_puts_every_attempt_under_its_request(recorder: Recorder) -> None:
    clock = FakeClock()
    transport = ScriptedTransport(error(503), stream_ok("x"))

    async def read() -> str:
        async with sg.stream(MODEL, "hi") as stream:
            return (await stream.final_response()).text

    async with make_client(transport, recorder, clock=clock) as sg:
        assert await jumping(clock, read) == "x"
    first, second = recorder.attempt_spans
    assert first.attributes["error.type"] == "503"  # type: ignore[index]
    assert second.attributes["sluicegate.retry.wait"] > 0  # type: ignore[index,operator]
    has(recorder.request_span.attributes, {"sluicegate.attempts": 2, "sluicegate.stream": True})


async def test_a_failed_request_has_error_type_and_status_error_at_both_levels(
    recorder: Recorder,
) -> None:
    async with make_client(ScriptedTransport(error(503)), recorder, instant=True) as sg:
        with pytest.raises(ProviderError):
            await sg.chat(MODEL, "hi")
    request = recorder.request_span
    attempts = recorder.attempt_spans
    assert [s.attributes["sluicegate.attempt"] for s in attempts] == [1, 2, 3]  # type: ignore[index]
    for span in (request, *attempts):
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == "503"
        has(span.attributes, {**COMMON, "error.type": "503"})
        assert "gen_ai.usage.input_tokens" not in span.attributes  # type: ignore[operator]
    points = recorder.points()
    [duration] = points["gen_ai.client.operation.duration"]
    assert dict(duration.attributes) == {**COMMON, "error.type": "503"}
    assert "gen_ai.client.token.usage" not in points and "sluicegate.client.cost" not in points


async def test_a_400_is_not_retried_and_both_spans_say_400(
    recorder: Recorder,
) -> None:
    async with make_client(ScriptedTransport(error(400)), recorder) as sg:
        with pytest.raises(ProviderError):
            await sg.chat(MODEL, "hi")
    assert recorder.request_span.attributes["error.type"] == "400"  # type: ignore[index]
    [attempt] = recorder.attempt_spans  # not retryable: one attempt
    assert attempt.attributes["error.type"] == "400"  # type: ignore[index]


def breaker_client(
    transport: ScriptedTransport,
    recorder: Recorder,
    breaker: BreakerPolicy,
    clock: FakeClock | None = None,
) -> Client:
    """A client whose breaker opens on one failure, and that does not retry."""
    return Client(
        providers=PROVIDERS,
        transport=transport,
        load_entry_points=False,
        clock=clock,
        plugins=[recorder.instrumentor()],
        stage_settings={"retry": RetryPolicy(attempts=1), "breaker": breaker},
    )


async def test_an_open_circuit_is_a_request_span_with_the_circuit_state(
    recorder: Recorder,
) -> None:
    breaker = BreakerPolicy(min_throughput=1, failure_ratio=1.0)
    async with breaker_client(ScriptedTransport(error(500)), recorder, breaker) as sg:
        with pytest.raises(ProviderError):
            await sg.chat(MODEL, "hi")
        with pytest.raises(CircuitOpenError):
            await sg.chat(MODEL, "hi")
    refused = [s for s in recorder.spans if s.parent is None][-1]
    assert refused.attributes["sluicegate.circuit.state"] == "open"  # type: ignore[index]
    assert refused.attributes["error.type"] == "circuit_open"  # type: ignore[index]
    assert refused.status.status_code is StatusCode.ERROR
    # no attempt was made: the only attempt span is the first request's
    assert len([s for s in recorder.spans if s.parent is not None]) == 1


async def test_an_attempt_held_by_the_rate_limiter_records_the_wait(recorder: Recorder) -> None:
    from sluicegate.limits import Limit, RateLimits

    clock = FakeClock()
    limits = RateLimits(rules=[Limit(MODEL, rpm=60, burst_s=1)], adaptive=False)

    async def two() -> None:
        await sg.chat(MODEL, "one")
        await sg.chat(MODEL, "two")

    async with Client(
        providers=PROVIDERS,
        transport=ScriptedTransport(ok()),
        load_entry_points=False,
        plugins=[recorder.instrumentor()],
        stage_settings={"rate_limit": limits},
        clock=clock,
    ) as sg:
        await jumping(clock, two)
    attempts = sorted(
        (s for s in recorder.spans if s.parent is not None), key=lambda s: s.start_time or 0
    )
    waits = [s.attributes["sluicegate.rate_limit.wait"] for s in attempts]  # type: ignore[index]
    assert waits[0] == 0.0 and waits[1] == pytest.approx(1.0)
    assert all("sluicegate.retry.wait" not in (s.attributes or {}) for s in attempts)


async def test_each_attempt_span_has_the_circuit_state_it_was_admitted_in(
    recorder: Recorder,
) -> None:
    # a failure opens the circuit; after break_s the next call is the half-open probe,
    # whose success closes it again
    clock = FakeClock()
    breaker = BreakerPolicy(min_throughput=1, failure_ratio=1.0, break_s=10, half_open_probes=1)
    transport = ScriptedTransport(error(500), ok(), ok())
    async with breaker_client(transport, recorder, breaker, clock=clock) as sg:
        with pytest.raises(ProviderError):
            await sg.chat(MODEL, "hi")
        with pytest.raises(CircuitOpenError):
            await sg.chat(MODEL, "hi")
        clock.advance(10)
        await sg.chat(MODEL, "hi")
        await sg.chat(MODEL, "hi")
    attempts = sorted(
        (s for s in recorder.spans if s.parent is not None), key=lambda s: s.start_time or 0
    )
    states = [s.attributes["sluicegate.circuit.state"] for s in attempts]  # type: ignore[index]
    assert states == ["closed", "half_open", "closed"]
    refused = [s for s in recorder.spans if s.parent is None][1]
    assert refused.attributes["sluicegate.circuit.state"] == "open"  # type: ignore[index]


async def test_without_a_breaker_no_span_claims_a_circuit_state(recorder: Recorder) -> None:
    async with make_client(ScriptedTransport(ok()), recorder, disable=["breaker"]) as sg:
        await sg.chat(MODEL, "hi")
    assert all("sluicegate.circuit.state" not in (s.attributes or {}) for s in recorder.spans)
