"""Property tests of the Anthropic codec's decoders (plain messages, stream events, error
answers): whatever the server sends, the outcome is a well-typed answer or a typed
sluicegate error naming provider and model, never another exception.

Run with ``SLUICEGATE_HYPOTHESIS_PROFILE=issue10`` for 10,000 examples per test (issue
10); the default profile keeps the suite fast.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from decoder_strategies import (
    DEEP,
    almost_right,
    check_error,
    check_events,
    check_response,
    dumps,
    json_values,
    outcome,
    spliced_bytes,
)
from sluicegate.errors import ProviderError, ResponseFormatError
from sluicegate.providers.checks import MAX_TOKEN_COUNT
from sluicegate.sse import SSEDecoder, SSEEvent
from sluicegate.transports.base import HttpResponse
from sluicegate.types import Request, StreamEvent
from sluicegate_anthropic.codec import AnthropicProvider

CODEC = AnthropicProvider("http://127.0.0.1:9", {})
REQUEST = Request(model="anthropic/claude-x", messages=())
KEYS = [
    "type", "content", "text", "id", "name", "input", "stop_reason", "usage",
    "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens",
    "message", "index", "delta", "partial_json", "content_block", "error", "details",
    "error_code", "request_id", "text_delta", "input_json_delta", "tool_use",
    "message_start", "content_block_start", "content_block_delta", "message_delta",
    "message_stop",
]  # fmt: skip
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

TOKENS = st.integers(min_value=0, max_value=MAX_TOKEN_COUNT // 4)
TEXT = st.text(max_size=30)
USAGE = st.fixed_dictionaries(
    {"input_tokens": TOKENS, "output_tokens": TOKENS},
    optional={"cache_read_input_tokens": TOKENS, "cache_creation_input_tokens": TOKENS},
)
BLOCK = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}),
    st.fixed_dictionaries(
        {
            "type": st.just("tool_use"),
            "id": TEXT,
            "name": TEXT,
            "input": st.dictionaries(st.text(max_size=5), st.integers() | TEXT, max_size=3),
        }
    ),
    st.fixed_dictionaries({"type": st.just("thinking"), "thinking": TEXT}),
)
MESSAGE = st.fixed_dictionaries(
    {
        "type": st.just("message"),
        "role": st.just("assistant"),
        "content": st.lists(BLOCK, max_size=3),
        "stop_reason": st.none() | st.sampled_from(["end_turn", "max_tokens", "tool_use"]),
    },
    optional={"usage": USAGE},
)
INDEX = st.integers(0, 3)
EVENT = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("message_start"), "message": st.fixed_dictionaries({"usage": USAGE})}
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("content_block_start"),
            "index": INDEX,
            "content_block": st.one_of(
                st.fixed_dictionaries({"type": st.just("text"), "text": TEXT}),
                st.fixed_dictionaries(
                    {"type": st.just("tool_use"), "id": TEXT, "name": TEXT, "input": st.just({})}
                ),
            ),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("content_block_delta"),
            "index": INDEX,
            "delta": st.one_of(
                st.fixed_dictionaries({"type": st.just("text_delta"), "text": TEXT}),
                st.fixed_dictionaries({"type": st.just("input_json_delta"), "partial_json": TEXT}),
            ),
        }
    ),
    st.fixed_dictionaries(
        {
            "type": st.just("message_delta"),
            "delta": st.fixed_dictionaries(
                {"stop_reason": st.none() | st.sampled_from(["end_turn", "tool_use"])}
            ),
            "usage": st.fixed_dictionaries({"output_tokens": TOKENS}),
        }
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["message_stop", "content_block_stop"])}),
    st.fixed_dictionaries(
        {
            "type": st.just("error"),
            "error": st.fixed_dictionaries(
                {"type": st.sampled_from(["overloaded_error", "api_error"]), "message": TEXT}
            ),
        }
    ),
)
VALUES = json_values(KEYS)
BODIES = st.one_of(VALUES.map(dumps), almost_right(MESSAGE, KEYS).map(dumps), DEEP).map(str.encode)
RAW = st.one_of(st.binary(max_size=200), spliced_bytes(MESSAGE))
DATA = st.one_of(
    EVENT.map(dumps),
    VALUES.map(dumps),
    almost_right(EVENT, KEYS).map(dumps),
    DEEP,
    st.text(max_size=50),
)
NAMES = st.sampled_from(["message", "ping", "content_block_delta", "message_start", "error"])


def feed(items: list[tuple[str, str]]) -> None:
    decoder = CODEC.stream_decoder(REQUEST)
    events: list[StreamEvent] = []
    try:
        for name, data in items:
            events.extend(decoder.feed(SSEEvent(name, data)))
    except ProviderError as error:  # ResponseFormatError, or an error event's ProviderError
        check_error(error, "anthropic", "claude-x")
        event(outcome(error))
    else:
        event("events only")
    check_events(events)


def decode(body: bytes) -> None:
    try:
        response = CODEC.decode(REQUEST, HttpResponse(200, {}, body))
    except ResponseFormatError as error:
        check_error(error, "anthropic", "claude-x")
        assert error.status == 200 and error.retryable
        event(outcome(error))
    else:
        check_response(response)
        event("a Response")


@settings(SETTINGS, max_examples=100)  # not hostile input: not run at the issue10 count
@given(MESSAGE)
def test_valid_messages_decode_to_their_text_and_usage(message: dict[str, Any]) -> None:
    response = CODEC.decode(REQUEST, HttpResponse(200, {}, dumps(message).encode()))
    check_response(response)
    texts = [b["text"] for b in message["content"] if b["type"] == "text"]
    assert response.text == "".join(texts)
    usage = message.get("usage") or {}
    assert response.usage.output_tokens == usage.get("output_tokens", 0)


@SETTINGS
@given(st.one_of(BODIES, RAW))
def test_any_body_is_a_message_or_a_response_format_error(body: bytes) -> None:
    """JSON values, almost-right messages, deep nesting, arbitrary and spliced bytes."""
    decode(body)


@SETTINGS
@given(st.one_of(BODIES, RAW), st.sampled_from([400, 401, 404, 413, 429, 500, 529]))
def test_any_error_body_is_a_typed_provider_error(body: bytes, status: int) -> None:
    error = CODEC.decode_error(REQUEST, HttpResponse(status, {}, body))
    assert isinstance(error, ProviderError) and error.status == status
    check_error(error, "anthropic", "claude-x")


def through_sse(chunks: list[bytes]) -> list[tuple[str, str]]:
    """The events an SSE decoder makes of ``chunks``, as the client reads them."""
    sse = SSEDecoder()
    events = [e for chunk in chunks for e in sse.feed(chunk)] + sse.close()
    return [(e.event, e.data) for e in events]


SSE_BYTES = st.lists(
    st.one_of(
        st.binary(max_size=80),
        EVENT.map(lambda e: f"event: {e['type']}\ndata: {dumps(e)}\n\n".encode()),
    ),
    max_size=8,
).map(through_sse)


@SETTINGS
@given(st.one_of(st.lists(st.tuples(NAMES, DATA), min_size=1, max_size=6), SSE_BYTES))
def test_any_stream_input_is_events_or_a_typed_error(items: list[tuple[str, str]]) -> None:
    """Events (valid, almost right, JSON values, deep nesting, any text) in a row, or
    arbitrary bytes through the SSE decoder."""
    feed(items)
