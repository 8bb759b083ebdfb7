"""Connections and the pool that keeps them: one anyio byte stream per connection (TCP,
or TLS over it), reused while the server keeps it open.

A connection is taken from its origin's idle list most-recently-used first; one idle
for longer than the keep-alive time, or whose socket is readable while idle (the server
closed it, or sent bytes nobody asked for), is closed instead of reused. The pool holds
at most ``limit`` connections in use at once; taking a free slot costs no checkpoint.
"""

from __future__ import annotations

import select
import socket
import ssl
from typing import Final

import anyio
import anyio.abc
from anyio.abc import SocketAttribute

from sluicegate.transports.base import TransportFailure
from sluicegate.transports.native.http11 import Origin, ResponseReader

__all__ = ["Connection", "Pool"]

KEEPALIVE_S: Final = 30.0
"""How long an idle connection is kept: shorter than the idle timeouts of the servers in
front of the APIs (60 s and more), as aiohttp's default is."""


class Connection:
    """One HTTP/1.1 connection and the parser of its responses."""

    __slots__ = ("_socket", "idle_since", "origin", "reader", "stream")

    def __init__(self, stream: anyio.abc.ByteStream, origin: Origin) -> None:
        self.stream = stream
        self.origin = origin
        self.reader = ResponseReader()
        self.idle_since = 0.0
        raw = stream.extra(SocketAttribute.raw_socket, None)
        self._socket: socket.socket | None = raw
        if raw is not None and raw.family in (socket.AF_INET, socket.AF_INET6):
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def looks_closed(self) -> bool:
        """Whether the idle socket has something to read: an idle HTTP/1.1 connection
        never should, so the server closed it (EOF) or broke the protocol."""
        raw = self._socket
        if raw is None:
            return False
        try:
            readable, _, _ = select.select([raw], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    async def close(self) -> None:
        """Close at once, without waiting for the peer (TLS's close_notify included)."""
        with anyio.CancelScope(shield=True):
            await anyio.aclose_forcefully(self.stream)


class Pool:
    """Idle connections per origin, and the bound on connections in use."""

    __slots__ = ("_idle", "_slots", "_tls")

    def __init__(self, limit: int, tls: ssl.SSLContext | None = None) -> None:
        self._idle: dict[Origin, list[Connection]] = {}
        self._slots = anyio.Semaphore(limit, fast_acquire=True)
        self._tls = tls

    def _tls_context(self) -> ssl.SSLContext:
        """The context given, else the system's trusted certificates (``SSL_CERT_FILE`` and
        ``SSL_CERT_DIR`` honoured), HTTP/1.1 by ALPN, made at the first https origin."""
        if self._tls is None:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls

    async def take(self, origin: Origin) -> tuple[Connection, bool]:
        """A connection to ``origin`` and whether it was reused; holds a slot until
        :meth:`put_back` or :meth:`discard`. Connecting is bounded by the caller's scope."""
        await self._slots.acquire()
        try:
            idle = self._idle.get(origin)
            if idle:
                now = anyio.current_time()
                while idle:
                    connection = idle.pop()
                    if now - connection.idle_since < KEEPALIVE_S and not connection.looks_closed():
                        return connection, True
                    await connection.close()
            return await self._connect(origin), False
        except BaseException:
            self._slots.release()
            raise

    async def _connect(self, origin: Origin) -> Connection:
        scheme, host, port = origin
        try:
            if scheme == "https":
                stream: anyio.abc.ByteStream = await anyio.connect_tcp(
                    host,
                    port,
                    ssl_context=self._tls_context(),
                    tls_hostname=host,
                    tls_standard_compatible=False,
                )
            else:
                stream = await anyio.connect_tcp(host, port)
        except OSError as exc:  # refused, unreachable, name not found, TLS handshake
            raise TransportFailure("connect", f"{type(exc).__name__}: {exc}") from None
        return Connection(stream, origin)

    @property
    def idle_count(self) -> int:
        """Connections kept for reuse, every origin's."""
        return sum(len(connections) for connections in self._idle.values())

    def put_back(self, connection: Connection) -> None:
        """Give back a connection whose answer was read to its end."""
        self._slots.release()
        connection.reader.next_response()
        connection.idle_since = anyio.current_time()
        self._idle.setdefault(connection.origin, []).append(connection)

    async def discard(self, connection: Connection) -> None:
        """Close a connection that cannot be reused, and free its slot."""
        self._slots.release()
        await connection.close()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await connection.close()
