"""Input lines: both forms, model resolution, and every bad line named with its reason."""

from __future__ import annotations

import io
import json
import os
import threading
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.bulk.input import (
    STREAM_CHUNK,
    BadLine,
    InputLine,
    LineRules,
    parse_line,
    read_lines,
    stream_lines,
)
from sluicegate.errors import BadInputError

RULES = LineRules(default_model=None, providers=frozenset({"openai", "mock"}))


def parse(value: Any, rules: LineRules = RULES, number: int = 7) -> InputLine | BadLine:
    raw = value if isinstance(value, bytes | str) else json.dumps(value)
    return parse_line(raw, number, rules)


def good(value: Any, rules: LineRules = RULES) -> InputLine:
    line = parse(value, rules)
    assert isinstance(line, InputLine), line
    return line


def bad(value: Any, rules: LineRules = RULES) -> BadLine:
    line = parse(value, rules)
    assert isinstance(line, BadLine), line
    assert line.line == 7
    return line


def batch(body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "custom_id": "r1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": body,
        **extra,
    }


MESSAGES = [{"role": "user", "content": "hi"}]


def test_a_batch_line_keeps_its_parameters() -> None:
    line = good(batch({"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": 5, "seed": 1}))
    assert (line.id, line.model, line.line) == ("r1", "openai/gpt-4o-mini", 7)
    assert line.messages[0].text == "hi"
    assert dict(line.params) == {"max_tokens": 5, "seed": 1}


def test_a_simple_line_with_system_and_parameters() -> None:
    line = good(
        {
            "id": 3,
            "prompt": "sum up",
            "model": "mock/fast",
            "system": "terse",
            "temperature": 0,
            "max_tokens": 9,
            "stop": ["\n"],
            "tags": "nightly",
        }
    )
    assert (line.id, line.model) == ("3", "mock/fast")
    assert [m.role for m in line.messages] == ["system", "user"]
    assert dict(line.params) == {
        "max_tokens": 9,
        "temperature": 0,
        "stop": ["\n"],
        "tags": "nightly",
    }


@pytest.mark.parametrize(
    ("form", "model", "default", "expected"),
    [
        ("batch", "gpt-4o", None, "openai/gpt-4o"),
        ("batch", "gpt-4o", "mock/x", "mock/gpt-4o"),  # --model supplies the provider
        ("batch", "mock/fast", "openai/gpt-4o", "mock/fast"),  # the line's own model wins
        ("batch", None, "mock/x", "mock/x"),
        ("simple", None, "mock/x", "mock/x"),
        ("simple", "fast", "mock/x", "mock/fast"),
        ("simple", "openai/gpt-4o", "mock/x", "openai/gpt-4o"),
    ],
)
def test_which_model_a_line_uses(
    form: str, model: str | None, default: str | None, expected: str
) -> None:
    rules = LineRules(default, RULES.providers)
    if form == "batch":
        body: dict[str, Any] = {"messages": MESSAGES}
        if model is not None:
            body["model"] = model
        value = batch(body)
    else:
        value = {"id": "a", "prompt": "hi"} | ({"model": model} if model is not None else {})
    assert good(value, rules).model == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got a list"),
        ({"prompt": "hi", "model": "mock/x"}, "missing 'id'"),
        ({"id": "", "prompt": "hi"}, "'id' must be a non-empty string or an integer"),
        ({"id": True, "prompt": "hi"}, "'id' must be"),
        ({"id": "a", "model": "mock/x"}, "exactly one of 'prompt' or 'messages'"),
        ({"id": "a", "prompt": "x", "messages": MESSAGES, "model": "mock/x"}, "exactly one"),
        ({"id": "a", "prompt": "", "model": "mock/x"}, "'prompt' must be a non-empty string"),
        ({"id": "a", "prompt": "x"}, "no model"),
        ({"id": "a", "prompt": "x", "model": "fast"}, "must be named provider/model"),
        ({"id": "a", "prompt": "x", "model": "acme/fast"}, "unknown provider 'acme'"),
        ({"id": "a", "prompt": "x", "model": "mock/"}, "must be named provider/model"),
        (
            {"id": "a", "prompt": "x", "model": "mock/x", "max_token": 5},
            "unknown field 'max_token'",
        ),
        ({"id": "a", "prompt": "x", "model": "mock/x", "max_tokens": 0}, "'max_tokens' must be"),
        ({"id": "a", "prompt": "x", "model": "mock/x", "temperature": "hot"}, "'temperature'"),
        ({"id": "a", "messages": [{"role": "robot"}], "model": "mock/x"}, "messages[0].role"),
        ({"id": "a", "messages": [], "model": "mock/x"}, "non-empty list of messages"),
        (
            {"id": "a", "messages": [{"role": "assistant", "tool_calls": [5]}], "model": "mock/x"},
            "messages[0].tool_calls[0] must be an object",
        ),
        (batch({"messages": MESSAGES}, custom_id=5), "'custom_id' must be a non-empty string"),
        (batch({"messages": MESSAGES}, method="GET"), "method must be 'POST'"),
        (batch({"messages": MESSAGES}, url="/v1/embeddings"), "not supported"),
        (batch({"messages": MESSAGES, "stream": True}), "stream is not supported"),
        (batch({"messages": MESSAGES, "headers": {}}), "'headers' is not a chat completions"),
        ({"custom_id": "r1", "body": "text"}, "'body' must be an object"),
    ],
)
def test_bad_lines_say_why(value: Any, reason: str) -> None:
    assert reason in bad(value).reason


