"""Streamed replies: the event iterator that travels up the chain, the two ways a stage
handles one without consuming it, and the accumulator that turns a stream's events into
the same :class:`Response` a plain call gives.

An :class:`EventStream` is a plain class rather than an async generator: async generators
left unfinished are finalised by the event loop at an arbitrary time (and differently on
asyncio and trio), while an explicit ``aclose()`` releases the HTTP connection exactly when
the caller is done. No task, thread or handler is created per chunk.

- A stage that must see a stream end (settle a breaker, a rate limit, a cost, record an
  answer) wraps it with :meth:`EventStream.observe`: its ``on_close`` is told once how the
  stream ended, whichever way it ended.
- A stage that may put another stream in place of one that failed before any answer
  reached the caller (retry, fallback) wraps it in a :class:`ReplaceableSource` with its
  own :class:`StreamReplacement` policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeAlias

from sluicegate.errors import ConfigError, SluicegateError
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

CloseHook: TypeAlias = Callable[
    [Response | None, BaseException | None], Response | Awaitable[Response | None] | None
]
""":meth:`EventStream.observe`'s ``on_close(response, error)``, called once, as the stream
ended:

- ``(response, None)``: Done passed with ``response``. A Response returned (or awaited)
  replaces it in the Done the caller gets.
- ``(None, error)``: reading the stream raised ``error``, which is then re-raised. A
  cancellation is an error too (a ``BaseException`` that is not an ``Exception``): stages
  that charge or count tell the two apart with ``isinstance(error, Exception)``.
- ``(None, None)``: the stream was closed before Done (the caller's ``aclose()``: it
  stopped reading, broke out of its loop or left its block), or its source ended without
  Done.

It may be an ``async`` function (the idempotency stage awaits a store); a synchronous one
costs no coroutine. On a cancelled stream an awaiting hook is cancelled at its first
checkpoint, so one that must finish its work should not await on the error path.
"""

EventHook: TypeAlias = Callable[[StreamEvent], object]
""":meth:`EventStream.observe`'s ``on_event(event)``: each event before Done, as it passes."""


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
        on_event: EventHook | None = None,
        on_close: CloseHook | None = None,
        on_done: Callable[[Response], Response | None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> EventStream:
        """A stream that passes these events through unbuffered, telling ``on_event`` of
        each one before Done and ``on_close`` (see :data:`CloseHook`) exactly once how the
        stream ended: with Done, with an error, or closed (or run dry) before Done.

        ``on_done`` and ``on_error`` are the older, narrower form of ``on_close``: the
        first sees (and may replace) the final Response, the second an error; neither
        hears of an early close. Give either form, not both.

        Per event this costs one type check and, with ``on_event``, one call: no task, no
        allocation. The hooks are dropped once ``on_close`` has run.
        """
        if on_done is not None or on_error is not None:
            if on_close is not None:
                raise TypeError("EventStream.observe() takes on_close or on_done/on_error")
            on_close = _DoneOrError(on_done, on_error)
        return EventStream(_ObservedSource(self, on_event, on_close))


class _ObservedSource:
    """The source of an observed stream: the one place a stream's end is told to a stage."""

    __slots__ = ("_inner", "_on_close", "_on_event")

    def __init__(
        self, inner: EventStream, on_event: EventHook | None, on_close: CloseHook | None
    ) -> None:
        self._inner = inner
        self._on_event = on_event
        self._on_close = on_close

    async def next_event(self) -> StreamEvent:
        try:
            event = await self._inner.__anext__()
        except StopAsyncIteration:
            if self._on_close is not None:  # ran dry without Done
                pending = self._closed(None)
                if pending is not None:
                    await pending
            raise
        except BaseException as exc:
            if self._on_close is not None:
                pending = self._closed(exc)
                if pending is not None:
                    await pending
            raise
        if type(event) is Done:
            on_close = self._on_close
            if on_close is None:
                return event
            self._on_close = self._on_event = None
            replaced = on_close(event.response, None)
            if replaced is None:
                return event
            if not isinstance(replaced, Response):
                replaced = await replaced
                if replaced is None:
                    return event
            return Done(replaced)
        on_event = self._on_event
        if on_event is not None:
            on_event(event)
        return event

    def _closed(self, error: BaseException | None) -> Awaitable[Response | None] | None:
        """Tell ``on_close`` of an end without Done; what to await if the hook is async."""
        on_close = self._on_close
        self._on_close = self._on_event = None
        if on_close is None:
            return None
        result = on_close(None, error)
        return None if result is None or isinstance(result, Response) else result

    async def aclose(self) -> None:
        try:
            if self._on_close is not None:  # closed before Done
                pending = self._closed(None)
                if pending is not None:
                    await pending
        finally:
            await self._inner.aclose()


class _DoneOrError:
    """``on_close`` made of an ``on_done``/``on_error`` pair."""

    __slots__ = ("_on_done", "_on_error")

    def __init__(
        self,
        on_done: Callable[[Response], Response | None] | None,
        on_error: Callable[[BaseException], None] | None,
    ) -> None:
        self._on_done = on_done
        self._on_error = on_error

    def __call__(self, response: Response | None, error: BaseException | None) -> Response | None:
        if response is not None:
            return self._on_done(response) if self._on_done is not None else None
        if error is not None and self._on_error is not None:
            self._on_error(error)
        return None


def expect_stream(reply: Response | EventStream, model: str) -> EventStream:
    """``reply`` to a streamed request for ``model``, which must be a stream: a stage that
    answers a streamed request with a plain Response is a middleware bug, named here."""
    if isinstance(reply, EventStream):
        return reply
    raise ConfigError(f"a middleware answered a streamed request for {model!r} without a stream")


class StreamReplacement(Protocol):
    """A stage's rule for replacing a stream that failed before any content reached the
    caller (see :class:`ReplaceableSource`), with its state for one request."""

    @property
    def model(self) -> str:
        """The model the current stream is the answer of (named if a stage answers the
        next attempt without a stream)."""
        ...

    def may_replace(self, error: SluicegateError) -> bool:
        """Whether a stream failing with ``error`` may be replaced; False re-raises the
        error as it is, and so may raising another (with notes) in its place."""
        ...

    async def open_next(self, error: SluicegateError) -> Response | EventStream:
        """The reply that takes the failed stream's place (the old one is closed by
        then); raise to end the stream with that error instead."""
        ...


class ReplaceableSource:
    """A stream source that, while no text or tool-call delta has reached the caller,
    replaces a stream failing with a :class:`SluicegateError` by the next one its policy
    opens; after the first delta it only passes events through.

    The current stream's ``content_delivered`` is the test: every event it delivered was
    handed straight up, and a stream is only replaced while it is 0, so 0 on the current
    stream means the caller has seen none of any replaced stream's answer either (at most
    usage or finish bookkeeping, which the new stream reports afresh: its Done is built
    from its own events only). ``delivered`` would be the wrong test: it counts
    Anthropic's opening UsageEvent, which would make an ``overloaded_error`` right after
    ``message_start`` final although the caller has no text.
    """

    __slots__ = ("_policy", "_stream")

    def __init__(self, stream: EventStream, policy: StreamReplacement) -> None:
        self._stream = stream
        self._policy = policy

    async def next_event(self) -> StreamEvent:
        while True:
            stream = self._stream
            try:
                return await stream.__anext__()
            except SluicegateError as error:
                if stream.content_delivered or not self._policy.may_replace(error):
                    raise
                failure = error
            await stream.aclose()
            reply = await self._policy.open_next(failure)
            self._stream = expect_stream(reply, self._policy.model)

    async def aclose(self) -> None:
        await self._stream.aclose()


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
