"""``client.chat(..., response_format=...)`` end to end against the mock server over HTTP:
the answer parsed and validated into ``.parsed``, re-asks told what was wrong, and every
ask counted in attempts, usage, cost and the ledger (priced from the server's own
token counts, not from what the client believes)."""

from __future__ import annotations

from typing import Any, Literal

import pytest
from pydantic import BaseModel

import sluicegate
from sluicegate import ProviderSettings, StructuredAnswerError
from sluicegate.testing import MockConfig, serve_mock
from structured.shapes import REVIEW_SCHEMA

pytestmark = pytest.mark.anyio

MODEL = "mock/fast"
PRICE_IN, PRICE_OUT = 0.10, 0.40  # mock/fast, USD per million tokens


class Review(BaseModel):
    sentiment: Literal["positive", "negative", "mixed"]
    score: int
    summary: str | None = None


def client_for(base_url: str, **kwargs: Any) -> sluicegate.Client:
    return sluicegate.Client(
        providers={"mock": ProviderSettings(base_url=base_url + "/v1")},
        load_entry_points=False,
        **kwargs,
    )


def server_cost(stats: dict[str, Any]) -> float:
    return (stats["input_tokens"] * PRICE_IN + stats["output_tokens"] * PRICE_OUT) / 1e6


async def test_two_invalid_answers_then_a_valid_one_take_exactly_three_attempts() -> None:
    async with serve_mock(MockConfig(invalid_json_answers=2)) as server:
        async with client_for(server.base_url) as client:
            response = await client.chat(
                MODEL, "Review: the phone is great", response_format=Review
            )
            ledger = client.ledger.snapshot().total
        stats = server.stats.snapshot()
    assert isinstance(response.parsed, Review)
    assert response.parsed.sentiment in ("positive", "negative", "mixed")
    assert response.attempts == 3
    assert stats["requests"] == 3 and stats["succeeded"] == 3
    # the usage and cost of all three asks, as the server counted them
    assert response.usage.input_tokens == stats["input_tokens"]
    assert response.usage.output_tokens == stats["output_tokens"]
    assert response.cost == pytest.approx(server_cost(stats), rel=1e-9)
    assert ledger.requests == 3 and ledger.cost == pytest.approx(response.cost, rel=1e-9)


async def test_an_answer_that_never_fits_is_a_typed_error_carrying_what_was_spent() -> None:
    async with serve_mock(MockConfig(invalid_json_answers=5)) as server:
        async with client_for(server.base_url) as client:
            with pytest.raises(StructuredAnswerError) as caught:
                await client.chat(MODEL, "Review: meh", response_format=REVIEW_SCHEMA, reasks=1)
            ledger = client.ledger.snapshot().total
        stats = server.stats.snapshot()
    error = caught.value
    assert error.asks == 2 and error.attempts == 2 and stats["requests"] == 2
    assert "mock/fast" in str(error) and "Review" in str(error) and "2 asks" in str(error)
    assert error.problems and error.problems[0].startswith("sentiment")  # the wrong shape
    assert error.cost == pytest.approx(server_cost(stats), rel=1e-9)
    assert ledger.cost == pytest.approx(error.cost, rel=1e-9)


async def test_reasks_zero_asks_once_and_the_client_default_is_two() -> None:
    async with serve_mock(MockConfig(invalid_json_answers=1)) as server:
        async with client_for(server.base_url) as client:
            with pytest.raises(StructuredAnswerError) as caught:
                await client.chat(MODEL, "Review: fine", response_format=Review, reasks=0)
            assert caught.value.asks == 1
            answered = await client.chat(MODEL, "Review: fine", response_format=Review)
        assert answered.attempts == 2 and isinstance(answered.parsed, Review)
        assert server.stats.snapshot()["requests"] == 3


async def test_the_client_policy_sets_the_reasks() -> None:
    async with serve_mock(MockConfig(invalid_json_answers=3)) as server:
        async with client_for(
            server.base_url, stage_settings={"structured": {"reasks": 3}}
        ) as client:
            response = await client.chat(MODEL, "Review: ok", response_format=REVIEW_SCHEMA)
    assert response.attempts == 4
    assert response.parsed["sentiment"] in ("positive", "negative", "mixed")
    assert 1 <= response.parsed["score"] <= 5


@pytest.mark.parametrize(
    "shape",
    [
        Review,
        REVIEW_SCHEMA,
        {"type": "json_schema", "json_schema": {"name": "review", "schema": REVIEW_SCHEMA}},
        {"type": "json_object"},
    ],
    ids=["pydantic", "json-schema", "openai-json-schema", "openai-json-object"],
)
async def test_every_form_of_response_format_gets_a_parsed_answer(shape: Any) -> None:
    async with sluicegate.Client(load_entry_points=False) as client:
        response = await client.chat(MODEL, "Review: lovely", response_format=shape)
    assert response.parsed is not None and response.attempts == 1
    if shape is Review:
        assert isinstance(response.parsed, Review)
    else:
        assert isinstance(response.parsed, dict)


async def test_each_reask_carries_its_own_key_derived_from_the_callers() -> None:
    async with serve_mock(MockConfig(invalid_json_answers=2)) as server:
        async with client_for(server.base_url) as client:
            first = await client.chat(
                MODEL, "Review: good", response_format=Review, idempotency_key="doc-7"
            )
            again = await client.chat(
                MODEL, "Review: good", response_format=Review, idempotency_key="doc-7"
            )
        keys = server.stats.snapshot()["idempotency"]
    assert set(keys) == {"doc-7", "doc-7:ask2", "doc-7:ask3"}
    assert all(k["received"] == 1 for k in keys.values())
    # the same call again is replayed ask by ask from the client's records: nothing sent
    assert again.parsed == first.parsed and again.attempts == 0 and again.cost == 0


async def test_a_streamed_structured_answer_is_parsed_at_its_end() -> None:
    async with sluicegate.Client(load_entry_points=False) as client:
        async with client.stream(MODEL, "Review: superb", response_format=Review) as stream:
            text = "".join([piece async for piece in stream.text_chunks()])
            final = await stream.final_response()
    assert isinstance(final.parsed, Review) and Review.model_validate_json(text) == final.parsed


async def test_a_streamed_answer_that_does_not_fit_ends_the_stream_with_the_error() -> None:
    async with serve_mock(MockConfig(invalid_json_answers=1)) as server:
        async with client_for(server.base_url) as client:
            with pytest.raises(StructuredAnswerError, match="no JSON"):
                async with client.stream(MODEL, "Review: so-so", response_format=Review) as s:
                    async for _ in s:
                        pass
        assert server.stats.snapshot()["requests"] == 1  # a stream is not re-asked


async def test_a_call_of_the_callers_own_tool_is_returned_unparsed() -> None:
    weather = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    }
    async with sluicegate.Client(load_entry_points=False) as client:
        response = await client.chat(
            MODEL, "What is the weather in Oslo?", response_format=Review, tools=[weather]
        )
    assert response.parsed is None and response.attempts == 1
    assert [c.name for c in response.tool_calls] == ["get_weather"]


async def test_a_bad_reasks_value_or_schema_is_refused_before_sending() -> None:
    async with sluicegate.Client(load_entry_points=False) as client:
        with pytest.raises(sluicegate.ConfigError, match="reasks must be a whole number"):
            await client.chat(MODEL, "x", response_format=Review, reasks=-1)
        with pytest.raises(sluicegate.ConfigError, match="not a valid JSON Schema"):
            await client.chat(MODEL, "x", response_format={"type": "objekt"})
        assert client.ledger.snapshot().total.requests == 0
