"""The cost stage: every response priced by the model that answered, streams priced at
their end or by their counted text when cut, replays free, unknown prices unknown
(must-show 4), and the ledger fed once per logical request."""

from __future__ import annotations

import pytest
import structlog

from sluicegate import (
    ConfigError,
    ModelPrice,
    ProviderError,
    Response,
    StreamError,
    TextDelta,
    Usage,
    cost_of,
)
from sluicegate.estimate import estimate_input_tokens
from sluicegate.testing import Answer, ScriptedTransport, openai_completion, openai_sse
from sluicegate.types import Request, coerce_messages

from .helpers import Ask, UsageTransport, usage_client

pytestmark = pytest.mark.anyio

MINI, GPT4O = "openai/gpt-4o-mini", "openai/gpt-4o"


def price_of(client: object, model: str) -> ModelPrice:
    found = client.prices.lookup(model)  # type: ignore[attr-defined]
    assert found is not None
    return found


async def test_a_response_carries_its_cost_and_the_ledger_counts_it() -> None:
    async with usage_client(UsageTransport()) as client:
        response = await client.chat(MINI, Ask(1200, 300, cached_tokens=1000).prompt())
        expected = cost_of(Usage(1200, 300, 1000), price_of(client, MINI))
        assert response.cost == expected == (200 * 0.15 + 1000 * 0.075 + 300 * 0.60) / 1e6
        snapshot = client.ledger.snapshot()
    model = snapshot.by_model[MINI]
    assert (model.requests, model.errors, model.cost, model.cost_unknown) == (1, 0, expected, 0)
    assert (model.input_tokens, model.output_tokens, model.cached_tokens) == (1200, 300, 1000)
    assert snapshot.total == model


async def test_a_fallback_answer_is_priced_by_the_model_that_answered() -> None:
    transport = UsageTransport(fail_models=frozenset({"gpt-4o"}))
    async with usage_client(transport) as client:
        response = await client.chat(GPT4O, Ask(1000, 1000).prompt(), fallbacks=[MINI])
        assert response.model == MINI
        assert response.cost == cost_of(Usage(1000, 1000), price_of(client, MINI))
        snapshot = client.ledger.snapshot()
    assert set(snapshot.by_model) == {MINI}
    assert snapshot.total.cost == response.cost


async def test_a_stream_ends_with_its_cost_from_the_final_usage() -> None:
    async with usage_client(UsageTransport()) as client:
        async with client.stream(MINI, Ask(40, 7, turns=2, text="streamed").prompt()) as stream:
            response = await stream.final_response()
        assert response.cost == cost_of(Usage(40, 7), price_of(client, MINI))
        assert client.ledger.snapshot().total.cost == response.cost


def _request(prompt: str) -> Request:
    return Request(model=MINI, messages=coerce_messages(prompt))


async def test_a_cut_stream_is_charged_by_its_counted_text() -> None:
    chunks = openai_sse(["hello ", "world"], done=False)[:2]  # two text pieces, then cut
    transport = ScriptedTransport(Answer(200, {}, chunks, cut=True))
    texts: list[str] = []
    async with usage_client(transport) as client:
        with pytest.raises(StreamError) as caught:
            async with client.stream(MINI, "tell me") as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        texts.append(event.text)
        snapshot = client.ledger.snapshot()
        mini = price_of(client, MINI)
    assert "".join(texts) == caught.value.partial_text == "hello world"
    # no usage arrived: input from the request's estimate, output 11 characters / 4
    counted = Usage(estimate_input_tokens(_request("tell me")), 3)
    assert caught.value.cost == cost_of(counted, mini)
    totals = snapshot.by_model[MINI]
    assert (totals.requests, totals.errors, totals.cut_streams) == (1, 1, 1)
    assert dict(totals.error_types) == {"StreamError": 1}
    assert totals.cost == caught.value.cost
    assert (totals.input_tokens, totals.output_tokens) == (counted.input_tokens, 3)


async def test_a_stream_closed_by_its_reader_is_charged_for_what_it_delivered() -> None:
    async with usage_client(UsageTransport()) as client:
        prompt = Ask(50, 10, text="twelve chars").prompt()
        async with client.stream(MINI, prompt) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    break  # the reader leaves before the end
        snapshot = client.ledger.snapshot()
        expected = cost_of(
            Usage(estimate_input_tokens(_request(prompt)), 3), price_of(client, MINI)
        )
    totals = snapshot.total
    assert (totals.requests, totals.cut_streams, totals.cost) == (1, 1, expected)
    assert dict(totals.error_types) == {"StreamClosed": 1}


async def test_a_replayed_answer_costs_nothing_and_is_not_counted_twice() -> None:
    transport = UsageTransport()
    async with usage_client(transport) as client:
        prompt = Ask(100, 100).prompt()
        first = await client.chat(MINI, prompt, idempotency_key="order-1")
        again = await client.chat(MINI, prompt, idempotency_key="order-1")
        async with client.stream(MINI, prompt, idempotency_key="order-1") as stream:
            streamed = await stream.final_response()
        snapshot = client.ledger.snapshot()
    assert len(transport.received) == 1
    assert first.cost is not None and first.cost > 0
    assert (again.attempts, again.cost, streamed.attempts, streamed.cost) == (0, 0.0, 0, 0.0)
    totals = snapshot.total
    assert (totals.requests, totals.replayed, totals.cost) == (1, 2, first.cost)
    assert totals.input_tokens == 100


