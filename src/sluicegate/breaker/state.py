"""Circuit breaker: the state machine, pure and synchronous, one per provider/model endpoint.

When an endpoint is failing, sending it more requests only burns time, rate limit and
retries, and adds load to a server that is trying to recover. A breaker watches the
outcomes of calls to one endpoint and, once enough of them fail, *opens*: calls fail at
once with :class:`CircuitOpenError` (which the fallback stage turns into a call to the next
model) until a break has passed. Then it is *half-open*: a configured number of probe calls
go through, and their outcome decides: all succeed, the circuit closes; one fails, it opens
for another break.

The rules, as resilience4j and Polly apply them:

- **Sliding time window with a minimum throughput.** Outcomes are counted over the last
  ``window_s`` seconds, and the circuit can only open once the window holds at least
  ``min_throughput`` calls, so two failures out of three calls at 3 a.m. do not take a
  model offline. The window is a ring of ``window_buckets`` counters (bucketed, not a list
  of every call), so recording an outcome is O(1) and memory is constant however busy the
  endpoint is. The window is "the current bucket and the ``window_buckets - 1`` before it",
  bucket ``k`` holding the outcomes recorded at times in ``[k·w, (k+1)·w)`` with
  ``w = window_s / window_buckets`` (:func:`bucket_of`).
- **Failure ratio.** After each outcome is recorded, the circuit opens when
  ``failures / calls >= failure_ratio`` over the window. Slow calls (longer than
  ``slow_call_s``) count as failures: an endpoint that answers in 90 s is as unusable as one
  that answers 503.
- **Only the endpoint's failures count.** Retryable provider errors (5xx, 408),
  timeouts, transport errors, malformed answers and cut streams are failures. Errors that
  are the caller's fault (400, 401, 403, 404, 422, ``insufficient_quota``) say nothing
  about the endpoint's health, so they count neither as failure nor as success; neither do
  cancellations, nor rate limiting (a 429, or a stream's ``rate_limit_error`` event): that
  is the endpoint asking this client to slow down, which the retry stage's waits and the
  rate-limit stage answer, not a sign it is down. Counted as failures, a client's own
  burst over its quota would open the circuit and turn backpressure into a 30 s outage
  (and, with fallbacks, move its whole load to the next model).
- **Generations.** Every transition starts a new *generation*; :meth:`CircuitBreaker.acquire`
  hands each admitted call its generation as a token, and an outcome whose token is not the
  current generation is ignored. So a call that started before the circuit opened and fails
  late cannot extend the break, cannot count against the half-open probes and cannot reopen
  a circuit that has since closed; a late success cannot close a circuit either.

Time is read from the injected :class:`~sluicegate.clock.Clock`, so tests drive the
breaker through minutes of virtual time. The breaker holds no lock: every method runs to
completion without awaiting, and the chain runs on one event loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from sluicegate.breaker.errors import CircuitOpenError
from sluicegate.breaker.policy import BreakerPolicy
from sluicegate.clock import Clock


class CircuitState(Enum):
    """Where a circuit is: passing calls, failing them fast, or probing."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


_CLOSED = CircuitState.CLOSED
_OPEN = CircuitState.OPEN
_HALF_OPEN = CircuitState.HALF_OPEN


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """A breaker's state at one moment, for tests, metrics and debugging."""

    state: CircuitState
    generation: int
    calls: int
    failures: int
    open_until: float | None
    probes_in_flight: int
    probe_successes: int
    times_opened: int


_NO_BUCKET = -(1 << 62)


