"""From a provider-neutral Request to an Anthropic Messages API request body.

sluicegate's messages follow OpenAI's conventions (a ``system`` role, ``tool`` messages,
``tool_calls`` on assistant messages, image URLs); the Messages API differs in each, so
this module translates:

- system messages move to the top-level ``system`` field (the Messages API takes no
  ``system`` role in ``messages``);
- an assistant message's tool calls become ``tool_use`` content blocks, whose ``input`` is
  a JSON object rather than the JSON text OpenAI carries;
- ``tool`` messages become ``tool_result`` blocks in a user turn; consecutive ones share
  one turn, because Anthropic wants every result for one assistant turn in the next turn;
- a ``data:`` image URL becomes a base64 source, any other URL a ``url`` source;
- ``max_tokens`` is required by the API, so it is defaulted to :data:`DEFAULT_MAX_TOKENS`.

``Message.name`` has no Anthropic counterpart and is not sent.

Everything here builds plain dicts and lists directly, once per request: no deep copies,
no regular expressions. Input is checked only where the translation itself needs it (tool
call arguments must parse to an object, a ``data:`` URL must be base64); everything else
is the server's to judge, so the codec never refuses what a newer API version accepts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from sluicegate import BadInputError, Message, Request, TextPart, Tool, ToolCall
from sluicegate.plugins import ContentPart

if TYPE_CHECKING:
    from sluicegate.plugins import AnswerSchema

DEFAULT_MAX_TOKENS: Final = 1024
"""Sent as ``max_tokens`` when the request sets none: the Messages API requires the field
(OpenAI's does not), and a caller who never thought about it should get an answer, not a
400. It is a cap, not a target; pass ``max_tokens=`` for longer answers."""

_EMPTY_SCHEMA: Final[Mapping[str, Any]] = {"type": "object", "properties": {}}

_TOOL_CHOICES: Final[Mapping[str, str]] = {
    "auto": "auto",
    "required": "any",
    "any": "any",
    "none": "none",
}
"""OpenAI's string tool choices (and Anthropic's own names) -> Anthropic's ``type``."""

_ANTHROPIC_CHOICE_TYPES: Final = frozenset({"auto", "any", "tool", "none"})


def encode_body(request: Request) -> dict[str, Any]:
    """The JSON body for ``POST /v1/messages`` (without ``stream``)."""
    params = request.params
    system, messages = encode_messages(request.messages)
    body: dict[str, Any] = {
        "model": request.model_name,
        "max_tokens": DEFAULT_MAX_TOKENS if params.max_tokens is None else params.max_tokens,
        "messages": messages,
    }
    if system is not None:
        body["system"] = system
    if params.temperature is not None:
        body["temperature"] = params.temperature
    if params.top_p is not None:
        body["top_p"] = params.top_p
    if params.stop:
        body["stop_sequences"] = list(params.stop)
    if params.tools:
        body["tools"] = [encode_tool(t) for t in params.tools]
    if params.tool_choice is not None:
        body["tool_choice"] = encode_tool_choice(params.tool_choice)
    if params.response_format is not None:
        answer_tool = encode_answer_tool(params.response_format)
        body["tools"] = [*body.get("tools", ()), answer_tool]
        body["tool_choice"] = {"type": "tool", "name": answer_tool["name"]}
    if params.extra:
        # Provider-specific fields (top_k, thinking, metadata, service_tier...) go through
        # as given, and win over what was derived above.
        body.update(params.extra)
    return body


def encode_messages(
    messages: tuple[Message, ...],
) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """``(system, messages)``: the system prompt hoisted out (a string when there is one
    piece of text, a list of text blocks when several), and the other messages in
    Anthropic's shape."""
    system: list[dict[str, Any]] = []
    out: list[dict[str, Any]] = []
    results: list[dict[str, Any]] | None = None  # the user turn collecting tool results
    for i, message in enumerate(messages):
        role = message.role
        if role == "tool":
            block = _tool_result(message, i)
            if results is None:
                results = [block]
                out.append({"role": "user", "content": results})
            else:
                results.append(block)
            continue
        if role == "system":
            _system_blocks(message, i, system)
            continue
        results = None
        if message.tool_calls:
            content = _blocks(message.content, i) if message.content else []
            content.extend(_tool_use(call, i, j) for j, call in enumerate(message.tool_calls))
            out.append({"role": role, "content": content})
        elif isinstance(message.content, str):
            out.append({"role": role, "content": message.content})
        else:
            out.append({"role": role, "content": _blocks(message.content, i)})
    if not system:
        return None, out
    if len(system) == 1:
        return system[0]["text"], out
    return system, out


