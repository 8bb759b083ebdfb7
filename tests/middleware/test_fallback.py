"""The fallback stage: the next model answers when the first one's circuit is open or its
retries are spent; the caller's own mistakes never fall back. Both backends, fake clock."""

from __future__ import annotations

import pickle

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
from sluicegate import AuthenticationError, ProviderError, RateLimitedError, StreamError
from sluicegate.breaker import BreakerPolicy, CircuitOpenError
from sluicegate.chain import Reply
from sluicegate.errors import BadInputError, SluicegateError
from sluicegate.middleware.fallback import (
    AllModelsFailedError,
    FallbackPolicy,
    FallbackStage,
    should_fall_back,
)
from sluicegate.streaming import EventStream
from sluicegate.types import Done, Request, Response, TextDelta

pytestmark = pytest.mark.anyio

FIRST, SECOND, THIRD = "openai/gpt-4o", "backup/model-b", "openai/gpt-4o-mini"


async def test_answers_from_the_fallback_when_the_circuit_is_open() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)], "model-b": [ok("from b")]})
    rig = make_rig(transport, breaker=BreakerPolicy(min_throughput=2))
    async with rig.client as client:
        for _ in range(2):
            with pytest.raises(ProviderError):
                await client.chat(FIRST, "hi")
        response = await client.send(request_for(FIRST, fallbacks=[SECOND]))
    assert response.text == "from b"
    assert (response.model, response.provider) == (SECOND, "backup")
    assert transport.sent == ["gpt-4o", "gpt-4o", "model-b"]  # the open circuit sent nothing


async def test_answers_from_the_fallback_when_retries_are_spent() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)], "model-b": [ok("from b")]})
    retry = CountingRetry(attempts=3)
    rig = make_rig(transport, breaker=False, retry=retry)
    async with rig.client as client:
        response = await client.send(request_for(FIRST, fallbacks=[SECOND]))
    assert (response.text, response.model) == ("from b", SECOND)
    assert retry.tries == [FIRST, FIRST, FIRST, SECOND]


async def test_breaker_retry_and_fallback_together() -> None:
    """The first model's circuit opens during its retries, which stops them; the fallback
    answers; later requests skip the first model without sending to it."""
    transport = ModelTransport({"gpt-4o": [cut()], "model-b": [ok("from b")]})
    retry = CountingRetry(attempts=5)
    rig = make_rig(transport, breaker=BreakerPolicy(min_throughput=2), retry=retry)
    async with rig.client as client:
        for _ in range(3):
            response = await client.send(request_for(FIRST, fallbacks=[SECOND]))
            assert response.model == SECOND
    assert transport.count("gpt-4o") == 2
    assert transport.count("model-b") == 3


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (error(400), ProviderError),
        (error(401), AuthenticationError),
        (error(404), ProviderError),
        (error(429, code="insufficient_quota"), RateLimitedError),
    ],
    ids=["400", "401", "404", "quota"],
)
async def test_callers_mistakes_do_not_fall_back(answer: object, kind: type) -> None:
    transport = ModelTransport({"gpt-4o": [answer], "model-b": [ok()]})  # type: ignore[list-item]
    retry = CountingRetry(attempts=3)
    rig = make_rig(transport, retry=retry)
    async with rig.client as client:
        with pytest.raises(kind) as info:
            await client.send(request_for(FIRST, fallbacks=[SECOND]))
    assert type(info.value) is kind and not info.value.retryable
    assert transport.sent == ["gpt-4o"]
    assert not getattr(info.value, "__notes__", None)  # nothing was tried before


async def test_all_models_failing_names_every_model() -> None:
    transport = ModelTransport(
        {
            "gpt-4o": [error(503, message="down")],
            "model-b": [error(429, message="busy", code="rate_limit_exceeded")],
            "gpt-4o-mini": [cut()],
        }
    )
    rig = make_rig(transport, breaker=False)
    async with rig.client as client:
        with pytest.raises(AllModelsFailedError) as info:
            await client.send(request_for(FIRST, fallbacks=[SECOND, THIRD]))
    err = info.value
    assert err.models == (FIRST, SECOND, THIRD)
    assert [type(e) for _, e in err.errors] == [
        ProviderError,
        RateLimitedError,
        type(err.errors[2][1]),
    ]
    for model in (FIRST, SECOND, THIRD):
        assert model in err.message
    assert "HTTP 503" in err.message and "busy" in err.message
    assert isinstance(err, ProviderError) and err.retryable is False
    assert (err.provider, err.model) == ("openai", "gpt-4o-mini")
    assert err.__cause__ is err.errors[-1][1]
    assert transport.sent == ["gpt-4o", "model-b", "gpt-4o-mini"]
    copy = pickle.loads(pickle.dumps(err))
    assert copy.message == err.message and copy.models == err.models


