"""The rate actually sent to a model: found from the server's refusals, under any
configured limit.

A configured limit (``--rpm``, :class:`~sluicegate.limits.Limit`) is an upper bound, not
a promise: the server's real limiter may be smaller (another client shares the key, a
relay in front enforces its own per-second limit), so every model also has this
:class:`AdaptiveRate`, a paced rate that 429s lower and successes raise, never above the
configured rate. Limiters in the wild are per second with tiny bursts (nginx
``limit_req``, API gateways, OpenAI's "quantized" per-minute limits), and the only signal
many of them give is a bare 429: no rate-limit headers, no Retry-After.

Phases
    - *Dormant* (``rate`` is None): nothing paced, the admissions only counted (cheaply, a
      clock read every 32nd), so a server that never pushes back costs nothing. Models
      with a configured rate start here: the configured bucket already paces them.
    - *Slow start*: a model with no configured rate starts paced at ``initial_rps`` and
      doubles its rate every round trip (at least ``slow_start_period_s``) while the pace
      is what holds requests back, as TCP does, so the first requests of a run never
      leave as one burst of ``concurrency`` (against nginx's burst of 2, 32 at once are 29
      refusals). Once the pace stops holding anything back for a second (the caller or the
      server's latency is the bound), it goes dormant again. After a 429 storm it ramps
      back the same way, up to the rate that worked before the storm.
    - *Avoidance*: after a congestion signal the rate is cut to just under what the
      server let through and climbs back linearly, ``increase`` times the cut rate per
      second while requests are held back, to find out whether more is allowed now.

What a 429 means
    - A 429 that names no wait (no Retry-After, or 0) is the only thing such a limiter
      says: it is congestion, the rate is cut; in slow start, with no limit known yet,
      only a second one within two round trips is (one alone stops the doubling for a
      round trip), so a lone refusal early in a run costs its retry, not the run's
      pace. A 429 for a request admitted before the
      last cut is the same congestion seen late and changes nothing (TCP's once per
      window), so a burst of refusals in flight cuts once.
    - A 429 that names a wait is the server's answer for that request, which the retry
      stage honours; it is congestion only when such refusals are more than
      ``refusal_share`` of the requests lately (plus three standard deviations of chance,
      and at least two): a server refusing a fifth of requests at random, whatever the
      rate, must not shrink the rate to nothing. When they are congestion, the model is
      held for the named wait.
    - The cut: to ``0.9`` of the rate that succeeded over the last two seconds (what
      the limiter let through while the client was over it), but never by more than three
      quarters and never by less than 5% of the rate being sent, so one refusal after a
      long quiet spell costs a tenth and a rate twice the limiter's is cut under it at
      once.
    - A storm (``storm_refusals`` refusals with no success in between): the model is held
      for a pause that doubles per storm (1 s up to 30 s, or the named wait) instead of
      cutting the rate again and again to its floor, and the rate it had is kept for the
      ramp back once an answer comes.
    - Rate-limit headers (OpenAI's ``x-ratelimit-*``, Anthropic's): when ``remaining``
      falls under ``low_remaining`` of ``limit`` the rate is capped at the server's refill
      rate before any 429, and when nothing remains the model is held for one refill.

Time is integer nanoseconds from the stage (the injected clock); nothing here reads a
clock except the dormant admission count, through :func:`~sluicegate.limits.gate.now_ns`.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Final

from sluicegate.clock import Clock
from sluicegate.limits.config import Adaptive
from sluicegate.limits.dimensions import REQUESTS, _describe
from sluicegate.limits.gate import now_ns as clock_ns
from sluicegate.limits.gcra import NS_PER_SECOND, Gcra
from sluicegate.limits.headers import LimitReading, ServerLimits

if TYPE_CHECKING:
    from sluicegate.limits.gate import Waiter

__all__ = ["AdaptiveRate", "Reaction"]

_MILLI = 1000
_PERIOD_NS = _MILLI * NS_PER_SECOND
"""The bucket counts milli-requests per second: rate r is ``round(r * 1000)`` per 1000 s."""
_MIN_REFUSALS = 2
_WINDOW_ADMISSIONS = 16
_BIN_NS: Final = NS_PER_SECOND // 4
_BINS: Final = 8
"""Successes are counted in quarter-second bins over the last two seconds."""
_MIN_ACCEPTED = 4
"""Fewer successes than this in the window say too little about the server's rate."""
_IDLE_NS: Final = NS_PER_SECOND
"""Slow start without a held-back request for this long: the pace binds nothing."""
_STORM_PAUSE_NS: Final = NS_PER_SECOND
_STORM_PAUSE_MAX_NS: Final = 30 * NS_PER_SECOND
_CUT_TO: Final = 0.9
"""A cut lands at this share of what got through: far enough under the limiter's rate
that the climb back takes a few seconds (each return to the limit costs a refusal),
close enough to keep the average near the limit."""
_STORM_BUILDING: Final = 3
"""Past this many refusals in a row the rate is no longer cut: either the cut so far
works and answers come, or it is a storm and the pause handles it (cutting at every
refusal of a storm would leave the rate at its floor when the storm ends)."""
_APP_LIMITED: Final = 2.0
"""A pace this many times what is being admitted binds nothing: it does not grow further
(as TCP does not grow a window the sender does not fill, RFC 7661). Without this, the few
admissions that arrive close together at any rate keep "holding" requests, and slow start
doubles the rate every round trip for as long as the run lasts: to infinity after ~100 s."""
_SLOW_START, _AVOIDANCE = 1, 2


