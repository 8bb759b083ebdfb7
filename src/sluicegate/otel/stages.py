"""The three middleware stages behind the spans: one span per logical request, one child
span per attempt, and a marker that times each attempt's wait for the rate limiter.

Why stages and not only the observer hooks: the observers are told when a request has
finished and when an attempt has failed, never when an attempt starts or succeeds, so an
attempt span with its true start time, a successful attempt, the retry wait before an
attempt and the rate-limit wait cannot be had from them. The stages are:

- ``otel_request`` (outermost, before ``logging``): opens the request span, ends it when a
  plain call returns or raises, or when a stream ends, fails or is closed early
  (:meth:`~sluicegate.streaming.EventStream.observe`); records the metrics.
- ``otel_admission`` (inside ``breaker``, before ``rate_limit``): notes when the attempt
  reached the rate limiter, which ends the retry wait and starts the rate-limit wait.
- ``otel_attempt`` (inside ``rate_limit``, before ``attempt_logging``): one span per attempt
  on the wire, a child of the request span.

The request's state (its span's context, when its last attempt ended, when the current
one reached the limiter) rides in a context variable, set by the request stage around the
chain call and around each read of a stream, because a streamed request that fails before
its first delta is retried while the caller reads it, outside the first call.
"""

from __future__ import annotations

from contextvars import ContextVar
from functools import partial
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from sluicegate.breaker.errors import CircuitOpenError
from sluicegate.chain import CallNext, Reply
from sluicegate.otel import content
from sluicegate.otel import semconv as sc
from sluicegate.otel.telemetry import (
    Attributes,
    Telemetry,
    response_attributes,
    response_model,
    span_name,
)
from sluicegate.streaming import EventStream
from sluicegate.types import Request, Response, StreamEvent


class _RequestState:
    """One logical request, as its attempts' spans need it."""

    __slots__ = ("admitted", "last_end", "parent")

    def __init__(self, parent: otel_context.Context) -> None:
        self.parent = parent
        self.last_end: float | None = None  # when the previous attempt ended (client clock)
        self.admitted: float | None = None  # when the current attempt reached the limiter


_CURRENT: ContextVar[_RequestState | None] = ContextVar("sluicegate_otel_request", default=None)


class _InRequest:
    """A stream source that reads its stream with the request's state current, so that an
    attempt the retry stage opens while the caller reads is a child of the request span."""

    __slots__ = ("_inner", "_state")

    def __init__(self, inner: EventStream, state: _RequestState) -> None:
        self._inner = inner
        self._state = state

    async def next_event(self) -> StreamEvent:
        token = _CURRENT.set(self._state)
        try:
            return await self._inner.__anext__()
        finally:
            _CURRENT.reset(token)

    async def aclose(self) -> None:
        await self._inner.aclose()


def _failed(span: Span, error: BaseException, attributes: Attributes) -> None:
    """Mark ``span`` failed: ``error.type`` and status ERROR. The description is the error
    type, never the message (a provider's message may quote the prompt)."""
    kind = sc.error_type(error)
    attributes[sc.ERROR_TYPE] = kind
    if isinstance(error, CircuitOpenError):
        attributes[sc.CIRCUIT_STATE] = "open"
    if span.is_recording():
        span.set_attributes(attributes)
        span.set_status(Status(StatusCode.ERROR, kind))


