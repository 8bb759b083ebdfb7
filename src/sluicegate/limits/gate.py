"""Admitting a request into several dimensions at once, first come, first served.

A request needs room in every one of its dimensions (say the provider's requests per
minute, the model's tokens per minute and a concurrency cap). The gate takes from all of
them in one synchronous step or from none, so capacity is never held by a request that is
still waiting for another dimension, and two concurrent requests can never both pass a
check only one of them fits (LiteLLM #5783).

Fairness: each dimension keeps a line of its waiters. An arriving request that finds any
of its lines non-empty joins the end of all of them at once; it is admitted only when it
is at the head of every one of its lines and all of them have room. Because a request
joins all its lines in the same instant, the lines agree on arrival order, so the
earliest waiter is always at the head of all of its lines and nothing deadlocks; a later
arrival can never overtake an earlier one on a shared dimension.

Waiting uses the injected clock: the head of its lines sleeps exactly as long as its
slowest dimension needs; everyone else waits until poked. A poke (a cancel of the
waiter's sleep scope) comes whenever what a waiter waits on may have changed: the waiter
ahead left the line (admitted or cancelled), a concurrency slot was released, tokens were
refunded, a rate was raised. A cancelled waiter leaves its lines in ``finally`` and pokes
the new heads, so its place is freed at once and nothing was taken from any bucket.

A waiter may also have a deadline on the event loop's clock (a request's, once its first
attempt was admitted: see :mod:`sluicegate.middleware.deadline`): its sleeps end there at
the latest, and a wait that reached it leaves its lines as a cancelled one would and
raises :class:`PastDeadline`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import anyio

from sluicegate.clock import Clock
from sluicegate.limits.dimensions import Dimension

__all__ = ["PastDeadline", "Waiter", "acquire", "now_ns", "try_acquire"]


class PastDeadline(Exception):
    """A wait in line reached the waiter's deadline; nothing was taken."""


def now_ns(clock: Clock) -> int:
    """The clock's time in integer nanoseconds (the one place a float time is rounded)."""
    return round(clock.now() * 1_000_000_000)


class Waiter:
    """A request waiting in one or more lines."""

    __slots__ = ("_scope",)

    def __init__(self) -> None:
        self._scope: anyio.CancelScope | None = None

    def poke(self) -> None:
        """Make the waiter look at its dimensions again now."""
        scope = self._scope
        if scope is not None:
            scope.cancel()


def try_acquire(
    dimensions: Sequence[Dimension], costs: Sequence[int], now: int, marks: list[int]
) -> bool:
    """Take from every dimension if nobody is waiting on any of them and all have room
    now; else take nothing. The marks of the taken charges are appended to ``marks``,
    one per dimension, in order. The fast path: no allocation, no await."""
    for dimension in dimensions:
        if dimension.line or dimension.wait_ns(costs[dimension.kind], now) != 0:
            return False
    for dimension in dimensions:
        marks.append(dimension.take(costs[dimension.kind], now))
    return True


async def acquire(
    dimensions: Sequence[Dimension],
    costs: Sequence[int],
    clock: Clock,
    marks: list[int],
    now: int | None = None,
    deadline: float | None = None,
) -> bool:
    """Wait, in line, until every dimension has room, then take from all of them.

    Returns whether the request had to wait. Costs must already be known to fit each
    dimension's capacity (else the wait would be forever). Cancellation while waiting
    takes nothing and frees the place in every line. ``now``: the time if the caller
    read it already, or -1 when no dimension needs it (reading the clock costs more than
    the rest of an admission); None reads it here. ``deadline``: the time on the loop's
    clock when waiting ends in :class:`PastDeadline` (None: wait as long as it takes)."""
    if try_acquire(dimensions, costs, now_ns(clock) if now is None else now, marks):
        return False
    waiter = Waiter()
    for dimension in dimensions:
        dimension.line.append(waiter)
    end = math.inf if deadline is None else deadline
    try:
        while True:
            wait = _wait_if_head(waiter, dimensions, costs, now_ns(clock))
            if wait == 0:
                now = now_ns(clock)
                for dimension in dimensions:
                    marks.append(dimension.take(costs[dimension.kind], now))
                return True
            with anyio.CancelScope(deadline=end) as scope:
                waiter._scope = scope
                if wait is None:
                    await anyio.sleep_forever()
                else:
                    await clock.sleep(wait / 1_000_000_000)
            waiter._scope = None
            if deadline is not None and anyio.current_time() >= deadline:
                raise PastDeadline
    finally:
        waiter._scope = None
        for dimension in dimensions:
            line = dimension.line
            if line[0] is waiter:
                line.popleft()
            else:
                line.remove(waiter)
            if line:
                line[0].poke()


def _wait_if_head(
    waiter: Waiter, dimensions: Sequence[Dimension], costs: Sequence[int], now: int
) -> int | None:
    """0 to go now, nanoseconds to sleep, or None to wait for a poke (not yet the head of
    every line, or a concurrency slot is needed)."""
    longest = 0
    for dimension in dimensions:
        if dimension.line[0] is not waiter:
            return None
    for dimension in dimensions:
        wait = dimension.wait_ns(costs[dimension.kind], now)
        if wait is None:
            return None
        if wait > longest:
            longest = wait
    return longest
