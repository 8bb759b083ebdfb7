"""Events for observers, and the list of observers a client calls for each.

Observers are told from the client and its Dispatcher, not from a middleware stage, so
that no ``disable=`` silences them: the client tells ``request_finished`` once per logical
request (a plain call when it returns or raises, a stream when it ends, fails or is closed
early), the Dispatcher tells ``attempt_failed`` for every attempt that failed, retried or
not.

Observer implementations are taken from the plugin manager when the client is built (and
again when a plugin is registered) and called here in a plain loop, so an unobserved client
pays one empty-tuple check per request and an observed one pays a function call, not a
pluggy dispatch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sluicegate.errors import SluicegateError
from sluicegate.types import Request, Response


@dataclass(frozen=True, slots=True)
class RequestFinished:
    """A logical request ended: with its ``response``, with its ``error``, or, for a stream
    the caller closed before its end without an error, with neither (:attr:`closed_early`).

    ``latency`` is the seconds from the call to its end (for a stream: to its end, failure
    or close)."""

    request: Request
    response: Response | None
    error: BaseException | None
    latency: float

    @property
    def closed_early(self) -> bool:
        """A stream the caller stopped reading before its end: no answer, no error."""
        return self.response is None and self.error is None


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """One attempt of a request failed (it may still be retried)."""

    request: Request
    error: SluicegateError
    attempt: int


class Observers:
    """The observer callables of one client.

    One object per client, shared by the client, its Dispatcher and the stages' context;
    :meth:`update` replaces the callables in place, so every holder sees a plugin that is
    registered later."""

    __slots__ = ("attempt_failed", "request_finished")

    def __init__(
        self,
        request_finished: Sequence[Callable[..., object]] = (),
        attempt_failed: Sequence[Callable[..., object]] = (),
    ) -> None:
        self.request_finished: tuple[Callable[..., object], ...] = ()
        self.attempt_failed: tuple[Callable[..., object], ...] = ()
        self.update(request_finished, attempt_failed)

    def update(
        self,
        request_finished: Sequence[Callable[..., object]],
        attempt_failed: Sequence[Callable[..., object]],
    ) -> None:
        self.request_finished = tuple(request_finished)
        self.attempt_failed = tuple(attempt_failed)

    def emit_request_finished(self, event: RequestFinished) -> None:
        for observer in self.request_finished:
            _call(observer, event)

    def emit_attempt_failed(self, event: AttemptFailed) -> None:
        for observer in self.attempt_failed:
            _call(observer, event)


class StreamEnd:
    """Tells the observers once how one streamed request ended.

    A stream ends in one of three ways, and which one is known in three places: the Done
    event passing (:meth:`done`, also where the Response gets its latency), the stream
    failing (:meth:`failed`), or the caller's ``async with`` block exiting before either
    (:meth:`closed`, with the exception that left the block, if any). Whichever comes first
    is told; the later ones are not, so an observer sees exactly one event per stream.
    """

    __slots__ = ("_observers", "_request", "_started", "_told")

    def __init__(self, observers: Observers, request: Request, started: float) -> None:
        self._observers = observers
        self._request = request
        self._started = started
        self._told = False

    def done(self, response: Response) -> Response:
        response = response.replace(latency=time.perf_counter() - self._started)
        self._tell(response, None)
        return response

    def failed(self, error: BaseException) -> None:
        self._tell(None, error)

    def ended(self, response: Response | None, error: BaseException | None) -> Response | None:
        """The stream's ``on_close`` (:data:`~sluicegate.streaming.CloseHook`): Done, an
        error, or closed before either."""
        if response is not None:
            return self.done(response)
        self._tell(None, error)
        return None

    def closed(self, error: BaseException | None = None) -> None:
        self._tell(None, error)

    def _tell(self, response: Response | None, error: BaseException | None) -> None:
        if self._told:
            return
        self._told = True
        latency = response.latency if response is not None else time.perf_counter() - self._started
        self._observers.emit_request_finished(
            RequestFinished(self._request, response, error, latency)
        )


def _call(observer: Callable[..., object], event: object) -> None:
    """An observer that raises is logged and skipped: watching must not break a request."""
    try:
        observer(event=event)
    except Exception as exc:
        from sluicegate.logs import get_logger

        get_logger().warning(
            "observer.failed", observer=getattr(observer, "__qualname__", "?"), error=repr(exc)
        )
