"""sluicegate: call LLM APIs at volume, on asyncio or trio.

The public API is what ``__all__`` lists; everything else may change between releases.
Plugin authors have theirs in :mod:`sluicegate.plugins`.

Names are imported when first used (PEP 562's module ``__getattr__``): ``import
sluicegate`` costs a few milliseconds, and ``sluicegate.Client`` loads the client and
what it needs, not the batch API, the bulk runner or the transports, which load when a
client first uses them (``tests/test_import_cost.py`` guards it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sluicegate import _moved

if TYPE_CHECKING:
    from sluicegate.batch import BatchApiSpec, BatchJob, BatchLimits, JobState
    from sluicegate.breaker import BreakerPolicy, CircuitOpenError
    from sluicegate.bulk import BulkMap, MapResult, ModelUnavailableError
    from sluicegate.chain import CallNext, Middleware, MiddlewareSpec, Phase, Reply
    from sluicegate.client import ChatStream, Client, FanOutResult
    from sluicegate.clock import AnyioClock, Clock, FakeClock
    from sluicegate.cost.budget import Budget
    from sluicegate.cost.ledger import Ledger, LedgerSnapshot, Totals
    from sluicegate.cost.prices import ModelPrice, PriceList, PriceTable
    from sluicegate.cost.rates import cost_of
    from sluicegate.cost.stage import CostPolicy
    from sluicegate.errors import (
        AuthenticationError,
        BadInputError,
        BatchItemError,
        BatchUnsupportedError,
        BudgetExceededError,
        ConfigError,
        ContentBlockedError,
        PluginError,
        ProviderError,
        RateLimitedError,
        RequestTimeoutError,
        ResponseFormatError,
        ResponseTooLargeError,
        SluicegateError,
        StreamError,
        StructuredAnswerError,
        TransportError,
        UnknownPriceError,
    )
    from sluicegate.limits import Adaptive, Limit, RateLimits, RequestTooLargeError
    from sluicegate.logs import configure_logging, redact_secrets
    from sluicegate.middleware.deadline import DeadlinePolicy
    from sluicegate.middleware.fallback import AllModelsFailedError, FallbackPolicy
    from sluicegate.middleware.idempotency import IdempotencyPolicy
    from sluicegate.plugins.hookspecs import hookimpl
    from sluicegate.providers.base import ProviderSettings, ProviderSpec
    from sluicegate.retry.stage import RetryPolicy
    from sluicegate.sdk import http_client, sync_http_client
    from sluicegate.secrets import Secret
    from sluicegate.stores import RedisStore, StoreUnavailableError
    from sluicegate.streaming import EventStream
    from sluicegate.structured.stage import StructuredPolicy
    from sluicegate.types import (
        Done,
        FinishEvent,
        ImagePart,
        Message,
        Metadata,
        Params,
        Request,
        Response,
        StreamEvent,
        TextDelta,
        TextPart,
        Tool,
        ToolCall,
        ToolCallDelta,
        Usage,
        UsageEvent,
        WireChunk,
    )

_moved.install()  # old paths of regrouped modules import, with a DeprecationWarning

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Adaptive": "sluicegate.limits",
    "AllModelsFailedError": "sluicegate.middleware.fallback",
    "AnyioClock": "sluicegate.clock",
    "AuthenticationError": "sluicegate.errors",
    "BadInputError": "sluicegate.errors",
    "BatchApiSpec": "sluicegate.batch",
    "BatchItemError": "sluicegate.errors",
    "BatchJob": "sluicegate.batch",
    "BatchLimits": "sluicegate.batch",
    "BatchUnsupportedError": "sluicegate.errors",
    "BreakerPolicy": "sluicegate.breaker",
    "Budget": "sluicegate.cost.budget",
    "BudgetExceededError": "sluicegate.errors",
    "BulkMap": "sluicegate.bulk",
    "CallNext": "sluicegate.chain",
    "ChatStream": "sluicegate.client",
    "CircuitOpenError": "sluicegate.breaker",
    "Client": "sluicegate.client",
    "Clock": "sluicegate.clock",
    "ConfigError": "sluicegate.errors",
    "ContentBlockedError": "sluicegate.errors",
    "CostPolicy": "sluicegate.cost.stage",
    "DeadlinePolicy": "sluicegate.middleware.deadline",
    "Done": "sluicegate.types",
    "EventStream": "sluicegate.streaming",
    "FakeClock": "sluicegate.clock",
    "FallbackPolicy": "sluicegate.middleware.fallback",
    "FanOutResult": "sluicegate.client",
    "FinishEvent": "sluicegate.types",
    "IdempotencyPolicy": "sluicegate.middleware.idempotency",
    "ImagePart": "sluicegate.types",
    "JobState": "sluicegate.batch",
    "Ledger": "sluicegate.cost.ledger",
    "LedgerSnapshot": "sluicegate.cost.ledger",
    "Limit": "sluicegate.limits",
    "MapResult": "sluicegate.bulk",
    "Message": "sluicegate.types",
    "Metadata": "sluicegate.types",
    "Middleware": "sluicegate.chain",
    "MiddlewareSpec": "sluicegate.chain",
    "ModelPrice": "sluicegate.cost.prices",
    "ModelUnavailableError": "sluicegate.bulk",
    "Params": "sluicegate.types",
    "Phase": "sluicegate.chain",
    "PluginError": "sluicegate.errors",
    "PriceList": "sluicegate.cost.prices",
    "PriceTable": "sluicegate.cost.prices",
    "ProviderError": "sluicegate.errors",
    "ProviderSettings": "sluicegate.providers.base",
    "ProviderSpec": "sluicegate.providers.base",
    "RateLimitedError": "sluicegate.errors",
    "RateLimits": "sluicegate.limits",
    "RedisStore": "sluicegate.stores",
    "Reply": "sluicegate.chain",
    "Request": "sluicegate.types",
    "RequestTimeoutError": "sluicegate.errors",
    "RequestTooLargeError": "sluicegate.limits",
    "Response": "sluicegate.types",
    "ResponseFormatError": "sluicegate.errors",
    "ResponseTooLargeError": "sluicegate.errors",
    "RetryPolicy": "sluicegate.retry.stage",
    "Secret": "sluicegate.secrets",
    "SluicegateError": "sluicegate.errors",
    "StoreUnavailableError": "sluicegate.stores",
    "StreamError": "sluicegate.errors",
    "StreamEvent": "sluicegate.types",
    "StructuredAnswerError": "sluicegate.errors",
    "StructuredPolicy": "sluicegate.structured.stage",
    "TextDelta": "sluicegate.types",
    "TextPart": "sluicegate.types",
    "Tool": "sluicegate.types",
    "ToolCall": "sluicegate.types",
    "ToolCallDelta": "sluicegate.types",
    "Totals": "sluicegate.cost.ledger",
    "TransportError": "sluicegate.errors",
    "UnknownPriceError": "sluicegate.errors",
    "Usage": "sluicegate.types",
    "UsageEvent": "sluicegate.types",
    "WireChunk": "sluicegate.types",
    "configure_logging": "sluicegate.logs",
    "cost_of": "sluicegate.cost.rates",
    "hookimpl": "sluicegate.plugins.hookspecs",
    "http_client": "sluicegate.sdk",
    "sync_http_client": "sluicegate.sdk",
    "redact_secrets": "sluicegate.logs",
}
"""Each public name and the module it comes from (the same as the imports above, which
are for type checkers; a test keeps the two equal)."""


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sluicegate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "Adaptive",
    "AllModelsFailedError",
    "AnyioClock",
    "AuthenticationError",
    "BadInputError",
    "BatchApiSpec",
    "BatchItemError",
    "BatchJob",
    "BatchLimits",
    "BatchUnsupportedError",
    "BreakerPolicy",
    "Budget",
    "BudgetExceededError",
    "BulkMap",
    "CallNext",
    "ChatStream",
    "CircuitOpenError",
    "Client",
    "Clock",
    "ConfigError",
    "ContentBlockedError",
    "CostPolicy",
    "DeadlinePolicy",
    "Done",
    "EventStream",
    "FakeClock",
    "FallbackPolicy",
    "FanOutResult",
    "FinishEvent",
    "IdempotencyPolicy",
    "ImagePart",
    "JobState",
    "Ledger",
    "LedgerSnapshot",
    "Limit",
    "MapResult",
    "Message",
    "Metadata",
    "Middleware",
    "MiddlewareSpec",
    "ModelPrice",
    "ModelUnavailableError",
    "Params",
    "Phase",
    "PluginError",
    "PriceList",
    "PriceTable",
    "ProviderError",
    "ProviderSettings",
    "ProviderSpec",
    "RateLimitedError",
    "RateLimits",
    "RedisStore",
    "Reply",
    "Request",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "Response",
    "ResponseFormatError",
    "ResponseTooLargeError",
    "RetryPolicy",
    "Secret",
    "SluicegateError",
    "StoreUnavailableError",
    "StreamError",
    "StreamEvent",
    "StructuredAnswerError",
    "StructuredPolicy",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Totals",
    "TransportError",
    "UnknownPriceError",
    "Usage",
    "UsageEvent",
    "WireChunk",
    "__version__",
    "configure_logging",
    "cost_of",
    "hookimpl",
    "http_client",
    "redact_secrets",
    "sync_http_client",
]
