"""The two stream wrappers every stage shares: ``EventStream.observe`` (its ``on_close`` is
told exactly once how a stream ended) and ``ReplaceableSource`` (a failed stream replaced
only while no content reached the caller); and ``expect_stream``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.errors import ConfigError, SluicegateError, StreamError
from sluicegate.streaming import EventStream, ReplaceableSource, expect_stream
from sluicegate.types import (
    Done,
    FinishEvent,
    Response,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)

pytestmark = pytest.mark.anyio

RESPONSE = Response(text="ab", model="openai/m", provider="openai")


class Boom(Exception):
    pass


class Script:
    """A stream source that gives ``events``, then ends as told: ``"done"`` (Done with
    RESPONSE), ``"error"`` (raises ``error``), ``"dry"`` (StopAsyncIteration without
    Done) or ``"hang"`` (waits until cancelled, after setting ``waiting``)."""

    def __init__(
        self, events: Sequence[StreamEvent], end: str = "done", error: BaseException | None = None
    ) -> None:
        self._events = list(events)
        self._end = end
        self._error = error if error is not None else Boom("cut")
        self.closes = 0
        self.waiting = anyio.Event()

    async def next_event(self) -> StreamEvent:
        if self._events:
            return self._events.pop(0)
        end, self._end = self._end, "dry"
        if end == "done":
            return Done(RESPONSE)
        if end == "error":
            raise self._error
        if end == "hang":
            self.waiting.set()
            await anyio.sleep_forever()
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.closes += 1


@dataclass
class Watch:
    """Hooks that write down what they were told."""

    events: list[StreamEvent] = field(default_factory=list)
    closes: list[tuple[Response | None, BaseException | None]] = field(default_factory=list)
    replace_with: Response | None = None

    def on_event(self, event: StreamEvent) -> None:
        self.events.append(event)

    def on_close(self, response: Response | None, error: BaseException | None) -> Response | None:
        self.closes.append((response, error))
        return self.replace_with if response is not None else None


async def read(stream: EventStream, limit: int | None = None) -> list[StreamEvent]:
    got: list[StreamEvent] = []
    async for event in stream:
        got.append(event)
        if limit is not None and len(got) >= limit:
            break
    return got


EVENTS: list[StreamEvent] = [UsageEvent(Usage(3, 0)), TextDelta("a"), TextDelta("b")]


# -- observe: on_close once, whichever way the stream ended ----------------------------------


async def test_done_is_told_once_and_the_stream_then_closes_quietly() -> None:
    source, watch = Script(EVENTS), Watch()
    stream = EventStream(source).observe(on_event=watch.on_event, on_close=watch.on_close)
    got = await read(stream)
    await stream.aclose()
    await stream.aclose()
    assert got == [*EVENTS, Done(RESPONSE)]
    assert watch.events == EVENTS  # every event before Done, Done not among them
    assert watch.closes == [(RESPONSE, None)]
    assert stream.response is RESPONSE
    assert source.closes == 2  # aclose always reaches the source


async def test_a_returned_response_replaces_the_one_done_carries() -> None:
    stamped = RESPONSE.replace(cost=0.5)
    watch = Watch(replace_with=stamped)
    stream = EventStream(Script(EVENTS)).observe(on_close=watch.on_close)
    got = await read(stream)
    assert got[-1] == Done(stamped)
    assert stream.response is stamped


async def test_an_async_hook_is_awaited_before_done_is_handed_on() -> None:
    told: list[Response | None] = []

    async def on_close(response: Response | None, error: BaseException | None) -> Response | None:
        await anyio.lowlevel.checkpoint()
        told.append(response)
        return None if response is None else response.replace(attempts=3)

    stream = EventStream(Script(EVENTS)).observe(on_close=on_close)
    got = await read(stream)
    assert told == [RESPONSE]
    assert isinstance(got[-1], Done) and got[-1].response.attempts == 3


async def test_an_error_is_told_once_then_reraised() -> None:
    error = StreamError("cut", partial_text="ab", provider="openai", model="m")
    source, watch = Script(EVENTS, "error", error), Watch()
    stream = EventStream(source).observe(on_event=watch.on_event, on_close=watch.on_close)
    with pytest.raises(StreamError) as raised:
        await read(stream)
    await stream.aclose()
    assert raised.value is error
    assert watch.closes == [(None, error)]
    assert watch.events == EVENTS
    assert source.closes == 1


async def test_an_early_close_is_told_once_with_neither_response_nor_error() -> None:
    source, watch = Script(EVENTS), Watch()
    stream = EventStream(source).observe(on_event=watch.on_event, on_close=watch.on_close)
    assert await read(stream, limit=2) == EVENTS[:2]
    await stream.aclose()
    await stream.aclose()
    assert watch.closes == [(None, None)]
    assert watch.events == EVENTS[:2]
    assert source.closes == 2


async def test_a_source_that_runs_dry_without_done_is_told_as_closed() -> None:
    watch = Watch()
    stream = EventStream(Script(EVENTS, "dry")).observe(on_close=watch.on_close)
    assert await read(stream) == EVENTS
    assert watch.closes == [(None, None)]  # told when it ran dry, not only at aclose
    await stream.aclose()
    assert watch.closes == [(None, None)]


async def test_a_cancelled_read_is_told_once_as_the_cancellation() -> None:
    source, watch = Script(EVENTS[:1], "hang"), Watch()
    stream = EventStream(source).observe(on_close=watch.on_close)
    async with anyio.create_task_group() as group:

        async def reader() -> None:
            try:
                await read(stream)
            finally:
                with anyio.CancelScope(shield=True):
                    await stream.aclose()  # what client.stream's block does on the way out

        group.start_soon(reader)
        await source.waiting.wait()
        group.cancel_scope.cancel()
    assert len(watch.closes) == 1
    response, error = watch.closes[0]
    assert response is None
    assert isinstance(error, anyio.get_cancelled_exc_class())
    assert not isinstance(error, Exception)  # how a stage tells it from a failure
    assert source.closes == 1


async def test_an_exception_in_on_close_at_aclose_still_closes_the_source() -> None:
    def on_close(response: Response | None, error: BaseException | None) -> None:
        raise Boom("hook")

    source = Script(EVENTS)
    stream = EventStream(source).observe(on_close=on_close)
    await read(stream, limit=1)
    with pytest.raises(Boom):
        await stream.aclose()
    assert source.closes == 1


async def test_on_done_and_on_error_are_on_close_told_apart() -> None:
    done: list[Response] = []
    errors: list[BaseException] = []
    stream = EventStream(Script(EVENTS)).observe(
        on_done=lambda r: done.append(r) or r.replace(cost=1.0), on_error=errors.append
    )
    got = await read(stream)
    assert done == [RESPONSE] and errors == []
    assert isinstance(got[-1], Done) and got[-1].response.cost == 1.0

    failing = EventStream(Script(EVENTS, "error")).observe(on_error=errors.append)
    with pytest.raises(Boom):
        await read(failing)
    closed = EventStream(Script(EVENTS)).observe(on_done=done.append, on_error=errors.append)
    await read(closed, limit=1)
    await closed.aclose()  # an early close is news to neither
    assert len(done) == 1 and [type(e) for e in errors] == [Boom]


def test_observe_takes_one_form_of_close_hook() -> None:
    stream = EventStream(Script(EVENTS))
    with pytest.raises(TypeError, match="on_close or on_done/on_error"):
        stream.observe(on_close=lambda r, e: None, on_done=lambda r: None)


# -- observe, for any events and any ending --------------------------------------------------

_events = st.lists(
    st.one_of(
        st.builds(TextDelta, st.text(max_size=3)),
        st.builds(ToolCallDelta, st.integers(0, 2), arguments=st.text(max_size=3)),
        st.builds(UsageEvent, st.builds(Usage, st.integers(0, 9), st.integers(0, 9))),
        st.builds(FinishEvent, st.sampled_from(["stop", "length"])),
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(
    events=_events,
    end=st.sampled_from(["done", "error", "dry"]),
    read_at_most=st.none() | st.integers(0, 8),
    layers=st.integers(1, 3),
)
def test_on_close_is_told_exactly_once_and_events_pass_unchanged(
    events: list[StreamEvent], end: str, read_at_most: int | None, layers: int
) -> None:
    """Any events, any ending, read to the end or closed after a few, through one to three
    observers (as the chain stacks them): each observer is told once, with what really
    happened; every event before Done passes unchanged, and the source is closed once."""

    async def scenario() -> None:
        source = Script(events, end)
        stream = EventStream(source)
        watches = []
        for _ in range(layers):
            watch = Watch()
            watches.append(watch)
            stream = stream.observe(on_event=watch.on_event, on_close=watch.on_close)
        got: list[StreamEvent] = []
        error: BaseException | None = None
        try:
            got = await read(stream, read_at_most)
        except Boom as exc:
            error = exc
        await stream.aclose()
        reached_end = read_at_most is None or read_at_most > len(events)
        if read_at_most == 0:  # ``read`` takes one event before it looks at the limit
            reached_end = not events
        expected: tuple[Response | None, BaseException | None]
        if end == "done" and reached_end:
            expected = (RESPONSE, None)
            assert got == [*events, Done(RESPONSE)]
        elif end == "error" and reached_end:
            expected = (None, error)
            assert error is not None and got == []
        else:
            expected = (None, None)
        for watch in watches:
            assert watch.closes == [expected]
            delivered = [e for e in got if type(e) is not Done] if error is None else events
            assert watch.events == delivered
        assert source.closes == 1

    for backend in ("asyncio", "trio"):
        anyio.run(scenario, backend=backend)


# -- ReplaceableSource --------------------------------------------------------------------


def _failure(retryable: bool = True) -> StreamError:
    return StreamError("overloaded", partial_text="", provider="p", model="m", retryable=retryable)


class Replacements:
    """A policy that opens the scripted streams in turn and keeps what it was asked."""

    model = "p/m"

    def __init__(self, *replies: Response | EventStream, allow: bool = True) -> None:
        self._replies = list(replies)
        self._allow = allow
        self.asked: list[SluicegateError] = []

    def may_replace(self, error: SluicegateError) -> bool:
        self.asked.append(error)
        return self._allow

    async def open_next(self, error: SluicegateError) -> Response | EventStream:
        return self._replies.pop(0)


async def test_a_stream_failing_before_content_is_replaced() -> None:
    first = Script([UsageEvent(Usage(40, 0))], "error", _failure())
    second = Script([TextDelta("fresh")])
    policy = Replacements(EventStream(second))
    stream = EventStream(ReplaceableSource(EventStream(first), policy))
    got = await read(stream)
    await stream.aclose()
    assert got == [UsageEvent(Usage(40, 0)), TextDelta("fresh"), Done(RESPONSE)]
    assert len(policy.asked) == 1
    assert (first.closes, second.closes) == (1, 1)  # the failed one closed before the next


async def test_a_stream_failing_after_content_is_not_replaced() -> None:
    error = _failure()
    policy = Replacements(EventStream(Script([])))
    stream = EventStream(ReplaceableSource(EventStream(Script(EVENTS, "error", error)), policy))
    with pytest.raises(StreamError) as raised:
        await read(stream)
    assert raised.value is error
    assert policy.asked == []  # content reached the caller: not even asked


async def test_a_policy_that_refuses_reraises_the_error_as_it_was() -> None:
    error = _failure(retryable=False)
    first = Script([], "error", error)
    policy = Replacements(EventStream(Script([])), allow=False)
    stream = EventStream(ReplaceableSource(EventStream(first), policy))
    with pytest.raises(StreamError) as raised:
        await read(stream)
    assert raised.value is error
    assert first.closes == 0  # left for the caller's aclose, as before


async def test_a_plain_response_in_place_of_a_stream_names_the_model() -> None:
    policy = Replacements(RESPONSE)
    stream = EventStream(ReplaceableSource(EventStream(Script([], "error", _failure())), policy))
    with pytest.raises(ConfigError, match="streamed request for 'p/m' without a stream"):
        await read(stream)


async def test_aclose_closes_the_current_stream() -> None:
    first = Script([], "error", _failure())
    second = Script(EVENTS)
    stream = EventStream(ReplaceableSource(EventStream(first), Replacements(EventStream(second))))
    await read(stream, limit=1)
    await stream.aclose()
    assert (first.closes, second.closes) == (1, 1)


def test_expect_stream_passes_a_stream_and_names_the_model_of_anything_else() -> None:
    stream = EventStream(Script([]))
    assert expect_stream(stream, "openai/m") is stream
    with pytest.raises(ConfigError, match="'openai/m' without a stream"):
        expect_stream(RESPONSE, "openai/m")
