"""sluicegate: call LLM APIs at volume, on asyncio or trio.

The public API is what ``__all__`` lists; everything else may change between releases.
"""

from sluicegate.chain import CallNext, Middleware, MiddlewareSpec, Phase, Reply
from sluicegate.client import ChatStream, Client, FanOutResult
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
from sluicegate.logs import configure_logging, redact_secrets
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
    "AuthenticationError",
    "BadInputError",
    "CallNext",
    "ChatStream",
    "Client",
    "ConfigError",
    "Done",
    "EventStream",
    "FanOutResult",
    "FinishEvent",
    "ImagePart",
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
    "Reply",
    "Request",
    "RequestTimeoutError",
    "Response",
    "ResponseFormatError",
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
