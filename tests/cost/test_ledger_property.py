"""Must-show 2: under concurrency, the ledger's totals equal the sums of the responses'
costs and usages, per model, per tag and in total, exactly (``math.fsum``), whatever
order the requests finish in."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import anyio
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluicegate import Response, Usage

from .helpers import Ask, UsageTransport, usage_client

pytestmark = pytest.mark.anyio

MODELS = ("openai/gpt-4o-mini", "openai/gpt-4o", "openai/gpt-5-nano", "vllm/unpriced")
TAGS = ("batch-a", "batch-b", "eval")


@dataclass(frozen=True)
class Call:
    model: str
    ask: Ask
    tags: tuple[str, ...]
    stream: bool


@st.composite
def calls(draw: st.DrawFn) -> list[Call]:
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=40))):
        inp = draw(st.integers(min_value=1, max_value=200_000))
        ask = Ask(
            inp,
            draw(st.integers(min_value=0, max_value=50_000)),
            cached_tokens=draw(st.integers(min_value=0, max_value=inp)),
            turns=draw(st.integers(min_value=0, max_value=6)),
        )
        out.append(
            Call(
                draw(st.sampled_from(MODELS)),
                ask,
                tuple(draw(st.lists(st.sampled_from(TAGS), max_size=3))),
                draw(st.booleans()),
            )
        )
    return out


@given(calls())
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_ledger_totals_equal_the_sum_of_response_costs(batch: list[Call]) -> None:
    results: list[tuple[Call, Response]] = []
    with structlog.testing.capture_logs():  # the unpriced model's one warning
        async with usage_client(UsageTransport()) as client:

            async def one(call: Call) -> None:
                prompt = call.ask.prompt()
                if call.stream:
                    async with client.stream(call.model, prompt, tags=call.tags) as stream:
                        response = await stream.final_response()
                else:
                    response = await client.chat(call.model, prompt, tags=call.tags)
                results.append((call, response))

            async with anyio.create_task_group() as group:
                for call in batch:
                    group.start_soon(one, call)
            snapshot = client.ledger.snapshot()

    assert len(results) == len(batch)
    groups: dict[tuple[str, str], list[Response]] = defaultdict(list)
    for call, response in results:
        assert response.model == call.model
        assert response.usage == Usage(
            call.ask.input_tokens, call.ask.output_tokens, call.ask.cached_tokens
        )
        assert (response.cost is None) == (call.model == "vllm/unpriced")
        groups["total", ""].append(response)
        groups["model", call.model].append(response)
        for tag in set(call.tags):
            groups["tag", tag].append(response)

    for (kind, key), responses in groups.items():
        if kind == "total":
            totals = snapshot.total
        else:
            totals = (snapshot.by_model if kind == "model" else snapshot.by_tag)[key]
        known = [r.cost for r in responses if r.cost is not None]
        assert totals.cost == math.fsum(known), (kind, key)
        assert totals.cost_unknown == len(responses) - len(known)
        assert totals.requests == len(responses) and totals.errors == 0
        assert totals.input_tokens == sum(r.usage.input_tokens for r in responses)
        assert totals.output_tokens == sum(r.usage.output_tokens for r in responses)
        assert totals.cached_tokens == sum(r.usage.cached_tokens for r in responses)
    assert set(snapshot.by_model) == {call.model for call in batch}
    assert set(snapshot.by_tag) == {tag for call in batch for tag in call.tags}
