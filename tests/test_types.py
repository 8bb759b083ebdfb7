"""Requests are immutable and built from what callers naturally write."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate import BadInputError, ImagePart, Message, Params, Request, TextPart, Tool
from sluicegate.types import Metadata, Response, Usage, coerce_messages


def test_a_prompt_string_becomes_one_user_message() -> None:
    assert coerce_messages("hi") == (Message(role="user", content="hi"),)


def test_openai_style_dicts_with_parts_and_tool_calls() -> None:
    [message, tool] = coerce_messages(
        [
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "look "},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                ],
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
        ]
    )
    assert message.content == (TextPart("look "), ImagePart("data:image/png;base64,AA=="))
    assert message.text == "look "
    assert message.tool_calls[0].name == "f"
    assert tool.tool_call_id == "c1"


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "wizard", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": "x"}, "oops"], "messages[1]"),
        ([{"role": "user", "content": 5}], "messages[0].content"),
        ([{"role": "user", "content": [{"type": "audio"}]}], "messages[0].content[0]"),
    ],
)
def test_bad_messages_name_the_field(messages: list[object], field: str) -> None:
    with pytest.raises(BadInputError) as info:
        coerce_messages(messages)  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in str(info.value)


def test_params_split_known_fields_from_provider_extras() -> None:
    params = Params.from_kwargs(
        {
            "temperature": 0.1,
            "stop": "END",
            "seed": 3,
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        }
    )
    assert params.temperature == 0.1 and params.stop == ("END",)
    assert params.tools == (Tool("f", "", {}),)
    assert dict(params.extra) == {"seed": 3}
    with pytest.raises(TypeError):
        params.extra["x"] = 1  # type: ignore[index]


def test_request_is_immutable_and_replace_makes_a_copy() -> None:
    request = Request(model="openai/gpt-4o", messages=coerce_messages("hi"))
    assert request.provider == "openai" and request.model_name == "gpt-4o"
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.model = "x"  # type: ignore[misc]
    changed = request.replace(model="anthropic/claude")
    assert changed.provider == "anthropic" and request.provider == "openai"


def test_model_names_may_contain_slashes_after_the_provider() -> None:
    request = Request(model="vllm/meta-llama/Llama-3-8B", messages=())
    assert request.provider == "vllm" and request.model_name == "meta-llama/Llama-3-8B"


def _every_field_set() -> list[object]:
    return [
        Metadata(request_id="r1", tags=("a",), attempt=2),
        Request(model="openai/gpt-4o", messages=coerce_messages("hi"), stream=True),
        Response(text="hello", model="openai/gpt-4o", provider="openai", usage=Usage(3, 4)),
    ]


@pytest.mark.parametrize("value", _every_field_set(), ids=lambda v: type(v).__name__)
def test_replace_changes_exactly_the_named_field(value: Any) -> None:
    """``replace`` is generated straight-line code (types._replacer): for every field it
    must build what ``dataclasses.replace`` builds, and leave the original alone."""
    names = [f.name for f in dataclasses.fields(value)]
    before = {name: getattr(value, name) for name in names}
    for name in names:
        marker = object()
        copied = value.replace(**{name: marker})
        expected = dataclasses.replace(value, **{name: marker})
        assert type(copied) is type(value)
        for other in names:
            assert getattr(copied, other) is getattr(expected, other), (name, other)
        assert {n: getattr(value, n) for n in names} == before
    assert value.replace() == value and value.replace() is not value
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        value.replace(nope=1)


_counts = st.integers(min_value=0, max_value=2**53)
_usages = st.builds(Usage, _counts, _counts, _counts, _counts, _counts)
_USAGE_FIELDS = tuple(f.name for f in dataclasses.fields(Usage))


@given(a=_usages, b=_usages)
def test_usages_add_field_by_field(a: Usage, b: Usage) -> None:
    total = a + b
    for name in _USAGE_FIELDS:
        assert getattr(total, name) == getattr(a, name) + getattr(b, name), name


@given(earlier=_usages, later=_usages)
def test_a_later_usage_report_wins_where_it_gives_a_count(earlier: Usage, later: Usage) -> None:
    merged = earlier.updated(later)
    for name in _USAGE_FIELDS:
        expected = getattr(later, name) or getattr(earlier, name)
        assert getattr(merged, name) == expected, name


@given(a=_usages, b=_usages, c=_usages)
def test_usage_reports_fold_the_same_however_they_are_grouped(a: Usage, b: Usage, c: Usage) -> None:
    """So a stream's reports give one Usage whether folded as they come or in pieces."""
    assert a.updated(b).updated(c) == a.updated(b.updated(c))
    assert a.updated(a) == a
    assert Usage().updated(a) == a == a.updated(Usage())