def bucket_of(now: float, width: float) -> int:
    """The window bucket ``k`` that ``now`` falls in: ``k*width <= now < (k+1)*width``,
    both products computed in floating point. Float ``//`` can disagree with that product
    at a boundary, so its answer is corrected; the breaker's hot path compares ``now``
    with ``(k+1)*width`` only, and this keeps both definitions the same."""
    k = int(now // width)
    # One step either way is enough: ``//`` is at most one off the rounded products.
    if now >= (k + 1) * width:
        k += 1
    elif now < k * width:
        k -= 1
    return k


TransitionHook = Callable[["CircuitBreaker", CircuitState, CircuitState], None]


class CircuitBreaker:
    """The state machine for one endpoint (see the module docstring for the rules).

    Use: ``token = breaker.acquire()``; None means rejected (raise :meth:`rejection`);
    otherwise make the call and then report exactly one of ``record(token, failed=...)``
    or ``release(token)`` (no outcome: cancelled, or the caller's fault).
    """

    __slots__ = (
        "_bucket_calls",
        "_bucket_end",
        "_bucket_failures",
        "_bucket_s",
        "_buckets",
        "_calls",
        "_clock",
        "_failures",
        "_generation",
        "_head",
        "_min_throughput",
        "_on_transition",
        "_open_until",
        "_policy",
        "_probe_successes",
        "_probes_in_flight",
        "_ratio",
        "_reason",
        "_slot",
        "_slow",
        "_state",
        "_times_opened",
        "name",
    )

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy,
        clock: Clock,
        on_transition: TransitionHook | None = None,
    ) -> None:
        self.name = name
        self._policy = policy
        self._clock = clock
        self._on_transition = on_transition
        self._state = _CLOSED
        self._generation = 0
        self._open_until = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._times_opened = 0
        self._reason = ""
        self._min_throughput = policy.min_throughput
        self._ratio = policy.failure_ratio
        self._slow = policy.slow_call_s
        self._buckets = policy.window_buckets
        self._bucket_s = policy.window_s / policy.window_buckets
        self._bucket_calls = [0] * policy.window_buckets
        self._bucket_failures = [0] * policy.window_buckets
        self._head = _NO_BUCKET
        self._bucket_end = -math.inf
        self._slot = 0
        self._calls = 0
        self._failures = 0

    @property
    def policy(self) -> BreakerPolicy:
        return self._policy

    # -- admitting calls ------------------------------------------------------------------

    def acquire(self) -> int | None:
        """Admit a call: its token (the current generation), or None to fail it fast.

        Closed: always admitted, without reading the clock (the hot path). Open: rejected
        until the break has passed, then the circuit turns half-open. Half-open: admitted
        while fewer than ``half_open_probes`` probes are in flight or have succeeded.
        """
        if self._state is _CLOSED:
            return self._generation
        if self._state is _OPEN:
            if self._clock.now() < self._open_until:
                return None
            self._transition(_HALF_OPEN)
        if self._probes_in_flight + self._probe_successes >= self._policy.half_open_probes:
            return None
        self._probes_in_flight += 1
        return self._generation

    # -- outcomes -------------------------------------------------------------------------

    def record(self, token: int, failed: bool, started: float | None = None) -> None:
        """Report how an admitted call ended. ``started`` (the clock time the call began)
        lets a successful call that took longer than ``slow_call_s`` count as a failure.
        A token from an earlier generation is ignored (see the module docstring)."""
        if token != self._generation:
            return
        now = self._clock.now()
        if started is not None and not failed and self._slow is not None:
            failed = now - started > self._slow
        if self._state is not _CLOSED:
            self._record_probe(failed, now)
            return
        # The closed-circuit path, inlined: it runs once per call.
        if now >= self._bucket_end:
            self._advance(now)
        slot = self._slot
        self._bucket_calls[slot] += 1
        calls = self._calls = self._calls + 1
        if failed:
            self._bucket_failures[slot] += 1
            self._failures += 1
        if calls >= self._min_throughput and self._failures / calls >= self._ratio:
            self._reason = (
                f"{self._failures} of {calls} calls failed in the last {self._policy.window_s:g}s"
            )
            self._open(now)

    def _record_probe(self, failed: bool, now: float) -> None:
        if self._state is not _HALF_OPEN:
            return  # unreachable: an open circuit admits no call of its generation
        self._probes_in_flight -= 1
        if failed:
            self._reason = "a half-open probe failed"
            self._open(now)
        else:
            self._probe_successes += 1
            if self._probe_successes >= self._policy.half_open_probes:
                self._transition(_CLOSED)

    def trip(self, until: float, reason: str) -> bool:
        """Open the circuit until ``until`` (the clock's time) because another process
        sharing the endpoint saw it fail (see :mod:`sluicegate.breaker.shared`). A
        circuit already open for longer is left as it is. Returns whether it opened."""
        if self._state is _OPEN and self._open_until >= until:
            return False
        self._reason = reason
        self._open_until = until
        self._times_opened += 1
        self._transition(_OPEN)
        return True

    def release(self, token: int) -> None:
        """Report that an admitted call ended without an outcome that says anything about
        the endpoint (cancelled, or an error that is the caller's fault). A half-open probe
        slot is given back, so a cancelled probe cannot leave the circuit half-open forever."""
        if token == self._generation and self._state is _HALF_OPEN:
            self._probes_in_flight -= 1

    # -- reading the state ----------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The state as the next call would find it: an open circuit whose break has passed
        reads as half-open (the transition itself happens on the next :meth:`acquire`)."""
        if self._state is _OPEN and self._clock.now() >= self._open_until:
            return _HALF_OPEN
        return self._state

    def snapshot(self) -> BreakerSnapshot:
        """The counters as of now (buckets that have slid out of the window dropped)."""
        if self._state is _CLOSED and self._head != _NO_BUCKET:
            now = self._clock.now()
            if now >= self._bucket_end:
                self._advance(now)
        return BreakerSnapshot(
            state=self._state,
            generation=self._generation,
            calls=self._calls,
            failures=self._failures,
            open_until=self._open_until if self._state is _OPEN else None,
            probes_in_flight=self._probes_in_flight,
            probe_successes=self._probe_successes,
            times_opened=self._times_opened,
        )

    def rejection(self, provider: str, model: str) -> CircuitOpenError:
        """The error for a call :meth:`acquire` turned away, saying when to try again."""
        if self._state is _OPEN:
            wait = max(self._open_until - self._clock.now(), 0.0)
            return CircuitOpenError(
                f"{self._reason}; failing fast for {wait:.3g}s more, then probing",
                provider=provider,
                model=model,
                state=_OPEN,
                until=self._open_until,
                retry_after=wait,
            )
        return CircuitOpenError(
            f"half-open: all {self._policy.half_open_probes} probe calls are in flight; "
            "the circuit closes if they succeed",
            provider=provider,
            model=model,
            state=_HALF_OPEN,
            until=None,
            retry_after=None,
        )

    # -- internals ------------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        """Make the bucket of ``now`` the newest, emptying the ones that slid out of the
        window. Amortised O(1): each bucket is emptied once per ``window_s / window_buckets``.
        (A time before the newest bucket's end, which a monotonic clock never gives after
        a later one, simply counts into the newest bucket.)"""
        index = bucket_of(now, self._bucket_s)
        if index - self._head >= self._buckets:
            self._clear_window()
        else:
            calls, failures, size = self._bucket_calls, self._bucket_failures, self._buckets
            for i in range(self._head + 1, index + 1):
                slot = i % size
                self._calls -= calls[slot]
                self._failures -= failures[slot]
                calls[slot] = 0
                failures[slot] = 0
        self._head = index
        self._slot = index % self._buckets
        self._bucket_end = (index + 1) * self._bucket_s

    def _clear_window(self) -> None:
        for slot in range(self._buckets):
            self._bucket_calls[slot] = 0
            self._bucket_failures[slot] = 0
        self._calls = 0
        self._failures = 0

    def _open(self, now: float) -> None:
        self._open_until = now + self._policy.break_s
        self._times_opened += 1
        self._transition(_OPEN)

    def _transition(self, new: CircuitState) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._clear_window()
        self._head = _NO_BUCKET
        self._bucket_end = -math.inf
        if self._on_transition is not None:
            self._on_transition(self, old, new)
