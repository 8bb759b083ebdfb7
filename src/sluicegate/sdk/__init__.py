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

__all__ = ["ChainTransport", "http_client"]


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

    Only the async client: sluicegate's core is anyio, and a sync ``httpx.Client`` would
    need a portal thread with its own event loop per client, so that the chain's state
    (limits, circuits) lives in one loop; not built yet.
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