def encode_tool(tool: Tool) -> dict[str, Any]:
    """A tool in Anthropic's shape: ``name``, ``description``, ``input_schema``."""
    out: dict[str, Any] = {
        "name": tool.name,
        # The API requires an object schema; a tool that takes no arguments gets an empty one.
        "input_schema": dict(tool.parameters) if tool.parameters else dict(_EMPTY_SCHEMA),
    }
    if tool.description:
        out["description"] = tool.description
    return out


def encode_answer_tool(schema: AnswerSchema) -> dict[str, Any]:
    """The tool a structured answer is asked through: Anthropic's documented way to get
    JSON of a given shape is a tool whose ``input_schema`` is that shape, with
    ``tool_choice`` forcing its use; the answer is the call's input. The API wants an
    object schema there, so a schema of another type is refused before sending."""
    input_schema = schema.json_schema
    if input_schema is None:  # any JSON object
        input_schema = {"type": "object"}
    elif input_schema.get("type", "object") != "object":
        raise BadInputError(
            f"response_format {schema.name!r}: Anthropic answers structured output as a "
            "tool's input, which must be a JSON object schema (wrap the value in an object)",
            field="response_format",
        )
    return {
        "name": schema.name,
        "description": f"Give the answer as {schema.name}, following this input schema.",
        "input_schema": input_schema,
    }


def encode_tool_choice(choice: str | Mapping[str, Any]) -> dict[str, Any]:
    """Map OpenAI's tool choice to Anthropic's; Anthropic's own shapes pass through.

    ``"auto"`` -> ``{"type": "auto"}``, ``"required"`` -> ``{"type": "any"}``, ``"none"``
    -> ``{"type": "none"}``, ``{"type": "function", "function": {"name": n}}`` ->
    ``{"type": "tool", "name": n}``.
    """
    if isinstance(choice, str):
        kind = _TOOL_CHOICES.get(choice)
        if kind is None:
            raise BadInputError(
                f"tool_choice {choice!r} is not one of {sorted(_TOOL_CHOICES)}",
                field="tool_choice",
            )
        return {"type": kind}
    kind = choice.get("type")
    if kind == "function":
        fn = choice.get("function")
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            return {"type": "tool", "name": fn["name"]}
    elif kind in _ANTHROPIC_CHOICE_TYPES:
        return dict(choice)
    raise BadInputError(
        "tool_choice must be 'auto', 'required', 'none', "
        "{'type': 'function', 'function': {'name': ...}} or an Anthropic tool_choice",
        field="tool_choice",
    )


def image_block(url: str, where: str) -> dict[str, Any]:
    """An image block: a ``data:`` URL becomes a base64 source, anything else a URL source."""
    if not url.startswith("data:"):
        return {"type": "image", "source": {"type": "url", "url": url}}
    header, comma, data = url[5:].partition(",")
    if not comma or not header.endswith(";base64"):
        raise BadInputError(
            f"{where}: a data: URL image must be base64 (data:<media type>;base64,...)",
            field=where,
        )
    media_type = header.partition(";")[0]
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _blocks(content: str | tuple[ContentPart, ...], i: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [
        {"type": "text", "text": part.text}
        if isinstance(part, TextPart)
        else image_block(part.url, f"messages[{i}].content[{j}]")
        for j, part in enumerate(content)
    ]


def _system_blocks(message: Message, i: int, into: list[dict[str, Any]]) -> None:
    content = message.content
    if isinstance(content, str):
        if content:
            into.append({"type": "text", "text": content})
        return
    for j, part in enumerate(content):
        if not isinstance(part, TextPart):
            where = f"messages[{i}].content[{j}]"
            raise BadInputError(f"{where}: a system message can only hold text", field=where)
        if part.text:
            into.append({"type": "text", "text": part.text})


def _tool_use(call: ToolCall, i: int, j: int) -> dict[str, Any]:
    arguments = call.arguments
    if not arguments or arguments.isspace():
        value: Any = {}
    else:
        try:
            value = json.loads(arguments)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            where = f"messages[{i}].tool_calls[{j}].arguments"
            raise BadInputError(
                f"{where}: Anthropic needs a tool call's arguments as a JSON object",
                field=where,
            ) from None
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": value}


def _tool_result(message: Message, i: int) -> dict[str, Any]:
    if not message.tool_call_id:
        where = f"messages[{i}].tool_call_id"
        raise BadInputError(
            f"{where}: a tool message needs the id of the tool call it answers", field=where
        )
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.tool_call_id}
    content = message.content
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif content:
        block["content"] = _blocks(content, i)
    return block
