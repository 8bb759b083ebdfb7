"""The circuit breaker's state machine, checked against a brute-force reference model.

The stateful test drives the breaker and a deliberately simple model (a plain list of every
outcome, the window recomputed from scratch) through random interleavings of time passing,
calls starting, and calls ending in success, failure, slowness or no outcome, and checks
after every step that both agree, plus three properties stated on their own:

- no trip below the minimum throughput (the circuit only opens when the window held at
  least ``min_throughput`` calls, counting the one that tripped it);
- exactly N half-open probes (never more than ``half_open_probes`` admitted or succeeded
  at once, and a burst of requests after the break admits exactly the free slots);
- late failures do not extend the break (an outcome from a call that started before the
  last transition changes nothing: not the state, not ``open_until``, not the counts);
- rate limiting is no outcome: a call ending in a 429 or a stream's rate-limit event,
  classified by :func:`counts_as_failure` as the stage classifies it, changes no count and
  no state, and gives a half-open probe slot back.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from sluicegate.breaker import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    counts_as_failure,
)
from sluicegate.breaker.state import bucket_of
from sluicegate.clock import FakeClock
from sluicegate.errors import (
    AuthenticationError,
    ConfigError,
    ProviderError,
    RateLimitedError,
    RequestTimeoutError,
    ResponseFormatError,
    StreamError,
    TransportError,
)

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


# -- the reference model -------------------------------------------------------------------


@dataclass
class Reference:
    """The rules written as plainly as possible: every outcome kept in a list."""

    policy: BreakerPolicy
    state: CircuitState = CLOSED
    generation: int = 0
    open_until: float = 0.0
    outcomes: list[tuple[float, bool]] = field(default_factory=list)
    probes_in_flight: int = 0
    probe_successes: int = 0

    def bucket(self, t: float) -> int:
        """k with k·w <= t < (k+1)·w, the products in floating point."""
        w = self.policy.window_s / self.policy.window_buckets
        k = math.floor(t / w)
        while (k + 1) * w <= t:
            k += 1
        while k * w > t:
            k -= 1
        return k

    def window(self, now: float) -> tuple[int, int]:
        newest = self.bucket(now)
        kept = [f for t, f in self.outcomes if self.bucket(t) > newest - self.policy.window_buckets]
        return len(kept), sum(kept)

    def effective_state(self, now: float) -> CircuitState:
        if self.state is OPEN and now >= self.open_until:
            return HALF_OPEN
        return self.state

    def acquire(self, now: float) -> int | None:
        if self.state is CLOSED:
            return self.generation
        if self.state is OPEN:
            if now < self.open_until:
                return None
            self._become(HALF_OPEN)
        if self.probes_in_flight + self.probe_successes >= self.policy.half_open_probes:
            return None
        self.probes_in_flight += 1
        return self.generation

    def record(self, generation: int, failed: bool, started: float, now: float) -> None:
        if generation != self.generation:
            return
        slow = self.policy.slow_call_s
        failed = failed or (slow is not None and now - started > slow)
        if self.state is CLOSED:
            self.outcomes.append((now, failed))
            calls, failures = self.window(now)
            if (
                calls >= self.policy.min_throughput
                and failures / calls >= self.policy.failure_ratio
            ):
                self._open(now)
        elif self.state is HALF_OPEN:
            self.probes_in_flight -= 1
            if failed:
                self._open(now)
            else:
                self.probe_successes += 1
                if self.probe_successes == self.policy.half_open_probes:
                    self._become(CLOSED)

    def release(self, generation: int) -> None:
        if generation == self.generation and self.state is HALF_OPEN:
            self.probes_in_flight -= 1

    def _open(self, now: float) -> None:
        self.open_until = now + self.policy.break_s
        self._become(OPEN)

    def _become(self, state: CircuitState) -> None:
        self.state = state
        self.generation += 1
        self.outcomes = []
        self.probes_in_flight = 0
        self.probe_successes = 0


@dataclass
class Call:
    token: int
    generation: int
    started: float


policies = st.builds(
    BreakerPolicy,
    window_s=st.sampled_from([5.0, 10.0, 30.0]),
    min_throughput=st.integers(1, 6),
    failure_ratio=st.sampled_from([0.1, 0.25, 0.3, 0.5, 0.6, 0.75, 1.0]),
    slow_call_s=st.sampled_from([None, 1.0, 2.5]),
    break_s=st.sampled_from([0.0, 1.0, 5.0, 30.0]),
    half_open_probes=st.integers(1, 4),
    window_buckets=st.integers(1, 6),
)


ERRORS: list[BaseException] = [
    ProviderError("x", provider="p", model="m", status=503, retryable=True),
    RateLimitedError("x", provider="p", model="m", status=429, retryable=True),
    RateLimitedError("x", provider="p", model="m", status=429, error_type="rate_limit_error"),
    StreamError("x", provider="p", model="m", status=200, error_type="rate_limit_error"),
    StreamError("x", provider="p", model="m", status=200, error_type="overloaded_error"),
    RequestTimeoutError("x", provider="p", model="m", retryable=True),
    AuthenticationError("x", provider="p", model="m", status=401),
]
"""Errors a call may end with: failures, rate limiting and the caller's own mistakes."""


