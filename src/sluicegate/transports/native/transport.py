"""The native transport: HTTP/1.1 over anyio streams, parsed by httptools.

Why it exists: on trio the only other choice is httpx2, whose pool and request model
cost more CPU per request the more connections are open (bench/http_clients.py). This one
does per request what HTTP/1.1 needs and no more: take a pooled connection, write the
request in one buffer, feed what arrives to a C parser. Timers are one cancel scope per
plain exchange whose deadline moves on with each read (connect, then read, never past
the request's total); a stream gets a scope per read, since a scope cannot span the
caller's iteration.

Out of scope (use ``transport="httpx2"``, which ``"auto"`` picks when a proxy is set in
the environment): proxies, HTTP/2, client certificates, redirects (never followed by any
sluicegate transport: see :class:`~sluicegate.transports.aiohttp.AiohttpTransport`).
"""

from __future__ import annotations

import math
import ssl
from collections.abc import AsyncIterator, Mapping

import anyio

from sluicegate.transports.base import (
    HttpRequest,
    HttpResponse,
    TransportFailure,
    TransportOptions,
    declared_too_large,
    too_large,
)
from sluicegate.transports.native.http11 import request_bytes, request_line
from sluicegate.transports.native.pool import Connection, Pool

__all__ = ["NativeTransport"]

_INF = math.inf
_CHUNK = 65536
_WIRE_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
"""What a read or write on a connection the server dropped raises."""


def _deadline(now: float, timer: float | None, cap: float) -> float:
    return cap if timer is None else min(cap, now + timer)


