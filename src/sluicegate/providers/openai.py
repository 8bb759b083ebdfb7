"""The OpenAI Chat Completions wire format, for OpenAI and every compatible server.

vLLM, Ollama, DeepSeek, LM Studio and relay services speak this format too, so the codec
takes any base URL; ``ProviderSettings(kind="openai", base_url=...)`` adds such a server
under a name of the user's choosing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sluicegate.errors import ProviderError, ResponseFormatError
from sluicegate.providers.base import ProviderSpec
from sluicegate.providers.http_errors import error_for_status, excerpt, malformed_answer
from sluicegate.sse import SSEEvent
from sluicegate.transports.base import HttpRequest, HttpResponse
from sluicegate.types import (
    FinishEvent,
    Message,
    Request,
    Response,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads


def encode_message(message: Message) -> dict[str, Any]:
    """One message in OpenAI's shape."""
    out: dict[str, Any] = {"role": message.role}
    if isinstance(message.content, str):
        out["content"] = message.content
    else:
        out["content"] = [
            {"type": "text", "text": p.text}
            if isinstance(p, TextPart)
            else {"type": "image_url", "image_url": {"url": p.url}}
            for p in message.content
        ]
    if message.name is not None:
        out["name"] = message.name
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    return out


def usage_from(data: Mapping[str, Any] | None) -> Usage:
    """Usage from OpenAI's ``usage`` object (cached tokens under prompt_tokens_details)."""
    if not data:
        return Usage()
    details = data.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=int(data.get("prompt_tokens") or 0),
        output_tokens=int(data.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


class OpenAIProvider:
    """Codec for ``POST {base_url}/chat/completions``, plain and streamed."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, name: str = "openai") -> None:
        self.name = name
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"content-type": "application/json", **headers}
        self._stream_headers = {**self._headers, "accept": "text/event-stream"}

    def encode(self, request: Request) -> HttpRequest:
        params = request.params
        body: dict[str, Any] = {
            "model": request.model_name,
            "messages": [encode_message(m) for m in request.messages],
        }
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.max_tokens is not None:
            body["max_tokens"] = params.max_tokens
        if params.top_p is not None:
            body["top_p"] = params.top_p
        if params.stop:
            body["stop"] = list(params.stop)
        if params.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": dict(t.parameters),
                    },
                }
                for t in params.tools
            ]
        if params.tool_choice is not None:
            body["tool_choice"] = params.tool_choice
        if params.extra:
            body.update(params.extra)
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
            headers = dict(self._stream_headers)
        else:
            headers = dict(self._headers)
        if request.credential is not None:
            headers["authorization"] = "Bearer " + request.credential.reveal()
        meta = request.metadata
        if meta.idempotency_key:
            headers["idempotency-key"] = meta.idempotency_key
        if meta.headers:
            headers.update(meta.headers)
        return HttpRequest("POST", self._url, headers, _dumps(body).encode())

    def decode(self, request: Request, response: HttpResponse) -> Response:
        try:
            data = _loads(response.body)
            choice = data["choices"][0]
            message = choice["message"]
            calls = tuple(
                ToolCall(
                    id=c.get("id", ""),
                    name=c["function"]["name"],
                    arguments=c["function"].get("arguments", ""),
                )
                for c in message.get("tool_calls") or ()
            )
            return Response(
                text=message.get("content") or "",
                model=request.model,
                provider=self.name,
                tool_calls=calls,
                finish_reason=choice.get("finish_reason"),
                usage=usage_from(data.get("usage")),
                request_id=request.metadata.request_id,
                raw=data,
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise malformed_answer(
                provider=self.name,
                model=request.model_name,
                what="chat completion",
                exc=exc,
                body=response.body,
                status=response.status,
            ) from None

    def decode_error(self, request: Request, response: HttpResponse) -> ProviderError:
        message, error_type = excerpt(response.body), None
        try:
            err = _loads(response.body).get("error")
            if isinstance(err, Mapping):
                message = str(err.get("message") or message)
                error_type = err.get("code") or err.get("type")
        except (ValueError, AttributeError):
            pass
        return error_for_status(
            provider=self.name,
            model=request.model_name,
            status=response.status,
            headers=response.headers,
            message=message,
            error_type=str(error_type) if error_type else None,
        )

    def stream_decoder(self, request: Request) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder(self.name, request.model_name)


class OpenAIStreamDecoder:
    """Reads ``chat.completion.chunk`` events until ``data: [DONE]``."""

    __slots__ = ("_model", "_provider", "finished")

    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self.finished = False

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        data = event.data
        if data == "[DONE]":
            self.finished = True
            return []
        try:
            chunk = _loads(data)
        except ValueError:
            raise ResponseFormatError(
                f"stream event is not JSON: {data[:200]!r}",
                provider=self._provider,
                model=self._model,
                status=200,
                retryable=True,
            ) from None
        if not isinstance(chunk, dict):
            raise ResponseFormatError(
                f"stream event is not an object: {data[:200]!r}",
                provider=self._provider,
                model=self._model,
                status=200,
                retryable=True,
            )
        error = chunk.get("error")
        if error is not None:
            err = error if isinstance(error, Mapping) else {"message": str(error)}
            error_type = err.get("code") or err.get("type")
            raise ProviderError(
                str(err.get("message") or "error event in stream"),
                provider=self._provider,
                model=self._model,
                status=200,
                error_type=str(error_type) if error_type else None,
                retryable=error_type not in ("invalid_request_error", "insufficient_quota"),
            )
        out: list[StreamEvent] = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                out.append(TextDelta(content))
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") or {}
                out.append(
                    ToolCallDelta(
                        index=int(call.get("index", 0)),
                        id=call.get("id"),
                        name=fn.get("name"),
                        arguments=fn.get("arguments") or "",
                    )
                )
            reason = choice.get("finish_reason")
            if reason:
                out.append(FinishEvent(reason))
        usage = chunk.get("usage")
        if usage:
            out.append(UsageEvent(usage_from(usage)))
        return out


def _openai(name: str, base_url: str, headers: Mapping[str, str]) -> OpenAIProvider:
    return OpenAIProvider(base_url, headers, name=name)


SPEC = ProviderSpec(
    name="openai",
    factory=_openai,
    default_base_url="https://api.openai.com/v1",
    api_key_env="OPENAI_API_KEY",
    base_url_env="OPENAI_BASE_URL",
    description="OpenAI Chat Completions and compatible servers (vLLM, Ollama, DeepSeek...)",
)
