"""An ``httpx.AsyncBaseTransport`` that sends an official SDK's requests through a
sluicegate :class:`~sluicegate.client.Client`'s chain.

Each ``httpx.Request`` becomes one logical sluicegate request: its summary
(:mod:`sluicegate.sdk.summary`) for the stages, and the SDK's exact message on
``Request.wire`` for the pass-through codecs (:mod:`sluicegate.sdk.codec`). The chain's
answer goes back to the SDK as an ``httpx.Response``:

- an answer (2xx): its status, headers and body;
- the chain gave up on an HTTP error answer (after its retries): that last answer, so
  the SDK raises its own typed error (``RateLimitError``, ``InternalServerError``...);
- no answer at all: ``httpx.ReadTimeout`` for a timeout (the SDK's ``APITimeoutError``),
  ``httpx.ConnectError`` for a failed connection (``APIConnectionError``);
- anything else sluicegate refuses before sending (a budget, an open circuit): its own
  error, raised unchanged (the openai SDK lets it through as it is, tested: a
  ``BudgetExceededError`` comes out of ``create()``).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import AsyncIterator
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from sluicegate.errors import ProviderError, RequestTimeoutError, StreamError, TransportError
from sluicegate.middleware.deadline import DEADLINE_EXCEEDED
from sluicegate.sdk.summary import summarise
from sluicegate.transports.base import HttpRequest, HttpResponse
from sluicegate.types import Metadata, Request, WireChunk, new_request_id

if TYPE_CHECKING:
    from sluicegate.client import Client
    from sluicegate.streaming import EventStream

_NOT_FORWARDED = frozenset(
    (
        "host",  # the lower transport writes these for the connection it uses
        "content-length",
        "transfer-encoding",
        "connection",
        "accept-encoding",  # ... and decompresses what it asked for
        "idempotency-key",  # sluicegate's, one per logical request, on every attempt
    )
)
_T = TypeVar("_T")

_NOT_RETURNED = frozenset(("content-encoding", "content-length", "transfer-encoding"))
"""The body handed back is already decompressed and whole."""

SDK_RETRIES_WARNING = (
    "an official SDK is retrying a request sent through sluicegate.http_client(): create "
    "the SDK client with max_retries=0, so that sluicegate's retry stage alone retries "
    "(two retry layers multiply the attempts, and each SDK retry is a new logical request "
    "with a new Idempotency-Key)"
)


class ChainTransport:
    """Sends each request through ``client``'s chain (see the module docstring).

    The HTTP library's own base class (``httpx.AsyncBaseTransport`` or
    ``httpx2.AsyncBaseTransport``) is added by :func:`transport_class`: the openai SDK
    takes an ``httpx`` client, the anthropic SDK an ``httpx2`` one, and each refuses the
    other's; ``_lib`` is that library, whose Response and errors are made here.

    ``owns_client``: the client was made by :func:`sluicegate.http_client` itself; it is
    opened on the first request and closed with this transport."""

    _lib: Any

    def __init__(self, client: Client, *, owns_client: bool) -> None:
        self._client = client
        self._owns = owns_client
        self._opened = not owns_client
        """Whether the client is open (a given client is the caller's to open)."""
        self._opening = anyio.Lock()
        """Held while the first request opens an own client: calls started together all
        wait for that one opening (it may wait on a shared store's connection)."""
        self._warned = False

    def __repr__(self) -> str:
        return f"<sluicegate ChainTransport client={self._client!r}>"

    async def handle_async_request(self, request: Any) -> Any:
        if not self._opened:
            await self._open()
        body = await request.aread()
        headers = {k.lower(): v for k, v in request.headers.items()}
        retry_count = headers.get("x-stainless-retry-count", "0")
        if retry_count != "0" and not self._warned:
            self._warned = True
            warnings.warn(SDK_RETRIES_WARNING, RuntimeWarning, stacklevel=2)
        for name in _NOT_FORWARDED:
            headers.pop(name, None)
        summary = summarise(request.method, request.url.path, body)
        wire = HttpRequest(request.method, str(request.url), headers, body)
        chain_request = Request(
            model=summary.model,
            messages=summary.messages,
            params=summary.params,
            metadata=Metadata(request_id=new_request_id()),
            stream=summary.stream,
            wire=wire,
        )
        try:
            if summary.stream:
                return await self._open_stream(chain_request, request)
            response = await self._client.send(chain_request)
        except ProviderError as error:
            answer = error.answer
            if isinstance(answer, HttpResponse):
                return _to_httpx(self._lib, answer, request)
            mapped = _as_httpx_error(self._lib, error, request)
            if mapped is error:
                raise
            raise mapped from error
        raw = response.raw
        if not isinstance(raw, HttpResponse):  # (a stage that answered without sending)
            raise TransportError(
                "the chain answered without an HTTP answer to give the SDK",
                provider=response.provider,
                model=summary.model,
            )
        return _to_httpx(self._lib, raw, request)

    async def _open_stream(self, chain_request: Request, request: Any) -> Any:
        """The SDK's response to a streamed call: opened once the chain hands up the
        first bytes (held back until the first content, so a stream that failed before
        it was retried unseen), its body the rest of the bytes as they arrive."""
        events = await self._client.open_stream(chain_request)
        try:
            first = await _next_chunk(events)
        except BaseException:
            await events.aclose()
            raise
        if first is None:  # (a stage that answered without the provider's bytes)
            await events.aclose()
            raise TransportError(
                "the chain answered a stream without the provider's bytes to give the SDK",
                provider=chain_request.model.partition("/")[0],
                model=chain_request.model,
            )
        headers = [
            (k, v) for k, v in (first.headers or {}).items() if k.lower() not in _NOT_RETURNED
        ]
        body = on_library(_WireBody, self._lib.__name__, "AsyncByteStream")(events, first, request)
        return self._lib.Response(first.status, headers=headers, stream=body, request=request)

    async def _open(self) -> None:
        async with self._opening:
            if not self._opened:
                await self._client.__aenter__()
                self._opened = True

    async def aclose(self) -> None:
        if self._owns and self._opened:
            self._opened = False
            await self._client.aclose()


async def _next_chunk(events: EventStream) -> WireChunk | None:
    """The stream's next bytes; None once it has ended (Done, or run dry)."""
    async for event in events:
        if type(event) is WireChunk:
            return event
    return None


class _WireBody:
    """The body of a streamed SDK response: the chain's bytes as they arrive.

    How a stream that fails after its first bytes ends, for the SDK: one the provider
    ended with an error event gives the SDK that event's bytes (on the error's
    ``answer``), and ends, so the SDK raises its own error from them; a cut one ends with
    ``RemoteProtocolError`` (what httpx raises for a body cut short), a timed out one
    with ``ReadTimeout``."""

    _lib: Any
    """(the HTTP library, set by :func:`on_library`)"""

    def __init__(self, events: EventStream, first: WireChunk, request: Any) -> None:
        self._events = events
        self._first = first
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk: WireChunk | None = self._first
        try:
            while chunk is not None:
                if chunk.last:
                    # the chain's Done first: the SDK stops reading at the end marker in
                    # these bytes, and would close the stream before the stages (the
                    # ledger) heard it end; all its bytes are read, so this waits for none
                    await _next_chunk(self._events)
                if chunk.data:
                    yield chunk.data
                if chunk.last:
                    return
                chunk = await _next_chunk(self._events)
        except ProviderError as error:
            answer = error.answer
            if isinstance(answer, HttpResponse):
                if answer.body:
                    yield answer.body
                return
            mapped = _as_httpx_error(self._lib, error, self._request)
            if mapped is error:
                raise
            raise mapped from error

    async def aclose(self) -> None:
        await self._events.aclose()


def _as_httpx_error(lib: Any, error: ProviderError, request: Any) -> Any:
    """The HTTP library's own error for an attempt that ended without an answer, which
    each SDK turns into its own (``APITimeoutError``, ``APIConnectionError``) when it
    comes from sending: a timeout (or the deadline) is ``ReadTimeout``; a failed
    connection ``ConnectError``; a stream cut short (or whose bytes could not be read)
    ``RemoteProtocolError``, what httpx raises for a body that ends early. Anything else
    (a budget, an open circuit: refused before sending) is sluicegate's own error,
    unchanged."""
    if isinstance(error, RequestTimeoutError) or error.error_type == DEADLINE_EXCEEDED:
        return lib.ReadTimeout(str(error), request=request)
    if isinstance(error, StreamError):
        return lib.RemoteProtocolError(str(error), request=request)
    if isinstance(error, TransportError):
        return lib.ConnectError(str(error), request=request)
    return error


def _to_httpx(lib: Any, answer: HttpResponse, request: Any) -> Any:
    headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in _NOT_RETURNED]
    return lib.Response(answer.status, headers=headers, content=answer.body, request=request)


LIBRARIES = ("httpx", "httpx2")


@cache
def on_library(cls: type[_T], library: str, base: str) -> type[_T]:
    """``cls`` made a subclass of ``library``'s class ``base`` (``AsyncBaseTransport``,
    ``SyncByteStream``...), with that library module as ``_lib``: httpx and httpx2 each
    check that a transport or a body stream is one of their own classes, and the openai
    SDK takes an ``httpx`` client, the anthropic SDK an ``httpx2`` one."""
    lib = importlib.import_module(library)
    made: type[_T] = type(f"{cls.__name__}_{library}", (cls, getattr(lib, base)), {"_lib": lib})
    return made


def transport_class(library: str) -> type[ChainTransport]:
    """:class:`ChainTransport` as a transport of ``library`` (``"httpx"``/``"httpx2"``)."""
    return on_library(ChainTransport, library, "AsyncBaseTransport")