def test_a_bad_line_keeps_its_id_when_it_had_one() -> None:
    assert bad({"id": "a", "prompt": "x"}).id == "a"
    assert bad(b"oops").id is None


def test_read_lines_numbers_from_one_and_skips_blank_lines() -> None:
    data = b'{"a": 1}\n\n   \n{"b": 2}\n{"c": 3}'  # the last line has no newline
    assert [n for n, _ in read_lines(io.BytesIO(data))] == [1, 4, 5]


@given(st.binary(max_size=200))
def test_any_bytes_give_a_line_or_a_bad_line_never_an_exception(raw: bytes) -> None:
    assert isinstance(parse_line(raw, 1, RULES), InputLine | BadLine)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(
        st.sampled_from(["id", "custom_id", "prompt", "messages", "model", "body", "max_tokens"]),
        json_values,
    )
)
def test_any_json_object_gives_a_line_or_a_bad_line(value: dict[str, Any]) -> None:
    assert isinstance(parse_line(json.dumps(value), 1, RULES), InputLine | BadLine)


async def read_pipe(chunks: list[bytes], anyio_backend: str) -> list[tuple[int, bytes]]:
    """``stream_lines`` over a real pipe, written chunk by chunk by a thread that waits
    for each line read before writing on (so lines do arrive one by one)."""
    read_fd, write_fd = os.pipe()
    got: list[tuple[int, bytes]] = []

    def write() -> None:
        with os.fdopen(write_fd, "wb", buffering=0) as writer:
            for chunk in chunks:
                writer.write(chunk)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as stream, anyio.fail_after(10):
            got = [item async for item in stream_lines(stream)]
    finally:
        writer.join()
    return got


@pytest.mark.anyio
async def test_stream_lines_gives_what_read_lines_gives_from_a_pipe(anyio_backend: str) -> None:
    long = b'{"id": "long", "prompt": "' + b"x" * (3 * STREAM_CHUNK) + b'"}\r\n'
    chunks = [b'{"a": 1}\n\n  \n{"b"', b": 2}\n", long[:10], long[10:], b'{"c": 3}']
    data = b"".join(chunks)
    assert await read_pipe(chunks, anyio_backend) == list(read_lines(io.BytesIO(data)))


