"""Time, injected: the one clock that rate limits, retries, breakers and deadlines read.

Every stage that waits or measures time takes a :class:`Clock` instead of calling the
event loop, so tests replace it with :class:`FakeClock` and check minutes of behaviour in
milliseconds, without sleeping on a wall clock and without flakiness. The default,
:class:`AnyioClock`, reads the running loop's clock, which on trio also honours trio's
``MockClock``.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

import anyio
import anyio.lowlevel


class Clock(Protocol):
    """Monotonic seconds, and a way to wait on them."""

    def now(self) -> float:
        """Seconds on a monotonic clock (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (0 or less: just a checkpoint)."""
        ...


def _backend_time() -> Callable[[], float]:
    """The running backend's own clock function. ``anyio.current_time()`` looks up the
    backend (sniffio, a context variable, the current task) on every call, ~0.9 µs, and a
    request reads the clock three times; the backend's function costs ~0.2 µs. anyio
    does not export it, so this reaches into ``anyio._core``, and falls back to
    ``anyio.current_time`` should that ever move."""
    try:
        from anyio._core._eventloop import get_async_backend
    except ImportError:  # pragma: no cover - a future anyio
        return anyio.current_time
    current_time: Callable[[], float] = get_async_backend().current_time
    return current_time


class AnyioClock:
    """The running event loop's clock (``anyio.current_time`` / ``anyio.sleep``).

    The backend's clock function is found on first use and kept: a call made under
    another backend, or with no loop running, makes it raise RuntimeError (asyncio's
    "no running event loop", trio's "must be called from async context"), and it is
    looked up again, so one clock serves successive ``anyio.run``s of either backend."""

    __slots__ = ("_time",)

    def __init__(self) -> None:
        self._time: Callable[[], float] | None = None

    def now(self) -> float:
        time = self._time
        if time is not None:
            try:
                return time()
            except RuntimeError:
                pass  # another backend's loop runs now, or none does
        self._time = time = _backend_time()
        return time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(seconds, 0.0))


class FakeClock:
    """Virtual time for tests, on asyncio and trio alike.

    Time stands still while any task can run; when every task is blocked, the clock
    jumps to the earliest pending ``sleep`` and wakes it (the "autojump" of trio's
    MockClock, built on ``anyio.wait_all_tasks_blocked``). Run :meth:`autojump` in the
    test's task group::

        clock = FakeClock()
        async with anyio.create_task_group() as tg:
            tg.start_soon(clock.autojump)
            ...  # code under test, using clock
            tg.cancel_scope.cancel()

    or call :meth:`advance` by hand for step-by-step checks.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        entry = (self._now + seconds, next(self._order), event)
        heapq.heappush(self._sleepers, entry)
        try:
            await event.wait()
        finally:
            if not event.is_set():  # cancelled: a dead sleeper must not pull time forward
                self._sleepers.remove(entry)
                heapq.heapify(self._sleepers)

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose time has come."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, event = heapq.heappop(self._sleepers)
            event.set()

    @property
    def pending(self) -> int:
        """How many sleeps are waiting."""
        return len(self._sleepers)

    async def autojump(self) -> None:
        """Forever: when all other tasks are blocked, jump to the next sleeper's time."""
        while True:
            await anyio.wait_all_tasks_blocked()
            if self._sleepers:
                when = self._sleepers[0][0]
                self.advance(max(when - self._now, 0.0))
            else:
                await anyio.lowlevel.checkpoint()
