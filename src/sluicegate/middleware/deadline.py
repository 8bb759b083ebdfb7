"""Deadline: one time limit for a whole logical request, every attempt and wait included.

Per-attempt limits already exist below the chain: the transports enforce the connect
timeout and the read timeout (first byte, then every gap between bytes, which is also the
idle limit between stream events) with timers set up once per client
(:class:`~sluicegate.transports.base.TransportOptions`), so an attempt costs no cancel
scope. What they cannot bound is the total: retries, backoff waits, rate-limit waits and
fallbacks can add up to far more than one read timeout. This stage bounds that total.

A request's deadline is ``metadata.deadline``, an absolute time on the client's clock; a
client-wide ``DeadlinePolicy(total=...)`` gives every request that has none a deadline of
``now + total`` and writes it into the metadata, so the stages inside (retry, which never
starts a wait that would end past it; rate limiting; fallback) can plan with it.

How the limit is kept depends on the clock, and costs nothing for a request without a
deadline (a call and an attribute read):

- On the default clock (the event loop's, trio's ``MockClock`` included) the deadline is
  kept where time is spent, with no cancel scope per request, which would cost 15-25 µs
  of CPU (``bench/chain_overhead.py``): each attempt's transport gets the time left as
  its ``timeouts.total`` (aiohttp's own total timer; a cancel scope per send and per
  streamed read for a transport without one), set by the dispatcher
  (:mod:`sluicegate.dispatch`), which turns a timer firing at the deadline into this
  stage's error; retry never starts a backoff that would end past it; the rate limiter
  refuses a server-requested hold past it and waits in its queue (after a request's
  first attempt) no longer than it. This stage only stamps the client's default deadline.
- With another injected clock (``FakeClock`` in tests) transport timers cannot follow
  it, so the stage runs the request under a cancel scope that a watchdog task, sleeping
  on that clock, cancels at the deadline; virtual time drives the deadline then, and a
  stream is read one event at a time under it.

A stage that waits for its own reasons (a plugin's) bounds the wait by
:func:`current_deadline`.

When the deadline passes the work is cancelled and :class:`RequestTimeoutError` is raised
(``error_type="deadline_exceeded"``, not retryable: no time is left to retry in). For a
stream the deadline also covers reading it: if it passes after events reached the caller,
the error is a :class:`StreamError` with the same ``error_type`` and the text received so
far in ``partial_text``, as any stream cut mid-way.

Where it sits: outside every stage that spends time on the request's behalf (see
``plugins/builtin.py``), inside the request logger so the timeout is logged as the request's
outcome.

The client's default (``Client(total_timeout=600.0)``, :data:`DEFAULT_TOTAL_TIMEOUT`) is
what guarantees that no request hangs however a server dribbles: the per-gap read timer
never fires on a server sending one byte a second, or keep-alive comments only. Its
clock does not run while a request waits in the client's *own* rate-limit queue before
its first attempt: a bulk run of ``-c 200 --rpm 6`` queues lines for half an hour by
design, and they must not fail for it. So the default deadline is a
:class:`DeadlineWindow`: the rate limiter stops its clock (:func:`queued`) when the
request's first attempt enters its queue and starts it again, a whole ``total_timeout``
from then, when the queue lets it through (:func:`admitted`), moving the cancel scope's
deadline (or the watchdog's). A deadline the caller gave
(``deadline=``, a call's ``total_timeout=``) is absolute and never moves.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio

from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.clock import AnyioClock, Clock
from sluicegate.errors import ConfigError, RequestTimeoutError, StreamError
from sluicegate.stage_settings import ExtraForm, stage_policy
from sluicegate.streaming import EventStream
from sluicegate.types import Request, StreamEvent, TextDelta

A = TypeVar("A")
T = TypeVar("T")

DEADLINE_EXCEEDED = "deadline_exceeded"
"""The ``error_type`` of the errors this stage raises."""

DEFAULT_TOTAL_TIMEOUT = 600.0
"""``Client(total_timeout=...)``'s default, seconds: the official SDKs' default timeout,
far above any real answer, and the bound on a request that a server keeps alive."""


class DeadlineWindow:
    """A client-default deadline in flight: ``deadline`` (the client's clock) may move
    once, when the request is first admitted by the rate limiter (:func:`admitted`)."""

    __slots__ = ("deadline", "open", "request_id", "scope", "total")

    def __init__(self, request_id: str, deadline: float, total: float) -> None:
        self.request_id = request_id
        self.deadline = deadline
        self.total = total
        self.open = True
        self.scope: anyio.CancelScope | None = None


_WINDOWS: dict[str, DeadlineWindow] = {}
"""The default-deadline windows of the requests in flight, by request id (unique in the
process), for the stages inside to find. A plain dict rather than a ContextVar: setting
one per request measured ~5 µs more on asyncio (bench/chain_overhead.py), a dict ~0.1."""


def _window_of(request: Request) -> DeadlineWindow | None:
    return _WINDOWS.get(request.metadata.request_id) if _WINDOWS else None


def current_deadline(request: Request) -> float | None:
    """The request's deadline now: a default deadline's window may have moved past the
    ``metadata.deadline`` an outer stage (retry) holds."""
    window = _window_of(request)
    return window.deadline if window is not None else request.metadata.deadline


NOT_SENT = "the request's deadline had passed before it was sent"
NO_FIRST_EVENT = "the stream's first event did not come before the deadline"
QUEUED_PAST = "the request's deadline passed while it waited in the client's rate-limit queue"
MID_STREAM = "the request's deadline passed mid-stream"


def deadline_error(request: Request, message: str | None = None) -> RequestTimeoutError:
    """The error of a request whose deadline passed: ``message`` says when (one of the
    constants above); None, before its answer, naming the client's ``total_timeout``
    when that was the deadline."""
    if message is not None:
        return _timeout(request, message)
    window = _window_of(request)
    if window is not None:
        return _timeout(request, f"no answer within the client's total_timeout ({window.total:g}s)")
    return _timeout(request, "no answer before the request's deadline")


def queued(request: Request) -> DeadlineWindow | None:
    """The rate limiter is about to put ``request`` in its queue for its first attempt:
    if the request runs under the client's default deadline, and for the first time,
    stop that deadline's clock (the window is returned, to :func:`admitted` once the
    queue lets the request through, whatever the outcome). None: nothing to do."""
    window = _window_of(request)
    if window is None or not window.open:
        return None
    window.open = False
    window.deadline = math.inf
    if window.scope is not None:
        window.scope.deadline = math.inf
    return window


def admitted(request: Request, window: DeadlineWindow, now: float) -> Request:
    """``request`` left the rate limiter's queue at ``now`` (the client's clock): its
    default deadline starts again from now, and the request to send on carries it."""
    moved = now + window.total
    window.deadline = moved
    if window.scope is not None:
        window.scope.deadline = moved
    return request.replace(metadata=request.metadata.replace(deadline=moved))


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """``total``: seconds a request may take in all, for requests that set no deadline of
    their own (None: only requests with ``metadata.deadline`` are limited).

    The policy's own default is None (``stage_settings["deadline"]=True``); a
    :class:`~sluicegate.Client` builds it from its ``total_timeout``, 600 s unless told
    otherwise, because the per-attempt read timer bounds only each gap between bytes: a
    server sending one byte a second, or keep-alive comments only, would hold a request
    for ever without a total. The price on the default clock is two clock reads, a
    metadata copy and a loop timer per attempt (docs/middleware/deadline.md has the
    figures).
    """

    total: float | None = None

    def __post_init__(self) -> None:
        total = self.total
        if total is not None and not (
            isinstance(total, int | float) and math.isfinite(total) and total > 0
        ):
            raise ConfigError(f"deadline total must be a positive number of seconds, got {total!r}")

    @classmethod
    def from_setting(cls, value: Any) -> DeadlinePolicy | None:
        """Read ``stage_settings["deadline"]`` by the rules every stage shares
        (:func:`~sluicegate.stage_settings.stage_policy`), and a number of seconds for
        ``total``; None: deadlines are ignored."""
        return stage_policy("deadline", cls, value, _SECONDS)


def _seconds(value: Any) -> DeadlinePolicy | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return DeadlinePolicy(total=value)
    return None


_SECONDS = ExtraForm("seconds", _seconds)
"""The deadline's shorthand: ``stage_settings={"deadline": 30}`` is ``total=30``."""


