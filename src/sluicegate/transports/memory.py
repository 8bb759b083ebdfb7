"""A transport that calls an ASGI app in the same process, with no socket.

It serves the mock provider, so ``sluicegate fanout`` works with no key and no network,
through exactly the codec and chain a real provider uses. The app runs to completion and
its body is handed over in the chunks it sent; if the app fails part-way (a fault that
cuts a stream), the chunks sent so far are delivered and then the failure is raised, as a
cut connection would be.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import urlsplit

import anyio

from sluicegate.transports.base import (
    HttpRequest,
    HttpResponse,
    TransportFailure,
    TransportOptions,
    too_large,
)

ASGIApp = Callable[
    [
        MutableMapping[str, Any],
        Callable[[], Awaitable[MutableMapping[str, Any]]],
        Callable[[MutableMapping[str, Any]], Awaitable[None]],
    ],
    Awaitable[None],
]


class _Exchange:
    """One request/response through the app; ``limit`` bounds a plain answer's body."""

    __slots__ = ("chunks", "failure", "headers", "limit", "size", "status")

    def __init__(self, limit: int | None = None) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.failure: TransportFailure | None = None
        self.limit = limit
        self.size = 0


class _TooLarge(Exception):
    """Raised into the app from its ``send`` once its body passed the bound."""


class _MemoryStream:
    __slots__ = ("_exchange", "headers", "status")

    def __init__(self, exchange: _Exchange) -> None:
        self._exchange = exchange
        self.status = exchange.status
        self.headers: Mapping[str, str] = exchange.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self._exchange.chunks:
            yield chunk
        if self._exchange.failure is not None:
            raise self._exchange.failure

    async def read(self) -> bytes:
        if self._exchange.failure is not None:
            raise self._exchange.failure
        return b"".join(self._exchange.chunks)

    async def aclose(self) -> None:
        return None


class MemoryTransport:
    """Serves requests by calling ``app`` directly."""

    name = "memory"
    enforces_total = True

    def __init__(
        self,
        app: ASGIApp | None = None,
        *,
        app_factory: Callable[[], ASGIApp] | None = None,
        options: TransportOptions | None = None,
    ) -> None:
        """Serve ``app``, or the app ``app_factory`` builds on first use (so a client that
        never calls the mock provider never imports the mock server)."""
        if (app is None) == (app_factory is None):
            raise ValueError("give exactly one of app and app_factory")
        self._app = app
        self._factory = app_factory
        options = options or TransportOptions()
        self._timeout = options.read_timeout
        self._max_bytes = options.max_response_bytes

    async def _timed_exchange(self, request: HttpRequest, limit: int | None = None) -> _Exchange:
        """The app's whole answer within the read timeout (an app has no socket timer):
        the request's own when it has one, else the transport's, and within the request's
        ``total`` when it is shorter. Past it, an app that has
        not answered is a timeout; one that has started answering delivers what it sent,
        then fails its body with a timeout, as a socket's read timer would mid-body."""
        own = request.timeouts
        timeout = own.read if own is not None and own.read is not None else self._timeout
        if own is not None and own.total is not None:
            # the app runs to its end here, a stream's too: the total bounds all of it
            timeout = own.total if timeout is None else min(timeout, own.total)
        exchange = _Exchange(limit)
        if timeout is None:
            await self._exchange(request, exchange)
            return exchange
        try:
            with anyio.fail_after(timeout):
                await self._exchange(request, exchange)
        except TimeoutError:
            failure = TransportFailure("timeout", "the app did not answer in time")
            if exchange.status == 0:
                raise failure from None
            exchange.failure = failure
        return exchange

    async def _exchange(self, request: HttpRequest, exchange: _Exchange) -> None:
        if self._app is None:
            assert self._factory is not None
            self._app = self._factory()
        url = urlsplit(request.url)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme or "http",
            "path": url.path,
            "raw_path": url.path.encode(),
            "query_string": url.query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in request.headers.items()],
            "server": (url.hostname or "memory", url.port or 80),
            "client": ("127.0.0.1", 0),
        }
        body_sent = False
        finished = False
        response_complete = anyio.Event()

        async def receive() -> dict[str, Any]:
            # After the body, a real client stays connected until the response is done;
            # answering "disconnect" at once would make a streaming app stop early.
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await response_complete.wait()
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal finished
            if message["type"] == "http.response.start":
                exchange.status = int(message["status"])
                exchange.headers = {
                    k.decode().lower(): v.decode() for k, v in message.get("headers", ())
                }
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if chunk:
                    exchange.size += len(chunk)
                    if exchange.limit is not None and exchange.size > exchange.limit:
                        raise _TooLarge
                    exchange.chunks.append(bytes(chunk))
                if not message.get("more_body", False):
                    finished = True
                    response_complete.set()

        try:
            await self._app(scope, receive, send)
        except Exception as exc:
            response_complete.set()
            if exchange.limit is not None and exchange.size > exchange.limit:
                # _TooLarge, or whatever the app made of it
                raise too_large(exchange.limit) from None
            if exchange.status == 0:
                raise TransportFailure("read", f"app failed before answering: {exc!r}") from None
            exchange.failure = TransportFailure("read", f"connection cut: {exc!r}")
        else:
            response_complete.set()
            if exchange.status == 0:
                raise TransportFailure("read", "app returned without answering")
            if not finished:
                exchange.failure = TransportFailure("read", "response body incomplete")

    async def send(self, request: HttpRequest) -> HttpResponse:
        exchange = await self._timed_exchange(request, self._max_bytes)
        if exchange.failure is not None:
            raise exchange.failure
        return HttpResponse(exchange.status, exchange.headers, b"".join(exchange.chunks))

    async def open_stream(self, request: HttpRequest) -> _MemoryStream:
        return _MemoryStream(await self._timed_exchange(request))

    async def aclose(self) -> None:
        return None
