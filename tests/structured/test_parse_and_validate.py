"""Structured answers, the parsing half: the JSON in an answer as models write it (fenced,
in prose, truncated, trailing commas, single quotes) is found and repaired, then checked
against a pydantic model or a JSON Schema; what cannot be is a typed error whose
problems name the fields (what a re-ask will tell the model)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from sluicegate.errors import ConfigError, StructuredAnswerError
from sluicegate.structured import AnswerSchema, parse_answer


class Review(BaseModel):
    sentiment: str
    score: int


REVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"enum": ["positive", "negative", "mixed"]},
        "score": {"type": "integer"},
    },
    "required": ["sentiment", "score"],
}

EXPECTED = {"sentiment": "positive", "score": 4}

BROKEN = {
    "plain": '{"sentiment": "positive", "score": 4}',
    "fenced": '```json\n{"sentiment": "positive", "score": 4}\n```',
    "fenced without a language": '```\n{"sentiment": "positive", "score": 4}\n```',
    "prose around": (
        'Sure! Here is the classification:\n{"sentiment": "positive", "score": 4}\nHope that helps.'
    ),
    "trailing comma": '{"sentiment": "positive", "score": 4,}',
    "single quotes": "{'sentiment': 'positive', 'score': 4}",
    "truncated": '{"sentiment": "positive", "score": 4',
    "unquoted keys": '{sentiment: "positive", score: 4}',
    "a comment inside": '{"sentiment": "positive", // the tone\n "score": 4}',
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("shape", [Review, REVIEW_SCHEMA], ids=["pydantic", "json-schema"])
def test_broken_json_is_found_repaired_and_validated(case: str, shape: Any) -> None:
    value = parse_answer(BROKEN[case])
    assert value == EXPECTED, (case, value)
    parsed = AnswerSchema(shape).validate(value)
    if shape is Review:
        assert parsed == Review(**EXPECTED)
    else:
        assert parsed == EXPECTED


@pytest.mark.parametrize("text", ["", "   ", "I cannot classify this review.", "positive"])
def test_an_answer_without_json_is_a_typed_error(text: str) -> None:
    with pytest.raises(StructuredAnswerError, match="no JSON object or array") as caught:
        parse_answer(text)
    assert caught.value.answer == text


@pytest.mark.parametrize("shape", [Review, REVIEW_SCHEMA], ids=["pydantic", "json-schema"])
def test_the_wrong_shape_names_every_field_at_fault(shape: Any) -> None:
    schema = AnswerSchema(shape)
    with pytest.raises(StructuredAnswerError) as caught:
        schema.validate({"sentiment": "positive", "score": "four"}, answer="raw text")
    assert any(p.startswith("score:") for p in caught.value.problems), caught.value.problems
    assert caught.value.answer == "raw text"
    with pytest.raises(StructuredAnswerError) as caught:
        schema.validate({"score": 1})
    assert any("sentiment" in p for p in caught.value.problems), caught.value.problems


def test_the_schema_a_provider_is_asked_to_follow() -> None:
    assert AnswerSchema(Review).json_schema["properties"].keys() == {"sentiment", "score"}
    assert AnswerSchema(REVIEW_SCHEMA).json_schema == REVIEW_SCHEMA
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        AnswerSchema({"type": "objekt"})
    with pytest.raises(ConfigError, match="pydantic model class or a JSON Schema dict"):
        AnswerSchema("Review")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
_objects = st.dictionaries(st.text(min_size=1, max_size=6), _json, min_size=1, max_size=5)


@given(_objects, st.sampled_from(["{}", "```json\n{}\n```", "Here you go: {}", "{}\n\nDone."]))
def test_any_object_written_as_models_write_it_reads_back(
    value: dict[str, Any], frame: str
) -> None:
    text = frame.replace("{}", json.dumps(value, ensure_ascii=False), 1)
    assert parse_answer(text) == value


def test_a_model_pydantic_cannot_describe_is_a_config_error_naming_it() -> None:
    from pydantic import BaseModel

    class Later(BaseModel):
        value: NotDefinedYet  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(ConfigError, match="response_format Later: pydantic cannot write"):
        AnswerSchema(Later)


@pytest.mark.parametrize(
    "shape",
    [
        Review,
        REVIEW_SCHEMA,
        {"type": "json_object"},
        {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": REVIEW_SCHEMA, "strict": True},
        },
    ],
)
def test_a_schema_shipped_as_its_response_format_is_the_same_schema(shape: Any) -> None:
    """What a Ray actor rebuilds from the plain dict equals what the driver built, so its
    requests fingerprint (and so key) the same."""
    schema = AnswerSchema(shape)
    again = AnswerSchema(json.loads(json.dumps(schema.as_response_format())))
    assert again == schema and repr(again) == repr(schema) and again.name == schema.name
