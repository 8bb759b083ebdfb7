"""Budgets (must-show 3): a request whose worst case would pass a budget is refused with
BudgetExceededError before anything is sent, concurrent requests never overspend
together, and reservations become actual costs when requests end."""

from __future__ import annotations

import json
import math
import pickle
import random
from typing import Any

import anyio
import anyio.lowlevel
import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluicegate import (
    Budget,
    BudgetExceededError,
    ConfigError,
    Response,
    UnknownPriceError,
    Usage,
    cost_of,
)
from sluicegate.cost.budget import admit, settle
from sluicegate.cost.rates import CostRates
from sluicegate.estimate import estimate_input_tokens
from sluicegate.transports.base import HttpRequest, HttpResponse
from sluicegate.types import Params, Request, coerce_messages

from .helpers import Ask, UsageTransport, usage_client

pytestmark = pytest.mark.anyio

MINI = "openai/gpt-4o-mini"
MAX_TOKENS = 100


def worst_case(client: Any, prompt: str, model: str = MINI, max_tokens: int = MAX_TOKENS) -> float:
    """What the stage reserves for one request: estimated prompt plus max_tokens."""
    request = Request(
        model=model, messages=coerce_messages(prompt), params=Params(max_tokens=max_tokens)
    )
    price = client.prices.lookup(model)
    assert price is not None
    return CostRates.of(price).worst_case(estimate_input_tokens(request), max_tokens)


class WatchingTransport(UsageTransport):
    """Checks, whenever a request arrives, that no budget has been overspent or
    over-reserved, and yields a random number of times so requests interleave."""

    def __init__(self, budget: Budget, seed: int) -> None:
        super().__init__()
        self.budget = budget
        self.rng = random.Random(seed)
        self.violations: list[str] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        b = self.budget
        if b.spent > b.limit or not b.within_limit():
            self.violations.append(f"spent {b.spent} reserved {b.reserved} limit {b.limit}")
        for _ in range(self.rng.randrange(4)):
            await anyio.lowlevel.checkpoint()
        return await super().send(request)


async def test_500_concurrent_requests_never_overspend_a_budget_for_about_100() -> None:
    prompt = Ask(0, 0).prompt("00000")  # the estimate's size; every label has 5 digits
    client = usage_client(UsageTransport())
    per_request = worst_case(client, prompt)
    # each request uses 15-20 input and 80-100 output tokens: the budget pays for 100
    # typical ones (18 in, 90 out), so at most limit / cheapest of them can ever be paid
    mini = client.prices.lookup(MINI)
    assert mini is not None
    budget = Budget(100 * cost_of(Usage(18, 90), mini), name="reviews")
    most = int(budget.limit / cost_of(Usage(15, 80), mini))
    transport = WatchingTransport(budget, seed=7)
    outcomes: dict[str, Response | BaseException] = {}
    async with usage_client(transport) as client:
        rng = random.Random(11)

        async def one(i: int) -> None:
            label = f"{i:05d}"
            # requests start at random turns, so some come when others have ended
            ask = Ask(rng.randint(15, 20), rng.randint(80, 100), turns=rng.randrange(3))
            for _ in range(rng.randrange(60)):
                await anyio.lowlevel.checkpoint()
            try:
                outcomes[label] = await client.chat(
                    MINI, ask.prompt(label), max_tokens=MAX_TOKENS, budget=budget
                )
            except BudgetExceededError as exc:
                outcomes[label] = exc

        with structlog.testing.capture_logs():  # 400 refusals, each logged: keep them
            async with anyio.create_task_group() as group:
                for i in range(500):
                    group.start_soon(one, i)
        snapshot = client.ledger.snapshot()

    answered = {k: v for k, v in outcomes.items() if isinstance(v, Response)}
    refused = {k: v for k, v in outcomes.items() if isinstance(v, BudgetExceededError)}
    assert len(outcomes) == 500 and len(answered) + len(refused) == 500
    assert 80 <= len(answered) <= most  # about 100

    assert not transport.violations
    assert budget.spent <= budget.limit
    assert (budget.reserved, budget.in_flight) == (0.0, 0)
    # refused requests never reached the transport; every answered one did, once
    received = sorted(json.loads(p)["label"] for p in transport.received)
    assert received == sorted(answered)
    assert not set(refused) & set(received)
    # the budget's spending is exactly the answered requests' costs
    costs = [r.cost for r in answered.values()]
    assert None not in costs
    assert budget.spent == math.fsum(c for c in costs if c is not None)
    assert (budget.admitted, budget.refused) == (len(answered), len(refused))
    assert snapshot.total.refused == len(refused)
    assert snapshot.total.requests == len(answered)
    error = next(iter(refused.values()))
    assert error.budget == "reviews" and error.limit == budget.limit
    assert error.estimate == per_request and error.model == MINI
    assert error.spent + error.reserved + error.estimate > error.limit
    assert not error.retryable
    for word in ("reviews", "spent", "reserved", "estimate", "nothing was sent"):
        assert word in error.message


