"""Transports: how HTTP messages leave the process (httpx2, aiohttp, a user's httpx
client, the native one, or in memory). :func:`make_transport` picks the native one (the
fastest on both loops) unless the user chose, or httpx2 when a proxy is configured.

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


def _proxy_configured() -> bool:
    """Whether the environment names an HTTP(S) proxy (``HTTPS_PROXY``, ``ALL_PROXY``...,
    read as urllib reads them): the native transport speaks to servers directly, httpx2
    through the proxy, as httpx-based SDKs do."""
    import urllib.request

    proxies = urllib.request.getproxies_environment()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


def make_transport(
    choice: str | Transport, options: TransportOptions, *, http_client: Any = None
) -> Transport:
    """The transport for ``choice``. ``"auto"`` is the native one on asyncio and trio, the
    fastest measured on both (bench/http_clients.py), or httpx2 when the environment
    names a proxy (the native transport speaks to servers directly)."""
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
        choice = "httpx2" if _proxy_configured() else "native"
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
