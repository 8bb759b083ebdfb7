"""The gate: admission into several dimensions at once, first come first served, with
exact waits on the injected clock, and cancellation that frees the place. Both backends,
virtual time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluicegate.limits.dimensions import (
    REQUESTS,
    TOKENS,
    ConcurrencyDimension,
    Dimension,
    HoldDimension,
    RateDimension,
)
from sluicegate.limits.gate import acquire, now_ns

from .virtual_time import VirtualClock, let_run

pytestmark = pytest.mark.anyio

S = 1_000_000_000


def costs(tokens: int = 0) -> tuple[int, ...]:
    return (1, tokens, 0, 0, 1, 0)


async def in_virtual_time(clock: VirtualClock, body: Callable[[], Awaitable[object]]) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        await body()
        group.cancel_scope.cancel()


async def test_waiters_are_admitted_in_arrival_order_at_exact_times() -> None:
    clock = VirtualClock(start=100.0)
    rpm = RateDimension(REQUESTS, "m", 60, burst=1)  # one a second
    admitted: list[tuple[int, int]] = []

    async def request(n: int) -> None:
        await acquire((rpm,), costs(), clock, [])
        admitted.append((n, now_ns(clock)))

    async def body() -> None:
        async with anyio.create_task_group() as group:
            for n in range(5):
                group.start_soon(request, n)
                await let_run()  # each arrives, and joins the line, before the next

    await in_virtual_time(clock, body)
    assert admitted == [(n, (100 + n) * S) for n in range(5)]


async def test_a_small_request_cannot_overtake_a_big_one_waiting_before_it() -> None:
    clock = VirtualClock(start=0.0)
    tpm = RateDimension(TOKENS, "m", 100, burst=100)
    tpm.charge(90, 0)
    admitted: list[tuple[str, float]] = []

    async def request(name: str, tokens: int) -> None:
        await acquire((tpm,), costs(tokens), clock, [])
        admitted.append((name, clock.now()))

    async def body() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(request, "big", 50)
            await let_run()
            group.start_soon(request, "small", 5)  # would fit now, but "big" came first

    await in_virtual_time(clock, body)
    # big: 40 tokens must drain at 100/min = 24 s; small: 5 more after that = 3 s
    assert admitted == [("big", 24.0), ("small", 27.0)]


async def test_cancelling_a_waiter_frees_its_place_and_takes_nothing() -> None:
    clock = VirtualClock(start=0.0)
    rpm = RateDimension(REQUESTS, "m", 60, burst=1)
    rpm.charge(1, 0)
    admitted: list[tuple[str, float]] = []
    cancelled: list[str] = []

    async def request(name: str, scope: anyio.CancelScope) -> None:
        with scope:
            await acquire((rpm,), costs(), clock, [])
            admitted.append((name, clock.now()))
        if scope.cancelled_caught:
            cancelled.append(name)

    async def body() -> None:
        first = anyio.CancelScope()
        async with anyio.create_task_group() as group:
            group.start_soon(request, "first", first)
            await let_run()
            group.start_soon(request, "second", anyio.CancelScope())
            await let_run()
            await clock.sleep(0.5)
            first.cancel()

    await in_virtual_time(clock, body)
    assert cancelled == ["first"]
    assert admitted == [("second", 1.0)]  # the first's slot, not the one after it
    assert not rpm.line
    assert rpm.remaining(now_ns(clock)) == 0  # exactly one charge: "second"'s


async def test_a_request_takes_from_all_dimensions_at_once_or_from_none() -> None:
    clock = VirtualClock(start=0.0)
    rpm = RateDimension(REQUESTS, "m", 600, burst=10)
    tpm = RateDimension(TOKENS, "m", 100, burst=100)
    tpm.charge(100, 0)
    seen: list[int] = []

    async def request() -> None:
        await acquire((rpm, tpm), costs(50), clock, [])

    async def body() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(request)
            await let_run()
            await clock.sleep(10)
            seen.append(rpm.remaining(now_ns(clock)))  # waiting for tokens holds no request slot

    await in_virtual_time(clock, body)
    assert seen == [10]
    assert clock.now() == 30.0
    assert rpm.remaining(30 * S) == 9 and tpm.remaining(30 * S) == 0


async def test_concurrency_slots_are_given_back_and_waiters_served_in_order() -> None:
    clock = VirtualClock(start=0.0)
    slots = ConcurrencyDimension("m", 2)
    order: list[str] = []

    async def request(name: str, hold_s: float) -> None:
        await acquire((slots,), costs(), clock, [])
        order.append(f"+{name}@{clock.now():g}")
        await clock.sleep(hold_s)
        slots.release()

    async def body() -> None:
        async with anyio.create_task_group() as group:
            for name, hold in (("a", 5), ("b", 3), ("c", 1), ("d", 1)):
                group.start_soon(request, name, hold)
                await let_run()

    await in_virtual_time(clock, body)
    assert order == ["+a@0", "+b@0", "+c@3", "+d@4"]
    assert slots.in_use == 0


async def test_a_hold_stops_everything_until_it_ends() -> None:
    clock = VirtualClock(start=0.0)
    hold = HoldDimension("m")
    hold.hold_until(7 * S)
    await in_virtual_time(clock, lambda: acquire((hold,), costs(), clock, []))
    assert clock.now() == 7.0


# -- a property over random traffic on shared dimensions ----------------------------------------


@st.composite
def shared_traffic(draw: st.DrawFn) -> list[tuple[int, tuple[int, ...], int]]:
    """Requests: (arrival gap in ms, which of 3 dimensions they need, token cost)."""
    return draw(
        st.lists(
            st.tuples(
                st.integers(0, 3000),
                st.sets(st.integers(0, 2), min_size=1).map(lambda s: tuple(sorted(s))),
                st.integers(1, 40),
            ),
            min_size=1,
            max_size=25,
        )
    )


def _window_bound(admitted: Sequence[tuple[int, int]], per_minute: int, burst: int) -> None:
    for i in range(len(admitted)):
        total = 0
        for j in range(i, len(admitted)):
            total += admitted[j][1]
            span = admitted[j][0] - admitted[i][0]
            assert total * 60 * S <= burst * 60 * S + span * per_minute


@given(shared_traffic())
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
async def test_random_traffic_is_fifo_per_dimension_bounded_and_never_stuck(
    traffic: list[tuple[int, tuple[int, ...], int]],
) -> None:
    clock = VirtualClock(start=0.0)
    dims: list[Dimension] = [
        RateDimension(REQUESTS, "a", 30, burst=2),
        RateDimension(TOKENS, "b", 120, burst=40),
        ConcurrencyDimension("c", 2),
    ]
    admitted: list[tuple[int, int, int]] = []  # (request, time, sequence)

    async def request(n: int, needs: tuple[int, ...], tokens: int) -> None:
        chosen = tuple(dims[i] for i in needs)
        await acquire(chosen, costs(tokens), clock, [])
        admitted.append((n, now_ns(clock), len(admitted)))
        if 2 in needs:
            await clock.sleep(0.5)
            dims[2].release()  # type: ignore[attr-defined]

    async def body() -> None:
        with anyio.fail_after(5):  # real seconds: a stuck waiter fails the test
            async with anyio.create_task_group() as group:
                for n, (gap_ms, needs, tokens) in enumerate(traffic):
                    if gap_ms:
                        await clock.sleep(gap_ms / 1000)
                    group.start_soon(request, n, needs, tokens)
                    await let_run()

    await in_virtual_time(clock, body)
    assert sorted(n for n, _, _ in admitted) == list(range(len(traffic)))
    position = {n: seq for n, _, seq in admitted}
    for d in range(3):
        users = [n for n, (_, needs, _) in enumerate(traffic) if d in needs]
        assert [position[n] for n in users] == sorted(position[n] for n in users)
    times = {n: t for n, t, _ in admitted}
    for d, per_minute, burst in ((0, 30, 2), (1, 120, 40)):
        charges = [
            (times[n], 1 if d == 0 else tokens)
            for n, (_, needs, tokens) in enumerate(traffic)
            if d in needs
        ]
        _window_bound(sorted(charges), per_minute, burst)
