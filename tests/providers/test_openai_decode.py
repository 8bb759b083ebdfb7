"""The OpenAI codec refuses malformed answers with a ResponseFormatError that names the
provider, the model and the field, and never lets another exception out (issue 10)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluicegate.errors import ProviderError, ResponseFormatError
from sluicegate.providers.openai import OpenAIProvider
from sluicegate.sse import SSEEvent
from sluicegate.transports.base import HttpResponse
from sluicegate.types import Request, TextDelta, Usage, UsageEvent

CODEC = OpenAIProvider("http://127.0.0.1:9/v1", {})
REQUEST = Request(model="openai/gpt-x", messages=())


def answer(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "c1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }
    body.update(changes)
    return body


def decode(body: bytes | dict[str, Any], status: int = 200) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return CODEC.decode(REQUEST, HttpResponse(status, {}, raw))


def malformed(body: bytes | dict[str, Any]) -> ResponseFormatError:
    with pytest.raises(ResponseFormatError) as info:
        decode(body)
    error = info.value
    assert error.provider == "openai" and error.model == "gpt-x"
    assert error.status == 200 and error.retryable
    return error


def test_a_valid_answer_decodes() -> None:
    response = decode(answer())
    assert response.text == "hi"
    assert response.usage == Usage(3, 1, 0, 0)


def test_json_nested_100000_levels_is_malformed_not_a_recursion_error() -> None:
    error = malformed(b"[" * 100_000 + b"]" * 100_000)
    assert "nested too deeply" in error.message


def test_usage_1e999_is_malformed_not_an_overflow_error() -> None:
    raw = json.dumps(answer()).replace('"prompt_tokens": 3', '"prompt_tokens": 1e999').encode()
    error = malformed(raw)
    assert "usage.prompt_tokens" in error.message


@pytest.mark.parametrize("value", [-1_000_000, -1, 2**53 + 1, 1.5, "12", True, [], {}])
def test_usage_outside_0_to_2_53_or_not_an_integer_is_malformed(value: object) -> None:
    error = malformed(answer(usage={"prompt_tokens": 3, "completion_tokens": value}))
    assert "usage.completion_tokens" in error.message


def test_cached_tokens_are_checked_by_path() -> None:
    usage = {
        "prompt_tokens": 3,
        "completion_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": -5},
    }
    error = malformed(answer(usage=usage))
    assert "usage.prompt_tokens_details.cached_tokens" in error.message


def test_integer_valued_floats_and_nulls_are_token_counts() -> None:
    usage = {"prompt_tokens": 12.0, "completion_tokens": None}
    assert decode(answer(usage=usage)).usage == Usage(12, 0, 0, 0)


def test_invalid_utf8_is_malformed_naming_the_encoding() -> None:
    error = malformed(b'{"choices": [{"message": {"content": "\xff\xfe"}}]}')
    assert "UTF-8" in error.message


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (answer(choices={"0": 1}), "choices"),
        (answer(choices=[]), "choices"),
        (answer(choices=["x"]), "choices[0]"),
        (answer(choices=[{"message": "x"}]), "choices[0].message"),
        (answer(choices=[{"message": {"content": {"a": 1}}}]), "choices[0].message.content"),
        (
            answer(choices=[{"message": {"content": "x"}, "finish_reason": 3}]),
            "choices[0].finish_reason",
        ),
        (
            answer(choices=[{"message": {"tool_calls": [{"function": {"name": 1}}]}}]),
            "choices[0].message.tool_calls[0].function.name",
        ),
        (answer(usage=[1, 2]), "usage"),
    ],
)
def test_wrong_types_and_shapes_name_the_field(body: dict[str, Any], path: str) -> None:
    error = malformed(body)
    assert f"{path}:" in error.message


def test_an_error_answer_nested_deeply_is_still_a_provider_error() -> None:
    body = b'{"error": {"message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    error = CODEC.decode_error(REQUEST, HttpResponse(500, {}, body))
    assert type(error) is ProviderError and error.status == 500 and error.retryable


def test_an_error_answer_with_a_message_that_is_not_text() -> None:
    body = json.dumps({"error": {"message": [[[[[[1]]]]]] * 1000, "code": {"a": 1}}}).encode()
    error = CODEC.decode_error(REQUEST, HttpResponse(400, {}, body))
    assert error.status == 400 and len(error.message) < 1000


# -- streams ---------------------------------------------------------------------------


def feed(data: str) -> list[Any]:
    return CODEC.stream_decoder(REQUEST).feed(SSEEvent(data=data))


def stream_malformed(data: str) -> ResponseFormatError:
    with pytest.raises(ResponseFormatError) as info:
        feed(data)
    assert info.value.provider == "openai" and info.value.model == "gpt-x"
    return info.value


def test_a_valid_chunk_decodes() -> None:
    chunk = {
        "choices": [{"delta": {"content": "hi"}}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1},
    }
    assert feed(json.dumps(chunk)) == [TextDelta("hi"), UsageEvent(Usage(2, 1, 0, 0))]


def test_a_string_in_a_streams_usage_is_malformed_not_a_value_error() -> None:
    error = stream_malformed('{"choices": [], "usage": {"prompt_tokens": "many"}}')
    assert "usage.prompt_tokens" in error.message


def test_negative_usage_in_a_stream_is_malformed() -> None:
    error = stream_malformed(
        '{"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": -1000000}}'
    )
    assert "usage.completion_tokens" in error.message


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ('{"choices": {"a": 1}}', "choices"),
        ('{"choices": ["x"]}', "choices[0]"),
        ('{"choices": [{"delta": [1]}]}', "choices[0].delta"),
        ('{"choices": [{"delta": {"content": 5}}]}', "choices[0].delta.content"),
        (
            '{"choices": [{"delta": {"tool_calls": [{"index": "a"}]}}]}',
            "choices[0].delta.tool_calls[0].index",
        ),
        (
            '{"choices": [{"delta": {"tool_calls": [{"index": 1e999}]}}]}',
            "choices[0].delta.tool_calls[0].index",
        ),
        ('{"choices": [{"delta": {"tool_calls": ["x"]}}]}', "choices[0].delta.tool_calls[0]"),
        ('{"choices": [{"finish_reason": ["stop"]}]}', "choices[0].finish_reason"),
    ],
)
def test_a_stream_chunk_of_the_wrong_shape_is_malformed_not_an_attribute_error(
    data: str, path: str
) -> None:
    assert f"{path}:" in stream_malformed(data).message


def test_a_stream_chunk_nested_too_deeply_is_malformed() -> None:
    assert "nested too deeply" in stream_malformed("[" * 100_000 + "]" * 100_000).message


def test_an_encoded_surrogate_is_invalid_utf8_not_a_string_that_cannot_be_written() -> None:
    error = malformed(b'{"choices": [{"message": {"content": "\xed\xa0\x80"}}]}')
    assert "UTF-8" in error.message


def test_a_utf8_bom_is_still_accepted() -> None:
    assert decode(b"\xef\xbb\xbf" + json.dumps(answer()).encode()).text == "hi"


def test_reasoning_tokens_are_read_as_a_part_of_the_output() -> None:
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 90,
        "completion_tokens_details": {"reasoning_tokens": 64},
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    response = decode(answer(usage=usage))
    assert response.usage == Usage(12, 90, cached_tokens=4, reasoning_tokens=64)


def test_a_malformed_reasoning_count_names_its_field() -> None:
    usage = {
        "prompt_tokens": 1,
        "completion_tokens": 2,
        "completion_tokens_details": {"reasoning_tokens": -1},
    }
    error = malformed(answer(usage=usage))
    assert "usage.completion_tokens_details.reasoning_tokens" in str(error)
