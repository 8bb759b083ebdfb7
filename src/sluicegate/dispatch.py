"""The terminal stage: encode with the provider's codec, send on its transport, decode.

Everything below the chain's last middleware happens here, once per attempt. Transport
failures, timeouts and error answers leave as typed errors that name the provider, model
and status, with the retryable flag set, so the stages above never look at HTTP. Every
failed attempt, a stream that breaks included, is told to the ``attempt_failed`` observers
here, below every stage, so no ``disable=`` silences them.

The headers every provider sends alike are added here, after the codec's ``encode``: the
key (as the provider's :class:`~sluicegate.providers.base.CredentialHeader` says),
``Idempotency-Key`` and the caller's ``metadata.headers``. A codec writes only its own
protocol's headers, so one that forgets auth or idempotency cannot exist.

A request's deadline is kept here too, for each attempt: the time left goes to the
transport as ``timeouts.total`` (aiohttp's own total timer; a cancel scope for a transport
without one, see :mod:`sluicegate.transports.total`), and a timer that fires once the
deadline has passed leaves as the deadline's error (``error_type="deadline_exceeded"``,
not retryable), not as a retryable timeout. So a request under the client's default
``total_timeout`` pays for one loop timer per attempt rather than a cancel scope around
the whole chain (:mod:`sluicegate.middleware.deadline` has the rest of the design).
"""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate.chain import Reply
from sluicegate.clock import Clock
from sluicegate.errors import (
    ConfigError,
    ProviderError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
    detach_foreign,
)
from sluicegate.middleware.deadline import (
    NOT_SENT,
    current_deadline,
    deadline_error,
)
from sluicegate.observers import AttemptFailed, Observers
from sluicegate.provider_stream import ProviderStreamSource, WireStreamSource, past_deadline
from sluicegate.providers.base import BoundProvider
from sluicegate.providers.http_errors import rate_limit_headers
from sluicegate.sse import MAX_EVENT_BYTES
from sluicegate.streaming import EventStream
from sluicegate.transports.base import (
    TOO_LARGE,
    HttpRequest,
    HttpResponse,
    RequestTimeouts,
    TransportFailure,
)
from sluicegate.types import Request


