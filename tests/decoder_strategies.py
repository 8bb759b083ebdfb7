"""Hypothesis strategies and checks shared by the decoder property tests of every provider.

A decoder's contract (issue 10): whatever a server sends, a decoder returns a well-typed
answer or raises a typed sluicegate error, never anything else. The strategies make the
inputs a hostile or broken server could send: arbitrary JSON values (with the field names
a decoder looks for, so the search reaches past the first type test), valid answers with
one field replaced by an arbitrary value or removed ("almost right"), JSON nested far past
the parser's recursion limit, and arbitrary bytes, raw or spliced into a valid body.

The number of examples comes from the hypothesis profile: the default keeps the suite
fast; ``SLUICEGATE_HYPOTHESIS_PROFILE=issue10`` (registered in ``tests/conftest.py``)
runs 10,000 examples per test, the count the issue asks for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from hypothesis import strategies as st

from sluicegate.errors import SluicegateError
from sluicegate.providers.checks import MAX_TOKEN_COUNT
from sluicegate.streaming import ResponseBuilder
from sluicegate.types import (
    FinishEvent,
    Response,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageEvent,
)

Path = tuple[str | int, ...]

NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2**53, 2**53 + 1, -(2**53), 1e999, -1e999, 0.5, 12.0]),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=20))


def json_values(keys: Sequence[str]) -> st.SearchStrategy[Any]:
    """Arbitrary JSON values whose object keys are often ones a decoder reads."""
    names = st.one_of(st.sampled_from(list(keys)), st.text(max_size=8))
    return st.recursive(
        SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.dictionaries(names, children, max_size=5),
        ),
        max_leaves=25,
    )


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every path to a node of a JSON value (the root included)."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from paths(child, (*prefix, i))


_DELETE = object()


def replaced(value: Any, path: Path, new: Any) -> Any:
    """``value`` with the node at ``path`` replaced by ``new`` (removed for _DELETE)."""
    if not path:
        return None if new is _DELETE else new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        out = dict(value)
        if not rest and new is _DELETE:
            out.pop(head, None)
        else:
            out[head] = replaced(value[head], rest, new)
        return out
    out_list = list(value)
    assert isinstance(head, int)
    if not rest and new is _DELETE:
        del out_list[head]
    else:
        out_list[head] = replaced(value[head], rest, new)
    return out_list


@st.composite
def almost_right(draw: st.DrawFn, valid: st.SearchStrategy[Any], keys: Sequence[str]) -> Any:
    """A valid answer with one node replaced by an arbitrary JSON value, or removed."""
    answer = draw(valid)
    path = draw(st.sampled_from(list(paths(answer))))
    new = draw(st.one_of(st.just(_DELETE), json_values(keys)))
    return replaced(answer, path, new)


def dumps(value: Any) -> str:
    """JSON as a server might write it (``Infinity``/``NaN`` included, as Python does)."""
    return json.dumps(value)


def deep(depth: int, opener: str = "[") -> str:
    closer = {"[": "]", "{": "}"}[opener]
    if opener == "{":
        return '{"a":' * depth + "1" + closer * depth
    return opener * depth + closer * depth


DEEP = st.builds(
    deep,
    st.integers(min_value=500, max_value=20_000),
    st.sampled_from(["[", "{"]),
)


@st.composite
def spliced_bytes(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> bytes:
    """A valid answer's bytes with arbitrary bytes (invalid UTF-8 among them) spliced in."""
    raw = dumps(draw(valid)).encode()
    at = draw(st.integers(min_value=0, max_value=len(raw)))
    cut = draw(st.integers(min_value=0, max_value=4))
    junk = draw(
        st.one_of(st.binary(max_size=8), st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80"]))
    )
    return raw[:at] + junk + raw[at + cut :]


def check_usage(usage: Usage) -> None:
    for count in (
        usage.input_tokens,
        usage.output_tokens,
        usage.cached_tokens,
        usage.cache_write_tokens,
    ):
        assert type(count) is int and 0 <= count <= MAX_TOKEN_COUNT, usage


def check_response(response: Response) -> None:
    """A decoded Response holds only the types it declares."""
    assert type(response.text) is str
    assert response.finish_reason is None or type(response.finish_reason) is str
    for call in response.tool_calls:
        assert type(call.id) is str and type(call.name) is str and type(call.arguments) is str
    check_usage(response.usage)


def check_events(events: list[StreamEvent]) -> None:
    """Stream events hold only the types they declare, and fold into a Response."""
    builder = ResponseBuilder()
    for event in events:
        kind = type(event)
        if kind is TextDelta:
            assert isinstance(event, TextDelta) and type(event.text) is str
        elif kind is ToolCallDelta:
            assert isinstance(event, ToolCallDelta)
            assert type(event.index) is int and event.index >= 0
            assert event.id is None or type(event.id) is str
            assert event.name is None or type(event.name) is str
            assert type(event.arguments) is str
        elif kind is UsageEvent:
            assert isinstance(event, UsageEvent)
            check_usage(event.usage)
        else:
            assert kind is FinishEvent, event
            assert isinstance(event, FinishEvent)
            assert event.reason is None or type(event.reason) is str
        builder.add(event)
    check_response(builder.build(model="p/m", provider="p", request_id=""))


def check_error(error: SluicegateError, provider: str, model: str) -> None:
    """A typed error names its provider and model, in a message of bounded size."""
    message = error.message
    assert f"{provider}/{model}" in message, message
    assert len(message) < 2_000, len(message)


def outcome(error: SluicegateError) -> str:
    """A label for hypothesis's statistics: the error type and what was wrong (the field
    path, or the parse failure), so a run shows which checks the examples reached."""
    message = error.message
    for marker in (
        "malformed chat completion: ",
        "malformed message: ",
        "malformed stream event: ",
    ):
        if marker in message:
            problem = message.split(marker, 1)[1]
            return f"{type(error).__name__}: {problem.split(':', 1)[0][:40]}"
    return type(error).__name__
