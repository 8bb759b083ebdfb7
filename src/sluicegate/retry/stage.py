"""Retry: send a failed attempt again when it may succeed, within a count, a budget and
the request's deadline.

What is retried is decided where the failure is understood, not here: every typed error
carries ``retryable`` (408, 409, 429, 5xx, connect/read failures, timeouts, error events
in a stream and malformed answers are; 400/401/403/404/422 and billing errors such as
``insufficient_quota`` are not; a server's ``x-should-retry`` header overrides). This
stage only reads the flag, so a new provider or stage gets retries right by setting it.

How long to wait: the server's own pushback first (``retry-after-ms`` / ``Retry-After``,
already parsed onto ``error.retry_after``), honoured exactly; a wait of 0, or none, gets
exponential backoff with full jitter drawn from the client's injected ``rng`` (see
:mod:`sluicegate.retry.backoff`). A named wait longer than ``max_retry_after`` (say
``Retry-After: 86400``, a day's quota gone) is not slept on: the error is raised at once,
carrying the wait in ``retry_after``, so a bulk run can set the model aside until then.
Waits go through the injected clock, so tests cover minutes of retries in milliseconds.

When to give up, re-raising the last attempt's error (its cause is what the caller needs
to see; a note on the exception says why no further attempt was made):

- the attempts are spent (``RetryPolicy.attempts`` counts the first one);
- the next attempt could not start before ``request.metadata.deadline``: a wait that
  would end at or past the deadline is never begun, since the attempt after it could not
  finish in time anyway; the error is the last real failure, not a timeout, because no
  time limit was hit yet;
- the retry budget (:mod:`sluicegate.retry.budget`) is empty: in a total outage retries
  add at most ``budget_ratio`` (20%) to the traffic instead of multiplying it by the
  attempt count.

Streams are retried transparently until their first *content* event (a text or
tool-call delta) reaches the caller: a failure while opening, or a retryable stream error
raised before any delta was delivered, opens a new stream in place of the old one. Events
before the first delta are bookkeeping, not answer (Anthropic's ``message_start`` usage
comes before any text, so an ``overloaded_error`` right after it is retried); the new
stream's Done carries the new attempt's Response alone. After the first delta a cut
stream raises its typed :class:`~sluicegate.errors.StreamError`, whose ``partial_text``
is what the caller has already received, because replaying a stream would repeat text the
caller has shown.

The hot path (first attempt succeeds) costs a budget count, a call and a try/except: no
clock read and no copy of the request. ``metadata.attempt`` is 1 by default, so only
retries stamp it, and ``Response.attempts`` is stamped only on a response that needed a
retry.

For tests, retries are made instant with ``RetryPolicy(instant=True)`` for one client or
:func:`set_testing` for every client built afterwards (as ``stamina.set_testing`` does);
with a :class:`~sluicegate.clock.FakeClock` the real schedule runs in virtual time and
instant mode is rarely needed.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.clock import Clock
from sluicegate.errors import ProviderError, SluicegateError
from sluicegate.logs import get_logger, is_enabled
from sluicegate.middleware.deadline import current_deadline
from sluicegate.retry.budget import RetryBudget
from sluicegate.retry.policy import RetryPolicy, is_testing, set_testing, with_testing
from sluicegate.streaming import EventStream, ReplaceableSource
from sluicegate.types import Request, Response


class _NoBudget:
    """Stands in for a budget when it is off, so the hot path has no branch for it."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = 0

    def withdraw(self, now: float) -> bool:
        self.pending = 0
        return True


