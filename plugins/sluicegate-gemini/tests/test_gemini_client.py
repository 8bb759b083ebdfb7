"""End to end through ``sluicegate.Client``: the plugin's codec in the real chain and
dispatcher, over real HTTP against sluicegate's mock server speaking the Gemini API
(``models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``). The mock's
shapes are checked on their own by the official google-genai SDK
(``tests/testing/test_gemini_sdk.py``). Every test runs on asyncio and on trio."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import sluicegate
from sluicegate import (
    AuthenticationError,
    ProviderError,
    ProviderSettings,
    RateLimitedError,
    StreamError,
)
from sluicegate.testing import FaultPlan, MockConfig, serve_mock
from sluicegate.testing.content import count_input_tokens, generate_answer
from sluicegate.types import Done, TextDelta, ToolCallDelta
from sluicegate_gemini import plugin

pytestmark = pytest.mark.anyio

MODEL = "gemini-2.5-flash"
KEY = "gemini-test-key-0123456789"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


class Review(BaseModel):
    sentiment: Literal["positive", "negative", "mixed"]
    score: int


def client_for(base_url: str, api_key: str = KEY, **kwargs: Any) -> sluicegate.Client:
    # The plugin is passed explicitly and entry points are off, so these tests do not
    # depend on the package's entry point (test_gemini_plugin checks it).
    kwargs.setdefault("disable", ["retry"])
    return sluicegate.Client(
        providers={"gemini": ProviderSettings(base_url=base_url, api_key=api_key)},
        plugins=[plugin],
        load_entry_points=False,
        timeout=20.0,
        **kwargs,
    )


async def test_a_plain_answer_with_its_usage_and_the_model_in_the_url() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name three rivers."},
    ]
    config = MockConfig(require_api_key=KEY)
    async with serve_mock(config) as server, client_for(server.gemini_base_url) as client:
        response = await client.chat(f"gemini/{MODEL}", messages, max_tokens=40)
        paths = dict(server.stats.by_path)
    expected = generate_answer("Name three rivers.", 40, MODEL)
    assert response.text == expected.text
    assert response.provider == "gemini"
    assert response.model == f"gemini/{MODEL}"
    assert response.finish_reason == expected.finish_reason
    assert response.usage.input_tokens == count_input_tokens(
        ["You are terse.", "Name three rivers."]
    )
    assert response.usage.output_tokens == expected.output_tokens
    assert paths == {f"/v1beta/models/{MODEL}:generateContent": 1}


async def test_a_stream_gives_the_same_answer_as_a_plain_call() -> None:
    async with serve_mock() as server, client_for(server.gemini_base_url) as client:
        plain = await client.chat(f"gemini/{MODEL}", "hello there", max_tokens=50)
        pieces: list[str] = []
        events: list[Any] = []
        async with client.stream(f"gemini/{MODEL}", "hello there", max_tokens=50) as stream:
            async for event in stream:
                events.append(event)
                if isinstance(event, TextDelta):
                    pieces.append(event.text)
            final = stream.response
        paths = dict(server.stats.by_path)
        succeeded = server.stats.succeeded
    assert isinstance(events[-1], Done)
    assert final is not None
    assert len(pieces) > 1
    assert "".join(pieces) == plain.text == final.text
    assert final.usage == plain.usage
    assert final.finish_reason == plain.finish_reason == "stop"
    assert paths[f"/v1beta/models/{MODEL}:streamGenerateContent"] == 1
    assert succeeded == 2


async def test_a_wrong_key_is_an_authentication_error_that_never_shows_the_key() -> None:
    config = MockConfig(require_api_key=KEY)
    async with serve_mock(config) as server:
        async with client_for(server.gemini_base_url, api_key="wrong-key-0123") as client:
            with pytest.raises(AuthenticationError) as info:
                await client.chat(f"gemini/{MODEL}", "hello")
    # Google answers a wrong key with a 400 INVALID_ARGUMENT whose ErrorInfo says so
    assert info.value.status == 400
    assert info.value.error_type == "INVALID_ARGUMENT"
    assert info.value.retryable is False
    assert "wrong-key-0123" not in str(info.value) and "wrong-key-0123" not in repr(info.value)


async def test_a_rate_limit_waits_its_retry_info_and_is_retried() -> None:
    # the RetryInfo wait is the only wait the client has (no Retry-After): a short one
    config = MockConfig(retry_after_s=0.05, faults=FaultPlan(script=["rate_limit", None]))
    async with serve_mock(config) as server, client_for(server.gemini_base_url, disable=[]) as c:
        response = await c.chat(f"gemini/{MODEL}", "hello")
        requests = server.stats.requests
    assert response.text
    assert response.attempts == 2
    assert requests == 2


async def test_a_rate_limit_error_carries_the_retry_info_wait() -> None:
    config = MockConfig(retry_after_s=3.5)
    async with serve_mock(config) as server, client_for(server.gemini_base_url) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.chat(f"gemini/{MODEL}", "hi", headers={"x-mock-fault": "rate_limit"})
    assert info.value.retry_after == 3.5
    assert info.value.retryable is True
    assert info.value.error_type == "RESOURCE_EXHAUSTED"


async def test_a_daily_quota_is_not_retried() -> None:
    config = MockConfig(faults=FaultPlan(script=["quota"]))
    async with serve_mock(config) as server, client_for(server.gemini_base_url, disable=[]) as c:
        with pytest.raises(RateLimitedError) as info:
            await c.chat(f"gemini/{MODEL}", "hi")
        requests = server.stats.requests
    assert info.value.retryable is False
    assert requests == 1


@pytest.mark.parametrize(
    ("fault", "status", "kind"),
    [("overloaded", 503, "UNAVAILABLE"), ("server_error", 500, "INTERNAL")],
)
async def test_server_errors_are_typed_and_retryable(fault: str, status: int, kind: str) -> None:
    async with serve_mock() as server, client_for(server.gemini_base_url) as client:
        with pytest.raises(ProviderError) as info:
            await client.chat(f"gemini/{MODEL}", "hi", headers={"x-mock-fault": fault})
    assert (info.value.status, info.value.error_type, info.value.retryable) == (status, kind, True)


async def test_a_cut_stream_is_a_stream_error_keeping_the_text() -> None:
    config = MockConfig(fault_after_pieces=3)
    async with serve_mock(config) as server, client_for(server.gemini_base_url) as client:
        texts: list[str] = []
        with pytest.raises(StreamError) as info:
            async with client.stream(
                f"gemini/{MODEL}", "hello", headers={"x-mock-fault": "cut_stream"}
            ) as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        texts.append(event.text)
    expected = generate_answer("hello", None, MODEL)
    assert "".join(texts) == "".join(expected.tokens[:3])
    assert info.value.partial_text == "".join(texts)


async def test_an_error_event_in_a_stream_is_typed() -> None:
    async with serve_mock() as server, client_for(server.gemini_base_url) as client:
        with pytest.raises(ProviderError) as info:
            async with client.stream(
                f"gemini/{MODEL}", "hello", headers={"x-mock-fault": "stream_error"}
            ) as stream:
                async for _ in stream:
                    pass
    assert info.value.error_type == "UNAVAILABLE"
    assert info.value.retryable is True


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
async def test_a_tool_call(streamed: bool) -> None:
    prompt = "What is the weather in Lisbon?"
    async with serve_mock() as server, client_for(server.gemini_base_url) as client:
        if streamed:
            async with client.stream(f"gemini/{MODEL}", prompt, tools=[WEATHER_TOOL]) as stream:
                events = [e async for e in stream]
                response = stream.response
            delta = next(e for e in events if isinstance(e, ToolCallDelta))
            assert delta.name == "get_weather"
        else:
            response = await client.chat(f"gemini/{MODEL}", prompt, tools=[WEATHER_TOOL])
    assert response is not None
    assert response.finish_reason == "tool_calls"
    [call] = response.tool_calls
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"location": "Lisbon"}


async def test_a_tool_result_conversation_is_answered_in_text() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "What is the weather in Lisbon?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Lisbon"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": "25°C and sunny"},
    ]
    async with serve_mock() as server, client_for(server.gemini_base_url) as client:
        response = await client.chat(f"gemini/{MODEL}", messages, tools=[WEATHER_TOOL])
    assert response.tool_calls == ()
    assert response.text


async def test_a_structured_answer_is_reasked_until_it_fits() -> None:
    config = MockConfig(invalid_json_answers=2)
    async with serve_mock(config) as server, client_for(server.gemini_base_url) as client:
        response = await client.chat(f"gemini/{MODEL}", "Review: it works", response_format=Review)
        stats = server.stats.snapshot()
    assert isinstance(response.parsed, Review)
    assert response.attempts == 3
    assert stats["requests"] == 3 and stats["succeeded"] == 3
    # the usage of all three asks is summed, as the server counted it
    assert response.usage.input_tokens == stats["input_tokens"]
    assert response.usage.output_tokens == stats["output_tokens"]


async def test_server_side_rate_limits_answer_with_retry_info_and_no_headers() -> None:
    config = MockConfig(rpm=60, rate_limit_burst_s=1.0)  # one request, then one a second
    async with serve_mock(config) as server, client_for(server.gemini_base_url) as client:
        await client.chat(f"gemini/{MODEL}", "first")
        with pytest.raises(RateLimitedError) as info:
            await client.chat(f"gemini/{MODEL}", "second")
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 1.0
    assert not any(name.startswith("x-ratelimit") for name in info.value.headers)
