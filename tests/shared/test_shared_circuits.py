"""A circuit opened in one client fails fast in another that shares its store, whether
the other had already called the model (it hears of the opening) or calls it only later
(it reads the break on its first call); the break ends for both at the same time."""

from __future__ import annotations

import anyio
import pytest

from sluicegate import (
    BreakerPolicy,
    CircuitOpenError,
    Client,
    ProviderError,
    ProviderSettings,
)
from sluicegate.logs import get_logger
from sluicegate.stores import RedisStore
from sluicegate.testing.faults import FaultPlan
from sluicegate.testing.mock_app import MockApp, MockConfig, create_app
from sluicegate.transports.memory import MemoryTransport

pytestmark = pytest.mark.anyio

KEY = "sk-shared-circuit-test-0123456789abcdef"
MODEL = "openai/fast"
POLICY = BreakerPolicy(min_throughput=4, failure_ratio=0.5, break_s=1.5, half_open_probes=1)


def client(app: MockApp, store: RedisStore) -> Client:
    return Client(
        providers={"openai": ProviderSettings(base_url="http://mock.test/v1", api_key=KEY)},
        transport=MemoryTransport(app),
        load_entry_points=False,
        logger=get_logger(level="critical"),
        store=store,
        disable=("retry", "rate_limit"),
        stage_settings={"breaker": POLICY},
    )


async def open_circuit(c: Client) -> None:
    for _ in range(POLICY.min_throughput):
        with pytest.raises(ProviderError):
            await c.chat(MODEL, "are you there", max_tokens=8)
    with pytest.raises(CircuitOpenError):
        await c.chat(MODEL, "are you there", max_tokens=8)


async def wait_for_open(c: Client) -> CircuitOpenError:
    """The other client's circuit opens when the message arrives: within moments."""
    with anyio.fail_after(2):
        while True:
            try:
                await c.chat(MODEL, "hello", max_tokens=8)
            except CircuitOpenError as exc:
                return exc
            await anyio.sleep(0.01)


async def test_an_opening_reaches_a_client_that_already_called_the_model(
    redis_url: str, prefix: str
) -> None:
    failing = create_app(MockConfig(faults=FaultPlan(rates={"overloaded": 1.0})))
    healthy = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    async with client(failing, store) as a, client(healthy, store) as b:
        await b.chat(MODEL, "first", max_tokens=8)  # b knows the model, its circuit closed
        await open_circuit(a)
        before = healthy.stats.requests
        error = await wait_for_open(b)
        assert "another process" in str(error)
        # at most the calls that raced the message reached the server
        assert healthy.stats.requests - before <= 2
        settled = healthy.stats.requests
        for _ in range(5):
            with pytest.raises(CircuitOpenError):
                await b.chat(MODEL, "still open", max_tokens=8)
        assert healthy.stats.requests == settled


async def test_a_client_that_calls_later_reads_the_break(redis_url: str, prefix: str) -> None:
    failing = create_app(MockConfig(faults=FaultPlan(rates={"overloaded": 1.0})))
    healthy = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    async with client(failing, store) as a:
        await open_circuit(a)
        await anyio.sleep(0.1)  # the opening is written in the background
        async with client(healthy, store) as late:
            with pytest.raises(CircuitOpenError) as caught:
                await late.chat(MODEL, "first call", max_tokens=8)
            assert healthy.stats.requests == 0
            assert caught.value.retry_after is not None
            assert 0.5 < caught.value.retry_after <= POLICY.break_s
            # the break ends for it too: after it, a probe goes through
            await anyio.sleep(caught.value.retry_after + 0.05)
            answer = await late.chat(MODEL, "after the break", max_tokens=8)
            assert answer.text
            assert healthy.stats.requests == 1


async def test_a_different_api_key_has_its_own_circuit(redis_url: str, prefix: str) -> None:
    failing = create_app(MockConfig(faults=FaultPlan(rates={"overloaded": 1.0})))
    healthy = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    other = Client(
        providers={
            "openai": ProviderSettings(
                base_url="http://mock.test/v1", api_key="sk-another-org-key-0123456789"
            )
        },
        transport=MemoryTransport(healthy),
        load_entry_points=False,
        logger=get_logger(level="critical"),
        store=store,
        disable=("retry", "rate_limit"),
        stage_settings={"breaker": POLICY},
    )
    async with client(failing, store) as a, other:
        await other.chat(MODEL, "first", max_tokens=8)
        await open_circuit(a)
        await anyio.sleep(0.2)
        answer = await other.chat(MODEL, "unaffected", max_tokens=8)
        assert answer.text
