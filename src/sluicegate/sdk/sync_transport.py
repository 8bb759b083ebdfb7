"""The synchronous SDK clients (``openai.OpenAI``, ``anthropic.Anthropic``) through the
chain: an ``httpx.BaseTransport`` that runs :class:`~sluicegate.sdk.transport.ChainTransport`
in an event loop of its own.

sluicegate's chain is async and its state (rate limits, circuits, the ledger, open
connections) belongs to one event loop. A synchronous SDK has no loop, and may call from
several threads at once, so the transport starts one: an anyio blocking portal, a thread
running an asyncio (or trio) loop, made when the HTTP client is made and stopped when it
is closed. Every request is handed to that loop (``portal.call``) and waits there for its
turn in the rate limiter like any other; a streamed answer's body is read from the loop
chunk by chunk, as the SDK iterates it. The chain's client lives in that loop
(:class:`ChainLoop`): opened there when the first HTTP client for it is made, closed
when the last is, so it must not be opened elsewhere.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
from anyio.from_thread import BlockingPortal

from sluicegate.sdk.transport import ChainTransport, on_library, transport_class

if TYPE_CHECKING:
    from sluicegate.client import Client


class SyncChainTransport:
    """Sends each request of a synchronous HTTP client through ``client``'s chain, run
    in a loop of its own (see the module docstring); ``_lib`` is the HTTP library, whose
    ``BaseTransport`` :func:`sync_transport_class` adds."""

    _lib: Any

    def __init__(self, client: Client, *, backend: str = "asyncio") -> None:
        self._loop: ChainLoop | None = ChainLoop.join(client, backend)
        self._inner: ChainTransport = transport_class(self._lib.__name__)(client, owns_client=False)

    def __repr__(self) -> str:
        return f"<sluicegate SyncChainTransport {self._inner!r}>"

    def _portal(self) -> BlockingPortal:
        loop = self._loop
        if loop is None:
            from sluicegate.errors import ConfigError

            raise ConfigError("this sluicegate HTTP client is closed")
        return loop.portal

    def handle_request(self, request: Any) -> Any:
        portal = self._portal()
        request.read()  # (the async transport then reads the same bytes with aread())
        response = portal.call(self._inner.handle_async_request, request)
        stream = response.stream
        if isinstance(stream, self._lib.SyncByteStream):  # a whole body: readable as it is
            return response
        body = on_library(_SyncBody, self._lib.__name__, "SyncByteStream")(portal, stream)
        return self._lib.Response(
            response.status_code, headers=response.headers, stream=body, request=request
        )

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.leave()


class ChainLoop:
    """The loop one client's chain runs in for the synchronous HTTP clients: an anyio
    blocking portal (a thread running the loop), with the client opened in it. Every
    synchronous HTTP client made for the same client shares it (openai's and anthropic's
    alike, so one ledger and one set of limits hold for both); the last one closed closes
    the client and stops the loop."""

    _loops: ClassVar[dict[int, ChainLoop]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, client: Client, backend: str) -> None:
        self.client = client
        self.backend = backend
        self.users = 0
        self.portal, self._thread = _start_portal(backend)
        try:
            self.portal.call(client.__aenter__)
        except BaseException:
            self._stop()
            raise

    @classmethod
    def join(cls, client: Client, backend: str) -> ChainLoop:
        """The client's loop, started (and the client opened in it) for its first user."""
        with cls._lock:
            loop = cls._loops.get(id(client))
            if loop is None:
                loop = cls(client, backend)
                cls._loops[id(client)] = loop
            elif loop.backend != backend:
                from sluicegate.errors import ConfigError

                raise ConfigError(
                    f"this sluicegate Client already runs on {loop.backend}, not {backend}: "
                    "its synchronous HTTP clients share one loop"
                )
            loop.users += 1
            return loop

    def leave(self) -> None:
        """One user is done; the last closes the client and stops the loop."""
        with self._lock:
            self.users -= 1
            if self.users:
                return
            del self._loops[id(self.client)]
        self._close()

    def _close(self) -> None:
        try:
            self.portal.call(self.client.aclose)
        finally:
            self._stop()

    def _stop(self) -> None:
        with contextlib.suppress(RuntimeError):  # (already stopped)
            self.portal.call(self.portal.stop, True)
        self._thread.join()

    @classmethod
    def close_all(cls) -> None:
        """At interpreter exit: close the clients of HTTP clients nobody closed (their
        loops run in daemon threads, still alive when ``atexit`` runs), so their
        connections and stores are closed, not dropped."""
        with cls._lock:
            loops = list(cls._loops.values())
            cls._loops.clear()
        for loop in loops:
            with contextlib.suppress(Exception):  # (exiting: nobody left to tell)
                loop._close()


def _start_portal(backend: str) -> tuple[BlockingPortal, threading.Thread]:
    """A blocking portal in a daemon thread of its own running a ``backend`` loop.

    Not ``anyio.from_thread.start_blocking_portal``: that is a context manager, and one
    left open (an HTTP client never closed) is finalised at interpreter exit by a
    ``portal.call`` into a loop that no longer runs, which hangs the exit."""
    ready: Future[BlockingPortal] = Future()

    async def serve() -> None:
        async with BlockingPortal() as portal:
            ready.set_result(portal)
            await portal.sleep_until_stopped()

    def run() -> None:
        try:
            anyio.run(serve, backend=backend)
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)

    thread = threading.Thread(target=run, name=f"sluicegate-sync-{backend}", daemon=True)
    thread.start()
    return ready.result(), thread


atexit.register(ChainLoop.close_all)


class _SyncBody:
    """A streamed body read, chunk by chunk, from the loop it arrives in."""

    def __init__(self, portal: BlockingPortal, stream: Any) -> None:
        self._portal = portal
        self._stream = stream
        self._chunks: Any = None  # (the async body's iterator, once iterating)

    def __iter__(self) -> Iterator[bytes]:
        self._chunks = self._stream.__aiter__()
        while True:
            chunk = self._portal.call(_next, self._chunks)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        self._portal.call(self._aclose)

    async def _aclose(self) -> None:
        chunks, self._chunks = self._chunks, None
        try:
            if chunks is not None:
                await chunks.aclose()
        finally:
            await self._stream.aclose()


async def _next(chunks: AsyncIterator[bytes]) -> bytes | None:
    """The next chunk, or None at the end (an exception would not cross the portal as
    the end of an iteration)."""
    try:
        return await chunks.__anext__()
    except StopAsyncIteration:
        return None


def sync_transport_class(library: str) -> type[SyncChainTransport]:
    """:class:`SyncChainTransport` as a ``BaseTransport`` of ``library``."""
    return on_library(SyncChainTransport, library, "BaseTransport")