async def test_an_unknown_price_is_warned_once_reported_unknown_and_counted() -> None:
    """Must-show 4."""
    with structlog.testing.capture_logs() as logs:
        async with usage_client(UsageTransport()) as client:
            responses = [
                await client.chat("openai/gpt-unpriced", Ask(10, 5).prompt()),
                await client.chat("openai/gpt-unpriced", Ask(20, 5).prompt()),
                # kind=openai, serving a model no price (bundled or the user's) knows
                await client.chat("vllm/llama-3-70b", Ask(30, 5).prompt()),
                await client.chat(MINI, Ask(40, 5).prompt()),
            ]
            async with client.stream("openai/gpt-unpriced", Ask(50, 5).prompt()) as stream:
                responses.append(await stream.final_response())
            snapshot = client.ledger.snapshot()
    warnings = [e for e in logs if e["event"] == "price.unknown"]
    assert sorted(e["model"] for e in warnings) == ["openai/gpt-unpriced", "vllm/llama-3-70b"]
    assert all(e["log_level"] == "warning" for e in warnings)
    assert [r.cost is None for r in responses] == [True, True, True, False, True]
    unpriced = snapshot.by_model["openai/gpt-unpriced"]
    assert (unpriced.requests, unpriced.cost_unknown, unpriced.cost) == (3, 3, 0.0)
    assert unpriced.input_tokens == 80  # tokens are still counted
    total = snapshot.total
    assert (total.requests, total.cost_unknown) == (5, 4)
    assert total.cost == responses[3].cost  # only the known cost, never a made-up 0 price


async def test_an_answer_without_usage_has_an_unknown_cost() -> None:
    body = openai_completion("no usage")
    del body["usage"]
    with structlog.testing.capture_logs() as logs:
        async with usage_client(ScriptedTransport(Answer.json(200, body))) as client:
            response = await client.chat(MINI, "hi")
            await client.chat(MINI, "hi")
            snapshot = client.ledger.snapshot()
    assert response.cost is None
    assert [e["model"] for e in logs if e["event"] == "usage.missing"] == [MINI]
    assert (snapshot.total.requests, snapshot.total.cost_unknown) == (2, 2)


async def test_failures_are_counted_by_type_under_the_requested_model() -> None:
    answer = Answer.json(400, {"error": {"message": "bad", "type": "invalid_request_error"}})
    async with usage_client(ScriptedTransport(answer)) as client:
        with pytest.raises(ProviderError) as caught:
            await client.chat(MINI, "hi", tags=["nightly"])
        snapshot = client.ledger.snapshot()
    for totals in (snapshot.total, snapshot.by_model[MINI], snapshot.by_tag["nightly"]):
        assert (totals.requests, totals.errors, totals.cost) == (1, 1, 0.0)
        assert dict(totals.error_types) == {type(caught.value).__name__: 1}


async def test_tags_each_get_the_request_once() -> None:
    async with usage_client(UsageTransport()) as client:
        a = await client.chat(MINI, Ask(100, 10).prompt(), tags=["a", "b", "a"])
        b = await client.chat(GPT4O, Ask(100, 10).prompt(), tags="a")
        snapshot = client.ledger.snapshot()
    assert a.cost is not None and b.cost is not None
    assert snapshot.by_tag["a"].requests == 2 and snapshot.by_tag["b"].requests == 1
    assert snapshot.by_tag["a"].cost == a.cost + b.cost
    assert snapshot.by_tag["b"].cost == a.cost
    assert snapshot.total.requests == 2


async def test_a_snapshot_does_not_change_afterwards() -> None:
    async with usage_client(UsageTransport()) as client:
        await client.chat(MINI, Ask(1, 1).prompt())
        before = client.ledger.snapshot()
        await client.chat(MINI, Ask(1, 1).prompt())
        after = client.ledger.snapshot()
    assert (before.total.requests, after.total.requests) == (1, 2)
    with pytest.raises(TypeError):
        before.by_model["x"] = before.total  # type: ignore[index]


async def test_turning_the_stage_off_leaves_costs_unknown_unless_a_budget_needs_it() -> None:
    async with usage_client(UsageTransport(), disable=["cost"]) as client:
        response = await client.chat(MINI, Ask(1, 1).prompt())
        assert isinstance(response, Response) and response.cost is None
        assert "cost" not in client.stages
    with pytest.raises(ConfigError, match="budget"):
        async with usage_client(UsageTransport(), disable=["cost"], budget=1.0):
            pass
    with pytest.raises(ConfigError, match="budget"):
        async with usage_client(UsageTransport(), stage_settings={"cost": False}, budget=1.0):
            pass


async def test_the_request_log_event_carries_the_cost() -> None:
    with structlog.testing.capture_logs() as logs:
        async with usage_client(UsageTransport()) as client:
            response = await client.chat(MINI, Ask(10, 10).prompt())
    [event] = [e for e in logs if e["event"] == "request.finished"]
    assert event["cost_usd"] == response.cost is not None
