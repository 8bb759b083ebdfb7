"""A call's own ``timeout=`` and ``connect_timeout=`` replace the client's transport timers
for that call only: against the mock server over the native transport (``auto``),
httpx2, aiohttp (asyncio only) and the in-memory transport, with one attempt per call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest

from sluicegate import (
    Client,
    ConfigError,
    ProviderSettings,
    RequestTimeoutError,
    StreamError,
    TextDelta,
)
from sluicegate.testing import Answer, MockConfig, ScriptedTransport, openai_completion, serve_mock
from sluicegate.testing.mock_app import create_app
from sluicegate.transports.base import HttpRequest, RequestTimeouts, TransportOptions
from sluicegate.transports.httpx_client import HttpxTransport
from sluicegate.transports.memory import MemoryTransport

pytestmark = pytest.mark.anyio

KEY = "sk-timeouts-0123456789abcdefghij"
HANG = {"x-mock-fault": "hang"}
TRANSPORTS = ["auto", "httpx2", "aiohttp", "memory"]
"""``auto`` is the native transport; aiohttp runs on asyncio only (its trio cases are
deselected, see conftest); ``memory`` has no socket."""
GUARD_S = 10.0
"""Upper bound on any one test's wait: a timer that was not applied fails the test here
instead of waiting for the client's default (30 s, or the mock's hour-long hang)."""


@asynccontextmanager
async def mock_client(
    transport: str, config: MockConfig, *, default_timeout: float
) -> AsyncIterator[Client]:
    """A client whose default read timer is ``default_timeout``, over ``transport`` to a mock
    server configured by ``config``, retry off so one attempt is measured."""
    common: dict[str, Any] = {
        "load_entry_points": False,
        "timeout": default_timeout,
        "stage_settings": {"retry": False},
    }
    if transport == "memory":
        memory = MemoryTransport(
            create_app(config), options=TransportOptions(read_timeout=default_timeout)
        )
        providers = {"openai": ProviderSettings(base_url="http://mock.test/v1", api_key=KEY)}
        async with Client(providers=providers, transport=memory, **common) as client:
            yield client
        return
    async with serve_mock(config) as server:
        providers = {"openai": ProviderSettings(base_url=f"{server.base_url}/v1", api_key=KEY)}
        async with Client(providers=providers, transport=transport, **common) as client:
            yield client


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_own_timeout_cuts_a_hang_the_client_default_would_wait_out(
    transport: str, anyio_backend: str
) -> None:
    async with mock_client(
        transport, MockConfig(require_api_key=KEY), default_timeout=30
    ) as client:
        with anyio.fail_after(GUARD_S), pytest.raises(RequestTimeoutError) as info:
            await client.chat("openai/m", "hi", headers=HANG, timeout=0.2)
        # worded with the call's own limit, not the client's 30 s
        assert "within 0.2s" in str(info.value)
        assert info.value.retryable
        # the next call, without its own timer, is unaffected
        with anyio.fail_after(GUARD_S):
            assert (await client.chat("openai/m", "hi")).text


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_own_larger_timeout_lets_a_slow_answer_through(
    transport: str, anyio_backend: str
) -> None:
    config = MockConfig(require_api_key=KEY, latency_s=0.3)
    async with mock_client(transport, config, default_timeout=0.1) as client:
        with anyio.fail_after(GUARD_S):
            with pytest.raises(RequestTimeoutError) as info:
                await client.chat("openai/m", "hi")
            assert "within 0.1s" in str(info.value)
            response = await client.chat("openai/m", "hi", timeout=5)
        assert response.text


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_own_larger_timeout_lets_a_slow_stream_through(
    transport: str, anyio_backend: str
) -> None:
    config = MockConfig(require_api_key=KEY, per_token_latency_s=0.15)
    async with mock_client(transport, config, default_timeout=0.05) as client:
        with anyio.fail_after(GUARD_S):
            with pytest.raises((StreamError, RequestTimeoutError)):
                async with client.stream("openai/m", "hi", max_tokens=3) as cut:
                    async for _event in cut:
                        pass
            async with client.stream("openai/m", "hi", max_tokens=3, timeout=5) as stream:
                text = "".join([e.text async for e in stream if isinstance(e, TextDelta)])
                response = await stream.final_response()
        assert text
        assert response.text == text


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_stream_gap_past_own_timeout_is_a_stream_error(
    transport: str, anyio_backend: str
) -> None:
    """The first bytes come at once, then 0.4 s between pieces: past the call's 0.15 s the
    stream fails after it began, though the client would wait 30 s."""
    config = MockConfig(require_api_key=KEY, per_token_latency_s=0.4)
    async with mock_client(transport, config, default_timeout=30) as client:
        with anyio.fail_after(GUARD_S), pytest.raises(StreamError) as info:
            async with client.stream("openai/m", "hi", max_tokens=5, timeout=0.15) as stream:
                async for _event in stream:
                    pass
        assert "no stream data within 0.15s" in str(info.value)
        assert info.value.retryable


@pytest.mark.parametrize("name", ["timeout", "connect_timeout"])
@pytest.mark.parametrize("bad", [-1, 0, "5", True, float("nan"), float("inf")])
async def test_bad_own_timer_is_a_config_error_naming_it(name: str, bad: Any) -> None:
    async with Client(transport=ScriptedTransport(Answer()), load_entry_points=False) as client:
        with pytest.raises(ConfigError, match=f"^{name} must be a positive number"):
            client.request("openai/m", "hi", **{name: bad})


async def test_own_timers_ride_to_the_transport_only_when_set() -> None:
    """A transport sees the call's timers on its HttpRequest, and None when the call set
    none; a transport that ignores them (this scripted one) still answers. (With no
    total_timeout: a deadline's time left rides there too, see
    tests/middleware/test_deadline_on_the_loop_clock.py.)"""
    transport = ScriptedTransport(Answer.json(200, openai_completion("ok")))
    providers = {"openai": ProviderSettings(base_url="http://127.0.0.1:9/v1", api_key=KEY)}
    async with Client(
        providers=providers,
        transport=transport,
        load_entry_points=False,
        stage_settings={"retry": False},
        total_timeout=None,
    ) as client:
        plain = client.request("openai/m", "hi")
        assert (plain.metadata.timeout, plain.metadata.connect_timeout) == (None, None)
        assert (await client.send(plain)).text == "ok"
        assert (await client.chat("openai/m", "hi", timeout=2, connect_timeout=0.5)).text == "ok"
        assert (await client.chat("openai/m", "hi", connect_timeout=1)).text == "ok"
        own = client.request("openai/m", "hi", timeout=2, temperature=0.5)
    assert [r.timeouts for r in transport.requests] == [
        None,
        RequestTimeouts(connect=0.5, read=2.0),
        RequestTimeouts(connect=1.0, read=None),
    ]
    # the timers are the client's business: never sent to the provider as parameters
    assert b"timeout" not in b"".join(r.body for r in transport.requests)
    assert own.metadata.timeout == 2.0
    assert "timeout" not in own.params.extra


async def test_httpx_own_timers_keep_the_clients_other_timers(anyio_backend: str) -> None:
    """httpx replaces a client's Timeout whole per request, so the transport fills what
    the call did not set from the client (a user's client keeps its own write/pool)."""
    seen: list[dict[str, Any]] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(dict(request.extensions["timeout"]))
        return httpx2.Response(200, content=b"{}")

    timeout = httpx2.Timeout(7.0, connect=3.0, pool=9.0)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer), timeout=timeout) as http:
        transport = HttpxTransport(http, owns_client=False)
        url = "http://127.0.0.1:9/x"
        await transport.send(HttpRequest("POST", url, {}))
        await transport.send(HttpRequest("POST", url, {}, timeouts=RequestTimeouts(read=0.5)))
        stream = await transport.open_stream(
            HttpRequest("POST", url, {}, timeouts=RequestTimeouts(connect=0.25))
        )
        await stream.aclose()
    assert seen == [
        {"connect": 3.0, "read": 7.0, "write": 7.0, "pool": 9.0},
        {"connect": 3.0, "read": 0.5, "write": 7.0, "pool": 9.0},
        {"connect": 0.25, "read": 7.0, "write": 7.0, "pool": 9.0},
    ]


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_aiohttp_own_timers_keep_the_transports_other_timer(anyio_backend: str) -> None:
    """aiohttp replaces the session's ClientTimeout whole per request, so the timer the
    call did not set is the transport's default; a call with none passes no timeout; a
    deadline's ``total`` is aiohttp's total timer."""
    import aiohttp

    from sluicegate.transports.aiohttp import AiohttpTransport

    transport = AiohttpTransport(TransportOptions(connect_timeout=4.0, read_timeout=6.0))
    passed: list[Any] = []

    def record(*args: Any, **kwargs: Any) -> Any:
        passed.append(kwargs.get("timeout"))
        raise aiohttp.ClientConnectionError("recorded")

    transport._session.request = record  # type: ignore[method-assign]
    try:
        url = "http://127.0.0.1:9/x"
        for timeouts in (
            None,
            RequestTimeouts(read=0.5),
            RequestTimeouts(connect=0.25),
            RequestTimeouts(total=3.0),
        ):
            with pytest.raises(Exception, match="recorded"):
                await transport.send(HttpRequest("POST", url, {}, timeouts=timeouts))
    finally:
        await transport.aclose()
    exact = float("inf")  # (no timer rounded up to a whole second)
    assert passed == [
        None,
        aiohttp.ClientTimeout(total=None, sock_connect=4.0, sock_read=0.5, ceil_threshold=exact),
        aiohttp.ClientTimeout(total=None, sock_connect=0.25, sock_read=6.0, ceil_threshold=exact),
        # a deadline's time left is aiohttp's own total timer
        aiohttp.ClientTimeout(total=3.0, sock_connect=4.0, sock_read=6.0, ceil_threshold=exact),
    ]


@pytest.mark.parametrize("options", [{"timeout": -1}, {"connect_timeout": 0}, {"timeout": "5"}])
def test_bad_client_timers_are_refused_when_the_client_is_made(options: dict[str, Any]) -> None:
    name = next(iter(options))
    with pytest.raises(ConfigError, match=f"{name} must be a positive number"):
        Client(**options)