async def test_all_failed_retry_after_is_the_soonest_any_model_may_take_requests() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)], "model-b": [error(503)]})
    rig = make_rig(transport, breaker=BreakerPolicy(min_throughput=1, break_s=30.0))
    async with rig.client as client:
        with pytest.raises(AllModelsFailedError):
            await client.send(request_for(FIRST, fallbacks=[SECOND]))
        rig.clock.advance(10.0)
        with pytest.raises(AllModelsFailedError) as info:
            await client.send(request_for(FIRST, fallbacks=[SECOND]))
    assert all(isinstance(e, CircuitOpenError) for _, e in info.value.errors)
    assert info.value.retry_after == pytest.approx(20.0)
    assert len(transport.sent) == 2


async def test_a_mistake_on_a_fallback_model_is_raised_with_a_note_of_what_came_before() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)], "model-b": [error(400, message="bad")]})
    rig = make_rig(transport, breaker=False)
    async with rig.client as client:
        with pytest.raises(ProviderError) as info:
            await client.send(request_for(FIRST, fallbacks=[SECOND, THIRD]))
    assert info.value.status == 400 and info.value.model == "model-b"
    assert any(FIRST in note for note in info.value.__notes__)
    assert transport.sent == ["gpt-4o", "model-b"]


async def test_fallbacks_are_tried_in_order_each_once() -> None:
    transport = ModelTransport(
        {"gpt-4o": [error(500)], "model-b": [error(502)], "gpt-4o-mini": [ok("third")]}
    )
    rig = make_rig(transport, breaker=False)
    async with rig.client as client:
        response = await client.send(request_for(FIRST, fallbacks=[SECOND, FIRST, SECOND, THIRD]))
    assert response.model == THIRD
    assert transport.sent == ["gpt-4o", "model-b", "gpt-4o-mini"]


async def test_without_fallbacks_the_error_is_unchanged() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)]})
    rig = make_rig(transport, breaker=False)
    async with rig.client as client:
        with pytest.raises(ProviderError) as info:
            await client.chat(FIRST, "hi")
    assert type(info.value) is ProviderError and info.value.status == 503


async def test_stream_falls_back_when_it_fails_before_its_first_event() -> None:
    transport = ModelTransport(
        {"gpt-4o": [stream_error_event()], "model-b": [stream_ok("b1", "b2")]}
    )
    rig = make_rig(transport, breaker=False)
    async with rig.client:
        reply = await rig.send(request_for(FIRST, fallbacks=[SECOND], stream=True))
        assert isinstance(reply, EventStream)
        try:
            events = [event async for event in reply]
        finally:
            await reply.aclose()
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["b1", "b2"]
    done = events[-1]
    assert isinstance(done, Done) and done.response.model == SECOND
    assert all(stream.closed for stream in transport.streams)


async def test_stream_failing_after_its_first_event_does_not_fall_back() -> None:
    from sluicegate.testing import Answer, openai_sse

    partial = Answer(200, {}, openai_sse(["a1 "], done=False)[:1], cut=True)
    transport = ModelTransport({"gpt-4o": [partial], "model-b": [stream_ok("b")]})
    rig = make_rig(transport, breaker=False)
    async with rig.client:
        reply = await rig.send(request_for(FIRST, fallbacks=[SECOND], stream=True))
        assert isinstance(reply, EventStream)
        with pytest.raises(StreamError) as info:
            async for _ in reply:
                pass
        await reply.aclose()
    assert info.value.partial_text == "a1 "
    assert transport.sent == ["gpt-4o"]


