"""``client.map`` holds a model's requests while it is unavailable, in virtual time: an
open circuit's requests are answered after its break while another model's flow; a day's
requested wait gives the model up at once (pending, ModelUnavailableError); patience
bounds an outage; a poison request is pending after three rounds; and held requests never
take memory beyond twice the concurrency."""

from __future__ import annotations

import random
from collections.abc import Iterator

import anyio
import pytest

from limits.virtual_time import VirtualClock
from sluicegate import CircuitOpenError, ProviderError, RateLimitedError, Request, Response
from sluicegate.breaker.state import CircuitState
from sluicegate.bulk import BulkMap, MapResult, ModelAvailability, ModelUnavailableError
from sluicegate.types import Message, Metadata

pytestmark = pytest.mark.anyio


def make_request(model: str, i: int) -> Request:
    return Request(
        model=model,
        messages=(Message(role="user", content=f"q{i}"),),
        metadata=Metadata(caller_id=f"{model}#{i}"),
    )


class Source:
    """Requests in the given (model, i) order, counting how many were taken."""

    def __init__(self, items: list[tuple[str, int]]) -> None:
        self.items = items
        self.pulled = 0

    def __iter__(self) -> Iterator[Request]:
        for model, i in self.items:
            self.pulled += 1
            yield make_request(model, i)


class Server:
    """A send on the virtual clock: each call takes ``latency``; ``fail(request, now)``
    returns the error to raise, or None to answer."""

    def __init__(self, clock: VirtualClock, fail: object, latency: float = 0.1) -> None:
        self.clock = clock
        self.fail = fail
        self.latency = latency
        self.calls: dict[str, int] = {}

    async def __call__(self, request: Request) -> Response:
        caller = request.metadata.caller_id or ""
        self.calls[caller] = self.calls.get(caller, 0) + 1
        await self.clock.sleep(self.latency)
        error = self.fail(request, self.clock.now())  # type: ignore[operator]
        if error is not None:
            raise error
        return Response(text=f"answer {caller}", model=request.model, provider="test")


async def run_map(
    clock: VirtualClock,
    send: Server,
    source: Source,
    concurrency: int,
    patience: float | None = 300.0,
    check: object = None,
) -> list[tuple[float, MapResult]]:
    availability = ModelAvailability(clock, patience=patience, rng=random.Random(7))
    seen: list[tuple[float, MapResult]] = []
    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        async with BulkMap(send, source, concurrency, availability=availability) as results:
            async for result in results:
                seen.append((clock.now(), result))
                if check is not None:
                    check(len(seen))  # type: ignore[operator]
        group.cancel_scope.cancel()
    return seen


def circuit_open(model: str, until: float, now: float) -> CircuitOpenError:
    return CircuitOpenError(
        f"20 of 20 calls failed in the last 30s; failing fast for {until - now:.3g}s more, "
        "then probing",
        provider=model.split("/")[0],
        model=model.split("/")[1],
        state=CircuitState.OPEN,
        until=until,
        retry_after=until - now,
    )


async def test_an_open_circuit_holds_its_model_while_another_model_flows() -> None:
    clock = VirtualClock()
    start = clock.now()
    reopen = start + 12

    def fail(request: Request, now: float) -> Exception | None:
        if request.model == "a/down" and now < reopen:
            return circuit_open("a/down", reopen, now)
        return None

    items = [("a/down", i) for i in range(6)] + [("b/up", i) for i in range(30)]
    send = Server(clock, fail)
    results = await run_map(clock, send, Source(items), concurrency=4)
    assert len(results) == 36 and all(r.ok and not r.pending for _, r in results)
    up = [t for t, r in results if r.request.model == "b/up"]
    down = [t for t, r in results if r.request.model == "a/down"]
    assert max(up) < reopen  # b/up never waited for a/down's circuit
    assert min(down) >= reopen  # a/down's were held, then answered after the break
    assert max(down) < reopen + 1  # right after it, not after some backoff
    calls = [n for c, n in send.calls.items() if c.startswith("a/down")]
    assert sorted(calls) == [1, 1, 2, 2, 2, 2]  # 4 failed at once; 2 held before a try


