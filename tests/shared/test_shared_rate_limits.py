"""The rate-limit stage with a Redis store, in one process: clients that share a store
share its limits; clients with different API keys do not; the key is never written to
Redis; a server's requested wait reaches every client; Redis away fails closed with a
typed error naming the store, or sends within the declared local share, and the clients
carry on once Redis is back.

(The same with separate processes on both event loops, judged by the mock server's own
arrival record, is tests/scaleout.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from realpeers.redis import RedisServer, redis_server_or_skip
from sluicegate import Client, ProviderSettings, RateLimitedError
from sluicegate.limits import Limit, RateLimits
from sluicegate.logs import get_logger
from sluicegate.secrets import encoded_forms
from sluicegate.stores import RedisStore, StoreUnavailableError
from sluicegate.testing.faults import FaultPlan
from sluicegate.testing.mock_app import MockApp, MockConfig, create_app
from sluicegate.transports.memory import MemoryTransport

pytestmark = pytest.mark.anyio

KEY = "sk-shared-store-test-0123456789abcdef"
OTHER_KEY = "sk-shared-store-other-9876543210fedcba"
BASE_URL = "http://mock.test/v1"
MODEL = "openai/fast"
QUIET = get_logger(level="critical")


def client(
    app: MockApp,
    store: RedisStore | str | None,
    rules: list[Limit],
    *,
    key: str = KEY,
    disable: tuple[str, ...] = ("retry", "breaker"),
    **settings: Any,
) -> Client:
    return Client(
        providers={"openai": ProviderSettings(base_url=BASE_URL, api_key=key)},
        transport=MemoryTransport(app),
        load_entry_points=False,
        logger=QUIET,
        store=store,
        disable=disable,
        stage_settings={"rate_limit": RateLimits(rules=rules, **settings)},
    )


async def send_for(clients: list[Client], seconds: float, workers: int = 6) -> list[float]:
    """Every client sends with ``workers`` callers for ``seconds``; the times (monotonic)
    of the answers."""
    answered: list[float] = []

    async def caller(c: Client) -> None:
        while True:
            await c.chat(MODEL, "count the bridges", max_tokens=8)
            answered.append(time.monotonic())

    with anyio.move_on_after(seconds):
        async with anyio.create_task_group() as group:
            for c in clients:
                for _ in range(workers):
                    group.start_soon(caller, c)
    return answered


async def test_clients_sharing_a_store_share_its_limit(redis_url: str, prefix: str) -> None:
    app = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    rules = [Limit("openai/*", rpm=1200)]  # 20 a second, 2 at once
    async with client(app, store, rules) as a, client(app, store, rules) as b:
        started = time.monotonic()
        await send_for([a, b], 1.5)
    elapsed = time.monotonic() - started
    allowed = 2 + 20 * elapsed
    assert app.stats.requests <= allowed + 1  # + 1: one may be in flight at the cut
    assert app.stats.requests >= 0.85 * 20 * elapsed


async def test_different_api_keys_keep_different_limits(redis_url: str, prefix: str) -> None:
    app = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    rules = [Limit("openai/*", rpm=600)]  # 10 a second each
    async with client(app, store, rules) as a, client(app, store, rules, key=OTHER_KEY) as b:
        started = time.monotonic()
        await send_for([a, b], 1.2)
    elapsed = time.monotonic() - started
    # each key has its own 10 a second: together past what one key could ever be let
    # send (its burst of 1 and 10 a second), and within what two keys could
    assert 1 + 10 * elapsed < app.stats.requests <= 2 * (1 + 10 * elapsed) + 2


async def test_the_api_key_is_never_written_to_redis(redis_url: str, prefix: str) -> None:
    import coredis

    app = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    rules = [Limit("openai/*", rpm=60_000, tpm=10_000_000, concurrency=4)]
    async with client(app, store, rules) as a:
        for _ in range(5):
            await a.chat(MODEL, "hello", max_tokens=8)
    written: list[str] = []
    redis = coredis.Redis.from_url(redis_url, decode_responses=True)
    async with redis:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
        assert keys
        for key in keys:
            written.append(key)
            kind = await redis.type(key)
            if kind == "hash":
                written.extend(f"{f}={v}" for f, v in (await redis.hgetall(key)).items())
            elif kind == "zset":
                written.extend(await redis.zrange(key, 0, -1))
            elif kind == "string":
                written.append(str(await redis.get(key)))
    text = "\n".join(written)
    for form in encoded_forms(KEY):
        assert form not in text


async def test_a_servers_requested_wait_holds_every_client(redis_url: str, prefix: str) -> None:
    """One client's 429 asks for 0.6 s; the other client, which got no 429, sends
    nothing to that model until the wait is over."""
    app = create_app(MockConfig(faults=FaultPlan(script=["rate_limit"]), retry_after_s=0.6))
    store = RedisStore(redis_url, prefix=prefix)
    rules = [Limit("openai/*", rpm=60_000)]
    async with (
        client(app, store, rules, adaptive=False) as a,
        client(app, store, rules, adaptive=False) as b,
    ):
        refused_at = time.monotonic()
        with pytest.raises(RateLimitedError):
            await a.chat(MODEL, "first", max_tokens=8)
        await anyio.sleep(0.05)  # the hold is published in the background
        await b.chat(MODEL, "second", max_tokens=8)
        waited = time.monotonic() - refused_at
    assert app.stats.requests == 2
    assert waited >= 0.55


# -- Redis away ---------------------------------------------------------------------------


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of this test's own, which it may stop and start again."""
    with redis_server_or_skip() as server:
        yield server