class Reaction:
    """What a 429 did: whether it was congestion, whether the rate was cut, and how long
    the model is to be held (nanoseconds, 0: not held)."""

    __slots__ = ("congestion", "cut", "hold_ns", "storm")

    def __init__(self, congestion: bool, cut: bool, hold_ns: int, storm: bool) -> None:
        self.congestion = congestion
        self.cut = cut
        self.hold_ns = hold_ns
        self.storm = storm


_IGNORED = Reaction(False, False, 0, False)


class AdaptiveRate:
    """One model's sent rate: a gate dimension (kind REQUESTS) and its controller.

    ``take`` returns a mark, ``sequence * 2 + held``: the admission's place in line and
    whether the pace held it back; the stage hands it back to :meth:`rate_limited` and
    :meth:`succeeded`. ``ceiling`` is the configured request rate (per second) it never
    exceeds, None if there is none.
    """

    __slots__ = (
        "_bins",
        "_bins_head",
        "_bucket",
        "_clock",
        "_count",
        "_counted_ns",
        "_cut_at",
        "_followed_ns",
        "_grown_ns",
        "_held_ns",
        "_max",
        "_min",
        "_paused_until_ns",
        "_phase",
        "_previous",
        "_previous_admitted",
        "_previous_refused",
        "_refused",
        "_rtt_ns",
        "_scale",
        "_sequence",
        "_settings",
        "_slow_refusal_ns",
        "_storm_pause_ns",
        "_streak",
        "_streak_rate",
        "_target",
        "_window_first",
        "_window_first_ns",
        "_window_start",
        "ceiling",
        "kind",
        "label",
        "last_cut",
        "line",
        "own_cuts",
        "rate",
        "storms",
        "tokens_per_request",
    )

    def __init__(
        self,
        label: str,
        settings: Adaptive,
        clock: Clock,
        *,
        ceiling: float | None = None,
        slow_start: bool = False,
    ) -> None:
        self.kind = REQUESTS
        self.label = label
        self.line: deque[Waiter] = deque()
        self._clock = clock
        self._settings = settings
        self.ceiling = ceiling
        self._min = settings.min_rpm / 60.0
        top = settings.max_rpm / 60.0 if settings.max_rpm is not None else math.inf
        self._max = min(top, ceiling) if ceiling is not None else top
        self._bucket: Gcra | None = None
        self.rate: float | None = None
        """Allowed requests per second, or None while dormant."""
        self._phase = _SLOW_START
        self._target = math.inf
        """Where slow start hands over to avoidance (the rate before a storm)."""
        self._scale = 0.0
        """The rate at the last cut: avoidance climbs ``increase * scale`` per second."""
        self._sequence = 0
        self._cut_at = 0
        self._grown_ns = -1
        self._held_ns = -1
        """When the pace last held a request back (slow start sleeps after a second
        without)."""
        self._rtt_ns = 0
        self._streak = 0
        self._streak_rate: float | None = None
        """Refusals since the last success (a storm when it reaches storm_refusals)."""
        self._storm_pause_ns = _STORM_PAUSE_NS
        self.storms = 0
        self._slow_refusal_ns = -1
        self._paused_until_ns = 0
        # successes per quarter second over the last two seconds
        self._bins = [0] * _BINS
        self._bins_head = -1
        self._counted_ns = 0
        # admissions over the last second (the demand, while dormant)
        self._window_start = -2 * NS_PER_SECOND
        self._count = 0
        self._previous = 0.0
        # refusals against admissions for the share test (named waits only)
        self._window_first = 0
        self._window_first_ns = 0
        self._refused = 0
        self._previous_admitted = 0.0
        self._previous_refused = 0.0
        self.tokens_per_request = 0.0
        """Average tokens of a settled request (EWMA), to turn token headers into a rate."""
        self.last_cut = 1.0
        """The factor of the last cut this rate made itself (what other processes
        sharing the model follow, see :meth:`follow_cut`)."""
        self.own_cuts = 0
        """Cuts this rate made on its own congestion signals (not followed ones)."""
        self._followed_ns = -1
        if slow_start:
            self._apply(min(settings.initial_rps, self._max), 0)

    def __repr__(self) -> str:
        return _describe(self)

    @property
    def phase(self) -> str:
        """``"dormant"``, ``"slow start"`` or ``"avoidance"`` (for logs and tests)."""
        if self.rate is None:
            return "dormant"
        return "slow start" if self._phase == _SLOW_START else "avoidance"

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

    # -- measurements ------------------------------------------------------------------------

    def measured_rate(self, now_ns: int) -> float:
        """Requests per second admitted lately: this window's count over its length once
        it is a second long, else blended with the previous window's rate. A window of
        less than a tenth of a second is too short to time anything: its count is taken
        as a tenth of a second's (so a first 429 at the very start cannot read a rate of
        almost nothing and collapse the model to its floor)."""
        elapsed = now_ns - self._window_start
        if elapsed >= NS_PER_SECOND:
            return self._count * NS_PER_SECOND / elapsed
        if self._previous <= 0.0:
            return self._count * NS_PER_SECOND / max(elapsed, NS_PER_SECOND // 10)
        fraction = max(elapsed / NS_PER_SECOND, 0.0)
        return self._previous * (1.0 - fraction) + self._count

    def _count_success(self, now_ns: int) -> None:
        head = now_ns // _BIN_NS
        last = self._bins_head
        bins = self._bins
        if head != last:
            if last < 0 or head - last >= _BINS:
                for i in range(_BINS):
                    bins[i] = 0
                self._counted_ns = now_ns
            else:
                for i in range(last + 1, head + 1):
                    bins[i % _BINS] = 0
            self._bins_head = head
        bins[head % _BINS] += 1

    def accepted_rate(self, now_ns: int) -> float | None:
        """Successes per second over the last two seconds (less at the start), or None
        when too few to say: while the client is above the server's limit, this is the
        limiter's own rate."""
        head = now_ns // _BIN_NS
        last = self._bins_head
        if last < 0 or head - last >= _BINS:
            return None
        oldest = head - _BINS + 1
        total = 0
        for i in range(oldest, head + 1):
            if i > last:
                break
            total += self._bins[i % _BINS]
        if total < _MIN_ACCEPTED:
            return None
        # from the start of the oldest bin (or since counting began, if later) to now:
        # the newest bin has only partly elapsed
        span = now_ns - max(oldest * _BIN_NS, self._counted_ns)
        if span < _BIN_NS:
            return None
        return total * NS_PER_SECOND / span

    # -- the controller ----------------------------------------------------------------------

    def _apply(self, rate: float, now_ns: int) -> None:
        rate = min(max(rate, self._min), self._max)
        self.rate = rate
        units = max(1, round(rate * _MILLI))
        burst = max(1, int(rate * self._settings.burst_s))
        if self._bucket is None:
            self._bucket = Gcra(units, _PERIOD_NS, burst)
            if now_ns > 0:
                # engaged by a refusal: what was just sent has spent the burst, so the
                # next request waits one interval (a full bucket would let a burst more
                # into the limiter that just refused)
                self._bucket.charge(burst, now_ns)
        else:
            self._bucket.set_rate(units, _PERIOD_NS, burst, now_ns)

    def _sleep(self) -> None:
        """Back to dormant: the pace has held nothing back for a while."""
        self.rate = None
        self._bucket = None
        self._phase = _SLOW_START
        self._target = math.inf
        self._held_ns = -1

    def _congested_share(self, now_ns: int) -> bool:
        """Count a refusal that named a wait; whether such refusals are now more than
        ``refusal_share`` of the admissions over the last second or two (see the module
        docstring). O(1): counters only."""
        self._refused += 1
        share = self._settings.refusal_share
        refused = self._refused + self._previous_refused
        expected = share * (self._sequence - self._window_first + self._previous_admitted)
        congested = share == 0.0 or (
            refused >= _MIN_REFUSALS and refused > expected + 3.0 * math.sqrt(expected)
        )
        elapsed = now_ns - self._window_first_ns
        admitted = self._sequence - self._window_first
        if elapsed >= NS_PER_SECOND and admitted >= _WINDOW_ADMISSIONS:
            weight = min(1.0, max(2 * NS_PER_SECOND / elapsed, _WINDOW_ADMISSIONS / admitted))
            self._previous_admitted = admitted * weight
            self._previous_refused = self._refused * weight
            self._window_first = self._sequence
            self._window_first_ns = now_ns
            self._refused = 0
        return congested

    def _restart_share(self, now_ns: int) -> None:
        self._window_first = self._sequence
        self._window_first_ns = now_ns
        self._refused = 0
        self._previous_admitted = 0.0
        self._previous_refused = 0.0

    def rate_limited(self, mark: int, now_ns: int, wait_ns: int | None) -> Reaction:
        """A 429 for the request whose admission returned ``mark``; ``wait_ns`` is the
        wait it named (None or 0: none). Says what it did (see :class:`Reaction`)."""
        self._streak += 1
        if self._streak == 1:
            self._streak_rate = self.rate  # what to ramp back to if this becomes a storm
        named = wait_ns is not None and wait_ns > 0
        if self._streak % self._settings.storm_refusals == 0:
            return self._storm(now_ns, wait_ns if named else None)
        if self._streak > _STORM_BUILDING:
            return _IGNORED  # refusals in a row: a storm builds, cutting again won't help
        if mark >> 1 <= self._cut_at:
            return _IGNORED  # sent before the last cut: the same congestion, seen late
        if named and not self._congested_share(now_ns):
            return _IGNORED  # sporadic: the retry honours its wait, the rate stands
        if not named and self._phase == _SLOW_START and self.ceiling is None:
            # nothing is known of a limit yet: one refusal only stops the doubling for a
            # round trip; a second within two round trips is the limit (an overshoot
            # refuses every other request, so it comes at once)
            period = self._period_ns()
            first = self._slow_refusal_ns
            if first < 0 or now_ns - first > 2 * period or self.accepted_rate(now_ns) is None:
                # (and before a quarter second of answers nothing can be measured to
                # cut to: the doubling only stops)
                self._slow_refusal_ns = now_ns
                self._paused_until_ns = now_ns + period
                return _IGNORED
        self._cut(now_ns)
        return Reaction(True, True, wait_ns if named and wait_ns else 0, False)

    def _basis(self, now_ns: int) -> float:
        """The rate a cut starts from: the pace, or while dormant what is being sent."""
        basis = self.rate
        if basis is None:
            basis = self.measured_rate(now_ns)
            if self.ceiling is not None:
                basis = min(basis, self.ceiling)
        return max(basis, self._min)

    def _cut(self, now_ns: int) -> None:
        basis = self._basis(now_ns)
        accepted = self.accepted_rate(now_ns)
        if accepted is None:
            target = basis * self._settings.decrease
        else:
            target = min(max(_CUT_TO * accepted, 0.25 * basis), 0.95 * basis)
        self.last_cut = target / basis
        self.own_cuts += 1
        self._cut_to(target, now_ns)

    def follow_cut(self, factor: float, now_ns: int) -> bool:
        """Another process that shares this model's limits saw congestion and cut its
        rate by ``factor``: the limiter they share is over for this one too, so cut by
        as much (kept within the cut's own bounds). One cut per second at most, own or
        followed: processes that saw the same burst of refusals cut once, as TCP flows
        through one bottleneck do. Returns whether it cut."""
        if self._followed_ns >= 0 and now_ns - self._followed_ns < NS_PER_SECOND:
            return False
        basis = self._basis(now_ns)
        self._cut_to(basis * min(max(factor, 0.25), 0.95), now_ns)
        return True

    def _cut_to(self, target: float, now_ns: int) -> None:
        self._followed_ns = now_ns
        self._scale = target
        self._phase = _AVOIDANCE
        self._target = math.inf
        self._apply(target, now_ns)
        self._cut_at = self._sequence
        self._grown_ns = now_ns
        self._restart_share(now_ns)

    def _storm(self, now_ns: int, wait_ns: int | None) -> Reaction:
        """Every request refused lately: hold the model for a doubling pause instead of
        cutting the rate to its floor; keep what the rate was for the ramp back."""
        pause = self._storm_pause_ns
        self._storm_pause_ns = min(pause * 2, _STORM_PAUSE_MAX_NS)
        self.storms += 1
        basis = self.rate
        if basis is None:
            basis = self.measured_rate(now_ns)
            if self.ceiling is not None:
                basis = min(basis, self.ceiling)
        if self._target == math.inf:
            before = self._streak_rate
            self._target = max(before if before is not None else basis, self._min)
        # halved too: a limiter that refuses everything at this rate may take half of it
        self._phase = _AVOIDANCE
        self._scale = basis * 0.5
        self._apply(basis * 0.5, now_ns)
        self._cut_at = self._sequence
        self._restart_share(now_ns)
        return Reaction(True, False, max(pause, wait_ns or 0), True)

    def succeeded(self, held: bool, tokens: int, now_ns: int, latency_ns: int = 0) -> bool:
        """A success; ``held``: the pace held the request back (it waited, or its mark's
        low bit is set). Returns whether the rate went up (waiters should look again)."""
        if tokens > 0:
            average = self.tokens_per_request
            self.tokens_per_request = tokens if average == 0.0 else average * 0.9 + tokens * 0.1
        self._streak = 0
        rate = self.rate
        if rate is None:
            return False
        if self._storm_pause_ns != _STORM_PAUSE_NS:
            # the first answer after a storm: ramp back up to the rate that worked before,
            # from half of it, doubling per round trip
            self._storm_pause_ns = _STORM_PAUSE_NS
            if self._target < math.inf and rate < self._target:
                self._phase = _SLOW_START
        self._count_success(now_ns)
        if latency_ns > 0:
            self._rtt_ns = latency_ns if not self._rtt_ns else (self._rtt_ns * 7 + latency_ns) // 8
        grown = self._grown_ns
        self._grown_ns = now_ns
        if self._held_ns < 0:
            self._held_ns = now_ns  # the first answer starts the idle count
        if not held:
            if (
                self._phase == _SLOW_START
                and self.ceiling is None
                and self._target == math.inf
                and now_ns - self._held_ns > _IDLE_NS
            ):
                self._sleep()
            return False
        self._held_ns = now_ns
        if rate >= self._max or grown < 0:
            return False
        if rate >= _APP_LIMITED * self.measured_rate(now_ns):
            return False  # far above the demand: a higher pace would test nothing
        elapsed = now_ns - grown
        if elapsed <= 0:
            return False
        if self._phase == _SLOW_START:
            if now_ns < self._paused_until_ns:
                return False  # a refusal a moment ago: no doubling for a round trip
            period = self._period_ns()
            new = rate * 2.0 ** (min(elapsed, period) / period)
            if new >= self._target:
                new = self._target
                self._phase = _AVOIDANCE
                self._scale = new
                self._target = math.inf
        else:
            if rate >= self._scale:
                self._scale = rate
            step = min(elapsed, NS_PER_SECOND) / NS_PER_SECOND
            new = rate + self._settings.increase * self._scale * step
        self._apply(new, now_ns)
        return True

    def _period_ns(self) -> int:
        """One round trip (at least ``slow_start_period_s``): slow start's doubling time."""
        return max(self._rtt_ns, round(self._settings.slow_start_period_s * NS_PER_SECOND))

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
            self._phase = _AVOIDANCE
            self._target = math.inf
            self._apply(rate, now_ns)
        if remaining < per_request:
            return round((per_request - remaining) * NS_PER_SECOND / server_rate)
        return 0
