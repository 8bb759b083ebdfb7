"""The rate-limit stage: every attempt is admitted by the model's limits before it is sent.

(Registered as :func:`sluicegate.limits.build`, which imports this module
only when a client is built, so ``import sluicegate`` does not pay for it.)

It sits inside retry (each attempt costs the provider a request and tokens) and outside
the timeout (time spent waiting for room is not the provider's fault). Per attempt:

1. the model's :class:`~sluicegate.limits.plan.Plan` is looked up (built on first use);
2. tokens are estimated (prompt plus ``max_tokens``; see :mod:`sluicegate.estimate`)
   if any bucket counts tokens, and a request bigger than a bucket fails at once with
   :class:`~sluicegate.limits.errors.RequestTooLargeError`;
3. the gate admits it into every dimension at once, first come, first served
   (:mod:`sluicegate.limits.gate`), waiting on the injected clock;
4. afterwards the token charge is corrected from the actual usage (a refund, or an extra
   charge), concurrency is released (for a stream: when it ends or is closed), and the
   outcome feeds the adaptive rate: a 429 lowers it and holds the model for Retry-After,
   successes the limit held back raise it, and rate-limit headers (when the response
   carries them) cap it before the server refuses anything.

An error answer (the server did no work) gives the token charge back but keeps the request
counted, as providers count refused requests; a cut stream or a cancelled call keeps
everything, since the provider may have spent the tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.clock import Clock
from sluicegate.errors import ProviderError, RateLimitedError, StreamError
from sluicegate.estimate import TokenEstimate, estimate_tokens
from sluicegate.limits.adaptive import AdaptiveRate
from sluicegate.limits.config import RateLimits
from sluicegate.limits.dimensions import INPUT_TOKENS, TOKENS, HeldTooLong
from sluicegate.limits.gate import PastDeadline, acquire, now_ns
from sluicegate.limits.headers import read_headers
from sluicegate.limits.plan import Plan, Planner
from sluicegate.logs import get_logger
from sluicegate.middleware.deadline import (
    QUEUED_PAST,
    admitted,
    current_deadline,
    deadline_error,
    kept_below,
    queued,
)
from sluicegate.streaming import EventStream
from sluicegate.types import Request, Response

__all__ = ["RateLimiter", "build_limiter"]

_NO_TOKENS = (1, 0, 0, 0, 1, 0)
"""A request's costs by dimension kind when no bucket counts tokens."""


