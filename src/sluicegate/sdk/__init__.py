"""Official SDK code through sluicegate's chain: :func:`http_client`.

Modules, one concept each: :mod:`.summary` (what an SDK request asks, for the stages),
:mod:`.codec` (pass-through codecs that send it as it is and read usage from the answer),
:mod:`.transport` (the ``httpx`` transport that sends through the chain).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal

from sluicegate.sdk.codec import SDK_PLUGIN
from sluicegate.sdk.transport import LIBRARIES, ChainTransport, transport_class

if TYPE_CHECKING:
    from sluicegate.client import Client

__all__ = ["ChainTransport", "http_client", "sync_http_client"]


def http_client(
    client: Client | None = None,
    *,
    library: Literal["httpx", "httpx2"] = "httpx",
    **httpx_options: Any,
) -> Any:
    """An ``httpx.AsyncClient`` whose requests go through ``client``'s chain, for the
    official SDKs::

        async with sluicegate.Client(stage_settings=...) as client:
            sdk = openai.AsyncOpenAI(
                base_url=..., api_key=..., max_retries=0,
                http_client=sluicegate.http_client(client),
            )

    The SDK builds each request and parses each answer as usual; sluicegate limits,
    retries (with one ``Idempotency-Key`` per SDK call, the same on every attempt), and
    counts the usage of chat completions and Anthropic messages in ``client.ledger``.
    Other requests (model lists, files, embeddings...) pass through, limited by request
    count only. A streamed request (``stream=True``) reaches the SDK chunk by chunk, its
    bytes untouched, and its usage is counted when it ends (openai: with
    ``stream_options={"include_usage": True}``); a stream that fails before any text is
    retried unseen (see ``docs/sdk-transport.md``). The SDK's own key header is sent
    unchanged.

    Pass ``max_retries=0`` to the SDK: sluicegate retries already, and an SDK retry on
    top would multiply the attempts (3 x 3 = 9) and send each of its retries as a new
    logical request with a new idempotency key. A request the SDK retries anyway
    (``x-stainless-retry-count`` above 0) makes a ``RuntimeWarning``, once.

    ``client`` None: a ``sluicegate.Client()`` of its own, opened on the first request
    and closed with the returned client. A given ``client`` is the caller's to open and
    close. ``httpx_options`` go to ``httpx.AsyncClient`` (``timeout=``...; the transport
    is sluicegate's, so ``transport=`` is refused).

    ``library``: the HTTP library the SDK takes its client from, which each SDK checks:
    ``"httpx"`` for openai (3.x), ``"httpx2"`` for anthropic (2.x), which refuses an
    ``httpx`` client. The result is that library's ``AsyncClient`` (so typed ``Any``).

    For the synchronous SDK clients (``openai.OpenAI``...), :func:`sync_http_client`.
    """
    from sluicegate.client import Client as _Client
    from sluicegate.errors import ConfigError

    if library not in LIBRARIES:
        raise ConfigError(f"library must be one of {LIBRARIES}, got {library!r}")
    if "transport" in httpx_options:
        raise ConfigError("http_client() sends through sluicegate's chain: no transport=")
    owns = client is None
    chain_client = _Client() if client is None else client
    chain_client.register_plugin(SDK_PLUGIN)
    transport = transport_class(library)(chain_client, owns_client=owns)
    return importlib.import_module(library).AsyncClient(transport=transport, **httpx_options)


def sync_http_client(
    client: Client | None = None,
    *,
    library: Literal["httpx", "httpx2"] = "httpx",
    backend: Literal["asyncio", "trio"] = "asyncio",
    **httpx_options: Any,
) -> Any:
    """An ``httpx.Client`` (synchronous) whose requests go through a sluicegate chain, for
    the synchronous SDK clients::

        http = sluicegate.sync_http_client(sluicegate.Client(stage_settings=...))
        sdk = openai.OpenAI(base_url=..., api_key=..., max_retries=0, http_client=http)
        sdk.chat.completions.create(...)   # plain or stream=True
        http.close()

    The chain runs in an event loop of its own (an anyio blocking portal: a thread with
    a ``backend`` loop); every thread that calls the SDK shares it, so the limits,
    circuits and ledger hold across them. The client (``client``, or a
    ``sluicegate.Client()`` made here) lives in that loop: it is opened there now and
    closed when its last synchronous HTTP client is closed (``close()``, or leaving its
    ``with`` block), so do not open it yourself. Several synchronous HTTP clients of one
    client (openai's and anthropic's) share its loop. Its ledger may be read from any
    thread (``client.ledger.snapshot()``).

    Otherwise as :func:`http_client`: ``max_retries=0`` on the SDK, ``library="httpx2"``
    for anthropic, ``httpx_options`` to ``httpx.Client``.
    """
    from sluicegate.client import Client as _Client
    from sluicegate.errors import ConfigError
    from sluicegate.sdk.sync_transport import sync_transport_class

    if library not in LIBRARIES:
        raise ConfigError(f"library must be one of {LIBRARIES}, got {library!r}")
    if "transport" in httpx_options:
        raise ConfigError("sync_http_client() sends through sluicegate's chain: no transport=")
    if backend not in ("asyncio", "trio"):
        raise ConfigError(f"backend must be 'asyncio' or 'trio', got {backend!r}")
    chain_client = _Client() if client is None else client
    chain_client.register_plugin(SDK_PLUGIN)
    transport = sync_transport_class(library)(chain_client, backend=backend)
    return importlib.import_module(library).Client(transport=transport, **httpx_options)
