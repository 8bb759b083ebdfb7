"""From a provider-neutral Request to a Gemini ``generateContent`` request body.

sluicegate's messages follow OpenAI's conventions; the Gemini API differs in each, so this
module translates (the REST reference: https://ai.google.dev/api/generate-content):

- system messages become the top-level ``systemInstruction`` (Gemini has no system role
  in ``contents``); the assistant's role is ``model``;
- content is a list of ``parts``: ``{"text"}``, an image as ``inlineData`` (a ``data:``
  URL, base64 as it is) or ``fileData`` (any other URL);
- an assistant message's tool calls become ``functionCall`` parts, whose ``args`` is a
  JSON object rather than OpenAI's JSON text; a ``tool`` message becomes a
  ``functionResponse`` part of a user turn, named after the call it answers (Gemini
  matches results to calls by name; the call's id is sent too, which newer models use);
  consecutive tool results share one turn;
- tools become one ``functionDeclarations`` list; ``tool_choice`` becomes
  ``toolConfig.functionCallingConfig`` (``AUTO``/``ANY``/``NONE``, a named function as
  ``ANY`` with ``allowedFunctionNames``);
- sampling parameters go in ``generationConfig`` (``maxOutputTokens``, ``stopSequences``...);
- a structured answer (``response_format=``) is ``responseMimeType: application/json``
  with the schema as ``responseJsonSchema`` (full JSON Schema; ``responseSchema`` takes
  only an OpenAPI subset).

``Params.extra`` goes into the body as given and wins (``safetySettings``,
``cachedContent``, a whole ``generationConfig`` with ``thinkingConfig``...), so the codec
never refuses what a newer API version accepts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from sluicegate import BadInputError, Message, Request, TextPart
from sluicegate.plugins import ContentPart

_CHOICE_MODES: Final[Mapping[str, str]] = {
    "auto": "AUTO",
    "required": "ANY",
    "any": "ANY",
    "none": "NONE",
}


def encode_body(request: Request) -> dict[str, Any]:
    """The JSON body for ``POST {base}/models/{model}:generateContent``."""
    params = request.params
    system, contents = encode_contents(request.messages)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    config: dict[str, Any] = {}
    if params.temperature is not None:
        config["temperature"] = params.temperature
    if params.max_tokens is not None:
        config["maxOutputTokens"] = params.max_tokens
    if params.top_p is not None:
        config["topP"] = params.top_p
    if params.stop:
        config["stopSequences"] = list(params.stop)
    schema = params.response_format
    if schema is not None:
        config["responseMimeType"] = "application/json"
        if schema.json_schema is not None:
            config["responseJsonSchema"] = schema.json_schema
    if config:
        body["generationConfig"] = config
    if params.tools:
        declarations = []
        for tool in params.tools:
            declaration: dict[str, Any] = {"name": tool.name}
            if tool.description:
                declaration["description"] = tool.description
            if tool.parameters:
                declaration["parameters"] = dict(tool.parameters)
            declarations.append(declaration)
        body["tools"] = [{"functionDeclarations": declarations}]
    if params.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": encode_tool_choice(params.tool_choice)}
    if params.extra:
        body.update(params.extra)
    return body


def encode_tool_choice(choice: str | Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI's tool choice as Gemini's ``functionCallingConfig``."""
    if isinstance(choice, str):
        mode = _CHOICE_MODES.get(choice)
        if mode is None:
            raise BadInputError(
                f"tool_choice {choice!r} is not one of {sorted(_CHOICE_MODES)}",
                field="tool_choice",
            )
        return {"mode": mode}
    function = choice.get("function") if choice.get("type") == "function" else None
    if isinstance(function, Mapping) and isinstance(function.get("name"), str):
        return {"mode": "ANY", "allowedFunctionNames": [function["name"]]}
    if "mode" in choice:  # Gemini's own shape passes through
        return dict(choice)
    raise BadInputError(
        "tool_choice must be 'auto', 'required', 'none', "
        "{'type': 'function', 'function': {'name': ...}} or a Gemini functionCallingConfig",
        field="tool_choice",
    )


def encode_contents(messages: tuple[Message, ...]) -> tuple[list[str], list[dict[str, Any]]]:
    """The system texts, and the ``contents`` turns, of ``messages``."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}  # tool call id -> function name, for the results
    for i, message in enumerate(messages):
        if message.role == "system":
            system.append(message.text)
            continue
        if message.role == "tool":
            part = _function_response(message, i, call_names)
            if contents and contents[-1]["role"] == "user" and _all_responses(contents[-1]):
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
            continue
        parts = _parts(message.content, i)
        if message.role == "assistant":
            for j, call in enumerate(message.tool_calls):
                call_names[call.id] = call.name
                parts.append(
                    {"functionCall": _function_call(call.name, call.id, call.arguments, i, j)}
                )
            contents.append({"role": "model", "parts": parts})
        else:
            contents.append({"role": "user", "parts": parts})
    return system, contents


def _all_responses(turn: dict[str, Any]) -> bool:
    return all("functionResponse" in part for part in turn["parts"])


def _parts(content: str | tuple[ContentPart, ...], i: int) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        if isinstance(part, TextPart):
            parts.append({"text": part.text})
        else:
            parts.append(_image(part.url, f"messages[{i}].content[{j}]"))
    return parts


def _image(url: str, where: str) -> dict[str, Any]:
    if not url.startswith("data:"):
        return {"fileData": {"fileUri": url}}
    header, _, data = url.partition(",")
    mime, _, encoding = header[5:].partition(";")
    if encoding != "base64" or not data:
        raise BadInputError(f"{where}: a data: URL image must be base64 encoded", field=where)
    return {"inlineData": {"mimeType": mime or "application/octet-stream", "data": data}}


def _function_call(name: str, call_id: str, arguments: str, i: int, j: int) -> dict[str, Any]:
    where = f"messages[{i}].tool_calls[{j}].function.arguments"
    try:
        args = json.loads(arguments) if arguments else {}
    except ValueError:
        raise BadInputError(f"{where} is not JSON", field=where) from None
    if not isinstance(args, dict):
        raise BadInputError(f"{where} must be a JSON object", field=where)
    call: dict[str, Any] = {"name": name, "args": args}
    if call_id:
        call["id"] = call_id
    return call


def _function_response(message: Message, i: int, call_names: Mapping[str, str]) -> dict[str, Any]:
    call_id = message.tool_call_id or ""
    name = message.name or call_names.get(call_id)
    if not name:
        raise BadInputError(
            f"messages[{i}]: a tool result must answer a tool call of an earlier assistant "
            "message (Gemini names results by the function called)",
            field=f"messages[{i}].tool_call_id",
        )
    response: dict[str, Any] = {"name": name, "response": {"result": message.text}}
    if call_id:
        response["id"] = call_id
    return {"functionResponse": response}
