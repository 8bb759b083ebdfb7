"""Structured answers on Anthropic: asked as a forced tool whose input schema is the
answer's shape (the documented way), read from the tool call's input, and re-asked with
the problems as that call's tool_result, against the mock server over HTTP."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import sluicegate
from sluicegate import BadInputError, ProviderSettings
from sluicegate.plugins import MiddlewareSpec, Phase
from sluicegate.testing import Answer, MockConfig, ScriptedTransport, serve_mock
from sluicegate_anthropic import plugin

pytestmark = pytest.mark.anyio

MODEL = "anthropic/claude-sonnet-4-5"


class Review(BaseModel):
    sentiment: Literal["positive", "negative", "mixed"]
    score: int


def client_for(base_url: str, **kwargs: Any) -> sluicegate.Client:
    return sluicegate.Client(
        providers={"anthropic": ProviderSettings(base_url=base_url, api_key="test-key")},
        plugins=[plugin],
        load_entry_points=False,
        **kwargs,
    )


async def test_the_answer_tool_is_forced_and_reasked_with_a_tool_result() -> None:
    sent: list[dict[str, Any]] = []

    async def watch(request: Any, call_next: Any) -> Any:
        from sluicegate_anthropic.request import encode_body

        sent.append(encode_body(request))
        return await call_next(request)

    spec = MiddlewareSpec("watch", Phase.AUTH - 1, lambda context: watch)
    async with serve_mock(MockConfig(invalid_json_answers=2)) as server:
        async with client_for(server.base_url, middleware=[spec]) as client:
            response = await client.chat(MODEL, "Review: it works", response_format=Review)
        stats = server.stats.snapshot()
    assert isinstance(response.parsed, Review) and response.attempts == 3
    assert stats["requests"] == 3
    assert response.cost is not None and response.cost > 0
    assert [b["tool_choice"] for b in sent] == [{"type": "tool", "name": "Review"}] * 3
    assert sent[0]["tools"][0]["input_schema"] == Review.model_json_schema()
    # the re-ask: the earlier answer as a tool_use turn, the problems as its tool_result
    last = sent[2]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "user", "assistant", "user"]
    use = last[3]["content"][-1]
    result = last[4]["content"][0]
    assert use["type"] == "tool_use" and use["name"] == "Review"
    assert result["type"] == "tool_result" and result["tool_use_id"] == use["id"]
    assert "sentiment" in json.dumps(result["content"])


async def test_a_schema_that_is_not_an_object_is_refused_naming_the_field() -> None:
    answer = Answer.json(200, {})
    async with client_for("http://127.0.0.1:9", transport=ScriptedTransport(answer)) as client:
        with pytest.raises(BadInputError, match="JSON object schema") as caught:
            await client.chat(MODEL, "list", response_format={"type": "array"})
    assert caught.value.field == "response_format"