def kept_below(clock: Clock) -> bool:
    """Whether deadlines on ``clock`` are kept below the chain, by the dispatcher and the
    transports' timers (the default clock, which reads the loop's time, the time those
    timers and cancel scopes run on), rather than by this stage's watchdog."""
    return type(clock) is AnyioClock


class DeadlineMiddleware:
    """Enforces ``metadata.deadline`` on requests that carry one (see the module's doc:
    on the default clock, below the chain)."""

    __slots__ = ("_clock", "_native")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._native = kept_below(clock)

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        deadline = request.metadata.deadline
        if deadline is None or self._native:
            return await call_next(request)
        return await self._bounded(request, call_next, deadline)

    async def _bounded(self, request: Request, call_next: CallNext, deadline: float) -> Reply:
        left = deadline - self._clock.now()
        if left <= 0:
            raise _timeout(request, NOT_SENT)
        done, reply = await self.within(deadline, call_next, request)
        if not done or reply is None:
            raise _timeout(request, f"no answer before the request's deadline ({left:.3g}s)")
        if isinstance(reply, EventStream):
            return EventStream(_DeadlineStream(self, request, reply, deadline))
        return reply

    async def within(
        self,
        deadline: float,
        fn: Callable[[A], Awaitable[T]],
        arg: A,
        window: DeadlineWindow | None = None,
    ) -> tuple[bool, T | None]:
        """Run ``fn(arg)`` until ``deadline`` (or ``window``'s, which may move meanwhile):
        (True, result), or (False, None) if the deadline came first and the work was
        cancelled."""
        if self._native:
            with anyio.CancelScope(deadline=deadline) as scope:
                if window is not None:
                    window.scope = scope
                return True, await fn(arg)
            return False, None  # only reached when the scope cancelled the call
        return await _watched(self._clock, deadline, fn, arg, window)


