"""Finding a server's capacity when no limit is configured: AIMD on the request rate.

Additive increase, multiplicative decrease is what TCP uses to share a link it cannot
see: creep up while things go well, back off hard at the first sign of congestion. Here
the sign is a 429 (or rate-limit headers saying little is left), and what moves is the
allowed request rate of one model.

- Only congestion counts: a 429 is a signal when the share of refusals among the
  requests admitted over the last one to two seconds (two windows, each at least a
  second and 16 admissions) exceeds ``refusal_share`` by more than chance would (two
  standard deviations), with at least two refusals. Refusals from load grow with the
  rate sent; a server that refuses a few percent at random (per-key bursts, a flaky
  relay) does so at any rate, and plain AIMD, cutting 30% per 429 and climbing 2% of the
  peak a second, would settle near ``increase / ((1 - decrease) * p)``, about one request
  a second at p = 6% whatever the server's size. The share is judged afresh after each
  decrease. ``refusal_share=0`` is plain AIMD. The price: a server that sends no
  rate-limit headers may see up to about ``refusal_share`` of 429s before load is found.
- Dormant until the first signal: nothing is paced, so a server that never pushes back
  costs nothing (the benchmark's throughput is untouched), and the limiter only counts
  admissions to know the rate being sent.
- On a 429 that is congestion, for a request admitted after the last decrease: the
  rate becomes ``decrease`` times the current one (at engagement, times the rate
  measured over the last second). Every 429, congestion or not, holds the model until
  the server's Retry-After (or one interval) has passed. A
  429 within a tenth of a saw-tooth of the last decrease means the rate is still far too
  high, and the decrease is squared (a burst absorbed by the server's bucket can make the
  first measured rate many times the server's real capacity); and since the successes
  between two 429s came at the rate the server was letting through, the new rate is
  never above that. Together they find the server's rate in two or three refusals
  instead of a dozen, which matters to a caller whose retries are counted.
  429s for requests admitted before the last decrease are the same congestion seen late
  and change nothing (TCP's once-per-window rule), so a burst of refusals in flight
  halves the rate once, not once per refusal.
- After each success that the limit held back (the request waited, or the bucket was
  still draining), the rate grows by ``increase * W / rate``, where ``W`` is the rate at
  the last decrease: ``increase * W`` per second, a straight line that climbs back to
  ``W`` in ``(1 - decrease) / increase`` seconds whatever the server's size; past ``W``
  the slope follows the rate itself (growth of ``increase`` per second), so a rate that
  started low, from a 429 at light traffic, is not stuck crawling upwards. Successes
  below the limit (the caller is slower than the rate) do not raise it, so the rate
  cannot wander off to infinity while the application is idle.
- Headers: when ``remaining`` falls under ``low_remaining`` of ``limit``, the rate is
  capped at the server's refill rate (``(limit - remaining) / reset``) before any 429,
  and when nothing remains the model is held for one refill interval.

Why this reaches the server's capacity rather than three quarters of it: the server's
own bucket keeps what the client leaves unused while it is below the limit and hands it
back while the client is above, so as long as one saw-tooth fits in the server's burst,
the average admitted rate is the server's rate.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

from sluicegate.clock import Clock
from sluicegate.limits.config import Adaptive
from sluicegate.limits.dimensions import REQUESTS, _describe
from sluicegate.limits.gate import now_ns as clock_ns
from sluicegate.limits.gcra import NS_PER_SECOND, Gcra
from sluicegate.limits.headers import LimitReading, ServerLimits

if TYPE_CHECKING:
    from sluicegate.limits.gate import Waiter

__all__ = ["AdaptiveRate"]

_MILLI = 1000
_PERIOD_NS = _MILLI * NS_PER_SECOND
"""The bucket counts milli-requests per second: rate r is ``round(r * 1000)`` per 1000 s."""
_MIN_REFUSALS = 2
"""One refusal alone is never congestion: a server that refuses at random sends one
sooner or later, and one is a large share of a short window by chance."""
_WINDOW_ADMISSIONS = 16
"""Admissions a share window holds at least (at low rates a window lasts longer)."""


class AdaptiveRate:
    """One model's learnt request rate: a gate dimension (kind REQUESTS) and its AIMD
    controller. ``take`` returns a mark, ``sequence * 2 + held``: the admission's place
    in line, and whether the rate held it back (the bucket was still draining); the stage
    hands it back to :meth:`rate_limited` and :meth:`succeeded`.
    """

    __slots__ = (
        "_bucket",
        "_clock",
        "_count",
        "_decreased_at",
        "_last_decrease_ns",
        "_max",
        "_min",
        "_previous",
        "_previous_admitted",
        "_previous_refused",
        "_quick_ns",
        "_refused",
        "_scale",
        "_sequence",
        "_settings",
        "_successes",
        "_window_first",
        "_window_first_ns",
        "_window_start",
        "kind",
        "label",
        "line",
        "rate",
        "tokens_per_request",
    )

    def __init__(self, label: str, settings: Adaptive, clock: Clock) -> None:
        self.kind = REQUESTS
        self._clock = clock
        self.label = label
        self.line: deque[Waiter] = deque()
        self._settings = settings
        self._min = settings.min_rpm / 60.0
        self._max = settings.max_rpm / 60.0 if settings.max_rpm is not None else None
        self._bucket: Gcra | None = None
        self.rate: float | None = None
        """Allowed requests per second, or None while dormant."""
        self._scale = 0.0
        self._last_decrease_ns = -1
        self._sequence = 0
        """Admissions so far: orders a 429's request against the last decrease exactly."""
        self._decreased_at = 0
        self._successes = 0
        """Successes since the last decrease: while the server refuses, the rate they
        came at is the server's own rate (see :meth:`rate_limited`)."""
        # a 429 sooner than a tenth of a saw-tooth after the last decrease: the rate has
        # not even begun to climb back, so it is still far too high
        cycle_s = (1.0 - settings.decrease) / settings.increase
        self._quick_ns = round(cycle_s * NS_PER_SECOND / 10)
        self._window_start = -2 * NS_PER_SECOND  # the first reading opens a window
        self._count = 0
        self._previous = 0.0
        # refusals against admissions, in the current and the previous share window
        # (see :meth:`_refusal`)
        self._window_first = 0
        self._window_first_ns = 0
        self._refused = 0
        self._previous_admitted = 0.0
        self._previous_refused = 0.0
        self.tokens_per_request = 0.0
        """Average tokens of a settled request (EWMA), to turn token headers into a rate."""

    def __repr__(self) -> str:
        return _describe(self)

    # -- as a dimension ----------------------------------------------------------------------

    @property
    def capacity(self) -> int | None:
        return None

    def wait_ns(self, cost: int, now_ns: int) -> int | None:
        bucket = self._bucket
        return 0 if bucket is None else bucket.wait_ns(1, now_ns)

    def take(self, cost: int, now_ns: int) -> int:
        """Count the admission (and charge the bucket once engaged). While dormant the
        stage does not read the clock for it (``now_ns`` is -1): the demand is then timed
        on every 32nd admission only, which is all a rate over a second needs."""
        self._sequence += 1
        mark = self._sequence << 1
        if now_ns < 0:
            if (self._count + 1) & 31 and self._sequence > 1:
                self._count += 1
                return mark
            now_ns = clock_ns(self._clock)  # the first admission opens the first window
        if now_ns - self._window_start >= NS_PER_SECOND:
            self._roll(now_ns)
        self._count += 1
        bucket = self._bucket
        if bucket is None:
            return mark
        if bucket.busy(now_ns):
            mark |= 1
        bucket.charge(1, now_ns)
        return mark

    def _roll(self, now_ns: int) -> None:
        elapsed = now_ns - self._window_start
        self._previous = (
            self._count * NS_PER_SECOND / elapsed if elapsed < 4 * NS_PER_SECOND else 0.0
        )
        self._count = 0
        self._window_start = now_ns

    # -- the controller ----------------------------------------------------------------------

    def measured_rate(self, now_ns: int) -> float:
        """Requests per second admitted lately: this window's count over its length once
        it is a second long, else blended with the previous window's rate (a sliding
        estimate that needs no per-request timestamps)."""
        elapsed = now_ns - self._window_start
        if elapsed >= NS_PER_SECOND:
            return self._count * NS_PER_SECOND / elapsed
        fraction = max(elapsed / NS_PER_SECOND, 0.0)
        return self._previous * (1.0 - fraction) + self._count

    def _apply(self, rate: float, now_ns: int) -> None:
        rate = max(rate, self._min)
        if self._max is not None:
            rate = min(rate, self._max)
        self.rate = rate
        units = max(1, round(rate * _MILLI))
        burst = max(1, int(rate * self._settings.burst_s))
        if self._bucket is None:
            self._bucket = Gcra(units, _PERIOD_NS, burst)
        else:
            self._bucket.set_rate(units, _PERIOD_NS, burst, now_ns)

    def _refusal(self, now_ns: int) -> bool:
        """Count a refusal and say whether recent ones are congestion, not chance.

        Refusals are set against admissions (the stage counts those anyway, dormant or
        not) over the current and the previous window, each at least a second and
        ``_WINDOW_ADMISSIONS`` admissions long, so the share is judged on enough requests
        at any rate and on the last few seconds at high rates; a window older than two
        seconds is weighed as two seconds' worth. Congestion: at least
        ``_MIN_REFUSALS``, and more than ``refusal_share`` of the admissions plus two
        standard deviations of that many by chance (``2 * sqrt(share * n)``), so a small
        window's luck is not read as load while heavy load still shows within a few
        requests. O(1): counters only."""
        self._refused += 1
        share = self._settings.refusal_share
        refused = self._refused + self._previous_refused
        expected = share * (self._sequence - self._window_first + self._previous_admitted)
        congested = share == 0.0 or (  # 0: every refusal is congestion, plain AIMD
            refused >= _MIN_REFUSALS and refused > expected + 2.0 * math.sqrt(expected)
        )
        elapsed = now_ns - self._window_first_ns
        admitted = self._sequence - self._window_first
        if elapsed >= NS_PER_SECOND and admitted >= _WINDOW_ADMISSIONS:
            # a long quiet window (low traffic, or the first refusal in a while) is
            # weighed as two seconds' worth, at least a full window's admissions
            weight = min(1.0, max(2 * NS_PER_SECOND / elapsed, _WINDOW_ADMISSIONS / admitted))
            self._previous_admitted = admitted * weight
            self._previous_refused = self._refused * weight
            self._window_first = self._sequence
            self._window_first_ns = now_ns
            self._refused = 0
        return congested

    def _restart_share(self, now_ns: int) -> None:
        """After a decrease the share is judged afresh, on what the new rate meets (else
        the refusals that caused it would make the next sporadic one look like load)."""
        self._window_first = self._sequence
        self._window_first_ns = now_ns
        self._refused = 0
        self._previous_admitted = 0.0
        self._previous_refused = 0.0

    def rate_limited(self, mark: int, now_ns: int) -> bool:
        """A 429 for the request whose admission returned ``mark``. Returns whether the
        rate was lowered (False: an echo of congestion already reacted to, or a refusal
        too sporadic to be congestion)."""
        if mark >> 1 <= self._decreased_at:
            return False
        if not self._refusal(now_ns):
            return False
        factor = self._settings.decrease
        if self.rate is None:
            start = max(self.measured_rate(now_ns), self._min)
            target = start * factor
        else:
            start = self.rate
            since = now_ns - self._last_decrease_ns
            if since < self._quick_ns:
                factor *= factor
            target = start * factor
            if self._successes and since > 0:
                # refused again while sending: what got through since the last decrease
                # came at the server's rate, so never aim above it
                target = min(target, self._successes * NS_PER_SECOND / since)
        self._scale = start
        self._apply(target, now_ns)
        self._last_decrease_ns = now_ns
        self._decreased_at = self._sequence
        self._successes = 0
        self._restart_share(now_ns)
        return True

    def succeeded(self, held: bool, tokens: int, now_ns: int) -> bool:
        """A success; ``held``: the limit held the request back (it waited, or its mark's
        low bit is set). Returns whether the rate went up (waiters should look again)."""
        if tokens > 0:
            average = self.tokens_per_request
            self.tokens_per_request = tokens if average == 0.0 else average * 0.9 + tokens * 0.1
        rate = self.rate
        if rate is None:
            return False
        self._successes += 1
        if not held:
            return False
        if self._max is not None and rate >= self._max:
            return False
        if rate >= self._scale:
            self._scale = rate  # past the last peak: probe with a slope that grows too
        self._apply(rate + self._settings.increase * self._scale / rate, now_ns)
        return True

    def interval_ns(self) -> int:
        """One request's spacing at the current rate, or while dormant at the rate sent
        over the last second (how long to hold after a 429 that came without
        Retry-After)."""
        rate = self.rate if self.rate is not None else max(self._previous, self._min)
        return max(1, round(NS_PER_SECOND / rate))

    def observe(self, limits: ServerLimits, now_ns: int) -> int:
        """Cap the rate from rate-limit headers when little remains. Returns how many
        nanoseconds to hold the model (0: none)."""
        hold = 0
        for reading, per_request in (
            (limits.requests, 1.0),
            (limits.tokens, self.tokens_per_request),
            (limits.input_tokens, self.tokens_per_request),
            (limits.output_tokens, self.tokens_per_request),
        ):
            if reading is None or per_request <= 0.0:
                continue
            hold = max(hold, self._cap(reading, per_request, now_ns))
        return hold

    def _cap(self, reading: LimitReading, per_request: float, now_ns: int) -> int:
        limit, remaining = reading.limit, reading.remaining
        if limit is None or remaining is None:
            return 0
        if remaining > self._settings.low_remaining * limit:
            return 0
        server_rate = reading.rate_per_s()
        if server_rate is None or server_rate <= 0.0:
            return 0
        rate = server_rate / per_request
        if self.rate is None or rate < self.rate:
            self._scale = rate
            self._apply(rate, now_ns)
        if remaining < per_request:
            return round((per_request - remaining) * NS_PER_SECOND / server_rate)
        return 0
