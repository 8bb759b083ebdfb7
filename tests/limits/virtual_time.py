"""Virtual time that jumps as soon as every task is blocked, fast on both backends.

:meth:`FakeClock.autojump` waits with ``anyio.wait_all_tasks_blocked``, which on asyncio
polls with real 0.1 s sleeps whenever a task is runnable: fine for a handful of jumps, but
the rate-limit runs below make thousands (one per paced request). Here "idle" is decided
by the scheduler itself: trio's exact ``wait_all_tasks_blocked``, and on asyncio an empty
ready queue once this task has yielded (with everything in memory there is no I/O, so a
task not in the ready queue is waiting on another task or on the clock).
"""

from __future__ import annotations

import asyncio
import heapq

import anyio
import sniffio

from sluicegate.clock import FakeClock


async def wait_idle() -> None:
    """Return once every other task is blocked. Only the clock's runner calls this: two
    tasks waiting for each other to stop running would wait forever on asyncio."""
    if sniffio.current_async_library() == "trio":
        import trio.testing

        # of several waiters trio wakes only the one with the shortest cushion: a test
        # body in let_run() (cushion 0) goes first, before time moves
        await trio.testing.wait_all_tasks_blocked(cushion=1e-6)
        return
    loop = asyncio.get_running_loop()
    await asyncio.sleep(0)
    while loop._ready:  # type: ignore[attr-defined]  # noqa: ASYNC110 (polling is the point)
        await asyncio.sleep(0)


async def let_run() -> None:
    """Let the tasks just started run until they block, without letting time move: how a
    test makes requests arrive one after another at the same virtual instant."""
    if sniffio.current_async_library() == "trio":
        import trio.testing

        await trio.testing.wait_all_tasks_blocked()
        return
    for _ in range(5):  # the runner cannot jump while this task is runnable
        await asyncio.sleep(0)


class VirtualClock(FakeClock):
    """A FakeClock whose :meth:`run` jumps quickly (see the module docstring)."""

    async def run(self) -> None:
        """Forever: when every other task is blocked, wake the next sleeper."""
        while True:
            await wait_idle()
            sleepers = self._sleepers
            if sleepers:
                when = sleepers[0][0]
                if when <= self._now:
                    _, _, event = heapq.heappop(sleepers)
                    event.set()
                else:
                    self.advance(when - self._now)
            else:
                await anyio.sleep(0.001)  # idle with nobody sleeping: waiting on real I/O