async def _watched(
    clock: Clock,
    deadline: float,
    fn: Callable[[A], Awaitable[T]],
    arg: A,
    window: DeadlineWindow | None = None,
) -> tuple[bool, T | None]:
    """``within`` for an injected clock that cancel scopes do not follow: a watchdog task
    sleeps on that clock and cancels the work when the deadline comes (sleeping again if
    the window moved it meanwhile)."""
    results: list[T] = []
    errors: list[Exception] = []
    async with anyio.create_task_group() as group:

        async def watchdog() -> None:
            end = deadline
            while True:
                await clock.sleep(max(end - clock.now(), 0.0))
                if window is None or window.deadline <= clock.now():
                    break
                # moved (or stopped while queued: look again after a total's time)
                end = min(window.deadline, clock.now() + window.total)
            group.cancel_scope.cancel()

        group.start_soon(watchdog)
        try:
            results.append(await fn(arg))
        except Exception as exc:  # raised below, outside the task group's exception group
            errors.append(exc)
        group.cancel_scope.cancel()
    if errors:
        raise errors[0]
    if results:
        return True, results[0]
    return False, None


class DefaultDeadlineMiddleware(DeadlineMiddleware):
    """Also gives each request without a deadline one of ``now + total``."""

    __slots__ = ("_total",)

    def __init__(self, clock: Clock, total: float) -> None:
        super().__init__(clock)
        self._total = float(total)

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        deadline = request.metadata.deadline
        if deadline is not None:
            if self._native:
                return await call_next(request)
            return await self._bounded(request, call_next, deadline)
        deadline = self._clock.now() + self._total
        request = request.replace(metadata=request.metadata.replace(deadline=deadline))
        request_id = request.metadata.request_id
        window = DeadlineWindow(request_id, deadline, self._total)
        # (a request of the caller's own making may share its id with another in flight:
        # then only the first one's queue wait is left out)
        shown = bool(request_id) and request_id not in _WINDOWS
        if shown:
            _WINDOWS[request_id] = window
        if self._native:  # the dispatcher keeps it, and a stream's reads too
            try:
                return await call_next(request)
            finally:
                if shown:
                    del _WINDOWS[request_id]
        try:
            done, reply = await self.within(deadline, call_next, request, window)
        finally:
            if shown:
                del _WINDOWS[request_id]
        if not done or reply is None:
            raise _timeout(
                request, f"no answer within the client's total_timeout ({self._total:g}s)"
            )
        if isinstance(reply, EventStream):
            return EventStream(_DeadlineStream(self, request, reply, window.deadline))
        return reply


class _DeadlineStream:
    """Reads a stream under the request's deadline, one event at a time (a cancel scope
    cannot stay open while the caller holds the stream between events)."""

    __slots__ = ("_deadline", "_inner", "_request", "_stage", "_texts")

    def __init__(
        self, stage: DeadlineMiddleware, request: Request, inner: EventStream, deadline: float
    ) -> None:
        self._stage = stage
        self._request = request
        self._inner = inner
        self._deadline = deadline
        self._texts: list[str] = []

    async def next_event(self) -> StreamEvent:
        done, event = await self._stage.within(self._deadline, _next_of, self._inner)
        if done and event is not None:
            if type(event) is TextDelta:
                self._texts.append(event.text)
            return event
        await self._inner.aclose()
        if not self._inner.delivered:
            raise _timeout(self._request, NO_FIRST_EVENT)
        raise StreamError(
            MID_STREAM,
            partial_text="".join(self._texts),
            provider=self._request.provider,
            model=self._request.model_name,
            error_type=DEADLINE_EXCEEDED,
            retryable=False,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _next_of(stream: EventStream) -> StreamEvent:
    return await stream.__anext__()


def _timeout(request: Request, message: str) -> RequestTimeoutError:
    return RequestTimeoutError(
        message,
        provider=request.provider,
        model=request.model_name,
        error_type=DEADLINE_EXCEEDED,
        retryable=False,
    )


def build(context: ChainContext) -> DeadlineMiddleware | None:
    """The deadline stage (None when ``settings["deadline"] is False``)."""
    policy = DeadlinePolicy.from_setting(context.settings.get("deadline"))
    if policy is None:
        return None
    if policy.total is None:
        return DeadlineMiddleware(context.clock)
    return DefaultDeadlineMiddleware(context.clock, policy.total)


__all__ = [
    "DEADLINE_EXCEEDED",
    "DEFAULT_TOTAL_TIMEOUT",
    "MID_STREAM",
    "NOT_SENT",
    "NO_FIRST_EVENT",
    "QUEUED_PAST",
    "DeadlineMiddleware",
    "DeadlinePolicy",
    "DeadlineWindow",
    "DefaultDeadlineMiddleware",
    "admitted",
    "build",
    "current_deadline",
    "deadline_error",
    "kept_below",
    "queued",
]
