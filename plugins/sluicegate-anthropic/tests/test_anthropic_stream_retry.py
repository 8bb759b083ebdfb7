"""An ``event: error`` inside a 200 Anthropic stream, through the whole client chain.

Anthropic opens every stream with ``message_start``, whose usage the decoder hands up as a
:class:`UsageEvent` before any text; an ``overloaded_error`` right after it has shown the
caller no text, so the retry stage must open a new stream in its place (and the answer's
usage and cost are the successful attempt's alone). Once a text or tool-call delta has
reached the caller the error stays a typed :class:`StreamError` whose ``partial_text`` is
that text. Each case is checked on a scripted transport (byte for byte, re-chunked) and,
where the mock server can produce it, end to end through the in-process mock app.
Every test runs on asyncio and on trio.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import pytest

import sluicegate
from sluicegate import ProviderSettings, RetryPolicy, StreamError
from sluicegate.testing import Answer, FaultPlan, MockConfig, ScriptedTransport, create_app
from sluicegate.testing.content import generate_answer
from sluicegate.transports.memory import MemoryTransport
from sluicegate.types import Done, StreamEvent, TextDelta, ToolCallDelta, Usage, UsageEvent
from sluicegate_anthropic import plugin

pytestmark = pytest.mark.anyio

MODEL = "anthropic/claude-sonnet-4-5"
KEY = "sk-ant-retry-test-0000000000"


def sse(*events: dict[str, Any]) -> bytes:
    """Anthropic's wire form: each event named after its ``type``."""
    return b"".join(
        f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode() for event in events
    )


def message_start(input_tokens: int, cache_read: int = 0) -> dict[str, Any]:
    usage = {"input_tokens": input_tokens, "output_tokens": 1}
    if cache_read:
        usage["cache_read_input_tokens"] = cache_read
    return {
        "type": "message_start",
        "message": {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        },
    }


TEXT_BLOCK = {
    "type": "content_block_start",
    "index": 0,
    "content_block": {"type": "text", "text": ""},
}
PING = {"type": "ping"}
OVERLOADED = {
    "type": "error",
    "error": {"type": "overloaded_error", "message": "Overloaded"},
    "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
}


def text_delta(text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }


def ending(output_tokens: int) -> tuple[dict[str, Any], ...]:
    return (
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": output_tokens},
        },
        {"type": "message_stop"},
    )


# The failed attempt reports cache reads the successful one does not: any of its usage
# leaking into the answer would show up in cached_tokens and input_tokens.
FAILED_BEFORE_TEXT = sse(message_start(25, cache_read=100), TEXT_BLOCK, PING, OVERLOADED)
SUCCEEDS = sse(
    message_start(12), TEXT_BLOCK, text_delta("Hello"), text_delta(", world"), *ending(9)
)
SUCCESS_USAGE = Usage(input_tokens=12, output_tokens=9)


def scripted(*bodies: bytes, chunk_size: int = 37) -> ScriptedTransport:
    """Answers the n-th streamed request with the n-th body (the last one repeats), cut
    into ``chunk_size``-byte reads."""
    return ScriptedTransport(
        *(
            Answer(
                200,
                {"content-type": "text/event-stream"},
                [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)],
            )
            for body in bodies
        )
    )


def client_with(transport: Any, base_url: str = "https://api.anthropic.com") -> sluicegate.Client:
    return sluicegate.Client(
        providers={"anthropic": ProviderSettings(base_url=base_url, api_key=KEY)},
        plugins=[plugin],
        transport=transport,
        disable=["breaker", "rate_limit"],
        stage_settings={"retry": RetryPolicy(attempts=3, instant=True)},
    )


async def read_all(client: sluicegate.Client, model: str = MODEL) -> list[StreamEvent]:
    async with client.stream(model, "hi", max_tokens=50) as stream:
        return [event async for event in stream]


