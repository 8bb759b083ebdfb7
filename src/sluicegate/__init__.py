"""sluicegate: call LLM APIs at volume, on asyncio or trio.

The public API is what ``__all__`` lists; everything else may change between releases.
Plugin authors have theirs in :mod:`sluicegate.plugins`.
"""

from sluicegate import _moved
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
)

_moved.install()  # old paths of regrouped modules import, with a DeprecationWarning

__version__ = "0.1.0"

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
    "__version__",
    "configure_logging",
    "cost_of",
    "hookimpl",
    "redact_secrets",
]
