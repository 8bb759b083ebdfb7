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
    ``concurrency`` workers each pull the next request from the input only when they are
    free, so the input is read lazily. A finished worker hands its result over directly
    (a stream with no buffer) and only then pulls the next request: at most
    ``concurrency`` requests are taken from the input and not yet yielded, whatever the
    input's size, and nothing is kept once a result has been yielded.

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
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from sluicegate.errors import ConfigError
from sluicegate.types import Request, Response

__all__ = ["BulkMap", "MapResult", "RequestSource"]

RequestSource = Iterable[Request] | AsyncIterable[Request]
"""What :meth:`Client.map` takes: any iterable or async iterable of Requests."""


@dataclass(frozen=True, slots=True)
class MapResult:
    """One request's outcome: the Response or the error, never both.

    ``request`` is the request as it was given (its ``metadata.caller_id`` says whose it
    is); ``latency`` is the whole call in seconds, retries and waits included.
    """

    request: Request
    response: Response | None
    error: Exception | None
    latency: float

    @property
    def caller_id(self) -> str | None:
        """The id the caller gave the request (``client.request(..., caller_id=...)``)."""
        return self.request.metadata.caller_id

    @property
    def ok(self) -> bool:
        return self.response is not None


class BulkMap:
    """The running map: ``async with`` it, then iterate it for :class:`MapResult` s.

    ``stop()`` takes no new requests (those in flight finish and are yielded);
    ``cancel()`` also cancels those in flight. Both may be called from any task.
    """

    __slots__ = (
        "_async_source",
        "_concurrency",
        "_entered",
        "_exhausted",
        "_failure",
        "_group",
        "_lock",
        "_receive",
        "_send",
        "_source",
        "_sync_source",
    )

    def __init__(
        self,
        send: Callable[[Request], Awaitable[Response]],
        requests: RequestSource,
        concurrency: int,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"map concurrency must be an integer >= 1, got {concurrency!r}")
        if not isinstance(requests, Iterable | AsyncIterable):
            raise ConfigError(
                "map takes an iterable or async iterable of Requests, "
                f"got {type(requests).__name__}"
            )
        self._send = send
        self._source = requests
        self._concurrency = concurrency
        self._sync_source: Iterator[Request] | None = None
        self._async_source: AsyncIterator[Request] | None = None
        self._lock = anyio.Lock()
        self._exhausted = False
        self._failure: BaseException | None = None
        self._group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[MapResult] | None = None
        self._entered = False

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
            for _ in range(self._concurrency):
                group.start_soon(self._worker, send.clone())
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
        """Take no new requests; those in flight finish and are yielded, then the loop
        ends. (What the first Ctrl-C of ``sluicegate run`` does.)"""
        self._exhausted = True

    def cancel(self) -> None:
        """Cancel the requests in flight too; the loop ends at once, with no further
        results. (The second Ctrl-C.)"""
        self._exhausted = True
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

    async def _worker(self, results: MemoryObjectSendStream[MapResult]) -> None:
        with results:
            while (request := await self._next_request()) is not None:
                started = time.perf_counter()
                try:
                    response = await self._send(request)
                except Exception as exc:
                    result = MapResult(request, None, exc, time.perf_counter() - started)
                else:
                    result = MapResult(request, response, None, response.latency)
                try:
                    await results.send(result)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    return  # the caller left the block
                del request, result

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
                    item = await anext(self._async_source)
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
