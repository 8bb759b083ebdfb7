"""Fixtures of the scale-out tests: one mock server per module (its record cleared for
each test) and one redis-server per module (emptied, and started again if a test stopped
it, for each test).

Both peers are real processes, started once per module because each costs a fraction
of a second that a dozen tests would otherwise pay again; a test that needs a server
configured otherwise starts its own with :func:`scaleout.cluster.mock_peer`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from realpeers.redis import RedisServer, redis_server
from scaleout.cluster import mock_peer, reset_server

MOCK_LATENCY_S = 0.01
"""The shared mock server's wait before each answer: a provider's, scaled down."""


@pytest.fixture(scope="module")
def _module_mock() -> Iterator[str]:
    with mock_peer(latency_s=MOCK_LATENCY_S) as base_url:
        yield base_url


@pytest.fixture
def mock_url(_module_mock: str) -> str:
    """The base URL of a mock server recording arrivals, with an empty record."""
    reset_server(_module_mock)
    return _module_mock


@pytest.fixture(scope="module")
def _module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_peer(_module_redis: RedisServer) -> RedisServer:
    """A running, empty redis-server (``.url`` for ``Client(store=...)``); a test may
    stop, restart or pause it. Skips, naming the package, where it is not installed."""
    server = _module_redis
    if server.running:
        server.resume()  # a no-op unless the previous test left it paused
    else:
        server.start()
    server.call("FLUSHALL")
    return server
