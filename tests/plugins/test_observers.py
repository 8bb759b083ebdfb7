"""Observers are told by the client and its Dispatcher, not by the logging stages: whatever
stages are disabled, an observer sees one ``sluicegate_request_finished`` per logical
request (a plain call, a stream that ends, fails or is closed early) and one
``sluicegate_attempt_failed`` per failed attempt, retried or not."""

from __future__ import annotations

import pytest

from plugin_helpers import Observer
from sluicegate import Client, ProviderError, ProviderSettings, RetryPolicy, StreamError
from sluicegate.testing import Answer, ScriptedTransport, openai_completion, openai_sse

pytestmark = pytest.mark.anyio

MODEL = "openai/m"
DISABLED = pytest.mark.parametrize(
    "disable",
    [(), ("logging",), ("logging", "attempt_logging")],
    ids=["all-stages", "no-logging", "no-logging-stages"],
)


def unavailable() -> Answer:
    return Answer.json(503, {"error": {"message": "later", "type": "server_error"}})


def sse(*texts: str, cut: bool = False) -> Answer:
    chunks = openai_sse(list(texts), done=not cut)
    if cut:  # the answer's first chunk only, then the connection drops
        chunks = chunks[:1]
    return Answer(200, {"content-type": "text/event-stream"}, chunks, cut=cut)


def broken_before_content() -> Answer:
    """A 200 stream that drops before any event: retried, like an error answer."""
    return Answer(200, {"content-type": "text/event-stream"}, [], cut=True)


def client(transport: ScriptedTransport, observer: Observer, disable: tuple[str, ...]) -> Client:
    return Client(
        providers={"openai": ProviderSettings(api_key="sk-test-abcdefghijklmnopqrstuv")},
        transport=transport,
        plugins=[observer],
        load_entry_points=False,
        disable=disable,
        stage_settings={"retry": RetryPolicy(attempts=3, instant=True)},
    )


@DISABLED
async def test_a_retried_plain_call_is_one_finished_request_and_one_failed_attempt(
    disable: tuple[str, ...],
) -> None:
    observer = Observer()
    transport = ScriptedTransport(unavailable(), Answer.json(200, openai_completion("ok", 5, 2)))
    async with client(transport, observer, disable) as sg:
        assert not set(disable) & set(sg.stages)
        response = await sg.chat(MODEL, "hi")
    assert response.attempts == 2
    [finished] = observer.finished
    assert finished.response is response and finished.error is None
    assert finished.latency == response.latency > 0
    assert [(e.attempt, getattr(e.error, "status", None)) for e in observer.failed] == [(1, 503)]


@DISABLED
async def test_a_failed_plain_call_is_one_finished_request_and_each_failed_attempt(
    disable: tuple[str, ...],
) -> None:
    observer = Observer()
    async with client(ScriptedTransport(unavailable()), observer, disable) as sg:
        with pytest.raises(ProviderError) as caught:
            await sg.chat(MODEL, "hi")
    [finished] = observer.finished
    assert finished.error is caught.value and finished.response is None
    assert [e.attempt for e in observer.failed] == [1, 2, 3]
    assert all(e.error.status == 503 for e in observer.failed)  # type: ignore[attr-defined]


@DISABLED
async def test_a_retried_stream_is_one_finished_request_and_each_failed_attempt(
    disable: tuple[str, ...],
) -> None:
    """The first attempt is refused, the second breaks before its first event (both
    retried), the third answers."""
    observer = Observer()
    transport = ScriptedTransport(unavailable(), broken_before_content(), sse("Hel", "lo"))
    async with client(transport, observer, disable) as sg:
        async with sg.stream(MODEL, "hi") as stream:
            response = await stream.final_response()
    assert response.text == "Hello"
    [finished] = observer.finished
    assert finished.response is response and finished.error is None
    assert finished.latency == response.latency > 0
    assert [(e.attempt, type(e.error)) for e in observer.failed] == [
        (1, ProviderError),
        (2, StreamError),
    ]


@DISABLED
async def test_a_stream_that_breaks_mid_answer_is_one_finished_request_with_its_error(
    disable: tuple[str, ...],
) -> None:
    observer = Observer()
    async with client(ScriptedTransport(sse("Hel", "lo", cut=True)), observer, disable) as sg:
        with pytest.raises(StreamError) as caught:
            async with sg.stream(MODEL, "hi") as stream:
                async for _ in stream:
                    pass
    [finished] = observer.finished
    assert finished.error is caught.value and finished.response is None
    assert not finished.closed_early
    [failed] = observer.failed
    assert failed.error is caught.value and failed.attempt == 1


@DISABLED
async def test_a_stream_closed_early_is_one_finished_request_closed_early(
    disable: tuple[str, ...],
) -> None:
    observer = Observer()
    async with client(ScriptedTransport(sse("a", "b", "c")), observer, disable) as sg:
        async with sg.stream(MODEL, "hi") as stream:
            async for _ in stream:
                break
        assert len(observer.finished) == 1  # told when the block exits, not later
    [finished] = observer.finished
    assert finished.closed_early and finished.response is None and finished.error is None
    assert finished.request.stream and finished.request.model == MODEL
    assert observer.failed == []


async def test_a_stream_whose_block_raises_is_finished_with_that_error() -> None:
    observer = Observer()
    async with client(ScriptedTransport(sse("a", "b")), observer, ()) as sg:
        with pytest.raises(KeyError):
            async with sg.stream(MODEL, "hi") as stream:
                async for _ in stream:
                    raise KeyError("the caller's own bug")
    [finished] = observer.finished
    assert isinstance(finished.error, KeyError) and not finished.closed_early


async def test_a_stream_refused_before_opening_is_finished_with_the_error() -> None:
    observer = Observer()
    async with client(ScriptedTransport(unavailable()), observer, ("logging",)) as sg:
        with pytest.raises(ProviderError) as caught:
            async with sg.stream(MODEL, "hi"):
                pass  # pragma: no cover - the stream never opens
    [finished] = observer.finished
    assert finished.error is caught.value
    assert [e.attempt for e in observer.failed] == [1, 2, 3]


async def test_fan_out_is_one_finished_request_per_model() -> None:
    observer = Observer()
    transport = ScriptedTransport(Answer.json(200, openai_completion("ok")))
    async with client(transport, observer, ("logging", "attempt_logging")) as sg:
        results = await sg.fan_out("hi", ["openai/a", "openai/b"])
    assert all(r.ok for r in results)
    assert sorted(e.request.model for e in observer.finished) == ["openai/a", "openai/b"]


async def test_an_observer_registered_on_an_open_client_is_told() -> None:
    observer = Observer()
    transport = ScriptedTransport(Answer.json(200, openai_completion("ok")))
    async with Client(
        providers={"openai": ProviderSettings(api_key="sk-test-abcdefghijklmnopqrstuv")},
        transport=transport,
        load_entry_points=False,
        disable=["logging"],
    ) as sg:
        await sg.chat(MODEL, "before")
        sg.register_plugin(observer)
        response = await sg.chat(MODEL, "after")
    assert [e.response for e in observer.finished] == [response]