async def test_a_day_long_wait_gives_the_model_up_at_once_its_requests_pending() -> None:
    clock = VirtualClock()
    start = clock.now()

    def fail(request: Request, now: float) -> Exception | None:
        if request.model == "c/limited":
            return RateLimitedError(
                "slow down", provider="c", model="limited", status=429, retryable=True,
                retry_after=86_400,
            )  # fmt: skip
        return None

    items = [("c/limited", i) for i in range(20)] + [("b/up", i) for i in range(10)]
    send = Server(clock, fail)
    results = await run_map(clock, send, Source(items), concurrency=4)
    assert clock.now() - start < 5  # not a day, nor the patience
    limited = [r for _, r in results if r.request.model == "c/limited"]
    assert len(limited) == 20 and all(r.pending and not r.ok for r in limited)
    errors = {type(r.error) for r in limited}
    assert errors == {ModelUnavailableError}
    error = limited[-1].error
    assert isinstance(error, ModelUnavailableError) and error.retryable
    assert error.model == "c/limited" and error.until is not None
    assert error.until == pytest.approx(start + 86_400, abs=5)
    assert "c/limited" in str(error) and "86,400 s" in str(error) and "patience" in str(error)
    assert sum(send.calls.get(f"c/limited#{i}", 0) for i in range(20)) <= 4  # sent no more
    assert all(r.ok for _, r in results if r.request.model == "b/up")


async def test_patience_gives_up_a_model_that_answers_nothing() -> None:
    clock = VirtualClock()
    start = clock.now()

    def fail(request: Request, now: float) -> Exception | None:
        return ProviderError("down", provider="d", model="dead", status=503, retryable=True)

    results = await run_map(
        clock, Server(clock, fail), Source([("d/dead", i) for i in range(5)]), 2, patience=60
    )
    assert len(results) == 5 and all(r.pending for _, r in results)
    assert all(isinstance(r.error, ModelUnavailableError) for _, r in results)
    error = results[0][1].error
    assert isinstance(error, ModelUnavailableError) and "patience of 60 s" in error.reason
    assert 60 <= clock.now() - start < 60 + 35  # one backoff (at most 30 s) past patience


async def test_a_poison_request_is_pending_after_three_rounds_while_others_succeed() -> None:
    clock = VirtualClock()

    def fail(request: Request, now: float) -> Exception | None:
        if request.metadata.caller_id == "e/m#3":
            return ProviderError("chokes", provider="e", model="m", status=500, retryable=True)
        return None

    send = Server(clock, fail, latency=1.0)
    results = await run_map(clock, send, Source([("e/m", i) for i in range(60)]), 2)
    by_id = {r.caller_id: r for _, r in results}
    assert len(by_id) == 60
    poison = by_id["e/m#3"]
    assert poison.pending and isinstance(poison.error, ProviderError)
    assert poison.error.status == 500
    assert send.calls["e/m#3"] == 4  # the first failure and three rounds
    assert all(r.ok for c, r in by_id.items() if c != "e/m#3")


async def test_held_requests_stay_within_twice_the_concurrency() -> None:
    clock = VirtualClock()
    start = clock.now()
    concurrency = 3

    def fail(request: Request, now: float) -> Exception | None:
        if now < start + 12:
            return circuit_open("a/m", start + 12, now)
        return None

    source = Source([("a/m", i) for i in range(50)])
    outstanding: list[int] = []
    results = await run_map(
        clock,
        Server(clock, fail),
        source,
        concurrency,
        check=lambda yielded: outstanding.append(source.pulled - yielded),
    )
    assert len(results) == 50 and all(r.ok for _, r in results)
    assert max(outstanding) <= 2 * concurrency
    assert max(outstanding) > concurrency  # the park was used


async def test_stop_yields_held_requests_as_pending() -> None:
    clock = VirtualClock()
    start = clock.now()

    def fail(request: Request, now: float) -> Exception | None:
        return circuit_open("a/m", start + 1000, now)

    availability = ModelAvailability(clock, patience=None)
    seen: list[MapResult] = []
    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        bulk = BulkMap(Server(clock, fail), Source([("a/m", i) for i in range(10)]), 2,
                       availability=availability)  # fmt: skip
        async with bulk as results:
            group.start_soon(_stop_after, clock, bulk, 5.0)
            async for result in results:
                seen.append(result)
        group.cancel_scope.cancel()
    assert clock.now() - start < 10
    assert seen and all(r.pending for r in seen)
    assert len(seen) <= 4 + 2  # only what was taken: the held and the in-flight


async def _stop_after(clock: VirtualClock, bulk: BulkMap, seconds: float) -> None:
    await clock.sleep(seconds)
    bulk.stop()
