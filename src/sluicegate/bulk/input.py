"""Input lines of ``sluicegate run``: two JSONL forms, read one line at a time (CSV rows
and ``--template`` are rendered into the simple form by :mod:`sluicegate.bulk.rows`).

The OpenAI batch-line form, as a batch input file holds it::

    {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "gpt-4o-mini", "messages": [...], "max_tokens": 100}}

Every ``body`` field other than ``model`` and ``messages`` is passed to the provider as a
parameter (``temperature``, ``tools``, ``response_format``...); ``stream`` is refused, as
a run stores whole answers.

The simple form::

    {"id": "r1", "prompt": "Summarise ...", "model": "mock/fast", "max_tokens": 100,
     "temperature": 0.2, "system": "You are terse.", "top_p": 1, "stop": ["\\n"],
     "tags": ["reviews"]}

``prompt`` or ``messages``; every field but ``id`` and one of those is optional, and an
unknown field is a bad line (a typo such as ``max_token`` must not pass unnoticed).

Which model a line uses
    The line's own model wins; ``--model`` is used for lines that name none. A model is
    ``provider/model``; a bare name (``gpt-4o-mini``, as batch files have them) takes the
    provider of ``--model`` when one is given (so ``--model mock/x`` runs an OpenAI batch
    file against the mock provider), else ``openai`` in the batch form (whose files are
    OpenAI's), and is a bad line in the simple form. A provider the client does not know
    is a bad line; whether the provider knows the model is its own answer (a 404 error
    result on that line).

A bad line (not JSON, not an object, a missing or wrong field, an unknown provider) is
returned as :class:`BadLine` with its number, the field at fault and the reason; reading
goes on.

What a message must hold
    An object with a ``role`` (``system``, ``user``, ``assistant`` or ``tool``) and a
    ``content``: a string or a non-empty list of ``text``/``image_url`` parts. Only an
    assistant message that carries ``tool_calls`` (a list of ``{"id", "function": {"name",
    "arguments"}}``) may leave ``content`` out or null, as OpenAI's own batch files do; a
    ``tool`` message needs its ``tool_call_id``. Anything else (``{"role": "user"}``, a
    null or numeric content, an unknown role) would reach the provider as an empty or
    mangled message, so it is a bad line naming the field (``messages[2].content``).

Files and streams
    A regular file is read with :func:`read_lines` (blocking reads of a file on disk are
    as quick as the event loop's own work). A pipe, a FIFO or a terminal may wait for its
    next line for as long as its writer likes, so :func:`stream_lines` waits for it
    without blocking the event loop (requests in flight go on being answered) and yields
    each line as soon as it is complete: what was read ahead is at most one read's chunk
    beyond the current line.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio

from sluicegate.errors import BadInputError
from sluicegate.types import Message, coerce_messages

if TYPE_CHECKING:
    from sluicegate.client import Client

__all__ = [
    "BATCH_URL",
    "SIMPLE_FIELDS",
    "BadLine",
    "InputLine",
    "LineRules",
    "decode_line",
    "parse_line",
    "parse_record",
    "read_lines",
    "stream_lines",
]

BATCH_URL = "/v1/chat/completions"
STREAM_CHUNK = 1 << 16
"""Bytes asked of a stream per read: what :func:`stream_lines` may read ahead."""
SIMPLE_FIELDS = frozenset(
    {"id", "prompt", "messages", "model", "max_tokens", "temperature", "system", "top_p"}
    | {"stop", "tags"}
)
_RESERVED_BODY_FIELDS = frozenset(
    ("caller_id", "tags", "idempotency_key", "headers", "deadline", "fallbacks", "total_timeout")
)
"""Names the client reads as sluicegate's own request settings, not provider parameters."""


@dataclass(frozen=True, slots=True)
class InputLine:
    """A good line: what to ask, ready for ``client.request``."""

    line: int
    id: str
    model: str
    messages: tuple[Message, ...]
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BadLine:
    """A line that cannot be sent: its number, the reason, its id if one was read, and the
    field at fault when one is (``messages[1].content``, ``body.max_tokens``)."""

    line: int
    reason: str
    id: str | None = None
    field: str | None = None

    def error(self, file: str | None = None) -> BadInputError:
        """The same as a typed error, naming ``file`` (the input), the line and the field."""
        return BadInputError(self.reason, field=self.field, file=file, line=self.line)


