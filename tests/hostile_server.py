"""A hostile HTTP server for tests: it misbehaves in a way chosen by the request's model.

The mock server is an honest ASGI app behind uvicorn, so it cannot drip a header one byte
a second, send a body that never ends, lie in ``Content-Encoding`` or break HTTP framing.
This one writes raw bytes on a TCP socket: each request is read (headers, then a
``Content-Length`` body), its JSON body's ``model`` picks a *behaviour* by name, and the
behaviour writes whatever it likes on the connection. Tests name models like
``drip-headers`` or ``huge-body`` and see what the client does, on any transport.

The server runs on its own event loop in a thread (an anyio blocking portal), so a test on
asyncio or trio talks to it the same way, over 127.0.0.1, and a client that blocks cannot
block the server. Behaviours are registered with :func:`behaviour`; a test module may add
its own. Every connection is closed when the server stops, so nothing outlives the test.

A model that names no behaviour gets a plain OpenAI-shaped answer (``"ok"``), so one
server can also answer the honest requests of a test.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread


@dataclass(frozen=True, slots=True)
class RawRequest:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    model: str

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


Behaviour = Callable[[RawRequest, anyio.abc.ByteStream], Awaitable[None]]
"""Answers one request by writing on the connection; returning closes it."""

BEHAVIOURS: dict[str, Behaviour] = {}


def behaviour(name: str) -> Callable[[Behaviour], Behaviour]:
    """Register a behaviour under a model name (or a prefix ending in ``*``)."""

    def register(fn: Behaviour) -> Behaviour:
        BEHAVIOURS[name] = fn
        return fn

    return register


def find_behaviour(model: str) -> Behaviour:
    if model in BEHAVIOURS:
        return BEHAVIOURS[model]
    for name, fn in BEHAVIOURS.items():
        if name.endswith("*") and model.startswith(name[:-1]):
            return fn
    return honest_answer


def http_head(status: int, headers: dict[str, str] | None = None, reason: str = "X") -> bytes:
    """A status line and headers, ending with the blank line (``connection: close``: the
    server answers one request per connection)."""
    merged = {"connection": "close", **(headers or {})}
    lines = [f"HTTP/1.1 {status} {reason}"]
    lines += [f"{name}: {value}" for name, value in merged.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> bytes:
    """A whole HTTP response carrying ``body`` as JSON (bytes are sent as they are)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = {"content-type": "application/json", "content-length": str(len(data))}
    head.update(headers or {})
    return http_head(status, head) + data


def openai_answer(text: str = "ok", model: str = "m", usage: Any = None) -> dict[str, Any]:
    """An OpenAI chat completion body."""
    return {
        "id": "chatcmpl-hostile",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": usage
        if usage is not None
        else {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


async def honest_answer(request: RawRequest, stream: anyio.abc.ByteStream) -> None:
    await stream.send(json_response(200, openai_answer(model=request.model)))


_MAX_HEAD = 1 << 16
_MAX_BODY = 1 << 26


async def _read_request(stream: anyio.abc.ByteStream, buffer: bytearray) -> RawRequest | None:
    while b"\r\n\r\n" not in buffer:
        if len(buffer) > _MAX_HEAD:
            return None
        try:
            buffer += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return None
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = min(int(headers.get("content-length", "0") or 0), _MAX_BODY)
    body = bytearray(rest)
    while len(body) < length:
        try:
            body += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return None
    buffer[:] = body[length:]
    model = ""
    try:
        parsed = json.loads(bytes(body[:length]))
        if isinstance(parsed, dict) and isinstance(parsed.get("model"), str):
            model = parsed["model"]
    except ValueError:
        pass
    return RawRequest(method, path, headers, bytes(body[:length]), model)


@dataclass
class HostileServer:
    """The running server: ``base_url`` to point a client at, ``requests`` as read."""

    port: int = 0
    requests: list[RawRequest] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def count(self, model: str) -> int:
        return sum(1 for request in self.requests if request.model == model)

    async def _serve_one(self, stream: anyio.abc.ByteStream) -> None:
        buffer = bytearray()
        async with stream:
            request = await _read_request(stream, buffer)
            if request is None:
                return
            self.requests.append(request)
            # the client giving up mid-answer is what many behaviours are for
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
                await find_behaviour(request.model)(request, stream)


@contextmanager
def hostile_server() -> Iterator[HostileServer]:
    """Run a :class:`HostileServer` on 127.0.0.1 for the length of the ``with``."""
    server = HostileServer()

    async def start(task_status: anyio.abc.TaskStatus[int]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with listener:
            task_status.started(port)
            await listener.serve(server._serve_one)

    with anyio.from_thread.start_blocking_portal() as portal:
        future, port = portal.start_task(start)
        server.port = port
        try:
            yield server
        finally:
            future.cancel()
