"""The Anthropic codec refuses malformed answers, plain and streamed, with a
ResponseFormatError naming the provider, the model and the field, and never lets another
exception out (issue 10)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluicegate.errors import ProviderError, ResponseFormatError
from sluicegate.sse import SSEEvent
from sluicegate.transports.base import HttpResponse
from sluicegate.types import Request, Usage
from sluicegate_anthropic.codec import AnthropicProvider

CODEC = AnthropicProvider("http://127.0.0.1:9", {})
REQUEST = Request(model="anthropic/claude-x", messages=())


def message(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "message",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }
    body.update(changes)
    return body


def malformed(body: bytes | dict[str, Any]) -> ResponseFormatError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(ResponseFormatError) as info:
        CODEC.decode(REQUEST, HttpResponse(200, {}, raw))
    error = info.value
    assert error.provider == "anthropic" and error.model == "claude-x"
    assert error.status == 200 and error.retryable
    return error


def test_a_valid_message_decodes() -> None:
    raw = json.dumps(message()).encode()
    assert CODEC.decode(REQUEST, HttpResponse(200, {}, raw)).usage == Usage(3, 1, 0, 0)


def test_json_nested_100000_levels_is_malformed_not_a_recursion_error() -> None:
    assert "nested too deeply" in malformed(b"[" * 100_000 + b"]" * 100_000).message


def test_usage_1e999_is_malformed_not_an_overflow_error() -> None:
    raw = json.dumps(message()).replace('"input_tokens": 3', '"input_tokens": 1e999').encode()
    assert "usage.input_tokens" in malformed(raw).message


@pytest.mark.parametrize("value", [-1_000_000, 2**53 + 1, 0.5, "7", False, [1]])
@pytest.mark.parametrize(
    "field",
    ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"],
)
def test_usage_outside_0_to_2_53_is_malformed(field: str, value: object) -> None:
    usage = {"input_tokens": 3, "output_tokens": 1, field: value}
    assert f"usage.{field}" in malformed(message(usage=usage)).message


def test_invalid_utf8_is_malformed_naming_the_encoding() -> None:
    assert "UTF-8" in malformed(b'{"content": [{"type": "text", "text": "\xc3\x28"}]}').message


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (message(content={"type": "text"}), "content"),
        (message(content=["x"]), "content[0]"),
        (message(content=[{"type": "text", "text": 5}]), "content[0].text"),
        (message(content=[{"type": 1}]), "content[0].type"),
        (
            message(content=[{"type": "tool_use", "id": 1, "name": "f", "input": {}}]),
            "content[0].id",
        ),
        (
            message(content=[{"type": "tool_use", "id": "t", "name": None, "input": {}}]),
            "content[0].name",
        ),
        (message(usage="lots"), "usage"),
    ],
)
def test_wrong_types_and_shapes_name_the_field(body: dict[str, Any], path: str) -> None:
    assert f"{path}:" in malformed(body).message


def test_an_error_answer_nested_deeply_is_still_a_provider_error() -> None:
    body = b'{"type": "error", "error": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    error = CODEC.decode_error(REQUEST, HttpResponse(529, {}, body))
    assert type(error) is ProviderError and error.status == 529


# -- streams ---------------------------------------------------------------------------


def stream_malformed(*data: str) -> ResponseFormatError:
    decoder = CODEC.stream_decoder(REQUEST)
    with pytest.raises(ResponseFormatError) as info:
        for item in data:
            decoder.feed(SSEEvent("message", item))
    assert info.value.provider == "anthropic" and info.value.model == "claude-x"
    assert info.value.retryable
    return info.value


START = '{"type": "message_start", "message": {"usage": {"input_tokens": 3}}}'


def test_a_string_in_a_streams_usage_is_malformed_not_a_value_error() -> None:
    data = '{"type": "message_delta", "delta": {}, "usage": {"output_tokens": "many"}}'
    assert "usage.output_tokens" in stream_malformed(START, data).message


def test_negative_usage_in_a_stream_is_malformed() -> None:
    data = '{"type": "message_start", "message": {"usage": {"input_tokens": -1000000}}}'
    assert "message.usage.input_tokens" in stream_malformed(data).message


BLOCK_DELTA = "content_block_delta"
BLOCK_START = "content_block_start"
TOOL = {"type": "tool_use", "id": "t", "name": "f"}


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ({"type": BLOCK_DELTA, "index": 0, "delta": "x"}, "delta"),
        (
            {"type": BLOCK_DELTA, "index": 0, "delta": {"type": "text_delta", "text": 1}},
            "delta.text",
        ),
        (
            {
                "type": BLOCK_DELTA,
                "index": 1e999,
                "delta": {"type": "input_json_delta", "partial_json": "{"},
            },
            "index",
        ),
        (
            {
                "type": BLOCK_DELTA,
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": []},
            },
            "delta.partial_json",
        ),
        ({"type": BLOCK_START, "index": "0", "content_block": TOOL}, "index"),
        (
            {"type": BLOCK_START, "index": 0, "content_block": {**TOOL, "id": None}},
            "content_block.id",
        ),
        (
            {"type": BLOCK_START, "index": 0, "content_block": {"type": "text", "text": {}}},
            "content_block.text",
        ),
        ({"type": "message_start", "message": []}, "message"),
        ({"type": "message_delta", "delta": {"stop_reason": 5}}, "delta.stop_reason"),
        ({"type": "message_delta", "delta": {}, "usage": [1]}, "usage"),
        ({"type": ["message_stop"]}, "type"),
    ],
)
def test_a_stream_event_of_the_wrong_shape_is_malformed(event: dict[str, Any], path: str) -> None:
    assert f"{path}:" in stream_malformed(json.dumps(event)).message


def test_a_stream_event_nested_too_deeply_is_malformed() -> None:
    assert "nested too deeply" in stream_malformed("[" * 100_000 + "]" * 100_000).message
