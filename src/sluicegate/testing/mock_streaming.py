"""Sending an answer over time: server-sent events, their pacing and stream faults, and
the ASGI responses that stop when the client leaves or cut the connection on purpose.

Both wire formats stream the same way (a few opening events, one event per piece with
``per_token_latency_s`` between them, a few closing events), and differ only in the bytes
of each event. So a format describes its events as :class:`StreamFrames` and
:func:`paced_events` alone decides timing, where a stream fault strikes and whether the
stream counts as a success; the fault behaviour cannot drift between formats.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from sluicegate.testing.faults import BODY_FAULTS, FaultKind, MockConnectionCut
from sluicegate.testing.mock_wire import MockJob, dumps

__all__ = [
    "CutResponse",
    "EventStreamResponse",
    "StreamFrames",
    "fault_position",
    "paced_events",
    "sse",
    "until_disconnected",
]


def sse(data: str, event: str | None = None) -> bytes:
    """One server-sent event, with an ``event:`` line when named (Anthropic names every
    event; OpenAI names none)."""
    if event is None:
        return f"data: {data}\n\n".encode()
    return f"event: {event}\ndata: {data}\n\n".encode()


@dataclass(slots=True)
class StreamFrames:
    """The bytes of one stream, as a wire format lays them out.

    A piece's event is ``piece_head + <the piece as a JSON string> + piece_tail``: the
    rest of every piece event is the same, so it is built once per stream rather than
    once per piece.
    """

    opening: list[bytes]
    """Events before the first piece."""
    piece_head: str
    piece_tail: str
    closing: list[bytes]
    """Events after the last piece."""
    fault_event: bytes = field(default=b"")
    """What a ``stream_error`` (ends the stream) or ``malformed`` fault (the stream goes
    on) sends where it strikes; built only for those faults."""
    pieces: Sequence[str] | None = None
    """What is sent piece by piece, when the format does not send ``MockJob.pieces``
    (Gemini sends a tool call whole, in the closing chunk: no pieces)."""


def fault_position(n_pieces: int, fault: FaultKind | None, after: int | None) -> int:
    """Index of the piece before which a stream fault strikes (-1: no stream fault).
    ``after`` is ``MockConfig.fault_after_pieces``: None strikes halfway."""
    if fault not in BODY_FAULTS:
        return -1
    return min(after if after is not None else n_pieces // 2, n_pieces)


async def paced_events(
    frames: StreamFrames,
    job: MockJob,
    fault: FaultKind | None,
    fault_after: int | None,
    delay_s: float,
    on_complete: Callable[[MockJob], None],
) -> AsyncGenerator[bytes, None]:
    """The events of a streamed answer, ``delay_s`` apart, damaged by ``fault`` if it is
    a stream fault. ``on_complete`` runs once the last event is handed over, and only for
    an undamaged stream: a damaged one is not an answer, even if it ends normally."""
    for event in frames.opening:
        yield event
    pieces = job.pieces if frames.pieces is None else frames.pieces
    n_pieces = len(pieces)
    fault_at = fault_position(n_pieces, fault, fault_after)
    head, tail = frames.piece_head, frames.piece_tail
    for i in range(n_pieces + 1):
        if i == fault_at:
            if fault == "cut_stream":
                raise MockConnectionCut("mock fault cut_stream: stream dropped")
            yield frames.fault_event
            if fault == "stream_error":
                return
        if i == n_pieces:
            break
        if delay_s > 0:
            await anyio.sleep(delay_s)
        yield (head + dumps(pieces[i]) + tail).encode()
    for event in frames.closing:
        yield event
    if fault_at < 0:
        on_complete(job)


async def until_disconnected(receive: Receive) -> None:
    """Return when the client goes away (``http.disconnect``).

    Servers do not fail a send to a closed connection (hypercorn drops it silently on
    trio and logs a warning per write on asyncio), so watching ``receive`` is the only
    way a long answer learns that nobody is listening.
    """
    while (await receive())["type"] != "http.disconnect":
        pass


class EventStreamResponse(Response):
    """A server-sent-event stream that stops when the client goes away.

    The events are produced while a second task waits for ``http.disconnect``: without
    the watch a stream whose client left would run to its end and count as a success.
    ``MockConnectionCut`` raised by the events (the ``cut_stream`` fault) is re-raised
    bare, not in an exception group, so servers and transports recognise it.
    """

    media_type = "text/event-stream"

    def __init__(self, events: AsyncGenerator[bytes, None], headers: Mapping[str, str]) -> None:
        self.status_code = 200
        self.background = None
        self.events = events
        self.init_headers({**headers, "cache-control": "no-cache"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cut: MockConnectionCut | None = None
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                await until_disconnected(receive)
                group.cancel_scope.cancel()

            group.start_soon(watch)
            try:
                await self._send_events(send)
            except MockConnectionCut as exc:
                cut = exc
            group.cancel_scope.cancel()
        if cut is not None:
            raise cut

    async def _send_events(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        async with aclosing(self.events) as events:
            async for chunk in events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class CutResponse(Response):
    """Sends the start of a plain answer and then drops the connection (``cut_stream``
    on a plain request).

    No content-length is declared (the body is chunked), so the client sees a body that
    never ends properly rather than a length mismatch.
    """

    def __init__(self, partial_body: bytes, headers: Mapping[str, str]) -> None:
        self.status_code = 200
        self.background = None
        self.partial_body = partial_body
        self.raw_headers = [(b"content-type", b"application/json")] + [
            (k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.partial_body, "more_body": True})
        raise MockConnectionCut("mock fault cut_stream: connection dropped mid-body")