def texts(events: Sequence[StreamEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


@pytest.mark.parametrize("chunk_size", [1, 5, 37, 100_000])
async def test_overloaded_before_any_text_is_retried_and_the_answer_is_the_retry_alone(
    chunk_size: int,
) -> None:
    transport = scripted(FAILED_BEFORE_TEXT, SUCCEEDS, chunk_size=chunk_size)
    async with client_with(transport) as client:
        events = await read_all(client)
        ledger = client.ledger.snapshot().total
    assert len(transport.requests) == 2
    assert all(stream.closed for stream in transport.streams)
    assert texts(events) == ["Hello", ", world"]  # the text once, from the second attempt
    done = events[-1]
    assert isinstance(done, Done)
    response = done.response
    assert response.text == "Hello, world"
    assert response.attempts == 2
    assert response.usage == SUCCESS_USAGE
    # The failed attempt's UsageEvent did reach the caller (it came before the error); the
    # answer's usage must not have absorbed it.
    usages = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert usages[0] == Usage(input_tokens=125, output_tokens=1, cached_tokens=100)
    assert usages[-1] == SUCCESS_USAGE
    # Charged once, for the attempt that answered.
    assert (ledger.requests, ledger.errors, ledger.cut_streams) == (1, 0, 0)
    assert (ledger.input_tokens, ledger.output_tokens, ledger.cached_tokens) == (12, 9, 0)
    assert response.cost is not None and response.cost > 0
    assert math.isclose(ledger.cost, response.cost)


async def test_overloaded_after_a_text_delta_is_a_stream_error_with_the_text_so_far() -> None:
    body = sse(message_start(25), TEXT_BLOCK, text_delta("Hello"), text_delta(", wor"), OVERLOADED)
    transport = scripted(body, SUCCEEDS, chunk_size=5)
    seen: list[str] = []
    async with client_with(transport) as client:
        with pytest.raises(StreamError) as info:
            async with client.stream(MODEL, "hi") as stream:
                async for text in stream.text_chunks():
                    seen.append(text)
        ledger = client.ledger.snapshot().total
    err = info.value
    assert len(transport.requests) == 1  # retryable, but the caller already has text
    assert seen == ["Hello", ", wor"]
    assert err.partial_text == "Hello, wor"
    assert (err.status, err.error_type, err.retryable) == (200, "overloaded_error", True)
    assert err.request_id == "req_011CSHoEeqs5C35K2UUqR7Fy"
    assert (ledger.cut_streams, ledger.errors) == (1, 1)


async def test_overloaded_after_a_tool_call_delta_is_not_retried() -> None:
    tool_block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
    }
    transport = scripted(sse(message_start(25), tool_block, OVERLOADED), SUCCEEDS)
    async with client_with(transport) as client:
        events: list[StreamEvent] = []
        with pytest.raises(StreamError) as info:
            async with client.stream(MODEL, "weather?") as stream:
                async for event in stream:
                    events.append(event)
    assert len(transport.requests) == 1
    assert [type(e) for e in events] == [UsageEvent, ToolCallDelta]
    assert info.value.partial_text == ""
    assert info.value.error_type == "overloaded_error"


async def test_overloaded_before_any_text_every_time_gives_up_as_a_stream_error() -> None:
    transport = scripted(FAILED_BEFORE_TEXT)
    async with client_with(transport) as client:
        with pytest.raises(StreamError) as info:
            await read_all(client)
    assert len(transport.requests) == 3  # every attempt the policy allows
    assert info.value.partial_text == ""
    assert info.value.error_type == "overloaded_error"
    assert any("not retried after 3 attempts" in note for note in info.value.__notes__)


# -- end to end through the in-process mock server --------------------------------------


async def test_mock_server_stream_error_before_any_piece_is_retried() -> None:
    # fault_after_pieces=0: message_start, the text block's start and a ping, then the
    # error event; the script faults the first request only.
    app = create_app(MockConfig(faults=FaultPlan(script=["stream_error"]), fault_after_pieces=0))
    async with client_with(MemoryTransport(app), base_url="http://mock.test") as client:
        events = await read_all(client, "anthropic/claude-mock")
        ledger = client.ledger.snapshot().total
    expected = generate_answer("hi", 50, "claude-mock")
    assert "".join(texts(events)) == "".join(expected.tokens)
    done = events[-1]
    assert isinstance(done, Done)
    assert done.response.attempts == 2
    assert app.stats.requests == 2
    assert ledger.requests == 1 and ledger.errors == 0
    assert ledger.output_tokens == done.response.usage.output_tokens


async def test_mock_server_stream_error_after_pieces_keeps_the_partial_text() -> None:
    app = create_app(MockConfig(faults=FaultPlan(script=["stream_error"]), fault_after_pieces=2))
    seen: list[str] = []
    async with client_with(MemoryTransport(app), base_url="http://mock.test") as client:
        with pytest.raises(StreamError) as info:
            async with client.stream("anthropic/claude-mock", "hi", max_tokens=50) as stream:
                async for text in stream.text_chunks():
                    seen.append(text)
    expected = "".join(generate_answer("hi", 50, "claude-mock").tokens[:2])
    assert app.stats.requests == 1
    assert info.value.partial_text == expected == "".join(seen)
    assert info.value.error_type == "overloaded_error"