@pytest.mark.anyio
async def test_stream_lines_yields_a_line_before_the_pipe_is_closed(anyio_backend: str) -> None:
    """A quiet pipe does not block the event loop: the first line is yielded while the
    writer still holds the pipe open, and other tasks run meanwhile."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b'{"a": 1}\n')
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.001)

    with os.fdopen(read_fd, "rb", buffering=0) as stream:
        lines = stream_lines(stream)
        async with anyio.create_task_group() as group:
            group.start_soon(ticker)
            with anyio.fail_after(5):
                assert await anext(lines) == (1, b'{"a": 1}\n')
                before = ticks
                with anyio.move_on_after(0.05):  # nothing comes: the loop goes on
                    await anext(lines)
                assert ticks > before
            group.cancel_scope.cancel()
        await lines.aclose()
    os.close(write_fd)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_stream_lines_splits_any_chunks_as_read_lines_does(
    backend: str, chunks: list[bytes]
) -> None:
    # (hypothesis drives the examples, so each runs its own event loop, on both backends)
    async def main() -> list[tuple[int, bytes]]:
        return await read_pipe(chunks, backend)

    assert anyio.run(main, backend=backend) == list(read_lines(io.BytesIO(b"".join(chunks))))


def simple_messages(*messages: Any) -> dict[str, Any]:
    return {"id": "a", "messages": list(messages), "model": "mock/x"}


@pytest.mark.parametrize(
    ("message", "field", "reason"),
    [
        ({"role": "user"}, "messages[0].content", "missing"),
        ({"role": "user", "content": None}, "messages[0].content", "null"),
        ({"role": "system", "content": 5}, "messages[0].content", "got a number"),
        ({"role": "user", "content": {"text": "hi"}}, "messages[0].content", "got an object"),
        ({"role": "user", "content": True}, "messages[0].content", "got a boolean"),
        ({"role": "user", "content": []}, "messages[0].content", "empty list"),
        ({"role": "user", "content": [{"type": "audio"}]}, "messages[0].content[0]", "part"),
        ({"role": "assistant", "content": None}, "messages[0].content", "null"),
        ({"role": "assistant", "tool_calls": []}, "messages[0].content", "missing"),
        ({"content": "hi"}, "messages[0].role", "missing"),
        ({"role": None, "content": "hi"}, "messages[0].role", "missing"),
        ({"role": "robot", "content": "hi"}, "messages[0].role", "'robot'"),
        ({"role": ["user"], "content": "hi"}, "messages[0].role", "got a list"),
        ("hello", "messages[0]", "must be an object"),
        (None, "messages[0]", "got null"),
        ({"role": "tool", "content": "42"}, "messages[0].tool_call_id", "missing"),
        ({"role": "user", "content": "hi", "name": 3}, "messages[0].name", "string"),
        (
            {"role": "assistant", "tool_calls": [{"id": "c", "function": {"arguments": "{}"}}]},
            "messages[0].tool_calls[0].function.name",
            "string",
        ),
        (
            {"role": "assistant", "tool_calls": [{"id": "c", "function": "f"}]},
            "messages[0].tool_calls[0].function",
            "object",
        ),
        (
            {"role": "assistant", "tool_calls": {"id": "c"}},
            "messages[0].tool_calls",
            "list",
        ),
    ],
)
def test_a_malformed_message_is_a_bad_line_naming_its_field(
    message: Any, field: str, reason: str
) -> None:
    """Issue 10: ``{"role": "user"}`` was sent (as an empty message) instead of reported."""
    for value in (
        simple_messages({"role": "system", "content": "be brief"}, message),
        batch({"model": "gpt-4o", "messages": [message]}),
    ):
        line = bad(value)
        where = field.replace("messages[0]", "messages[1]") if "id" in value else field
        if "body" in value:
            where = "body." + field
        assert line.field == where, line
        assert line.reason.startswith(f"{where}: ") or line.reason.startswith(f"{where} "), line
        assert reason in line.reason, line
        assert line.id in ("a", "r1")


@pytest.mark.parametrize(
    "message",
    [
        {"role": "user", "content": ""},
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                _CALL := {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": "{}"},
                }
            ],
        },
        {"role": "assistant", "tool_calls": [_CALL]},
        {"role": "tool", "content": "42", "tool_call_id": "call_1"},
        {"role": "user", "content": "hi", "name": "ann"},
    ],
)
def test_well_formed_messages_are_taken(message: dict[str, Any]) -> None:
    line = good(simple_messages(message))
    assert line.messages[0].role == message["role"]


@pytest.mark.parametrize(
    ("body_field", "value"),
    [("max_tokens", 0), ("max_tokens", "9"), ("temperature", "hot"), ("top_p", "1"), ("stop", 5)],
)
def test_a_batch_body_parameter_of_the_wrong_type_is_a_bad_line(
    body_field: str, value: Any
) -> None:
    line = bad(batch({"model": "gpt-4o", "messages": MESSAGES, body_field: value}))
    assert line.field == f"body.{body_field}"
    assert f"'body.{body_field}'" in line.reason


MESSAGE_KEYS = (
    *("role", "content", "type", "text", "tool_calls", "function", "name", "id"),
    *("arguments", "tool_call_id", "image_url", "url"),
)
json_any = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.sampled_from(["user", "assistant", "system", "tool", "text", "mock/x", "function"]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(MESSAGE_KEYS) | st.text(max_size=4),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def _check_any_line(value: Any) -> InputLine | None:
    from sluicegate import Client

    item = parse_line(json.dumps(value), 3, RULES)
    assert isinstance(item, InputLine | BadLine)
    if isinstance(item, BadLine):
        assert item.line == 3 and isinstance(item.reason, str) and item.reason
        return None
    assert item.messages
    for message in item.messages:
        assert message.role in ("system", "user", "assistant", "tool")
        assert isinstance(message.content, str | tuple) and message.content != ()
    client = Client(load_entry_points=False)
    client.request(item.model, item.messages, caller_id=item.id, **item.params)
    return item


@given(json_any)
def test_any_json_value_gives_a_line_or_a_bad_line(value: Any) -> None:
    _check_any_line(value)


@given(st.lists(json_any, max_size=3), st.booleans())
def test_any_messages_give_a_sendable_line_or_a_bad_line(messages: list[Any], form: bool) -> None:
    """Whatever the messages hold, the line is a request that can be built, or a bad line:
    never an exception, never a message sent without its content."""
    if form:
        item = _check_any_line({"id": "a", "model": "mock/x", "messages": messages})
    else:
        item = _check_any_line(batch({"model": "gpt-4o", "messages": messages}))
    if item is not None:  # taken: every message had its content (or, assistant, its calls)
        for raw in messages:
            content = raw.get("content")
            assert (isinstance(content, str) or (isinstance(content, list) and content)) or (
                raw["role"] == "assistant" and raw.get("tool_calls")
            )


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"id": "a", "prompt": "", "model": "mock/x"}, "prompt"),
        ({"id": "a", "prompt": "x", "model": "acme/x"}, "model"),
        ({"id": "a", "prompt": "x", "model": "mock/x", "system": 1}, "system"),
        ({"prompt": "x", "model": "mock/x"}, "id"),
        (batch({"messages": MESSAGES, "model": 5}), "body.model"),
        ({"custom_id": "r1", "body": "text"}, "body"),
    ],
)
def test_a_bad_line_names_its_field_and_becomes_a_typed_error(value: Any, field: str) -> None:
    line = bad(value)
    assert line.field == field
    error = line.error("in.jsonl")
    assert isinstance(error, BadInputError)
    assert (error.file, error.line, error.field) == ("in.jsonl", 7, field)
    assert str(error).startswith("in.jsonl:7: ")
