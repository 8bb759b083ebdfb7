"""GCRA, the generic cell rate algorithm: a token bucket kept as one integer.

Why GCRA: a token bucket stores a level and a timestamp and must refill the level on
every call; GCRA stores only the *theoretical arrival time* (TAT), the moment at which
the bucket would be empty again, so one comparison answers "does this cost fit now, and
if not, in how long". It is the algorithm ATM switches, redis-cell and governor use.

Why integers: float limiters drift (aiometer admits 11 requests in the first second at
10/s). Here time is kept in nanoseconds *scaled by the rate*: for a limit of ``rate``
units per ``period_ns``, one nanosecond is ``rate`` scaled units and one unit of cost is
``period_ns`` scaled units, so a rate such as 7 per minute, whose interval is not a whole
number of nanoseconds, is still exact. Every value is a Python int; nothing rounds except
the one ceiling that turns a scaled wait back into whole nanoseconds (never early).

The guarantee (property-tested): over any closed window of length ``L`` nanoseconds,
the costs admitted sum to at most ``burst + L * rate / period_ns``. A cost above
``burst`` can never fit; callers check :attr:`Gcra.burst` first and fail at once.

This module is pure and synchronous: no clock, no I/O, so it is cheap to call on every
request and easy to test with generated arrival times.
"""

from __future__ import annotations

__all__ = ["NS_PER_MINUTE", "NS_PER_SECOND", "Gcra"]

NS_PER_SECOND = 1_000_000_000
NS_PER_MINUTE = 60 * NS_PER_SECOND


class Gcra:
    """A bucket of ``burst`` units refilled at ``rate`` units per ``period_ns``.

    It starts full. Times are integer nanoseconds on any monotonic clock whose values are
    not negative; the caller passes ``now_ns`` to every method, so the bucket itself never
    reads a clock.

    Corrections after the fact (:meth:`settle`) are conservative: the bucket never
    believes it has more room than the exact replay of the true costs would give, so a
    server that counts true costs with the same limits never refuses what it admitted.
    """

    __slots__ = ("_charged", "_period", "_rate", "_stale_before", "_tat", "burst")

    def __init__(self, rate: int, period_ns: int, burst: int | None = None) -> None:
        if rate < 1 or period_ns < 1:
            raise ValueError(f"rate and period must be >= 1, got {rate} per {period_ns} ns")
        burst = rate if burst is None else burst
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst}")
        self._rate = rate
        self._period = period_ns
        self.burst = burst
        """The largest cost that can ever be admitted at once (the bucket's size)."""
        self._tat = 0
        """Scaled time at which the bucket is empty again; <= now means empty."""
        self._charged = 0
        """Every scaled cost ever charged (never decreases): bounds refunds (settle)."""
        self._stale_before = 0
        """Marks below this predate a rate change and are no longer comparable."""

    @property
    def rate(self) -> int:
        return self._rate

    @property
    def period_ns(self) -> int:
        return self._period

    def __repr__(self) -> str:
        return f"Gcra(rate={self._rate}, period_ns={self._period}, burst={self.burst})"

    # -- admission -------------------------------------------------------------------------

    def wait_ns(self, cost: int, now_ns: int) -> int:
        """Nanoseconds until ``cost`` fits (0: it fits now). Exact: after that many
        nanoseconds it fits, one nanosecond earlier it does not. Charges nothing.
        ``cost`` must be at most :attr:`burst` (else it would never fit)."""
        if cost > self.burst:
            raise ValueError(f"cost {cost} can never fit a burst of {self.burst}")
        now = now_ns * self._rate
        tat = self._tat if self._tat > now else now
        over = tat + (cost - self.burst) * self._period - now
        if over <= 0:
            return 0
        return -(-over // self._rate)

    def charge(self, cost: int, now_ns: int) -> int:
        """Take ``cost`` now, whether or not it fits (an admitted request, or a debt).
        Returns a mark that :meth:`settle` needs to correct this charge later."""
        now = now_ns * self._rate
        scaled = cost * self._period
        self._tat = (self._tat if self._tat > now else now) + scaled
        self._charged += scaled
        return self._charged

    def try_acquire(self, cost: int, now_ns: int) -> int:
        """Take ``cost`` if it fits now and return 0; else return the exact wait in
        nanoseconds and take nothing."""
        wait = self.wait_ns(cost, now_ns)
        if wait == 0:
            self.charge(cost, now_ns)
        return wait

    def busy(self, now_ns: int) -> bool:
        """Whether anything is still in the bucket (the last charge has not drained)."""
        return self._tat > now_ns * self._rate

    # -- reading ---------------------------------------------------------------------------

    def remaining(self, now_ns: int) -> int:
        """Whole units that would fit now."""
        now = now_ns * self._rate
        level = self._tat - now if self._tat > now else 0
        room = self.burst * self._period - level
        return room // self._period if room > 0 else 0

    def full_in_ns(self, now_ns: int) -> int:
        """Nanoseconds until the bucket is completely refilled (0 if it is)."""
        now = now_ns * self._rate
        return -(-(self._tat - now) // self._rate) if self._tat > now else 0

    # -- corrections -----------------------------------------------------------------------

    def settle(self, estimated: int, actual: int, mark: int, now_ns: int) -> bool:
        """Replace a charge of ``estimated`` made earlier (``mark`` from :meth:`charge`)
        by ``actual``. Returns True when room was given back.

        An extra charge is added to the TAT as is. A refund is bounded: GCRA's TAT is the
        max-plus sum ``max_j(t_j + costs charged from j on)``, and lowering an old cost
        lowers only the terms from before that charge; the terms of later charges stay
        and are at most ``now + (everything charged since the mark)``. Refunding down to
        that bound, never below, keeps the bucket at or above the exact replay, whatever
        happened in between (idle gaps included).
        """
        if actual > estimated:
            extra = (actual - estimated) * self._period
            self._tat += extra
            self._charged += extra
            return False
        if actual == estimated or mark < self._stale_before:
            return False
        floor = now_ns * self._rate + (self._charged - mark)
        lowered = self._tat - (estimated - actual) * self._period
        new = lowered if lowered > floor else floor
        if new < self._tat:
            self._tat = new
            return True
        return False

    def hold_remaining(self, units: int, now_ns: int) -> None:
        """Make at most ``units`` available now (never more room than before): how a
        server's ``remaining`` header is believed when it is lower than ours."""
        units = max(units, 0)
        now = now_ns * self._rate
        floor = now + (self.burst - units) * self._period
        if floor > self._tat:
            self._tat = floor

    def set_rate(self, rate: int, period_ns: int, burst: int, now_ns: int) -> None:
        """Change the limit, keeping the units currently in the bucket (an adaptive
        limit moves its rate while requests are in flight). Earlier marks can no longer
        be refunded against (they would be in the old units), which only errs on the
        safe side."""
        if rate < 1 or period_ns < 1 or burst < 1:
            raise ValueError("rate, period and burst must be >= 1")
        if rate == self._rate and period_ns == self._period and burst == self.burst:
            return
        old_now = now_ns * self._rate
        new_now = now_ns * rate
        level = self._tat - old_now
        if level > 0:
            # units in the bucket = level / old period; in new scaled time, rounded up
            self._tat = new_now + -(-level * period_ns // self._period)
        else:
            self._tat = 0
        self._rate = rate
        self._period = period_ns
        self.burst = burst
        self._stale_before = self._charged + 1
