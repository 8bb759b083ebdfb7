"""Transports: how HTTP messages leave the process (httpx2, aiohttp, a user's httpx
client, or in memory). :func:`make_transport` picks the fastest one for the running event
loop unless the user chose.

- ``base``: the interface (:class:`Transport`, :class:`HttpRequest`, the timers);
- ``aiohttp``, ``httpx_client``, ``native``, ``memory``: the transports (``native``:
  HTTP/1.1 over anyio streams with httptools' parser);
- ``total``: the deadline's whole-exchange bound for a transport without its own.
"""

from __future__ import annotations

from typing import Any

from sluicegate.errors import ConfigError
from sluicegate.transports.base import (
    HttpRequest,
    HttpResponse,
    HttpStream,
    RequestTimeouts,
    Transport,
    TransportFailure,
    TransportOptions,
)

TRANSPORT_NAMES = ("auto", "aiohttp", "httpx2", "native")


def current_backend() -> str:
    """``"asyncio"`` or ``"trio"``: the event loop running this code."""
    import sniffio

    return sniffio.current_async_library()


def make_transport(
    choice: str | Transport, options: TransportOptions, *, http_client: Any = None
) -> Transport:
    """The transport for ``choice``; ``"auto"`` is aiohttp on asyncio and httpx2 on trio,
    the fastest measured on each (shared/PERF-BASELINES.md)."""
    from sluicegate.transports.httpx_client import HttpxTransport

    if http_client is not None:
        # the caller's client keeps the caller's timeouts, proxies and hooks
        return HttpxTransport(
            http_client,
            owns_client=False,
            name="user-httpx",
            max_response_bytes=options.max_response_bytes,
        )
    if not isinstance(choice, str):
        return choice
    backend = current_backend()
    if choice == "auto":
        choice = "aiohttp" if backend == "asyncio" else "httpx2"
    if choice == "aiohttp":
        if backend != "asyncio":
            raise ConfigError(f"transport 'aiohttp' needs asyncio, but this runs on {backend}")
        from sluicegate.transports.aiohttp import AiohttpTransport

        return AiohttpTransport(options)
    if choice == "httpx2":
        return HttpxTransport.httpx2(options)
    if choice == "native":
        from sluicegate.transports.native import NativeTransport

        return NativeTransport(options)
    raise ConfigError(f"unknown transport {choice!r}; choose one of {', '.join(TRANSPORT_NAMES)}")


__all__ = [
    "HttpRequest",
    "HttpResponse",
    "HttpStream",
    "RequestTimeouts",
    "Transport",
    "TransportFailure",
    "TransportOptions",
    "make_transport",
]
