"""Logging: one structlog event per logical request and one per attempt.

The request event is emitted outermost (it sees the final outcome after every retry and
fallback), the attempt event innermost (it sees each try on the wire). Both carry the
request id, model, status, latency and tokens as fields. Observer plugins are told about
finished requests and failed attempts from the same two places.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.errors import ProviderError, SluicegateError
from sluicegate.logs import get_logger
from sluicegate.observers import AttemptFailed, Observers, RequestFinished
from sluicegate.streaming import EventStream
from sluicegate.types import Request, Response


def _status(error: BaseException) -> int | str:
    if isinstance(error, ProviderError) and error.status is not None:
        return error.status
    return type(error).__name__


class RequestLogger:
    """Logs each logical request once, when it ends (for streams: when the stream ends)."""

    def __init__(
        self, logger: Any, observers: Observers, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._log = logger
        self._observers = observers
        self._clock = clock

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        started = self._clock()
        try:
            reply = await call_next(request)
        except BaseException as exc:
            self._failed(request, exc, started)
            raise
        if isinstance(reply, EventStream):
            return reply.observe(
                on_done=lambda response: self._finished(request, response, started),
                on_error=lambda exc: self._failed(request, exc, started),
            )
        self._finished(request, reply, started)
        return reply

    def _finished(self, request: Request, response: Response, started: float) -> None:
        latency = self._clock() - started
        usage = response.usage
        self._log.info(
            "request.finished",
            request_id=request.metadata.request_id,
            model=request.model,
            answered_by=response.model,
            status="ok",
            latency_s=round(latency, 6),
            attempts=response.attempts,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
        )
        if self._observers.request_finished:
            self._observers.emit_request_finished(RequestFinished(request, response, None, latency))

    def _failed(self, request: Request, error: BaseException, started: float) -> None:
        latency = self._clock() - started
        if isinstance(error, SluicegateError):
            self._log.warning(
                "request.failed",
                request_id=request.metadata.request_id,
                model=request.model,
                status=_status(error),
                error_type=type(error).__name__,
                error=error.message,
                latency_s=round(latency, 6),
            )
        if self._observers.request_finished:
            self._observers.emit_request_finished(RequestFinished(request, None, error, latency))


class AttemptLogger:
    """Logs each attempt as it goes on the wire (debug on success, info on failure)."""

    def __init__(
        self, logger: Any, observers: Observers, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._log = logger
        self._observers = observers
        self._clock = clock

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        started = self._clock()
        try:
            reply = await call_next(request)
        except SluicegateError as exc:
            self._log.info(
                "attempt.failed",
                request_id=request.metadata.request_id,
                model=request.model,
                status=_status(exc),
                retryable=exc.retryable,
                latency_s=round(self._clock() - started, 6),
            )
            if self._observers.attempt_failed:
                self._observers.emit_attempt_failed(AttemptFailed(request, exc, 1))
            raise
        if not isinstance(reply, EventStream):
            self._log.debug(
                "attempt.finished",
                request_id=request.metadata.request_id,
                model=request.model,
                status="ok",
                latency_s=round(self._clock() - started, 6),
                output_tokens=reply.usage.output_tokens,
            )
        return reply


def build_request_logger(context: ChainContext) -> RequestLogger:
    return RequestLogger(context.settings.get("logger") or get_logger(), context.observers)


def build_attempt_logger(context: ChainContext) -> AttemptLogger:
    return AttemptLogger(context.settings.get("logger") or get_logger(), context.observers)
