"""The mock server honours Idempotency-Key: a recorded answer is replayed uncharged, a
twin in flight is waited for, a reused key with another body is refused, memory is
capped, streams are not recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import pytest

from sluicegate.testing import MockConfig, create_app
from sluicegate.testing.mock_app import MockApp
from sluicegate.testing.mock_idempotency import MISMATCH, Claim, IdempotencyRecords

pytestmark = pytest.mark.anyio

BODY: dict[str, Any] = {"model": "fast", "messages": [{"role": "user", "content": "hello"}]}
URL = "/v1/chat/completions"


@asynccontextmanager
async def in_memory(config: MockConfig | None = None) -> AsyncIterator[tuple[MockApp, Any]]:
    app = create_app(config)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://mock") as client:
        yield app, client


def key(value: str) -> dict[str, str]:
    return {"idempotency-key": value}


async def test_a_recorded_answer_is_replayed_byte_for_byte_and_not_charged() -> None:
    async with in_memory() as (app, client):
        first = await client.post(URL, json=BODY, headers=key("k1"))
        again = await client.post(URL, json=BODY, headers=key("k1"))
        other = await client.post(URL, json=BODY, headers=key("k2"))
    assert first.status_code == again.status_code == other.status_code == 200
    assert again.content == first.content
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    stats = app.stats.snapshot()
    assert (stats["succeeded"], stats["replayed"]) == (2, 1)
    assert stats["output_tokens"] == 2 * first.json()["usage"]["completion_tokens"]
    assert stats["idempotency"]["k1"] == {"received": 2, "succeeded": 1, "replayed": 1}


async def test_a_key_reused_for_another_body_is_refused() -> None:
    async with in_memory() as (app, client):
        await client.post(URL, json=BODY, headers=key("k"))
        changed = {**BODY, "max_tokens": 3}
        refused = await client.post(URL, json=changed, headers=key("k"))
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "idempotency-key"
    assert app.stats.succeeded == 1


async def test_a_failed_answer_is_not_recorded_and_the_next_try_is_answered() -> None:
    async with in_memory() as (app, client):
        refused = await client.post(
            URL, json=BODY, headers={**key("k"), "x-mock-fault": "server_error"}
        )
        cut = await client.post(URL, json=BODY, headers={**key("k"), "x-mock-fault": "malformed"})
        answered = await client.post(URL, json=BODY, headers=key("k"))
    assert (refused.status_code, cut.status_code, answered.status_code) == (500, 200, 200)
    assert answered.json()["choices"][0]["message"]["content"]
    assert app.stats.snapshot()["idempotency"]["k"] == {
        "received": 3,
        "succeeded": 1,
        "replayed": 0,
    }


async def test_twins_wait_for_the_one_in_flight_and_a_failed_leader_hands_over() -> None:
    async with in_memory() as (app, client):
        statuses: list[int] = []

        async def send(headers: dict[str, str]) -> None:
            statuses.append((await client.post(URL, json=BODY, headers=headers)).status_code)

        async with anyio.create_task_group() as group:
            group.start_soon(send, {**key("k"), "x-mock-fault": "hang"})
            while app.stats.requests < 1:
                await anyio.lowlevel.checkpoint()
            group.start_soon(send, key("k"))
            group.start_soon(send, key("k"))
            while app.stats.requests < 3:
                await anyio.lowlevel.checkpoint()
            for _ in range(50):  # let the twins reach the wait on the leader
                await anyio.lowlevel.checkpoint()
            assert app.stats.succeeded == 0  # nobody answered while the leader hangs
            app.abort_hangs()  # the leader fails (503): the first twin answers afresh
    assert sorted(statuses) == [200, 200, 503]
    assert app.stats.snapshot()["idempotency"]["k"] == {
        "received": 3,
        "succeeded": 1,
        "replayed": 1,
    }


async def test_streams_are_charged_per_request_and_not_recorded() -> None:
    async with in_memory() as (app, client):
        for _ in range(2):
            answer = await client.post(URL, json={**BODY, "stream": True}, headers=key("s"))
            assert answer.status_code == 200
    assert app.stats.snapshot()["idempotency"]["s"] == {
        "received": 2,
        "succeeded": 2,
        "replayed": 0,
    }


async def test_the_records_are_capped_and_can_be_turned_off() -> None:
    async with in_memory(MockConfig(idempotency_records=2)) as (app, client):
        for name in ("a", "b", "c", "a"):  # "a" was pushed out by "c": charged again
            await client.post(URL, json=BODY, headers=key(name))
        assert app.idempotency is not None and len(app.idempotency) == 2
        assert app.stats.succeeded == 4
    async with in_memory(MockConfig(idempotency_records=0)) as (app, client):
        for _ in range(2):
            await client.post(URL, json=BODY, headers=key("a"))
        assert app.idempotency is None and app.stats.succeeded == 2
    with pytest.raises(ValueError, match="idempotency_records"):
        MockConfig(idempotency_records=-1)


async def test_reset_forgets_the_records() -> None:
    async with in_memory() as (app, client):
        await client.post(URL, json=BODY, headers=key("a"))
        await client.post("/_mock/reset")
        await client.post(URL, json=BODY, headers=key("a"))
    assert app.stats.snapshot()["idempotency"]["a"]["succeeded"] == 1  # after the reset
    assert app.stats.replayed == 0


async def test_records_claim_and_release() -> None:
    records = IdempotencyRecords(capacity=10)
    claim = await records.claim("k", b"d1")
    assert isinstance(claim, Claim)
    assert await records.claim("k", b"d2") is MISMATCH  # in flight with another body
    waiter_got: list[object] = []

    async def waiter() -> None:
        waiter_got.append(await records.claim("k", b"d1"))

    async with anyio.create_task_group() as group:
        group.start_soon(waiter)
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        assert waiter_got == []  # waits while the claim is held
        claim.answer = b"body"
        records.release("k", claim)
    assert waiter_got == [b"body"]
    assert await records.claim("k", b"d2") is MISMATCH
