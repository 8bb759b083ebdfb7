"""The Anthropic Messages wire format of the mock server (``POST /v1/messages``, and the
Anthropic shape of ``GET /v1/models``).

Bodies and events follow what the real API sends, so the official SDK and strict clients
parse them: ``msg_`` ids, usage with the cache counters, a stream of named events
(``message_start``, ``content_block_start``, ``ping``, deltas, ``content_block_stop``,
``message_delta``, ``message_stop``). ``max_tokens`` is required, as it is there.
"""

from __future__ import annotations

import json
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
    text_of,
)

__all__ = ["AnthropicWire"]

_ROLES = ("user", "assistant")
_DELTA_HEAD = 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
# Stream events whose bytes never change.
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
_MESSAGE_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


class AnthropicWire(WireFormat):
    """Anthropic Messages: request parsing, answers, events and errors."""

    provider = "anthropic"
    request_id_header = "request-id"
    # The API documents x-api-key; the anthropic SDK 2.x sends the key as a Bearer token
    # instead, so both are accepted.
    key_header = "x-api-key"
    server_error_type = "api_error"

    __slots__ = ()

    def _read(self, body: dict[str, Any], serial: int, request_id: str) -> Reading | ErrorReply:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return self.invalid("model: Field required", "model", request_id)
        if "max_tokens" not in body:
            return self.invalid("max_tokens: Field required", "max_tokens", request_id)
        max_tokens = checked_max_tokens(body["max_tokens"])
        if not isinstance(max_tokens, int):
            return self.invalid("max_tokens: must be an integer >= 1", "max_tokens", request_id)
        unknown = self._unknown_model(model, request_id)
        if unknown is not None:
            return unknown
        messages = body.get("messages")
        if messages is None:
            return self.invalid("messages: Field required", "messages", request_id)
        if not isinstance(messages, list):
            return self.invalid("messages: Input should be a valid list", "messages", request_id)
        if not messages:
            return self.invalid(
                "messages: at least one message is required", "messages", request_id
            )
        texts: list[str] = []
        system = body.get("system")
        if system is not None:
            if not isinstance(system, str | list):
                return self.invalid(
                    "system: Input should be a valid string or a list of text blocks",
                    "system",
                    request_id,
                )
            texts.append(text_of(system))
        prompt = self._read_messages(messages, texts, request_id)
        if isinstance(prompt, ErrorReply):
            return prompt
        stream = body.get("stream") is True

        tool: ToolCall | None = None
        tools = body.get("tools")
        last = messages[-1]
        choice = body.get("tool_choice")
        if (
            isinstance(tools, list)
            and tools
            and not (isinstance(choice, dict) and choice.get("type") == "none")
            and last["role"] == "user"
            and not _has_tool_result(last.get("content"))
            and self._wants_tool(prompt)
        ):
            names = [
                t["name"]
                for t in tools
                if isinstance(t, dict) and "input_schema" in t and isinstance(t.get("name"), str)
            ]
            tool = self._tool_call(prompt, names, f"toolu_mock{serial:016x}")
        forced = _forced_tool(tools, choice)
        if forced is not None:  # a structured answer, asked for as this tool's input
            name, schema = forced
            arguments = self._structured(schema, prompt, messages, as_tool=True)
            tool = ToolCall(f"toolu_mock{serial:016x}", name, arguments)
        return Reading(model, stream, True, texts, prompt, max_tokens, tool)

    def _bad_message(self, index: int, message: Any, request_id: str) -> ErrorReply | None:
        where = f"messages.{index}"
        if not isinstance(message, dict):
            return self.invalid(f"{where}: Input should be a valid dictionary", where, request_id)
        role = message.get("role")
        if role == "system":
            return self.invalid(
                'messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.',
                f"{where}.role",
                request_id,
            )
        if role is None:
            return self.invalid(f"{where}.role: Field required", f"{where}.role", request_id)
        if role not in _ROLES:
            return self.invalid(
                f"{where}.role: Input should be 'user' or 'assistant'", f"{where}.role", request_id
            )
        if "content" not in message:
            return self.invalid(f"{where}.content: Field required", f"{where}.content", request_id)
        if not isinstance(message["content"], str | list):
            return self.invalid(
                f"{where}.content: Input should be a valid string or a list of content blocks",
                f"{where}.content",
                request_id,
            )
        return None

    def _model_not_found(self, model: str, request_id: str) -> ErrorReply:
        return provider_error(
            "anthropic", 404, "not_found_error", f"model: {model}", request_id=request_id
        )

    def auth_error(self, key_sent: bool, request_id: str) -> ErrorReply:
        return provider_error(
            "anthropic",
            401,
            "authentication_error",
            "invalid x-api-key (mock).",
            request_id=request_id,
        )

    def model_listing(self, names: Sequence[str]) -> dict[str, Any]:
        data = [
            {
                "type": "model",
                "id": n,
                "display_name": f"Mock {n}",
                "created_at": "2025-01-01T00:00:00Z",
            }
            for n in names
        ]
        return {
            "data": data,
            "has_more": False,
            "first_id": names[0] if names else None,
            "last_id": names[-1] if names else None,
        }

    # -- answers -------------------------------------------------------------------------

    @staticmethod
    def _stop_reason(job: MockJob) -> str:
        if job.tool is not None:
            return "tool_use"
        return "max_tokens" if job.answer.finish_reason == "length" else "end_turn"

    def render(self, job: MockJob, created: int | None = None) -> bytes:
        if job.tool is not None:
            content: list[dict[str, Any]] = [
                {
                    "type": "tool_use",
                    "id": job.tool.call_id,
                    "name": job.tool.name,
                    "input": json.loads(job.tool.arguments),
                }
            ]
        else:
            content = [{"type": "text", "text": job.answer.text}]
        stop_reason = self._stop_reason(job)
        return dumps(_message(job, content, stop_reason, job.output_tokens)).encode()

    def stream(self, job: MockJob, fault: FaultKind | None) -> StreamFrames:
        tool = job.tool
        block: dict[str, Any]
        if tool is not None:
            block = {"type": "tool_use", "id": tool.call_id, "name": tool.name, "input": {}}
            piece_head = _DELTA_HEAD + '"delta":{"type":"input_json_delta","partial_json":'
        else:
            block = {"type": "text", "text": ""}
            piece_head = _DELTA_HEAD + '"delta":{"type":"text_delta","text":'
        message_start = {"type": "message_start", "message": _message(job, [], None, 1)}
        block_start = {"type": "content_block_start", "index": 0, "content_block": block}
        message_delta = {
            "type": "message_delta",
            "delta": {"stop_reason": self._stop_reason(job), "stop_sequence": None},
            "usage": {"output_tokens": job.output_tokens},
        }
        fault_event = b""
        if fault == "stream_error":
            error = {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded (mock)."},
                "request_id": job.request_id,
            }
            fault_event = sse(dumps(error), "error")
        elif fault == "malformed":
            fault_event = (piece_head + "<not json>\n\n").encode()
        return StreamFrames(
            opening=[
                sse(dumps(message_start), "message_start"),
                sse(dumps(block_start), "content_block_start"),
                _PING,
            ],
            piece_head=piece_head,
            piece_tail="}}\n\n",
            closing=[
                _BLOCK_STOP,
                sse(dumps(message_delta), "message_delta"),
                _MESSAGE_STOP,
            ],
            fault_event=fault_event,
        )


def _message(
    job: MockJob, content: list[dict[str, Any]], stop_reason: str | None, output_tokens: int
) -> dict[str, Any]:
    """A message object: the whole plain answer, or the opening of a stream (no content
    yet, no stop reason, one output token, as the real API starts)."""
    return {
        "id": f"msg_mock{job.serial:016x}",
        "type": "message",
        "role": "assistant",
        "model": job.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": job.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
        },
    }


def _has_tool_result(content: Any) -> bool:
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") == "tool_result" for part in content
    )


def _forced_tool(tools: Any, choice: Any) -> tuple[str, Any] | None:
    """The name and input schema of the tool ``tool_choice`` forces (``{"type": "tool",
    "name": ...}``), if it is one of ``tools``: the way structured answers are asked for."""
    if not (isinstance(choice, dict) and choice.get("type") == "tool" and isinstance(tools, list)):
        return None
    for tool in tools:
        if isinstance(tool, dict) and tool.get("name") == choice.get("name"):
            return str(tool["name"]), tool.get("input_schema")
    return None
