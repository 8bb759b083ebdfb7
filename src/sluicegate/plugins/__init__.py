"""The plugin author's module: everything a provider, middleware, batch-API, price or
observer plugin needs, and nothing it should not depend on.

A plugin is a module or object with :func:`hookimpl`-marked functions (the hooks are in
:mod:`~sluicegate.plugins.hookspecs`), registered through the ``sluicegate`` entry-point
group or ``Client(plugins=[...])``. See docs/plugins.md.

- **Providers**: :class:`ProviderSpec` (how a kind is built and found), the
  :class:`Provider` codec protocol and its :class:`StreamDecoder`; the codec encodes the
  body, URL and its own protocol headers (the credential, ``Idempotency-Key`` and caller
  headers are the dispatcher's; :class:`CredentialHeader` says how the key is written);
  :class:`HttpRequest`, :class:`HttpResponse`, :class:`SSEEvent` are what it turns
  requests and answers into and from; the typed reads (:func:`parse_json`,
  :func:`mapping`, :func:`array`, :func:`text`, :func:`index`, :func:`token_count`,
  raising :class:`MalformedField`; :data:`UNEXPECTED_SHAPE` for the decoder's boundary)
  and :func:`error_for_status`, :func:`malformed_answer`, :func:`excerpt` turn a
  malformed or failed answer into a typed error. :data:`ContentPart` is the union a
  message's parts are read as.
- **Middleware**: :class:`MiddlewareSpec`, :class:`Phase`, :class:`ChainContext`,
  :class:`Middleware`, :class:`CallNext`, :class:`Reply`, :class:`EventStream`, and
  :func:`stage_policy` to read a stage's settings by the rules every stage follows.
- **Transports**: :class:`Transport`, :class:`HttpStream`, :class:`TransportFailure`, and
  :class:`TransportOptions` (what a ``ProviderSpec.transport_factory`` is called with).
- **Batch APIs**: :class:`BatchApiSpec`, :class:`BatchApi`, :class:`BatchBinding`,
  :class:`BatchLimits`, :class:`BatchJob`, :class:`JobState`, :class:`JobCounts`,
  :class:`BatchOutcome`, :class:`ResultStream`, :data:`RequestLookup`, and
  :class:`BatchHttp`, :class:`LineResults` for the HTTP and the JSONL results.
- **Prices**: :class:`ModelPrice`, and :class:`PriceList` for a dated list of them.
  **Observers**: :class:`RequestFinished`, :class:`AttemptFailed`.

User-facing names (errors such as :class:`~sluicegate.ProviderError`, the request and
response types, :class:`~sluicegate.Secret`) are imported from :mod:`sluicegate` itself.

Names load when first used, so ``import sluicegate`` does not pay for the batch helpers.
The module paths behind them may change between releases; these names do not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sluicegate.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from sluicegate.batch.api import (
        BatchApi,
        BatchApiSpec,
        BatchBinding,
        BatchJob,
        BatchLimits,
        BatchOutcome,
        JobCounts,
        JobState,
        RequestLookup,
        ResultStream,
    )
    from sluicegate.batch.http import BatchHttp, LineResults
    from sluicegate.chain import CallNext, ChainContext, Middleware, MiddlewareSpec, Phase, Reply
    from sluicegate.cost.prices import ModelPrice, PriceList
    from sluicegate.observers import AttemptFailed, RequestFinished
    from sluicegate.providers.base import (
        CredentialHeader,
        Provider,
        ProviderSettings,
        ProviderSpec,
        StreamDecoder,
    )
    from sluicegate.providers.checks import (
        MAX_TOKEN_COUNT,
        UNEXPECTED_SHAPE,
        MalformedField,
        array,
        describe,
        index,
        mapping,
        parse_json,
        text,
        token_count,
    )
    from sluicegate.providers.http_errors import error_for_status, excerpt, malformed_answer
    from sluicegate.sse import SSEEvent
    from sluicegate.stage_settings import stage_policy
    from sluicegate.streaming import EventStream
    from sluicegate.structured.schema import AnswerSchema
    from sluicegate.transports.base import (
        HttpRequest,
        HttpResponse,
        HttpStream,
        Transport,
        TransportFailure,
        TransportOptions,
    )
    from sluicegate.types import ContentPart

_WHERE: dict[str, str] = {
    **dict.fromkeys(
        (
            "BatchApi",
            "BatchApiSpec",
            "BatchBinding",
            "BatchJob",
            "BatchLimits",
            "BatchOutcome",
            "JobCounts",
            "JobState",
            "RequestLookup",
            "ResultStream",
        ),
        "sluicegate.batch.api",
    ),
    **dict.fromkeys(("BatchHttp", "LineResults"), "sluicegate.batch.http"),
    **dict.fromkeys(
        ("CallNext", "ChainContext", "Middleware", "MiddlewareSpec", "Phase", "Reply"),
        "sluicegate.chain",
    ),
    **dict.fromkeys(("ModelPrice", "PriceList"), "sluicegate.cost.prices"),
    **dict.fromkeys(("AttemptFailed", "RequestFinished"), "sluicegate.observers"),
    **dict.fromkeys(
        ("CredentialHeader", "Provider", "ProviderSettings", "ProviderSpec", "StreamDecoder"),
        "sluicegate.providers.base",
    ),
    **dict.fromkeys(
        (
            "MAX_TOKEN_COUNT",
            "UNEXPECTED_SHAPE",
            "MalformedField",
            "array",
            "describe",
            "index",
            "mapping",
            "parse_json",
            "text",
            "token_count",
        ),
        "sluicegate.providers.checks",
    ),
    **dict.fromkeys(
        ("error_for_status", "excerpt", "malformed_answer"), "sluicegate.providers.http_errors"
    ),
    "SSEEvent": "sluicegate.sse",
    "AnswerSchema": "sluicegate.structured.schema",
    "stage_policy": "sluicegate.stage_settings",
    "EventStream": "sluicegate.streaming",
    **dict.fromkeys(
        (
            "HttpRequest",
            "HttpResponse",
            "HttpStream",
            "Transport",
            "TransportFailure",
            "TransportOptions",
        ),
        "sluicegate.transports.base",
    ),
    "ContentPart": "sluicegate.types",
}

__all__ = [
    "MAX_TOKEN_COUNT",
    "UNEXPECTED_SHAPE",
    "AnswerSchema",
    "AttemptFailed",
    "BatchApi",
    "BatchApiSpec",
    "BatchBinding",
    "BatchHttp",
    "BatchJob",
    "BatchLimits",
    "BatchOutcome",
    "CallNext",
    "ChainContext",
    "ContentPart",
    "CredentialHeader",
    "EventStream",
    "HttpRequest",
    "HttpResponse",
    "HttpStream",
    "JobCounts",
    "JobState",
    "LineResults",
    "MalformedField",
    "Middleware",
    "MiddlewareSpec",
    "ModelPrice",
    "Phase",
    "PriceList",
    "Provider",
    "ProviderSettings",
    "ProviderSpec",
    "Reply",
    "RequestFinished",
    "RequestLookup",
    "ResultStream",
    "SSEEvent",
    "StreamDecoder",
    "Transport",
    "TransportFailure",
    "TransportOptions",
    "array",
    "describe",
    "error_for_status",
    "excerpt",
    "hookimpl",
    "index",
    "malformed_answer",
    "mapping",
    "parse_json",
    "stage_policy",
    "text",
    "token_count",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'sluicegate.plugins' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return __all__
