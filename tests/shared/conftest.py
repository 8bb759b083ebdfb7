"""A real Debian ``redis-server`` for the shared-store tests: one per test session, on
127.0.0.1 and a free port, no persistence; each test gets its own key prefix, so tests
never see each other's state and need not flush."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from realpeers.redis import RedisServer, redis_server_or_skip

_prefixes = itertools.count(1)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with redis_server_or_skip() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"sgtest{next(_prefixes)}"
