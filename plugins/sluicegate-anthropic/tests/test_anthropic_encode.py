"""Request encoding: URL, headers and body shapes, checked against the official SDK's
request types (``anthropic.types.MessageCreateParams``) as well as by value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from anthropic.types import message_create_params

from sluicegate import BadInputError, Secret
from sluicegate.dispatch import for_attempt
from sluicegate.providers.base import BoundProvider
from sluicegate.types import (
    ImagePart,
    Message,
    Metadata,
    Params,
    Request,
    TextPart,
    Tool,
    ToolCall,
    coerce_messages,
)
from sluicegate_anthropic.codec import AnthropicProvider
from sluicegate_anthropic.plugin import SPEC
from sluicegate_anthropic.request import DEFAULT_MAX_TOKENS

_PLAIN = pydantic.TypeAdapter(message_create_params.MessageCreateParamsNonStreaming)
_STREAMING = pydantic.TypeAdapter(message_create_params.MessageCreateParamsStreaming)

WEATHER = Tool(
    name="get_weather",
    description="Current weather for a city.",
    parameters={
        "type": "object",
        "properties": {"location": {"type": "string"}},
        "required": ["location"],
    },
)


def _force(value: Any) -> Any:
    """Pydantic validates ``Iterable`` fields lazily; walk them so every block is checked."""
    if isinstance(value, dict):
        return {k: _force(v) for k, v in value.items()}
    if isinstance(value, list | tuple | Iterator):
        return [_force(v) for v in value]
    return value


# The installed SDK (2.x) describes API version 2026-10-21, which dropped the sampling
# parameters; the codec pins 2023-06-01, under which they are still accepted. They are
# checked by value in the tests below and left out of the comparison with the SDK types.
_SAMPLING_ONLY_IN_2023_06_01 = ("temperature", "top_p", "top_k")


def assert_sdk_accepts(body: dict[str, Any]) -> None:
    """The SDK's request types accept the body and keep every key (an unknown or misspelt
    key would be dropped by the TypedDict validation and break the equality)."""
    adapter = _STREAMING if body.get("stream") else _PLAIN
    checked = {k: v for k, v in body.items() if k not in _SAMPLING_ONLY_IN_2023_06_01}
    assert _force(adapter.validate_python(checked)) == checked


def request(messages: Any = "hello", **kwargs: Any) -> Request:
    meta = kwargs.pop("meta", Metadata(request_id="req_test"))
    stream = kwargs.pop("stream", False)
    credential = kwargs.pop("credential", None)
    return Request(
        model="anthropic/claude-sonnet-4-5",
        messages=coerce_messages(messages),
        params=Params.from_kwargs(kwargs),
        metadata=meta,
        stream=stream,
        credential=credential,
    )


def body_of(codec: AnthropicProvider, req: Request) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(codec.encode(req).body)
    assert_sdk_accepts(out)
    return out


def test_url_appends_v1_messages_to_a_host_root() -> None:
    assert AnthropicProvider("https://api.anthropic.com", {}).url == (
        "https://api.anthropic.com/v1/messages"
    )
    assert (
        AnthropicProvider("http://127.0.0.1:8080/", {}).url == "http://127.0.0.1:8080/v1/messages"
    )
    # A gateway prefix is kept, as the SDK's ANTHROPIC_BASE_URL does.
    assert AnthropicProvider("https://gw.example/anthropic", {}).url == (
        "https://gw.example/anthropic/v1/messages"
    )


def test_minimal_request(codec: AnthropicProvider) -> None:
    http = codec.encode(request())
    assert http.method == "POST"
    assert http.url == "https://api.anthropic.com/v1/messages"
    assert json.loads(http.body) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "hello"}],
    }
    assert_sdk_accepts(json.loads(http.body))


def test_default_max_tokens_is_sent_and_an_explicit_one_wins(codec: AnthropicProvider) -> None:
    assert DEFAULT_MAX_TOKENS == 1024
    assert body_of(codec, request())["max_tokens"] == 1024
    assert body_of(codec, request(max_tokens=50))["max_tokens"] == 50
    assert body_of(codec, request(max_tokens=0))["max_tokens"] == 0  # the server judges 0


def test_the_codec_writes_its_protocol_headers_only(codec: AnthropicProvider) -> None:
    """The key, Idempotency-Key and caller headers are the dispatcher's (see below)."""
    meta = Metadata(request_id="r", idempotency_key="idem-1", headers={"x-trace": "t1"})
    http = codec.encode(request(meta=meta, credential=Secret("sk-ant-test-key-123456")))
    assert http.headers == {"content-type": "application/json", "anthropic-version": "2023-06-01"}


