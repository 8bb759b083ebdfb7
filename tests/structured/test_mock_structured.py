"""The mock's structured answers: any schema of the kinds models are asked for gets a
value that fits it (checked by jsonschema, a validator we did not write), and the
invalid asks fail the way they say."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate import StructuredAnswerError
from sluicegate.structured import AnswerSchema, parse_answer
from sluicegate.testing.content import count_tokens, text_answer
from sluicegate.testing.mock_structured import json_for_schema, structured_text

_names = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


def _leaf() -> st.SearchStrategy[dict[str, Any]]:
    bounded_int = st.tuples(st.integers(-50, 50), st.integers(0, 20)).map(
        lambda t: {"type": "integer", "minimum": t[0], "maximum": t[0] + t[1]}
    )
    return st.one_of(
        st.just({"type": "string"}),
        st.integers(0, 12).map(lambda n: {"type": "string", "minLength": n}),
        st.sampled_from(["date", "email", "uri"]).map(lambda f: {"type": "string", "format": f}),
        bounded_int,
        st.just({"type": "number", "minimum": 0, "maximum": 1}),
        st.just({"type": "boolean"}),
        st.lists(_names, min_size=1, max_size=4, unique=True).map(lambda e: {"enum": e}),
        st.just({"anyOf": [{"type": "null"}, {"type": "integer"}]}),
        st.just({"type": ["string", "null"]}),
    )


schemas = st.recursive(
    _leaf(),
    lambda inner: st.one_of(
        st.dictionaries(_names, inner, min_size=1, max_size=4).map(
            lambda props: {
                "type": "object",
                "properties": props,
                "required": sorted(props),
                "additionalProperties": False,
            }
        ),
        st.tuples(inner, st.integers(0, 3)).map(
            lambda t: {"type": "array", "items": t[0], "minItems": t[1]}
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(schema=schemas, seed=st.text(max_size=20))
def test_the_value_made_for_any_schema_fits_it(schema: dict[str, Any], seed: str) -> None:
    jsonschema.validate(json_for_schema(schema, seed), schema)


def test_refs_into_defs_are_followed_as_pydantic_writes_them() -> None:
    from pydantic import BaseModel

    class Item(BaseModel):
        name: str
        qty: int

    class Order(BaseModel):
        items: list[Item]
        note: str | None = None

    value = json_for_schema(Order.model_json_schema(), "order")
    assert Order.model_validate(value).items[0].name


@settings(max_examples=100, deadline=None)
@given(schema=schemas, invalid=st.integers(0, 4), as_tool=st.booleans())
def test_the_first_asks_fail_as_configured_then_the_answer_fits(
    schema: dict[str, Any], invalid: int, as_tool: bool
) -> None:
    wrapped = {"type": "object", "properties": {"v": schema}, "required": ["v"]}
    answer = AnswerSchema(wrapped)
    for ask in range(invalid + 1):
        text = structured_text(wrapped, "p", ask=ask, invalid_answers=invalid, as_tool=as_tool)
        if ask < invalid:
            with pytest.raises(StructuredAnswerError):  # no JSON, or the wrong shape
                answer.validate(parse_answer(text), text)
        else:
            assert answer.validate(parse_answer(text), text) == json_for_schema(wrapped, "p")
        if as_tool:
            assert isinstance(json.loads(text), dict)  # a tool's input is always an object


@given(text=st.text(max_size=200))
def test_a_given_text_is_cut_into_one_token_pieces_that_join_back(text: str) -> None:
    answer = text_answer(text)
    assert answer.text == text.rstrip() == "".join(answer.tokens)
    assert all(count_tokens(piece) == 1 for piece in answer.tokens)
    assert answer.output_tokens == count_tokens(text)
