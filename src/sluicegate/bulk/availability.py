"""Which models a bulk run may send to now, which it waits for, and which it gave up on.

Why a bulk run needs this (and a single call does not)
    One call that meets an open circuit or a 429 should fail: its caller decides. A bulk
    run has thousands of lines for the same model, and failing each of them the moment the
    model's circuit opens turns a 60-second outage into thousands of error lines. So the run
    *holds* a model's lines while the model is unavailable and sends them again once it is
    back, while other models' lines keep flowing. This module is the bookkeeping of that:
    per model, whether it is paused (and until when, and why), since when it has been
    failing, and whether the run has given up on it.

Transient or final (:func:`is_transient`)
    An error the provider will repeat (400, 401, 403, 404, 422, ``insufficient_quota``, a
    request too large for a rate limit, a budget refusal) is a final result. Anything that
    may succeed later (a retryable :class:`~sluicegate.errors.SluicegateError`: 5xx,
    timeouts, transport errors, cut streams, malformed answers, 429; and
    :class:`~sluicegate.breaker.state.CircuitOpenError` and
    :class:`~sluicegate.errors.RequestTimeoutError`, which are not flagged retryable so
    that the chain does not wait them out itself) is *transient*: the line is not answered
    yet, and is tried again later in the run or left pending for the next run.

Pauses
    A transient failure that says when the model may take requests again pauses the whole
    model until then: an open circuit until its probes (``CircuitOpenError.until``), a
    server's requested wait (``retry_after``) from now. A 429 without a wait (and a
    half-open circuit whose probes are all taken) pauses it briefly, a few seconds growing
    while it repeats. Other transient failures (a 5xx after the chain's retries) do not
    pause the model: the line alone backs off (:mod:`sluicegate.bulk.held`).

Patience
    A model that stays unavailable (no success since its first transient failure) is
    waited for at most ``patience`` seconds; then, or at once when a pause would end
    beyond that (a ``Retry-After`` of a day), the run gives it up: its remaining lines are
    pending, as :class:`ModelUnavailableError`. ``None`` waits forever; ``0`` gives up at
    the first transient failure that no success followed.

Time is the client's injected clock, so tests run minutes of outage in virtual time.
Nothing here is touched on the hot path but :meth:`ModelAvailability.succeeded` (a
dictionary lookup, no clock read) and, in the input reader, :meth:`~ModelAvailability.
blocking` (a set test while no model is paused or given up).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sluicegate.breaker import CircuitOpenError, CircuitState
from sluicegate.clock import Clock
from sluicegate.errors import (
    ConfigError,
    ProviderError,
    RateLimitedError,
    RequestTimeoutError,
    SluicegateError,
)
from sluicegate.middleware.fallback import AllModelsFailedError
from sluicegate.retry.backoff import Backoff
from sluicegate.stores.errors import StoreUnavailableError

__all__ = [
    "DEFAULT_PATIENCE_S",
    "ModelAvailability",
    "ModelUnavailableError",
    "Wait",
    "format_wait",
    "is_transient",
]

from sluicegate.bulk import DEFAULT_PATIENCE_S

SHORT_PAUSE_S = 2.0
"""The first brief pause (a 429 without a wait, a half-open circuit); it doubles while it
repeats, up to :data:`SHORT_PAUSE_CAP_S`, and starts over after a success."""
SHORT_PAUSE_CAP_S = 30.0
_SHORT_PAUSE = Backoff(SHORT_PAUSE_S, SHORT_PAUSE_CAP_S)
MIN_PAUSE_S = 1.0
"""A server's wait shorter than this (``Retry-After: 0``) pauses the model this long, so a
storm of such answers is not resent in a tight loop."""

_BREAKER_REASON = re.compile(r"(\d+) of (\d+) calls failed")


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` may not happen again later: the line is not answered, not failed.

    Retryable sluicegate errors, open circuits and timeouts are; a fallback chain's
    :class:`~sluicegate.AllModelsFailedError` is when every model's error is. Anything
    else (an error the provider will repeat, a budget refusal, a bug) is final.
    """
    if isinstance(error, AllModelsFailedError):
        return all(is_transient(inner) for _, inner in error.errors)
    if isinstance(error, CircuitOpenError | RequestTimeoutError):
        return True
    return isinstance(error, SluicegateError) and error.retryable


