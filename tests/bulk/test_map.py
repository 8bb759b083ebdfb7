"""``client.map`` / :class:`BulkMap`: at most N in flight, input read lazily, a result for
every request (errors as results), clean cancellation on break, stop and cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.lowlevel
import pytest

from sluicegate import Client, ConfigError, ProviderError, Request, Response
from sluicegate.bulk import BulkMap, MapResult
from sluicegate.types import Message, Metadata

pytestmark = pytest.mark.anyio


def make_request(i: int) -> Request:
    return Request(
        model="test/m",
        messages=(Message(role="user", content=f"q{i}"),),
        metadata=Metadata(caller_id=f"id-{i}"),
    )


class CountingSource:
    """Requests 0..n-1, counting how many were pulled."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.pulled = 0

    def __iter__(self) -> Iterator[Request]:
        for i in range(self.n):
            self.pulled += 1
            yield make_request(i)


class FakeSend:
    """A send that takes a few scheduler turns (varying per request), counting how many
    calls run at once; ids in ``fail`` raise a ProviderError, ids in ``block`` wait until
    cancelled. With ``fill``, the first calls wait until ``fill`` of them run at once."""

    def __init__(
        self,
        fail: frozenset[str] | set[str] = frozenset(),
        block: frozenset[str] | set[str] = frozenset(),
        fill: int = 0,
    ) -> None:
        self.fill = fill
        self.filled = anyio.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[str] = []
        self.cancelled: list[str] = []
        self.fail = fail
        self.block = block

    async def __call__(self, request: Request) -> Response:
        caller = request.metadata.caller_id or ""
        self.started.append(caller)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.fill:
                if self.in_flight >= self.fill:
                    self.filled.set()
                await self.filled.wait()
            if caller in self.block:
                await anyio.sleep_forever()
            for _ in range(int(caller.rsplit("-", 1)[1]) % 5):
                await anyio.lowlevel.checkpoint()
            if caller in self.fail:
                raise ProviderError("boom", provider="test", model="m", status=500)
            return Response(text=f"answer {caller}", model=request.model, provider="test")
        except anyio.get_cancelled_exc_class():
            self.cancelled.append(caller)
            raise
        finally:
            self.in_flight -= 1


async def test_at_most_concurrency_in_flight_and_the_input_is_read_lazily() -> None:
    concurrency = 8
    source, send = CountingSource(500), FakeSend(fill=concurrency)
    seen: list[str] = []
    async with BulkMap(send, source, concurrency) as results:
        async for result in results:
            assert result.ok and result.response is not None
            assert result.response.text == f"answer {result.caller_id}"
            seen.append(result.caller_id or "")
            # taken from the input but not yet yielded: never more than the concurrency
            assert source.pulled - len(seen) <= concurrency
    assert sorted(seen) == sorted(f"id-{i}" for i in range(500))
    assert send.max_in_flight == concurrency


async def test_failed_requests_are_results_and_the_loop_goes_on() -> None:
    fail = {f"id-{i}" for i in range(0, 40, 3)}
    send = FakeSend(fail=fail)
    results: list[MapResult] = []
    async with BulkMap(send, CountingSource(40), 5) as mapped:
        results = [r async for r in mapped]
    assert len(results) == 40
    errors = {r.caller_id for r in results if not r.ok}
    assert errors == fail
    for result in results:
        if not result.ok:
            assert isinstance(result.error, ProviderError) and result.error.status == 500
            assert result.response is None and result.latency >= 0


async def test_break_cancels_the_requests_in_flight_and_reads_no_further() -> None:
    block = {f"id-{i}" for i in range(1, 100)}  # only id-0 answers
    source, send = CountingSource(100), FakeSend(block=block)
    async with BulkMap(send, source, 4) as results:
        async for result in results:
            assert result.caller_id == "id-0"
            break
    assert send.in_flight == 0
    assert sorted(send.cancelled) == sorted(set(send.started) - {"id-0"})
    # the 3 first blocked ones, and perhaps the one id-0's worker took before the break
    assert len(send.cancelled) in (3, 4)
    assert source.pulled <= 5


async def test_an_exception_in_the_body_cancels_the_work_and_propagates_as_itself() -> None:
    send = FakeSend(block={f"id-{i}" for i in range(1, 10)})
    with pytest.raises(KeyError):
        async with BulkMap(send, CountingSource(10), 3) as results:
            async for _ in results:
                raise KeyError("caller bug")
    assert send.in_flight == 0 and len(send.cancelled) == 3