def test_the_dispatcher_adds_key_then_idempotency_then_caller_headers() -> None:
    codec = AnthropicProvider(
        "https://api.anthropic.com",
        {"Anthropic-Version": "2024-01-01", "anthropic-beta": "prompt-caching-2024-07-31"},
    )
    bound = BoundProvider("anthropic", SPEC, codec, "https://api.anthropic.com", None)  # type: ignore[arg-type]
    req = request(
        meta=Metadata(
            request_id="r",
            idempotency_key="idem-1",
            headers={"x-trace": "t1", "anthropic-beta": "other"},
        ),
        credential=Secret("sk-ant-test-key-123456"),
    )
    headers = for_attempt(bound, req, codec.encode(req)).headers
    assert headers["anthropic-version"] == "2024-01-01"  # configured, case-folded, replaces
    assert "Anthropic-Version" not in headers
    assert headers["x-api-key"] == "sk-ant-test-key-123456"  # SPEC's credential_header
    assert "authorization" not in headers
    assert headers["idempotency-key"] == "idem-1"
    assert headers["x-trace"] == "t1"
    assert headers["anthropic-beta"] == "other"  # per-request metadata wins
    keyless = for_attempt(bound, request(), codec.encode(request())).headers
    assert "x-api-key" not in keyless  # a keyless gateway gets no key header


def test_streaming_adds_stream_flag_and_accept(codec: AnthropicProvider) -> None:
    http = codec.encode(request(stream=True))
    assert json.loads(http.body)["stream"] is True
    assert http.headers["accept"] == "text/event-stream"
    assert_sdk_accepts(json.loads(http.body))
    plain = codec.encode(request())
    assert "stream" not in json.loads(plain.body)
    assert "accept" not in plain.headers


def test_encoding_does_not_leak_state_between_requests(codec: AnthropicProvider) -> None:
    first = codec.encode(request(stream=True, credential=Secret("sk-ant-first-key-0001")))
    second = codec.encode(request())
    assert "accept" not in second.headers
    assert first.headers["accept"] == "text/event-stream"


def test_single_system_message_is_hoisted_as_a_string(codec: AnthropicProvider) -> None:
    body = body_of(
        codec,
        request(
            [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "hi"},
            ]
        ),
    )
    assert body["system"] == "You are terse."
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_several_system_messages_become_text_blocks_in_order(codec: AnthropicProvider) -> None:
    body = body_of(
        codec,
        request(
            [
                {"role": "system", "content": "Rule one."},
                {"role": "user", "content": "hi"},
                {"role": "system", "content": [{"type": "text", "text": "Rule two."}]},
                {"role": "system", "content": ""},  # nothing to send
                {"role": "assistant", "content": "hello"},
            ]
        ),
    )
    assert body["system"] == [
        {"type": "text", "text": "Rule one."},
        {"type": "text", "text": "Rule two."},
    ]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]


def test_no_system_field_without_system_text(codec: AnthropicProvider) -> None:
    body = body_of(
        codec, request([{"role": "system", "content": ""}, {"role": "user", "content": "x"}])
    )
    assert "system" not in body


def test_image_in_system_message_is_refused(codec: AnthropicProvider) -> None:
    msg = Message(role="system", content=(ImagePart("https://x/y.png"),))
    with pytest.raises(BadInputError, match=r"messages\[0\]\.content\[0\]"):
        codec.encode(request([msg, Message(role="user", content="hi")]))


def test_sampling_parameters(codec: AnthropicProvider) -> None:
    body = body_of(codec, request(temperature=0.2, top_p=0.9, stop=["END", "STOP"]))
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    assert body["stop_sequences"] == ["END", "STOP"]
    assert "stop" not in body
    assert body_of(codec, request(stop="END"))["stop_sequences"] == ["END"]


def test_extra_parameters_pass_through_and_win(codec: AnthropicProvider) -> None:
    body = body_of(
        codec,
        request(
            top_k=5,
            metadata={"user_id": "u-1"},
            thinking={"type": "enabled", "budget_tokens": 2048},
            max_tokens=4096,
        ),
    )
    assert body["top_k"] == 5
    assert body["metadata"] == {"user_id": "u-1"}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 4096


def test_tools(codec: AnthropicProvider) -> None:
    bare = Tool(name="now")
    body = body_of(codec, request(tools=[WEATHER, bare]))
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "input_schema": {
                "type": "object",
                "properties": {"location": {"type": "string"}},
                "required": ["location"],
            },
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]