class BreakerMachine(RuleBasedStateMachine):
    """Random walks through the breaker's life, checked step by step against the model."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(start=1_000.0)
        self.calls: list[Call] = []
        self.transitions: list[tuple[CircuitState, CircuitState]] = []

    @initialize(policy=policies)
    def setup(self, policy: BreakerPolicy) -> None:
        self.policy = policy
        self.breaker = CircuitBreaker(
            "p/m", policy, self.clock, lambda _, a, b: self.transitions.append((a, b))
        )
        self.model = Reference(policy)

    # -- rules ------------------------------------------------------------------------------

    @rule(
        seconds=st.one_of(
            st.sampled_from([0.5, 1.0, 1.5, 2.5, 4.5, 5.0, 10.0, 30.0, 31.0]),
            st.floats(0.0, 40.0, allow_nan=False),
        )
    )
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(seconds=st.sampled_from([0.25, 0.5, 1.0]))
    def a_moment_passes(self, seconds: float) -> None:
        """Short steps, so calls end just under, at and just over the slow-call limit."""
        self.clock.advance(seconds)

    @rule(count=st.integers(1, 6))
    def calls_start(self, count: int) -> None:
        """A burst of calls at one instant; in half-open exactly the free slots get in."""
        now = self.clock.now()
        free = None
        if self.model.effective_state(now) is HALF_OPEN:
            taken = (
                0
                if self.model.state is OPEN
                else (self.model.probes_in_flight + self.model.probe_successes)
            )
            free = self.policy.half_open_probes - taken
        admitted = 0
        for _ in range(count):
            expected = self.model.acquire(now)
            token = self.breaker.acquire()
            assert (token is None) == (expected is None)
            if token is not None and expected is not None:
                admitted += 1
                self.calls.append(Call(token, expected, now))
        if free is not None:
            assert admitted == min(count, free)

    @precondition(lambda self: self.calls)
    @rule(index=st.integers(0, 1_000), failed=st.booleans())
    def call_ends(self, index: int, failed: bool) -> None:
        call = self.calls.pop(index % len(self.calls))
        now = self.clock.now()
        before = self.breaker.snapshot()
        stale = call.generation != self.model.generation
        self.model.record(call.generation, failed, call.started, now)
        self.breaker.record(call.token, failed, call.started)
        after = self.breaker.snapshot()
        if stale:
            # late outcomes change nothing: no extended break, no counts, no transition
            assert after == before
        if before.state is CLOSED and after.state is OPEN:
            # no trip below the minimum throughput
            assert before.calls + 1 >= self.policy.min_throughput

    @precondition(lambda self: self.calls)
    @rule(index=st.integers(0, 1_000), error=st.sampled_from(ERRORS))
    def call_ends_with_an_error(self, index: int, error: BaseException) -> None:
        """As the breaker stage does: an error that counts is a failure, any other error
        releases the call (no outcome)."""
        call = self.calls.pop(index % len(self.calls))
        before = self.breaker.snapshot()
        if counts_as_failure(error):
            self.model.record(call.generation, True, call.started, self.clock.now())
            self.breaker.record(call.token, True, call.started)
        else:
            self.model.release(call.generation)
            self.breaker.release(call.token)
        if isinstance(error, RateLimitedError) or getattr(error, "error_type", None) in (
            "rate_limit_error",
            "rate_limit_exceeded",
        ):
            after = self.breaker.snapshot()
            assert (after.state, after.generation, after.calls, after.failures) == (
                before.state,
                before.generation,
                before.calls,
                before.failures,
            )
            assert after.probe_successes == before.probe_successes

    @precondition(lambda self: self.calls)
    @rule(index=st.integers(0, 1_000))
    def call_ends_without_outcome(self, index: int) -> None:
        call = self.calls.pop(index % len(self.calls))
        before = self.breaker.snapshot()
        self.model.release(call.generation)
        self.breaker.release(call.token)
        after = self.breaker.snapshot()
        assert after.state is before.state and after.calls == before.calls

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def agrees_with_the_model(self) -> None:
        if not hasattr(self, "model"):
            return
        now = self.clock.now()
        assert self.breaker.state is self.model.effective_state(now)
        snap = self.breaker.snapshot()
        assert snap.state is self.model.state
        assert snap.generation == self.model.generation
        if self.model.state is CLOSED:
            assert (snap.calls, snap.failures) == self.model.window(now)
        if self.model.state is OPEN:
            assert snap.open_until == self.model.open_until
        assert snap.probes_in_flight == self.model.probes_in_flight
        assert snap.probe_successes == self.model.probe_successes

    @invariant()
    def never_more_than_n_probes(self) -> None:
        if not hasattr(self, "model"):
            return
        snap = self.breaker.snapshot()
        assert snap.probes_in_flight >= 0
        assert snap.probes_in_flight + snap.probe_successes <= self.policy.half_open_probes

    @invariant()
    def transitions_follow_the_graph(self) -> None:
        allowed = {(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (HALF_OPEN, CLOSED)}
        assert set(self.transitions) <= allowed


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestBreakerStateMachine = BreakerMachine.TestCase


# -- the same properties as plain examples, for reading --------------------------------------


def make(clock: FakeClock | None = None, **options: object) -> tuple[CircuitBreaker, FakeClock]:
    clock = clock or FakeClock(start=0.0)
    return CircuitBreaker("openai/gpt-4o", BreakerPolicy(**options), clock), clock  # type: ignore[arg-type]


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        token = breaker.acquire()
        assert token is not None
        breaker.record(token, True)


def succeed(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        token = breaker.acquire()
        assert token is not None
        breaker.record(token, False)


def test_no_trip_below_minimum_throughput_even_at_100_percent_failures() -> None:
    breaker, _ = make(min_throughput=20)
    fail(breaker, 19)
    assert breaker.state is CLOSED
    fail(breaker)
    assert breaker.state is OPEN


def test_trips_when_the_ratio_reaches_the_threshold() -> None:
    breaker, _ = make(min_throughput=20, failure_ratio=0.5)
    succeed(breaker, 10)
    fail(breaker, 9)
    assert breaker.state is CLOSED
    fail(breaker)  # 10 of 20
    assert breaker.state is OPEN


def test_failures_that_slid_out_of_the_window_do_not_count() -> None:
    breaker, clock = make(min_throughput=4, window_s=30.0, window_buckets=10)
    fail(breaker, 3)
    clock.advance(30.0)
    fail(breaker)
    snap = breaker.snapshot()
    assert breaker.state is CLOSED and (snap.calls, snap.failures) == (1, 1)


def test_an_outcome_at_a_bucket_boundary_counts_in_the_new_bucket() -> None:
    breaker, clock = make(min_throughput=100, window_s=30.0, window_buckets=10)
    fail(breaker)  # t=0: bucket 0
    clock.advance(3.0)
    fail(breaker)  # t=3.0: bucket 1, not 0
    clock.advance(27.0)  # t=30: the window is buckets 1..10
    assert breaker.snapshot().calls == 1


def test_open_circuit_rejects_until_the_break_then_admits_exactly_n_probes() -> None:
    breaker, clock = make(min_throughput=2, break_s=30.0, half_open_probes=3)
    fail(breaker, 2)
    assert breaker.acquire() is None
    clock.advance(29.9)
    assert breaker.acquire() is None
    clock.advance(0.1)
    tokens = [breaker.acquire() for _ in range(5)]
    assert sum(t is not None for t in tokens) == 3
    assert breaker.state is HALF_OPEN
    probes = [t for t in tokens if t is not None]
    for token in probes[:2]:
        breaker.record(token, False)
    assert breaker.state is HALF_OPEN and breaker.acquire() is None
    breaker.record(probes[2], False)
    assert breaker.state is CLOSED
    assert breaker.acquire() is not None


def test_a_failed_probe_reopens_for_a_fresh_break_and_ignores_the_other_probes() -> None:
    breaker, clock = make(min_throughput=1, break_s=10.0, half_open_probes=2)
    fail(breaker)
    clock.advance(10.0)
    first, second = breaker.acquire(), breaker.acquire()
    assert first is not None and second is not None
    clock.advance(2.0)
    breaker.record(first, True)
    snap = breaker.snapshot()
    assert snap.state is OPEN and snap.open_until == 22.0
    breaker.record(second, False)  # from the half-open generation: ignored
    assert breaker.snapshot() == snap


def test_late_failure_from_before_the_circuit_opened_does_not_extend_the_break() -> None:
    breaker, clock = make(min_throughput=2, break_s=30.0)
    early = breaker.acquire()
    assert early is not None
    fail(breaker, 2)
    opened = breaker.snapshot()
    assert opened.open_until == 30.0
    clock.advance(25.0)
    breaker.record(early, True)
    assert breaker.snapshot() == opened
    clock.advance(5.0)
    assert breaker.state is HALF_OPEN


def test_late_failure_does_not_count_against_half_open_probes_or_a_closed_circuit() -> None:
    breaker, clock = make(min_throughput=1, break_s=5.0, half_open_probes=1)
    early = breaker.acquire()
    assert early is not None
    fail(breaker)
    clock.advance(5.0)
    probe = breaker.acquire()
    assert probe is not None
    breaker.record(early, True)
    assert breaker.state is HALF_OPEN
    breaker.record(probe, False)
    assert breaker.state is CLOSED
    breaker.record(early, True)
    assert breaker.state is CLOSED and breaker.snapshot().calls == 0


def test_slow_successes_count_as_failures() -> None:
    breaker, clock = make(min_throughput=2, slow_call_s=5.0)
    for _ in range(2):
        token = breaker.acquire()
        assert token is not None
        started = clock.now()
        clock.advance(5.5)
        breaker.record(token, False, started)
    assert breaker.state is OPEN


def test_a_call_of_exactly_the_slow_limit_is_not_slow() -> None:
    breaker, clock = make(min_throughput=1, slow_call_s=5.0)
    token = breaker.acquire()
    assert token is not None
    started = clock.now()
    clock.advance(5.0)
    breaker.record(token, False, started)
    assert breaker.state is CLOSED and breaker.snapshot().failures == 0


def test_a_released_probe_gives_its_slot_back() -> None:
    breaker, clock = make(min_throughput=1, break_s=1.0, half_open_probes=1)
    fail(breaker)
    clock.advance(1.0)
    probe = breaker.acquire()
    assert probe is not None and breaker.acquire() is None
    breaker.release(probe)
    assert breaker.acquire() is not None


class CountingClock(FakeClock):
    def __init__(self) -> None:
        super().__init__(start=0.0)
        self.reads = 0

    def now(self) -> float:
        self.reads += 1
        return super().now()


def test_closed_success_path_reads_the_clock_once() -> None:
    clock = CountingClock()
    breaker, _ = make(clock)
    token = breaker.acquire()
    assert token is not None
    breaker.record(token, False)
    assert clock.reads == 1


def test_window_memory_is_constant() -> None:
    breaker, clock = make(min_throughput=10**9)
    for _ in range(10_000):
        succeed(breaker)
        clock.advance(0.01)
    assert len(breaker._bucket_calls) == breaker.policy.window_buckets


def test_transition_hook_sees_each_change() -> None:
    seen: list[tuple[str, CircuitState, CircuitState]] = []
    clock = FakeClock(start=0.0)
    breaker = CircuitBreaker(
        "p/m",
        BreakerPolicy(min_throughput=1, break_s=1.0, half_open_probes=1),
        clock,
        lambda b, old, new: seen.append((b.name, old, new)),
    )
    fail(breaker)
    clock.advance(1.0)
    succeed(breaker)
    assert seen == [("p/m", CLOSED, OPEN), ("p/m", OPEN, HALF_OPEN), ("p/m", HALF_OPEN, CLOSED)]


@given(
    now=st.floats(-1e9, 1e9, allow_nan=False),
    width=st.sampled_from([0.1, 1 / 3, 5 / 3, 2.5, 3.0, 30 / 7, 60.0]),
)
def test_bucket_of_puts_a_time_between_its_buckets_bounds(now: float, width: float) -> None:
    k = bucket_of(now, width)
    assert k * width <= now < (k + 1) * width


# -- the error, the failure rule and the policy ------------------------------------------------


def test_rejection_says_when_the_circuit_may_close() -> None:
    breaker, clock = make(min_throughput=2, break_s=30.0, half_open_probes=1)
    fail(breaker, 2)
    clock.advance(12.0)
    error = breaker.rejection("openai", "gpt-4o")
    assert isinstance(error, CircuitOpenError) and isinstance(error, ProviderError)
    assert error.retryable is False
    assert (error.provider, error.model, error.state) == ("openai", "gpt-4o", OPEN)
    assert error.until == 30.0 and error.retry_after == pytest.approx(18.0)
    assert "2 of 2 calls failed" in error.message and "openai/gpt-4o" in error.message
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.until, copy.state, copy.message) == (error.until, error.state, error.message)
    clock.advance(18.0)
    assert breaker.acquire() is not None
    half = breaker.rejection("openai", "gpt-4o")
    assert half.state is HALF_OPEN and half.retry_after is None


@pytest.mark.parametrize(
    ("error", "counts"),
    [
        (ProviderError("x", provider="p", model="m", status=503, retryable=True), True),
        (ProviderError("x", provider="p", model="m", status=529, retryable=True), True),
        (RateLimitedError("x", provider="p", model="m", status=429, retryable=True), False),
        (
            RateLimitedError(
                "x",
                provider="p",
                model="m",
                status=429,
                error_type="rate_limit_exceeded",
                retryable=True,
            ),
            False,
        ),
        (RateLimitedError("x", provider="p", model="m", status=429, retryable=False), False),
        (
            StreamError(
                "x",
                provider="p",
                model="m",
                status=200,
                error_type="rate_limit_error",
                retryable=True,
            ),
            False,
        ),
        (
            StreamError(
                "x",
                provider="p",
                model="m",
                status=200,
                error_type="rate_limit_exceeded",
                retryable=True,
            ),
            False,
        ),
        (
            StreamError(
                "x",
                provider="p",
                model="m",
                status=200,
                error_type="overloaded_error",
                retryable=True,
            ),
            True,
        ),
        (
            ResponseFormatError("x", provider="p", model="m", status=200, retryable=True),
            True,
        ),
        (RequestTimeoutError("x", provider="p", model="m", retryable=True), True),
        (TransportError("x", provider="p", model="m", retryable=True), True),
        (StreamError("x", provider="p", model="m", retryable=True), True),
        (TimeoutError(), True),
        (ProviderError("x", provider="p", model="m", status=400), False),
        (ProviderError("x", provider="p", model="m", status=404), False),
        (AuthenticationError("x", provider="p", model="m", status=401), False),
        (
            RateLimitedError(
                "x", provider="p", model="m", status=429, error_type="insufficient_quota"
            ),
            False,
        ),
        (
            RequestTimeoutError("x", provider="p", model="m", error_type="deadline_exceeded"),
            False,
        ),
        (ConfigError("unknown provider"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_the_endpoints_failures_count(error: BaseException, counts: bool) -> None:
    assert counts_as_failure(error) is counts


def test_policy_from_settings() -> None:
    assert BreakerPolicy.from_setting(None) == BreakerPolicy()
    assert BreakerPolicy.from_setting(True) == BreakerPolicy()
    assert BreakerPolicy.from_setting(False) is None
    policy = BreakerPolicy(break_s=5.0)
    assert BreakerPolicy.from_setting(policy) is policy
    assert BreakerPolicy.from_setting({"min_throughput": 5}) == BreakerPolicy(min_throughput=5)
    with pytest.raises(ConfigError, match="unknown option"):
        BreakerPolicy.from_setting({"threshold": 5})
    with pytest.raises(ConfigError):
        BreakerPolicy.from_setting(3)


@pytest.mark.parametrize(
    "options",
    [
        {"window_s": 0},
        {"min_throughput": 0},
        {"failure_ratio": 0.0},
        {"failure_ratio": 1.5},
        {"slow_call_s": 0},
        {"break_s": -1},
        {"half_open_probes": 0},
        {"window_buckets": 0},
    ],
)
def test_policy_rejects_nonsense(options: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        BreakerPolicy(**options)  # type: ignore[arg-type]
