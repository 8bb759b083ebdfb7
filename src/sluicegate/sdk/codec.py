"""Pass-through codecs: send an SDK's own request as it is, read usage from the answer.

A request from :mod:`sluicegate.sdk.transport` carries the SDK's HTTP message on
``Request.wire``; ``encode`` returns it unchanged (the dispatcher then adds
``Idempotency-Key``, and no key: these providers have none, the SDK's own
``Authorization``/``x-api-key`` header is in the message). ``decode`` reads usage, model
and finish reason with the provider's own codec (OpenAI's built in, Anthropic's from the
``sluicegate-anthropic`` plugin when it is installed) and keeps the whole answer on
``Response.raw``; ``decode_error`` makes the provider codec's typed error (retryable,
Retry-After) and keeps the whole answer on ``ProviderError.answer``, so the transport can
hand the last one back to the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluicegate.errors import ConfigError, ProviderError, ResponseFormatError
from sluicegate.plugins.hookspecs import hookimpl
from sluicegate.providers.base import Provider, ProviderSpec, StreamDecoder
from sluicegate.providers.http_errors import error_for_status, excerpt
from sluicegate.providers.openai import OpenAIProvider
from sluicegate.sdk.summary import PROVIDERS
from sluicegate.sse import SSEEvent
from sluicegate.transports.base import HttpRequest, HttpResponse
from sluicegate.types import Request, Response, StreamEvent

_UNUSED_URL = "http://sdk.invalid"
"""The base URL the specs declare: never used, each request carries its own URL."""


class PassThroughCodec:
    """Sends ``request.wire``; ``reader`` (a provider codec, or None) reads the answers."""

    def __init__(self, name: str, reader: Provider | None) -> None:
        self.name = name
        self._reader = reader

    def encode(self, request: Request) -> HttpRequest:
        wire = request.wire
        if not isinstance(wire, HttpRequest):
            raise ConfigError(
                f"provider {self.name!r} sends official SDK requests only "
                "(made by sluicegate.http_client()), not client.chat()"
            )
        return wire

    def decode(self, request: Request, response: HttpResponse) -> Response:
        reader = self._reader
        if reader is not None and not request.stream:
            try:
                decoded = reader.decode(request, response)
            except ResponseFormatError:
                pass  # the SDK parses it by its own rules; sluicegate counts no usage
            else:
                return decoded.replace(provider=self.name, raw=response)
        return Response(
            text="",
            model=request.model,
            provider=self.name,
            request_id=request.metadata.request_id,
            raw=response,
        )

    def decode_error(self, request: Request, response: HttpResponse) -> ProviderError:
        if self._reader is not None:
            error = self._reader.decode_error(request, response)
        else:
            error = error_for_status(
                provider=self.name,
                model=request.model_name,
                status=response.status,
                headers=response.headers,
                message=excerpt(response.body),
                error_type=None,
            )
        error.answer = response
        return error

    def stream_decoder(self, request: Request) -> StreamDecoder:
        """The provider codec's own decoder (usage, text and finish read for the chain as
        the bytes pass through to the SDK), or one that reads nothing."""
        if self._reader is not None:
            return self._reader.stream_decoder(request)
        return OpaqueStreamDecoder()


class OpaqueStreamDecoder:
    """Reads nothing from a stream sluicegate cannot decode (Anthropic's without the
    plugin): the bytes still pass through, and the stream ends with them."""

    __slots__ = ("finished",)

    ends_with_bytes = True
    """(:class:`~sluicegate.provider_stream.WireStreamSource`: no end marker to wait for)"""

    def __init__(self) -> None:
        self.finished = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        return []


def _anthropic_reader() -> Provider | None:
    try:
        from sluicegate_anthropic.codec import AnthropicProvider
    except ImportError:  # the plugin is not installed: request counts only
        return None
    return AnthropicProvider(_UNUSED_URL, {}, name=PROVIDERS["anthropic"])


def _openai_codec(name: str, base_url: str, headers: Mapping[str, str]) -> PassThroughCodec:
    return PassThroughCodec(name, OpenAIProvider(base_url, headers, name=name))


def _anthropic_codec(name: str, base_url: str, headers: Mapping[str, str]) -> PassThroughCodec:
    return PassThroughCodec(name, _anthropic_reader())


def _plain_codec(name: str, base_url: str, headers: Mapping[str, str]) -> PassThroughCodec:
    return PassThroughCodec(name, None)


def _spec(name: str, factory: Any, description: str) -> ProviderSpec:
    return ProviderSpec(
        name=name,
        factory=factory,
        default_base_url=_UNUSED_URL,
        needs_key=False,  # the SDK's own key header rides in the message
        description=description,
    )


SPECS = (
    _spec(PROVIDERS["openai"], _openai_codec, "official openai SDK chat calls (http_client())"),
    _spec(
        PROVIDERS["anthropic"], _anthropic_codec, "official anthropic SDK messages (http_client())"
    ),
    _spec(PROVIDERS["other"], _plain_codec, "other official SDK requests, passed through"),
)


class SdkProviders:
    """The plugin :func:`sluicegate.http_client` registers on a client: the three specs."""

    name = "sluicegate-sdk-transport"

    @hookimpl
    def sluicegate_providers(self) -> list[ProviderSpec]:
        return list(SPECS)


SDK_PLUGIN = SdkProviders()
"""The one instance registered (a client registers an object once, however often asked)."""