async def test_an_outer_cancel_scope_cancels_the_map() -> None:
    send = FakeSend(block={f"id-{i}" for i in range(10)})
    with anyio.move_on_after(0.05) as scope:
        async with BulkMap(send, CountingSource(10), 3) as results:
            async for _ in results:
                pytest.fail("no request answers")
    assert scope.cancelled_caught
    assert send.in_flight == 0 and len(send.cancelled) == 3


async def test_an_async_input_is_pulled_one_at_a_time_and_closed_on_exit() -> None:
    closed = anyio.Event()
    pulled = 0

    async def requests() -> AsyncIterator[Request]:
        nonlocal pulled
        try:
            for i in range(1000):
                pulled += 1
                await anyio.lowlevel.checkpoint()  # two anext() at once would raise here
                yield make_request(i)
        finally:
            closed.set()

    send = FakeSend()
    count = 0
    async with BulkMap(send, requests(), 6) as results:
        async for _ in results:
            count += 1
            if count == 50:
                break
    assert closed.is_set()
    assert pulled <= 50 + 6 + 1


async def test_an_async_input_runs_to_the_end() -> None:
    async def requests() -> AsyncIterator[Request]:
        for i in range(30):
            yield make_request(i)

    async with BulkMap(FakeSend(), requests(), 4) as results:
        ids = {r.caller_id async for r in results}
    assert ids == {f"id-{i}" for i in range(30)}


async def test_a_failing_input_yields_what_was_in_flight_then_raises_its_error() -> None:
    def requests() -> Iterator[Request]:
        for i in range(5):
            yield make_request(i)
        raise ValueError("input file went away")

    seen: list[str | None] = []
    with pytest.raises(ValueError, match="went away"):
        async with BulkMap(FakeSend(), requests(), 3) as results:
            async for result in results:
                seen.append(result.caller_id)
    assert sorted(seen, key=str) == [f"id-{i}" for i in range(5)]


async def test_an_item_that_is_not_a_request_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="takes Requests"):
        async with BulkMap(FakeSend(), [make_request(0), "hello"], 2) as results:  # type: ignore[list-item]
            async for _ in results:
                pass


async def test_stop_takes_no_new_requests_but_yields_those_in_flight() -> None:
    source, send = CountingSource(1000), FakeSend()
    results_seen = 0
    async with BulkMap(send, source, 5) as results:
        async for _ in results:
            results_seen += 1
            if results_seen == 10:
                results.stop()
                pulled_at_stop = source.pulled
    assert source.pulled == pulled_at_stop
    assert results_seen == pulled_at_stop  # every request taken got its result
    assert send.cancelled == []


async def test_cancel_from_another_task_ends_the_loop_and_cancels_in_flight() -> None:
    send = FakeSend(block={f"id-{i}" for i in range(3, 100)})
    bulk = BulkMap(send, CountingSource(100), 4)
    got: list[str | None] = []
    async with anyio.create_task_group() as group:
        async with bulk as results:
            async for result in results:
                got.append(result.caller_id)
                if len(got) == 3:
                    group.start_soon(_cancel_soon, bulk)
    assert sorted(got, key=str) == ["id-0", "id-1", "id-2"]
    assert send.in_flight == 0 and len(send.cancelled) == 4


async def _cancel_soon(bulk: BulkMap) -> None:
    await anyio.lowlevel.checkpoint()
    bulk.cancel()


async def test_iterating_without_the_block_says_how_to_use_it() -> None:
    with pytest.raises(ConfigError, match="async with"):
        async for _ in BulkMap(FakeSend(), [], 1):
            pass


async def test_a_map_runs_once_and_needs_a_positive_concurrency() -> None:
    bulk = BulkMap(FakeSend(), [], 1)
    async with bulk as results:
        assert [r async for r in results] == []
    with pytest.raises(ConfigError, match="runs once"):
        async with bulk:
            pass
    with pytest.raises(ConfigError, match="concurrency"):
        BulkMap(FakeSend(), [], 0)