class Dispatcher:
    """Sends one attempt of a request to its provider.

    Timeouts are the transports' own timers, configured once (``TransportOptions``), so an
    attempt costs no cancel scope here; ``timeout`` is kept only to word the error. A
    request's own ``timeout``/``connect_timeout`` (metadata) ride to the transport on the
    HttpRequest, set by :func:`for_attempt` with the headers every attempt carries.

    ``max_event_bytes`` bounds each SSE line and event of a stream (see
    :class:`~sluicegate.sse.SSEDecoder`); the bound on a plain body is the transports'.
    ``observers`` are the client's: their ``attempt_failed`` is told of each failed
    attempt (on the error path only: a successful attempt does not look at them).

    ``deadline_clock`` is the clock ``metadata.deadline`` is read on, when the transports'
    timers run on it too (the event loop's: :class:`~sluicegate.clock.AnyioClock`): each
    attempt of a request with a deadline then gets the time left as its transport's
    ``timeouts.total``. None (the deadline stage is off, or the client's clock is a
    virtual one, whose deadlines that stage keeps with a watchdog): no totals."""

    def __init__(
        self,
        providers: Mapping[str, BoundProvider],
        timeout: float | None,
        *,
        max_event_bytes: int | None = MAX_EVENT_BYTES,
        observers: Observers | None = None,
        deadline_clock: Clock | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._timeout = timeout
        self._max_event_bytes = max_event_bytes
        self._observers = observers if observers is not None else Observers()
        self._deadline_clock = deadline_clock

    def bound(self, request: Request) -> BoundProvider:
        bound = self._providers.get(request.provider)
        if bound is None:
            known = ", ".join(sorted(self._providers)) or "none"
            raise ConfigError(
                f"model {request.model!r}: unknown provider {request.provider!r} "
                f"(known providers: {known}; models are named 'provider/model')"
            )
        return bound

    def _read_timeout(self, request: Request) -> float | None:
        """The read timer this request ran with: its own, else the client's."""
        own = request.metadata.timeout
        return own if own is not None else self._timeout

    def _transport_error(
        self,
        bound: BoundProvider,
        request: Request,
        failure: TransportFailure,
        deadline: float | None,
    ) -> ProviderError:
        if failure.phase == "timeout":
            if past_deadline(deadline, self._deadline_clock):
                return deadline_error(request)
            detail = failure.detail
            timeout = self._read_timeout(request)
            if "connect" in detail.lower() or timeout is None:
                message = f"timed out ({detail})"  # connect_timeout, or a caller's own timer
            else:
                message = f"no answer within {timeout:g}s ({detail})"
            return RequestTimeoutError(
                message,
                provider=bound.name,
                model=request.model_name,
                retryable=True,
            )
        if failure.phase == TOO_LARGE:
            return ResponseTooLargeError(
                f"{failure.detail} (max_response_bytes); the connection was closed",
                provider=bound.name,
                model=request.model_name,
                error_type="response_too_large",
                retryable=False,
            )
        return TransportError(
            str(failure), provider=bound.name, model=request.model_name, retryable=True
        )

    async def __call__(self, request: Request) -> Reply:
        bound = self.bound(request)
        metadata = request.metadata
        clock = self._deadline_clock
        deadline = total = None
        if clock is not None:
            deadline = current_deadline(request)  # a default one may have moved since
            if deadline is not None:
                total = deadline - clock.now()
                if total <= 0:  # (a wait above ended at the deadline, or past it)
                    raise deadline_error(request, NOT_SENT)
        http_request = for_attempt(bound, request, bound.codec.encode(request), total)
        try:  # one frame for the whole attempt: a try costs nothing until something raises
            if request.stream:
                return await self._open_stream(bound, request, http_request, deadline)
            try:
                response = await bound.transport.send(http_request)
            except TransportFailure as failure:
                raise self._transport_error(bound, request, failure, deadline) from None
            if 200 <= response.status < 300:
                decoded = bound.codec.decode(request, response)
                kept = rate_limit_headers(response.headers)
                return decoded.replace(headers=kept) if kept else decoded
            raise bound.codec.decode_error(request, response)
        except ProviderError as error:
            error.attempts = metadata.attempt
            detach_foreign(error)  # a transport's or decoder's exception may quote the key
            if self._observers.attempt_failed:
                self._observers.emit_attempt_failed(AttemptFailed(request, error, metadata.attempt))
            raise

    async def _open_stream(
        self,
        bound: BoundProvider,
        request: Request,
        http_request: HttpRequest,
        deadline: float | None,
    ) -> EventStream:
        try:
            stream = await bound.transport.open_stream(http_request)
            if not 200 <= stream.status < 300:
                try:
                    body = await stream.read()
                finally:
                    await stream.aclose()
                raise bound.codec.decode_error(
                    request, HttpResponse(stream.status, stream.headers, body)
                )
        except TransportFailure as failure:
            raise self._transport_error(bound, request, failure, deadline) from None
        source_class = ProviderStreamSource if request.wire is None else WireStreamSource
        source = source_class(
            bound,
            request,
            stream,
            bound.codec.stream_decoder(request),
            self._read_timeout(request),
            self._max_event_bytes,
            self._observers,
            (deadline, self._deadline_clock),
        )
        return EventStream(source)


def for_attempt(
    bound: BoundProvider, request: Request, encoded: HttpRequest, total: float | None = None
) -> HttpRequest:
    """The codec's message with what every attempt carries added: the key, written as
    ``bound.spec.credential_header`` says (none when the request has no credential: a
    keyless server), ``Idempotency-Key``, then the caller's ``metadata.headers`` (last, so
    a caller's own header wins), and the request's own timers, with ``total`` (the
    seconds left before its deadline) among them. The codec's headers are copied, never
    changed, so a codec may return one shared mapping for every request; a request that
    adds nothing (no key, no idempotency key, no headers, no timers) is sent as the codec
    built it."""
    credential = request.credential
    metadata = request.metadata
    idempotency_key = metadata.idempotency_key
    caller_headers = metadata.headers
    timeouts = encoded.timeouts
    if metadata.timeout is not None or metadata.connect_timeout is not None or total is not None:
        timeouts = RequestTimeouts(metadata.connect_timeout, metadata.timeout, total)
    elif credential is None and not idempotency_key and not caller_headers:
        return encoded
    headers = dict(encoded.headers)
    if credential is not None:
        key_header = bound.spec.credential_header
        headers[key_header.name] = key_header.value(credential)
    if idempotency_key:
        headers["idempotency-key"] = idempotency_key
    if caller_headers:
        headers.update(caller_headers)
    return HttpRequest(encoded.method, encoded.url, headers, encoded.body, timeouts)
