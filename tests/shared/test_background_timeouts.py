"""A background call that gets no answer in time (a release, a correction) is lost, on
the safe side, but does not mark the store away: its timeout may be the process's own
doing (an event loop kept busy by its callers leaves answers unread), and must not fail
the admissions of the requests that follow. A call made for a request still does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from realpeers.redis import RedisServer
from sluicegate.stores import StoreUnavailableError
from sluicegate.stores.redis.config import RedisStore
from sluicegate.stores.redis.connection import SharedStore

pytestmark = pytest.mark.anyio

TIMEOUT_S = 0.05


@pytest.fixture
async def store(redis_server: RedisServer, prefix: str) -> AsyncIterator[SharedStore]:
    shared = SharedStore(RedisStore(redis_server.url, prefix=prefix, timeout_s=TIMEOUT_S))
    await shared.open()
    try:
        await shared.run("RELEASE", [f"{prefix}:{{t}}:leases"], ["x"], "warm-up")  # connected
        yield shared
    finally:
        redis_server.resume()
        await shared.aclose()


async def test_a_background_timeout_leaves_the_store_usable(
    store: SharedStore, redis_server: RedisServer, prefix: str
) -> None:
    keys = [f"{prefix}:{{t}}:leases"]
    redis_server.pause()  # nothing answers: the call times out after twice timeout_s
    await store._send_one(("RELEASE", keys, ["lease-1"], "concurrency release"))
    redis_server.resume()
    assert not store.away
    assert await store.run("RELEASE", keys, ["lease-2"], "concurrency release") == 1


async def test_a_timeout_of_a_requests_own_call_marks_the_store_away(
    store: SharedStore, redis_server: RedisServer, prefix: str
) -> None:
    keys = [f"{prefix}:{{t}}:leases"]
    redis_server.pause()
    with pytest.raises(StoreUnavailableError, match="no answer"):
        await store.run("RELEASE", keys, ["lease-1"], "rate limit admission")
    redis_server.resume()
    assert store.away
    with pytest.raises(StoreUnavailableError, match="failed moments ago"):
        await store.run("RELEASE", keys, ["lease-2"], "rate limit admission")
