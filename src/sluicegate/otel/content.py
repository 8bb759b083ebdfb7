"""Opt-in message content: the prompt and the answer as the GenAI conventions' JSON
(``gen_ai.input.messages``, ``gen_ai.output.messages``), only when content capture is on.

Off by default: a span, an event or a metric never holds prompt or answer text unless
``SluicegateInstrumentor(capture_content=True)`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` asks for it. A credential is
never content: it lives on the request as a :class:`~sluicegate.secrets.Secret`, which is
not read here.
"""

from __future__ import annotations

import json
import os
from typing import Any

from sluicegate.types import ImagePart, Message, Response

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_ON = frozenset(("true", "1", "yes", "on", "span_only", "span_and_event"))


def capture_from_env() -> bool:
    """Whether ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` turns capture on
    (``true``, or the newer ``SPAN_ONLY``/``SPAN_AND_EVENT``: content goes on spans)."""
    return os.environ.get(CAPTURE_ENV, "").strip().lower() in _ON


def _parts(message: Message) -> list[dict[str, Any]]:
    content = message.content
    parts: list[dict[str, Any]] = []
    if isinstance(content, str):
        if content:
            parts.append({"type": "text", "content": content})
    else:
        for part in content:
            if isinstance(part, ImagePart):
                parts.append({"type": "uri", "modality": "image", "uri": part.url})
            else:
                parts.append({"type": "text", "content": part.text})
    for call in message.tool_calls:
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
        )
    return parts


def input_messages(messages: tuple[Message, ...]) -> str:
    """The prompt as ``gen_ai.input.messages`` (a JSON string)."""
    return json.dumps([{"role": m.role, "parts": _parts(m)} for m in messages])


def output_messages(response: Response) -> str:
    """The answer as ``gen_ai.output.messages`` (a JSON string)."""
    parts: list[dict[str, Any]] = []
    if response.text:
        parts.append({"type": "text", "content": response.text})
    for call in response.tool_calls:
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
        )
    message: dict[str, Any] = {"role": "assistant", "parts": parts}
    if response.finish_reason:
        message["finish_reason"] = response.finish_reason
    return json.dumps([message])