class RetryMiddleware:
    """The retry stage: see the module docstring for what it retries, when and how."""

    __slots__ = (
        "_attempts",
        "_backoff",
        "_budget",
        "_clock",
        "_instant",
        "_log",
        "_max_retry_after",
        "_rng",
    )

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Clock,
        rng: random.Random,
        budget: RetryBudget | None = None,
        logger: Any = None,
    ) -> None:
        self._attempts = policy.attempts
        self._backoff = policy.backoff()
        self._max_retry_after = float(policy.max_retry_after)
        self._instant = policy.instant
        self._clock = clock
        self._rng = rng
        self._budget: RetryBudget | _NoBudget = budget if budget is not None else _NoBudget()
        self._log = logger if logger is not None and is_enabled(logger, logging.INFO) else None

    @property
    def budget(self) -> RetryBudget | None:
        """The retry budget shared by every request through this stage, if any."""
        return self._budget if isinstance(self._budget, RetryBudget) else None

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        self._budget.pending += 1  # the budget's deposit, inlined: no clock read here
        try:
            reply = await call_next(request)
        except SluicegateError as error:
            if not error.retryable:
                raise
            failure = error
        else:
            if request.stream and isinstance(reply, EventStream):
                return EventStream(
                    ReplaceableSource(reply, _Reattempts(self, request, call_next, 1))
                )
            return reply
        reply, attempt = await self.again(request, call_next, failure, 1)
        if isinstance(reply, EventStream):
            attempts = _Reattempts(self, request, call_next, attempt)
            return EventStream(ReplaceableSource(_stamped(reply, attempt), attempts))
        return reply.replace(attempts=attempt)

    async def again(
        self, request: Request, call_next: CallNext, error: SluicegateError, done: int
    ) -> tuple[Reply, int]:
        """Retry after ``done`` failed attempts (the last one failing with ``error``) until
        an attempt succeeds: its reply and its number. Raises the error that ends it."""
        attempt = done
        while True:
            if attempt >= self._attempts:
                raise _gave_up(error, attempt, "no attempts left")
            delay, why = self._delay(error, attempt)
            if why == "too long":
                raise _gave_up(
                    error,
                    attempt,
                    f"the server asked to wait {delay:,.3g}s, longer than max_retry_after "
                    f"({self._max_retry_after:g}s); the error carries the wait",
                )
            now = self._clock.now()
            deadline = current_deadline(request)  # a default one may have moved
            if deadline is not None and now + delay >= deadline:
                raise _gave_up(
                    error,
                    attempt,
                    f"a {delay:.3g}s wait would reach the request's deadline "
                    f"({max(deadline - now, 0.0):.3g}s away)",
                )
            if not self._budget.withdraw(now):
                raise _gave_up(error, attempt, "the retry budget is spent")
            if self._log is not None:
                self._log.info(
                    "retry.waiting",
                    request_id=request.metadata.request_id,
                    model=request.model,
                    attempt=attempt + 1,
                    delay_s=round(delay, 6),
                    wait=why,
                    error_type=type(error).__name__,
                )
            await self._clock.sleep(delay)
            attempt += 1
            retry = request.replace(metadata=request.metadata.replace(attempt=attempt))
            try:
                return await call_next(retry), attempt
            except SluicegateError as exc:
                if not exc.retryable:
                    exc.add_note(f"sluicegate: attempt {attempt} of {self._attempts}")
                    raise
                error = exc

    def _delay(self, error: SluicegateError, attempt: int) -> tuple[float, str]:
        """The wait before retry number ``attempt``, and which rule chose it."""
        if self._instant:
            return 0.0, "instant"
        retry_after = error.retry_after if isinstance(error, ProviderError) else None
        if retry_after is not None and retry_after > 0:
            if retry_after > self._max_retry_after:
                return retry_after, "too long"
            return retry_after, "retry-after"
        # none named, or 0 (LiteLLM relays send ``Retry-After: 0``): a jittered backoff,
        # never an instant retry into the same wall
        return self._backoff.delay(attempt, self._rng), "backoff"


def _gave_up(error: SluicegateError, attempts: int, reason: str) -> SluicegateError:
    error.add_note(
        f"sluicegate: not retried after {attempts} attempt{'s' if attempts != 1 else ''}: {reason}"
    )
    return error


class _Reattempts:
    """The retry stage's :class:`~sluicegate.streaming.StreamReplacement` for one streamed
    request: a retryable error before the first delta is followed by the next attempt, as
    :meth:`RetryMiddleware.again` allows (count, wait, deadline, budget)."""

    __slots__ = ("_attempt", "_call_next", "_request", "_stage")

    def __init__(
        self, stage: RetryMiddleware, request: Request, call_next: CallNext, attempt: int
    ) -> None:
        self._stage = stage
        self._request = request
        self._call_next = call_next
        self._attempt = attempt

    @property
    def model(self) -> str:
        return self._request.model

    def may_replace(self, error: SluicegateError) -> bool:
        return error.retryable

    async def open_next(self, error: SluicegateError) -> Reply:
        reply, self._attempt = await self._stage.again(
            self._request, self._call_next, error, self._attempt
        )
        return _stamped(reply, self._attempt) if isinstance(reply, EventStream) else reply


def _stamped(stream: EventStream, attempt: int) -> EventStream:
    """A retried stream whose Done says how many attempts it took (only a retried stream
    is observed for it: the first attempt's Response carries the default, 1)."""
    return stream.observe(on_close=_AttemptsStamp(attempt))


class _AttemptsStamp:
    """A retried stream's ``on_close``: its Response with ``attempts`` set."""

    __slots__ = ("_attempts",)

    def __init__(self, attempts: int) -> None:
        self._attempts = attempts

    def __call__(self, response: Response | None, error: BaseException | None) -> Response | None:
        return response.replace(attempts=self._attempts) if response is not None else None


def _policy(context: ChainContext) -> RetryPolicy | None:
    return with_testing(RetryPolicy.from_setting(context.settings.get("retry")))


def build(context: ChainContext) -> RetryMiddleware | None:
    """The retry stage, or None when retries are off (``settings["retry"] is False``) or
    a policy allows a single attempt, so the chain does not carry a stage that does
    nothing."""
    policy = _policy(context)
    if policy is None or policy.attempts == 1:
        return None
    try:
        start: float | None = context.clock.now()
    except RuntimeError:  # no event loop yet (AnyioClock outside async code)
        start = None
    logger = context.settings.get("logger") or get_logger()
    return RetryMiddleware(
        policy,
        clock=context.clock,
        rng=context.rng,
        budget=policy.budget(start),
        logger=logger,
    )


__all__ = ["RetryMiddleware", "RetryPolicy", "build", "is_testing", "set_testing"]
