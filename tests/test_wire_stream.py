"""WireStreamSource: an official SDK's stream handed up as the provider's own bytes,
beside the decoded events, however the network chunked them.

The properties, for any chunking of an OpenAI chunk stream:

- the bytes handed up, followed by the bytes a failure keeps on its ``answer``, are the
  bytes read, in order, unchanged;
- no bytes go up before the first content event (so a stream failing before content has
  given the SDK nothing, and the retry stage may replace it);
- only the first chunk carries the status and headers;
- the Done response has the usage the stream reported (what the ledger counts).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.errors import StreamError
from sluicegate.provider_stream import WireStreamSource
from sluicegate.providers.openai import OpenAIProvider
from sluicegate.sdk.codec import OpaqueStreamDecoder
from sluicegate.streaming import EventStream
from sluicegate.transports.base import HttpRequest, TransportFailure
from sluicegate.types import Done, Message, Metadata, Request, TextDelta, ToolCallDelta, WireChunk

HEADERS = {"content-type": "text/event-stream", "x-request-id": "req-wire"}
REQUEST = Request(
    model="sdk-openai/fast",
    messages=(Message(role="user", content="hi"),),
    metadata=Metadata(request_id="req_wire"),
    stream=True,
    wire=HttpRequest("POST", "http://127.0.0.1/v1/chat/completions", {}, b"{}"),
)
BOUND: Any = SimpleNamespace(name="sdk-openai")


class ChunkedStream:
    """An HttpStream that yields ``chunks``, then either ends or fails with ``cut``."""

    def __init__(self, chunks: list[bytes], *, cut: bool = False) -> None:
        self.status = 200
        self.headers = HEADERS
        self._chunks = chunks
        self._cut = cut
        self.closed = False

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            await anyio.lowlevel.checkpoint()
            yield chunk
        if self._cut:
            raise TransportFailure("read", "the server closed the connection")

    async def read(self) -> bytes:
        return b"".join(self._chunks)

    async def aclose(self) -> None:
        self.closed = True


def event(data: dict[str, Any] | str) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data)
    return f"data: {text}\n\n".encode()


def text_chunk(text: str, finish: str | None = None) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}],
    }


ROLE = event(
    {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
)
ERROR = event({"error": {"message": "overloaded mid-stream", "type": "server_error"}})


def usage_chunk(prompt: int, completion: int) -> bytes:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return event({"object": "chat.completion.chunk", "choices": [], "usage": usage})


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts} | {0, len(body)})
    return [body[a:b] for a, b in itertools.pairwise(points) if b > a]


async def read_all(
    stream: ChunkedStream, decoder: Any = None
) -> tuple[list[Any], BaseException | None]:
    """Every event the source hands up, and the error that ended it (if one did)."""
    if decoder is None:
        decoder = OpenAIProvider("http://127.0.0.1", {}, name="sdk-openai").stream_decoder(REQUEST)
    events = EventStream(WireStreamSource(BOUND, REQUEST, stream, decoder, None))
    seen: list[Any] = []
    try:
        async for item in events:
            seen.append(item)
    except StreamError as error:
        return seen, error
    finally:
        await events.aclose()
    return seen, None


def wire_bytes(seen: list[Any]) -> bytes:
    return b"".join(item.data for item in seen if type(item) is WireChunk)


def check_wire_chunks(seen: list[Any]) -> None:
    chunks = [item for item in seen if type(item) is WireChunk]
    if chunks:
        assert (chunks[0].status, chunks[0].headers) == (200, HEADERS)
        assert all(c.headers is None and c.status == 0 for c in chunks[1:])
        first_wire = seen.index(chunks[0])
        content = [i for i, item in enumerate(seen) if type(item) in (TextDelta, ToolCallDelta)]
        if content:  # the bytes were held back until the first content went up
            assert content[0] < first_wire


texts = st.lists(st.text(min_size=1, max_size=6), min_size=0, max_size=6)
cut_points = st.lists(st.integers(min_value=0, max_value=10_000), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    parts=texts,
    cuts=cut_points,
    usage=st.tuples(st.integers(1, 10_000), st.integers(1, 10_000)),
    backend=st.sampled_from(["asyncio", "trio"]),
)
def test_a_whole_stream_goes_up_byte_for_byte_with_its_usage(
    parts: list[str], cuts: list[int], usage: tuple[int, int], backend: str
) -> None:
    body = ROLE + b"".join(event(text_chunk(p)) for p in parts)
    body += event(text_chunk("", "stop")) + usage_chunk(*usage) + event("[DONE]")
    seen, error = anyio.run(read_all, ChunkedStream(split(body, cuts)), backend=backend)
    assert error is None
    assert wire_bytes(seen) == body
    check_wire_chunks(seen)
    chunks = [item for item in seen if type(item) is WireChunk]
    assert [c.last for c in chunks] == [False] * (len(chunks) - 1) + [True]  # the end marker's
    done = seen[-1]
    assert type(done) is Done
    assert done.response.text == "".join(parts)
    assert (done.response.usage.input_tokens, done.response.usage.output_tokens) == usage


@settings(max_examples=150, deadline=None)
@given(
    before=texts,
    after=texts,
    cuts=cut_points,
    backend=st.sampled_from(["asyncio", "trio"]),
)
def test_an_error_event_keeps_every_byte_not_yet_handed_up_on_the_answer(
    before: list[str], after: list[str], cuts: list[int], backend: str
) -> None:
    prefix = ROLE + b"".join(event(text_chunk(p)) for p in before) + ERROR
    body = prefix + b"".join(event(text_chunk(p)) for p in after) + event("[DONE]")
    seen, error = anyio.run(read_all, ChunkedStream(split(body, cuts)), backend=backend)
    assert isinstance(error, StreamError)
    answer = error.answer
    assert (answer.status, answer.headers) == (200, HEADERS)
    passed = wire_bytes(seen)
    delivered = passed + answer.body
    assert delivered.startswith(prefix) and body.startswith(delivered)
    check_wire_chunks(seen)
    if not before:  # failed before any content: the SDK was handed nothing yet
        assert passed == b""


@settings(max_examples=100, deadline=None)
@given(parts=texts, cuts=cut_points, backend=st.sampled_from(["asyncio", "trio"]))
def test_a_cut_stream_hands_up_what_came_after_content_and_keeps_no_answer(
    parts: list[str], cuts: list[int], backend: str
) -> None:
    body = ROLE + b"".join(event(text_chunk(p)) for p in parts)
    stream = ChunkedStream(split(body, cuts), cut=True)
    seen, error = anyio.run(read_all, stream, backend=backend)
    assert isinstance(error, StreamError) and error.answer is None
    check_wire_chunks(seen)
    passed = wire_bytes(seen)
    assert body.startswith(passed)
    if parts:  # after the first content every byte read went up
        assert passed == body
    else:
        assert passed == b""
    assert stream.closed


@pytest.mark.anyio
async def test_a_stream_sluicegate_cannot_decode_ends_with_its_bytes() -> None:
    body = b"event: anything\ndata: {}\n\n" * 3
    seen, error = await read_all(ChunkedStream(split(body, [7, 30])), OpaqueStreamDecoder())
    assert error is None
    assert wire_bytes(seen) == body
    assert type(seen[-1]) is Done
