"""sluicegate: call LLM APIs at volume, on asyncio or trio.

The public API is what ``__all__`` lists; everything else may change between releases.
"""

from sluicegate.breaker import BreakerPolicy, CircuitOpenError
from sluicegate.chain import CallNext, Middleware, MiddlewareSpec, Phase, Reply
from sluicegate.client import ChatStream, Client, FanOutResult
from sluicegate.clock import AnyioClock, Clock, FakeClock
from sluicegate.errors import (
    AuthenticationError,
    BadInputError,
    ConfigError,
    PluginError,
    ProviderError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseFormatError,
    SluicegateError,
    StreamError,
    TransportError,
)
from sluicegate.hookspecs import hookimpl
from sluicegate.limits import Adaptive, Limit, RateLimits, RequestTooLargeError
from sluicegate.logs import configure_logging, redact_secrets
from sluicegate.middleware.deadline import DeadlinePolicy
from sluicegate.middleware.fallback import AllModelsFailedError, FallbackPolicy
from sluicegate.middleware.idempotency import IdempotencyPolicy
from sluicegate.middleware.retry import RetryPolicy
from sluicegate.providers.base import ProviderSettings, ProviderSpec
from sluicegate.secrets import Secret
from sluicegate.streaming import EventStream
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

__version__ = "0.1.0"

__all__ = [
    "Adaptive",
    "AllModelsFailedError",
    "AnyioClock",
    "AuthenticationError",
    "BadInputError",
    "BreakerPolicy",
    "CallNext",
    "ChatStream",
    "CircuitOpenError",
    "Client",
    "Clock",
    "ConfigError",
    "DeadlinePolicy",
    "Done",
    "EventStream",
    "FakeClock",
    "FallbackPolicy",
    "FanOutResult",
    "FinishEvent",
    "IdempotencyPolicy",
    "ImagePart",
    "Limit",
    "Message",
    "Metadata",
    "Middleware",
    "MiddlewareSpec",
    "Params",
    "Phase",
    "PluginError",
    "ProviderError",
    "ProviderSettings",
    "ProviderSpec",
    "RateLimitedError",
    "RateLimits",
    "Reply",
    "Request",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "Response",
    "ResponseFormatError",
    "RetryPolicy",
    "Secret",
    "SluicegateError",
    "StreamError",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "TransportError",
    "Usage",
    "UsageEvent",
    "__version__",
    "configure_logging",
    "hookimpl",
    "redact_secrets",
]