class RateLimiter:
    """The middleware. Build it with :func:`build` (or directly, for tests)."""

    def __init__(
        self,
        settings: RateLimits,
        clock: Clock,
        planner: Planner,
        logger: Any = None,
    ) -> None:
        self._clock = clock
        # on the loop's clock deadlines are kept by the waits, this one's included
        self._waits_keep_deadlines = kept_below(clock)
        self._planner = planner
        self._plans = planner.plans
        self._default_output = settings.default_output_tokens
        self._estimate: Callable[[Request], TokenEstimate] | None = settings.estimate
        self._max_hold_ns = round(settings.max_hold_s * 1e9)
        self._log = logger if logger is not None else get_logger()

    def plan(self, model: str) -> Plan:
        """The plan for ``model`` (its dimensions); built and cached on first use."""
        return self._plans.get(model) or self._planner.plan(model)

    def costs(self, plan: Plan, request: Request) -> tuple[int, ...]:
        """The request's charge per dimension kind; raises RequestTooLargeError."""
        if not plan.needs_tokens:
            return _NO_TOKENS
        if self._estimate is not None:
            estimate = self._estimate(request)
            input_tokens, output_tokens = estimate.input_tokens, estimate.output_tokens
        else:
            input_tokens, output_tokens = estimate_tokens(request, self._default_output)
            if request.params.max_tokens is None:
                room = plan.output_room(input_tokens)
                if room is not None and output_tokens > room:
                    output_tokens = max(room, 0)
        costs = (1, input_tokens + output_tokens, input_tokens, output_tokens, 1, 0)
        plan.check_fits(costs)
        return costs

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        plan = self._plans.get(request.model) or self._planner.plan(request.model)
        adaptive = plan.adaptive
        if (
            plan.dormant_only
            and adaptive is not None
            and adaptive.rate is None
            and not plan.hold.until_ns
            and not adaptive.line
        ):
            return await self._dormant(plan, adaptive, request, call_next)
        costs = self.costs(plan, request)
        clock = self._clock
        if plan.timed or plan.hold.until_ns or (adaptive is not None and adaptive.rate):
            now = now_ns(clock)
            if plan.hold.until_ns > now:
                self._check_hold(plan, request, plan.hold.until_ns - now, now)
        else:
            now = -1  # nothing to pace: spare the clock read
        marks: list[int] = []
        # the client's default deadline does not run in our own queue (first attempt);
        # any other deadline does, and the wait ends there
        window = queued(request) if request.metadata.attempt == 1 else None
        line_deadline = None
        if window is None and self._waits_keep_deadlines and request.metadata.deadline is not None:
            line_deadline = current_deadline(request)
        try:
            waited = await acquire(plan.dimensions, costs, clock, marks, now, line_deadline)
        except HeldTooLong as held:
            raise self._held_error(plan, request, held.wait_ns) from None
        except PastDeadline:
            raise deadline_error(request, QUEUED_PAST) from None
        finally:
            if window is not None:
                request = admitted(request, window, clock.now())
        ticket = _Ticket(self, plan, costs, marks, waited, now)
        try:
            reply = await call_next(request)
        except BaseException as exc:
            ticket.failed(exc)
            raise
        if isinstance(reply, EventStream):
            return reply.observe(on_close=ticket.stream_ended)
        ticket.succeeded(reply)
        return reply

    def _check_hold(self, plan: Plan, request: Request, wait_ns: int, now: int) -> None:
        """Refuse at once a request the server's requested wait would hold past its
        deadline (sleeping would only end in a timeout); the stage's cap on holds is the
        gate's (:class:`HeldTooLong`)."""
        deadline = current_deadline(request)
        if deadline is not None and now + wait_ns > round(deadline * 1e9):
            raise self._held_error(plan, request, wait_ns, "past the request's deadline")

    def _held_error(
        self, plan: Plan, request: Request, wait_ns: int, why: str = ""
    ) -> RateLimitedError:
        wait_s = wait_ns / 1e9
        because = why or f"longer than the {self._max_hold_ns / 1e9:g} s a request waits"
        return RateLimitedError(
            f"the server asked to wait {wait_s:,.3g} s more before this model is sent "
            f"anything, {because}; nothing was sent",
            provider=request.provider,
            model=request.model_name,
            error_type="server_wait",
            retryable=True,
            retry_after=wait_s,
        )

    async def _dormant(
        self, plan: Plan, adaptive: AdaptiveRate, request: Request, call_next: CallNext
    ) -> Reply:
        """The common case, kept to a counter: no limit configured for the model and the
        server has not pushed back yet, so nothing is paced or charged; only a 429 (or
        headers saying little is left) wakes the adaptive rate."""
        mark = adaptive.take(1, -1)
        try:
            reply = await call_next(request)
        except RateLimitedError as exc:
            if exc.retryable:
                self._rate_limited(plan, mark, exc, now_ns(self._clock))
            raise
        if type(reply) is Response:
            headers = reply.headers
            if headers:
                adaptive.succeeded(False, reply.usage.total_tokens, -1)
                plan.observe(read_headers(headers, time.time()), now_ns(self._clock))
        return reply

    # -- what tickets report -----------------------------------------------------------------

    def _rate_limited(self, plan: Plan, mark: int, error: RateLimitedError, now: int) -> None:
        """A retryable 429: let the adaptive rate judge it (congestion or chance), and
        hold the model as the reaction says. A wait the server named that is longer
        than the stage's cap holds the whole model whatever the share (a quota gone for
        the day is every request's problem); otherwise the retry stage honours a named
        wait for its own request."""
        retry_after = error.retry_after
        wait = round(retry_after * 1e9) if retry_after is not None and retry_after > 0 else 0
        adaptive = plan.adaptive
        hold = wait if wait >= self._max_hold_ns else 0
        if adaptive is not None:
            reaction = adaptive.rate_limited(mark, now, wait or None)
            if reaction.cut:
                self._log.info(
                    "rate_limit.decrease",
                    model=plan.model,
                    rate_rpm=round((adaptive.rate or 0.0) * 60, 3),
                    retry_after_s=retry_after,
                )
            elif reaction.storm:
                self._log.warning(
                    "rate_limit.storm",
                    model=plan.model,
                    pause_s=round(reaction.hold_ns / 1e9, 3),
                    storms=adaptive.storms,
                )
            hold = max(hold, reaction.hold_ns)
        else:
            hold = max(hold, wait)  # no adaptive rate: a named wait holds the model
        if hold:
            plan.hold.hold_until(now + hold)
        headers = error.headers
        if headers:
            plan.observe(read_headers(headers, time.time()), now)


