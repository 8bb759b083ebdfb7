"""End to end through ``sluicegate.Client``: the plugin's codec in the real chain and
dispatcher, over real HTTP against sluicegate's mock server, and over a transport that
replays the recorded streams byte for byte. Every test runs on asyncio and on trio."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import sluicegate
from sluicegate import (
    AuthenticationError,
    ProviderError,
    ProviderSettings,
    RateLimitedError,
    ResponseFormatError,
    StreamError,
)
from sluicegate.testing import Answer, MockConfig, ScriptedTransport, serve_mock
from sluicegate.testing.content import generate_answer
from sluicegate.types import Done, TextDelta, ToolCallDelta, Usage
from sluicegate_anthropic import plugin

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent / "data"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


def client_for(base_url: str, api_key: str = "test-key", **kwargs: Any) -> sluicegate.Client:
    # The plugin is passed explicitly too, so these tests do not depend on the package's
    # entry point being installed (test_anthropic_plugin checks that separately); a plugin
    # registered both ways is registered once. Retries are disabled so a fault is seen as
    # the codec reports it, on the first attempt.
    return sluicegate.Client(
        providers={"anthropic": ProviderSettings(base_url=base_url, api_key=api_key)},
        plugins=[plugin],
        disable=["retry"],
        timeout=20.0,
        **kwargs,
    )


# -- against the mock server ------------------------------------------------------------


async def test_plain_chat() -> None:
    async with serve_mock() as server, client_for(server.base_url) as client:
        response = await client.chat("anthropic/claude-mock", "hello", max_tokens=50)
    expected = generate_answer("hello", 50, "claude-mock")
    assert response.text == expected.text
    assert response.provider == "anthropic"
    assert response.model == "anthropic/claude-mock"
    assert response.finish_reason in ("stop", "length")
    assert response.usage.input_tokens > 0
    assert response.usage.output_tokens == expected.output_tokens
    assert response.latency > 0
    assert server.stats.by_path["/v1/messages"] == 1


async def test_stream_gives_the_same_response_as_a_plain_call() -> None:
    async with serve_mock() as server, client_for(server.base_url) as client:
        plain = await client.chat("anthropic/claude-mock", "hello", max_tokens=50)
        pieces: list[str] = []
        events: list[Any] = []
        async with client.stream("anthropic/claude-mock", "hello", max_tokens=50) as stream:
            async for event in stream:
                events.append(event)
                if isinstance(event, TextDelta):
                    pieces.append(event.text)
            final = stream.response
    assert isinstance(events[-1], Done)
    assert final is not None
    assert "".join(pieces) == plain.text == final.text
    assert final.usage == plain.usage
    assert final.finish_reason == plain.finish_reason
    assert final.provider == "anthropic"


async def test_default_max_tokens_is_accepted_by_the_server() -> None:
    async with serve_mock() as server, client_for(server.base_url) as client:
        response = await client.chat("anthropic/claude-mock", "a question with no max_tokens")
    assert response.text


async def test_key_is_sent_as_x_api_key() -> None:
    config = MockConfig(require_api_key="test-key")
    async with serve_mock(config) as server:
        async with client_for(server.base_url) as client:
            response = await client.chat("anthropic/claude-mock", "hello", max_tokens=10)
            assert response.text
        async with client_for(server.base_url, api_key="wrong-key-0123") as client:
            with pytest.raises(AuthenticationError) as info:
                await client.chat("anthropic/claude-mock", "hello", max_tokens=10)
    assert info.value.status == 401
    assert info.value.error_type == "authentication_error"
    assert info.value.retryable is False
    assert "wrong-key-0123" not in str(info.value)


async def test_system_prompt_and_idempotency_key_reach_the_server() -> None:
    async with serve_mock() as server, client_for(server.base_url) as client:
        messages = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hello"},
        ]
        response = await client.chat(
            "anthropic/claude-mock", messages, max_tokens=20, idempotency_key="idem-42"
        )
    assert response.text
    assert server.stats.idempotency["idem-42"] == [1, 1, 0]  # received, charged, replayed


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_tool_call(streamed: bool) -> None:
    prompt = "What is the weather in Rome?"
    async with serve_mock() as server, client_for(server.base_url) as client:
        if streamed:
            async with client.stream(
                "anthropic/claude-mock", prompt, tools=[WEATHER_TOOL], tool_choice="auto"
            ) as stream:
                events = [e async for e in stream]
                response = stream.response
            first = next(e for e in events if isinstance(e, ToolCallDelta))
            assert first.id and first.name == "get_weather"
        else:
            response = await client.chat(
                "anthropic/claude-mock", prompt, tools=[WEATHER_TOOL], tool_choice="auto"
            )
    assert response is not None
    assert response.finish_reason == "tool_calls"
    [call] = response.tool_calls
    assert call.name == "get_weather"
    assert call.id.startswith("toolu_")
    assert json.loads(call.arguments) == {"location": "Rome"}


async def test_tool_result_conversation_is_accepted() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Rome?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "25°C and sunny"},
    ]
    async with serve_mock() as server, client_for(server.base_url) as client:
        response = await client.chat(
            "anthropic/claude-mock", messages, tools=[WEATHER_TOOL], max_tokens=30
        )
    assert response.tool_calls == ()
    assert response.text


async def test_rate_limit_fault() -> None:
    async with (
        serve_mock(MockConfig(retry_after_s=2.0)) as server,
        client_for(server.base_url) as c,
    ):
        with pytest.raises(RateLimitedError) as info:
            await c.chat("anthropic/claude-mock", "hi", headers={"x-mock-fault": "rate_limit"})
    assert info.value.retryable is True
    assert info.value.retry_after == 2.0
    assert info.value.error_type == "rate_limit_error"
    assert info.value.request_id is not None and info.value.request_id.startswith("req_mock")


async def test_spend_limit_fault_is_not_retryable() -> None:
    async with serve_mock() as server, client_for(server.base_url) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.chat("anthropic/claude-mock", "hi", headers={"x-mock-fault": "quota"})
    assert info.value.retryable is False


async def test_overloaded_529_fault() -> None:
    async with serve_mock() as server, client_for(server.base_url) as client:
        with pytest.raises(ProviderError) as info:
            await client.chat("anthropic/claude-mock", "hi", headers={"x-mock-fault": "overloaded"})
    assert info.value.status == 529
    assert info.value.error_type == "overloaded_error"
    assert info.value.retryable is True


async def test_malformed_body_fault() -> None:
    async with serve_mock() as server, client_for(server.base_url) as client:
        with pytest.raises(ResponseFormatError) as info:
            await client.chat("anthropic/claude-mock", "hi", headers={"x-mock-fault": "malformed"})
    assert info.value.retryable is True


async def test_error_event_mid_stream_keeps_the_partial_text() -> None:
    config = MockConfig(fault_after_pieces=3)
    async with serve_mock(config) as server, client_for(server.base_url) as client:
        pieces: list[str] = []
        with pytest.raises(StreamError) as info:
            async with client.stream(
                "anthropic/claude-mock",
                "hello",
                max_tokens=50,
                headers={"x-mock-fault": "stream_error"},
            ) as stream:
                async for text in stream.text_chunks():
                    pieces.append(text)
    err = info.value
    assert err.status == 200
    assert err.error_type == "overloaded_error"
    assert err.retryable is True
    # The three pieces sent before the error event are in partial_text. How many of them
    # reached the caller first depends on how the transport chunked the bytes: pieces that
    # arrive in the same read as the error event are not delivered (dispatch stops at the
    # error), so the delivered text is a prefix of partial_text, not always all of it.
    assert err.partial_text == "".join(generate_answer("hello", 50, "claude-mock").tokens[:3])
    assert err.partial_text.startswith("".join(pieces))


async def test_cut_stream_is_a_retryable_stream_error() -> None:
    async with serve_mock() as server, client_for(server.base_url) as client:
        with pytest.raises(StreamError) as info:
            async with client.stream(
                "anthropic/claude-mock",
                "hello",
                max_tokens=50,
                headers={"x-mock-fault": "cut_stream"},
            ) as stream:
                await stream.final_response()
    assert info.value.retryable is True


# -- replaying recorded streams through the client --------------------------------------


def replay(status: int, body: bytes, chunk_size: int = 37) -> ScriptedTransport:
    """A transport answering every request with one recorded stream, cut into
    ``chunk_size``-byte chunks (so events and UTF-8 characters straddle chunks)."""
    chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    return ScriptedTransport(Answer(status, {"content-type": "text/event-stream"}, chunks))


def replay_client(transport: ScriptedTransport) -> sluicegate.Client:
    return client_for(
        "https://api.anthropic.com", api_key="sk-ant-replay-key-000000", transport=transport
    )


Recorded = Callable[[str], bytes]


async def test_replayed_tool_use_stream(recorded: Recorded) -> None:
    transport = replay(200, recorded("stream_tool_use"))
    async with replay_client(transport) as client:
        async with client.stream(
            "anthropic/claude-sonnet-4-5", "weather in SF?", tools=[WEATHER_TOOL]
        ) as s:
            response = await s.final_response()
    [sent] = transport.requests
    assert sent.url == "https://api.anthropic.com/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-replay-key-000000"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert json.loads(sent.body)["stream"] is True
    assert response.text.endswith("naïvely 🌁:")
    assert response.finish_reason == "tool_calls"
    assert [(c.name, json.loads(c.arguments)) for c in response.tool_calls] == [
        ("get_weather", {"location": "San Francisco, CA", "unit": "fahrenheit"})
    ]
    assert response.usage == Usage(input_tokens=1496, output_tokens=89, cached_tokens=1024)
    assert transport.streams[0].closed


async def test_replayed_overloaded_stream(recorded: Recorded) -> None:
    transport = replay(200, recorded("stream_overloaded"), chunk_size=5)
    async with replay_client(transport) as client:
        with pytest.raises(StreamError) as info:
            async with client.stream("anthropic/claude-sonnet-4-5", "hi") as stream:
                async for _ in stream:
                    pass
    err = info.value
    assert err.partial_text == "Hello, wor"
    assert err.error_type == "overloaded_error"
    assert err.retryable is True
    assert err.status == 200
    assert transport.streams[0].closed


async def test_replayed_529_before_the_stream_starts() -> None:
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    transport = replay(529, body)
    async with replay_client(transport) as client:
        with pytest.raises(ProviderError) as info:
            async with client.stream("anthropic/claude-sonnet-4-5", "hi"):
                pass
    assert info.value.status == 529
    assert info.value.retryable is True
    assert info.value.request_id is None or isinstance(info.value.request_id, str)
