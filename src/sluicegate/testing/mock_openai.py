"""The OpenAI Chat Completions wire format of the mock server (``POST /v1/chat/completions``,
and the OpenAI shape of ``GET /v1/models``).

Bodies follow what the real API sends today, field for field, so official SDKs and
strict clients parse them: ``chatcmpl-`` ids, ``system_fingerprint``, ``service_tier``,
usage with its ``*_details``. A stream carries ``usage`` only when the request asks for
it with ``stream_options.include_usage``, as a last chunk with no choices.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sluicegate.testing.faults import ErrorReply, FaultKind, provider_error
from sluicegate.testing.mock_streaming import StreamFrames, sse
from sluicegate.testing.mock_wire import (
    MockJob,
    Reading,
    ToolCall,
    WireFormat,
    checked_max_tokens,
    dumps,
    json_type,
)

__all__ = ["SYSTEM_FINGERPRINT", "OpenAIWire"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
"""The roles Chat Completions accepts."""

SYSTEM_FINGERPRINT = "fp_sluicegate_mock"
_MODELS_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z, a fixed "created" for listings
_STREAM_ERROR = sse(
    dumps(
        {
            "error": {
                "message": "The server is overloaded mid-stream (mock).",
                "type": "server_error",
                "param": None,
                "code": None,
            }
        }
    )
)


class OpenAIWire(WireFormat):
    """OpenAI Chat Completions: request parsing, answers, chunks and errors."""

    provider = "openai"
    request_id_header = "x-request-id"
    key_header = None  # the Bearer token only
    server_error_type = "server_error"

    __slots__ = ()

    def _read(self, body: dict[str, Any], serial: int, request_id: str) -> Reading | ErrorReply:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.invalid("you must provide a model parameter", "model", request_id)
        unknown = self._unknown_model(model, request_id)
        if unknown is not None:
            return unknown
        messages = body.get("messages")
        if messages is None:
            return self._missing("messages", request_id)
        if not isinstance(messages, list):
            return self.invalid(
                "Invalid type for 'messages': expected an array of objects, but got "
                f"{json_type(messages)} instead.",
                "messages",
                request_id,
                "invalid_type",
            )
        if not messages:
            return self.invalid(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, "
                "but got an empty array instead.",
                "messages",
                request_id,
                "empty_array",
            )
        texts: list[str] = []
        prompt = self._read_messages(messages, texts, request_id)
        if isinstance(prompt, ErrorReply):
            return prompt
        raw_max = body.get("max_completion_tokens")
        param = "max_completion_tokens"
        if raw_max is None:
            raw_max, param = body.get("max_tokens"), "max_tokens"
        max_tokens = checked_max_tokens(raw_max)
        if isinstance(max_tokens, str):
            return self.invalid(f"{param} {max_tokens}", param, request_id)
        stream = body.get("stream") is True
        options = body.get("stream_options")
        include_usage = (
            stream and isinstance(options, dict) and options.get("include_usage") is True
        )

        tool: ToolCall | None = None
        tools = body.get("tools")
        if (
            isinstance(tools, list)
            and tools
            and body.get("tool_choice") != "none"
            and messages[-1]["role"] == "user"
            and self._wants_tool(prompt)
        ):
            names = [
                t["function"]["name"]
                for t in tools
                if isinstance(t, dict)
                and t.get("type", "function") == "function"
                and isinstance(t.get("function"), dict)
                and isinstance(t["function"].get("name"), str)
            ]
            tool = self._tool_call(prompt, names, f"call_mock{serial:016x}")
        text: str | None = None
        response_format = body.get("response_format")
        if tool is None and isinstance(response_format, dict):
            kind = response_format.get("type")
            if kind in ("json_schema", "json_object"):
                inner = response_format.get("json_schema")
                schema = inner.get("schema") if isinstance(inner, dict) else None
                text = self._structured(schema, prompt, messages, as_tool=False)
        return Reading(model, stream, include_usage, texts, prompt, max_tokens, tool, text)

    def _missing(self, param: str, request_id: str) -> ErrorReply:
        return self.invalid(
            f"Missing required parameter: '{param}'.",
            param,
            request_id,
            "missing_required_parameter",
        )

    def _bad_message(self, index: int, message: Any, request_id: str) -> ErrorReply | None:
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            return self.invalid(
                f"Invalid type for '{where}': expected an object, but got "
                f"{json_type(message)} instead.",
                where,
                request_id,
                "invalid_type",
            )
        role = message.get("role")
        if role is None:
            return self._missing(f"{where}.role", request_id)
        if role not in _ROLES:
            shown = f"'{role}'" if isinstance(role, str) else dumps(role)
            return self.invalid(
                f"Invalid value: {shown}. Supported values are: 'system', 'assistant', "
                "'user', 'function', 'tool', and 'developer'.",
                f"{where}.role",
                request_id,
                "invalid_value",
            )
        content = message.get("content")
        if isinstance(content, str | list):
            return None
        if (
            content is None
            and role == "assistant"
            and (message.get("tool_calls") is not None or message.get("function_call") is not None)
        ):
            return None  # an assistant turn that only called tools (the list is not checked)
        if "content" not in message:
            return self._missing(f"{where}.content", request_id)
        if content is None:
            return self.invalid(
                "Invalid value for 'content': expected a string, got null.",
                f"{where}.content",
                request_id,
            )
        return self.invalid(
            f"Invalid type for '{where}.content': expected one of a string or array of "
            f"objects, but got {json_type(content)} instead.",
            f"{where}.content",
            request_id,
            "invalid_type",
        )

    def _model_not_found(self, model: str, request_id: str) -> ErrorReply:
        return provider_error(
            "openai",
            404,
            "invalid_request_error",
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )

    def auth_error(self, key_sent: bool, request_id: str) -> ErrorReply:
        message = (
            "Incorrect API key provided (mock)."
            if key_sent
            else "You didn't provide an API key (mock)."
        )
        return provider_error(
            "openai", 401, "invalid_request_error", message, code="invalid_api_key"
        )

    def model_listing(self, names: Sequence[str]) -> dict[str, Any]:
        data = [
            {"id": n, "object": "model", "created": _MODELS_CREATED, "owned_by": "sluicegate"}
            for n in names
        ]
        return {"object": "list", "data": data}

    # -- answers -------------------------------------------------------------------------

    @staticmethod
    def _usage(job: MockJob) -> dict[str, Any]:
        output = job.output_tokens
        return {
            "prompt_tokens": job.input_tokens,
            "completion_tokens": output,
            "total_tokens": job.input_tokens + output,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }

    def render(self, job: MockJob, created: int | None = None) -> bytes:
        message: dict[str, Any]
        if job.tool is not None:
            message = {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": job.tool.call_id,
                        "type": "function",
                        "function": {"name": job.tool.name, "arguments": job.tool.arguments},
                    }
                ],
            }
            finish_reason = "tool_calls"
        else:
            message = {
                "role": "assistant",
                "content": job.answer.text,
                "refusal": None,
                "annotations": [],
            }
            finish_reason = job.answer.finish_reason
        return dumps(
            {
                "id": f"chatcmpl-mock{job.serial:016x}",
                "object": "chat.completion",
                "created": int(time.time()) if created is None else created,
                "model": job.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": self._usage(job),
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        ).encode()

    def stream(self, job: MockJob, fault: FaultKind | None) -> StreamFrames:
        # Every chunk shares its head and differs only in the delta, so the JSON is built
        # once as a prefix and a suffix around each delta.
        head = dumps(
            {
                "id": f"chatcmpl-mock{job.serial:016x}",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": job.model,
                "service_tier": "default",
                "system_fingerprint": SYSTEM_FINGERPRINT,
            }
        )
        prefix = "data: " + head[:-1] + ',"choices":[{"index":0,"delta":'
        usage_null = ',"usage":null' if job.include_usage else ""
        suffix = ',"logprobs":null,"finish_reason":null}]' + usage_null + "}\n\n"
        tool = job.tool
        first: dict[str, Any]
        if tool is not None:
            call = {
                "index": 0,
                "id": tool.call_id,
                "type": "function",
                "function": {"name": tool.name, "arguments": ""},
            }
            first = {"role": "assistant", "content": None, "refusal": None, "tool_calls": [call]}
            finish_reason = "tool_calls"
            delta_head = '{"tool_calls":[{"index":0,"function":{"arguments":'
            delta_tail = "}}]}"
        else:
            first = {"role": "assistant", "content": "", "refusal": None}
            finish_reason = job.answer.finish_reason
            delta_head = '{"content":'
            delta_tail = "}"

        final = ',"logprobs":null,"finish_reason":"' + finish_reason + '"}]' + usage_null + "}\n\n"
        closing = [(prefix + "{}" + final).encode()]
        if job.include_usage:
            usage = dumps(self._usage(job))
            closing.append(
                ("data: " + head[:-1] + ',"choices":[],"usage":' + usage + "}\n\n").encode()
            )
        closing.append(b"data: [DONE]\n\n")
        fault_event = b""
        if fault == "stream_error":
            fault_event = _STREAM_ERROR
        elif fault == "malformed":
            fault_event = (prefix + '{"content": <not json>' + "\n\n").encode()
        return StreamFrames(
            opening=[(prefix + dumps(first) + suffix).encode()],
            piece_head=prefix + delta_head,
            piece_tail=delta_tail + suffix,
            closing=closing,
            fault_event=fault_event,
        )
