"""Logging: one structlog event per logical request and one per attempt.

The request event is emitted outermost (it sees the final outcome after every retry and
fallback), the attempt event innermost (it sees each try on the wire). Both carry the
request id, model, status, latency and tokens as fields. These stages only log: observer
plugins are told by the client and its Dispatcher (see :mod:`sluicegate.observers`), so
``disable=["logging"]`` turns off log lines, never observers.

Which levels are enabled is decided once, when the client is built: an event that would
be filtered out is not even assembled, and the attempt stage leaves the chain entirely
when its events would be filtered out.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.errors import ProviderError, SluicegateError
from sluicegate.logs import get_logger, is_enabled
from sluicegate.streaming import EventStream
from sluicegate.types import Request, Response


def _status(error: BaseException) -> int | str:
    if isinstance(error, ProviderError) and error.status is not None:
        return error.status
    return type(error).__name__


class RequestLogger:
    """Logs each logical request once, when it ends (for streams: when the stream ends)."""

    def __init__(self, logger: Any, clock: Callable[[], float] = time.perf_counter) -> None:
        self._log = logger
        self._clock = clock
        self._info = is_enabled(logger, logging.INFO)
        self._warning = is_enabled(logger, logging.WARNING)

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        started = self._clock()
        try:
            reply = await call_next(request)
        except BaseException as exc:
            if self._warning:
                self._failed(request, exc, started)
            raise
        if isinstance(reply, EventStream):
            if not (self._info or self._warning):
                return reply
            return reply.observe(
                on_done=lambda response: self._finished(request, response, started),
                on_error=lambda exc: self._failed(request, exc, started),
            )
        if self._info:
            self._finished(request, reply, started)
        return reply

    def _finished(self, request: Request, response: Response, started: float) -> None:
        if not self._info:
            return
        usage = response.usage
        self._log.info(
            "request.finished",
            request_id=request.metadata.request_id,
            model=request.model,
            answered_by=response.model,
            status="ok",
            latency_s=round(self._clock() - started, 6),
            attempts=response.attempts,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            cost_usd=response.cost,
        )

    def _failed(self, request: Request, error: BaseException, started: float) -> None:
        if self._warning and isinstance(error, SluicegateError):
            self._log.warning(
                "request.failed",
                request_id=request.metadata.request_id,
                model=request.model,
                status=_status(error),
                error_type=type(error).__name__,
                error=error.message,
                latency_s=round(self._clock() - started, 6),
            )


class AttemptLogger:
    """Logs each attempt as it goes on the wire (debug on success, info on failure)."""

    def __init__(self, logger: Any, clock: Callable[[], float] = time.perf_counter) -> None:
        self._log = logger
        self._clock = clock
        self._debug = is_enabled(logger, logging.DEBUG)
        self._info = is_enabled(logger, logging.INFO)

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        started = self._clock()
        try:
            reply = await call_next(request)
        except SluicegateError as exc:
            if self._info:
                self._log.info(
                    "attempt.failed",
                    request_id=request.metadata.request_id,
                    model=request.model,
                    status=_status(exc),
                    retryable=exc.retryable,
                    latency_s=round(self._clock() - started, 6),
                )
            raise
        if self._debug and not isinstance(reply, EventStream):
            self._log.debug(
                "attempt.finished",
                request_id=request.metadata.request_id,
                model=request.model,
                status="ok",
                latency_s=round(self._clock() - started, 6),
                output_tokens=reply.usage.output_tokens,
            )
        return reply

    @property
    def has_work(self) -> bool:
        return self._info  # (debug enabled implies info enabled)


def build_request_logger(context: ChainContext) -> RequestLogger:
    return RequestLogger(context.settings.get("logger") or get_logger())


def build_attempt_logger(context: ChainContext) -> AttemptLogger | None:
    """The attempt stage, or None when nothing it logs would pass the level."""
    stage = AttemptLogger(context.settings.get("logger") or get_logger())
    return stage if stage.has_work else None
