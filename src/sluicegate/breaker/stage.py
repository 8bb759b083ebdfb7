"""Circuit breaker stage: one breaker per provider/model, failing fast while it is open.

The stage sits inside retry, so every attempt is admitted and counted on its own: a burst
of retried 503s opens the circuit as quickly as it should, and once it is open the next
attempt fails with :class:`~sluicegate.breaker.state.CircuitOpenError` (not retryable), which
stops the remaining retries at once and lets the fallback stage, outside retry, move on to
the next model. Nothing is sent while the circuit is open.

Breakers are keyed by ``request.model`` (``"provider/model"``): one model of a provider
being overloaded says little about its other models, and keying by model lets fallback
within one provider work. A breaker is created the first time its model is called, once,
and lives as long as the client.

Per call, with the circuit closed, the stage costs a dict lookup, an identity check and, at
the end, one clock read and an O(1) counter update. Streams are counted when they end: the
stage observes the stream (:meth:`EventStream.observe`: no task, no buffering) and records
success on the Done event, failure on an error, and nothing when the caller closes the
stream early.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sluicegate.breaker.errors import CircuitOpenError
from sluicegate.breaker.policy import BreakerPolicy
from sluicegate.breaker.state import CircuitBreaker, CircuitState
from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.clock import Clock
from sluicegate.logs import get_logger, is_enabled
from sluicegate.streaming import EventStream
from sluicegate.types import Request, Response

if TYPE_CHECKING:
    from sluicegate.breaker.shared import SharedCircuits

__all__ = ["BreakerPolicy", "BreakerStage", "CircuitOpenError", "build"]


class BreakerStage:
    """The middleware: admit through the request model's breaker, report the outcome."""

    __slots__ = (
        "_breakers",
        "_clock",
        "_is_failure",
        "_log",
        "_log_info",
        "_policy",
        "_shared",
        "_slow",
    )

    def __init__(
        self,
        policy: BreakerPolicy,
        clock: Clock,
        logger: Any = None,
        shared: Callable[[dict[str, CircuitBreaker]], SharedCircuits] | None = None,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._slow = policy.slow_call_s
        self._is_failure = policy.is_failure
        self._breakers: dict[str, CircuitBreaker] = {}
        self._log = logger
        self._log_info = logger is not None and is_enabled(logger, logging.INFO)
        self._shared = shared(self._breakers) if shared is not None else None
        """With a shared store: openings go to every process, and come from them."""

    @property
    def breakers(self) -> dict[str, CircuitBreaker]:
        """The breakers made so far, by model (a view for metrics and tests)."""
        return self._breakers

    def breaker_for(self, model: str) -> CircuitBreaker:
        """The breaker of ``model`` (``"provider/model"``), made on first use."""
        breaker = self._breakers.get(model)
        if breaker is None:
            breaker = CircuitBreaker(model, self._policy, self._clock, self._transitioned)
            self._breakers[model] = breaker
        return breaker

    def circuit_state(self, model: str) -> str:
        """The state of ``model``'s circuit as the next call would find it (``"closed"``
        for a model not seen yet): for :class:`~sluicegate.chain.CircuitBoard`."""
        breaker = self._breakers.get(model)
        return "closed" if breaker is None else breaker.state.value

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        breaker = self._breakers.get(request.model)
        if breaker is None:
            breaker = self.breaker_for(request.model)
            if self._shared is not None:
                await self._shared.first_look(request.model, breaker)
        token = breaker.acquire()
        if token is None:
            raise breaker.rejection(request.provider, request.model_name)
        started = self._clock.now() if self._slow is not None else None
        try:
            reply = await call_next(request)
        except BaseException as exc:
            self._settle_error(breaker, token, exc)
            raise
        if isinstance(reply, EventStream):
            # For a stream, "slow" is the time until it opened: its total length follows
            # the answer's length, which says nothing about the endpoint's health.
            slow = False
            if started is not None and self._slow is not None:
                slow = self._clock.now() - started > self._slow
            return reply.observe(on_close=_StreamOutcome(self, breaker, token, slow))
        breaker.record(token, False, started)
        return reply

    def _settle_error(self, breaker: CircuitBreaker, token: int, exc: BaseException) -> None:
        if self._is_failure(exc):
            breaker.record(token, True)
        else:
            breaker.release(token)

    def _transitioned(self, breaker: CircuitBreaker, old: CircuitState, new: CircuitState) -> None:
        """Log state changes: rare, and exactly what an operator wants to see. With a
        shared store, an opening is also told to every process."""
        if new is CircuitState.OPEN and self._shared is not None:
            self._shared.opened(breaker)
        if self._log is None:
            return
        if new is CircuitState.OPEN:
            snapshot = breaker.snapshot()
            self._log.warning(
                "circuit.opened",
                model=breaker.name,
                previous=old.value,
                break_s=self._policy.break_s,
                open_until=snapshot.open_until,
                times_opened=snapshot.times_opened,
            )
        elif self._log_info:
            self._log.info("circuit." + new.value, model=breaker.name, previous=old.value)


class _StreamOutcome:
    """Reports a streamed call's outcome to its breaker as the stream ends (its
    ``on_close``): Done is a success (or a slow call), an error is judged as a plain call's
    would be, and a stream closed before its end releases its token: the caller stopped
    reading, which says nothing about the endpoint, and a half-open probe slot is given
    back."""

    __slots__ = ("_breaker", "_slow", "_stage", "_token")

    def __init__(
        self, stage: BreakerStage, breaker: CircuitBreaker, token: int, slow: bool
    ) -> None:
        self._stage = stage
        self._breaker = breaker
        self._token = token
        self._slow = slow

    def __call__(self, response: Response | None, error: BaseException | None) -> None:
        if response is not None:
            self._breaker.record(self._token, self._slow)
        elif error is not None:
            self._stage._settle_error(self._breaker, self._token, error)
        else:
            self._breaker.release(self._token)


def build(context: ChainContext) -> BreakerStage | None:
    """The breaker stage from ``settings["breaker"]`` (None → defaults, False → off)."""
    policy = BreakerPolicy.from_setting(context.settings.get("breaker"))
    if policy is None:
        return None
    shared = None
    store = context.store
    if store is not None:
        from sluicegate.breaker.shared import SharedCircuits

        def shared(breakers: dict[str, CircuitBreaker]) -> SharedCircuits:
            return SharedCircuits(store, context.providers, breakers, context.clock)

    logger = context.settings.get("logger") or get_logger()
    stage = BreakerStage(policy, context.clock, logger, shared)
    context.circuits.attach(stage.circuit_state)
    return stage
