"""A minimal OpenAI-compatible HTTP/1.1 server for benchmarking clients.

The benchmark measures clients, so the server must never be the limit: raw asyncio
protocol callbacks on uvloop, httptools for parsing, one pre-rendered response, no task
per request. Latency is added with ``loop.call_later`` (one timer per request, no sleeping
task). It speaks keep-alive HTTP/1.1 with Content-Length framing and answers requests in
the order they arrive; it does not expect pipelining, but stays correct under it because
equal latencies fire in arrival order.

Run: ``python bench/fast_server.py --port 0 --latency-ms 50 --cpu 1``; it prints
``READY <port>`` on stdout once it listens, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import sys
from typing import cast

import httptools
import uvloop

CHAT_PATH = b"/v1/chat/completions"

COMPLETION: dict[str, object] = {
    "id": "chatcmpl-bench0000000000000000000000",
    "object": "chat.completion",
    "created": 1_764_000_000,
    "model": "gpt-bench",
    "system_fingerprint": "fp_bench",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Hello! This is a fixed benchmark answer.",
                "refusal": None,
            },
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 9,
        "completion_tokens": 10,
        "total_tokens": 19,
        "prompt_tokens_details": {"cached_tokens": 0},
    },
}


def _render(status: str, body: bytes, *, keep_alive: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"connection: {'keep-alive' if keep_alive else 'close'}\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body


_OK_BODY = json.dumps(COMPLETION, separators=(",", ":")).encode()
_NOT_FOUND_BODY = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
_BAD_BODY = b'{"error":{"message":"bad request","type":"invalid_request_error"}}'
# Pre-rendered per (keep-alive?) so a request costs one dict lookup, not string formatting.
_OK = {k: _render("200 OK", _OK_BODY, keep_alive=k) for k in (True, False)}
_NOT_FOUND = {k: _render("404 Not Found", _NOT_FOUND_BODY, keep_alive=k) for k in (True, False)}
_BAD_REQUEST = _render("400 Bad Request", _BAD_BODY, keep_alive=False)


class HttpProtocol(asyncio.Protocol):
    """One connection: parse with httptools, answer each complete request once."""

    __slots__ = ("_latency", "_loop", "_parser", "_transport", "_url")

    def __init__(self, loop: asyncio.AbstractEventLoop, latency: float) -> None:
        self._loop = loop
        self._latency = latency
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(_BAD_REQUEST, keep_alive=False)

    # httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""

    def on_url(self, url: bytes) -> None:
        self._url += url  # may arrive in pieces

    def on_message_complete(self) -> None:
        keep_alive = self._parser.should_keep_alive()
        path = self._url.partition(b"?")[0]
        if path == CHAT_PATH and self._parser.get_method() == b"POST":
            reply = _OK[keep_alive]
        else:
            reply = _NOT_FOUND[keep_alive]
        if self._latency > 0:
            self._loop.call_later(self._latency, self._write, reply, keep_alive)
        else:
            self._write(reply, keep_alive)

    def _write(self, reply: bytes, keep_alive: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return  # the client went away while we waited
        transport.write(reply)
        if not keep_alive:
            transport.close()


async def serve(host: str, port: int, latency: float) -> None:
    """Listen until SIGTERM/SIGINT; announce the bound port on stdout."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HttpProtocol(loop, latency), host, port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"READY {bound}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--cpu", type=int, default=None, help="pin to this core")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    try:
        uvloop.run(serve(args.host, args.port, args.latency_ms / 1000))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
