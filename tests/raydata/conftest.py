"""Fixtures of the Ray tests: one Ray cluster per session, started with ``ray start
--head`` on 127.0.0.1 (no dashboard, no usage statistics, a small object store), whose
workers reach one mock server (over HTTP, its own process, with an nginx-like per-second
limiter in front and every arrival recorded) as ``openai``; and a redis-server per module.

The cluster is a real one the tests join by address, as a user joins theirs: the driver
under test can then be killed with SIGKILL while the cluster stays up. It is started
once, because a start costs several seconds. The workers get the mock's URL and a test
key from the environment ``ray start`` was given, as a real cluster's workers would
hold their provider settings; the key is a test one, never a real secret.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from raydata.peers import API_KEY, KNOWN_MODELS, SERVER_BURST, SERVER_RPS
from realpeers.redis import RedisServer, free_port, redis_server
from scaleout.cluster import mock_peer, reset_server

RAY_TOKEN = secrets.token_hex(32)
"""The test cluster's authentication token (Ray's token auth, on by default): given to
the cluster and to every driver, never written anywhere."""
DRIVER_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": RAY_TOKEN,
}
"""What a driver of the test cluster needs in its environment."""

# Read by Ray when it is imported, so set before: a cluster bound to 127.0.0.1 is reached
# at 127.0.0.1 only on a one-machine cluster (else Ray swaps in the outside address), and
# the driver in this process authenticates with the test cluster's token.
os.environ.update(DRIVER_ENV)
pytest.importorskip("ray", reason="needs Ray: pip install 'sluicegate[ray]'")

CLUSTER_START_S = 120.0


def _ray_command() -> str:
    found = shutil.which("ray", path=str(Path(sys.executable).parent))
    assert found is not None, "the ray command is installed with the ray package"
    return found


def ray_env(base_url: str) -> dict[str, str]:
    """The environment of the cluster's processes (and so of its actors), and of a
    driver started as a command."""
    env = dict(os.environ)
    env.update(DRIVER_ENV, OPENAI_BASE_URL=f"{base_url}/v1", OPENAI_API_KEY=API_KEY)
    env.pop("SLUICEGATE_STORE", None)
    return env


@pytest.fixture(scope="session")
def limited_mock() -> Iterator[str]:
    """The mock server's base URL (its record is cleared per test by ``mock_url``)."""
    with mock_peer(
        latency_s=0.01,
        limit_rps=SERVER_RPS,
        limit_burst=SERVER_BURST,
        models=list(KNOWN_MODELS),
    ) as base_url:
        yield base_url


@pytest.fixture
def mock_url(limited_mock: str) -> str:
    reset_server(limited_mock)
    return limited_mock


@pytest.fixture(scope="session")
def ray_address(limited_mock: str) -> Iterator[str]:
    """The address of a running local Ray cluster bound to 127.0.0.1."""
    ray = _ray_command()
    env = ray_env(limited_mock)
    port = free_port()
    start = [
        ray,
        "start",
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        "--num-cpus=4",
        "--include-dashboard=false",
        "--disable-usage-stats",
        f"--object-store-memory={256 * 1024 * 1024}",
    ]
    done = subprocess.run(
        start, env=env, capture_output=True, text=True, timeout=CLUSTER_START_S, check=False
    )
    try:
        if done.returncode != 0:
            raise RuntimeError(
                f"ray start failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(
            [ray, "stop", "--force"], env=env, capture_output=True, timeout=60, check=False
        )


@pytest.fixture(scope="module")
def _module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def redis_url(_module_redis: RedisServer) -> str:
    """An empty redis-server's URL."""
    _module_redis.call("FLUSHALL")
    return _module_redis.url
