"""``client.map``: many requests through one client, at most N at once, results as they come.

Why a context manager and not a plain async generator
    The requests run in a task group, and an anyio task group (a trio nursery) must be
    entered and left by the same task, around code that does not suspend elsewhere. An
    async generator that yields from inside a task group breaks that: the caller's body
    runs *inside* the generator's cancel scope (a cancellation meant for the workers lands
    in the caller's code), and a caller who breaks out of the loop leaves the generator
    suspended, to be finalised later by the garbage collector or the event loop in another
    task, where leaving the task group is an error (see PEP 789). So :class:`BulkMap` is
    entered with ``async with``, which owns the task group; iterating it yields the results:

    .. code-block:: python

        async with client.map(requests, concurrency=32) as results:
            async for result in results:
                ...

    Leaving the block, by the end of the results, a ``break`` or an exception, cancels
    whatever is still in flight, on asyncio and trio alike. (aiometer's ``amap`` has the
    same shape for the same reason.)

Bounded memory
    Workers are started as requests arrive, not one per unit of ``concurrency`` up front
    (a ``concurrency`` of a million over five requests starts five): the map starts one
    task, the *reader*; a task that takes a request from the input while fewer than
    ``concurrency`` tasks run starts a new worker with it and reads on, and once
    ``concurrency`` run, a task handles what it took itself. Every task pulls from the
    input only when it is free, so the input is read lazily. A finished worker hands its
    result over directly (a stream with no buffer) and only then pulls the next request:
    at most ``concurrency`` requests are taken from the input and not yet yielded,
    whatever the input's size, and nothing is kept once a result has been yielded. A
    request is sent as soon as the input gives it, so a streamed input (a pipe) is
    answered while it is still being written.

    Held requests (below) add at most another ``concurrency``: when that park is full,
    a worker waits with its request instead of taking another.

Holding instead of failing
    A request whose attempts all failed for a transient cause (an open circuit, a 429,
    a 5xx, a timeout: :func:`~sluicegate.bulk.availability.is_transient`) is not a final
    result: the map holds it and tries again later, when its model's pause ends (an open
    circuit's probes, a server's requested wait) or after a backoff of its own
    (:mod:`sluicegate.bulk.held`). While a model is paused, its requests taken from the
    input are held too, and other models' requests keep flowing. A request that keeps
    failing while its model answers others (a poison line), and every request of a model
    that stays unavailable longer than ``patience`` (or asks for a wait beyond it), is
    yielded with ``pending=True``: not answered, may succeed later; a given-up model's with
    :class:`~sluicegate.bulk.availability.ModelUnavailableError`. The bookkeeping per model
    is :class:`~sluicegate.bulk.availability.ModelAvailability`, on the client's clock.

Errors
    A failed request is a result (``result.error``), never an exception of the loop. A
    failure of the input itself (the iterator raised, or gave something that is not a
    :class:`~sluicegate.types.Request`) stops the intake: requests already in flight
    finish and are yielded, then the loop raises that failure as itself.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from sluicegate.bulk.availability import ModelAvailability, ModelUnavailableError, is_transient
from sluicegate.bulk.held import HeldLine, Park, line_backoff
from sluicegate.clock import AnyioClock
from sluicegate.errors import ConfigError
from sluicegate.types import Request, Response

__all__ = ["BulkMap", "MapResult", "RequestSource"]

RequestSource = Iterable[Request] | AsyncIterable[Request]
"""What :meth:`Client.map` takes: any iterable or async iterable of Requests."""


@dataclass(frozen=True, slots=True)
class MapResult:
    """One request's outcome: the Response or the error, never both.

    ``request`` is the request as it was given (its ``metadata.caller_id`` says whose it
    is); ``latency`` is the last call's in seconds, retries and waits included.
    ``pending`` marks a transient error: the request is not answered, and may succeed if
    sent again later (its model was given up for this map, or it kept failing while its
    model answered others).
    """

    request: Request
    response: Response | None
    error: Exception | None
    latency: float
    pending: bool = False

    @property
    def caller_id(self) -> str | None:
        """The id the caller gave the request (``client.request(..., caller_id=...)``)."""
        return self.request.metadata.caller_id

    @property
    def ok(self) -> bool:
        return self.response is not None


_Work = Request | HeldLine | MapResult


class BulkMap:
    """The running map: ``async with`` it, then iterate it for :class:`MapResult` s.

    ``stop()`` takes no new requests (those in flight finish and are yielded; held ones
    are yielded at once, pending); ``cancel()`` also cancels those in flight. Both may be
    called from any task. ``availability`` is the per-model bookkeeping (pauses,
    patience), shared when given (``sluicegate run`` shares one across its passes).
    """

    __slots__ = (
        "_async_source",
        "_availability",
        "_busy",
        "_concurrency",
        "_entered",
        "_exhausted",
        "_failure",
        "_group",
        "_intake",
        "_lock",
        "_park",
        "_receive",
        "_send",
        "_sleepers",
        "_source",
        "_stopping",
        "_sync_source",
        "_workers",
    )

    def __init__(
        self,
        send: Callable[[Request], Awaitable[Response]],
        requests: RequestSource,
        concurrency: int,
        *,
        availability: ModelAvailability | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"map concurrency must be an integer >= 1, got {concurrency!r}")
        if not isinstance(requests, Iterable | AsyncIterable):
            raise ConfigError(
                "map takes an iterable or async iterable of Requests, "
                f"got {type(requests).__name__}"
            )
        if availability is not None and not isinstance(availability, ModelAvailability):
            raise ConfigError(
                f"map availability must be a ModelAvailability, got {type(availability).__name__}"
            )
        self._send = send
        self._source = requests
        self._concurrency = concurrency
        self._availability = availability or ModelAvailability(AnyioClock())
        self._sync_source: Iterator[Request] | None = None
        self._async_source: AsyncIterator[Request] | None = None
        self._lock = anyio.Lock()
        self._exhausted = False
        self._stopping = False
        self._failure: BaseException | None = None
        self._group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[MapResult] | None = None
        self._entered = False
        self._park = Park(concurrency)
        self._busy = 0
        """Requests a worker has taken (from the input or the park) and not yet yielded
        or parked: the map ends when the input is exhausted, this is 0 and the park is
        empty."""
        self._sleepers: set[anyio.CancelScope] = set()
        """Workers waiting for a held request's time (or for the end): woken by
        cancelling their scope when the park changes."""
        self._workers = 0
        """Tasks started so far, the reader included: at most ``concurrency``."""
        self._intake: anyio.CancelScope | None = None
        """The wait for an async input's next request: :meth:`stop` cancels it, so a
        streamed input that stays silent does not keep the map open."""

    @property
    def availability(self) -> ModelAvailability:
        """The per-model pauses and patience this map obeys."""
        return self._availability

    @property
    def workers_started(self) -> int:
        """Workers started with a request taken from the input: never more than the
        requests taken. With the reader (the task that takes them, and sends one itself
        once the others are busy), never more than the concurrency."""
        return max(self._workers - 1, 0)

    @property
    def held(self) -> int:
        """Requests held in the park for a later try."""
        return len(self._park)

    # -- the block ------------------------------------------------------------------------

    async def __aenter__(self) -> BulkMap:
        if self._entered:
            raise ConfigError("a map runs once: call client.map(...) again for another run")
        self._entered = True
        if isinstance(self._source, AsyncIterable):
            self._async_source = aiter(self._source)
        else:
            self._sync_source = iter(self._source)
        send, receive = anyio.create_memory_object_stream[MapResult](0)
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group, self._receive = group, receive
        with send:  # each worker holds a clone; the stream ends when the last one leaves
            self._workers = 1
            group.start_soon(self._worker, send.clone(), None)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        group, receive = self._group, self._receive
        assert group is not None and receive is not None
        self._exhausted = True
        group.cancel_scope.cancel()  # whatever is still in flight is abandoned
        receive.close()
        try:
            return bool(await group.__aexit__(exc_type, exc, tb))
        except BaseExceptionGroup as raised:
            # The workers raise nothing of their own, so a group holding only the body's
            # exception is that exception: let it propagate as itself, not wrapped.
            if exc is not None and _only(raised, exc):
                return False
            raise
        finally:
            source = self._async_source
            self._async_source = self._sync_source = None
            aclose = getattr(source, "aclose", None)
            if aclose is not None:  # an async generator must be closed by its owner
                with anyio.CancelScope(shield=True):
                    await aclose()

    # -- control --------------------------------------------------------------------------

    def stop(self) -> None:
        """Take no new requests; those in flight finish and are yielded, held ones are
        yielded at once as pending, then the loop ends. (What the first Ctrl-C of
        ``sluicegate run`` does.)"""
        self._exhausted = True
        self._stopping = True
        if self._intake is not None:
            self._intake.cancel()
        self._wake()

    def cancel(self) -> None:
        """Cancel the requests in flight too; the loop ends at once, with no further
        results. (The second Ctrl-C.)"""
        self._exhausted = True
        self._stopping = True
        if self._group is not None:
            self._group.cancel_scope.cancel()

    # -- the results ----------------------------------------------------------------------

    def __aiter__(self) -> BulkMap:
        return self

    async def __anext__(self) -> MapResult:
        receive = self._receive
        if receive is None:
            raise ConfigError(
                "client.map(...) is used as 'async with client.map(...) as results: "
                "async for result in results: ...'"
            )
        try:
            return await receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            failure, self._failure = self._failure, None
            if failure is not None:
                raise failure from None
            raise StopAsyncIteration from None

    # -- the workers ----------------------------------------------------------------------

    async def _worker(
        self, results: MemoryObjectSendStream[MapResult], first: Request | None
    ) -> None:
        """Handle ``first`` (already counted busy), then whatever comes next; the task
        started with none is the reader (see the module docstring)."""
        with results:
            work: _Work | None = None if first is None else await self._admit(first)
            while work is not None or (work := await self._next_work(results)) is not None:
                while not isinstance(work, MapResult):
                    work = await self._attempt(work)
                    if work is None:  # held in the park for a later try
                        break
                if work is None:
                    continue
                try:
                    await results.send(work)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the caller left the block
                finally:
                    self._busy -= 1
                work = None
                if self._busy == 0 and self._sleepers:
                    self._wake()  # perhaps the end: let the waiting workers see it

    async def _attempt(self, work: Request | HeldLine) -> MapResult | HeldLine | None:
        """Send one request: its result, or (a transient failure) None once it is held in
        the park, or the held line itself when the park was full and its time came."""
        held = work if isinstance(work, HeldLine) else None
        request = work.request if isinstance(work, HeldLine) else work
        started = time.perf_counter()
        try:
            response = await self._send(request)
        except Exception as exc:
            latency = time.perf_counter() - started
            if not is_transient(exc):
                return MapResult(request, None, exc, latency)
            return await self._transient(request, held, exc, latency)
        self._availability.succeeded(request.model)
        return MapResult(request, response, None, response.latency)

    async def _transient(
        self, request: Request, held: HeldLine | None, error: Exception, latency: float
    ) -> MapResult | HeldLine | None:
        availability = self._availability
        model = request.model
        given_up = availability.failed(model, error)
        if given_up is not None:
            self._wake()  # its held lines are now results to yield
            return MapResult(request, None, given_up, latency, pending=True)
        if self._stopping:
            return MapResult(request, None, error, latency, pending=True)
        successes = availability.successes(model)
        if held is None:
            held = HeldLine(request, 0.0, mark=successes)
        held.failed(error, latency, successes)
        if held.poisoned:
            return MapResult(request, None, error, latency, pending=True)
        paused = availability.paused_until(model)
        now = availability.clock.now()
        held.ready_at = (
            paused if paused is not None else now + line_backoff(held.failures, availability.rng)
        )
        return await self._hold(held)

    async def _hold(self, held: HeldLine) -> MapResult | HeldLine | None:
        """Park ``held`` (None), or, the park being full, wait with it until it is due:
        then the line (to send again) or its pending result (stopped, or given up)."""
        if not self._park.full:
            self._park.add(held)
            self._busy -= 1
            self._wake()
            return None
        availability = self._availability
        while True:
            if self._stopping:
                return self._pending(held)
            if availability.given_up(held.request.model) is not None:
                return self._pending(held)
            due = held.due(availability)
            if due <= availability.clock.now():
                return held
            await self._sleep_until(due)

    def _pending(self, held: HeldLine) -> MapResult:
        model = held.request.model
        error: Exception | None = self._availability.given_up(model) or held.error
        if error is None:  # held before its first try, then stopped
            error = ModelUnavailableError(
                model, "the map stopped while the model was paused", held.ready_at
            )
        return MapResult(held.request, None, error, held.latency, pending=True)

    async def _next_work(self, results: MemoryObjectSendStream[MapResult]) -> _Work | None:
        """What a free worker does next: a held request that is due (or, given up or
        stopped, its pending result), else the next request from the input; None when
        there is nothing left to do. While fewer than ``concurrency`` tasks run, a request
        taken from the input goes to a new worker (given a clone of ``results``) and this
        one reads on."""
        while True:
            park = self._park
            if park:
                availability = self._availability
                held = park.take(availability.clock.now(), availability, everything=self._stopping)
                if held is not None:
                    self._busy += 1
                    if self._stopping or availability.given_up(held.request.model) is not None:
                        return self._pending(held)
                    return held
            if not self._exhausted:
                request = await self._next_request()
                if request is None:
                    continue
                self._busy += 1
                if self._workers < self._concurrency and self._group is not None:
                    self._workers += 1
                    self._group.start_soon(self._worker, results.clone(), request)
                    await anyio.lowlevel.checkpoint()  # let it send before the next is read
                    continue
                work = await self._admit(request)
                if work is not None:
                    return work
                continue
            if not park and self._busy == 0:
                self._wake()
                return None
            await self._sleep_until(park.next_due(self._availability) if park else None)

    async def _admit(self, request: Request) -> _Work | None:
        """A request just taken from the input: itself, or, its model being paused, None
        once it is held (or the line, when the park was full and the pause has ended),
        or its pending result when its model was given up."""
        availability = self._availability
        model = request.model
        if not availability.blocking(model):
            return request
        given_up = availability.given_up(model)
        if given_up is not None:
            return MapResult(request, None, given_up, 0.0, pending=True)
        until = availability.paused_until(model)
        if until is None:
            return request
        return await self._hold(HeldLine(request, until, mark=availability.successes(model)))

    async def _sleep_until(self, when: float | None) -> None:
        """Wait until ``when`` on the client's clock (forever if None), or until
        :meth:`_wake`."""
        with anyio.CancelScope() as scope:
            self._sleepers.add(scope)
            try:
                if when is None:
                    await anyio.sleep_forever()
                else:
                    clock = self._availability.clock
                    await clock.sleep(when - clock.now())
            finally:
                self._sleepers.discard(scope)

    def _wake(self) -> None:
        sleepers, self._sleepers = self._sleepers, set()
        for scope in sleepers:
            scope.cancel()

    async def _next_request(self) -> Request | None:
        """The next request from the input, or None when there is none to take."""
        if self._exhausted:
            return None
        item: Any
        try:
            if self._sync_source is not None:
                item = next(self._sync_source)  # no await: one worker at a time by nature
            else:
                async with self._lock:  # an async generator refuses two anext() at once
                    if self._exhausted or self._async_source is None:
                        return None
                    with anyio.CancelScope() as intake:
                        self._intake = intake
                        try:
                            item = await anext(self._async_source)
                        finally:
                            self._intake = None
                    if intake.cancelled_caught:  # stop() while the input was silent
                        self._exhausted = True
                        return None
        except (StopIteration, StopAsyncIteration):
            self._exhausted = True
            return None
        except Exception as exc:
            self._fail(exc)
            return None
        if not isinstance(item, Request):
            self._fail(
                ConfigError(
                    f"map takes Requests (build them with client.request(model, messages, "
                    f"...)), got {type(item).__name__}"
                )
            )
            return None
        return item

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None:
            self._failure = exc
        self._exhausted = True


def _only(group: BaseExceptionGroup[BaseException], exc: BaseException) -> bool:
    """Whether every exception in ``group`` (nested groups included) is ``exc``."""
    return all(
        _only(inner, exc) if isinstance(inner, BaseExceptionGroup) else inner is exc
        for inner in group.exceptions
    )