def format_wait(seconds: float) -> str:
    """``12 s``, ``86,400 s (24 h)``: a wait as a message says it."""
    seconds = max(seconds, 0.0)
    text = f"{math.ceil(seconds):,} s"
    if seconds >= 2 * 86_400:
        return f"{text} ({seconds / 86_400:.0f} days)"
    if seconds >= 2 * 3_600:
        return f"{text} ({seconds / 3_600:.0f} h)"
    if seconds >= 120:
        return f"{text} ({seconds / 60:.0f} min)"
    return text


class ModelUnavailableError(SluicegateError):
    """A bulk run gave up on a model for this run: its lines are pending, not failed.

    ``model`` is the model (``provider/model``), ``reason`` why it was given up (the wait
    it asked for beyond the run's patience, or how long it kept failing), ``until`` when
    the model said it may take requests again, on the client's clock (None if it did not
    say). Retryable: the same command sends these lines again.
    """

    retryable = True

    def __init__(self, model: str, reason: str, until: float | None = None) -> None:
        self.model = model
        self.reason = reason
        self.until = until
        super().__init__(
            f"{model}: given up for this run: {reason}; its lines are pending (run the same "
            "command again to send them)"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.model, self.reason, self.until))


@dataclass(frozen=True, slots=True)
class Wait:
    """What one model is waiting for, for the progress display.

    ``reason`` says what happened (``circuit open after 20 of 24 calls failed``),
    ``action`` what comes when ``until`` (client clock) is reached (``probing``,
    ``retrying``, ``giving up``); ``until`` is None for a model given up.
    """

    model: str
    reason: str
    action: str
    until: float | None

    def describe(self, now: float) -> str:
        if self.until is None:
            return f"{self.model}: {self.reason}"
        return f"{self.model}: {self.reason}, {self.action} in {format_wait(self.until - now)}"


class _Model:
    """One model's state (kept only once the model has failed transiently)."""

    __slots__ = (
        "failing_since",
        "given_up",
        "last_failure",
        "pause_action",
        "pause_reason",
        "paused_until",
        "short_pauses",
        "successes",
    )

    def __init__(self) -> None:
        self.successes = 0
        self.failing_since: float | None = None
        self.last_failure = ""
        self.paused_until: float | None = None
        self.pause_reason = ""
        self.pause_action = ""
        self.short_pauses = 0
        self.given_up: ModelUnavailableError | None = None