class _Ticket:
    """One admitted attempt: what it was charged, to correct and release it once."""

    __slots__ = ("admitted", "costs", "done", "limiter", "marks", "plan", "waited")

    def __init__(
        self,
        limiter: RateLimiter,
        plan: Plan,
        costs: tuple[int, ...],
        marks: list[int],
        waited: bool,
        admitted: int = -1,
    ) -> None:
        self.limiter = limiter
        self.plan = plan
        self.costs = costs
        self.marks = marks
        self.waited = waited
        self.admitted = admitted
        """The time it was let through (-1 when the clock was not read for it)."""
        self.done = False

    def _release(self) -> None:
        for dimension in self.plan.concurrency:
            dimension.release()

    def _settle(self, input_tokens: int, output_tokens: int, now: int) -> None:
        costs = self.costs
        marks = self.marks
        for index, dimension in self.plan.tokens:
            kind = dimension.kind
            actual = (
                input_tokens + output_tokens
                if kind == TOKENS
                else input_tokens
                if kind == INPUT_TOKENS
                else output_tokens
            )
            if dimension.settle(costs[kind], actual, marks[index], now) and dimension.line:
                dimension.line[0].poke()

    def succeeded(self, response: Response) -> None:
        if self.done:
            return
        self.done = True
        plan = self.plan
        if plan.concurrency:
            self._release()
        adaptive = plan.adaptive
        if not plan.needs_tokens and adaptive is None:
            return
        clock = self.limiter._clock
        usage = response.usage
        now = -1
        if plan.needs_tokens and (usage.input_tokens or usage.output_tokens):
            now = now_ns(clock)
            self._settle(usage.input_tokens, usage.output_tokens, now)
        if adaptive is not None:
            if adaptive.rate is not None and now < 0:
                now = now_ns(clock)
            held = self.waited or bool(self.marks[plan.adaptive_index] & 1)
            latency = now - self.admitted if self.admitted >= 0 and now >= 0 else 0
            if adaptive.succeeded(held, usage.total_tokens, now, latency) and adaptive.line:
                adaptive.line[0].poke()
        headers = response.headers
        if headers:
            plan.observe(read_headers(headers, time.time()), now_ns(clock))

    def failed(self, error: BaseException) -> None:
        if self.done:
            return
        self.done = True
        self._release()
        if not isinstance(error, ProviderError) or error.status is None:
            return  # cancelled, cut or timed out: the provider may have spent it all
        if isinstance(error, StreamError):
            return
        now = now_ns(self.limiter._clock)
        if self.plan.needs_tokens:
            self._settle(0, 0, now)
        if isinstance(error, RateLimitedError) and error.retryable:
            plan = self.plan
            mark = self.marks[plan.adaptive_index] if plan.adaptive is not None else 0
            self.limiter._rate_limited(plan, mark, error, now)

    def abandoned(self) -> None:
        """A stream closed before its end: the slot is freed, the charge stays."""
        if not self.done:
            self.done = True
            self._release()

    def stream_ended(self, response: Response | None, error: BaseException | None) -> None:
        """A streamed attempt's end (its ``on_close``): settled on Done, failed on an
        error, abandoned when closed before its end."""
        if response is not None:
            self.succeeded(response)
        elif error is not None:
            self.failed(error)
        else:
            self.abandoned()


def build_limiter(context: ChainContext) -> RateLimiter | None:
    """The stage from ``context.settings["rate_limit"]``: None means the defaults (AIMD
    per model, no fixed limits), False leaves the stage out, else a
    :class:`~sluicegate.limits.RateLimits` (or a mapping of its fields), a
    :class:`~sluicegate.limits.Limit` or a list of them."""
    settings = RateLimits.from_setting(context.settings.get("rate_limit"))
    if settings is None:
        return None
    planner = Planner(settings, context.providers, context.clock)
    if not planner.active:
        return None
    logger = context.settings.get("logger")
    if context.store is not None:
        from sluicegate.limits.shared import SharedRateLimiter

        return SharedRateLimiter(
            settings, context.clock, planner, context.store, context.providers, logger
        )
    return RateLimiter(settings, context.clock, planner, logger)
