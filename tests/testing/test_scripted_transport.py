"""``sluicegate.testing.ScriptedTransport``: steps are used in turn and the last repeats,
an exception step is raised, a handler (sync or async) answers from the request; a body
ends as scripted (normally, cut, or never); ``turns`` interleaves concurrent answers;
``latency`` and ``times`` run on the injected clock; and through a real client the OpenAI
body helpers decode to the answer they describe."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fresh_import import loaded_before_and_after
from sluicegate import Client, ProviderSettings, StreamError, TransportError, Usage
from sluicegate.clock import FakeClock
from sluicegate.testing import (
    Answer,
    ScriptedStream,
    ScriptedTransport,
    openai_completion,
    openai_sse,
)
from sluicegate.transports.base import HttpRequest, Transport, TransportFailure

pytestmark = pytest.mark.anyio

SSE = {"content-type": "text/event-stream"}
KEY = "sk-scripted-0123456789abcdefghij"


def request(body: bytes = b"{}") -> HttpRequest:
    return HttpRequest("POST", "http://scripted.test/v1/chat/completions", {}, body)


def client(transport: ScriptedTransport) -> Client:
    return Client(
        providers={"openai": ProviderSettings(api_key=KEY, base_url="http://scripted.test/v1")},
        transport=transport,
        load_entry_points=False,
        stage_settings={"retry": False},
    )


@given(st.lists(st.integers(200, 599), min_size=1, max_size=5), st.integers(0, 8))
@settings(max_examples=25, deadline=None)
async def test_steps_are_used_in_turn_and_the_last_repeats(statuses: list[int], sent: int) -> None:
    transport = ScriptedTransport(*(Answer(status) for status in statuses))
    answered = [(await transport.send(request())).status for _ in range(sent)]
    expected = statuses[:sent] + [statuses[-1]] * max(0, sent - len(statuses))
    assert answered == expected
    assert len(transport.requests) == sent


async def test_an_exception_step_is_raised_and_the_request_still_recorded() -> None:
    transport = ScriptedTransport(TransportFailure("connect", "refused"), Answer(204))
    with pytest.raises(TransportFailure, match="refused"):
        await transport.send(request())
    assert (await transport.send(request())).status == 204
    assert len(transport.requests) == 2


async def test_a_handler_answers_from_the_request_sync_or_async() -> None:
    gate = anyio.Event()

    def echo(req: HttpRequest) -> Answer:
        return Answer(200, {}, [req.body])

    async def gated(req: HttpRequest) -> Answer:
        await gate.wait()
        return Answer(201, {}, [b"after the gate"])

    transport = ScriptedTransport(echo, gated)
    assert (await transport.send(request(b"one"))).body == b"one"
    answers: list[bytes] = []

    async def second() -> None:
        answers.append((await transport.send(request())).body)

    async with anyio.create_task_group() as group:
        group.start_soon(second)
        await anyio.wait_all_tasks_blocked()
        assert answers == []  # held by the handler
        gate.set()
    assert answers == [b"after the gate"]


async def test_a_stream_yields_its_chunks_and_records_being_closed() -> None:
    transport = ScriptedTransport(Answer(200, SSE, [b"a", b"b"]))
    stream = await transport.open_stream(request())
    assert isinstance(stream, ScriptedStream) and transport.streams == [stream]
    assert (stream.status, dict(stream.headers)) == (200, SSE)
    assert [chunk async for chunk in stream.iter_bytes()] == [b"a", b"b"]
    assert not stream.closed
    await stream.aclose()
    assert stream.closed


async def test_a_cut_answer_fails_as_a_read_after_its_chunks() -> None:
    transport = ScriptedTransport(Answer(200, SSE, [b"a"], cut=True))
    with pytest.raises(TransportFailure) as info:
        await transport.send(request())
    assert info.value.phase == "read"
    stream = await transport.open_stream(request())
    received: list[bytes] = []
    with pytest.raises(TransportFailure):
        async for chunk in stream.iter_bytes():
            received.append(chunk)
    assert received == [b"a"]
    with pytest.raises(TransportFailure):
        await stream.read()


async def test_a_hanging_answer_never_ends() -> None:
    transport = ScriptedTransport(Answer(200, SSE, [b"a"], hang=True))
    seen: list[str] = []

    async def plain() -> None:
        await transport.send(request())
        seen.append("plain ended")

    async def streamed() -> None:
        stream = await transport.open_stream(request())
        async for chunk in stream.iter_bytes():
            seen.append(chunk.decode())
        seen.append("stream ended")

    async with anyio.create_task_group() as group:
        group.start_soon(plain)
        group.start_soon(streamed)
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert seen == ["a"]


async def test_turns_let_a_later_request_finish_first() -> None:
    transport = ScriptedTransport(Answer(200, {}, [b"slow"], turns=20), Answer(200, {}, [b"quick"]))
    finished: list[bytes] = []

    async def send() -> None:
        finished.append((await transport.send(request())).body)

    async with anyio.create_task_group() as group:
        group.start_soon(send)
        await anyio.lowlevel.checkpoint()  # the slow one takes its step first
        group.start_soon(send)
    assert finished == [b"quick", b"slow"]


async def test_latency_and_arrival_times_are_on_the_clock() -> None:
    clock = FakeClock()
    transport = ScriptedTransport(Answer(200), clock=clock, latency=2.5)
    async with anyio.create_task_group() as group:
        group.start_soon(clock.autojump)
        await transport.send(request())
        await transport.send(request())
        group.cancel_scope.cancel()
    assert transport.times == [1_000.0, 1_002.5]
    assert clock.now() == 1_005.0


async def test_aclose_is_recorded() -> None:
    transport = ScriptedTransport(Answer())
    await transport.aclose()
    assert transport.closed


def test_latency_without_a_clock_is_refused() -> None:
    with pytest.raises(ValueError, match="needs the clock"):
        ScriptedTransport(Answer(), latency=1.0)


async def test_an_empty_script_says_so_when_asked() -> None:
    transport = ScriptedTransport()
    with pytest.raises(LookupError, match="empty script"):
        await transport.send(request())


async def test_a_client_decodes_what_the_openai_helpers_describe() -> None:
    transport = ScriptedTransport(
        Answer.json(200, openai_completion("hello", prompt_tokens=7, completion_tokens=2)),
        Answer(200, SSE, openai_sse(["str", "eam"], usage=(5, 2))),
        Answer(200, SSE, openai_sse(["par", "tial"], done=False)[:1], cut=True),
        TransportFailure("connect", "refused"),
    )
    assert isinstance(transport, Transport)
    async with client(transport) as c:
        answer = await c.chat("openai/gpt-4o-mini", "hi")
        assert (answer.text, answer.usage) == ("hello", Usage(7, 2))
        async with c.stream("openai/gpt-4o-mini", "hi") as stream:
            streamed = await stream.final_response()
        assert (streamed.text, streamed.usage) == ("stream", Usage(5, 2))
        with pytest.raises(StreamError) as cut:
            async with c.stream("openai/gpt-4o-mini", "hi") as stream:
                await stream.final_response()
        assert cut.value.partial_text == "par"
        with pytest.raises(TransportError):
            await c.chat("openai/gpt-4o-mini", "hi")
    assert all(s.closed for s in transport.streams) and len(transport.streams) == 2
    assert [r.url for r in transport.requests] == ["http://scripted.test/v1/chat/completions"] * 4


def test_importing_sluicegate_testing_does_not_import_the_transport() -> None:
    loaded = loaded_before_and_after(
        "import sluicegate.testing",
        "sluicegate.testing.ScriptedTransport",
        "sluicegate.testing.scripted",
    )
    assert loaded == (False, True)
