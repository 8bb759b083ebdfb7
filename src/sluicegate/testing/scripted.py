"""A transport that answers from a script, for tests that need exact HTTP answers.

It plays the part httpx's ``MockTransport`` plays for httpx: pass it as
``Client(transport=ScriptedTransport(...))`` and every request the chain sends gets the
next step of the script, so a test can say byte for byte what the server answers (a 429
with a ``Retry-After``, a stream cut after two deltas, a body that never ends) and then
check what was sent (:attr:`ScriptedTransport.requests`) and that every stream was closed
(:attr:`ScriptedTransport.streams`). The mock server (:func:`sluicegate.testing.create_app`)
is the peer for realistic traffic; this is the peer for one exact exchange.

A step is an :class:`Answer`, an exception to raise from the transport (a
:class:`~sluicegate.transports.base.TransportFailure` is what a real one raises), or a
callable of the request returning an Answer (or awaiting one: it may wait on a gate or a
clock first). Steps are used in turn and the last one repeats, so a one-step script
answers every request alike.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import anyio
import anyio.lowlevel

from sluicegate.clock import Clock
from sluicegate.transports.base import HttpRequest, HttpResponse, TransportFailure

__all__ = ["Answer", "Handler", "ScriptedStream", "ScriptedTransport", "Step"]

_CUT = "cut by script"


@dataclass(frozen=True)
class Answer:
    """One scripted HTTP answer: a status, headers and the body in chunks.

    How the body ends is scripted too: normally after the last chunk; with ``cut`` the
    connection drops there (``TransportFailure("read")``, as a server that dies mid-answer);
    with ``hang`` it never ends (a stalled server: a plain call never returns, a stream
    stops after its chunks), for deadline and timeout tests. ``turns`` is how many times
    the transport yields to other tasks before each chunk, so concurrent requests
    interleave and finish in a shuffled order instead of the order they were sent.
    """

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    chunks: Sequence[bytes] = ()
    cut: bool = False
    hang: bool = False
    turns: int = 0

    @classmethod
    def json(cls, status: int, body: Any, headers: Mapping[str, str] | None = None) -> Answer:
        """An answer whose body is ``body`` as JSON, with ``content-type`` set."""
        return cls(
            status,
            {"content-type": "application/json", **(headers or {})},
            [json.dumps(body).encode()],
        )


Handler: TypeAlias = Callable[[HttpRequest], Answer | Awaitable[Answer]]
"""A step that chooses its answer from the request (its model, its body), sync or async."""

Step: TypeAlias = Answer | BaseException | Handler
"""One entry of a script: an answer, an exception to raise, or a handler."""


class ScriptedStream:
    """A streamed :class:`Answer`: its chunks, then the end it scripts.

    ``closed`` records whether the client closed it, which tests assert: a stream the
    client abandons without closing would hold a real connection.
    """

    def __init__(self, answer: Answer) -> None:
        self.status = answer.status
        self.headers = answer.headers
        self.answer = answer
        self.closed = False

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        answer = self.answer
        for chunk in answer.chunks:
            for _ in range(answer.turns):
                await anyio.lowlevel.checkpoint()
            yield chunk
        if answer.hang:
            await anyio.sleep_forever()
        if answer.cut:
            raise TransportFailure("read", _CUT)

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_bytes()])

    async def aclose(self) -> None:
        self.closed = True


class ScriptedTransport:
    """A :class:`~sluicegate.transports.base.Transport` that answers each request with the
    next step of its script (the last step repeats), and records what it was sent.

    With a ``clock`` (the client's, usually a :class:`~sluicegate.clock.FakeClock`) it
    notes when each request arrived (:attr:`times`) and can take ``latency`` seconds on
    that clock before each answer, so retry waits and deadlines can be checked to the
    millisecond in virtual time.
    """

    name = "scripted"

    def __init__(self, *script: Step, clock: Clock | None = None, latency: float = 0.0) -> None:
        if latency and clock is None:
            raise ValueError("ScriptedTransport(latency=...) needs the clock to wait on")
        self.script: list[Step] = list(script)
        self.clock = clock
        self.latency = latency
        self.requests: list[HttpRequest] = []
        """Every request sent, plain and streamed, in order."""
        self.streams: list[ScriptedStream] = []
        """Every stream opened, in order."""
        self.times: list[float] = []
        """When each request arrived on ``clock`` (empty without a clock)."""
        self.closed = False

    async def answer(self, request: HttpRequest) -> Answer:
        """Record ``request`` and take the next step for it (raising an exception step)."""
        self.requests.append(request)
        if self.clock is not None:
            self.times.append(self.clock.now())
        if not self.script:
            raise LookupError(f"ScriptedTransport has an empty script: no answer to {request.url}")
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, Answer):
            answer = step
        else:
            chosen = step(request)
            answer = chosen if isinstance(chosen, Answer) else await chosen
        if self.latency and self.clock is not None:
            await self.clock.sleep(self.latency)
        return answer

    async def send(self, request: HttpRequest) -> HttpResponse:
        answer = await self.answer(request)
        body = await ScriptedStream(answer).read()
        return HttpResponse(answer.status, answer.headers, body)

    async def open_stream(self, request: HttpRequest) -> ScriptedStream:
        stream = ScriptedStream(await self.answer(request))
        self.streams.append(stream)
        return stream

    async def aclose(self) -> None:
        self.closed = True
