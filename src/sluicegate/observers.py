"""Events for observers, and the list of observers a client calls for each.

Observer implementations are taken from the plugin manager once, when the client is
built, and called here in a plain loop, so an unobserved client pays one empty-tuple check
per request and an observed one pays a function call, not a pluggy dispatch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sluicegate.errors import SluicegateError
from sluicegate.types import Request, Response


@dataclass(frozen=True, slots=True)
class RequestFinished:
    """A logical request ended: exactly one of ``response`` and ``error`` is set."""

    request: Request
    response: Response | None
    error: BaseException | None
    latency: float


@dataclass(frozen=True, slots=True)
class AttemptFailed:
    """One attempt of a request failed (it may still be retried)."""

    request: Request
    error: SluicegateError
    attempt: int


class Observers:
    """The observer callables of one client."""

    __slots__ = ("attempt_failed", "request_finished")

    def __init__(
        self,
        request_finished: Sequence[Callable[..., object]] = (),
        attempt_failed: Sequence[Callable[..., object]] = (),
    ) -> None:
        self.request_finished = tuple(request_finished)
        self.attempt_failed = tuple(attempt_failed)

    def emit_request_finished(self, event: RequestFinished) -> None:
        for observer in self.request_finished:
            _call(observer, event)

    def emit_attempt_failed(self, event: AttemptFailed) -> None:
        for observer in self.attempt_failed:
            _call(observer, event)


def _call(observer: Callable[..., object], event: object) -> None:
    """An observer that raises is logged and skipped: watching must not break a request."""
    try:
        observer(event=event)
    except Exception as exc:
        from sluicegate.logs import get_logger

        get_logger().warning(
            "observer.failed", observer=getattr(observer, "__qualname__", "?"), error=repr(exc)
        )