def test_openai_style_tool_dicts_are_accepted(codec: AnthropicProvider) -> None:
    tool = {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": {"type": "object"}},
    }
    body = body_of(codec, request(tools=[tool]))
    assert body["tools"] == [{"name": "f", "description": "d", "input_schema": {"type": "object"}}]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("any", {"type": "any"}),
        ("none", {"type": "none"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
        ({"type": "tool", "name": "get_weather"}, {"type": "tool", "name": "get_weather"}),
        (
            {"type": "auto", "disable_parallel_tool_use": True},
            {"type": "auto", "disable_parallel_tool_use": True},
        ),
    ],
)
def test_tool_choice(codec: AnthropicProvider, choice: Any, expected: dict[str, Any]) -> None:
    assert body_of(codec, request(tools=[WEATHER], tool_choice=choice))["tool_choice"] == expected


@pytest.mark.parametrize("choice", ["sometimes", {"type": "function"}, {"type": "weird"}])
def test_bad_tool_choice_names_the_field(codec: AnthropicProvider, choice: Any) -> None:
    with pytest.raises(BadInputError) as info:
        codec.encode(request(tools=[WEATHER], tool_choice=choice))
    assert info.value.field == "tool_choice"


def test_tool_round_trip_messages(codec: AnthropicProvider) -> None:
    """An OpenAI-style tool conversation: assistant tool_calls -> tool_use blocks, the
    tool messages answering them -> one user turn of tool_result blocks."""
    messages = [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking both.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                },
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"location": "Rome"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18°C, cloudy"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "25°C"}]},
        {"role": "user", "content": "Thanks!"},
    ]
    body = body_of(codec, request(messages, tools=[WEATHER]))
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"location": "Paris"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"location": "Rome"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C, cloudy"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "25°C"}],
                },
            ],
        },
        {"role": "user", "content": "Thanks!"},
    ]


def test_assistant_tool_call_without_text_or_arguments(codec: AnthropicProvider) -> None:
    msg = Message(role="assistant", tool_calls=(ToolCall(id="toolu_9", name="now", arguments=""),))
    body = body_of(codec, request([Message(role="user", content="time?"), msg]))
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "toolu_9", "name": "now", "input": {}}],
    }


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", '"text"'])
def test_tool_call_arguments_must_be_a_json_object(
    codec: AnthropicProvider, arguments: str
) -> None:
    msg = Message(role="assistant", tool_calls=(ToolCall(id="t", name="f", arguments=arguments),))
    with pytest.raises(BadInputError) as info:
        codec.encode(request([Message(role="user", content="x"), msg]))
    assert info.value.field == "messages[1].tool_calls[0].arguments"


def test_tool_message_needs_its_call_id(codec: AnthropicProvider) -> None:
    with pytest.raises(BadInputError, match="tool_call_id"):
        codec.encode(request([Message(role="tool", content="42")]))


def test_empty_tool_result_sends_no_content(codec: AnthropicProvider) -> None:
    body = body_of(codec, request([Message(role="tool", tool_call_id="toolu_1")]))
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1"}]}
    ]


def test_images(codec: AnthropicProvider) -> None:
    msg = Message(
        role="user",
        content=(
            TextPart("What is in these?"),
            ImagePart("data:image/png;base64,iVBORw0KGgo="),
            ImagePart("https://example.com/cat.jpg"),
        ),
    )
    body = body_of(codec, request([msg]))
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_openai_style_image_parts_are_accepted(codec: AnthropicProvider) -> None:
    body = body_of(
        codec,
        request(
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"},
                        },
                    ],
                }
            ]
        ),
    )
    assert body["messages"][0]["content"][1]["source"] == {
        "type": "base64",
        "media_type": "image/jpeg",
        "data": "/9j/4AAQ",
    }


@pytest.mark.parametrize("url", ["data:image/svg+xml,<svg/>", "data:image/png;base64"])
def test_non_base64_data_url_is_refused(codec: AnthropicProvider, url: str) -> None:
    msg = Message(role="user", content=(ImagePart(url),))
    with pytest.raises(BadInputError) as info:
        codec.encode(request([msg]))
    assert info.value.field == "messages[0].content[0]"


def test_message_name_is_not_sent(codec: AnthropicProvider) -> None:
    body = body_of(codec, request([{"role": "user", "content": "hi", "name": "alice"}]))
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_body_is_compact_utf8_json(codec: AnthropicProvider) -> None:
    raw = codec.encode(request("café ☕")).body
    assert "café ☕".encode() in raw
    assert b": " not in raw and b", " not in raw
