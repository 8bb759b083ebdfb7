"""The ``redis_peer`` fixture hands every test a running, empty redis-server, whatever
the test before it left behind (keys, a stopped server, a paused one): the store's
tests, one of which stops Redis mid-run, cannot leak into each other.

Each case checks the state it was given, then leaves the server in its own state for
the next (cases run in order, on one server per module); any one alone passes too.
"""

from __future__ import annotations

import pytest

from realpeers.redis import RedisServer


@pytest.mark.parametrize("leave", ["keys", "stopped", "paused", "restarted"])
def test_each_test_gets_a_running_empty_server(redis_peer: RedisServer, leave: str) -> None:
    assert redis_peer.running
    assert redis_peer.call("PING", timeout=1.0) == "PONG"
    assert redis_peer.call("DBSIZE") == 0
    redis_peer.call("SET", "left-by", leave)
    if leave == "stopped":
        redis_peer.stop()
    elif leave == "paused":
        redis_peer.pause()
    elif leave == "restarted":
        port = redis_peer.port
        redis_peer.restart()
        assert redis_peer.port == port and redis_peer.call("DBSIZE") == 0