async def test_client_tag_and_run_budgets_each_apply_and_the_first_full_one_is_named() -> None:
    transport = UsageTransport()
    async with usage_client(transport, budget=1.0, tag_budgets={"nightly": 0.0}) as client:
        assert client.budget is not None and client.budget.name == "client"
        await client.chat(MINI, Ask(10, 10).prompt(), max_tokens=10)  # only the client's
        with pytest.raises(BudgetExceededError) as caught:
            await client.chat(MINI, Ask(10, 10).prompt(), max_tokens=10, tags=["nightly"])
        assert caught.value.budget == "tag nightly"
        run = Budget(0.0, name="run-7")
        with pytest.raises(BudgetExceededError) as caught:
            await client.chat(MINI, Ask(10, 10).prompt(), max_tokens=10, budget=run)
        assert caught.value.budget == "run-7"
        assert client.budget.admitted == 1 and client.budget.spent > 0
        assert client.tag_budgets["nightly"].refused == 1
    assert len(transport.received) == 1


async def test_a_reservation_is_replaced_by_the_actual_cost() -> None:
    async with usage_client(UsageTransport()) as client:
        budget = Budget(1.0)
        prompt = Ask(12, 7).prompt()
        reserve = worst_case(client, prompt)
        seen: list[float] = []

        async with client.stream(MINI, prompt, max_tokens=MAX_TOKENS, budget=budget) as stream:
            async for _ in stream:
                seen.append(budget.reserved)
            response = stream.response
    assert seen and all(r == reserve for r in seen[:-1])  # held while the stream runs
    assert response is not None and response.cost is not None
    assert (budget.reserved, budget.spent) == (0.0, response.cost)
    assert response.cost < reserve


async def test_the_dearest_fallback_is_reserved() -> None:
    async with usage_client(UsageTransport()) as client:
        prompt = Ask(1, 1).prompt()
        dear = worst_case(client, prompt, "openai/gpt-4o")
        budget = Budget(dear * 0.999)  # room for gpt-4o-mini, not for gpt-4o
        await client.chat(MINI, prompt, max_tokens=MAX_TOKENS, budget=budget)
        with pytest.raises(BudgetExceededError) as caught:
            await client.chat(
                MINI, prompt, max_tokens=MAX_TOKENS, budget=budget, fallbacks=["openai/gpt-4o"]
            )
    assert caught.value.estimate == dear and "openai/gpt-4o" in caught.value.message


async def test_a_model_without_a_price_is_refused_under_a_budget() -> None:
    transport = UsageTransport()
    async with usage_client(transport, budget=10.0) as client:
        with pytest.raises(UnknownPriceError) as caught:
            await client.chat("vllm/llama", Ask(1, 1).prompt())
        assert caught.value.model == "vllm/llama" and caught.value.budget == "client"
        with pytest.raises(UnknownPriceError):
            await client.chat(MINI, Ask(1, 1).prompt(), fallbacks=["vllm/llama"])
        snapshot = client.ledger.snapshot()
    assert transport.received == []
    assert snapshot.total.refused == 2
    assert isinstance(caught.value, ConfigError) and "price file" in caught.value.message


async def test_a_request_that_uses_more_than_it_reserved_is_logged_and_then_refused() -> None:
    with structlog.testing.capture_logs() as logs:
        async with usage_client(UsageTransport()) as client:
            prompt = Ask(5000, 5).prompt()  # the server reports far more than the prompt
            budget = Budget(worst_case(client, prompt) * 2)
            await client.chat(MINI, prompt, max_tokens=MAX_TOKENS, budget=budget)
            assert budget.exhausted and budget.remaining == 0.0
            with pytest.raises(BudgetExceededError):
                await client.chat(MINI, prompt, max_tokens=MAX_TOKENS, budget=budget)
    [overrun] = [e for e in logs if e["event"] == "budget.overrun"]
    assert overrun["model"] == MINI and overrun["cost"] > overrun["reserved"]


