"""The native transport's parts and its behaviour on real loopback sockets.

Its request bytes are read back by httptools' request parser (a parser we did not write);
its response reader is fed bytes split at every place hypothesis picks; the transport
talks to a raw TCP server whose every answer the test writes, and over TLS to a server
with a certificate from a throwaway CA (trustme). Behaviour it shares with the other
transports (timeouts, hostile servers, faults, secrets) is in the tests parametrised over
every transport (test_end_to_end, test_hostile_bounds, test_request_timeouts,
test_resilience_end_to_end...).
"""

from __future__ import annotations

import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.abc
import httptools
import pytest
import trustme
from anyio.streams.tls import TLSListener
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.transports.base import HttpRequest, TransportFailure, TransportOptions
from sluicegate.transports.native import NativeTransport
from sluicegate.transports.native.http11 import ResponseReader, request_bytes, request_line

pytestmark = pytest.mark.anyio

OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


# -- the request's bytes -------------------------------------------------------------------

HEADER_NAME = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True).filter(
    lambda n: n not in ("host", "content-length", "user-agent", "transfer-encoding")
)
HEADER_VALUE = st.text(  # RFC 9110's field-vchar and spaces: printable ASCII and obs-text
    st.characters(min_codepoint=0x20, max_codepoint=0xFF).filter(lambda c: c != "\x7f"),
    max_size=40,
).map(str.strip)


class _RequestSeen:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.url = b""
        self.body = b""
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


@given(
    headers=st.dictionaries(HEADER_NAME, HEADER_VALUE, max_size=6),
    body=st.binary(max_size=300),
    query=st.sampled_from(["", "?alt=sse", "?a=1&b=2"]),
)
def test_a_request_reads_back_the_same_through_httptools(
    headers: dict[str, str], body: bytes, query: str
) -> None:
    line = request_line(f"http://127.0.0.1:8123/v1beta/models/m:generate{query}")
    data = request_bytes("POST", line, headers, body)
    seen = _RequestSeen()
    parser = httptools.HttpRequestParser(seen)
    parser.feed_data(data)
    assert seen.complete
    assert parser.get_method() == b"POST"
    assert seen.url == f"/v1beta/models/m:generate{query}".encode()
    assert seen.body == body
    assert seen.headers["host"] == "127.0.0.1:8123"
    assert seen.headers["content-length"] == str(len(body))
    assert seen.headers["user-agent"] == "sluicegate"
    for name, value in headers.items():
        assert seen.headers[name] == value


@pytest.mark.parametrize("bad", ["a\r\nx-injected: 1", "a\nb", "a\rb"])
def test_a_line_break_in_a_header_is_refused_not_sent(bad: str) -> None:
    line = request_line("http://127.0.0.1:1/v1/chat/completions")
    with pytest.raises(TransportFailure, match="line break"):
        request_bytes("POST", line, {"x-note": bad}, b"{}")
    with pytest.raises(TransportFailure, match="line break"):
        request_bytes("POST", line, {bad: "v"}, b"{}")


def test_urls_give_their_origin_target_and_host() -> None:
    line = request_line("https://api.example.com/v1/chat/completions")
    assert (line.origin, line.target, line.host_header) == (
        ("https", "api.example.com", 443),
        "/v1/chat/completions",
        "api.example.com",
    )
    v6 = request_line("http://[::1]:8080")
    assert (v6.origin, v6.target, v6.host_header) == (("http", "::1", 8080), "/", "[::1]:8080")
    with pytest.raises(TransportFailure, match="scheme"):
        request_line("ftp://example.com/x")


# -- reading answers -------------------------------------------------------------------------

BODY = b'{"id":"chatcmpl-1","choices":[{"message":{"content":"' + b"word " * 60 + b'"}}]}'


def chunked(body: bytes, size: int) -> bytes:
    out = b""
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += b"%x\r\n%s\r\n" % (len(piece), piece)
    return out + b"0\r\n\r\n"


