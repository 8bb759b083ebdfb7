"""Hostile servers against the client's bounds: an answer too large, an SSE line or event
that never ends, a server that drips or only sends keep-alive comments, a body that does
not decompress. Every case must end in a typed sluicegate error, soon, with memory held
to the bound; each runs on transports "auto" (the native one), aiohttp (asyncio only) and
"httpx2", on both backends, against tests/hostile_server.py over 127.0.0.1.

Settings are small so that real timers stay short: a 1 MiB answer bound, a 64 KiB event
bound, a 0.5 s read timeout. The default total deadline (600 s) is checked on a FakeClock
advanced past it while the real server keeps dripping, so no test waits for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import pytest
from tests.hostile_server import (
    HostileServer,
    RawRequest,
    behaviour,
    hostile_server,
    http_head,
)

from sluicegate import Client, ProviderSettings
from sluicegate.clock import FakeClock
from sluicegate.errors import (
    RequestTimeoutError,
    ResponseTooLargeError,
    SluicegateError,
    StreamError,
    TransportError,
)

pytestmark = pytest.mark.anyio

KEY = "sk-hostile-bounds-test-key"
MIB = 2**20
CHUNK = b"x" * 65536
TRANSPORTS = ["auto", "httpx2", "aiohttp"]


async def _endless(stream: anyio.abc.ByteStream, chunk: bytes = CHUNK) -> None:
    """Send ``chunk`` until the client hangs up (about a GB at most)."""
    for _ in range(2**30 // len(chunk)):
        await stream.send(chunk)


@behaviour("huge-body-length")
async def _huge_body_length(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(
        http_head(200, {"content-type": "application/json", "content-length": str(2**30)})
    )
    await _endless(stream)


@behaviour("huge-body-close")
async def _huge_body_close(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    # no content-length: the body runs until the connection closes (which it never does)
    await stream.send(http_head(200, {"content-type": "application/json"}))
    await _endless(stream)


@behaviour("huge-error-body")
async def _huge_error_body(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(http_head(500, {"content-type": "text/html"}))
    await _endless(stream)


def _sse_head() -> bytes:
    return http_head(200, {"content-type": "text/event-stream", "cache-control": "no-cache"})


@behaviour("endless-sse-line")
async def _endless_sse_line(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(_sse_head() + b"data: ")
    await _endless(stream)


@behaviour("huge-sse-event")
async def _huge_sse_event(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    # many short data lines, never the blank line that would end the event
    await stream.send(_sse_head())
    await _endless(stream, b"data: " + b"y" * 1000 + b"\n")


@behaviour("drip-headers")
async def _drip_headers(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    head = http_head(200, {"content-type": "application/json", "x-padding": "p" * 10_000})
    for index in range(len(head)):
        await stream.send(head[index : index + 1])
        await anyio.sleep(0.05)


@behaviour("drip-body")
async def _drip_body(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(
        http_head(200, {"content-type": "application/json", "content-length": "100000"})
    )
    for _ in range(100_000):
        await stream.send(b" ")
        await anyio.sleep(0.05)


@behaviour("comments-only")
async def _comments_only(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(_sse_head())
    for _ in range(100_000):
        await stream.send(b": ping\n\n")
        await anyio.sleep(0.05)


@behaviour("bad-gzip")
async def _bad_gzip(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    body = b"this is not gzip at all, whatever the header says" * 10
    content_type = "text/event-stream" if b'"stream": true' in request.body else "application/json"
    await stream.send(
        http_head(
            200,
            {
                "content-type": content_type,
                "content-encoding": "gzip",
                "content-length": str(len(body)),
            },
        )
        + body
    )


@pytest.fixture(scope="module")
def server() -> Any:
    with hostile_server() as running:
        yield running


@asynccontextmanager
async def _client(server: HostileServer, transport: str, **options: Any) -> AsyncIterator[Client]:
    settings: dict[str, Any] = {
        "max_response_bytes": MIB,
        "max_event_bytes": 64 * 1024,
        "timeout": 0.5,
        "total_timeout": 5.0,
    }
    settings.update(options)
    async with Client(
        providers={"openai": ProviderSettings(base_url=server.base_url, api_key=KEY)},
        transport=transport,
        load_entry_points=False,
        **settings,
    ) as client:
        yield client


async def _ask(client: Client, model: str, *, stream: bool) -> Any:
    if stream:
        async with client.stream(f"openai/{model}", "hi") as answer:
            return await answer.final_response()
    return await client.chat(f"openai/{model}", "hi")


# -- size bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("model", ["huge-body-length", "huge-body-close"])
async def test_a_plain_answer_past_max_response_bytes_is_refused_unread(
    server: HostileServer, transport: str, model: str, anyio_backend: str
) -> None:
    before = server.count(model)
    async with _client(server, transport) as client:
        with anyio.fail_after(10), pytest.raises(ResponseTooLargeError) as caught:
            await client.chat(f"openai/{model}", "hi")
    error = caught.value
    assert error.error_type == "response_too_large"
    assert not error.retryable
    assert (error.provider, error.model) == ("openai", model)
    assert "1,048,576 bytes" in error.message and "max_response_bytes" in error.message
    assert server.count(model) == before + 1  # not retried: the same answer would come


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_error_answer_past_the_bound_on_a_stream_is_refused_too(
    server: HostileServer, transport: str, anyio_backend: str
) -> None:
    async with _client(server, transport, disable=("retry",)) as client:
        with anyio.fail_after(10), pytest.raises(ResponseTooLargeError) as caught:
            await _ask(client, "huge-error-body", stream=True)
    assert caught.value.error_type == "response_too_large"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("model", ["endless-sse-line", "huge-sse-event"])
async def test_an_sse_line_or_event_past_max_event_bytes_ends_the_stream(
    server: HostileServer, transport: str, model: str, anyio_backend: str
) -> None:
    before = server.count(model)
    async with _client(server, transport) as client:
        with anyio.fail_after(10), pytest.raises(StreamError) as caught:
            await _ask(client, model, stream=True)
    error = caught.value
    assert error.error_type == "event_too_large"
    assert not error.retryable
    assert "65,536 bytes" in error.message and "max_event_bytes" in error.message
    assert server.count(model) == before + 1


async def test_the_bounds_are_checked_when_the_client_is_built(anyio_backend: str) -> None:
    from sluicegate.errors import ConfigError

    for name, value in [
        ("max_response_bytes", 0),
        ("max_event_bytes", -1),
        ("max_event_bytes", 1.5),
    ]:
        with pytest.raises(ConfigError, match=name):
            Client(load_entry_points=False, **{name: value})


# -- decoding ------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
async def test_a_body_that_does_not_decompress_is_a_typed_error(
    server: HostileServer, transport: str, stream: bool, anyio_backend: str
) -> None:
    async with _client(server, transport, disable=("retry",)) as client:
        with anyio.fail_after(10), pytest.raises(SluicegateError) as caught:
            await _ask(client, "bad-gzip", stream=stream)
    error = caught.value
    assert isinstance(error, StreamError | TransportError), error
    assert error.retryable
    assert error.model == "bad-gzip"


# -- the default deadline ------------------------------------------------------------------


async def _past_the_default_deadline(
    server: HostileServer, transport: str, model: str, *, stream: bool
) -> SluicegateError:
    """Call ``model`` with the client's DEFAULT total deadline on a FakeClock, advance it
    past 600 s while the real server keeps dripping, and return the error it ended in
    (a guard of a few real seconds fails the test instead of hanging)."""
    clock = FakeClock()
    async with Client(
        providers={"openai": ProviderSettings(base_url=server.base_url, api_key=KEY)},
        transport=transport,
        load_entry_points=False,
        timeout=0.5,
        clock=clock,
    ) as client:
        errors: list[SluicegateError] = []

        async def call() -> None:
            try:
                await _ask(client, model, stream=stream)
            except SluicegateError as exc:
                errors.append(exc)

        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(call)
                await anyio.sleep(0.8)  # longer than the read timeout: bytes keep coming
                assert not errors, errors  # the per-gap timer never fires on a drip
                clock.advance(599.0)
                await anyio.sleep(0.1)
                assert not errors, errors
                clock.advance(2.0)
        assert len(errors) == 1
        return errors[0]


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("model", ["drip-headers", "drip-body"])
async def test_a_dripping_server_ends_at_the_default_deadline(
    server: HostileServer, transport: str, model: str, anyio_backend: str
) -> None:
    error = await _past_the_default_deadline(server, transport, model, stream=False)
    assert isinstance(error, RequestTimeoutError)
    assert error.error_type == "deadline_exceeded"
    assert "600s" in error.message


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_stream_of_comments_only_ends_at_the_default_deadline(
    server: HostileServer, transport: str, anyio_backend: str
) -> None:
    error = await _past_the_default_deadline(server, transport, "comments-only", stream=True)
    assert isinstance(error, RequestTimeoutError | StreamError)
    assert error.error_type == "deadline_exceeded"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_drip_with_a_short_total_timeout_is_a_typed_timeout_in_time(
    server: HostileServer, transport: str, anyio_backend: str
) -> None:
    async with _client(server, transport, total_timeout=1.0) as client:
        started = anyio.current_time()
        with anyio.fail_after(5), pytest.raises(RequestTimeoutError) as caught:
            await client.chat("openai/drip-body", "hi")
    assert caught.value.error_type == "deadline_exceeded"
    assert anyio.current_time() - started < 2.0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_stream_of_comments_only_with_a_short_total_timeout_ends_in_time(
    server: HostileServer, transport: str, anyio_backend: str
) -> None:
    """On the loop's clock the deadline is the transport's own total timer (aiohttp) or
    a cancel scope per read (httpx2), since keep-alive comments reset the read timer."""
    async with _client(server, transport, total_timeout=1.0) as client:
        started = anyio.current_time()
        with anyio.fail_after(5), pytest.raises(RequestTimeoutError) as caught:
            await _ask(client, "comments-only", stream=True)
    assert caught.value.error_type == "deadline_exceeded"
    assert 1.0 - 1e-3 <= anyio.current_time() - started < 2.0
