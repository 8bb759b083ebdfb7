"""Caller-keyed requests across clients that share a store: a key sent from two clients
at once reaches the server once and both get its answer; a later client replays it; a
different request under the same key is refused; when the first sender fails, a twin
sends the request itself; a streamed call replays a recorded answer."""

from __future__ import annotations

import anyio
import pytest

from sluicegate import BadInputError, Client, ProviderError, ProviderSettings, Response
from sluicegate.logs import get_logger
from sluicegate.stores import RedisStore
from sluicegate.testing.faults import FaultPlan
from sluicegate.testing.mock_app import MockApp, MockConfig, create_app
from sluicegate.transports.memory import MemoryTransport

pytestmark = pytest.mark.anyio

KEY = "sk-shared-idempotency-0123456789abcdef"
MODEL = "openai/fast"


def client(app: MockApp, store: RedisStore) -> Client:
    return Client(
        providers={"openai": ProviderSettings(base_url="http://mock.test/v1", api_key=KEY)},
        transport=MemoryTransport(app),
        load_entry_points=False,
        logger=get_logger(level="critical"),
        store=store,
        disable=("retry", "rate_limit", "breaker"),
    )


async def test_a_key_sent_from_two_clients_at_once_reaches_the_server_once(
    redis_url: str, prefix: str
) -> None:
    app = create_app(MockConfig(latency_s=0.3))
    store = RedisStore(redis_url, prefix=prefix)
    answers: list[Response] = []
    async with client(app, store) as a, client(app, store) as b:

        async def ask(c: Client) -> None:
            answers.append(await c.chat(MODEL, "the one question", idempotency_key="order-42"))

        async with anyio.create_task_group() as group:
            for c in (a, b, a, b):
                group.start_soon(ask, c)
        assert app.stats.requests == 1
        assert len({r.text for r in answers}) == 1
        assert sorted(r.attempts for r in answers) == [0, 0, 0, 1]
        async with client(app, store) as later:
            again = await later.chat(MODEL, "the one question", idempotency_key="order-42")
        assert again.text == answers[0].text and again.attempts == 0
        assert app.stats.requests == 1
        with pytest.raises(BadInputError, match="different request"):
            await b.chat(MODEL, "another question", idempotency_key="order-42")


async def test_when_the_first_sender_fails_a_twin_sends_it(redis_url: str, prefix: str) -> None:
    failing = create_app(MockConfig(latency_s=0.2, faults=FaultPlan(script=["overloaded"])))
    healthy = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    async with client(failing, store) as a, client(healthy, store) as b:
        outcome: list[object] = []

        async def first() -> None:
            try:
                await a.chat(MODEL, "question", idempotency_key="job-7")
            except ProviderError as exc:
                outcome.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            await anyio.sleep(0.05)  # a holds the claim now
            answer = await b.chat(MODEL, "question", idempotency_key="job-7")
        assert isinstance(outcome[0], ProviderError)
        assert answer.attempts == 1  # b sent it itself, once a gave the key up
        assert failing.stats.requests == 1 and healthy.stats.requests == 1


async def test_a_stream_replays_an_answer_recorded_by_another_client(
    redis_url: str, prefix: str
) -> None:
    app = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    async with client(app, store) as a, client(app, store) as b:
        answer = await a.chat(MODEL, "stream me", idempotency_key="s-1")
        async with b.stream(MODEL, "stream me", idempotency_key="s-1") as events:
            text = "".join([chunk async for chunk in events.text_chunks()])
        assert text == answer.text
        assert app.stats.requests == 1