class _NativeStream:
    """A response whose body is read as it arrives; its connection goes back to the
    pool once the body was read to its end, and is closed if it was not."""

    __slots__ = ("_cap", "_connection", "_limit", "_pool", "_read_timeout", "headers", "status")

    def __init__(
        self,
        connection: Connection,
        pool: Pool,
        read_timeout: float | None,
        cap: float,
        limit: int | None,
    ) -> None:
        self._connection: Connection | None = connection
        self._pool = pool
        self._read_timeout = read_timeout
        self._cap = cap
        self._limit = limit
        reader = connection.reader
        self.status = reader.status
        self.headers: Mapping[str, str] = reader.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            return
        reader = connection.reader
        while True:
            if reader.pieces:
                pieces, reader.pieces = reader.pieces, []
                for piece in pieces:
                    yield piece
            if reader.complete:
                break
            await self._receive(connection)
        await self._finish()

    async def _receive(self, connection: Connection) -> None:
        deadline = _deadline(anyio.current_time(), self._read_timeout, self._cap)
        with anyio.CancelScope(deadline=deadline) as scope:
            try:
                data = await connection.stream.receive(_CHUNK)
            except anyio.EndOfStream:
                connection.reader.end_of_stream()
                return
            except _WIRE_ERRORS as exc:
                raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None
            connection.reader.feed(data)
        if scope.cancelled_caught:
            raise TransportFailure("timeout", "no data within the read timeout")

    async def read(self) -> bytes:
        limit = self._limit
        if declared_too_large(self.headers, limit):
            raise too_large(limit or 0)
        parts: list[bytes] = []
        size = 0
        async for piece in self.iter_bytes():
            size += len(piece)
            if limit is not None and size > limit:
                raise too_large(limit)
            parts.append(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def _finish(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if connection.reader.complete and connection.reader.reusable:
            self._pool.put_back(connection)
        else:
            await self._pool.discard(connection)

    async def aclose(self) -> None:
        await self._finish()


class NativeTransport:
    """HTTP/1.1 over anyio (see the module docstring); runs on asyncio and trio."""

    name = "native"
    enforces_total = True

    def __init__(
        self, options: TransportOptions, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        """``ssl_context`` replaces the system's trust (a private CA, a client
        certificate); pass the transport to ``Client(transport=...)``."""
        self._connect_timeout = options.connect_timeout
        self._read_timeout = options.read_timeout
        self._max_bytes = options.max_response_bytes
        self._pool = Pool(options.concurrency, ssl_context)

    @property
    def pool(self) -> Pool:
        return self._pool

    def _timers(self, request: HttpRequest) -> tuple[float | None, float | None, float]:
        """(connect, read, the request's end on the loop's clock)."""
        own = request.timeouts
        if own is None:
            return self._connect_timeout, self._read_timeout, _INF
        connect = own.connect if own.connect is not None else self._connect_timeout
        read = own.read if own.read is not None else self._read_timeout
        cap = _INF if own.total is None else anyio.current_time() + own.total
        return connect, read, cap

    async def _open(
        self, request: HttpRequest, scope: anyio.CancelScope, read: float | None, cap: float
    ) -> Connection:
        """A connection on which the request was sent and the answer's head has arrived
        (with whatever of its body came along), within the caller's ``scope``: its
        deadline is the connect timer's until connected, then the read timer's. A reused
        connection that fails before any byte of an answer (the server closed it as it
        was taken) is replaced by a new one, once."""
        line = request_line(request.url)
        data = request_bytes(request.method, line, request.headers, request.body)
        pool = self._pool
        for _ in range(2):
            connection, reused = await pool.take(line.origin)
            scope.deadline = _deadline(anyio.current_time(), read, cap)
            reader = connection.reader
            got_bytes = False
            try:
                await connection.stream.send(data)
                while not reader.headers_done:
                    try:
                        chunk = await connection.stream.receive(_CHUNK)
                    except anyio.EndOfStream:
                        if reused and not got_bytes:
                            raise _Stale from None
                        reader.end_of_stream()
                        break
                    got_bytes = True
                    reader.feed(chunk)
            except _Stale:
                await pool.discard(connection)
                continue
            except _WIRE_ERRORS as exc:
                await pool.discard(connection)
                if reused and not got_bytes:
                    continue
                raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None
            except BaseException:
                await pool.discard(connection)
                raise
            return connection
        raise TransportFailure("read", "the server closed every connection it was sent on")

    async def send(self, request: HttpRequest) -> HttpResponse:
        connect, read, cap = self._timers(request)
        now = anyio.current_time()
        limit = self._max_bytes
        with anyio.CancelScope(deadline=_deadline(now, connect, cap)) as scope:
            connection = await self._open(request, scope, read, cap)
            reader = connection.reader
            try:
                if limit is not None and declared_too_large(reader.headers, limit):
                    raise too_large(limit)
                size = sum(len(p) for p in reader.pieces)
                stream = connection.stream
                while not reader.complete:
                    if limit is not None and size > limit:
                        raise too_large(limit)
                    scope.deadline = _deadline(anyio.current_time(), read, cap)
                    try:
                        chunk = await stream.receive(_CHUNK)
                    except anyio.EndOfStream:
                        reader.end_of_stream()
                        break
                    before = len(reader.pieces)
                    reader.feed(chunk)
                    size += sum(len(p) for p in reader.pieces[before:])
                if limit is not None and size > limit:
                    raise too_large(limit)
            except _WIRE_ERRORS as exc:
                await self._pool.discard(connection)
                raise TransportFailure("read", f"{type(exc).__name__}: {exc}") from None
            except BaseException:
                await self._pool.discard(connection)
                raise
            pieces = reader.pieces
            response = HttpResponse(
                reader.status,
                reader.headers,
                pieces[0] if len(pieces) == 1 else b"".join(pieces),
            )
            if reader.reusable:
                self._pool.put_back(connection)
            else:
                await self._pool.discard(connection)
            return response
        raise TransportFailure("timeout", "no answer within the timeout")

    async def open_stream(self, request: HttpRequest) -> _NativeStream:
        connect, read, cap = self._timers(request)
        now = anyio.current_time()
        with anyio.CancelScope(deadline=_deadline(now, connect, cap)) as scope:
            connection = await self._open(request, scope, read, cap)
            return _NativeStream(connection, self._pool, read, cap, self._max_bytes)
        raise TransportFailure("timeout", "no answer within the timeout")

    async def aclose(self) -> None:
        await self._pool.aclose()


class _Stale(Exception):
    """A reused connection closed before it answered."""
