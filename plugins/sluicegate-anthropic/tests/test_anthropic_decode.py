"""Decoding plain answers and error answers. Every sample body is first validated against
the official SDK's response types, so the samples are the shapes the API really sends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import Message as SDKMessage
from anthropic.types.shared import ErrorResponse

from sluicegate import (
    AuthenticationError,
    ProviderError,
    RateLimitedError,
    ResponseFormatError,
    Secret,
)
from sluicegate.types import Metadata, Request, Usage, coerce_messages
from sluicegate_anthropic.codec import AnthropicProvider

REQUEST = Request(
    model="anthropic/claude-sonnet-4-5",
    messages=coerce_messages("hi"),
    metadata=Metadata(request_id="req_local_1"),
)


def message(
    content: list[dict[str, Any]], stop_reason: str = "end_turn", **usage: int
) -> dict[str, Any]:
    body = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 6, **usage},
    }
    SDKMessage.model_validate(body)  # the sample is a real Message shape
    return body


def http(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    from sluicegate.transports.base import HttpResponse

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, headers or {}, raw)


def error_body(error_type: str, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code is not None:
        error["details"] = {"error_code": code}
    body = {"type": "error", "error": error, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}
    if code is None:
        ErrorResponse.model_validate(body)
    return body


# -- plain answers ----------------------------------------------------------------------


def test_plain_text_answer(codec: AnthropicProvider) -> None:
    body = message([{"type": "text", "text": "Hello! How can I help?"}])
    response = codec.decode(REQUEST, http(200, body))
    assert response.text == "Hello! How can I help?"
    assert response.finish_reason == "stop"
    assert response.usage == Usage(input_tokens=12, output_tokens=6, cached_tokens=0)
    assert response.model == "anthropic/claude-sonnet-4-5"
    assert response.provider == "anthropic"
    assert response.request_id == "req_local_1"
    assert response.tool_calls == ()
    assert response.raw == body


def test_text_blocks_are_joined_and_thinking_skipped(codec: AnthropicProvider) -> None:
    body = message(
        [
            {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
            {"type": "text", "text": "Part one. "},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Part two."},
        ]
    )
    assert codec.decode(REQUEST, http(200, body)).text == "Part one. Part two."


def test_tool_use_answer(codec: AnthropicProvider) -> None:
    body = message(
        [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": "toolu_01A09q90qw90lq917835lq9",
                "name": "get_weather",
                "input": {"location": "São Paulo", "unit": "celsius"},
            },
            {"type": "tool_use", "id": "toolu_02", "name": "now", "input": {}},
        ],
        stop_reason="tool_use",
    )
    response = codec.decode(REQUEST, http(200, body))
    assert response.text == "Let me check."
    assert response.finish_reason == "tool_calls"
    assert [(c.id, c.name) for c in response.tool_calls] == [
        ("toolu_01A09q90qw90lq917835lq9", "get_weather"),
        ("toolu_02", "now"),
    ]
    assert json.loads(response.tool_calls[0].arguments) == {
        "location": "São Paulo",
        "unit": "celsius",
    }
    assert "São Paulo" in response.tool_calls[0].arguments  # readable, not \u-escaped
    assert response.tool_calls[1].arguments == "{}"
    assert response.raw["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause_turn"),
    ],
)
def test_finish_reasons(codec: AnthropicProvider, stop_reason: str, expected: str) -> None:
    body = message([{"type": "text", "text": "x"}], stop_reason=stop_reason)
    response = codec.decode(REQUEST, http(200, body))
    assert response.finish_reason == expected
    assert response.raw["stop_reason"] == stop_reason  # the original is kept


def test_unknown_stop_reason_passes_through(codec: AnthropicProvider) -> None:
    body = {**message([]), "stop_reason": "some_future_reason"}
    assert codec.decode(REQUEST, http(200, body)).finish_reason == "some_future_reason"


def test_usage_counts_cache_reads_and_writes_as_input(codec: AnthropicProvider) -> None:
    body = message(
        [{"type": "text", "text": "cached"}],
        cache_creation_input_tokens=200,
        cache_read_input_tokens=1800,
    )
    usage = codec.decode(REQUEST, http(200, body)).usage
    assert usage == Usage(
        input_tokens=12 + 200 + 1800, output_tokens=6, cached_tokens=1800, cache_write_tokens=200
    )


def test_null_cache_fields_count_as_zero(codec: AnthropicProvider) -> None:
    body = message(
        [{"type": "text", "text": "x"}],
        cache_creation_input_tokens=None,  # type: ignore[arg-type]
        cache_read_input_tokens=None,  # type: ignore[arg-type]
    )
    assert codec.decode(REQUEST, http(200, body)).usage == Usage(12, 6, 0)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json at all",
        b'{"type": "message"}',
        b'{"content": "a string, not blocks"}',
        b'{"content": [{"text": "no type"}]}',
        b'{"content": [{"type": "tool_use", "id": "t"}]}',
        b"[]",
        b"",
    ],
)
def test_malformed_bodies_are_retryable_format_errors(codec: AnthropicProvider, raw: bytes) -> None:
    with pytest.raises(ResponseFormatError) as info:
        codec.decode(REQUEST, http(200, raw))
    assert info.value.retryable is True
    assert info.value.status == 200
    assert info.value.provider == "anthropic"


# -- error answers ----------------------------------------------------------------------


def test_rate_limit_with_retry_after(codec: AnthropicProvider) -> None:
    body = error_body(
        "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"
    )
    err = codec.decode_error(
        REQUEST,
        http(
            429,
            body,
            {
                "retry-after": "17",
                "request-id": "req_hdr",
                "anthropic-ratelimit-requests-remaining": "0",
            },
        ),
    )
    assert isinstance(err, RateLimitedError)
    assert err.retryable is True
    assert err.retry_after == 17.0
    assert err.status == 429
    assert err.error_type == "rate_limit_error"
    assert err.request_id == "req_011CSHoEeqs5C35K2UUqR7Fy"  # the body's id wins
    assert "per-minute rate limit" in err.message


def test_request_id_falls_back_to_the_header(codec: AnthropicProvider) -> None:
    err = codec.decode_error(REQUEST, http(500, b"upstream exploded", {"request-id": "req_hdr"}))
    assert err.request_id == "req_hdr"


def test_overloaded_529_is_retryable(codec: AnthropicProvider) -> None:
    err = codec.decode_error(REQUEST, http(529, error_body("overloaded_error", "Overloaded")))
    assert type(err) is ProviderError
    assert err.retryable is True
    assert err.status == 529
    assert err.error_type == "overloaded_error"


def test_billing_error_is_never_retried(codec: AnthropicProvider) -> None:
    body = error_body("billing_error", "Your credit balance is too low.")
    err = codec.decode_error(REQUEST, http(400, body))
    assert err.retryable is False
    assert err.error_type == "billing_error"
    # even if it came with a status that is normally worth retrying
    assert codec.decode_error(REQUEST, http(429, body)).retryable is False


def test_spend_limit_429_is_never_retried(codec: AnthropicProvider) -> None:
    body = error_body(
        "rate_limit_error",
        "Your organization has reached its monthly spend limit.",
        code="enforced_spend_limit_reached",
    )
    err = codec.decode_error(REQUEST, http(429, body, {"retry-after": "60"}))
    assert isinstance(err, RateLimitedError)
    assert err.retryable is False
    assert err.error_type == "rate_limit_error"
    assert "enforced_spend_limit_reached" in err.message


def test_server_may_override_retryability(codec: AnthropicProvider) -> None:
    body = error_body("invalid_request_error", "try again")
    assert codec.decode_error(REQUEST, http(400, body, {"x-should-retry": "true"})).retryable
    body = error_body("api_error", "do not")
    assert not codec.decode_error(REQUEST, http(500, body, {"x-should-retry": "false"})).retryable


@pytest.mark.parametrize(
    ("status", "error_type", "cls", "retryable"),
    [
        (400, "invalid_request_error", ProviderError, False),
        (401, "authentication_error", AuthenticationError, False),
        (403, "permission_error", AuthenticationError, False),
        (404, "not_found_error", ProviderError, False),
        (413, "request_too_large", ProviderError, False),
        (500, "api_error", ProviderError, True),
        (504, "timeout_error", ProviderError, True),
    ],
)
def test_status_mapping(
    codec: AnthropicProvider,
    status: int,
    error_type: str,
    cls: type[ProviderError],
    retryable: bool,
) -> None:
    body = {"type": "error", "error": {"type": error_type, "message": "m"}}
    err = codec.decode_error(REQUEST, http(status, body))
    assert type(err) is cls
    assert err.retryable is retryable
    assert err.error_type == error_type


@pytest.mark.parametrize(
    "raw", [b"<html><body>502 Bad Gateway</body></html>", b'{"error": "flat"}', b"[1]", b""]
)
def test_non_anthropic_error_bodies_still_give_a_typed_error(
    codec: AnthropicProvider, raw: bytes
) -> None:
    err = codec.decode_error(REQUEST, http(502, raw))
    assert err.status == 502
    assert err.retryable is True
    assert err.error_type is None
    # an HTML page gives its text, not its markup (sluicegate.providers.http_errors.excerpt)
    assert ("502 Bad Gateway" if raw.startswith(b"<") else raw.decode()[:20]) in err.message
    assert "<" not in err.message and "\n" not in err.message


def test_an_echoed_key_never_reaches_the_error(codec: AnthropicProvider) -> None:
    key = "sk-ant-api03-" + "Zx9" * 12
    credential = Secret(key)
    request = REQUEST.replace(credential=credential)
    body = error_body("authentication_error", f"invalid x-api-key: {key}")
    err = codec.decode_error(request, http(401, body))
    assert isinstance(err, AuthenticationError)
    assert key not in err.message
    assert key not in str(err)
    assert key not in repr(err)
    assert "***" in err.message
    # also when the body is not JSON and only an excerpt can be shown
    err = codec.decode_error(request, http(401, f"bad key {key}".encode()))
    assert key not in str(err)


def test_a_key_that_is_not_key_shaped_is_scrubbed_too(codec: AnthropicProvider) -> None:
    key = "gateway-token-7f3a9c"  # not sk-ant-…: only the Secret registry knows it
    request = REQUEST.replace(credential=Secret(key))
    err = codec.decode_error(request, http(401, error_body("authentication_error", f"bad {key}")))
    assert key not in str(err)