class ModelAvailability:
    """Per model of one run (one ``client.map``, or every pass of ``sluicegate run``):
    paused until when and why, failing since when, given up or not.

    The map calls :meth:`succeeded` after every answer and :meth:`failed` after every
    transient failure; it and the run's input reader ask :meth:`blocking`,
    :meth:`paused_until` and :meth:`given_up` before sending. ``on_change`` (settable) is
    called when a model is paused, its pause's reason changes, or it is given up.
    """

    __slots__ = ("_blocked", "_clock", "_models", "_patience", "_rng", "on_change")

    def __init__(
        self,
        clock: Clock,
        *,
        patience: float | None = DEFAULT_PATIENCE_S,
        rng: random.Random | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        if patience is not None and (
            isinstance(patience, bool)
            or not isinstance(patience, int | float)
            or not math.isfinite(patience)
            or patience < 0
        ):
            raise ConfigError(
                f"patience must be a number of seconds >= 0 (or None: wait forever), "
                f"got {patience!r}"
            )
        self._clock = clock
        self._patience = None if patience is None else float(patience)
        self._rng = rng or random.Random()
        self._models: dict[str, _Model] = {}
        self._blocked: set[str] = set()
        """Models paused (perhaps no longer: cleared when next asked) or given up."""
        self.on_change = on_change

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def patience(self) -> float | None:
        return self._patience

    @property
    def rng(self) -> random.Random:
        return self._rng

    # -- outcomes -------------------------------------------------------------------------

    def succeeded(self, model: str) -> None:
        """An answer for a request whose primary model is ``model``."""
        state = self._models.get(model)
        if state is None:
            return
        state.successes += 1
        state.failing_since = None
        state.short_pauses = 0

    def successes(self, model: str) -> int:
        """Answers counted for ``model`` since its first transient failure was recorded."""
        state = self._models.get(model)
        return 0 if state is None else state.successes

    def failed(self, model: str, error: BaseException) -> ModelUnavailableError | None:
        """A transient failure of a request to ``model``: pause the model if the error
        says until when, and give it up if its patience is spent. Returns the
        :class:`ModelUnavailableError` when the model is (now or already) given up."""
        state = self._models.get(model)
        if state is None:
            state = self._models[model] = _Model()
        if state.given_up is not None:
            return state.given_up
        now = self._clock.now()
        if state.failing_since is None:
            state.failing_since = now
        state.last_failure = _describe(error)
        changed = self._pause(state, model, error, now)
        patience = self._patience
        if patience is not None:
            limit = state.failing_since + patience
            until = state.paused_until
            if until is not None and until > limit:
                wait = (
                    ""
                    if "asked to wait" in state.pause_reason
                    else (f" for {format_wait(until - now)} more")
                )
                self._give_up(
                    state,
                    model,
                    f"{state.pause_reason}{wait}, past the patience of {format_wait(patience)}",
                    until,
                )
                return state.given_up
            if now >= limit:
                self._give_up(
                    state,
                    model,
                    f"no answer for {format_wait(now - state.failing_since)} since it began "
                    f"failing (last: {state.last_failure}), the patience of "
                    f"{format_wait(patience)}",
                    None,
                )
                return state.given_up
        if changed and self.on_change is not None:
            self.on_change()
        return None

    def give_up(self, model: str, reason: str, until: float | None = None) -> ModelUnavailableError:
        """Give ``model`` up for this run (its lines are pending); returns the error."""
        state = self._models.get(model)
        if state is None:
            state = self._models[model] = _Model()
        if state.given_up is None:
            self._give_up(state, model, reason, until)
        assert state.given_up is not None
        return state.given_up

    # -- questions ------------------------------------------------------------------------

    def blocking(self, model: str) -> bool:
        """Whether ``model`` is paused or given up (a set test while none is)."""
        if model not in self._blocked:
            return False
        return self.given_up(model) is not None or self.paused_until(model) is not None

    def given_up(self, model: str) -> ModelUnavailableError | None:
        state = self._models.get(model)
        return None if state is None else state.given_up

    def paused_until(self, model: str) -> float | None:
        """When ``model``'s pause ends (client clock), or None if it is not paused."""
        if model not in self._blocked:
            return None
        state = self._models[model]
        until = state.paused_until
        if until is None:
            return None
        if until <= self._clock.now():
            state.paused_until = None
            if state.given_up is None:
                self._blocked.discard(model)
            return None
        return until

    def failing_since(self, model: str) -> float | None:
        state = self._models.get(model)
        return None if state is None else state.failing_since

    def earliest_end(self, models: Iterable[str]) -> float | None:
        """The soonest pause end among ``models`` that are still paused (and not given up)."""
        ends = [
            until
            for model in models
            if self.given_up(model) is None and (until := self.paused_until(model)) is not None
        ]
        return min(ends) if ends else None

    def waits(self) -> tuple[Wait, ...]:
        """What each troubled model waits for: paused ones, failing ones (when patience
        runs out), given-up ones; sorted by model."""
        now = self._clock.now()
        found: list[Wait] = []
        for model, state in sorted(self._models.items()):
            if state.given_up is not None:
                found.append(Wait(model, f"given up: {state.given_up.reason}", "", None))
            elif (until := self.paused_until(model)) is not None:
                found.append(Wait(model, state.pause_reason, state.pause_action, until))
            elif state.failing_since is not None:
                patience = self._patience
                reason = f"failing ({state.last_failure}), lines backing off"
                if patience is None:
                    found.append(Wait(model, reason, "", None))
                else:
                    limit = max(state.failing_since + patience, now)
                    found.append(Wait(model, reason, "giving up", limit))
        return tuple(found)

    def given_up_models(self) -> dict[str, ModelUnavailableError]:
        return {m: s.given_up for m, s in self._models.items() if s.given_up is not None}

    # -- internals ------------------------------------------------------------------------

    def _pause(self, state: _Model, model: str, error: BaseException, now: float) -> bool:
        """Pause ``model`` if ``error`` says until when; True if the display should change."""
        primary = error.errors[0][1] if isinstance(error, AllModelsFailedError) else error
        current = state.paused_until if state.paused_until is not None else -math.inf
        active = current > now
        reason, action = "", "retrying"
        until: float | None = None
        if isinstance(primary, CircuitOpenError):
            action = "probing"
            if primary.state is CircuitState.OPEN and (
                primary.until is not None or primary.retry_after is not None
            ):
                until = (
                    primary.until
                    if primary.until is not None
                    else now + (primary.retry_after or 0.0)
                )
                reason = _circuit_reason(primary)
            elif not active:
                until = now + self._short(state)
                reason = "circuit half-open, its probes in flight"
                action = "retrying"
        elif isinstance(primary, ProviderError) and primary.retry_after is not None:
            wait = max(primary.retry_after, MIN_PAUSE_S)
            until = now + wait
            what = "rate limited" if isinstance(primary, RateLimitedError) else _status(primary)
            reason = f"{what}: the server asked to wait {format_wait(primary.retry_after)}"
        elif isinstance(primary, RateLimitedError) and not active:
            until = now + self._short(state)
            reason = "rate limited (429 without a wait)"
        if until is None or until <= current:
            return False
        changed = not active or reason != state.pause_reason
        state.paused_until = until
        state.pause_reason = reason
        state.pause_action = action
        self._blocked.add(model)
        return changed

    def _short(self, state: _Model) -> float:
        # the backoff's ceiling never overflows, however long a storm repeats
        wait = _SHORT_PAUSE.ceiling(state.short_pauses + 1)
        state.short_pauses += 1
        return wait

    def _give_up(self, state: _Model, model: str, reason: str, until: float | None) -> None:
        state.given_up = ModelUnavailableError(model, reason, until)
        self._blocked.add(model)
        if self.on_change is not None:
            self.on_change()


def _circuit_reason(error: CircuitOpenError) -> str:
    found = _BREAKER_REASON.search(error.detail)
    if found is not None:
        return f"circuit open after {found.group(1)} of {found.group(2)} calls failed"
    if "probe failed" in error.detail:
        return "circuit open again (a half-open probe failed)"
    return "circuit open"


def _status(error: ProviderError) -> str:
    return f"HTTP {error.status}" if error.status is not None else type(error).__name__


def _describe(error: BaseException) -> str:
    """A short name for a failure: ``HTTP 503``, ``RequestTimeoutError``."""
    if isinstance(error, AllModelsFailedError):
        error = error.errors[0][1]
    if isinstance(error, CircuitOpenError):
        return "circuit open"
    if isinstance(error, ProviderError) and error.status is not None:
        return f"{type(error).__name__}, HTTP {error.status}"
    if isinstance(error, StoreUnavailableError):
        return f"the shared store {error.store} did not answer"
    return type(error).__name__
