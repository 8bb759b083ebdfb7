"""``register_plugin`` on an open client keeps the stages the plugin does not replace, with
their state: an open circuit stays open, a rate-limit hold still holds, a spent retry
budget stays spent; a stage the plugin replaces starts anew, and what the plugin adds (a
provider, prices) is used at once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from plugin_helpers import ECHO_BASE_URL, echo_provider
from sluicegate import (
    Client,
    MiddlewareSpec,
    ModelPrice,
    Phase,
    ProviderError,
    ProviderSettings,
    ProviderSpec,
    RateLimitedError,
    RetryPolicy,
    hookimpl,
)
from sluicegate.breaker import BreakerPolicy, CircuitOpenError
from sluicegate.breaker import stage as breaker_stage
from sluicegate.chain import ChainContext
from sluicegate.clock import FakeClock
from sluicegate.observers import RequestFinished
from sluicegate.testing import Answer, ScriptedTransport, openai_completion
from sluicegate.transports.base import HttpRequest

pytestmark = pytest.mark.anyio

KEY = "sk-test-abcdefghijklmnopqrstuv"
ECHO_KEY = "sk-echo-0123456789abcdefghij"
ECHO_KEY_ENV = "SLUICEGATE_TEST_ECHO_API_KEY"
DOWN = "openai/down"


class UnrelatedPlugin:
    """What a plugin registered mid-run typically brings: a provider (which needs a key)
    and an observer; nothing about the built-in stages."""

    name = "unrelated"

    def __init__(self) -> None:
        self.finished: list[RequestFinished] = []

    @hookimpl
    def sluicegate_providers(self) -> Sequence[ProviderSpec]:
        return [echo_provider(key_variable=ECHO_KEY_ENV)]

    @hookimpl
    def sluicegate_request_finished(self, event: RequestFinished) -> None:
        self.finished.append(event)


def fresh_breaker(context: ChainContext) -> Any:
    return breaker_stage.build(context)


class BreakerReplacement:
    """A plugin that replaces the breaker stage (same name, its own factory)."""

    name = "breaker-replacement"

    @hookimpl
    def sluicegate_middleware(self) -> Sequence[MiddlewareSpec]:
        return [MiddlewareSpec("breaker", Phase.BREAKER, fresh_breaker)]


class Prices:
    name = "prices"

    @hookimpl
    def sluicegate_prices(self) -> Sequence[ModelPrice]:
        return [ModelPrice("openai/priced", input_per_mtok=1_000.0, output_per_mtok=1_000.0)]


def by_model(request: HttpRequest) -> Answer:
    """503 for the model ``down``; 429 with a 5-minute Retry-After for ``held``; else 200."""
    model = json.loads(request.body)["model"]
    if model == "down":
        return Answer.json(503, {"error": {"message": "overloaded", "type": "server_error"}})
    if model == "held":
        body = {"error": {"message": "slow down", "type": "rate_limit"}}
        return Answer.json(429, body, {"retry-after": "300"})
    return Answer.json(200, openai_completion("ok", 5, 2))


def make_client(transport: ScriptedTransport, **options: Any) -> Client:
    return Client(
        providers={"openai": ProviderSettings(api_key=KEY)},
        transport=transport,
        load_entry_points=False,
        clock=FakeClock(),
        **options,
    )


async def open_the_circuit(client: Client, transport: ScriptedTransport) -> int:
    """Two 503s trip the circuit of DOWN; the third call fails fast. What was sent."""
    for _ in range(2):
        with pytest.raises(ProviderError):
            await client.chat(DOWN, "hi")
    with pytest.raises(CircuitOpenError):
        await client.chat(DOWN, "hi")
    return len(transport.requests)


TRIP_AT_2 = {
    "breaker": BreakerPolicy(min_throughput=2, failure_ratio=0.5, break_s=30.0),
    "retry": False,
}


async def test_an_open_circuit_stays_open_after_an_unrelated_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ECHO_KEY_ENV, ECHO_KEY)
    transport = ScriptedTransport(by_model)
    plugin = UnrelatedPlugin()
    async with make_client(transport, stage_settings=TRIP_AT_2) as client:
        sent = await open_the_circuit(client, transport)
        client.register_plugin(plugin)
        with pytest.raises(CircuitOpenError):
            await client.chat(DOWN, "hi")
        assert len(transport.requests) == sent  # failed fast: nothing was sent
        # what the plugin brought works at once, through the same kept stages
        response = await client.chat("echo/x", "hi")
    assert response.provider == "echo"
    assert transport.requests[-1].url == f"{ECHO_BASE_URL}/chat/completions"
    headers = {name.lower(): value for name, value in transport.requests[-1].headers.items()}
    assert headers["authorization"] == f"Bearer {ECHO_KEY}"  # the kept auth stage knew it
    assert [e.request.model for e in plugin.finished] == [DOWN, "echo/x"]


async def test_a_plugin_that_replaces_the_breaker_gets_a_new_one() -> None:
    transport = ScriptedTransport(by_model)
    async with make_client(transport, stage_settings=TRIP_AT_2) as client:
        sent = await open_the_circuit(client, transport)
        client.register_plugin(BreakerReplacement())
        with pytest.raises(ProviderError) as caught:
            await client.chat(DOWN, "hi")
    assert not isinstance(caught.value, CircuitOpenError)
    assert len(transport.requests) == sent + 1  # a new breaker, closed: the call was sent


async def test_a_rate_limit_hold_still_holds_after_an_unrelated_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 429's Retry-After (300 s, past the limiter's 60 s max_hold_s) holds the model: the
    next call is refused at once, nothing sent, before and after the plugin."""
    monkeypatch.setenv(ECHO_KEY_ENV, ECHO_KEY)
    transport = ScriptedTransport(by_model)
    options = {"stage_settings": {"retry": False}, "disable": ["breaker"]}
    async with make_client(transport, **options) as client:
        with pytest.raises(RateLimitedError):
            await client.chat("openai/held", "hi")
        assert len(transport.requests) == 1
        client.register_plugin(UnrelatedPlugin())
        with pytest.raises(RateLimitedError) as caught:
            await client.chat("openai/held", "hi")
    assert caught.value.error_type == "server_wait"
    assert len(transport.requests) == 1  # held by the kept limiter: nothing was sent


