"""TotalBound: a request's ``timeouts.total`` kept for a transport that has no total timer.

The loop-clock deadlines of the client reach a transport only as ``timeouts.total``; these
check the wrapper that keeps it for transports that cannot (a ScriptedTransport here, as
httpx2 and any plugin's transport in use), and that the transports with their own timer
are left unwrapped. Hangs are bounded by short totals with a guard of seconds around
them, as elsewhere in the suite's loop-clock tests.
"""

from __future__ import annotations

import anyio
import pytest

from sluicegate.testing import Answer, ScriptedTransport, openai_sse
from sluicegate.transports.aiohttp import AiohttpTransport
from sluicegate.transports.base import (
    HttpRequest,
    RequestTimeouts,
    TransportFailure,
)
from sluicegate.transports.memory import MemoryTransport
from sluicegate.transports.total import TotalBound, bounded, enforces_total

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/v1/chat/completions"


def request(total: float | None) -> HttpRequest:
    timeouts = RequestTimeouts(total=total) if total is not None else None
    return HttpRequest("POST", URL, {"content-type": "application/json"}, b"{}", timeouts)


async def test_a_send_that_hangs_ends_with_a_timeout_at_its_total() -> None:
    wrapped = TotalBound(ScriptedTransport(Answer(hang=True)))
    started = anyio.current_time()
    with anyio.fail_after(5), pytest.raises(TransportFailure) as caught:
        await wrapped.send(request(0.05))
    assert caught.value.phase == "timeout"
    assert anyio.current_time() - started >= 0.05 - 1e-3


async def test_without_a_total_the_request_reaches_the_transport_as_it_is() -> None:
    inner = ScriptedTransport(Answer.json(200, {"ok": True}))
    sent = request(None)
    response = await TotalBound(inner).send(sent)
    assert response.status == 200
    assert inner.requests == [sent]


async def test_an_answer_within_the_total_is_whole() -> None:
    inner = ScriptedTransport(Answer.json(200, {"ok": True}))
    response = await TotalBound(inner).send(request(30.0))
    assert response.body == b'{"ok": true}'


async def test_a_stream_that_stalls_delivers_its_chunks_then_times_out() -> None:
    chunks = openai_sse(["a", "b"], done=False)
    inner = ScriptedTransport(Answer(200, {}, chunks, hang=True))
    stream = await TotalBound(inner).open_stream(request(0.05))
    received: list[bytes] = []
    with anyio.fail_after(5), pytest.raises(TransportFailure) as caught:
        async for chunk in stream.iter_bytes():
            received.append(chunk)
    await stream.aclose()
    assert caught.value.phase == "timeout"
    assert received == list(chunks)
    assert inner.streams and all(s.closed for s in inner.streams)


async def test_a_stream_read_in_time_is_read_to_its_end() -> None:
    chunks = openai_sse(["a", "b", "c"])
    inner = ScriptedTransport(Answer(200, {}, chunks))
    stream = await TotalBound(inner).open_stream(request(30.0))
    received = [chunk async for chunk in stream.iter_bytes()]
    await stream.aclose()
    assert received == list(chunks)


async def test_a_stream_read_after_its_total_fails_at_once() -> None:
    """The total runs while the caller holds the stream between reads, too."""
    inner = ScriptedTransport(Answer(200, {}, openai_sse(["a"])))
    stream = await TotalBound(inner).open_stream(request(0.02))
    await anyio.sleep(0.05)
    with anyio.fail_after(5), pytest.raises(TransportFailure):
        async for _ in stream.iter_bytes():
            pass
    await stream.aclose()


def test_transports_with_their_own_total_timer_are_not_wrapped() -> None:
    memory = MemoryTransport(app_factory=lambda: None)  # type: ignore[arg-type,return-value]
    assert bounded(memory) is memory
    assert enforces_total(AiohttpTransport)  # (its timer is checked in test_hostile_bounds)
    scripted = ScriptedTransport(Answer())
    wrapped = bounded(scripted)
    assert isinstance(wrapped, TotalBound) and wrapped.inner is scripted
    assert wrapped.name == scripted.name
    assert bounded(wrapped) is wrapped
    assert not enforces_total(scripted)