@dataclass(frozen=True, slots=True)
class LineRules:
    """What a line is checked against: the ``--model`` default and the known providers
    (None: any provider is accepted, for parsing without a client), and the config file's
    model ``aliases``: a line's ``model`` (or ``--model``) that is an alias is the model
    it names, so the result line, the price and the resume key are the named model's."""

    default_model: str | None = None
    providers: frozenset[str] | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of_client(cls, default_model: str | None, client: Client) -> LineRules:
        """The rules of a run on ``client``: its providers and aliases."""
        aliases = client.aliases
        if default_model is not None:
            default_model = aliases.get(default_model, default_model)
        return cls(default_model, client.provider_names, aliases)


class _Bad(Exception):
    def __init__(self, reason: str, id: str | None = None, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.id = id
        self.field = field


def read_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    """``(line number, bytes)`` of each non-blank line, numbered from 1, read lazily."""
    for number, raw in enumerate(stream, 1):
        if raw.strip():
            yield number, raw


async def stream_lines(stream: BinaryIO) -> AsyncIterator[tuple[int, bytes]]:
    """What :func:`read_lines` gives, from a stream that may wait for its next line (a
    pipe): each line is yielded once it is complete (or at the end), and the wait for more
    does not block the event loop. The stream is read through its file descriptor, in
    chunks of at most :data:`STREAM_CHUNK` bytes."""
    fd = stream.fileno()
    watch = True  # until the descriptor turns out to be one the loop cannot watch
    number = 0
    parts: list[bytes] = []  # the current line's pieces so far (a long line spans reads)
    while True:
        if watch:
            try:
                await anyio.wait_readable(fd)
            except (OSError, NotImplementedError):  # a file epoll refuses; Windows' pipes
                watch = False
        try:
            data = os.read(fd, STREAM_CHUNK)
        except BlockingIOError:  # another reader took what was there
            continue
        if not data:
            break
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            number += 1
            piece = data[start : end + 1]
            raw = b"".join((*parts, piece)) if parts else piece
            parts.clear()
            start = end + 1
            if raw.strip():
                yield number, raw
        if start < len(data):
            parts.append(data[start:])
    if parts:
        raw = b"".join(parts)
        if raw.strip():
            yield number + 1, raw


def parse_line(raw: bytes | str, number: int, rules: LineRules) -> InputLine | BadLine:
    """One input line as an :class:`InputLine`, or a :class:`BadLine` saying why not."""
    value = decode_line(raw, number)
    if isinstance(value, BadLine):
        return value
    return parse_record(value, number, rules)


def decode_line(raw: bytes | str, number: int) -> dict[str, Any] | BadLine:
    """One input line's JSON object, not yet checked as a request (what
    :func:`parse_record` takes), or a :class:`BadLine`: not JSON, or not an object."""
    try:
        value = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError alike
        return BadLine(number, f"not valid JSON: {_short(exc)}")
    if not isinstance(value, dict):
        return BadLine(number, f"a line must be a JSON object, got {_json_type(value)}")
    return value


def parse_record(value: dict[str, Any], number: int, rules: LineRules) -> InputLine | BadLine:
    """A line already decoded from JSON (or a row of a table: ``sluicegate.ray_data``) as
    an :class:`InputLine`, or a :class:`BadLine`; ``number`` is its line or row number."""
    try:
        if "custom_id" in value or "body" in value:
            return _batch_line(value, number, rules)
        return _simple_line(value, number, rules)
    except _Bad as bad:
        return BadLine(number, bad.reason, bad.id, bad.field)


def _batch_line(value: dict[str, Any], number: int, rules: LineRules) -> InputLine:
    line_id = _read_id(value, "custom_id", allow_int=False)
    method = value.get("method", "POST")
    if method != "POST":
        raise _Bad(f"method must be 'POST', got {method!r}", line_id, "method")
    url = value.get("url", BATCH_URL)
    if url != BATCH_URL:
        raise _Bad(f"url {url!r} is not supported (only {BATCH_URL!r})", line_id, "url")
    body = value.get("body")
    if not isinstance(body, dict):
        raise _Bad(f"'body' must be an object, got {_json_type(body)}", line_id, "body")
    if body.get("stream"):
        raise _Bad(
            "body.stream is not supported: a run stores whole answers", line_id, "body.stream"
        )
    reserved = sorted(_RESERVED_BODY_FIELDS.intersection(body))
    if reserved:
        raise _Bad(
            f"body field {reserved[0]!r} is not a chat completions parameter",
            line_id,
            f"body.{reserved[0]}",
        )
    messages = _read_messages(body.get("messages"), "body.messages", line_id)
    model = _resolve_model(body.get("model"), "body.model", "openai", rules, line_id)
    params = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
    params.pop("stream_options", None)
    for name, check in _BODY_PARAMS.items():
        if params.get(name) is not None:  # null: the provider's default, as OpenAI reads it
            params[name] = check(params[name], f"body.{name}", line_id)
    return InputLine(number, line_id, model, messages, params)


def _simple_line(value: dict[str, Any], number: int, rules: LineRules) -> InputLine:
    line_id = _read_id(value, "id", allow_int=True)
    unknown = sorted(set(value) - SIMPLE_FIELDS)
    if unknown:
        known = ", ".join(sorted(SIMPLE_FIELDS))
        raise _Bad(f"unknown field {unknown[0]!r} (fields: {known})", line_id, unknown[0])
    if ("prompt" in value) == ("messages" in value):
        raise _Bad("give exactly one of 'prompt' or 'messages'", line_id)
    if "prompt" in value:
        prompt = value["prompt"]
        if not isinstance(prompt, str) or not prompt:
            raise _Bad("'prompt' must be a non-empty string", line_id, "prompt")
        messages: tuple[Message, ...] = (Message(role="user", content=prompt),)
    else:
        messages = _read_messages(value["messages"], "messages", line_id)
    system = value.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise _Bad("'system' must be a string", line_id, "system")
        messages = (Message(role="system", content=system), *messages)
    model = _resolve_model(value.get("model"), "model", None, rules, line_id)
    params: dict[str, Any] = {}
    for name, check in _SIMPLE_PARAMS.items():
        if name in value and value[name] is not None:
            params[name] = check(value[name], name, line_id)
    return InputLine(number, line_id, model, messages, params)


def _read_id(value: dict[str, Any], name: str, *, allow_int: bool) -> str:
    raw = value.get(name)
    if isinstance(raw, str) and raw:
        return raw
    if allow_int and isinstance(raw, int) and not isinstance(raw, bool):
        return str(raw)
    if raw is None:
        other = "custom_id" if name == "id" else "id"
        raise _Bad(
            f"missing {name!r}" + ("" if name == "custom_id" else f" (or {other!r})"), field=name
        )
    kind = "a non-empty string or an integer" if allow_int else "a non-empty string"
    raise _Bad(f"{name!r} must be {kind}, got {_json_type(raw)}", field=name)


def _read_messages(raw: Any, where: str, line_id: str) -> tuple[Message, ...]:
    if not isinstance(raw, list) or not raw:
        raise _Bad(f"{where!r} must be a non-empty list of messages", line_id, where)
    for index, message in enumerate(raw):
        _check_message(message, f"{where}[{index}]", line_id)
    try:
        return coerce_messages(raw)
    except BadInputError as exc:  # a content part's shape: named by coerce_messages
        field = f"{where}{(exc.field or '').removeprefix('messages')}"
        reason = exc.message.removeprefix(exc.field or "").lstrip()
        raise _Bad(f"{field} {reason}", line_id, field) from None
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # checked above; in case
        raise _Bad(f"{where}: malformed message ({type(exc).__name__}: {exc})", line_id) from None


_ROLE_NAMES = ("assistant", "system", "tool", "user")


def _check_message(message: Any, where: str, line_id: str) -> None:
    """Refuse a message the provider would get empty or mangled (see the module doc)."""
    if not isinstance(message, dict):
        raise _Bad(
            f"{where} must be an object with 'role' and 'content', got {_json_type(message)}",
            line_id,
            where,
        )
    role = message.get("role")
    if role is None:
        raise _Bad(
            f"{where}.role: missing (one of {', '.join(_ROLE_NAMES)})", line_id, f"{where}.role"
        )
    if not isinstance(role, str) or role not in _ROLE_NAMES:
        got = repr(role) if isinstance(role, str) else _json_type(role)
        raise _Bad(
            f"{where}.role must be one of {', '.join(_ROLE_NAMES)}, got {got}",
            line_id,
            f"{where}.role",
        )
    calls = message.get("tool_calls")
    if calls is not None:
        _check_tool_calls(calls, f"{where}.tool_calls", line_id)
    field = f"{where}.content"
    content = message.get("content")
    if content is None:
        if role != "assistant" or not calls:
            state = "null" if "content" in message else "missing"
            needs = "a string or a list of parts" + (
                ", or 'tool_calls'" if role == "assistant" else ""
            )
            raise _Bad(
                f"{field}: {state}; a {role} message needs its content ({needs})", line_id, field
            )
    elif isinstance(content, list):
        if not content:
            raise _Bad(
                f"{field}: an empty list; give a string or text/image_url parts", line_id, field
            )
    elif not isinstance(content, str):
        raise _Bad(
            f"{field} must be a string or a list of parts, got {_json_type(content)}",
            line_id,
            field,
        )
    for name in ("name", "tool_call_id"):
        value = message.get(name)
        if value is None and name == "tool_call_id" and role == "tool":
            raise _Bad(
                f"{where}.tool_call_id: missing; a tool message answers the call it names",
                line_id,
                f"{where}.{name}",
            )
        if value is not None and not isinstance(value, str):
            raise _Bad(
                f"{where}.{name} must be a string, got {_json_type(value)}",
                line_id,
                f"{where}.{name}",
            )


def _check_tool_calls(calls: Any, where: str, line_id: str) -> None:
    if not isinstance(calls, list):
        raise _Bad(f"{where} must be a list of tool calls, got {_json_type(calls)}", line_id, where)
    for index, call in enumerate(calls):
        at = f"{where}[{index}]"
        if not isinstance(call, dict):
            raise _Bad(
                f"{at} must be an object with 'id' and 'function', got {_json_type(call)}",
                line_id,
                at,
            )
        if not isinstance(call.get("id"), str):
            raise _Bad(
                f"{at}.id must be a string, got {_json_type(call.get('id'))}", line_id, f"{at}.id"
            )
        function = call.get("function")
        if not isinstance(function, dict):
            raise _Bad(
                f"{at}.function must be an object with 'name' and 'arguments', got "
                f"{_json_type(function)}",
                line_id,
                f"{at}.function",
            )
        for name in ("name", "arguments"):
            value = function.get(name)
            if (value is not None or name == "name") and not isinstance(value, str):
                raise _Bad(
                    f"{at}.function.{name} must be a string, got {_json_type(value)}",
                    line_id,
                    f"{at}.function.{name}",
                )


def _resolve_model(
    raw: Any, where: str, bare_provider: str | None, rules: LineRules, line_id: str
) -> str:
    default = rules.default_model
    if raw is None:
        if default is None:
            raise _Bad(f"no model: give {where!r} on the line or --model", line_id, where)
        model = default
    elif not isinstance(raw, str) or not raw.strip("/"):
        raise _Bad(f"{where!r} must be a model name, got {raw!r}", line_id, where)
    elif raw in rules.aliases:
        model = rules.aliases[raw]
    elif "/" in raw:
        model = raw
    elif default is not None:
        model = f"{default.partition('/')[0]}/{raw}"
    elif bare_provider is not None:
        model = f"{bare_provider}/{raw}"
    else:
        aliases = f"; aliases: {', '.join(sorted(rules.aliases))}" if rules.aliases else ""
        raise _Bad(
            f"model {raw!r} must be named provider/model or be an alias of the config file "
            f"(or give --model PROVIDER/... to supply the provider){aliases}",
            line_id,
            where,
        )
    provider, _, name = model.partition("/")
    if not provider or not name:
        raise _Bad(f"model {model!r} must be named provider/model", line_id, where)
    known = rules.providers
    if known is not None and provider not in known:
        raise _Bad(
            f"unknown provider {provider!r} in model {model!r} (known: {', '.join(sorted(known))})",
            line_id,
            where,
        )
    return model


def _positive_int(value: Any, name: str, line_id: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Bad(f"{name!r} must be an integer >= 1, got {value!r}", line_id, name)
    return value


def _number(value: Any, name: str, line_id: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{name!r} must be a number, got {value!r}", line_id, name)
    return value


def _strings(value: Any, name: str, line_id: str) -> str | list[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    raise _Bad(f"{name!r} must be a string or a list of strings", line_id, name)


_SIMPLE_PARAMS: dict[str, Callable[[Any, str, str], Any]] = {
    "max_tokens": _positive_int,
    "temperature": _number,
    "top_p": _number,
    "stop": _strings,
    "tags": _strings,
}
_BODY_PARAMS: dict[str, Callable[[Any, str, str], Any]] = {
    "max_tokens": _positive_int,
    "max_completion_tokens": _positive_int,
    "temperature": _number,
    "top_p": _number,
    "stop": _strings,
}
"""The batch body's parameters whose type sluicegate itself relies on (the others pass
through to the provider as they are)."""


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) <= 120 else text[:117] + "..."
