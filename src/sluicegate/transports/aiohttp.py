"""A transport over aiohttp: the fastest measured client, asyncio only.

At 256 concurrent requests aiohttp spends a fraction of httpx2's CPU per request (see
shared/PERF-BASELINES.md), so it is the default when the client runs on asyncio. This is
the one module in ``src/`` that touches asyncio, and only for its timeout exception.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp

from sluicegate.transports.base import (
    HttpRequest,
    HttpResponse,
    TransportFailure,
    TransportOptions,
    declared_too_large,
    too_large,
)

_NEVER_ROUNDED = float("inf")
"""``ClientTimeout.ceil_threshold`` for timers kept to the loop's precision."""


async def _read_bounded(response: aiohttp.ClientResponse, limit: int | None) -> bytes:
    """The whole body, but never more than ``limit`` bytes of it in memory: aiohttp's own
    ``read()`` buffers whatever the server sends. Past the bound the connection is closed
    (not returned to the pool with a body still coming) and :func:`too_large` raised."""
    if limit is None:
        return await response.read()
    if "content-encoding" not in response.headers:
        # nothing to inflate: a declared length within the bound is the whole body, and
        # aiohttp reads exactly that much (without a generator step per chunk)
        length = response.content_length
        if length is not None and length <= limit:
            return await response.read()
    if declared_too_large(response.headers, limit):
        response.close()
        raise too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > limit:
            response.close()
            raise too_large(limit)
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class _AiohttpStream:
    __slots__ = ("_limit", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, limit: int | None) -> None:
        self._response = response
        self._limit = limit
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except TimeoutError as exc:  # sock_read between chunks: a timeout, as with httpx2
            raise TransportFailure("timeout", type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None

    async def read(self) -> bytes:
        try:
            return await _read_bounded(self._response, self._limit)
        except TimeoutError as exc:
            raise TransportFailure("timeout", type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport:
    """Sends through one ``aiohttp.ClientSession`` whose pool matches the concurrency.

    Redirects are not followed (as with httpx2): an API answering 3xx is misconfigured,
    and following it would send the prompt, and possibly the key, to wherever the
    ``Location`` points; the 3xx is the provider's error instead."""

    name = "aiohttp"
    enforces_total = True

    def __init__(self, options: TransportOptions) -> None:
        self._connect_timeout = options.connect_timeout
        self._read_timeout = options.read_timeout
        self._max_bytes = options.max_response_bytes
        connector = aiohttp.TCPConnector(
            limit=options.concurrency, limit_per_host=0, keepalive_timeout=30.0, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=options.connect_timeout, sock_read=options.read_timeout
            ),
            skip_auto_headers=("User-Agent",),
            headers={"user-agent": "sluicegate"},
        )

    def _request(self, request: HttpRequest) -> Any:
        """The session's request context for ``request``, with the request's own timers
        when it has some (aiohttp replaces, not merges, the session's ``ClientTimeout``, so
        the unset ones keep this transport's defaults). A ``total`` is aiohttp's own total
        timer, which covers reading the body too, a stream's to its end: the request's
        deadline then costs one loop timer, not a cancel scope."""
        own = request.timeouts
        if own is None:
            return self._session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
            )
        timeout = aiohttp.ClientTimeout(
            total=own.total,
            sock_connect=own.connect if own.connect is not None else self._connect_timeout,
            sock_read=own.read if own.read is not None else self._read_timeout,
            # aiohttp rounds a timer of 5 s or more up to a whole second, so that timers
            # share loop ticks; a deadline should end at its time, not up to 1 s late
            ceil_threshold=_NEVER_ROUNDED,
        )
        return self._session.request(
            request.method,
            request.url,
            headers=request.headers,
            data=request.body,
            timeout=timeout,
            allow_redirects=False,
        )

    async def send(self, request: HttpRequest) -> HttpResponse:
        try:
            async with self._request(request) as response:
                body = await _read_bounded(response, self._max_bytes)
                return HttpResponse(response.status, response.headers, body)
        except aiohttp.ClientConnectorError as exc:
            raise TransportFailure("connect", f"{type(exc).__name__}: {exc}") from None
        except TimeoutError as exc:
            raise TransportFailure("timeout", type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None

    async def open_stream(self, request: HttpRequest) -> _AiohttpStream:
        try:
            response = await self._request(request)
        except aiohttp.ClientConnectorError as exc:
            raise TransportFailure("connect", f"{type(exc).__name__}: {exc}") from None
        except TimeoutError as exc:
            raise TransportFailure("timeout", type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None
        return _AiohttpStream(response, self._max_bytes)

    async def aclose(self) -> None:
        await self._session.close()
