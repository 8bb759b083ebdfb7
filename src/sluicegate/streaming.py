"""Streamed replies: the event iterator that travels up the chain, and the accumulator
that turns a stream's events into the same :class:`Response` a plain call gives.

An :class:`EventStream` is a plain class rather than an async generator: async generators
left unfinished are finalised by the event loop at an arbitrary time (and differently on
asyncio and trio), while an explicit ``aclose()`` releases the HTTP connection exactly when
the caller is done. Middleware that must see the end of a stream wraps it with
:meth:`EventStream.observe`; no task, thread or handler is created per chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sluicegate.types import (
    Done,
    FinishEvent,
    Response,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)


class StreamSource(Protocol):
    """Where an EventStream's events come from."""

    async def next_event(self) -> StreamEvent:
        """The next event; raises StopAsyncIteration after the Done event."""
        ...

    async def aclose(self) -> None: ...


class EventStream:
    """An async iterator of stream events that ends with a :class:`Done` event.

    Two counts of what has been handed to the consumer so far:

    - ``content_delivered``: the :class:`TextDelta` and :class:`ToolCallDelta` events,
      the answer itself. A stage that retries or falls back may replace a failed stream
      only while it is 0: a new stream would repeat or contradict text or a tool call the
      caller may have shown or acted on. Bookkeeping events before the first delta (the
      :class:`UsageEvent` Anthropic sends at ``message_start``) leave it at 0, so an
      ``overloaded_error`` right after them is still replaced.
    - ``delivered``: every event. Nonzero means the provider had begun answering, which
      the deadline and cost stages go by (a timeout before or during the stream; a cut
      stream charged or not).

    ``response`` is set once Done has passed.
    """

    __slots__ = ("_source", "content_delivered", "delivered", "response")

    def __init__(self, source: StreamSource) -> None:
        self._source = source
        self.delivered = 0
        self.content_delivered = 0
        self.response: Response | None = None

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> StreamEvent:
        event = await self._source.next_event()
        self.delivered += 1
        kind = type(event)
        if kind is TextDelta or kind is ToolCallDelta:  # the usual case: one comparison
            self.content_delivered += 1
        elif type(event) is Done:  # (not ``kind``: mypy narrows only on this form)
            self.response = event.response
        return event

    async def aclose(self) -> None:
        await self._source.aclose()

    def observe(
        self,
        *,
        on_done: Callable[[Response], Response | None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> EventStream:
        """A stream that passes events through, letting ``on_done`` see (and replace) the
        final Response and ``on_error`` see a failure, without buffering anything."""
        return EventStream(_ObservedSource(self, on_done, on_error))


class _ObservedSource:
    __slots__ = ("_inner", "_on_done", "_on_error")

    def __init__(
        self,
        inner: EventStream,
        on_done: Callable[[Response], Response | None] | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        self._inner = inner
        self._on_done = on_done
        self._on_error = on_error

    async def next_event(self) -> StreamEvent:
        try:
            event = await self._inner.__anext__()
        except StopAsyncIteration:
            raise
        except BaseException as exc:
            if self._on_error is not None:
                self._on_error(exc)
            raise
        if type(event) is Done and self._on_done is not None:
            replaced = self._on_done(event.response)
            if replaced is not None:
                return Done(replaced)
        return event

    async def aclose(self) -> None:
        await self._inner.aclose()


class ResponseBuilder:
    """Folds stream events into a Response: text joined, tool calls assembled by index,
    usage merged by :meth:`Usage.updated` (Anthropic reports input tokens at the start of a
    stream and output tokens at the end; OpenAI reports both once, at the end)."""

    __slots__ = ("_calls", "_texts", "finish_reason", "usage")

    def __init__(self) -> None:
        self._texts: list[str] = []
        self._calls: dict[int, list[str]] = {}
        self.finish_reason: str | None = None
        self.usage = Usage()

    def add(self, event: StreamEvent) -> None:
        kind = type(event)
        if kind is TextDelta:
            self._texts.append(event.text)  # type: ignore[union-attr]
        elif kind is ToolCallDelta:
            assert isinstance(event, ToolCallDelta)
            parts = self._calls.setdefault(event.index, ["", "", ""])
            if event.id:
                parts[0] = event.id
            if event.name:
                parts[1] = event.name
            parts[2] += event.arguments
        elif kind is UsageEvent:
            assert isinstance(event, UsageEvent)
            self.usage = self.usage.updated(event.usage)
        elif kind is FinishEvent:
            assert isinstance(event, FinishEvent)
            self.finish_reason = event.reason

    @property
    def text(self) -> str:
        return "".join(self._texts)

    def build(self, *, model: str, provider: str, request_id: str) -> Response:
        calls = tuple(
            ToolCall(id=p[0], name=p[1], arguments=p[2]) for _, p in sorted(self._calls.items())
        )
        return Response(
            text=self.text,
            model=model,
            provider=provider,
            tool_calls=calls,
            finish_reason=self.finish_reason,
            usage=self.usage,
            request_id=request_id,
        )
