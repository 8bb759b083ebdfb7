"""The redis-server peer itself: it runs where the harness says, keeps nothing, and
stops, restarts on its port, pauses and resumes as the store's tests will need."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from realpeers import redis
from realpeers.redis import PACKAGE_HINT, RedisServer, redis_server, require_redis


def refuses_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_it_serves_on_loopback_without_persistence(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.call("SET", "k", "v") == "OK"
        assert server.call("GET", "k") == "v"
        assert server.call("CONFIG", "GET", "bind") == ["bind", "127.0.0.1"]
        assert server.call("CONFIG", "GET", "save") == ["save", ""]
        assert server.call("CONFIG", "GET", "appendonly") == ["appendonly", "no"]
        assert server.call("CONFIG", "GET", "dir") == ["dir", str(tmp_path)]
        with pytest.raises(redis.RedisError, match="unknown command"):
            server.call("NO-SUCH-COMMAND")
        port = server.port
    assert refuses_connections(port)
    assert not list(tmp_path.glob("*.rdb")) and not list(tmp_path.glob("appendonly*"))


def test_a_restart_keeps_the_port_and_loses_the_keys(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        server.call("SET", "k", "v")
        port = server.port
        server.stop()
        assert not server.running and not server.ping()
        assert refuses_connections(port)
        server.start()
        assert server.port == port and server.ping()
        assert server.call("GET", "k") is None
        server.call("SET", "k", "v")
        server.restart()
        assert server.port == port and server.call("DBSIZE") == 0


def test_a_paused_server_holds_connections_unanswered(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        server.pause()
        with pytest.raises(TimeoutError):
            server.call("PING", timeout=0.2)
        server.resume()
        assert server.call("PING") == "PONG"
        server.pause()  # left paused: leaving the block still stops it
        port = server.port
    assert refuses_connections(port)


def test_starting_twice_is_refused(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server, pytest.raises(RuntimeError, match="already running"):
        server.start()


def test_a_broken_start_is_reported_with_its_log(tmp_path: Path) -> None:
    require_redis()
    with redis_server(tmp_path / "first") as taken:
        second = RedisServer(taken.port, tmp_path / "second")
        with pytest.raises(RuntimeError, match="Address already in use"):
            second.start()
        assert not second.running


def test_without_redis_server_the_skip_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis, "REDIS_SERVER", tmp_path / "no-redis-server")
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        require_redis()
    assert "redis-server" in PACKAGE_HINT