ANSWERS = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY),
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(BODY, 37),
    "gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n%s"
    % (len(gzip.compress(BODY)), gzip.compress(BODY)),
    "until-close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY,
}


@given(kind=st.sampled_from(sorted(ANSWERS)), data=st.data())
def test_any_split_of_an_answer_reads_the_same_body(kind: str, data: st.DataObject) -> None:
    raw = ANSWERS[kind]
    cuts = sorted(data.draw(st.sets(st.integers(1, len(raw) - 1), max_size=12)))
    reader = ResponseReader()
    for start, end in zip([0, *cuts], [*cuts, len(raw)], strict=True):
        reader.feed(raw[start:end])
    if kind == "until-close":
        assert not reader.complete
        reader.end_of_stream()
    assert reader.complete and reader.status == 200
    assert b"".join(reader.pieces) == BODY
    assert reader.reusable is (kind in ("content-length", "chunked", "gzip"))


def test_a_cut_answer_is_a_read_failure() -> None:
    reader = ResponseReader()
    reader.feed(ANSWERS["content-length"][:-10])
    with pytest.raises(TransportFailure, match="before the body ended"):
        reader.end_of_stream()
    reader = ResponseReader()
    with pytest.raises(TransportFailure, match="before an answer arrived"):
        reader.end_of_stream()


def test_garbage_and_an_unknown_encoding_are_read_failures() -> None:
    with pytest.raises(TransportFailure, match="malformed response"):
        ResponseReader().feed(b"SMTP ready\r\n\r\n")
    with pytest.raises(TransportFailure, match="unsupported content-encoding 'br'"):
        ResponseReader().feed(
            b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nContent-Length: 1\r\n\r\nx"
        )


# -- against a raw server ----------------------------------------------------------------------

Handler = Callable[[anyio.abc.SocketStream, int], Awaitable[None]]


