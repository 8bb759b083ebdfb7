"""The OpenAI Chat Completions wire format, for OpenAI and every compatible server.

vLLM, Ollama, DeepSeek, LM Studio and relay services speak this format too, so the codec
takes any base URL; ``ProviderSettings(kind="openai", base_url=...)`` adds such a server
under a name of the user's choosing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sluicegate.errors import ProviderError, ResponseFormatError
from sluicegate.providers.base import ProviderSpec
from sluicegate.providers.checks import (
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

if TYPE_CHECKING:
    from sluicegate.structured.schema import AnswerSchema

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


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


def response_format_of(schema: AnswerSchema) -> dict[str, Any]:
    """OpenAI's ``response_format`` for a structured answer: its ``json_schema`` mode
    (structured outputs), or ``json_object`` for any JSON object."""
    if schema.json_schema is None:
        return {"type": "json_object"}
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.name, "schema": schema.json_schema, "strict": schema.strict},
    }


def usage_from(data: object) -> Usage:
    """Usage from OpenAI's ``usage`` object (cached tokens under prompt_tokens_details,
    reasoning tokens under completion_tokens_details, both parts of the totals);
    every count checked (:func:`sluicegate.providers.checks.token_count`)."""
    usage = mapping(data, "usage")
    if not usage:
        return Usage()
    details = mapping(usage.get("prompt_tokens_details"), "usage.prompt_tokens_details")
    output = mapping(usage.get("completion_tokens_details"), "usage.completion_tokens_details")
    return Usage(
        input_tokens=token_count(usage.get("prompt_tokens"), "usage.prompt_tokens"),
        output_tokens=token_count(usage.get("completion_tokens"), "usage.completion_tokens"),
        cached_tokens=token_count(
            details.get("cached_tokens"), "usage.prompt_tokens_details.cached_tokens"
        )
        if details
        else 0,
        reasoning_tokens=token_count(
            output.get("reasoning_tokens"), "usage.completion_tokens_details.reasoning_tokens"
        )
        if output
        else 0,
    )


def _tool_calls(message: dict[str, Any]) -> tuple[ToolCall, ...]:
    """``message.tool_calls`` of a plain answer, each field type-checked."""
    calls = array(message.get("tool_calls"), "choices[0].message.tool_calls")
    if not calls:
        return ()
    out = []
    for i, call in enumerate(calls):
        where = f"choices[0].message.tool_calls[{i}]"
        if type(call) is not dict:
            raise MalformedField(where, f"expected an object, got {describe(call)}")
        fn = call.get("function")
        if type(fn) is not dict:
            raise MalformedField(f"{where}.function", f"expected an object, got {describe(fn)}")
        name = fn.get("name")
        if type(name) is not str:
            raise MalformedField(
                f"{where}.function.name", f"expected a string, got {describe(name)}"
            )
        out.append(
            ToolCall(
                id=text(call.get("id"), f"{where}.id") or "",
                name=name,
                arguments=text(fn.get("arguments"), f"{where}.function.arguments") or "",
            )
        )
    return tuple(out)


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
        if params.response_format is not None:
            body["response_format"] = response_format_of(params.response_format)
        if params.extra:
            body.update(params.extra)
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
            headers = self._stream_headers
        else:
            headers = self._headers
        # the key, Idempotency-Key and the caller's headers are the dispatcher's to add
        return HttpRequest("POST", self._url, headers, _dumps(body).encode())

    def decode(self, request: Request, response: HttpResponse) -> Response:
        try:
            data = parse_json(response.body, "body")
            if type(data) is not dict:
                raise MalformedField("body", f"expected an object, got {describe(data)}")
            choices = data.get("choices")
            if type(choices) is not list or not choices:
                raise MalformedField(
                    "choices", f"expected a non-empty array, got {describe(choices)}"
                )
            choice = choices[0]
            if type(choice) is not dict:
                raise MalformedField("choices[0]", f"expected an object, got {describe(choice)}")
            message = choice.get("message")
            if type(message) is not dict:
                raise MalformedField(
                    "choices[0].message", f"expected an object, got {describe(message)}"
                )
            return Response(
                text=text(message.get("content"), "choices[0].message.content") or "",
                model=request.model,
                provider=self.name,
                tool_calls=_tool_calls(message),
                finish_reason=text(choice.get("finish_reason"), "choices[0].finish_reason"),
                usage=usage_from(data.get("usage")),
                request_id=request.metadata.request_id,
                raw=data,
            )
        except MalformedField as exc:
            raise self._malformed(request, response, str(exc)) from None
        except UNEXPECTED_SHAPE as exc:
            # not reached by any answer the checks above know of; kept so that a shape
            # they miss is still a typed error, never a traceback from inside the codec
            raise self._malformed(request, response, f"{type(exc).__name__}: {exc}") from None

    def _malformed(
        self, request: Request, response: HttpResponse, problem: str
    ) -> ResponseFormatError:
        return malformed_answer(
            provider=self.name,
            model=request.model_name,
            what="chat completion",
            problem=problem,
            body=response.body,
            status=response.status,
        )

    def decode_error(self, request: Request, response: HttpResponse) -> ProviderError:
        message, error_type = excerpt(response.body), None
        try:
            body = parse_json(response.body, "body")
        except MalformedField:
            body = None
        err = body.get("error") if type(body) is dict else None
        if type(err) is dict:
            message = _plain(err.get("message")) or message
            error_type = _plain(err.get("code")) or _plain(err.get("type"))
        return error_for_status(
            provider=self.name,
            model=request.model_name,
            status=response.status,
            headers=response.headers,
            message=message,
            error_type=error_type,
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
            chunk = parse_json(data, "data")
            if type(chunk) is not dict:
                raise MalformedField("data", f"expected an object, got {describe(chunk)}")
            error = chunk.get("error")
            if error is not None:
                raise self._error_event(error)
            return self._events(chunk)
        except MalformedField as exc:
            raise self._malformed(str(exc), data) from None
        except UNEXPECTED_SHAPE as exc:
            # a shape the checks miss is still a typed error (see OpenAIProvider.decode)
            raise self._malformed(f"{type(exc).__name__}: {exc}", data) from None

    def _events(self, chunk: dict[str, Any]) -> list[StreamEvent]:
        """The events of one chunk. The type tests are inline and a field's path is built
        only when it is wrong: this runs once per chunk of every stream."""
        out: list[StreamEvent] = []
        choices = chunk.get("choices")
        if choices:
            if type(choices) is not list:
                raise _wrong("choices", "an array", choices)
            for i, choice in enumerate(choices):
                if type(choice) is not dict:
                    raise _wrong(f"choices[{i}]", "an object", choice)
                delta = choice.get("delta")
                if delta:
                    if type(delta) is not dict:
                        raise _wrong(f"choices[{i}].delta", "an object", delta)
                    content = delta.get("content")
                    if content:
                        if type(content) is not str:
                            raise _wrong(f"choices[{i}].delta.content", "a string", content)
                        out.append(TextDelta(content))
                    calls = delta.get("tool_calls")
                    if calls:
                        where = f"choices[{i}].delta.tool_calls"
                        if type(calls) is not list:
                            raise _wrong(where, "an array", calls)
                        out.extend(_call_deltas(calls, where))
                reason = choice.get("finish_reason")
                if reason:
                    if type(reason) is not str:
                        raise _wrong(f"choices[{i}].finish_reason", "a string", reason)
                    out.append(FinishEvent(reason))
        usage = chunk.get("usage")
        if usage:
            out.append(UsageEvent(usage_from(usage)))
        return out

    def _error_event(self, error: object) -> ProviderError:
        err = error if type(error) is dict else {"message": _plain(error)}
        error_type = _plain(err.get("code")) or _plain(err.get("type"))
        return ProviderError(
            _plain(err.get("message")) or "error event in stream",
            provider=self._provider,
            model=self._model,
            status=200,
            error_type=error_type,
            retryable=error_type not in ("invalid_request_error", "insufficient_quota"),
        )

    def _malformed(self, problem: str, data: str) -> ResponseFormatError:
        return ResponseFormatError(
            f"malformed stream event: {problem}; data {data[:200]!r}",
            provider=self._provider,
            model=self._model,
            status=200,
            retryable=True,
        )


def _call_deltas(calls: list[Any], path: str) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    for j, call in enumerate(calls):
        where = f"{path}[{j}]"
        if type(call) is not dict:
            raise MalformedField(where, f"expected an object, got {describe(call)}")
        fn = mapping(call.get("function"), f"{where}.function") or {}
        out.append(
            ToolCallDelta(
                index=index(call.get("index", 0), f"{where}.index"),
                id=text(call.get("id"), f"{where}.id"),
                name=text(fn.get("name"), f"{where}.function.name"),
                arguments=text(fn.get("arguments"), f"{where}.function.arguments") or "",
            )
        )
    return out


def _wrong(path: str, expected: str, value: object) -> MalformedField:
    return MalformedField(path, f"expected {expected}, got {describe(value)}")


def _plain(value: object) -> str | None:
    """A scalar from an error object as text (a message or code that is an object or an
    array, which no provider sends, is dropped rather than printed)."""
    if type(value) is str:
        return value or None
    if type(value) is int or type(value) is float:
        return str(value)
    return None


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
