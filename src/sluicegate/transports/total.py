"""The whole-exchange bound (``RequestTimeouts.total``) for transports without one.

A request's deadline reaches its transport as ``timeouts.total``, the seconds left for
the attempt. aiohttp and the in-memory transport bound an exchange with a timer of their
own; a transport that has none (httpx2, whose timeouts are per operation; a plugin's or
a user's) is wrapped here once, when the client binds it, and the bound is kept with an
anyio cancel scope around the send, and around each read of a streamed body. Without it
a server that drips one byte a second would hold an attempt past any deadline, since
the per-gap read timer never fires.

A request without a ``total`` (no deadline, or a batch API's call) is passed through
untouched, for the price of one attribute read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import anyio

from sluicegate.transports.base import (
    HttpRequest,
    HttpResponse,
    HttpStream,
    Transport,
    TransportFailure,
)


def enforces_total(transport: Transport) -> bool:
    """Whether ``transport`` bounds a whole exchange by ``timeouts.total`` itself."""
    return getattr(transport, "enforces_total", False) is True


def bounded(transport: Transport) -> Transport:
    """``transport`` itself if it keeps ``timeouts.total``, else a :class:`TotalBound`
    over it."""
    return transport if enforces_total(transport) else TotalBound(transport)


def _past(total: float) -> TransportFailure:
    return TransportFailure("timeout", f"the exchange passed its {total:.3g}s total")


class TotalBound:
    """``inner`` with ``timeouts.total`` kept by cancel scopes (see the module's doc)."""

    __slots__ = ("inner", "name")
    enforces_total = True

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.name = inner.name

    async def send(self, request: HttpRequest) -> HttpResponse:
        timeouts = request.timeouts
        total = timeouts.total if timeouts is not None else None
        if total is None:
            return await self.inner.send(request)
        with anyio.move_on_after(total):
            return await self.inner.send(request)
        raise _past(total)

    async def open_stream(self, request: HttpRequest) -> HttpStream:
        timeouts = request.timeouts
        total = timeouts.total if timeouts is not None else None
        if total is None:
            return await self.inner.open_stream(request)
        end = anyio.current_time() + total
        with anyio.CancelScope(deadline=end):
            return _BoundStream(await self.inner.open_stream(request), end, total)
        raise _past(total)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __repr__(self) -> str:
        return f"TotalBound({self.inner!r})"


class _BoundStream:
    """A streamed body whose every read must end by ``end`` (the loop's clock): a cancel
    scope cannot stay open across the caller's reads, so each read has its own."""

    __slots__ = ("_end", "_inner", "_total", "headers", "status")

    def __init__(self, inner: HttpStream, end: float, total: float) -> None:
        self._inner = inner
        self._end = end
        self._total = total
        self.status = inner.status
        self.headers: Mapping[str, str] = inner.headers

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        chunks = self._inner.iter_bytes()
        try:
            while True:
                # a read past the bound fails even if it would not wait, as with aiohttp
                if anyio.current_time() >= self._end:
                    raise _past(self._total)
                with anyio.CancelScope(deadline=self._end) as scope:
                    try:
                        chunk = await chunks.__anext__()
                    except StopAsyncIteration:
                        return
                if scope.cancelled_caught:
                    raise _past(self._total)
                yield chunk
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()

    async def read(self) -> bytes:
        with anyio.CancelScope(deadline=self._end):
            return await self._inner.read()
        raise _past(self._total)

    async def aclose(self) -> None:
        await self._inner.aclose()


__all__ = ["TotalBound", "bounded", "enforces_total"]