async def test_a_failed_request_gives_its_reservation_back() -> None:
    transport = UsageTransport(fail_models=frozenset({"gpt-4o-mini"}))
    async with usage_client(transport) as client:
        budget = Budget(1.0)
        with pytest.raises(Exception, match="overloaded"):
            await client.chat(MINI, Ask(1, 1).prompt(), budget=budget)
    assert (budget.spent, budget.reserved, budget.in_flight, budget.admitted) == (0.0, 0.0, 0, 1)


async def test_the_default_output_estimate_applies_without_max_tokens() -> None:
    from sluicegate import CostPolicy

    async with usage_client(
        UsageTransport(), stage_settings={"cost": CostPolicy(default_output_tokens=10)}
    ) as client:
        prompt = Ask(1, 1).prompt()
        room = worst_case(client, prompt, max_tokens=10)
        await client.chat(MINI, prompt, budget=Budget(room))  # fits exactly
        with pytest.raises(BudgetExceededError):
            await client.chat(MINI, prompt, budget=Budget(room * 0.999))


def test_bad_budgets_are_refused() -> None:
    for bad in (-1.0, float("nan"), float("inf"), "5", True):
        with pytest.raises(ConfigError):
            Budget(bad)  # type: ignore[arg-type]


async def test_a_budget_must_be_a_budget_object() -> None:
    async with usage_client(UsageTransport()) as client:
        with pytest.raises(ConfigError, match=r"sluicegate\.Budget"):
            await client.chat(MINI, "hi", budget=5.0)


def test_the_error_survives_pickling_for_worker_processes() -> None:
    error = BudgetExceededError(
        budget="b", limit=1.0, spent=0.5, reserved=0.4, estimate=0.2, model=MINI
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.budget, copy.estimate, copy.message) == ("b", 0.2, error.message)


@st.composite
def traffic(draw: st.DrawFn) -> list[tuple[int, int, int]]:
    """Per request: its reserved estimate, what it really costs (at most that), and how
    many scheduler turns it takes; amounts in micro-dollars."""
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=60))):
        estimate = draw(st.integers(min_value=0, max_value=5000))
        actual = draw(st.integers(min_value=0, max_value=estimate))
        out.append((estimate, actual, draw(st.integers(min_value=0, max_value=5))))
    return out


@given(traffic(), st.integers(min_value=0, max_value=50_000))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_concurrent_reservations_never_pass_the_limit(
    requests: list[tuple[int, int, int]], limit_micro: int
) -> None:
    """The admission rule on its own, under random interleavings: whatever requests
    start and finish in whatever order, spent + reserved never passes the limit."""
    budget = Budget(limit_micro / 1e6)
    seen: list[bool] = []

    async def one(estimate: int, actual: int, turns: int) -> None:
        try:
            units = admit((budget,), estimate / 1e6, MINI)
        except BudgetExceededError:
            return
        for _ in range(turns):
            await anyio.lowlevel.checkpoint()
            seen.append(budget.within_limit())
        settle((budget,), units, actual / 1e6)
        seen.append(budget.within_limit())

    async with anyio.create_task_group() as group:
        for request in requests:
            group.start_soon(one, *request)
    assert all(seen)
    assert budget.spent <= budget.limit and budget.reserved == 0.0
    assert budget.admitted + budget.refused == len(requests)


async def test_costs_match_the_price_table() -> None:
    async with usage_client(UsageTransport()) as client:
        budget = Budget(1.0)
        response = await client.chat(MINI, Ask(300, 40).prompt(), budget=budget)
        price = client.prices.lookup(MINI)
    assert price is not None and response.cost == cost_of(Usage(300, 40), price)
    assert budget.spent == response.cost


async def test_an_answer_without_usage_keeps_its_reservation_as_spent() -> None:
    from sluicegate.testing import Answer, ScriptedTransport, openai_completion

    body = openai_completion("no usage")
    del body["usage"]
    async with usage_client(ScriptedTransport(Answer.json(200, body))) as client:
        budget = Budget(1.0)
        response = await client.chat(MINI, "hi", max_tokens=MAX_TOKENS, budget=budget)
        reserve = worst_case(client, "hi")
    assert response.cost is None
    assert (budget.spent, budget.reserved) == (reserve, 0.0)  # unknown: the safe side
