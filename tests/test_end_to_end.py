"""sluicegate's own client against the mock server over real sockets on 127.0.0.1: every
transport, both backends, plain and streamed, faults, and cancellation without leaks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import structlog

from sluicegate import (
    AuthenticationError,
    Client,
    ConfigError,
    Done,
    ProviderError,
    ProviderSettings,
    RateLimitedError,
    RequestTimeoutError,
    ResponseFormatError,
    StreamError,
    TextDelta,
)
from sluicegate.testing import MockConfig, serve_mock
from sluicegate.testing.content import count_tokens

pytestmark = pytest.mark.anyio

KEY = "sk-e2e-0123456789abcdefghijklmn"
TRANSPORTS = ["auto", "httpx2", "aiohttp", "user-httpx", "user-httpx2"]


@pytest.fixture
async def server() -> AsyncIterator[Any]:
    async with serve_mock(MockConfig(require_api_key=KEY)) as running:
        yield running


def make_client(
    base_url: str, transport: str, backend: str, *, key: str = KEY, **kwargs: Any
) -> tuple[Client, Any]:
    owned: Any = None
    options: dict[str, Any] = {"transport": "auto" if transport.startswith("user") else transport}
    if transport == "user-httpx":
        owned = options["http_client"] = httpx.AsyncClient(timeout=30)
    elif transport == "user-httpx2":
        owned = options["http_client"] = httpx2.AsyncClient(timeout=30)
    providers = {"openai": ProviderSettings(base_url=f"{base_url}/v1", api_key=key)}
    # One attempt per call: these tests check what each fault becomes on the wire; retrying
    # through faults end to end is tests/test_resilience_end_to_end.py.
    kwargs.setdefault("stage_settings", {"retry": False})
    return Client(providers=providers, load_entry_points=False, **options, **kwargs), owned


@pytest.mark.aiohttp_on_trio
@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_plain_and_streamed_calls_over_every_transport(
    server: Any, transport: str, anyio_backend: str
) -> None:
    client, owned = make_client(server.base_url, transport, anyio_backend)
    if transport == "aiohttp" and anyio_backend == "trio":
        with pytest.raises(ConfigError, match="'aiohttp' needs asyncio, but this runs on trio"):
            await client.__aenter__()
        return
    async with client:
        plain = await client.chat(
            "openai/gpt-mock", "What is the capital of France?", max_tokens=40
        )
        async with client.stream(
            "openai/gpt-mock", "What is the capital of France?", max_tokens=40
        ) as s:
            events = [event async for event in s]
    streamed = s.response
    assert streamed is not None
    assert plain.text and plain.text == streamed.text
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == streamed.text
    assert isinstance(events[-1], Done)
    assert plain.usage == streamed.usage
    assert plain.usage.output_tokens == count_tokens(plain.text)
    assert plain.usage.input_tokens > 0
    if owned is not None:
        await owned.aclose()


async def test_concurrent_calls_share_the_pool(server: Any, anyio_backend: str) -> None:
    client, _ = make_client(server.base_url, "auto", anyio_backend, concurrency=8)
    texts: list[str] = []
    async with client:

        async def one(i: int) -> None:
            texts.append((await client.chat("openai/m", f"question {i}")).text)

        async with anyio.create_task_group() as group:
            for i in range(64):
                group.start_soon(one, i)
    assert len(texts) == 64 and len(set(texts)) == 64
    assert server.app.stats.succeeded == 64


async def test_wrong_key_is_an_authentication_error_without_the_key_anywhere(
    server: Any, anyio_backend: str
) -> None:
    wrong = "sk-wrong-9876543210zyxwvutsrqpo"
    client, _ = make_client(server.base_url, "auto", anyio_backend, key=wrong)
    with structlog.testing.capture_logs() as logs:
        async with client:
            with pytest.raises(AuthenticationError) as info:
                await client.chat("openai/gpt-mock", "hi")
    error = info.value
    assert error.status == 401 and error.provider == "openai" and error.model == "gpt-mock"
    assert not error.retryable
    for text in (str(error), repr(error), repr(logs), repr(error.__dict__)):
        assert wrong not in text and KEY not in text


@pytest.mark.parametrize(
    ("fault", "cls", "status", "retryable"),
    [
        ("rate_limit", RateLimitedError, 429, True),
        ("quota", RateLimitedError, 429, False),
        ("server_error", ProviderError, 500, True),
        ("overloaded", ProviderError, 503, True),
        ("bad_request", ProviderError, 400, False),
        ("malformed", ResponseFormatError, 200, True),
    ],
)
async def test_injected_faults_become_typed_errors(
    server: Any,
    fault: str,
    cls: type[ProviderError],
    status: int,
    retryable: bool,
    anyio_backend: str,
) -> None:
    client, _ = make_client(server.base_url, "auto", anyio_backend)
    async with client:
        with pytest.raises(cls) as info:
            await client.chat("openai/gpt-mock", "hi", headers={"x-mock-fault": fault})
    assert type(info.value) is cls
    assert info.value.status == status and info.value.retryable is retryable
    if fault == "rate_limit":
        assert info.value.retry_after is not None and info.value.retry_after > 0


@pytest.mark.parametrize("fault", ["cut_stream", "stream_error", "malformed"])
async def test_damaged_streams_raise_stream_errors_with_partial_text(
    server: Any, fault: str, anyio_backend: str
) -> None:
    client, _ = make_client(server.base_url, "auto", anyio_backend)
    received = ""
    async with client:
        with pytest.raises((StreamError, ResponseFormatError)) as info:
            async with client.stream("openai/m", "tell me", headers={"x-mock-fault": fault}) as s:
                async for chunk in s.text_chunks():
                    received += chunk
    error = info.value
    if isinstance(error, StreamError):
        assert error.partial_text.startswith(received)
        assert error.retryable


async def test_hang_past_the_timeout_is_a_timeout_error(server: Any, anyio_backend: str) -> None:
    client, _ = make_client(server.base_url, "auto", anyio_backend)
    async with client:
        with pytest.raises(RequestTimeoutError) as info:  # only the hung call is held to it
            await client.chat("openai/m", "hi", headers={"x-mock-fault": "hang"}, timeout=0.2)
        assert info.value.retryable
        # the connection that hung is not reused for the next call
        assert (await client.chat("openai/m", "hi")).text


@pytest.mark.parametrize("transport", ["auto", "httpx2", "aiohttp"])
async def test_cancelling_callers_leaks_no_connection(
    server: Any, transport: str, anyio_backend: str
) -> None:
    """With a pool of 2, cancel 2 hung calls and 2 half-read streams, then make 4 more
    calls: a connection leaked by any cancellation would leave them waiting forever."""
    client, _ = make_client(server.base_url, transport, anyio_backend, concurrency=2)
    async with client:
        with anyio.move_on_after(0.3) as scope:
            async with anyio.create_task_group() as group:
                for _ in range(2):
                    group.start_soon(
                        lambda: client.chat("openai/m", "hi", headers={"x-mock-fault": "hang"})
                    )
        assert scope.cancelled_caught
        for _ in range(2):
            async with client.stream("openai/m", "a long answer please", max_tokens=60) as s:
                async for _event in s:
                    break
        with anyio.fail_after(10):
            for _ in range(4):
                assert (await client.chat("openai/m", "still there?")).text
