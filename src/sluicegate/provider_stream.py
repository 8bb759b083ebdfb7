"""A provider's stream, read as the caller pulls it: bytes, SSE events, stream events.

:class:`ProviderStreamSource` is the source of every stream the dispatcher opens; a
failure (a cut, a timeout, an error event, no end marker) leaves it as a typed
:class:`~sluicegate.errors.StreamError` after the events decoded before it.

:class:`WireStreamSource` is the same for an official SDK's stream
(:func:`sluicegate.http_client`): it also hands up the bytes themselves, as
:class:`~sluicegate.types.WireChunk` events beside the decoded ones, for the SDK to parse.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import anyio

from sluicegate.clock import Clock
from sluicegate.errors import ProviderError, ResponseFormatError, StreamError
from sluicegate.middleware.deadline import (
    DEADLINE_EXCEEDED,
    MID_STREAM,
    NO_FIRST_EVENT,
    deadline_error,
)
from sluicegate.observers import AttemptFailed, Observers
from sluicegate.providers.base import BoundProvider, StreamDecoder
from sluicegate.providers.http_errors import rate_limit_headers
from sluicegate.sse import MAX_EVENT_BYTES, EventTooLarge, SSEDecoder
from sluicegate.streaming import ResponseBuilder
from sluicegate.transports.base import HttpResponse, HttpStream, TransportFailure
from sluicegate.types import (
    Done,
    FinishEvent,
    Request,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    WireChunk,
)

_EARLY = 1e-3
"""Seconds before a deadline that a timer firing still counts as the deadline's: a loop
may run a timer up to its clock's resolution early."""


def past_deadline(deadline: float | None, clock: Clock | None) -> bool:
    """Whether there is a ``deadline``, read on ``clock``, and it has passed (so a timer
    that fired now was the deadline's ``total``, not a read timeout)."""
    return deadline is not None and clock is not None and clock.now() >= deadline - _EARLY


class ProviderStreamSource:
    """Bytes → SSE events → stream events, pulled one chunk at a time as the caller reads.

    When a stream fails (cut, timed out, an error event, no end marker), the events decoded
    before the failure are still delivered, then the error is raised; so what the caller
    sees does not depend on how the network chunked the bytes, and the error's
    ``partial_text`` is exactly the text the caller received.
    """

    __slots__ = (
        "_bound",
        "_builder",
        "_chunks",
        "_deadline",
        "_decoder",
        "_delivered",
        "_ended",
        "_failure",
        "_http",
        "_observers",
        "_pending",
        "_request",
        "_sse",
        "_timeout",
    )

    def __init__(
        self,
        bound: BoundProvider,
        request: Request,
        http: HttpStream,
        decoder: StreamDecoder,
        timeout: float | None,
        max_event_bytes: int | None = MAX_EVENT_BYTES,
        observers: Observers | None = None,
        deadline: tuple[float | None, Clock | None] = (None, None),
    ) -> None:
        self._bound = bound
        self._request = request
        self._http = http
        self._chunks: AsyncIterator[bytes] = http.iter_bytes()
        self._decoder = decoder
        self._sse = SSEDecoder(max_event_bytes)
        self._builder = ResponseBuilder()
        self._pending: deque[StreamEvent] = deque()
        self._timeout = timeout
        self._ended = False
        self._failure: dict[str, Any] | None = None
        self._observers = observers if observers is not None else Observers()
        self._deadline = deadline  # the attempt's deadline, and the clock it is read on
        self._delivered = False

    async def next_event(self) -> StreamEvent:
        while not self._pending:
            if self._failure is not None:
                await self._raise_failure()
            if self._ended:
                raise StopAsyncIteration
            if self._decoder.finished:
                await self.aclose()
                response = self._builder.build(
                    model=self._request.model,
                    provider=self._bound.name,
                    request_id=self._request.metadata.request_id,
                )
                kept = rate_limit_headers(self._http.headers)
                return Done(response.replace(headers=kept) if kept else response)
            await self._pull()
        event = self._pending.popleft()
        self._builder.add(event)
        self._delivered = True
        return event

    async def _raise_failure(self) -> NoReturn:
        details = self._failure or {}
        self._failure = None
        await self.aclose()
        message = details.pop("message")
        error: ProviderError
        if details.get("error_type") == DEADLINE_EXCEEDED and not self._delivered:
            error = deadline_error(self._request, NO_FIRST_EVENT)
        else:
            error = StreamError(
                message,
                partial_text=self._builder.text,
                provider=self._bound.name,
                model=self._request.model_name,
                **details,
            )
        error.attempts = self._request.metadata.attempt
        self._failing(error)
        if self._observers.attempt_failed:  # a broken stream is a failed attempt too
            self._observers.emit_attempt_failed(
                AttemptFailed(self._request, error, self._request.metadata.attempt)
            )
        raise error

    async def _pull(self) -> None:
        at_end = False
        try:
            chunk = await self._chunks.__anext__()
            events = self._sse.feed(chunk)
        except StopAsyncIteration:
            events = self._sse.close()
            at_end = True
        except TransportFailure as failure:
            if failure.phase == "timeout" and past_deadline(*self._deadline):
                self._failure = {
                    "message": MID_STREAM,
                    "error_type": DEADLINE_EXCEEDED,
                    "retryable": False,
                }
                return
            if failure.phase == "timeout":
                waited = f" within {self._timeout:g}s" if self._timeout is not None else ""
                message = f"no stream data{waited} ({failure.detail})"
            else:
                message = f"stream cut: {failure}"
            self._failure = {"message": message, "retryable": True}
            return
        except EventTooLarge as exc:
            self._failure = {
                "message": f"stream event too large: {exc} (max_event_bytes)",
                "error_type": "event_too_large",
                "retryable": False,
            }
            return
        for sse in events:
            try:
                self._pending.extend(self._decoder.feed(sse))
            except ProviderError as exc:
                self._answered_with_error()
                self._failure = {
                    # a malformed event says so itself ("malformed stream event: ...")
                    "message": exc.detail
                    if isinstance(exc, ResponseFormatError)
                    else f"error event in stream: {exc.detail}",
                    "status": exc.status,
                    "error_type": exc.error_type,
                    "retryable": exc.retryable,
                    "request_id": exc.request_id,
                }
                return
            if self._decoder.finished:
                return
        if at_end and not self._decoder.finished:
            if self._ends_at_eof():
                self._decoder.finished = True
                return
            self._failure = {
                "message": "stream ended before the provider's end marker",
                "retryable": True,
            }

    def _answered_with_error(self) -> None:
        """The provider's own bytes said the stream failed (an error event, a malformed
        one): a hook for :class:`WireStreamSource`."""

    def _failing(self, error: ProviderError) -> None:
        """``error`` is about to end the stream: a hook for :class:`WireStreamSource`."""

    def _ends_at_eof(self) -> bool:
        """Whether the end of the bytes ends the stream although the decoder saw no end
        marker (a decoder that knows none)."""
        return False

    async def aclose(self) -> None:
        self._ended = True
        aclose = getattr(self._chunks, "aclose", None)
        with anyio.CancelScope(shield=True):
            if aclose is not None:
                await aclose()
            await self._http.aclose()


