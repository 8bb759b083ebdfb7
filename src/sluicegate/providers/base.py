"""The provider interface: a pure codec between sluicegate's values and one wire format.

A provider never does I/O. It turns a :class:`Request` into an :class:`HttpRequest`, and a
status, headers and body (or SSE events, one at a time) into a :class:`Response` or stream
events. That keeps a provider one file long, testable with bytes alone, and lets the same
retry, rate-limit and cost stages serve every provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sluicegate.secrets import Secret
from sluicegate.sse import SSEEvent
from sluicegate.transports.base import HttpRequest, HttpResponse, Transport, TransportOptions
from sluicegate.types import Request, Response, StreamEvent

if TYPE_CHECKING:
    from sluicegate.errors import ProviderError


class StreamDecoder(Protocol):
    """Turns one stream's SSE events into stream events; one instance per stream."""

    finished: bool
    """True once the provider's end-of-stream marker was seen (a stream that ends before
    it was cut)."""

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        """Events for one SSE event. Raises ProviderError for an error event in the stream."""
        ...


class Provider(Protocol):
    """A codec for one wire format."""

    name: str

    def encode(self, request: Request) -> HttpRequest:
        """The HTTP message for ``request`` (its ``credential`` already set by auth)."""
        ...

    def decode(self, request: Request, response: HttpResponse) -> Response:
        """A Response from a 2xx answer; raises ResponseFormatError if it is malformed."""
        ...

    def decode_error(self, request: Request, response: HttpResponse) -> ProviderError:
        """The typed error for a non-2xx answer (status, error type, retryable, Retry-After)."""
        ...

    def stream_decoder(self, request: Request) -> StreamDecoder:
        """A fresh decoder for one streamed answer."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """What a user configures for one provider name.

    ``kind`` names the registered codec to use; it defaults to the provider name, and lets
    a user add e.g. ``"deepseek"`` as an OpenAI-compatible provider with its own base URL.
    """

    base_url: str | None = None
    api_key: str | Secret | None = None
    kind: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        key = "set" if self.api_key else "unset"
        return f"ProviderSettings(kind={self.kind!r}, base_url={self.base_url!r}, api_key={key})"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """A provider kind as a plugin registers it.

    ``factory(name, base_url, headers)`` builds the codec once per client (``name`` is the
    name the user gave it, which may differ from the spec's for a compatible server).
    ``api_key_env`` and ``base_url_env`` follow the official SDKs (``OPENAI_API_KEY``...);
    ``needs_key=False`` marks a provider such as the mock, or a local server, that takes no key.
    ``transport_factory``, when given, serves this provider instead of the client's HTTP
    transport (the mock provider answers in memory, without sockets).
    """

    name: str
    factory: Callable[[str, str, Mapping[str, str]], Provider]
    default_base_url: str
    api_key_env: str | None = None
    base_url_env: str | None = None
    needs_key: bool = True
    transport_factory: Callable[[TransportOptions], Transport] | None = None
    description: str = ""


@dataclass(slots=True)
class BoundProvider:
    """A provider as one client uses it: codec, base URL, key and transport, resolved once."""

    name: str
    spec: ProviderSpec
    codec: Provider
    base_url: str
    transport: Transport
    credential: Secret | None = field(default=None, repr=False)
