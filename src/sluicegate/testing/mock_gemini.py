"""The Gemini API wire format of the mock server (``POST
/v1beta/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``, and the
Gemini shape of ``GET /v1beta/models``).

Bodies follow the REST reference and what the API sends, so the official ``google-genai``
SDK parses them with its own types: ``candidates`` with ``content.parts``, ``finishReason``
in Google's vocabulary, ``usageMetadata`` with ``promptTokensDetails``, ``modelVersion``
and ``responseId``. The model comes from the URL, not the body (the route binds it, as
Google's gateway binds path parameters to request fields); which of the two methods was
called decides whether the answer streams, so there is one instance per method.

A stream is SSE whose events end in CRLF pairs, as Google's servers send them; each
event's data is a whole ``GenerateContentResponse`` with the next piece of text, and the
last one carries ``finishReason`` and the final usage (there is no ``[DONE]``). A tool
call is sent whole in one chunk, as Gemini does. Errors are ``google.rpc.Status`` bodies
(:func:`~sluicegate.testing.faults.provider_error`); a missing key is a 403
``PERMISSION_DENIED`` and a wrong one a 400 ``INVALID_ARGUMENT`` with ``API_KEY_INVALID``,
as Google answers them. Thinking is not modelled: ``thoughtsTokenCount`` is never sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sluicegate.testing.faults import ErrorReply, FaultKind, provider_error
from sluicegate.testing.mock_streaming import StreamFrames
from sluicegate.testing.mock_wire import (
    MockJob,
    Reading,
    ToolCall,
    WireFormat,
    checked_max_tokens,
    dumps,
    json_type,
    text_of,
)

if TYPE_CHECKING:
    from sluicegate.testing.mock_config import MockConfig

__all__ = ["GENERATE", "STREAM_GENERATE", "GeminiWire"]

GENERATE = "generateContent"
STREAM_GENERATE = "streamGenerateContent"
_ROLES = frozenset({"user", "model", "function"})
_JSON = frozenset({"application/json", "text/x.enum"})
_EVENT_END = "\r\n\r\n"


class GeminiWire(WireFormat):
    """The Gemini API: request parsing, answers, stream chunks and errors, for one of the
    two methods (``streaming`` says which)."""

    provider = "gemini"
    request_id_header = "x-request-id"
    key_header = "x-goog-api-key"
    server_error_type = "UNAVAILABLE"

    __slots__ = ("streaming",)

    def __init__(self, config: MockConfig, *, streaming: bool = False) -> None:
        super().__init__(config)
        self.streaming = streaming

    def bind(self, body: dict[str, Any], path_params: Mapping[str, str]) -> dict[str, Any]:
        """The body with the model named in the URL (``models/{model}:method``)."""
        model = path_params.get("model")
        return {**body, "model": model} if model is not None else body

    def _read(self, body: dict[str, Any], serial: int, request_id: str) -> Reading | ErrorReply:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.invalid(
                "* GenerateContentRequest.model: unexpected model name format", "model", request_id
            )
        unknown = self._unknown_model(model, request_id)
        if unknown is not None:
            return unknown
        contents = body.get("contents")
        if contents is None or contents == []:
            return self.invalid(
                "* GenerateContentRequest.contents: contents is not specified",
                "contents",
                request_id,
            )
        if not isinstance(contents, list):
            return self.invalid(
                f"Invalid value at 'contents' ({json_type(contents)}), expected a list of "
                "Content objects",
                "contents",
                request_id,
            )
        texts: list[str] = []
        system = body.get("systemInstruction", body.get("system_instruction"))
        if system is not None:
            if not isinstance(system, dict):
                return self.invalid(
                    f"Invalid value at 'system_instruction' ({json_type(system)}), expected "
                    "a Content object",
                    "systemInstruction",
                    request_id,
                )
            texts.append(text_of(system.get("parts")))
        prompt = ""
        for index, content in enumerate(contents):
            bad = self._bad_message(index, content, request_id)
            if bad is not None:
                return bad
            said = text_of(content["parts"])
            texts.append(said)
            if content.get("role", "user") == "user" and not _has_function_response(content):
                prompt = said
        config = body.get("generationConfig", body.get("generation_config")) or {}
        if not isinstance(config, dict):
            return self.invalid(
                f"Invalid value at 'generation_config' ({json_type(config)}), expected a "
                "GenerationConfig object",
                "generationConfig",
                request_id,
            )
        max_tokens = checked_max_tokens(config.get("maxOutputTokens"))
        if isinstance(max_tokens, str):
            return self.invalid(
                f"* GenerateContentRequest.generation_config.max_output_tokens: {max_tokens}",
                "generationConfig.maxOutputTokens",
                request_id,
            )

        last = contents[-1]
        tool: ToolCall | None = None
        names = _function_names(body.get("tools"))
        if (
            names
            and _calling_mode(body.get("toolConfig", body.get("tool_config"))) != "NONE"
            and last.get("role", "user") == "user"
            and not _has_function_response(last)
            and self._wants_tool(prompt)
        ):
            tool = self._tool_call(prompt, names, f"call_mock{serial:016x}")
        text: str | None = None
        if tool is None and config.get("responseMimeType") in _JSON:
            schema = config.get("responseJsonSchema")
            if schema is None:
                schema = _as_json_schema(config.get("responseSchema"))
            text = self._structured(schema, prompt, contents, as_tool=False)
        return Reading(model, self.streaming, True, texts, prompt, max_tokens, tool, text)

    def _bad_message(self, index: int, message: Any, request_id: str) -> ErrorReply | None:
        where = f"contents[{index}]"
        if not isinstance(message, dict):
            return self.invalid(
                f"Invalid value at '{where}' ({json_type(message)}), expected a Content object",
                where,
                request_id,
            )
        role = message.get("role", "user")
        if role not in _ROLES:
            return self.invalid(
                f"* GenerateContentRequest.{where}.role: Please use a valid role: user, model.",
                f"{where}.role",
                request_id,
            )
        parts = message.get("parts")
        if not isinstance(parts, list) or not parts:
            return self.invalid(
                f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.",
                f"{where}.parts",
                request_id,
            )
        return None

    def invalid(
        self, message: str, param: str | None, request_id: str, code: str | None = None
    ) -> ErrorReply:
        """A 400 ``INVALID_ARGUMENT``, the field named in the message as Google does."""
        return provider_error("gemini", 400, "INVALID_ARGUMENT", message)

    def _model_not_found(self, model: str, request_id: str) -> ErrorReply:
        return provider_error(
            "gemini",
            404,
            "NOT_FOUND",
            f"models/{model} is not found for API version v1beta, or is not supported for "
            "generateContent.",
        )

    def auth_error(self, key_sent: bool, request_id: str) -> ErrorReply:
        if not key_sent:
            return provider_error(
                "gemini",
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to "
                "call this API (mock).",
            )
        return provider_error(
            "gemini",
            400,
            "INVALID_ARGUMENT",
            "API key not valid. Please pass a valid API key (mock).",
            details={
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ]
            },
        )

    def model_listing(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            "models": [
                {
                    "name": f"models/{n}",
                    "version": "001",
                    "displayName": f"Mock {n}",
                    "inputTokenLimit": 1_048_576,
                    "outputTokenLimit": 65_536,
                    "supportedGenerationMethods": [GENERATE, "countTokens"],
                }
                for n in names
            ]
        }

    # -- answers -------------------------------------------------------------------------

    @staticmethod
    def _finish(job: MockJob) -> str:
        return "MAX_TOKENS" if job.tool is None and job.answer.finish_reason == "length" else "STOP"

    @staticmethod
    def _usage(job: MockJob, output_tokens: int | None) -> dict[str, Any]:
        """``usageMetadata``: the prompt's count on every chunk, the answer's once known."""
        usage: dict[str, Any] = {"promptTokenCount": job.input_tokens}
        total = job.input_tokens
        if output_tokens is not None:
            usage["candidatesTokenCount"] = output_tokens
            total += output_tokens
        usage["totalTokenCount"] = total
        usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": job.input_tokens}]
        return usage

    @staticmethod
    def _call_part(tool: ToolCall) -> dict[str, Any]:
        return {"functionCall": {"name": tool.name, "args": json.loads(tool.arguments)}}

    def _response(
        self,
        job: MockJob,
        parts: list[dict[str, Any]],
        finish: str | None,
        output_tokens: int | None,
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": self._usage(job, output_tokens),
            "modelVersion": job.model,
            "responseId": f"mock{job.serial:016x}",
        }

    def render(self, job: MockJob, created: int | None = None) -> bytes:
        part = self._call_part(job.tool) if job.tool is not None else {"text": job.answer.text}
        return dumps(self._response(job, [part], self._finish(job), job.output_tokens)).encode()

    def stream(self, job: MockJob, fault: FaultKind | None) -> StreamFrames:
        # A text piece's chunk differs from the next only in the text: built once as a
        # prefix and a suffix around it.
        piece = dumps(self._response(job, [{"text": ""}], None, None))
        cut = piece.index('""')
        head, tail = "data: " + piece[:cut], piece[cut + 2 :] + _EVENT_END
        final_parts: list[dict[str, Any]] = [{"text": ""}]
        pieces: Sequence[str] | None = None
        if job.tool is not None:  # Gemini sends a call whole, in one chunk
            final_parts = [self._call_part(job.tool)]
            pieces = ()
        final = self._response(job, final_parts, self._finish(job), job.output_tokens)
        fault_event = b""
        if fault == "stream_error":
            error = {
                "error": {
                    "code": 503,
                    "message": "The model is overloaded. Please try again later (mock).",
                    "status": "UNAVAILABLE",
                }
            }
            fault_event = ("data: " + dumps(error) + _EVENT_END).encode()
        elif fault == "malformed":
            fault_event = (head + "<not json>" + _EVENT_END).encode()
        return StreamFrames(
            opening=[],
            piece_head=head,
            piece_tail=tail,
            closing=[("data: " + dumps(final) + _EVENT_END).encode()],
            fault_event=fault_event,
            pieces=pieces,
        )


def _has_function_response(content: dict[str, Any]) -> bool:
    parts = content.get("parts")
    return isinstance(parts, list) and any(
        isinstance(part, dict) and ("functionResponse" in part or "function_response" in part)
        for part in parts
    )


def _function_names(tools: Any) -> list[str]:
    """The names of the functions ``tools`` declares (``[{functionDeclarations: [...]}]``)."""
    names: list[str] = []
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        declared = tool.get("functionDeclarations", tool.get("function_declarations"))
        for function in declared if isinstance(declared, list) else ():
            if isinstance(function, dict) and isinstance(function.get("name"), str):
                names.append(function["name"])
    return names


def _as_json_schema(schema: Any) -> Any:
    """A ``responseSchema`` (Google's OpenAPI subset: ``"type": "OBJECT"``, upper case) as
    the JSON Schema the answer is built from: the same, with the types in lower case."""
    if isinstance(schema, list):
        return [_as_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _as_json_schema(value) for key, value in schema.items()}
    kind = schema.get("type")
    if isinstance(kind, str):
        converted["type"] = kind.lower()
    properties = schema.get("properties")
    if isinstance(properties, dict):  # names are not schemas: only their values convert
        converted["properties"] = {name: _as_json_schema(v) for name, v in properties.items()}
    return converted


def _calling_mode(tool_config: Any) -> str | None:
    """``toolConfig.functionCallingConfig.mode`` (``AUTO``, ``ANY``, ``NONE``), if given."""
    if not isinstance(tool_config, dict):
        return None
    calling = tool_config.get("functionCallingConfig", tool_config.get("function_calling_config"))
    mode = calling.get("mode") if isinstance(calling, dict) else None
    return mode if isinstance(mode, str) else None
