"""The idempotency stage over a scripted transport: keys, single flight, replay, streams."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from sluicegate import (
    BadInputError,
    Client,
    ConfigError,
    Done,
    FinishEvent,
    MiddlewareSpec,
    Phase,
    ProviderError,
    ProviderSettings,
    Request,
    Response,
    SluicegateError,
    StreamError,
    TextDelta,
    ToolCall,
    Usage,
    UsageEvent,
)
from sluicegate.chain import CallNext, Reply
from sluicegate.clock import FakeClock
from sluicegate.middleware import idempotency
from sluicegate.middleware.idempotency import (
    IdempotencyPolicy,
    IdempotencyRecord,
    new_idempotency_key,
)
from sluicegate.stores import MemoryStore
from sluicegate.streaming import EventStream, ResponseBuilder
from sluicegate.testing import Answer, ScriptedTransport, openai_completion, openai_sse
from sluicegate.transports.base import HttpRequest, HttpResponse

pytestmark = pytest.mark.anyio

KEY = "sk-test-0123456789abcdefghijklmnop"
MODEL = "openai/gpt-4o-mini"
STAGE = MiddlewareSpec("idempotency", Phase.IDEMPOTENCY, idempotency.build)


class GatedTransport(ScriptedTransport):
    """Holds every request at a gate until the test opens it, so that twins meet."""

    def __init__(self, *answers: Any) -> None:
        super().__init__(*answers)
        self.gate = anyio.Event()
        self.arrived: list[HttpRequest] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        self.arrived.append(request)
        await self.gate.wait()
        return await super().send(request)


def retry_twice_on(errors: type[BaseException] = ProviderError) -> MiddlewareSpec:
    """A stand-in retry stage (inside idempotency, where the real one sits): one more
    attempt after a failure, so a test can see what each attempt carried."""

    async def retry(request: Request, call_next: CallNext) -> Reply:
        try:
            return await call_next(request)
        except errors:
            return await call_next(request.replace(metadata=request.metadata.replace(attempt=2)))

    return MiddlewareSpec("retry", Phase.RETRY, lambda _context: retry)


def make_client(
    transport: ScriptedTransport,
    settings: Any = None,
    *,
    clock: FakeClock | None = None,
    extra: tuple[MiddlewareSpec, ...] = (),
) -> Client:
    return Client(
        providers={"openai": ProviderSettings(api_key=KEY, base_url="http://127.0.0.1:9/v1")},
        transport=transport,
        load_entry_points=False,
        middleware=[STAGE, *extra],
        # the stage alone: the rate limiter's slow start would pace the twins' calls
        stage_settings={"idempotency": settings, "rate_limit": False},
        clock=clock,
    )


@asynccontextmanager
async def virtual_time() -> AsyncIterator[FakeClock]:
    clock = FakeClock()
    async with anyio.create_task_group() as group:
        group.start_soon(clock.autojump)
        yield clock
        group.cancel_scope.cancel()


def sent_keys(transport: ScriptedTransport) -> list[str | None]:
    return [r.headers.get("idempotency-key") for r in transport.requests]


def ok(text: str = "hi") -> Answer:
    return Answer.json(200, openai_completion(text))


def sse(texts: list[str], cut: bool = False) -> Answer:
    chunks = openai_sse(texts)
    if cut:  # the connection drops after the first delta
        chunks = chunks[:1]
    return Answer(200, {"content-type": "text/event-stream"}, chunks, cut=cut)


def same_answer(a: Response, b: Response) -> bool:
    # a shared or replayed answer has attempts=0 and, from the cost stage, cost 0.0
    return a.replace(latency=0.0, attempts=1, cost=None) == b.replace(
        latency=0.0, attempts=1, cost=None
    )


async def gather(n: int, call: Callable[[int], Any]) -> list[Any]:
    """Run ``call(i)`` for i < n at once; each result is the value or the exception."""
    results: list[Any] = [None] * n

    async def one(i: int) -> None:
        try:
            results[i] = await call(i)
        except Exception as exc:
            results[i] = exc

    async with anyio.create_task_group() as group:
        for i in range(n):
            group.start_soon(one, i)
    return results


# -- keys -----------------------------------------------------------------------------------


async def test_every_request_gets_its_own_generated_key() -> None:
    transport = ScriptedTransport(ok(), ok(), ok(), sse(["streamed"]))
    async with make_client(transport) as client:
        assert "idempotency" in client.stages
        for _ in range(3):
            await client.chat(MODEL, "hi")
        async with client.stream(MODEL, "hi") as stream:
            await stream.final_response()
    keys = sent_keys(transport)
    assert len(keys) == 4 and len(set(keys)) == 4
    assert all(k is not None and k.startswith("sg-") and len(k) <= 255 for k in keys)


async def test_a_generated_key_is_the_same_on_every_retry() -> None:
    transport = ScriptedTransport(Answer.json(500, {"error": {"message": "boom"}}), ok("second"))
    async with make_client(transport, extra=(retry_twice_on(),)) as client:
        response = await client.chat(MODEL, "hi")
        assert response.text == "second"
    first, second = sent_keys(transport)
    assert first is not None and first == second


async def test_a_caller_key_is_sent_as_given_on_every_retry() -> None:
    transport = ScriptedTransport(Answer.json(503, {"error": {"message": "busy"}}), ok())
    async with make_client(transport, extra=(retry_twice_on(),)) as client:
        await client.chat(MODEL, "hi", idempotency_key="order-42")
    assert sent_keys(transport) == ["order-42", "order-42"]


async def test_generated_keys_are_cheap_to_make_and_not_stored() -> None:
    store: MemoryStore[IdempotencyRecord] = MemoryStore()
    transport = ScriptedTransport(ok())
    async with make_client(transport, IdempotencyPolicy(store=store)) as client:
        for _ in range(5):
            await client.chat(MODEL, "hi")
        assert len(store) == 0
        await client.chat(MODEL, "hi", idempotency_key="mine")
    assert len(store) == 1
    a, b = new_idempotency_key(), new_idempotency_key()
    assert a != b and a.rsplit("-", 1)[0] == b.rsplit("-", 1)[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_repeat_its_parents_keys() -> None:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.write(write_end, new_idempotency_key().encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    child_key = os.read(read_end, 1000).decode()
    os.close(read_end)
    parent_key = new_idempotency_key()
    assert child_key.startswith("sg-")
    assert child_key.rsplit("-", 1)[0] != parent_key.rsplit("-", 1)[0]


async def test_without_key_generation_keyless_requests_carry_no_key() -> None:
    transport = ScriptedTransport(ok())
    async with make_client(transport, IdempotencyPolicy(generate_keys=False)) as client:
        await client.chat(MODEL, "hi")
        await client.chat(MODEL, "hi", idempotency_key="given")
    assert sent_keys(transport) == [None, "given"]


async def test_the_stage_can_be_turned_off() -> None:
    transport = ScriptedTransport(ok())
    async with make_client(transport, False) as client:
        assert "idempotency" not in client.stages
        await client.chat(MODEL, "hi")
    assert sent_keys(transport) == [None]


@pytest.mark.parametrize("key", ["", "has space", "line\nbreak", "é", "x" * 256])
async def test_a_key_that_cannot_be_a_header_value_is_refused_before_sending(key: str) -> None:
    transport = ScriptedTransport(ok())
    async with make_client(transport) as client:
        with pytest.raises(BadInputError) as info:
            await client.chat(MODEL, "hi", idempotency_key=key)
    assert info.value.field == "idempotency_key"
    assert transport.requests == []


# -- single flight --------------------------------------------------------------------------


async def test_concurrent_twins_are_sent_once_and_share_the_response() -> None:
    transport = GatedTransport(ok("shared"))
    async with make_client(transport) as client:

        async def twins() -> list[Any]:
            return await gather(10, lambda i: client.chat(MODEL, "hi", idempotency_key="k-1"))

        async with anyio.create_task_group() as group:
            results: list[Any] = []

            async def run() -> None:
                results.extend(await twins())

            group.start_soon(run)
            await anyio.wait_all_tasks_blocked()
            assert len(transport.arrived) == 1
            transport.gate.set()
    assert len(transport.requests) == 1
    assert all(isinstance(r, Response) and r.text == "shared" for r in results)
    assert all(same_answer(results[0], r) for r in results)
    # one call went to the wire; the nine others made none, and say so
    assert sorted(r.attempts for r in results) == [0] * 9 + [1]


async def test_different_keys_are_not_merged() -> None:
    transport = ScriptedTransport(ok())
    async with make_client(transport) as client:
        await gather(4, lambda i: client.chat(MODEL, "hi", idempotency_key=f"k-{i}"))
    assert sorted(sent_keys(transport)) == ["k-0", "k-1", "k-2", "k-3"]  # type: ignore[type-var]


async def test_a_leaders_failure_is_shared_and_not_remembered() -> None:
    bad = Answer.json(400, {"error": {"message": "bad thing", "type": "invalid_request_error"}})
    transport = GatedTransport(bad, ok("later"))
    async with make_client(transport) as client:
        results: list[Any] = []

        async def run() -> None:
            results.extend(
                await gather(5, lambda i: client.chat(MODEL, "hi", idempotency_key="k-f"))
            )

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await anyio.wait_all_tasks_blocked()
            transport.gate.set()
        assert len(transport.requests) == 1
        assert all(isinstance(r, ProviderError) for r in results)
        assert len({(type(r), r.status, r.message) for r in results}) == 1
        assert results[0].status == 400 and "bad thing" in results[0].message
        assert len({id(r) for r in results}) == 5  # copies: no shared traceback
        again = await client.chat(MODEL, "hi", idempotency_key="k-f")
    assert again.text == "later" and again.attempts == 1
    assert len(transport.requests) == 2


async def test_a_cancelled_leader_hands_over_to_one_twin() -> None:
    transport = GatedTransport(ok("from the twin"))
    async with make_client(transport) as client:
        results: list[Any] = []
        leader_scope = anyio.CancelScope()

        async def leader() -> None:
            with leader_scope:
                await client.chat(MODEL, "hi", idempotency_key="k-c")

        async def twins() -> None:
            results.extend(
                await gather(4, lambda i: client.chat(MODEL, "hi", idempotency_key="k-c"))
            )

        async with anyio.create_task_group() as group:
            group.start_soon(leader)
            await anyio.wait_all_tasks_blocked()
            group.start_soon(twins)
            await anyio.wait_all_tasks_blocked()
            assert len(transport.arrived) == 1
            leader_scope.cancel()
            await anyio.wait_all_tasks_blocked()
            assert len(transport.arrived) == 2  # exactly one twin took over
            transport.gate.set()
    assert leader_scope.cancelled_caught
    assert [r.text for r in results] == ["from the twin"] * 4
    assert sorted(r.attempts for r in results) == [0, 0, 0, 1]


async def test_a_cancelled_twin_leaves_the_leader_alone() -> None:
    transport = GatedTransport(ok("kept"))
    async with make_client(transport) as client:
        results: list[Response] = []

        async def leader() -> None:
            results.append(await client.chat(MODEL, "hi", idempotency_key="k-t"))

        async with anyio.create_task_group() as group:
            group.start_soon(leader)
            await anyio.wait_all_tasks_blocked()
            with anyio.move_on_after(0.01) as scope:
                await client.chat(MODEL, "hi", idempotency_key="k-t")
            assert scope.cancelled_caught
            transport.gate.set()
    assert [r.text for r in results] == ["kept"]
    assert len(transport.requests) == 1


async def test_reusing_a_key_for_a_different_request_is_refused() -> None:
    transport = GatedTransport(ok())
    async with make_client(transport) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: client.chat(MODEL, "first", idempotency_key="k-r"))
            await anyio.wait_all_tasks_blocked()
            with anyio.fail_after(5), pytest.raises(BadInputError, match="different request"):
                await client.chat(MODEL, "second", idempotency_key="k-r")  # while in flight
            transport.gate.set()
        for change in (
            {"messages": "second"},
            {"model": "openai/gpt-4o"},
            {"temperature": 0.5},
        ):
            args: dict[str, Any] = {
                "model": MODEL,
                "messages": "first",
                "idempotency_key": "k-r",
                **change,
            }
            with pytest.raises(BadInputError, match="different request") as info:  # stored
                await client.chat(args.pop("model"), args.pop("messages"), **args)
            assert info.value.field == "idempotency_key"
        # the same request under the same key is fine, with other metadata too
        await client.chat(MODEL, "first", idempotency_key="k-r", tags=["x"])
    assert len(transport.requests) == 1


# -- replay ---------------------------------------------------------------------------------


async def test_a_rerun_within_the_ttl_is_answered_from_the_store_and_after_it_is_sent() -> None:
    transport = ScriptedTransport(ok("first"), ok("second"))
    async with virtual_time() as clock:
        async with make_client(transport, IdempotencyPolicy(ttl_s=600), clock=clock) as client:
            first = await client.chat(MODEL, "hi", idempotency_key="k-ttl")
            clock.advance(599)
            replay = await client.chat(MODEL, "hi", idempotency_key="k-ttl")
            assert len(transport.requests) == 1
            assert replay.text == "first" and replay.attempts == 0
            assert same_answer(first, replay)
            clock.advance(1)
            fresh = await client.chat(MODEL, "hi", idempotency_key="k-ttl")
    assert fresh.text == "second" and fresh.attempts == 1
    assert len(transport.requests) == 2


async def test_ttl_zero_keeps_nothing_but_still_merges_twins() -> None:
    transport = GatedTransport(ok())
    async with make_client(transport, {"ttl_s": 0}) as client:
        results: list[Any] = []

        async def run() -> None:
            results.extend(await gather(3, lambda i: client.chat(MODEL, "hi", idempotency_key="z")))

        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await anyio.wait_all_tasks_blocked()
            transport.gate.set()
        assert len(transport.requests) == 1
        await client.chat(MODEL, "hi", idempotency_key="z")
    assert len(transport.requests) == 2


async def test_the_store_is_bounded() -> None:
    transport = ScriptedTransport(ok())
    async with make_client(transport, IdempotencyPolicy(max_entries=2)) as client:
        for key in ("a", "b", "c"):
            await client.chat(MODEL, "hi", idempotency_key=key)
        await client.chat(MODEL, "hi", idempotency_key="c")  # kept
        await client.chat(MODEL, "hi", idempotency_key="a")  # evicted: sent again
    assert sent_keys(transport) == ["a", "b", "c", "a"]


# -- streams --------------------------------------------------------------------------------


async def test_a_keyed_stream_is_recorded_and_replayed_to_plain_and_streamed_reruns() -> None:
    transport = ScriptedTransport(sse(["Hel", "lo"]))
    async with make_client(transport) as client:
        async with client.stream(MODEL, "hi", idempotency_key="s-1") as stream:
            original = await stream.final_response()
        plain = await client.chat(MODEL, "hi", idempotency_key="s-1")
        async with client.stream(MODEL, "hi", idempotency_key="s-1") as stream:
            events = [event async for event in stream]
    assert sent_keys(transport) == ["s-1"]
    assert plain.text == original.text == "Hello" and plain.attempts == 0
    assert [type(e) for e in events] == [TextDelta, UsageEvent, FinishEvent, Done]
    done = events[-1]
    assert isinstance(done, Done) and done.response.attempts == 0
    assert same_answer(done.response, original)
    assert events[1] == UsageEvent(original.usage) and events[2] == FinishEvent("stop")


async def test_a_plain_answer_is_replayed_to_a_streamed_rerun() -> None:
    transport = ScriptedTransport(ok("plain text"))
    async with make_client(transport) as client:
        await client.chat(MODEL, "hi", idempotency_key="p-1")
        async with client.stream(MODEL, "hi", idempotency_key="p-1") as stream:
            chunks = [chunk async for chunk in stream.text_chunks()]
    assert chunks == ["plain text"]
    assert len(transport.requests) == 1


async def test_a_stream_waits_for_a_plain_twin_in_flight() -> None:
    transport = GatedTransport(ok("from the plain call"))
    async with make_client(transport) as client:
        texts: list[str] = []

        async def streamed() -> None:
            async with client.stream(MODEL, "hi", idempotency_key="w-1") as stream:
                texts.append((await stream.final_response()).text)

        async with anyio.create_task_group() as group:
            group.start_soon(lambda: client.chat(MODEL, "hi", idempotency_key="w-1"))
            await anyio.wait_all_tasks_blocked()
            group.start_soon(streamed)
            await anyio.wait_all_tasks_blocked()
            transport.gate.set()
    assert texts == ["from the plain call"]
    assert len(transport.requests) == 1


async def test_a_cut_stream_is_not_recorded() -> None:
    transport = ScriptedTransport(sse(["par"], cut=True), ok("whole"))
    async with make_client(transport) as client:
        with pytest.raises(StreamError):
            async with client.stream(MODEL, "hi", idempotency_key="c-1") as stream:
                await stream.final_response()
        again = await client.chat(MODEL, "hi", idempotency_key="c-1")
    assert again.text == "whole"
    assert sent_keys(transport) == ["c-1", "c-1"]


async def test_concurrent_keyed_streams_are_each_sent_with_the_key() -> None:
    """Streams are not single-flighted (see the module's docstring): both go out."""
    transport = ScriptedTransport(sse(["a"]))
    async with make_client(transport) as client:
        async with client.stream(MODEL, "hi", idempotency_key="t-1") as one:
            async with client.stream(MODEL, "hi", idempotency_key="t-1") as two:
                assert (await one.final_response()).text == (await two.final_response()).text
    assert sent_keys(transport) == ["t-1", "t-1"]


async def test_a_replayed_stream_rebuilds_tool_calls() -> None:
    response = Response(
        text="",
        model=MODEL,
        provider="openai",
        tool_calls=(ToolCall("c1", "weather", '{"city": "Oslo"}'), ToolCall("c2", "time", "{}")),
        finish_reason="tool_calls",
        usage=Usage(10, 4, 2),
    )
    events = EventStream(idempotency._ReplaySource(response))
    builder = ResponseBuilder()
    seen = [event async for event in events]
    for event in seen:
        builder.add(event)
    rebuilt = builder.build(model=MODEL, provider="openai", request_id="")
    assert rebuilt == response
    assert events.response is response
    await events.aclose()


# -- configuration --------------------------------------------------------------------------


def test_policy_from_settings() -> None:
    assert IdempotencyPolicy.from_setting(None) == IdempotencyPolicy()
    assert IdempotencyPolicy.from_setting(True) == IdempotencyPolicy()
    assert IdempotencyPolicy.from_setting(False) is None
    custom = IdempotencyPolicy(ttl_s=5, max_entries=3, generate_keys=False)
    assert IdempotencyPolicy.from_setting(custom) is custom
    assert IdempotencyPolicy.from_setting({"ttl_s": 5, "max_entries": 3}) == IdempotencyPolicy(
        ttl_s=5, max_entries=3
    )
    defaults = IdempotencyPolicy()
    assert defaults.ttl_s == 3600 and defaults.max_entries == 10_000 and defaults.generate_keys


@pytest.mark.parametrize(
    "value",
    [
        {"ttl": 5},
        {"ttl_s": -1},
        {"ttl_s": float("nan")},
        {"ttl_s": "60"},
        {"max_entries": -1},
        {"max_entries": 1.5},
        {"max_entries": True},
        "yes",
        3600,
    ],
)
def test_bad_settings_are_config_errors(value: Any) -> None:
    with pytest.raises(ConfigError, match="idempotency"):
        IdempotencyPolicy.from_setting(value)


async def test_bad_settings_fail_when_the_client_is_built() -> None:
    with pytest.raises(ConfigError, match="idempotency"):
        async with make_client(ScriptedTransport(ok()), {"ttl_s": -5}):
            pass  # pragma: no cover


def test_a_shared_error_is_a_faithful_copy() -> None:
    cause = OSError("socket closed")
    try:
        try:
            raise cause
        except OSError as exc:
            raise ProviderError("down", provider="p", model="m", status=503) from exc
    except ProviderError as exc:
        exc.add_note("attempt 4 of 4")
        original = exc
    copied = idempotency._copy_error(original)
    assert copied is not original and type(copied) is ProviderError
    assert copied.__dict__ == original.__dict__ and copied.args == original.args
    assert copied.__cause__ is cause and copied.__traceback__ is original.__traceback__
    copied.add_note("seen by a twin")
    assert original.__notes__ == ["attempt 4 of 4"]

    class KeywordOnly(SluicegateError):  # sluicegate errors pickle and copy without __init__
        def __init__(self, *, detail: str) -> None:
            super().__init__(detail)

    keyword_only = KeywordOnly(detail="x")
    copy_of_it = idempotency._copy_error(keyword_only)
    assert copy_of_it is not keyword_only and copy_of_it.args == ("x",)

    class Awkward(Exception):
        def __init__(self, *, detail: str) -> None:
            super().__init__(detail)

    awkward = Awkward(detail="x")
    assert idempotency._copy_error(awkward) is awkward  # cannot be copied: shared as is
