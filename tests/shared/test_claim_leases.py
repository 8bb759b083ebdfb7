"""Idempotency claims are kept in Redis a lease at a time: a claim for a request with a
long deadline lasts ``lease_s`` in Redis and is renewed by its process while it holds it
(until the deadline), so a process killed mid-request blocks its keys' twins for one
lease at most, not for the whole deadline (600 s by default)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realpeers.redis import RedisServer
from sluicegate.stores.redis.config import RedisStore
from sluicegate.stores.redis.connection import SharedStore
from sluicegate.stores.redis.records import Claim, SharedRecords

pytestmark = pytest.mark.anyio

LEASE_S = 2.0


@pytest.fixture
async def store(redis_url: str, prefix: str) -> AsyncIterator[SharedStore]:
    shared = SharedStore(RedisStore(redis_url, prefix=prefix, lease_s=LEASE_S))
    await shared.open()
    try:
        yield shared
    finally:
        await shared.aclose()


def _pttl(server: RedisServer, key: str) -> int:
    reply = server.call("PTTL", key)
    assert isinstance(reply, int)
    return reply


async def test_a_claim_lasts_a_lease_in_redis_and_is_renewed_while_held(
    store: SharedStore, redis_server: RedisServer
) -> None:
    records = SharedRecords(store, {})
    claim_key = records._keys("openai", "order-1")[1]
    assert (await records.claim("openai", "order-1", 600.0)).state == Claim.MINE
    assert 0 < _pttl(redis_server, claim_key) <= LEASE_S * 1000  # not the 600 s deadline
    assert claim_key in store.claims

    redis_server.call("PEXPIRE", claim_key, 50)  # as if most of the lease had passed
    await store.renew_claims()
    assert _pttl(redis_server, claim_key) > LEASE_S * 1000 - 500

    await records.put("openai", "order-1", None, 0)  # answered (here: nothing to keep)
    assert claim_key not in store.claims
    assert _pttl(redis_server, claim_key) == -2  # given up in Redis too


async def test_only_this_processs_live_claims_are_renewed(
    store: SharedStore, redis_server: RedisServer
) -> None:
    records = SharedRecords(store, {})
    taken = records._keys("openai", "taken")[1]
    await records.claim("openai", "taken", 600.0)
    redis_server.call("SET", taken, "another-process", "PX", 100)  # lapsed and re-claimed
    await store.renew_claims()
    assert _pttl(redis_server, taken) <= 100

    past = records._keys("openai", "past")[1]
    await records.claim("openai", "past", 600.0)
    store.claims[past] = 0.0  # as if its request's deadline had passed
    redis_server.call("PEXPIRE", past, 5000)
    await store.renew_claims()
    assert past not in store.claims  # forgotten, left to lapse
    assert _pttl(redis_server, past) > LEASE_S * 1000  # not renewed to a lease