class WireStreamSource(ProviderStreamSource):
    """A :class:`ProviderStreamSource` that also hands up the stream's bytes as they came,
    as :class:`~sluicegate.types.WireChunk` events, each after the events decoded from it.

    The bytes are held back until the first text or tool-call delta (or the end of the
    stream): a stream that fails before any content has then given the SDK nothing, so
    the retry stage may replace it unseen, as it replaces any stream. A stream the
    provider itself ends with an error event (``overloaded_error``...) keeps the bytes
    not yet handed up on the error's ``answer`` (status, headers, those bytes): the SDK
    transport gives them to the SDK, which raises its own typed error from them. Bytes
    after content go up chunk by chunk as they arrive, unbuffered.

    A decoder with an ``ends_with_bytes = True`` attribute knows no end marker (it reads
    nothing: a provider whose stream sluicegate cannot decode): its stream ends with the
    bytes, not as a cut one.
    """

    __slots__ = ("_error_event", "_head_sent", "_held", "_live", "_markerless")

    def __init__(
        self,
        bound: BoundProvider,
        request: Request,
        http: HttpStream,
        decoder: StreamDecoder,
        timeout: float | None,
        max_event_bytes: int | None = MAX_EVENT_BYTES,
        observers: Observers | None = None,
        deadline: tuple[float | None, Clock | None] = (None, None),
    ) -> None:
        super().__init__(
            bound, request, _Tee(http), decoder, timeout, max_event_bytes, observers, deadline
        )
        self._held = bytearray()
        self._live = False
        """Content has been decoded: bytes now go up as they arrive."""
        self._head_sent = False
        self._error_event = False
        """The provider's bytes ended the stream: the failure keeps them on its answer."""
        self._markerless: bool = getattr(decoder, "ends_with_bytes", False)

    async def _pull(self) -> None:
        tee: _Tee = self._http  # type: ignore[assignment]
        pending = self._pending
        before = len(pending)
        await super()._pull()
        self._held += tee.take()
        if self._failure is not None:
            return  # (the error's answer, if any, holds the bytes: see _failing)
        if not self._live:
            for i in range(before, len(pending)):
                kind = type(pending[i])
                if kind is TextDelta or kind is ToolCallDelta or kind is FinishEvent:
                    self._live = True
                    break
        if self._held and (self._live or self._decoder.finished):
            pending.append(self._chunk())

    def _chunk(self) -> WireChunk:
        data = bytes(self._held)
        self._held.clear()
        last = self._decoder.finished
        if self._head_sent:
            return WireChunk(data, last=last)
        self._head_sent = True
        http = self._http
        return WireChunk(data, http.status, http.headers, last)

    def _ends_at_eof(self) -> bool:
        return self._markerless

    def _answered_with_error(self) -> None:
        self._error_event = True

    def _failing(self, error: ProviderError) -> None:
        if self._error_event:
            self._error_event = False
            http = self._http
            error.answer = HttpResponse(http.status, http.headers, bytes(self._held))
            self._held.clear()


class _Tee:
    """An :class:`HttpStream` that keeps each chunk read through it until taken."""

    __slots__ = ("_http", "_read", "headers", "status")

    def __init__(self, http: HttpStream) -> None:
        self._http = http
        self._read = b""
        self.status = http.status
        self.headers = http.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        async for chunk in self._http.iter_bytes():
            self._read = chunk
            yield chunk

    def take(self) -> bytes:
        """The chunk read since the last take (nothing if none was)."""
        read = self._read
        self._read = b""
        return read

    async def read(self) -> bytes:
        return await self._http.read()

    async def aclose(self) -> None:
        await self._http.aclose()