async def test_every_stream_failing_names_every_model() -> None:
    transport = ModelTransport({"gpt-4o": [stream_error_event()], "model-b": [error(503)]})
    rig = make_rig(transport, breaker=False)
    async with rig.client:
        reply = await rig.send(request_for(FIRST, fallbacks=[SECOND], stream=True))
        assert isinstance(reply, EventStream)
        with pytest.raises(AllModelsFailedError) as info:
            async for _ in reply:
                pass
        await reply.aclose()
    assert info.value.models == (FIRST, SECOND)
    assert isinstance(info.value.errors[0][1], StreamError)


async def test_client_chat_takes_fallbacks() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)], "model-b": [ok("from b")]})
    rig = make_rig(transport, breaker=False)
    async with rig.client as client:
        response = await client.chat(FIRST, "hi", fallbacks=[SECOND])
    assert response.model == SECOND
    assert all("fallbacks" not in body for body in transport.bodies)  # not sent as a param


async def test_client_chat_takes_a_single_fallback_name() -> None:
    transport = ModelTransport({"gpt-4o": [error(503)], "model-b": [ok("from b")]})
    rig = make_rig(transport, breaker=False)
    async with rig.client as client:
        request = client._request(FIRST, "hi", {"fallbacks": SECOND}, stream=False)
        assert request.metadata.fallbacks == (SECOND,), (
            "Client._request must coerce a single fallbacks= string to a 1-tuple, "
            "not tuple('backup/model-b') (one model per character)"
        )
        response = await client.chat(FIRST, "hi", fallbacks=SECOND)
    assert response.model == SECOND


# -- the stage alone ------------------------------------------------------------------------


async def test_without_fallbacks_the_request_passes_through_untouched() -> None:
    seen: list[Request] = []

    async def call_next(request: Request) -> Reply:
        seen.append(request)
        return Response(text="x", model=request.model, provider=request.provider)

    request = request_for(FIRST)
    await FallbackStage(FallbackPolicy())(request, call_next)
    assert seen == [request] and seen[0] is request


async def test_each_fallback_model_gets_its_own_idempotency_key() -> None:
    """Same key for every retry of one model, but not across models: a server may tie a
    key to one request body, and another model's answer is another result."""
    seen: list[Request] = []

    async def call_next(request: Request) -> Reply:
        seen.append(request)
        if request.model != THIRD:
            raise ProviderError("busy", provider="openai", model="x", status=503, retryable=True)
        return Response(text="x", model=request.model, provider=request.provider)

    request = request_for(FIRST, fallbacks=[SECOND, THIRD])
    request = request.replace(metadata=request.metadata.replace(idempotency_key="idem-1"))
    await FallbackStage(FallbackPolicy())(request, call_next)
    assert [r.metadata.idempotency_key for r in seen] == [
        "idem-1",
        f"idem-1:{SECOND}",
        f"idem-1:{THIRD}",
    ]


async def test_a_custom_rule_decides_what_falls_back() -> None:
    async def call_next(request: Request) -> Reply:
        if request.model == FIRST:
            raise BadInputError("too long for this model's context")
        return Response(text="ok", model=request.model, provider=request.provider)

    stage = FallbackStage(FallbackPolicy(should_fall_back=lambda e: isinstance(e, BadInputError)))
    response = await stage(request_for(FIRST, fallbacks=[SECOND]), call_next)
    assert isinstance(response, Response) and response.model == SECOND


def test_the_default_rule() -> None:
    retryable = ProviderError("x", provider="p", model="m", status=503, retryable=True)
    circuit = CircuitOpenError(
        "open",
        provider="p",
        model="m",
        state=None,
        until=None,
        retry_after=None,  # type: ignore[arg-type]
    )
    fatal = ProviderError("x", provider="p", model="m", status=400)
    assert should_fall_back(retryable) and should_fall_back(circuit)
    assert not should_fall_back(fatal)
    assert not should_fall_back(SluicegateError("budget exceeded"))


def test_fallback_settings() -> None:
    from sluicegate.errors import ConfigError

    assert FallbackPolicy.from_setting(None) == FallbackPolicy()
    assert FallbackPolicy.from_setting(False) is None
    with pytest.raises(ConfigError):
        FallbackPolicy.from_setting("yes")