async def read_request(stream: anyio.abc.ByteStream) -> bytes | None:
    """One request's bytes (head and content-length body), or None at EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        try:
            data += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return None
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += await stream.receive()
    return head


@asynccontextmanager
async def raw_server(
    answer: Callable[[anyio.abc.ByteStream, int, int], Awaitable[bool]],
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[tuple[str, list[int]]]:
    """A server on 127.0.0.1: ``answer(stream, connection number, request number on it)``
    writes each answer and returns whether to keep the connection. Yields the base URL
    and the number of requests each connection carried."""
    listener: Any = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    if tls is not None:
        listener = TLSListener(listener, tls, standard_compatible=False)
    carried: list[int] = []

    async def serve(stream: anyio.abc.ByteStream) -> None:
        number = len(carried)
        carried.append(0)
        async with stream:
            while await read_request(stream) is not None:
                carried[number] += 1
                if not await answer(stream, number, carried[number]):
                    return

    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        try:
            yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", carried
        finally:
            group.cancel_scope.cancel()


def post(url: str) -> HttpRequest:
    return HttpRequest("POST", url + "/v1/chat/completions", {"content-type": "json"}, b"{}")


async def test_connections_are_kept_and_reused() -> None:
    async def answer(stream: anyio.abc.ByteStream, connection: int, request: int) -> bool:
        await stream.send(OK)
        return True

    transport = NativeTransport(TransportOptions(concurrency=4))
    async with raw_server(answer) as (url, carried):
        for _ in range(20):
            response = await transport.send(post(url))
            assert (response.status, response.body) == (200, b"{}")
            assert response.headers["content-type"] == "application/json"
        assert carried == [20]  # one connection carried every request
        async with anyio.create_task_group() as group:  # four at once: four connections
            for _ in range(4):
                group.start_soon(transport.send, post(url))
        assert len(carried) == 4 and transport.pool.idle_count == 4
        await transport.aclose()
    assert transport.pool.idle_count == 0


async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def answer(stream: anyio.abc.ByteStream, connection: int, request: int) -> bool:
        await stream.send(OK)
        return False  # answer, then close: the idle connection is dead when reused

    transport = NativeTransport(TransportOptions())
    async with raw_server(answer) as (url, carried):
        for _ in range(3):
            assert (await transport.send(post(url))).status == 200
        assert carried == [1, 1, 1]
    await transport.aclose()


async def test_connection_close_is_honoured_and_an_answer_to_the_close_is_read() -> None:
    async def answer(stream: anyio.abc.ByteStream, connection: int, request: int) -> bool:
        await stream.send(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + BODY)
        return False

    transport = NativeTransport(TransportOptions())
    async with raw_server(answer) as (url, carried):
        first = await transport.send(post(url))
        second = await transport.send(post(url))
    assert first.body == second.body == BODY
    assert carried == [1, 1] and transport.pool.idle_count == 0
    await transport.aclose()


async def test_a_stream_reads_as_it_arrives_and_gives_its_connection_back() -> None:
    events = [b'data: {"n": %d}\n\n' % i for i in range(5)]
    go = anyio.Event()

    async def answer(stream: anyio.abc.ByteStream, connection: int, request: int) -> bool:
        await stream.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await stream.send(chunked(events[0], 100)[:-5])  # the first event, not the end
        await go.wait()
        await stream.send(b"".join(chunked(e, 100)[:-5] for e in events[1:]) + b"0\r\n\r\n")
        return True

    transport = NativeTransport(TransportOptions())
    async with raw_server(answer) as (url, carried):
        stream = await transport.open_stream(post(url))
        assert stream.status == 200
        received = []
        async for piece in stream.iter_bytes():
            received.append(piece)
            go.set()  # the first event arrived before the rest was sent
        await stream.aclose()
        assert b"".join(received) == b"".join(events)
        assert transport.pool.idle_count == 1
        again = await transport.open_stream(post(url))  # closed unread: not reused
        await again.aclose()
        assert transport.pool.idle_count == 0
        assert carried == [2]
    await transport.aclose()


async def test_a_body_past_the_bound_is_refused_and_its_connection_closed() -> None:
    async def answer(stream: anyio.abc.ByteStream, connection: int, request: int) -> bool:
        await stream.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await stream.send(chunked(b"x" * 5000, 1000))
        return True

    transport = NativeTransport(TransportOptions(max_response_bytes=2048))
    async with raw_server(answer) as (url, _):
        with pytest.raises(TransportFailure) as info:
            await transport.send(post(url))
    assert info.value.phase == "too_large"
    assert transport.pool.idle_count == 0
    await transport.aclose()


async def test_a_refused_connection_is_a_connect_failure() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there now
    transport = NativeTransport(TransportOptions())
    with pytest.raises(TransportFailure) as info:
        await transport.send(post(f"http://127.0.0.1:{port}"))
    assert info.value.phase == "connect"


async def test_no_more_connections_than_the_concurrency_are_open() -> None:
    in_flight = 0
    most = 0

    async def answer(stream: anyio.abc.ByteStream, connection: int, request: int) -> bool:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await anyio.sleep(0.01)
        in_flight -= 1
        await stream.send(OK)
        return True

    transport = NativeTransport(TransportOptions(concurrency=3))
    async with raw_server(answer) as (url, carried):
        async with anyio.create_task_group() as group:
            for _ in range(12):
                group.start_soon(transport.send, post(url))
    assert most <= 3 and len(carried) <= 3 and sum(carried) == 12
    await transport.aclose()


async def test_tls_with_the_servers_certificate_trusted() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    async def answer(stream: anyio.abc.ByteStream, connection: int, request: int) -> bool:
        await stream.send(OK)
        return True

    async with raw_server(answer, tls=server_context) as (url, carried):
        trusting = NativeTransport(TransportOptions(), ssl_context=client_context)
        for _ in range(3):
            assert (await trusting.send(post(url))).body == b"{}"
        await trusting.aclose()
        assert carried == [3]
        system = NativeTransport(TransportOptions())  # the system does not know this CA
        with pytest.raises(TransportFailure) as info:
            await system.send(post(url))
        await system.aclose()
    assert info.value.phase == "connect" and "CERTIFICATE_VERIFY_FAILED" in info.value.detail