class RequestSpans:
    """The ``otel_request`` stage: a span and the metrics per logical request."""

    __slots__ = ("_t",)

    def __init__(self, telemetry: Telemetry) -> None:
        self._t = telemetry

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        t = self._t
        attributes = t.request_attributes(request)
        span = t.tracer.start_span(span_name(request), kind=SpanKind.CLIENT, attributes=attributes)
        if t.capture_content and span.is_recording():
            span.set_attribute(sc.INPUT_MESSAGES, content.input_messages(request.messages))
        state = _RequestState(trace.set_span_in_context(span))
        started = t.clock.now()
        token = _CURRENT.set(state)
        try:
            reply = await call_next(request)
        except BaseException as exc:
            self._end(span, attributes, started, None, exc)
            raise
        finally:
            _CURRENT.reset(token)
        if isinstance(reply, EventStream):
            ending = partial(self._end, span, attributes, started)
            return EventStream(_InRequest(reply, state)).observe(on_close=ending)
        self._end(span, attributes, started, reply, None)
        return reply

    def _end(
        self,
        span: Span,
        attributes: Attributes,
        started: float,
        response: Response | None,
        error: BaseException | None,
    ) -> None:
        t = self._t
        metric_attributes: dict[str, Any] = {
            key: attributes[key]
            for key in (
                sc.OPERATION_NAME,
                sc.PROVIDER_NAME,
                sc.REQUEST_MODEL,
                sc.SERVER_ADDRESS,
                sc.SERVER_PORT,
            )
            if key in attributes
        }
        ended: Attributes = {}
        if response is not None:
            ended = response_attributes(response)
            ended[sc.ATTEMPTS] = response.attempts
            if response.cost is not None:
                ended[sc.COST] = response.cost
            if t.capture_content:
                ended[sc.OUTPUT_MESSAGES] = content.output_messages(response)
            metric_attributes[sc.RESPONSE_MODEL] = ended[sc.RESPONSE_MODEL]
            if span.is_recording():
                span.set_attributes(ended)
        elif error is not None:
            _failed(span, error, ended)
            metric_attributes[sc.ERROR_TYPE] = ended[sc.ERROR_TYPE]
        else:  # a stream the caller closed before its end
            span.set_attribute(sc.CLOSED_EARLY, True)
        span.end()
        t.duration.record(max(t.clock.now() - started, 0.0), metric_attributes)
        if response is not None:
            usage = response.usage
            if usage.input_tokens or usage.output_tokens:
                t.tokens.record(usage.input_tokens, {**metric_attributes, sc.TOKEN_TYPE: "input"})
                t.tokens.record(usage.output_tokens, {**metric_attributes, sc.TOKEN_TYPE: "output"})
            if response.cost is not None:
                t.cost.add(
                    response.cost,
                    {
                        sc.PROVIDER_NAME: metric_attributes[sc.PROVIDER_NAME],
                        sc.REQUEST_MODEL: metric_attributes[sc.REQUEST_MODEL],
                        sc.RESPONSE_MODEL: response_model(response),
                    },
                )


class Admission:
    """The ``otel_admission`` stage: notes when an attempt reached the rate limiter."""

    __slots__ = ("_clock",)

    def __init__(self, telemetry: Telemetry) -> None:
        self._clock = telemetry.clock

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        state = _CURRENT.get()
        if state is not None:
            state.admitted = self._clock.now()
        return await call_next(request)


class AttemptSpans:
    """The ``otel_attempt`` stage: a child span per attempt on the wire."""

    __slots__ = ("_t",)

    def __init__(self, telemetry: Telemetry) -> None:
        self._t = telemetry

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        t = self._t
        state = _CURRENT.get()
        now = t.clock.now()
        attributes = t.request_attributes(request)
        attempt = request.metadata.attempt
        attributes[sc.ATTEMPT] = attempt
        attributes[sc.IDEMPOTENCY_KEY_PRESENT] = bool(request.metadata.idempotency_key)
        circuit = t.circuits.state(request.model)  # as the breaker admitted this attempt
        if circuit is not None:
            attributes[sc.CIRCUIT_STATE] = circuit
        parent = None
        if state is not None:
            parent = state.parent
            admitted, state.admitted = state.admitted, None
            if admitted is not None:
                attributes[sc.RATE_LIMIT_WAIT] = max(now - admitted, 0.0)
                if attempt > 1 and state.last_end is not None:
                    attributes[sc.RETRY_WAIT] = max(admitted - state.last_end, 0.0)
        span = t.tracer.start_span(
            span_name(request), context=parent, kind=SpanKind.CLIENT, attributes=attributes
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            reply = await call_next(request)
        except BaseException as exc:
            self._end(span, state, None, exc)
            raise
        finally:
            otel_context.detach(token)
        if isinstance(reply, EventStream):
            return reply.observe(on_close=partial(self._end, span, state))
        self._end(span, state, reply, None)
        return reply

    def _end(
        self,
        span: Span,
        state: _RequestState | None,
        response: Response | None,
        error: BaseException | None,
    ) -> None:
        if state is not None:
            state.last_end = self._t.clock.now()
        if response is not None:
            if span.is_recording():
                span.set_attributes(response_attributes(response))
        elif error is not None:
            _failed(span, error, {})
        else:
            span.set_attribute(sc.CLOSED_EARLY, True)
        span.end()
