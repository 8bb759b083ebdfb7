"""Stream decoding: recorded, real-shaped event sequences fed through sluicegate's
SSEDecoder and the Anthropic stream decoder, whole and re-chunked at arbitrary points."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pydantic
import pytest
from anthropic.types import RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate import ProviderError, ResponseFormatError
from sluicegate.sse import SSEDecoder, SSEEvent
from sluicegate.streaming import ResponseBuilder
from sluicegate.types import (
    FinishEvent,
    Metadata,
    Request,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
    coerce_messages,
)
from sluicegate_anthropic.codec import AnthropicProvider
from sluicegate_anthropic.stream import AnthropicStreamDecoder

Recorded = Callable[[str], bytes]
REQUEST = Request(
    model="anthropic/claude-sonnet-4-5",
    messages=coerce_messages("hi"),
    metadata=Metadata(request_id="r"),
    stream=True,
)
_SDK_EVENT = pydantic.TypeAdapter(RawMessageStreamEvent)
_SDK_EVENT_TYPES = {
    "message_start",
    "message_delta",
    "message_stop",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
}

TOOL_USE_TEXT = "Okay, let's check the weather for San Francisco — café ☕ weather, naïvely 🌁:"
TOOL_USE_ARGUMENTS = '{"location": "San Francisco, CA", "unit": "fahrenheit"}'


class Outcome:
    """Everything one pass over a stream produced."""

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []
        self.error: ProviderError | None = None
        self.finished = False


def run(chunks: Iterable[bytes]) -> Outcome:
    """Feed byte chunks through SSEDecoder and the Anthropic decoder, as dispatch does."""
    sse = SSEDecoder()
    decoder = AnthropicStreamDecoder("anthropic", "claude-sonnet-4-5")
    out = Outcome()
    try:
        for chunk in chunks:
            for event in sse.feed(chunk):
                out.events.extend(decoder.feed(event))
                if decoder.finished:
                    break
        for event in sse.close():
            out.events.extend(decoder.feed(event))
    except ProviderError as exc:
        out.error = exc
    out.finished = decoder.finished
    return out


def fold(events: Iterable[StreamEvent]) -> Any:
    builder = ResponseBuilder()
    for event in events:
        builder.add(event)
    return builder.build(model="anthropic/claude-sonnet-4-5", provider="anthropic", request_id="r")


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in pairwise(edges)]


# -- the recordings are real shapes -----------------------------------------------------


@pytest.mark.parametrize("name", ["stream_tool_use", "stream_overloaded", "stream_thinking"])
def test_recordings_match_the_sdk_event_types(recorded: Recorded, name: str) -> None:
    events = SSEDecoder().feed(recorded(name))
    assert events
    for event in events:
        data = json.loads(event.data)
        assert data["type"] == event.event  # the SSE name and the JSON type agree
        if event.event == "error":
            ErrorResponse.model_validate(data)
        elif event.event in _SDK_EVENT_TYPES:
            _SDK_EVENT.validate_python(data)


# -- whole streams ----------------------------------------------------------------------


def test_text_and_tool_use_stream(recorded: Recorded) -> None:
    out = run([recorded("stream_tool_use")])
    assert out.error is None
    assert out.finished
    assert out.events == [
        UsageEvent(Usage(input_tokens=472 + 1024, output_tokens=2, cached_tokens=1024)),
        TextDelta("Okay, let's check the weather"),
        TextDelta(" for San Francisco — café ☕ weather, naïvely 🌁"),
        TextDelta(":"),
        ToolCallDelta(index=1, id="toolu_01T1x1fJ34qAmk2tNTrN7Up6", name="get_weather"),
        ToolCallDelta(index=1, arguments='{"location":'),
        ToolCallDelta(index=1, arguments=' "San Fra'),
        ToolCallDelta(index=1, arguments='ncisco, CA", "unit": "fahrenheit"}'),
        FinishEvent("tool_calls"),
        UsageEvent(Usage(input_tokens=472 + 1024, output_tokens=89, cached_tokens=1024)),
    ]
    response = fold(out.events)
    assert response.text == TOOL_USE_TEXT
    assert response.tool_calls == (
        ToolCall(
            id="toolu_01T1x1fJ34qAmk2tNTrN7Up6", name="get_weather", arguments=TOOL_USE_ARGUMENTS
        ),
    )
    assert json.loads(response.tool_calls[0].arguments) == {
        "location": "San Francisco, CA",
        "unit": "fahrenheit",
    }
    assert response.finish_reason == "tool_calls"
    assert response.usage == Usage(input_tokens=1496, output_tokens=89, cached_tokens=1024)


def test_thinking_is_skipped_unknown_events_ignored_and_cumulative_usage_kept(
    recorded: Recorded,
) -> None:
    out = run([recorded("stream_thinking")])
    assert out.error is None
    assert out.finished
    texts = [e.text for e in out.events if isinstance(e, TextDelta)]
    assert texts == ["27 * 453 = 12,231"]
    assert not any(isinstance(e, ToolCallDelta) for e in out.events)
    response = fold(out.events)
    assert response.finish_reason == "stop"
    assert response.usage == Usage(
        input_tokens=12 + 300, output_tokens=140, cached_tokens=0, cache_write_tokens=300
    )


def test_overloaded_error_mid_stream(recorded: Recorded) -> None:
    out = run([recorded("stream_overloaded")])
    assert not out.finished
    assert [e.text for e in out.events if isinstance(e, TextDelta)] == ["Hello", ", wor"]
    err = out.error
    assert err is not None
    assert type(err) is ProviderError
    assert err.status == 200
    assert err.error_type == "overloaded_error"
    assert err.retryable is True
    assert err.request_id == "req_011CSHoEeqs5C35K2UUqR7Fy"
    assert "Overloaded" in err.message


@pytest.mark.parametrize(
    ("error_type", "code", "retryable"),
    [
        ("overloaded_error", None, True),
        ("api_error", None, True),
        ("rate_limit_error", None, True),
        ("timeout_error", None, True),
        ("invalid_request_error", None, False),
        ("billing_error", None, False),
        ("authentication_error", None, False),
        ("rate_limit_error", "enforced_spend_limit_reached", False),
    ],
)
def test_error_event_retryability(error_type: str, code: str | None, retryable: bool) -> None:
    error: dict[str, Any] = {"type": error_type, "message": "m"}
    if code:
        error["details"] = {"error_code": code}
    decoder = AnthropicStreamDecoder("anthropic", "m")
    with pytest.raises(ProviderError) as info:
        decoder.feed(SSEEvent("error", json.dumps({"type": "error", "error": error})))
    assert info.value.retryable is retryable
    assert info.value.error_type == error_type
    assert info.value.status == 200


def test_error_event_without_details_still_raises() -> None:
    decoder = AnthropicStreamDecoder("anthropic", "m")
    with pytest.raises(ProviderError, match="error event in stream") as info:
        decoder.feed(SSEEvent("error", '{"type": "error"}'))
    assert info.value.retryable is False


def test_pings_are_ignored_with_or_without_a_name() -> None:
    decoder = AnthropicStreamDecoder("anthropic", "m")
    assert decoder.feed(SSEEvent("ping", '{"type": "ping"}')) == []
    assert decoder.feed(SSEEvent("ping", "")) == []  # not even parsed
    assert decoder.feed(SSEEvent("message", '{"type": "ping"}')) == []


def test_dispatch_uses_the_json_type_when_a_relay_drops_event_names(recorded: Recorded) -> None:
    unnamed = b"\n".join(
        line for line in recorded("stream_tool_use").split(b"\n") if not line.startswith(b"event:")
    )
    out = run([unnamed])
    assert out.finished
    assert fold(out.events).text == TOOL_USE_TEXT


def test_message_stop_sets_finished_and_nothing_else() -> None:
    decoder = AnthropicStreamDecoder("anthropic", "m")
    assert decoder.finished is False
    assert decoder.feed(SSEEvent("message_stop", '{"type":"message_stop"}')) == []
    assert decoder.finished is True


def test_input_json_for_a_server_tool_block_is_not_a_client_tool_call() -> None:
    decoder = AnthropicStreamDecoder("anthropic", "m")
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {
            "type": "server_tool_use",
            "id": "srvtoolu_1",
            "name": "web_search",
            "input": {},
        },
    }
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "input_json_delta", "partial_json": '{"query": "x"}'},
    }
    assert decoder.feed(SSEEvent("content_block_start", json.dumps(start))) == []
    assert decoder.feed(SSEEvent("content_block_delta", json.dumps(delta))) == []


def test_text_in_content_block_start_is_kept() -> None:
    decoder = AnthropicStreamDecoder("anthropic", "m")
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": "Hi"},
    }
    assert decoder.feed(SSEEvent("content_block_start", json.dumps(start))) == [TextDelta("Hi")]


def test_message_delta_without_stop_reason_or_usage() -> None:
    decoder = AnthropicStreamDecoder("anthropic", "m")
    data = {"type": "message_delta", "delta": {"stop_reason": None}}
    assert decoder.feed(SSEEvent("message_delta", json.dumps(data))) == []


@pytest.mark.parametrize(
    "data",
    [
        "{not json",
        "[]",
        '"text"',
        '{"type": "content_block_delta"}',
        '{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}}',
        '{"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use"}}',
        '{"type": "message_start"}',
        '{"type": "message_delta", "delta": null}',
    ],
)
def test_malformed_events_are_retryable_format_errors(data: str) -> None:
    decoder = AnthropicStreamDecoder("anthropic", "m")
    with pytest.raises(ResponseFormatError) as info:
        decoder.feed(SSEEvent("content_block_delta", data))
    assert info.value.retryable is True
    assert info.value.status == 200


def test_codec_gives_a_fresh_decoder_per_stream(codec: AnthropicProvider) -> None:
    first = codec.stream_decoder(REQUEST)
    first.feed(SSEEvent("message_stop", '{"type":"message_stop"}'))
    second = codec.stream_decoder(REQUEST)
    assert first is not second
    assert second.finished is False


def test_crlf_line_endings(recorded: Recorded) -> None:
    data = recorded("stream_tool_use").replace(b"\n", b"\r\n")
    out = run([data])
    assert out.finished
    assert fold(out.events).text == TOOL_USE_TEXT


# -- re-chunking ------------------------------------------------------------------------

_NAMES = ["stream_tool_use", "stream_overloaded", "stream_thinking"]
_RAW = {name: (Path(__file__).parent / "data" / f"{name}.sse").read_bytes() for name in _NAMES}


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(_NAMES),
    cuts=st.lists(st.integers(min_value=0, max_value=5000), max_size=60),
    crlf=st.booleans(),
)
def test_rechunking_yields_the_same_events(name: str, cuts: list[int], crlf: bool) -> None:
    data = _RAW[name]
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    expected = run([data])
    got = run(split_at(data, [c % (len(data) + 1) for c in cuts]))
    assert got.events == expected.events
    assert got.finished == expected.finished
    assert (got.error is None) == (expected.error is None)
    if expected.error is not None:
        assert got.error is not None
        assert got.error.error_type == expected.error.error_type
        assert got.error.retryable == expected.error.retryable
    assert fold(got.events) == fold(expected.events)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_byte_by_byte_and_small_chunks(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(_NAMES))
    raw = _RAW[name]
    size = data.draw(st.integers(min_value=1, max_value=7))
    chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
    expected = run([raw])
    got = run(chunks)
    assert got.events == expected.events
    assert got.finished == expected.finished