async def test_a_spent_retry_budget_stays_spent_after_an_unrelated_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The budget's reserve is one retry per window and requests earn none: the first
    failing call retries once; after the plugin, the next one may not retry at all."""
    monkeypatch.setenv(ECHO_KEY_ENV, ECHO_KEY)
    transport = ScriptedTransport(by_model)
    retry = RetryPolicy(
        attempts=4, instant=True, budget_ratio=0.0, budget_min_per_second=0.1, budget_window=10.0
    )
    options = {"stage_settings": {"retry": retry}, "disable": ["breaker"]}
    async with make_client(transport, **options) as client:
        with pytest.raises(ProviderError):
            await client.chat(DOWN, "hi")
        assert len(transport.requests) == 2  # the first attempt and the one retry
        client.register_plugin(UnrelatedPlugin())
        with pytest.raises(ProviderError):
            await client.chat(DOWN, "hi")
    assert len(transport.requests) == 3  # the budget is spent: no retry


async def test_a_plugin_that_brings_prices_reaches_the_cost_stage() -> None:
    transport = ScriptedTransport(by_model)
    async with make_client(transport) as client:
        assert (await client.chat("openai/priced", "hi")).cost is None
        client.register_plugin(Prices())
        response = await client.chat("openai/priced", "hi")
    assert response.cost == pytest.approx((5 + 2) * 1_000.0 / 1e6)
    assert client.ledger.snapshot().total.requests == 2
