"""``Client.flush_store``: what the client sends its store in the background (here, the
releases of concurrency leases) has reached Redis when it returns, so a process that is
then ended without closing its client (a Ray actor between batches) leaks no slot."""

from __future__ import annotations

import anyio
import pytest

from shared.test_shared_rate_limits import MODEL, client
from sluicegate.limits import Limit
from sluicegate.stores import RedisStore
from sluicegate.testing.mock_app import MockConfig, create_app

pytestmark = pytest.mark.anyio


async def _held_leases(redis_url: str, prefix: str) -> int:
    import coredis

    redis = coredis.Redis.from_url(redis_url, decode_responses=True)
    async with redis:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        held = 0
        for key in keys:
            if await redis.type(key) == "zset":
                held += await redis.zcard(key)
        return held


async def test_after_a_flush_every_lease_is_released_in_redis(redis_url: str, prefix: str) -> None:
    app = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix, lease_s=600)  # no lease expires meanwhile
    rules = [Limit("openai/*", concurrency=4)]
    async with client(app, store, rules) as c:
        async with anyio.create_task_group() as group:
            for _ in range(12):
                group.start_soon(c.chat, MODEL, "hello")
        await c.flush_store()
        assert c._store is not None and c._store._unsent == 0
        assert await _held_leases(redis_url, prefix) == 0
        assert app.stats.requests == 12


async def test_without_a_store_a_flush_returns_at_once() -> None:
    app = create_app(MockConfig())
    async with client(app, None, []) as c:
        await c.chat(MODEL, "hello")
        with anyio.fail_after(1):
            await c.flush_store()
