"""The ``streamGenerateContent?alt=sse`` decoder on a recorded stream's shape, split at
every byte boundary hypothesis picks, and a client on both backends going through the
whole chain with it: streamed and plain answers, a 429 whose RetryInfo sets the wait."""

from __future__ import annotations

import itertools
import json
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sluicegate
from sluicegate import (
    ContentBlockedError,
    FinishEvent,
    ProviderSettings,
    Request,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)
from sluicegate.clock import FakeClock
from sluicegate.plugins import SSEEvent
from sluicegate.sse import SSEDecoder
from sluicegate.testing import Answer, ScriptedTransport
from sluicegate_gemini import plugin
from sluicegate_gemini.stream import GeminiStreamDecoder

KEY = "gemini-test-key-0123456789abcdef"


def chunk(parts: list[dict[str, Any]], finish: str | None = None, **usage: int) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    data: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash"}
    if usage:
        data["usageMetadata"] = usage
    return data


# The shape of a streamGenerateContent?alt=sse answer: each event a whole
# GenerateContentResponse, "\r\n\r\n" between events, running usage totals, no [DONE]
# (https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent).
STREAM = [
    chunk([{"text": "Rivers "}], promptTokenCount=7, candidatesTokenCount=1),
    chunk([{"text": "meander because"}], promptTokenCount=7, candidatesTokenCount=3),
    chunk(
        [{"text": " banks erode."}],
        "STOP",
        promptTokenCount=7,
        candidatesTokenCount=6,
        thoughtsTokenCount=40,
        totalTokenCount=53,
    ),
]


def sse_bytes(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)


def decode_all(data: bytes, cuts: list[int]) -> list[Any]:
    sse = SSEDecoder()
    decoder = GeminiStreamDecoder("gemini", "gemini-2.5-flash")
    bounds = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    events: list[Any] = []
    for a, b in itertools.pairwise(bounds):
        for event in sse.feed(data[a:b]):
            events.extend(decoder.feed(event))
    assert decoder.finished
    return events


def test_a_stream_decodes_to_deltas_usage_and_its_finish() -> None:
    events = decode_all(sse_bytes(STREAM), [])
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == (
        "Rivers meander because banks erode."
    )
    usages = [e.usage for e in events if isinstance(e, UsageEvent)]
    assert usages[-1] == Usage(7, 46, reasoning_tokens=40)
    assert events[-1] == FinishEvent("stop")


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30))
def test_any_split_of_the_bytes_decodes_the_same(cuts: list[int]) -> None:
    data = sse_bytes(STREAM)
    assert decode_all(data, cuts) == decode_all(data, [])


def test_a_call_comes_whole_and_ends_as_tool_calls() -> None:
    call = {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}}
    events = decode_all(sse_bytes([chunk([call], "STOP", promptTokenCount=9)]), [])
    assert events[0] == ToolCallDelta(
        index=0, id="call_0", name="get_weather", arguments='{"city":"Oslo"}'
    )
    assert events[-1] == FinishEvent("tool_calls")


def test_an_error_event_and_a_block_before_any_text_are_typed() -> None:
    decoder = GeminiStreamDecoder("gemini", "m")
    error = {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    with pytest.raises(sluicegate.ProviderError) as caught:
        decoder.feed(SSEEvent(data=json.dumps(error)))
    assert caught.value.retryable and caught.value.error_type == "UNAVAILABLE"
    with pytest.raises(ContentBlockedError):
        GeminiStreamDecoder("gemini", "m").feed(SSEEvent(data=json.dumps(chunk([], "SAFETY"))))


# -- through a client, on both backends -----------------------------------------------------


def client_for(transport: ScriptedTransport, **kwargs: Any) -> sluicegate.Client:
    return sluicegate.Client(
        providers={"gemini": ProviderSettings(base_url="http://127.0.0.1:9/v1beta", api_key=KEY)},
        plugins=[plugin],
        load_entry_points=False,
        transport=transport,
        **kwargs,
    )


@pytest.mark.anyio
async def test_a_client_streams_and_asks_with_the_key_header() -> None:
    stream_answer = Answer(200, {"content-type": "text/event-stream"}, [sse_bytes(STREAM)])
    transport = ScriptedTransport(stream_answer)
    async with client_for(transport) as client:
        async with client.stream("gemini/gemini-2.5-flash", "Why do rivers meander?") as s:
            text = "".join([piece async for piece in s.text_chunks()])
            final = await s.final_response()
    assert text == "Rivers meander because banks erode."
    assert final.usage == Usage(7, 46, reasoning_tokens=40) and final.finish_reason == "stop"
    sent = transport.requests[0]
    assert sent.headers["x-goog-api-key"] == KEY and "authorization" not in sent.headers
    assert sent.url.endswith(":streamGenerateContent?alt=sse")


@pytest.mark.anyio
async def test_a_429_is_retried_after_its_retry_info_wait() -> None:
    clock = FakeClock()
    limited = Answer.json(
        429,
        {
            "error": {
                "code": 429,
                "message": "Resource has been exhausted (e.g. check quota).",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}
                ],
            }
        },
    )
    ok = Answer.json(
        200, {**chunk([{"text": "ok"}], "STOP", promptTokenCount=2, candidatesTokenCount=1)}
    )
    transport = ScriptedTransport(limited, ok, clock=clock)
    async with anyio.create_task_group() as group:
        group.start_soon(clock.autojump)
        async with client_for(transport, clock=clock) as client:
            response = await client.chat("gemini/gemini-2.5-flash", "hi")
        group.cancel_scope.cancel()
    assert response.text == "ok" and response.attempts == 2
    waited = transport.times[1] - transport.times[0]
    assert 3.0 <= waited <= 3.0 * 1.25  # the API's wait (jitter on top at most)


@pytest.mark.anyio
async def test_a_cut_stream_is_a_stream_error_keeping_the_text() -> None:
    cut = Answer(200, {"content-type": "text/event-stream"}, [sse_bytes(STREAM[:1])], cut=True)
    async with client_for(ScriptedTransport(cut), disable=["retry"]) as client:
        with pytest.raises(StreamError) as caught:
            async with client.stream("gemini/gemini-2.5-flash", "x") as s:
                async for _ in s:
                    pass
    assert caught.value.partial_text == "Rivers "


def test_the_key_never_shows_in_a_request_repr() -> None:
    request = Request(model="gemini/m", messages=(), credential=sluicegate.Secret(KEY))
    assert KEY not in repr(request)
