"""The Anthropic Messages API codec: ``POST {base_url}/v1/messages``, plain and streamed.

The base URL is the host root, **without** ``/v1`` (``https://api.anthropic.com``), the
same value the official SDK takes from ``ANTHROPIC_BASE_URL``; the codec appends
``/v1/messages``. So one ``ANTHROPIC_BASE_URL`` serves sluicegate and the SDK alike (a
proxy or gateway that mounts the API under a prefix is given as ``https://host/prefix``).
This differs from OpenAI-style base URLs, which end in ``/v1``.

Like every sluicegate provider the codec does no I/O: it builds an
:class:`~sluicegate.plugins.HttpRequest` and reads answers handed to it, so it is
tested with bytes alone and shares retry, rate limiting and cost accounting with every
other provider.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sluicegate import ProviderError, Request, Response, ResponseFormatError, ToolCall
from sluicegate.plugins import (
    UNEXPECTED_SHAPE,
    HttpRequest,
    HttpResponse,
    MalformedField,
    describe,
    error_for_status,
    excerpt,
    malformed_answer,
    parse_json,
    text,
)
from sluicegate_anthropic.request import encode_body
from sluicegate_anthropic.stream import AnthropicStreamDecoder
from sluicegate_anthropic.wire import (
    API_VERSION,
    NEVER_RETRY_CODES,
    error_fields,
    finish_reason,
    usage_from,
)
from sluicegate_anthropic.wire import dumps as _dumps

MESSAGES_PATH = "/v1/messages"
"""Appended to the base URL, which is the host root (see the module docstring)."""

_dump_input = json.JSONEncoder(ensure_ascii=False).encode


class AnthropicProvider:
    """Codec for Anthropic's Messages API.

    Headers, each layer over the one before: ``content-type`` and ``anthropic-version``;
    the headers configured in ``ProviderSettings(headers=...)`` (``anthropic-beta``, or
    another version). The dispatcher then adds what every provider sends: the key as
    ``x-api-key`` (the spec's ``credential_header``), only when the request carries one,
    so a keyless gateway works; ``idempotency-key``; the request's own ``metadata.headers``.
    """

    def __init__(
        self, base_url: str, headers: Mapping[str, str], *, name: str = "anthropic"
    ) -> None:
        self.name = name
        self.url = base_url.rstrip("/") + MESSAGES_PATH
        # Header names are made lower case once here, so a configured "Anthropic-Version"
        # replaces the default instead of being sent beside it.
        self._headers: dict[str, str] = {
            "content-type": "application/json",
            "anthropic-version": API_VERSION,
            **{k.lower(): v for k, v in headers.items()},
        }
        self._stream_headers = {**self._headers, "accept": "text/event-stream"}

    def __repr__(self) -> str:
        return f"AnthropicProvider(name={self.name!r}, url={self.url!r})"

    def encode(self, request: Request) -> HttpRequest:
        body = encode_body(request)
        if request.stream:
            body["stream"] = True
            headers = self._stream_headers
        else:
            headers = self._headers
        # the key (x-api-key, as plugin.SPEC declares), Idempotency-Key and the caller's
        # headers are the dispatcher's to add
        return HttpRequest("POST", self.url, headers, _dumps(body).encode())

    def decode(self, request: Request, response: HttpResponse) -> Response:
        try:
            data = parse_json(response.body, "body")
            if type(data) is not dict:
                raise MalformedField("body", f"expected an object, got {describe(data)}")
            content = data.get("content")
            if type(content) is not list:
                raise MalformedField("content", f"expected an array, got {describe(content)}")
            texts: list[str] = []
            calls: list[ToolCall] = []
            for i, block in enumerate(content):
                if type(block) is not dict:
                    raise MalformedField(
                        f"content[{i}]", f"expected an object, got {describe(block)}"
                    )
                kind = block.get("type")
                if kind == "text":
                    texts.append(_string(block, "text", i))
                elif kind == "tool_use":
                    if "input" not in block:
                        raise MalformedField(f"content[{i}].input", "missing")
                    arguments = _dump_input(block["input"])
                    calls.append(
                        ToolCall(
                            id=_string(block, "id", i),
                            name=_string(block, "name", i),
                            arguments=arguments,
                        )
                    )
                elif type(kind) is not str:
                    raise MalformedField(
                        f"content[{i}].type", f"expected a string, got {describe(kind)}"
                    )
                # thinking, server tool blocks and their results are not answer text; they
                # stay available in ``raw``.
            return Response(
                text="".join(texts),
                model=request.model,
                provider=self.name,
                tool_calls=tuple(calls),
                finish_reason=finish_reason(text(data.get("stop_reason"), "stop_reason")),
                usage=usage_from(data.get("usage")),
                request_id=request.metadata.request_id,
                raw=data,
            )
        except MalformedField as exc:
            raise self._malformed(request, response, str(exc)) from None
        except UNEXPECTED_SHAPE as exc:
            # not reached by any answer the checks above know of; kept so that a shape they
            # miss is still a typed error, never a traceback from inside the codec
            raise self._malformed(request, response, f"{type(exc).__name__}: {exc}") from None

    def _malformed(
        self, request: Request, response: HttpResponse, problem: str
    ) -> ResponseFormatError:
        return malformed_answer(
            provider=self.name,
            model=request.model_name,
            what="message",
            problem=problem,
            body=response.body,
            status=response.status,
        )

    def decode_error(self, request: Request, response: HttpResponse) -> ProviderError:
        try:
            body: Any = parse_json(response.body, "body")
        except MalformedField:
            body = None
        message, error_type, code, request_id = error_fields(body)
        error = error_for_status(
            provider=self.name,
            model=request.model_name,
            status=response.status,
            headers=response.headers,
            message=(f"{message} ({code})" if code else message)
            if message
            else excerpt(response.body),
            error_type=error_type,
            request_id=request_id,
        )
        if code in NEVER_RETRY_CODES and response.headers.get("x-should-retry") != "true":
            # A spend limit comes as a 429 rate_limit_error; only the code tells it apart.
            error.retryable = False
        return error

    def stream_decoder(self, request: Request) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(self.name, request.model_name)


def _string(block: dict[str, Any], name: str, i: int) -> str:
    """A string field a content block must have."""
    value = block.get(name)
    if type(value) is not str:
        raise MalformedField(f"content[{i}].{name}", f"expected a string, got {describe(value)}")
    return value
