"""A transport over an httpx-style ``AsyncClient``: httpx2's own, or one the user hands in.

httpx2 (the maintained continuation of httpx that the openai SDK uses) runs on asyncio and
trio alike, so it is the default on trio. A user's own ``httpx.AsyncClient`` or
``httpx2.AsyncClient`` carries their proxies, certificates and event hooks; sluicegate then
uses it as it is and leaves closing it to its owner.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from sluicegate.transports.base import (
    MAX_RESPONSE_BYTES,
    HttpRequest,
    HttpResponse,
    RequestTimeouts,
    TransportFailure,
    TransportOptions,
    declared_too_large,
    too_large,
)


def _library(client: Any) -> Any:
    """The module (httpx2 or httpx) the client comes from."""
    return importlib.import_module(type(client).__module__.partition(".")[0])


def _error_classes(
    client: Any,
) -> tuple[type[BaseException], type[BaseException], type[BaseException]]:
    """(timeout, connect, any wire error) classes of the library the client is from.

    The last is ``RequestError``, not ``TransportError``: a body that fails to decompress
    (``DecodingError``, a bad gzip) is a ``RequestError`` but no ``TransportError``, and
    would otherwise escape untyped."""
    lib = _library(client)
    return lib.TimeoutException, lib.ConnectError, lib.RequestError


async def _read_bounded(response: Any, limit: int | None) -> bytes:
    """The whole (decompressed) body, never more than ``limit`` bytes of it in memory:
    past the bound :func:`too_large` is raised, and the caller's ``aclose()`` then closes
    the connection, since the body was not read to its end."""
    if limit is not None and declared_too_large(response.headers, limit):
        raise too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if limit is not None and size > limit:
            raise too_large(limit)
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


_MAX_URLS = 256
"""Parsed URLs kept per transport: a provider has a few endpoints, so this only bounds a
caller who builds a new URL per request."""


class _HttpxStream:
    __slots__ = ("_errors", "_limit", "_response", "headers", "status")

    def __init__(
        self, response: Any, errors: tuple[type[BaseException], ...], limit: int | None
    ) -> None:
        self._response = response
        self._errors = errors
        self._limit = limit
        self.status: int = response.status_code
        self.headers: Mapping[str, str] = response.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        timeout, _, transport = self._errors
        try:
            async for chunk in self._response.aiter_bytes():
                yield chunk
        except timeout as exc:
            raise TransportFailure("timeout", type(exc).__name__) from None
        except transport as exc:
            raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None

    async def read(self) -> bytes:
        timeout, _, transport = self._errors
        try:
            return await _read_bounded(self._response, self._limit)
        except timeout as exc:
            raise TransportFailure("timeout", type(exc).__name__) from None
        except transport as exc:
            raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxTransport:
    """Sends through an httpx-compatible ``AsyncClient``."""

    def __init__(
        self,
        client: Any,
        *,
        owns_client: bool,
        name: str = "httpx",
        max_response_bytes: int | None = MAX_RESPONSE_BYTES,
    ) -> None:
        self.name = name
        self._max_bytes = max_response_bytes
        self._client = client
        self._owns = owns_client
        self._errors = _error_classes(client)
        self._url_class: Any = _library(client).URL
        self._timeout_class: Any = _library(client).Timeout
        self._urls: dict[str, Any] = {}

    def _url(self, url: str) -> Any:
        """The library's parsed URL for ``url``, parsed once: httpx parses a string URL on
        every request (~10 µs), while a parsed one is only copied (<1 µs)."""
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) >= _MAX_URLS:
                self._urls.clear()
            parsed = self._urls[url] = self._url_class(url)
        return parsed

    def _timeout(self, own: RequestTimeouts) -> Any:
        """The library's Timeout for a request with its own timers: a per-request timeout
        replaces the client's whole, so the unset timers (and write, pool) keep the
        client's, read when needed since a user's client may have changed them."""
        default = self._client.timeout
        return self._timeout_class(
            connect=own.connect if own.connect is not None else default.connect,
            read=own.read if own.read is not None else default.read,
            write=default.write,
            pool=default.pool,
        )

    @classmethod
    def httpx2(cls, options: TransportOptions) -> HttpxTransport:
        """httpx2 with its pool sized to the client's concurrency (its default of 100
        connections / 20 keep-alive would cap throughput and reopen connections)."""
        import httpx2

        client = httpx2.AsyncClient(
            limits=httpx2.Limits(
                max_connections=options.concurrency,
                max_keepalive_connections=options.concurrency,
                keepalive_expiry=30.0,
            ),
            timeout=httpx2.Timeout(options.read_timeout, connect=options.connect_timeout),
            follow_redirects=False,
        )
        return cls(
            client,
            owns_client=True,
            name="httpx2",
            max_response_bytes=options.max_response_bytes,
        )

    def _build(self, request: HttpRequest) -> Any:
        own = request.timeouts
        if own is None or not own.sets_timers:  # (a total is kept by TotalBound)
            return self._client.build_request(
                request.method,
                self._url(request.url),
                headers=request.headers,
                content=request.body,
            )
        return self._client.build_request(
            request.method,
            self._url(request.url),
            headers=request.headers,
            content=request.body,
            timeout=self._timeout(own),
        )

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send, then read the body in chunks up to ``max_response_bytes`` (the library's
        ``request()`` would buffer a body of any size before returning)."""
        timeout, connect, transport = self._errors
        built = self._build(request)
        try:
            response = await self._client.send(built, stream=True)
            try:
                body = await _read_bounded(response, self._max_bytes)
            finally:
                await response.aclose()
        except timeout as exc:
            raise TransportFailure("timeout", type(exc).__name__) from None
        except connect as exc:
            raise TransportFailure("connect", f"{type(exc).__name__}: {exc}") from None
        except transport as exc:
            raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None
        return HttpResponse(response.status_code, response.headers, body)

    async def open_stream(self, request: HttpRequest) -> _HttpxStream:
        timeout, connect, transport = self._errors
        built = self._build(request)
        try:
            response = await self._client.send(built, stream=True)
        except timeout as exc:
            raise TransportFailure("timeout", type(exc).__name__) from None
        except connect as exc:
            raise TransportFailure("connect", f"{type(exc).__name__}: {exc}") from None
        except transport as exc:
            raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None
        return _HttpxStream(response, self._errors, self._max_bytes)

    async def aclose(self) -> None:
        if self._owns:
            await self._client.aclose()