async def test_redis_away_fails_closed_naming_the_store_then_recovers(
    own_redis: RedisServer,
) -> None:
    app = create_app(MockConfig())
    url = f"redis://:s3cr3t-passw0rd@127.0.0.1:{own_redis.port}/0"
    own_redis.stop()
    own_redis.start(password="s3cr3t-passw0rd")
    rules = [Limit("openai/*", rpm=60_000)]
    async with client(app, RedisStore(url), rules) as a:
        await a.chat(MODEL, "before", max_tokens=8)
        own_redis.stop()
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError) as caught:
            await a.chat(MODEL, "while away", max_tokens=8)
        assert time.monotonic() - started < 2.5  # no hang
        message = str(caught.value)
        assert f"127.0.0.1:{own_redis.port}" in message
        assert "s3cr3t-passw0rd" not in message and "s3cr3t-passw0rd" not in repr(caught.value)
        assert caught.value.retryable
        own_redis.start(password="s3cr3t-passw0rd")
        await anyio.sleep(0.6)  # past the moment the store counts as away
        await a.chat(MODEL, "after", max_tokens=8)
    assert app.stats.requests == 2  # nothing was sent while the store was away


async def test_the_retry_stage_carries_a_request_over_a_short_outage(
    own_redis: RedisServer,
) -> None:
    from sluicegate import RetryPolicy

    app = create_app(MockConfig())
    rules = [Limit("openai/*", rpm=60_000)]
    c = Client(
        providers={"openai": ProviderSettings(base_url=BASE_URL, api_key=KEY)},
        transport=MemoryTransport(app),
        load_entry_points=False,
        logger=QUIET,
        store=own_redis.url,
        disable=("breaker",),
        stage_settings={
            "rate_limit": RateLimits(rules=rules),
            "retry": RetryPolicy(attempts=10, base=0.3, cap=0.6),
        },
    )
    async with c:
        own_redis.stop()
        async with anyio.create_task_group() as group:

            async def restart() -> None:
                await anyio.sleep(0.5)
                await anyio.to_thread.run_sync(own_redis.start)

            group.start_soon(restart)
            answer = await c.chat(MODEL, "across the outage", max_tokens=8)
    assert answer.text
    assert app.stats.requests == 1


async def test_with_a_local_share_redis_away_sends_within_the_share(
    own_redis: RedisServer,
) -> None:
    app = create_app(MockConfig())
    rules = [Limit("openai/*", rpm=2400)]  # 40 a second in all; a share of 4 is 10
    store = RedisStore(own_redis.url, fallback_processes=4)
    async with client(app, store, rules) as a:
        await a.chat(MODEL, "before", max_tokens=8)
        own_redis.stop()
        app.stats.reset()
        started = time.monotonic()
        answered = await send_for([a], 1.5)
        elapsed = time.monotonic() - started
        # the share: 10 a second with its burst of 1 (0.1 s of 10/s), never the full 40
        assert len(answered) <= 1 + 10 * elapsed + 1
        assert len(answered) >= 0.8 * 10 * elapsed
        own_redis.start()
        await anyio.sleep(0.6)  # past the moment the store counts as away
        await a.chat(MODEL, "back", max_tokens=8)
        app.stats.reset()
        started = time.monotonic()
        answered = await send_for([a], 1.0)
        elapsed = time.monotonic() - started
    # back on the shared limit: its whole rate again
    assert len(answered) >= 0.8 * 40 * elapsed


def test_a_store_url_is_checked_when_the_client_is_made() -> None:
    from sluicegate import ConfigError

    with pytest.raises(ConfigError, match="unsupported URL scheme 'http'"):
        Client(store="http://127.0.0.1:6379")
    with pytest.raises(ConfigError, match="fallback_processes"):
        RedisStore("redis://127.0.0.1:6379/0", fallback_processes=0)
    shown = repr(RedisStore("redis://user:pa55w0rd-long@127.0.0.1:6379/0"))
    assert "pa55w0rd-long" not in shown and "***" in shown


def test_sluicegate_store_names_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    from sluicegate.stores.redis.config import store_from_setting

    monkeypatch.setenv("SLUICEGATE_STORE", "redis://127.0.0.1:6390/2")
    assert store_from_setting(None) == RedisStore("redis://127.0.0.1:6390/2")
    assert store_from_setting("memory") is None
    monkeypatch.setenv("SLUICEGATE_STORE", "memory")
    assert store_from_setting(None) is None
