"""A budget shared through the store is never exceeded by clients that each hold the
same limit: what the server answered, priced, stays within it; refusals say the count is
shared; Redis away fails closed, or checks this process's share."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from realpeers.redis import RedisServer, redis_server_or_skip
from sluicegate import (
    Budget,
    BudgetExceededError,
    Client,
    ModelPrice,
    ProviderSettings,
)
from sluicegate.logs import get_logger
from sluicegate.stores import RedisStore, StoreUnavailableError
from sluicegate.testing.mock_app import MockApp, MockConfig, create_app
from sluicegate.transports.memory import MemoryTransport

pytestmark = pytest.mark.anyio

KEY = "sk-shared-budget-test-0123456789abcdef"
MODEL = "openai/fast"
PRICE = ModelPrice(MODEL, input_per_mtok=2000.0, output_per_mtok=8000.0)
"""Dear, so that a few dozen requests reach a budget of cents."""


def client(app: MockApp, store: RedisStore | str, budget: float | Budget) -> Client:
    return Client(
        providers={"openai": ProviderSettings(base_url="http://mock.test/v1", api_key=KEY)},
        transport=MemoryTransport(app),
        load_entry_points=False,
        logger=get_logger(level="critical"),
        store=store,
        prices=[PRICE],
        budget=budget,
        disable=("retry", "rate_limit", "breaker"),
    )


async def spend_until_refused(clients: list[Client], per_client: int = 4) -> tuple[float, int]:
    """Every client sends with ``per_client`` callers until its budget refuses; the
    cost of what was answered, and the refusals."""
    spent: list[float] = []
    refused = 0

    async def caller(c: Client, n: int) -> None:
        nonlocal refused
        for i in range(200):
            try:
                answer = await c.chat(MODEL, f"question {n}-{i} about rivers", max_tokens=16)
            except BudgetExceededError:
                refused += 1
                return
            assert answer.cost is not None
            spent.append(answer.cost)

    async with anyio.create_task_group() as group:
        for index, c in enumerate(clients):
            for n in range(per_client):
                group.start_soon(caller, c, index * 100 + n)
    return sum(spent), refused


async def test_four_clients_never_spend_past_the_budget_they_share(
    redis_url: str, prefix: str
) -> None:
    app = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    limit = 2.0
    clients = [client(app, store, limit) for _ in range(4)]
    async with clients[0], clients[1], clients[2], clients[3]:
        spent, refused = await spend_until_refused(clients)
        local_spent = sum(c.budget.spent for c in clients if c.budget is not None)
    # the server's own counts, priced: what was really spent
    server_cost = (
        app.stats.input_tokens * PRICE.input_per_mtok
        + app.stats.output_tokens * PRICE.output_per_mtok
    ) / 1e6
    assert server_cost <= limit
    assert spent == pytest.approx(server_cost)
    assert local_spent == pytest.approx(server_cost)
    assert refused == 16  # every caller was refused in the end
    # and the budget was used: the worst-case estimates keep some of it back
    assert server_cost >= 0.5 * limit


async def test_one_client_alone_would_have_spent_each_limit(redis_url: str, prefix: str) -> None:
    """Without the store, four clients spend four limits: what the shared one prevents."""
    app = create_app(MockConfig())
    limit = 1.0
    clients = [client(app, "memory", limit) for _ in range(4)]
    async with clients[0], clients[1], clients[2], clients[3]:
        spent, _ = await spend_until_refused(clients)
    assert spent > 2 * limit


async def test_a_refusal_says_the_count_is_shared(redis_url: str, prefix: str) -> None:
    app = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    async with client(app, store, 1.0) as a, client(app, store, 1.0) as b:
        await spend_until_refused([a], per_client=1)
        with pytest.raises(BudgetExceededError) as caught:
            await b.chat(MODEL, "one more", max_tokens=16)
    assert "counted across every process sharing the store" in str(caught.value)
    assert caught.value.spent > 0.5  # b spent nothing itself: the count is a's


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with redis_server_or_skip() as server:
        yield server


async def test_redis_away_refuses_or_checks_the_local_share(own_redis: RedisServer) -> None:
    app = create_app(MockConfig())
    async with (
        client(app, RedisStore(own_redis.url), 5.0) as closed,
        client(app, RedisStore(own_redis.url, fallback_processes=4), 5.0) as shared,
    ):
        await closed.chat(MODEL, "before", max_tokens=16)
        own_redis.stop()
        with pytest.raises(StoreUnavailableError):
            await closed.chat(MODEL, "while away", max_tokens=16)
        spent, refused = await spend_until_refused([shared], per_client=1)
        assert refused == 1
        assert spent <= 5.0 / 4
        assert spent > 0.5 * 5.0 / 4
