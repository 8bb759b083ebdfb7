"""A retry budget: retries may add at most a set fraction to the traffic, plus a reserve.

A retry *count* alone (say 4 attempts) lets a total outage multiply the load on a failing
provider by 4, exactly when it can least take it. A budget, as in Finagle's
``RetryBudget`` and tower's ``TpsBudget``, ties retries to real traffic instead: every
request deposits ``ratio`` of a retry, every retry withdraws one, and deposits and
withdrawals expire after a sliding ``window``. A small reserve of ``min_per_second``
retries per second lets a client with little traffic still retry its rare failures.

Under 100% failure, over any pattern of arrivals, the retries made are bounded by::

    retries <= ratio · requests + min_per_second · (D + window + window / slots)

where ``D`` is the time between the first and the last retry. (Proof sketch: at every
withdrawal the window that ends at its slot holds at most ``ratio ·`` its deposits plus
the reserve; going back from the last retry, pick windows that end at a retry's slot and
do not overlap; they cover every retry, each holds its own deposits, and there are at most
``1 + D/window + 1/slots`` of them.) With the defaults a total outage sends at most 1.2x
the original requests, plus 10 retries per second.

The hot path never reads the clock: :meth:`deposit` only counts, and the count is placed
in time when the budget is next consulted (on a failure, which reads the clock anyway).
Requests counted since the previous consultation are spread evenly over the slots between
it and now, as if they arrived evenly; when part of that interval has already left the
window, only the share that fits the window is kept. Under steady failures the budget is
consulted often and the placement is exact to a slot; after a quiet spell it is an
estimate. Either way each request is credited at most once, which is all the bound above
needs, so it holds exactly.

Amounts are integers (thousandths of a retry), so no float drift accumulates over a long
run.
"""

from __future__ import annotations

import math

from sluicegate.errors import ConfigError

_SCALE = 1000
"""Budget units per retry: a deposit of ratio 0.2 is exactly 200 units."""


class RetryBudget:
    """Retries allowed: ``ratio`` per request plus ``min_per_second``, over ``window``
    seconds, kept in ``slots`` time slots (the window slides one slot at a time).

    ``start`` is the clock time the budget starts counting from, when known; without it,
    the requests counted before the first consultation are taken to fall in the window.
    """

    __slots__ = (
        "_cost",
        "_deposit",
        "_flushed_at",
        "_reserve",
        "_ring",
        "_slot",
        "_width",
        "pending",
    )

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        window: float = 10.0,
        slots: int = 10,
        start: float | None = None,
    ) -> None:
        for name, value in (("ratio", ratio), ("min_per_second", min_per_second)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(
                    f"retry budget {name} must be a finite number >= 0, got {value!r}"
                )
        if not (isinstance(window, int | float) and math.isfinite(window) and window > 0):
            raise ConfigError(f"retry budget window must be a positive number, got {window!r}")
        if not (isinstance(slots, int) and slots >= 1):
            raise ConfigError(f"retry budget slots must be an integer >= 1, got {slots!r}")
        self._deposit = round(ratio * _SCALE)
        self._cost = _SCALE
        self._reserve = round(min_per_second * window * _SCALE)
        self._width = window / slots
        self._ring = [0] * slots
        self._slot: int | None = None
        self._flushed_at = start
        self.pending = 0
        """Requests deposited but not yet placed in time (the stage increments it inline)."""

    @property
    def ratio(self) -> float:
        """The effective ratio (the configured one, to a thousandth)."""
        return self._deposit / _SCALE

    @property
    def reserve(self) -> float:
        """Retries the reserve alone allows per window (``min_per_second · window``)."""
        return self._reserve / _SCALE

    @property
    def window(self) -> float:
        return self._width * len(self._ring)

    def deposit(self) -> None:
        """Count one request. Reads no clock: it is placed in time on the next consultation."""
        self.pending += 1

    def withdraw(self, now: float) -> bool:
        """Take one retry at time ``now`` if the budget has it; False (and nothing taken)
        if not."""
        slot = self._catch_up(now)
        if sum(self._ring) + self._reserve < self._cost:
            return False
        self._ring[slot % len(self._ring)] -= self._cost
        return True

    def available(self, now: float) -> float:
        """How many retries the budget would allow at ``now`` (for inspection and tests)."""
        self._catch_up(now)
        return max(sum(self._ring) + self._reserve, 0) / self._cost

    def _catch_up(self, now: float) -> int:
        """Slide the window to ``now`` and place the pending deposits; the current slot."""
        slots = len(self._ring)
        slot = math.floor(now / self._width)
        last = self._slot
        if last is None or slot - last >= slots:
            self._ring[:] = [0] * slots
        elif slot > last:
            for index in range(last + 1, slot + 1):
                self._ring[index % slots] = 0
        else:
            slot = last  # the clock did not move (or went back): stay in the newest slot
        self._slot = slot
        pending = self.pending
        if pending:
            self.pending = 0
            self._place(pending * self._deposit, now, slot)
        self._flushed_at = now if self._flushed_at is None else max(self._flushed_at, now)
        return slot

    def _place(self, units: int, now: float, slot: int) -> None:
        """Credit ``units`` deposited since the previous consultation, spread evenly over
        the slots between it and now (as if the requests arrived evenly); the part of that
        interval already out of the window is dropped in proportion."""
        slots = len(self._ring)
        oldest = slot - slots + 1
        since = self._flushed_at
        if since is None:
            first = oldest
        else:
            first = min(math.floor(since / self._width), slot)
            if first < oldest:
                window_start = oldest * self._width
                share = (now - window_start) / (now - since) if now > since else 1.0
                units = math.floor(units * min(max(share, 0.0), 1.0))
                first = oldest
        count = slot - first + 1
        each, extra = divmod(units, count)
        for offset in range(count):
            # the remainder goes to the earliest slots, which expire first
            self._ring[(first + offset) % slots] += each + (1 if offset < extra else 0)
