"""The per-model pause bookkeeping of bulk runs: which errors are transient, pauses from
open circuits and server waits, patience, giving up; and, as a hypothesis state machine,
its invariants under any sequence of outcomes and time steps."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sluicegate import (
    AllModelsFailedError,
    AuthenticationError,
    BudgetExceededError,
    CircuitOpenError,
    ConfigError,
    ProviderError,
    RateLimitedError,
    RequestTimeoutError,
    RequestTooLargeError,
)
from sluicegate.breaker.state import CircuitState
from sluicegate.bulk import ModelAvailability, ModelUnavailableError
from sluicegate.bulk.availability import SHORT_PAUSE_CAP_S, format_wait, is_transient
from sluicegate.clock import FakeClock

M = "openai/m"


def server_error(status: int = 503, retry_after: float | None = None) -> ProviderError:
    return ProviderError(
        "down", provider="openai", model="m", status=status, retryable=True,
        retry_after=retry_after,
    )  # fmt: skip


def rate_limited(retry_after: float | None) -> RateLimitedError:
    return RateLimitedError(
        "slow", provider="openai", model="m", status=429, retryable=True, retry_after=retry_after
    )


def circuit(until: float | None, now: float) -> CircuitOpenError:
    state = CircuitState.OPEN if until is not None else CircuitState.HALF_OPEN
    return CircuitOpenError(
        "20 of 24 calls failed in the last 30s; failing fast for 12s more, then probing",
        provider="openai",
        model="m",
        state=state,
        until=until,
        retry_after=None if until is None else until - now,
    )


def test_transient_errors_are_the_ones_that_may_not_happen_again() -> None:
    now = 0.0
    assert is_transient(server_error())
    assert is_transient(rate_limited(None))
    assert is_transient(circuit(12.0, now))
    assert is_transient(RequestTimeoutError("slow", provider="openai", model="m"))
    quota = RateLimitedError(
        "pay", provider="openai", model="m", status=429, error_type="insufficient_quota"
    )
    for final in (
        quota,
        AuthenticationError("no", provider="openai", model="m", status=401),
        ProviderError("bad", provider="openai", model="m", status=400),
        BudgetExceededError(budget="client", limit=1, spent=1, reserved=0, estimate=1, model=M),
        RequestTooLargeError(
            scope="openai/m", dimension="tokens", cost=10, capacity=1, unit="tokens"
        ),
        ValueError("a bug"),
    ):
        assert not is_transient(final), final
    both = AllModelsFailedError([(M, circuit(12.0, now)), ("openai/n", server_error())])
    assert is_transient(both)
    assert not is_transient(AllModelsFailedError([(M, server_error()), ("openai/n", quota)]))


def test_an_open_circuit_pauses_the_model_until_its_probes() -> None:
    clock = FakeClock(100.0)
    availability = ModelAvailability(clock)
    assert not availability.blocking(M)
    assert availability.failed(M, circuit(112.0, 100.0)) is None
    assert availability.blocking(M) and availability.paused_until(M) == 112.0
    (wait,) = availability.waits()
    assert wait.describe(clock.now()) == (
        "openai/m: circuit open after 20 of 24 calls failed, probing in 12 s"
    )
    clock.advance(12)
    assert availability.paused_until(M) is None and not availability.blocking(M)


def test_a_429_without_a_wait_pauses_briefly_growing_until_a_success() -> None:
    clock = FakeClock(0.0)
    availability = ModelAvailability(clock, patience=None)
    pauses = []
    for _ in range(8):
        availability.failed(M, rate_limited(None))
        until = availability.paused_until(M)
        assert until is not None
        pauses.append(until - clock.now())
        clock.advance(until - clock.now())
    assert pauses[:3] == [2.0, 4.0, 8.0] and max(pauses) == SHORT_PAUSE_CAP_S
    availability.succeeded(M)
    availability.failed(M, rate_limited(None))
    assert availability.paused_until(M) == clock.now() + 2.0


def test_a_wait_beyond_the_patience_gives_the_model_up_at_once() -> None:
    clock = FakeClock(0.0)
    changes: list[int] = []
    availability = ModelAvailability(clock, patience=300, on_change=lambda: changes.append(1))
    given_up = availability.failed(M, rate_limited(86_400))
    assert isinstance(given_up, ModelUnavailableError)
    assert given_up.model == M and given_up.until == 86_400
    assert "86,400 s (24 h)" in given_up.reason and "patience of 300 s" in given_up.reason
    assert str(given_up).startswith("openai/m: given up for this run: ")
    assert availability.blocking(M) and availability.given_up(M) is given_up
    assert availability.failed(M, server_error()) is given_up  # for good
    assert changes
    copy = pickle.loads(pickle.dumps(given_up))
    assert (copy.model, copy.reason, copy.until, str(copy)) == (
        M, given_up.reason, 86_400, str(given_up),
    )  # fmt: skip


def test_patience_counts_from_the_first_failure_since_the_last_success() -> None:
    clock = FakeClock(0.0)
    availability = ModelAvailability(clock, patience=60)
    availability.failed(M, server_error())
    clock.advance(50)
    availability.succeeded(M)  # back: the count starts over
    clock.advance(5)
    assert availability.failed(M, server_error()) is None
    clock.advance(59)
    assert availability.failed(M, server_error()) is None
    clock.advance(1)
    given_up = availability.failed(M, server_error())
    assert given_up is not None and "no answer for 60 s" in given_up.reason


def test_patience_must_be_seconds() -> None:
    for bad in (-1, float("nan"), float("inf"), "300", True):
        with pytest.raises(ConfigError, match="patience"):
            ModelAvailability(FakeClock(), patience=bad)  # type: ignore[arg-type]
    assert ModelAvailability(FakeClock(), patience=None).patience is None


def test_format_wait() -> None:
    assert format_wait(11.2) == "12 s"
    assert format_wait(300) == "300 s (5 min)"
    assert format_wait(86_400) == "86,400 s (24 h)"
    assert format_wait(3 * 86_400) == "259,200 s (3 days)"


class AvailabilityMachine(RuleBasedStateMachine):
    """Any sequence of time steps, successes and transient failures of one model."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(0.0)
        self.patience = 120.0
        self.availability = ModelAvailability(self.clock, patience=self.patience)
        self.given_up: ModelUnavailableError | None = None
        self.since: float | None = None

    @rule(seconds=st.floats(0, 200))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule()
    def success(self) -> None:
        self.availability.succeeded(M)
        self.since = None

    @rule(
        kind=st.sampled_from(["circuit", "half_open", "429", "429_wait", "503", "503_wait"]),
        wait=st.floats(0, 1000),
    )
    def failure(self, kind: str, wait: float) -> None:
        now = self.clock.now()
        error = {
            "circuit": lambda: circuit(now + wait, now),
            "half_open": lambda: circuit(None, now),
            "429": lambda: rate_limited(None),
            "429_wait": lambda: rate_limited(wait),
            "503": lambda: server_error(),
            "503_wait": lambda: server_error(retry_after=wait),
        }[kind]()
        before = self.given_up
        result = self.availability.failed(M, error)
        if self.since is None:
            self.since = now
        if before is not None:
            assert result is before  # given up for good
            return
        if result is not None:
            self.given_up = result
            # only when the wait ends past the patience, or the patience is spent
            until = result.until
            assert (until is not None and until > self.since + self.patience) or (
                now >= self.since + self.patience
            )
        else:
            assert now < self.since + self.patience
            until = self.availability.paused_until(M)
            assert until is None or until <= self.since + self.patience

    @precondition(lambda self: self.given_up is None)
    @invariant()
    def pauses_are_in_the_future(self) -> None:
        until = self.availability.paused_until(M)
        assert until is None or until > self.clock.now()
        assert self.availability.blocking(M) == (until is not None)

    @invariant()
    def given_up_is_final_and_blocking(self) -> None:
        assert self.availability.given_up(M) is self.given_up
        if self.given_up is not None:
            assert self.availability.blocking(M)
            assert M in str(self.given_up)


AvailabilityMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30)
TestAvailabilityMachine = AvailabilityMachine.TestCase


def test_a_storm_of_429s_without_a_wait_pauses_at_most_the_cap_however_long_it_lasts() -> None:
    """The brief pause doubles per repeat up to its cap and never overflows: a model with
    no patience limit refused 2,000 times in a row (each pause 2 s, 4 s, ... 30 s)."""
    clock = FakeClock(start=0.0)
    availability = ModelAvailability(clock, patience=None)
    pauses = []
    for _ in range(2_000):
        assert availability.failed("m/x", rate_limited(None)) is None
        until = availability.paused_until("m/x")
        assert until is not None
        pauses.append(until - clock.now())
        clock.advance(until - clock.now())
    assert pauses[:5] == [2.0, 4.0, 8.0, 16.0, SHORT_PAUSE_CAP_S]
    assert max(pauses) == SHORT_PAUSE_CAP_S
