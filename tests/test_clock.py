"""The fake clock jumps over sleeps in order, on both backends, without wall-clock waits."""

from __future__ import annotations

import time

import anyio
import pytest

from sluicegate.clock import AnyioClock, FakeClock

pytestmark = pytest.mark.anyio


async def test_autojump_wakes_sleepers_in_time_order_instantly() -> None:
    clock = FakeClock(start=0.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        group.start_soon(clock.autojump)
        async with anyio.create_task_group() as sleepers:
            sleepers.start_soon(sleeper, "hour", 3600.0)
            sleepers.start_soon(sleeper, "minute", 60.0)
            sleepers.start_soon(sleeper, "second", 1.0)
        group.cancel_scope.cancel()
    assert woke == [("second", 1.0), ("minute", 60.0), ("hour", 3600.0)]
    assert time.perf_counter() - started < 5


async def test_advance_by_hand_wakes_only_what_is_due() -> None:
    clock = FakeClock(start=10.0)
    done = anyio.Event()

    async def sleeper() -> None:
        await clock.sleep(5)
        done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(sleeper)
        await anyio.wait_all_tasks_blocked()
        clock.advance(4.9)
        await anyio.wait_all_tasks_blocked()
        assert not done.is_set() and clock.pending == 1
        clock.advance(0.1)
        await done.wait()
    assert clock.now() == 15.0
    with pytest.raises(ValueError):
        clock.advance(-1)


async def test_anyio_clock_is_monotonic() -> None:
    clock = AnyioClock()
    first = clock.now()
    await clock.sleep(0)
    assert clock.now() >= first


async def test_a_cancelled_sleep_no_longer_pulls_time_forward() -> None:
    """A sleeper cancelled by a timeout must leave the heap, or autojump would jump to its
    time for nobody (an idle hour added to every later measurement)."""
    clock = FakeClock(start=0.0)
    woke: list[float] = []

    async def short() -> None:
        await clock.sleep(2.0)
        woke.append(clock.now())

    async with anyio.create_task_group() as group:
        with anyio.CancelScope() as scope:
            group.start_soon(short)
            scope.cancel()
            await clock.sleep(3600.0)  # cancelled at once, never waits
        await anyio.wait_all_tasks_blocked()
        assert clock.pending == 1
        group.start_soon(clock.autojump)
        while not woke:
            await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    assert woke == [2.0] and clock.pending == 0


def test_one_anyio_clock_reads_whichever_loop_runs() -> None:
    """The clock keeps the backend's time function it found first; under another backend
    (or a new loop) it finds the right one again, and outside any loop it says so."""
    clock = AnyioClock()

    async def both() -> tuple[float, float]:
        return clock.now(), anyio.current_time()

    for backend in ("asyncio", "trio", "asyncio", "trio"):
        ours, loops = anyio.run(both, backend=backend)
        assert abs(ours - loops) < 0.05, backend
    with pytest.raises(RuntimeError):
        clock.now()