async def test_client_map_end_to_end_with_the_mock_provider() -> None:
    async with Client(load_entry_points=False, stage_settings={"retry": False}) as client:
        requests = [
            client.request("mock/fast", f"question {i}", caller_id=f"q{i}", max_tokens=10)
            for i in range(40)
        ]
        requests.append(client.request("nowhere/model", "hi", caller_id="unknown-provider"))
        requests.append(
            client.request(
                "mock/fast", "hi", caller_id="faulty", headers={"x-mock-fault": "bad_request"}
            )
        )
        async with client.map(iter(requests), concurrency=8) as results:
            by_id = {r.caller_id: r async for r in results}
    assert set(by_id) == {f"q{i}" for i in range(40)} | {"unknown-provider", "faulty"}
    assert all(by_id[f"q{i}"].ok for i in range(40))
    assert by_id["q7"].response is not None and "question 7" in by_id["q7"].response.text
    assert isinstance(by_id["unknown-provider"].error, ConfigError)
    faulty = by_id["faulty"].error  # an error the provider will repeat: final, not held
    assert isinstance(faulty, ProviderError) and faulty.status == 400
    assert not by_id["faulty"].pending


async def test_client_map_needs_an_open_client() -> None:
    with pytest.raises(ConfigError, match="not open"):
        Client(load_entry_points=False).map([])


async def test_client_map_takes_patience_or_an_availability_not_both() -> None:
    from sluicegate.bulk import ModelAvailability
    from sluicegate.clock import FakeClock

    async with Client(load_entry_points=False) as client:
        assert client.map([], patience=None).availability.patience is None
        shared = ModelAvailability(FakeClock(), patience=60)
        assert client.map([], availability=shared).availability is shared
        with pytest.raises(ConfigError, match="not both"):
            client.map([], patience=10, availability=shared)
        with pytest.raises(ConfigError, match="patience"):
            client.map([], patience=-1)


async def test_workers_are_started_as_requests_arrive_never_one_per_unit_of_concurrency() -> None:
    """Issue 10: ``concurrency`` is a ceiling, not a number of tasks started up front (a
    million of them took gigabytes for a 5-line input)."""
    tasks_seen: list[int] = []

    async def send(request: Request) -> Response:
        tasks_seen.append(len(anyio.get_running_tasks()))
        await anyio.lowlevel.checkpoint()
        return Response(text="ok", model=request.model, provider="test")

    bulk = BulkMap(send, CountingSource(5), 100_000)
    async with bulk as results:
        assert len([r async for r in results]) == 5
    assert bulk.workers_started <= 5
    # the workers, the reader, the test's own task and the runner's: nowhere near 100,000
    assert max(tasks_seen) <= 5 + 5


async def test_workers_grow_to_the_concurrency_when_the_requests_are_there() -> None:
    send = FakeSend(fill=6)  # every call waits until six run at once
    bulk = BulkMap(send, CountingSource(40), 6)
    async with bulk as results:
        assert len([r async for r in results]) == 40
    assert send.max_in_flight == 6
    assert bulk.workers_started == 5  # and the reader: six tasks in all


async def test_a_result_is_yielded_before_the_input_has_ended() -> None:
    """A line that arrived is sent at once: the map does not wait for the input's end
    (or for ``concurrency`` requests) before it starts."""
    answered = anyio.Event()

    async def requests() -> AsyncIterator[Request]:
        yield make_request(0)
        with anyio.fail_after(5):
            await answered.wait()  # the next line comes only once the first is answered
        yield make_request(1)

    seen: list[str | None] = []
    async with BulkMap(FakeSend(), requests(), 1000) as results:
        async for result in results:
            seen.append(result.caller_id)
            answered.set()
    assert seen == ["id-0", "id-1"]


async def test_stop_ends_the_map_while_the_input_waits_for_its_next_line() -> None:
    """A streamed input (a pipe) may wait for its next line forever: the first Ctrl-C must
    still end the map once what is in flight is yielded."""
    closed = anyio.Event()

    async def requests() -> AsyncIterator[Request]:
        try:
            yield make_request(0)
            await anyio.sleep_forever()  # the writer of the pipe went quiet
            yield make_request(1)
        finally:
            closed.set()

    seen: list[str | None] = []
    with anyio.fail_after(5):
        async with BulkMap(FakeSend(), requests(), 4) as results:
            async for result in results:
                seen.append(result.caller_id)
                results.stop()
    assert seen == ["id-0"]
    assert closed.is_set()
