"""The provider interface: a pure codec between sluicegate's values and one wire format.

A provider never does I/O. It turns a :class:`Request` into an :class:`HttpRequest`, and a
status, headers and body (or SSE events, one at a time) into a :class:`Response` or stream
events. That keeps a provider one file long, testable with bytes alone, and lets the same
retry, rate-limit and cost stages serve every provider.

What every provider sends alike (the API key, ``Idempotency-Key``, the caller's
``metadata.headers``) is not the codec's to write: the dispatcher adds it after
:meth:`Provider.encode`, so a codec cannot forget one and silently break auth or
idempotency. Only *how* the key is written differs between APIs; a provider declares that
with :class:`CredentialHeader` on its :class:`ProviderSpec`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sluicegate.errors import ConfigError
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
    """A codec for one wire format.

    ``encode`` writes the URL, the body and the wire format's own headers only
    (``content-type``, ``accept`` for a stream, a version header such as
    ``anthropic-version``, and the ``ProviderSettings.headers`` its factory was given).
    It does not write the API key, ``Idempotency-Key`` or the caller's
    ``metadata.headers``: the dispatcher adds those to every attempt after ``encode``,
    in that order (the caller's headers last, so they win), writing the key as the
    spec's :class:`CredentialHeader` says and only when the request carries one (a
    keyless local server gets none). The dispatcher copies the headers before adding to
    them, so a codec may return the same mapping for every request.
    """

    name: str

    def encode(self, request: Request) -> HttpRequest:
        """The HTTP message for ``request``: URL, body and protocol headers (see above)."""
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


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""An HTTP header name or auth scheme (RFC 9110 ``token``)."""


@dataclass(frozen=True, slots=True)
class CredentialHeader:
    """How a provider's API wants its key: in header ``name``, as ``"<scheme> <key>"``, or
    the bare key when ``scheme`` is None.

    The default is OpenAI's ``Authorization: Bearer <key>``, which most APIs and
    compatible servers take; Anthropic's is ``CredentialHeader("x-api-key", scheme=None)``.
    The name (made lower case) and the text before the key are fixed here, once per
    provider kind, so writing the key on an attempt is one concatenation. The key itself
    is never held here, so this is safe to print.
    """

    name: str = "authorization"
    scheme: str | None = "Bearer"
    _prefix: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _TOKEN.fullmatch(self.name):
            raise ConfigError(
                f"CredentialHeader name {self.name!r} is not an HTTP header name "
                "(letters, digits and !#$%&'*+-.^_`|~, no spaces)"
            )
        if self.scheme is not None and (
            not isinstance(self.scheme, str) or not _TOKEN.fullmatch(self.scheme)
        ):
            raise ConfigError(
                f"CredentialHeader scheme {self.scheme!r} is not an auth scheme such as "
                "'Bearer' (one word, no spaces); None sends the bare key"
            )
        object.__setattr__(self, "name", self.name.lower())
        object.__setattr__(self, "_prefix", "" if self.scheme is None else self.scheme + " ")

    def value(self, key: Secret) -> str:
        """The header's value carrying ``key``: only for the request that sends it."""
        return self._prefix + key.reveal()


BEARER = CredentialHeader()
"""``Authorization: Bearer <key>``, the :class:`ProviderSpec` default."""


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
    ``credential_header`` says how the dispatcher writes the key on each attempt
    (``Authorization: Bearer <key>`` unless the API wants otherwise); the codec never does.
    ``transport_factory``, when given, serves this provider instead of the client's HTTP
    transport (the mock provider answers in memory, without sockets).
    """

    name: str
    factory: Callable[[str, str, Mapping[str, str]], Provider]
    default_base_url: str
    api_key_env: str | None = None
    base_url_env: str | None = None
    needs_key: bool = True
    credential_header: CredentialHeader = BEARER
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

    def credential_headers(self) -> dict[str, str]:
        """The header carrying this provider's key, as its spec writes it, or none without
        a key: for calls made outside the chain (batch APIs), once, when they are built."""
        if self.credential is None:
            return {}
        key_header = self.spec.credential_header
        return {key_header.name: key_header.value(self.credential)}
