"""The mock server's arrival record (``GET /_mock/arrivals``): off unless asked for,
bounded, on the server's clock, and agreeing with the stats' token counts."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest

from sluicegate.clock import FakeClock
from sluicegate.testing import MockApp, MockConfig, create_app
from sluicegate.testing.content import count_input_tokens, generate_answer

pytestmark = pytest.mark.anyio

PROMPT = "What is the capital of France?"


def body(max_tokens: int = 10) -> dict[str, Any]:
    return {
        "model": "fast",
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": PROMPT}],
    }


@asynccontextmanager
async def served(**config: Any) -> AsyncIterator[tuple[MockApp, httpx2.AsyncClient]]:
    app = create_app(MockConfig(**config))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://mock") as client:
        yield app, client


async def arrivals(client: httpx2.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/_mock/arrivals")
    assert answer.status_code == 200, answer.text
    record: dict[str, Any] = answer.json()
    return record


async def test_arrivals_are_not_recorded_unless_asked_for() -> None:
    async with served() as (app, client):
        assert (await client.post("/v1/chat/completions", json=body())).status_code == 200
        answer = await client.get("/_mock/arrivals")
    assert app.arrivals is None
    assert answer.status_code == 404
    assert "record_arrivals=True" in answer.json()["error"]


async def test_each_answer_is_recorded_with_the_tokens_the_stats_count() -> None:
    async with served(record_arrivals=True) as (app, client):
        await client.post("/v1/chat/completions", json=body(10))
        await client.post("/v1/messages", json=body(12), headers={"x-api-key": "k"})
        record = await arrivals(client)
    assert record["fields"] == [
        "arrived_ns",
        "status",
        "input_tokens",
        "output_tokens",
        "client",
    ]
    assert record["dropped"] == 0
    entries = record["arrivals"]
    expected_input = count_input_tokens([PROMPT])
    assert [entry[1:] for entry in entries] == [
        [200, expected_input, generate_answer(PROMPT, 10, "fast").output_tokens, None],
        [200, expected_input, generate_answer(PROMPT, 12, "fast").output_tokens, None],
    ]
    assert sum(e[2] for e in entries) == app.stats.input_tokens
    assert sum(e[3] for e in entries) == app.stats.output_tokens


async def test_arrival_times_are_the_machines_monotonic_clock() -> None:
    """Without an injected clock the times are ``time.monotonic_ns()``, the clock another
    process (a harness) reads too."""
    async with served(record_arrivals=True) as (_, client):
        before = time.monotonic_ns()
        await client.post("/v1/chat/completions", json=body())
        after = time.monotonic_ns()
        (entry,) = (await arrivals(client))["arrivals"]
    assert before <= entry[0] <= after


async def test_arrival_times_follow_an_injected_clock_in_arrival_order() -> None:
    clock = FakeClock(start=5.0)
    async with served(record_arrivals=True, clock=clock) as (_, client):
        await client.post("/v1/chat/completions", json=body())
        clock.advance(0.25)
        await client.post("/v1/chat/completions", json=body())
        record = await arrivals(client)
    assert [entry[0] for entry in record["arrivals"]] == [5_000_000_000, 5_250_000_000]


async def test_refusals_and_replays_are_recorded_without_tokens() -> None:
    async with served(record_arrivals=True) as (app, client):
        refused = await client.post(
            "/v1/chat/completions", json=body(), headers={"x-mock-fault": "rate_limit"}
        )
        keyed = {"idempotency-key": "k-1"}
        first = await client.post("/v1/chat/completions", json=body(), headers=keyed)
        replayed = await client.post("/v1/chat/completions", json=body(), headers=keyed)
        invalid = await client.post("/v1/chat/completions", content=b"not json")
        record = await arrivals(client)
    assert [refused.status_code, first.status_code, replayed.status_code] == [429, 200, 200]
    assert invalid.status_code == 400
    assert app.stats.replayed == 1
    tokens = count_input_tokens([PROMPT]), generate_answer(PROMPT, 10, "fast").output_tokens
    assert [entry[1:4] for entry in record["arrivals"]] == [
        [429, 0, 0],
        [200, *tokens],
        [200, 0, 0],
        [400, 0, 0],
    ]


async def test_the_sender_named_in_a_header_is_recorded_in_arrival_order() -> None:
    """Which of several processes sent each request, bounded in length; ties in time
    are kept in the order they were recorded, whatever the tags."""
    clock = FakeClock(start=1.0)
    async with served(record_arrivals=True, clock=clock) as (_, client):
        for tag in ("worker-b", None, "w" * 100):
            headers = {"x-mock-client": tag} if tag is not None else {}
            await client.post("/v1/chat/completions", json=body(), headers=headers)
        record = await arrivals(client)
    assert [entry[4] for entry in record["arrivals"]] == ["worker-b", None, "w" * 64]


async def test_the_record_is_bounded_and_cleared_by_a_reset() -> None:
    async with served(record_arrivals=True, arrival_cap=2) as (_, client):
        for _ in range(3):
            await client.post("/v1/chat/completions", json=body())
        full = await arrivals(client)
        await client.post("/_mock/reset")
        cleared = await arrivals(client)
    assert (len(full["arrivals"]), full["cap"], full["dropped"]) == (2, 2, 1)
    assert (cleared["arrivals"], cleared["dropped"]) == ([], 0)


async def test_control_and_listing_routes_are_not_arrivals() -> None:
    async with served(record_arrivals=True) as (_, client):
        await client.get("/v1/models")
        await client.get("/_mock/stats")
        record = await arrivals(client)
    assert record["arrivals"] == []


@pytest.mark.parametrize("cap", [0, -1, True, 1.5])
def test_the_cap_must_be_a_whole_number_of_at_least_one(cap: Any) -> None:
    with pytest.raises(ValueError, match="arrival_cap"):
        MockConfig(arrival_cap=cap)
