"""An error event inside an HTTP 200 OpenAI stream (``data: {"error": {...}}``), through a
real client: retried (or fallen back from) while no text or tool-call delta has reached
the caller, even when bookkeeping events came first; a typed :class:`StreamError` with the
delivered text as ``partial_text`` after one. Usage chunks before the first delta are what
vLLM's ``continuous_usage_stats`` and some relays send; Anthropic's ``message_start`` case
is in the plugin's tests/test_anthropic_stream_retry.py. Every async test runs on asyncio
and trio; the property test runs each example on both.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluicegate import Client, ProviderSettings, RetryPolicy, StreamError
from sluicegate.streaming import EventStream
from sluicegate.testing import (
    Answer,
    FaultPlan,
    MockConfig,
    ScriptedTransport,
    create_app,
    openai_sse,
)
from sluicegate.testing.content import generate_answer
from sluicegate.transports.memory import MemoryTransport
from sluicegate.types import (
    Done,
    FinishEvent,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)

pytestmark = pytest.mark.anyio

KEY = "sk-test-0123456789abcdefghijklmnop"
MODEL = "openai/gpt-4o-mini"
BACKUP = "openai/gpt-4o"
SERVER_ERROR = {
    "error": {
        "message": "The server had an error while processing your request.",
        "type": "server_error",
        "param": None,
        "code": None,
    }
}


def data(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def role_chunk(usage: tuple[int, int] | None = None) -> bytes:
    """The opening chunk (role, empty content); with ``usage``, as vLLM's
    ``continuous_usage_stats`` sends it on every chunk."""
    body: dict[str, Any] = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
    }
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
    return data(body)


def text_chunk(text: str) -> bytes:
    return data({"choices": [{"index": 0, "delta": {"content": text}}]})


def streamed(*chunks: bytes, chunk_size: int | None = None) -> Answer:
    body = b"".join(chunks)
    size = chunk_size or len(body)
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return Answer(200, {"content-type": "text/event-stream"}, parts)


def succeeds(*texts: str, usage: tuple[int, int] = (7, 2)) -> Answer:
    return Answer(200, {"content-type": "text/event-stream"}, openai_sse(list(texts), usage=usage))


def make_client(
    transport: Any, *, retry: Any = None, base_url: str = "http://api.test/v1"
) -> Client:
    return Client(
        providers={"openai": ProviderSettings(api_key=KEY, base_url=base_url)},
        transport=transport,
        load_entry_points=False,
        disable=["breaker", "rate_limit", "idempotency"],
        stage_settings={"retry": RetryPolicy(attempts=3, instant=True) if retry is None else retry},
        rng=random.Random(0),
    )


async def read_all(client: Client, model: str = MODEL, **params: Any) -> list[StreamEvent]:
    async with client.stream(model, "hi", **params) as stream:
        return [event async for event in stream]


def texts_of(events: Sequence[StreamEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


def sent_models(transport: ScriptedTransport) -> list[str]:
    return [json.loads(r.body)["model"] for r in transport.requests]


# -- EventStream's two counts -------------------------------------------------------------


class _Events:
    def __init__(self, events: Sequence[StreamEvent]) -> None:
        self._events = list(events)

    async def next_event(self) -> StreamEvent:
        if not self._events:
            raise StopAsyncIteration
        return self._events.pop(0)

    async def aclose(self) -> None:
        return None


async def test_event_stream_counts_every_event_and_the_content_events_apart() -> None:
    from sluicegate.types import Response

    response = Response(text="ab", model=MODEL, provider="openai")
    events: list[StreamEvent] = [
        UsageEvent(Usage(3, 0)),
        TextDelta("a"),
        ToolCallDelta(index=0, id="c", name="f"),
        FinishEvent("stop"),
        TextDelta("b"),
        Done(response),
    ]
    stream = EventStream(_Events(events))
    counts = []
    async for _ in stream:
        counts.append((stream.delivered, stream.content_delivered))
    assert counts == [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3)]
    assert stream.response is response


# -- retry ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 9, None])
async def test_error_event_after_a_usage_chunk_but_before_any_text_is_retried(
    chunk_size: int | None,
) -> None:
    failed = streamed(role_chunk((40, 0)), data(SERVER_ERROR), chunk_size=chunk_size)
    transport = ScriptedTransport(failed, succeeds("Hel", "lo", usage=(7, 2)))
    async with make_client(transport) as client:
        events = await read_all(client)
        ledger = client.ledger.snapshot().total
    assert len(transport.requests) == 2
    assert all(s.closed for s in transport.streams)
    assert texts_of(events) == ["Hel", "lo"]
    done = events[-1]
    assert isinstance(done, Done)
    assert done.response.text == "Hello"
    assert done.response.attempts == 2
    # The failed attempt's usage chunk reached the caller, but the answer is the retry's.
    assert [e.usage for e in events if isinstance(e, UsageEvent)] == [Usage(40, 0), Usage(7, 2)]
    assert done.response.usage == Usage(7, 2)
    assert (ledger.requests, ledger.errors, ledger.input_tokens, ledger.output_tokens) == (
        1,
        0,
        7,
        2,
    )
    assert done.response.cost is not None and math.isclose(ledger.cost, done.response.cost)


async def test_error_event_after_a_text_delta_is_a_stream_error_with_the_text() -> None:
    failed = streamed(
        role_chunk((40, 0)), text_chunk("Hel"), text_chunk("lo, w"), data(SERVER_ERROR)
    )
    transport = ScriptedTransport(failed, succeeds("never"))
    seen: list[str] = []
    async with make_client(transport) as client:
        with pytest.raises(StreamError) as info:
            async with client.stream(MODEL, "hi") as stream:
                async for text in stream.text_chunks():
                    seen.append(text)
    err = info.value
    assert len(transport.requests) == 1
    assert seen == ["Hel", "lo, w"]
    assert err.partial_text == "Hello, w"
    assert (err.status, err.error_type, err.retryable) == (200, "server_error", True)
    assert (err.provider, err.model) == ("openai", "gpt-4o-mini")


async def test_error_event_after_a_tool_call_delta_is_not_retried() -> None:
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f"}}
    tool = data({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    transport = ScriptedTransport(streamed(tool, data(SERVER_ERROR)), succeeds("never"))
    async with make_client(transport) as client:
        with pytest.raises(StreamError) as info:
            await read_all(client)
    assert len(transport.requests) == 1
    assert info.value.partial_text == ""


async def test_a_not_retryable_error_event_before_any_text_is_raised_at_once() -> None:
    quota = {"error": {"message": "quota", "type": "insufficient_quota", "code": None}}
    transport = ScriptedTransport(streamed(role_chunk((40, 0)), data(quota)), succeeds("never"))
    async with make_client(transport) as client:
        with pytest.raises(StreamError) as info:
            await read_all(client)
    assert len(transport.requests) == 1
    assert info.value.retryable is False


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    usage_chunks=st.integers(0, 3),
    texts=st.lists(st.text(min_size=1, max_size=8), max_size=4),
    chunk_size=st.integers(1, 64),
)
def test_only_a_delta_makes_a_stream_error_final(
    usage_chunks: int, texts: list[str], chunk_size: int
) -> None:
    """Whatever bookkeeping came first and however the bytes were cut: no delta before the
    error → retried, the caller gets the retry's text once; any delta → a StreamError
    whose partial_text is exactly the text the caller got, and no second request."""
    chunks = [role_chunk((40, 0)) for _ in range(usage_chunks)]
    chunks += [text_chunk(t) for t in texts]
    chunks.append(data(SERVER_ERROR))

    async def scenario() -> None:
        transport = ScriptedTransport(
            streamed(*chunks, chunk_size=chunk_size), succeeds("fresh ", "answer")
        )
        seen: list[str] = []
        async with make_client(transport) as client:
            try:
                async with client.stream(MODEL, "hi") as stream:
                    async for text in stream.text_chunks():
                        seen.append(text)
                    response = stream.response
            except StreamError as err:
                assert texts, "a stream with no delta before its error was not retried"
                assert len(transport.requests) == 1
                assert seen == texts
                assert err.partial_text == "".join(texts)
            else:
                assert not texts, "a stream error after a delta was retried"
                assert len(transport.requests) == 2
                assert seen == ["fresh ", "answer"]
                assert response is not None and response.usage == Usage(7, 2)

    for backend in ("asyncio", "trio"):
        anyio.run(scenario, backend=backend)


# -- fallback ---------------------------------------------------------------------------


async def test_fallback_replaces_a_stream_failing_after_usage_but_before_any_text() -> None:
    failed = streamed(role_chunk((40, 0)), data(SERVER_ERROR))
    transport = ScriptedTransport(failed, succeeds("from ", "backup", usage=(5, 3)))
    async with make_client(transport, retry=False) as client:
        events = await read_all(client, fallbacks=[BACKUP])
    assert sent_models(transport) == ["gpt-4o-mini", "gpt-4o"]
    assert texts_of(events) == ["from ", "backup"]
    done = events[-1]
    assert isinstance(done, Done)
    assert (done.response.model, done.response.usage) == (BACKUP, Usage(5, 3))


async def test_fallback_keeps_a_stream_error_after_a_text_delta() -> None:
    failed = streamed(role_chunk((40, 0)), text_chunk("par"), data(SERVER_ERROR))
    transport = ScriptedTransport(failed, succeeds("never"))
    async with make_client(transport, retry=False) as client:
        with pytest.raises(StreamError) as info:
            await read_all(client, fallbacks=[BACKUP])
    assert sent_models(transport) == ["gpt-4o-mini"]
    assert info.value.partial_text == "par"


async def test_retry_then_fallback_before_any_text() -> None:
    # Retry spends its attempts on the first model (each failing after a usage chunk), then
    # fallback's rule, the same as retry's, moves on instead of giving up.
    failed = streamed(role_chunk((40, 0)), data(SERVER_ERROR))
    transport = ScriptedTransport(failed, failed, succeeds("ok"))
    async with make_client(transport, retry=RetryPolicy(attempts=2, instant=True)) as client:
        events = await read_all(client, fallbacks=[BACKUP])
    assert sent_models(transport) == ["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"]
    assert texts_of(events) == ["ok"]


# -- end to end through the in-process mock server --------------------------------------


async def test_mock_server_stream_error_before_any_piece_is_retried() -> None:
    app = create_app(MockConfig(faults=FaultPlan(script=["stream_error"]), fault_after_pieces=0))
    async with make_client(MemoryTransport(app), base_url="http://mock.test/v1") as client:
        events = await read_all(client, "openai/gpt-mock", max_tokens=30)
    assert app.stats.requests == 2
    assert "".join(texts_of(events)) == generate_answer("hi", 30, "gpt-mock").text
    done = events[-1]
    assert isinstance(done, Done) and done.response.attempts == 2


async def test_mock_server_stream_error_after_pieces_is_a_stream_error() -> None:
    app = create_app(MockConfig(faults=FaultPlan(script=["stream_error"]), fault_after_pieces=3))
    seen: list[str] = []
    async with make_client(MemoryTransport(app), base_url="http://mock.test/v1") as client:
        with pytest.raises(StreamError) as info:
            async with client.stream("openai/gpt-mock", "hi", max_tokens=30) as stream:
                async for text in stream.text_chunks():
                    seen.append(text)
    assert app.stats.requests == 1
    expected = "".join(generate_answer("hi", 30, "gpt-mock").tokens[:3])
    assert info.value.partial_text == expected == "".join(seen)
