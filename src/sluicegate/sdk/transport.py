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
from functools import cache
from typing import TYPE_CHECKING, Any

import anyio

from sluicegate.errors import ProviderError, RequestTimeoutError, TransportError
from sluicegate.middleware.deadline import DEADLINE_EXCEEDED
from sluicegate.sdk.summary import summarise
from sluicegate.transports.base import HttpRequest, HttpResponse
from sluicegate.types import Metadata, Request, new_request_id

if TYPE_CHECKING:
    from sluicegate.client import Client

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
            stream=False,  # a streamed answer is read whole and passed through (see docs)
            wire=wire,
        )
        try:
            response = await self._client.send(chain_request)
        except ProviderError as error:
            answer = error.answer
            if isinstance(answer, HttpResponse):
                return _to_httpx(self._lib, answer, request)
            if isinstance(error, RequestTimeoutError) or error.error_type == DEADLINE_EXCEEDED:
                raise self._lib.ReadTimeout(str(error), request=request) from error
            if isinstance(error, TransportError):
                raise self._lib.ConnectError(str(error), request=request) from error
            raise
        raw = response.raw
        if not isinstance(raw, HttpResponse):  # (a stage that answered without sending)
            raise TransportError(
                "the chain answered without an HTTP answer to give the SDK",
                provider=response.provider,
                model=summary.model,
            )
        return _to_httpx(self._lib, raw, request)

    async def _open(self) -> None:
        async with self._opening:
            if not self._opened:
                await self._client.__aenter__()
                self._opened = True

    async def aclose(self) -> None:
        if self._owns and self._opened:
            self._opened = False
            await self._client.aclose()


def _to_httpx(lib: Any, answer: HttpResponse, request: Any) -> Any:
    headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in _NOT_RETURNED]
    return lib.Response(answer.status, headers=headers, content=answer.body, request=request)


LIBRARIES = ("httpx", "httpx2")


@cache
def transport_class(library: str) -> type[ChainTransport]:
    """:class:`ChainTransport` as a transport of ``library`` (``"httpx"``/``"httpx2"``)."""
    lib = importlib.import_module(library)
    made: type[ChainTransport] = type(
        f"ChainTransport_{library}", (ChainTransport, lib.AsyncBaseTransport), {"_lib": lib}
    )
    return made
