"""Rate limits shared by every process that uses one store: the rate-limit stage with a
:class:`~sluicegate.stores.RedisStore`.

What changes from the in-process stage (:mod:`sluicegate.limits.stage`), and why:

- **The configured limits live in Redis.** Each attempt is admitted by one Lua script
  (:data:`~sluicegate.stores.redis.scripts.ADMIT`) against every bucket and concurrency
  limit of its model at once, on Redis's clock, or by none; a refusal says how long to
  wait and charges nothing. Four workers with "1,200 RPM" send 1,200 RPM between them,
  not 4,800 (LiteLLM #27736).
- **One admission in flight per model per process.** Requests that find their model's
  limit busy wait in this process's line (first come, first served) while the head of
  the line sleeps exactly the wait Redis named, then asks again; so a process with 256
  requests waiting makes one call per wait, not 256.
- **Tokens** are charged as the estimate when admitted, and corrected from the usage in
  the background (:data:`~sluicegate.stores.redis.scripts.SETTLE`), once per attempt.
- **Concurrency** slots are leases with an expiry, renewed while held
  (:class:`~sluicegate.stores.redis.connection.SharedStore`), so a killed process's slots
  come back after ``lease_s``.
- **A server-requested wait is shared**: a 429's hold (Retry-After, a storm's pause) is
  written to Redis as the model's hold, which every process's admission honours.
- **What stays local**: the adaptive rate (each process finds its own share from the
  answers it gets) and the hold as this process knows it; they are admitted first,
  in-process, as before.
- **Redis away**: :class:`~sluicegate.stores.errors.StoreUnavailableError` (fail closed),
  or with ``fallback_processes=N`` the request is admitted by local buckets holding
  each limit divided by N until Redis answers again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import anyio

from sluicegate.chain import CallNext, Reply
from sluicegate.clock import Clock
from sluicegate.errors import ProviderError, RateLimitedError, StreamError
from sluicegate.limits.config import Limit, RateLimits
from sluicegate.limits.dimensions import (
    INPUT_TOKENS,
    OUTPUT_TOKENS,
    REQUESTS,
    TOKENS,
    ConcurrencyDimension,
    HeldTooLong,
    RateDimension,
)
from sluicegate.limits.gate import PastDeadline, acquire, now_ns
from sluicegate.limits.plan import Plan, Planner
from sluicegate.limits.stage import RateLimiter, _Ticket
from sluicegate.middleware.deadline import (
    QUEUED_PAST,
    admitted,
    current_deadline,
    deadline_error,
    queued,
)
from sluicegate.stores.errors import StoreUnavailableError
from sluicegate.streaming import EventStream
from sluicegate.types import Request, Response

if TYPE_CHECKING:
    from sluicegate.providers.base import BoundProvider
    from sluicegate.stores.redis.connection import SharedStore

__all__ = ["SharedPlan", "SharedRateLimiter", "local_share"]

_KIND_KEYS = {REQUESTS: "rpm", TOKENS: "tpm", INPUT_TOKENS: "itpm", OUTPUT_TOKENS: "otpm"}
_TOKEN_KINDS = (TOKENS, INPUT_TOKENS, OUTPUT_TOKENS)
_POLL_US = 20_000
"""How often the head of a line asks again while a concurrency limit is full (another
process's release cannot poke this one's waiters)."""
_SETTLED_TTL_MS = 60_000
"""How long the once-marker of a correction is kept (longer than any retry of it)."""


def local_share(rules: Sequence[Limit], processes: int) -> tuple[Limit, ...]:
    """Each rule's share for one of ``processes`` processes: every limit divided by N
    (rounded down, at least 1), what a process may send while the store is away."""
    shared: list[Limit] = []
    for rule in rules:
        changes: dict[str, Any] = {}
        for name in ("rpm", "tpm", "input_tpm", "output_tpm", "concurrency"):
            value = getattr(rule, name)
            if value is not None:
                changes[name] = max(1, value // processes)
        shared.append(replace(rule, **changes))
    return tuple(shared)


class SharedPlan:
    """One model's shared limits: the keys and the constant arguments of its admission
    script, and the line of this process's requests waiting on them."""

    __slots__ = (
        "_args",
        "_cc_limits",
        "_keys",
        "_lease_args",
        "_lock",
        "_waiting",
        "cc_keys",
        "full",
        "hold_key",
        "local",
        "store",
        "tag",
        "tokens",
    )

    def __init__(
        self,
        store: SharedStore,
        tag: str,
        model: str,
        rates: Sequence[RateDimension],
        concurrency: Sequence[ConcurrencyDimension],
        local: Plan,
        full: Plan,
    ) -> None:
        keys = store.keys
        self.full = full
        """The model's whole plan: what a request's costs are sized against."""
        self.store = store
        self.tag = tag
        self.local = local
        """The in-process part: the adaptive rate and the hold, as a plan of its own."""
        self.hold_key = keys.hold(tag, model)
        rate_keys = [keys.rate(tag, d.label, _KIND_KEYS[d.kind], d.rate, d.burst) for d in rates]
        self.cc_keys = [keys.leases(tag, d.label, d.limit) for d in concurrency]
        self._keys = [self.hold_key, *rate_keys, *self.cc_keys]
        self._args: list[tuple[int, str, int]] = [
            (d.kind, repr(60_000_000 / d.rate), d.burst) for d in rates
        ]
        """(cost kind, microseconds per unit, burst) of each bucket, in key order."""
        self.tokens = [
            (key, kind, interval, index)
            for index, (key, (kind, interval, _)) in enumerate(
                zip(rate_keys, self._args, strict=True)
            )
            if kind in _TOKEN_KINDS
        ]
        """(key, cost kind, microseconds per unit, position among the buckets) of each
        token bucket: the ones a correction touches."""
        self._cc_limits = [d.limit for d in concurrency]
        self._lease_args = (store.lease_us, _POLL_US)
        self._lock = anyio.Lock()
        self._waiting = 0

    def _argv(self, costs: Sequence[int], lease: str) -> list[str | int | float]:
        argv: list[str | int | float] = ["", len(self._args), len(self._cc_limits), lease]
        argv += self._lease_args
        for kind, interval, burst in self._args:
            argv += (interval, burst, costs[kind])
        argv += self._cc_limits
        return argv

    async def admit(
        self, costs: Sequence[int], deadline: float | None, max_hold_ns: int
    ) -> SharedTicket:
        """Wait, in this process's line, until Redis admits the request into every
        shared limit; raises HeldTooLong, PastDeadline or StoreUnavailableError."""
        lease = self.store.lease_id()
        argv = self._argv(costs, lease)
        if not self._waiting:
            reply = await self.store.run("ADMIT", self._keys, argv, "rate limit admission")
            if reply[0] == 1:
                return self._admitted(reply, costs, lease)
        self._waiting += 1
        try:
            async with self._lock:
                while True:
                    reply = await self.store.run("ADMIT", self._keys, argv, "rate limit admission")
                    if reply[0] == 1:
                        return self._admitted(reply, costs, lease)
                    wait_s = float(reply[1]) / 1e6
                    hold_ns = round(float(reply[2]) * 1000)
                    if hold_ns > max_hold_ns:
                        raise HeldTooLong(hold_ns)
                    if deadline is not None:
                        left = deadline - anyio.current_time()
                        if left <= wait_s:
                            await anyio.sleep(max(left, 0.0))
                            raise PastDeadline
                    await anyio.sleep(wait_s)
        finally:
            self._waiting -= 1

    def _admitted(self, reply: Sequence[Any], costs: Sequence[int], lease: str) -> SharedTicket:
        if self.cc_keys:
            self.store.hold_leases(self.cc_keys, lease)
        return SharedTicket(self, costs, lease, reply[1:])

    def hold(self, wait_ns: int) -> None:
        """Publish a server-requested hold of the model, for every process."""
        if wait_ns > 0:
            self.store.defer(
                "HOLD", [self.hold_key], ["", math.ceil(wait_ns / 1000)], "shared hold"
            )


class SharedTicket:
    """One attempt admitted by Redis: to correct its token charge and give back its
    concurrency slots, once."""

    __slots__ = ("costs", "done", "lease", "marks", "plan")

    def __init__(
        self, plan: SharedPlan, costs: Sequence[int], lease: str, marks: Sequence[Any]
    ) -> None:
        self.plan = plan
        self.costs = costs
        self.lease = lease
        self.marks = marks
        self.done = False

    def settle(self, input_tokens: int, output_tokens: int) -> None:
        """Correct the token charge from the usage (in the background, once)."""
        plan = self.plan
        if not plan.tokens:
            return
        costs = self.costs
        marks = self.marks
        argv: list[str | int | float] = ["", len(plan.tokens), _SETTLED_TTL_MS]
        keys = [plan.store.keys.settled(plan.tag, self.lease)]
        changed = False
        for key, kind, interval, i in plan.tokens:
            actual = (
                input_tokens + output_tokens
                if kind == TOKENS
                else input_tokens
                if kind == INPUT_TOKENS
                else output_tokens
            )
            delta = actual - costs[kind]
            changed = changed or delta != 0
            keys.append(key)
            argv.extend((interval, delta, marks[2 * i], marks[2 * i + 1]))
        if changed:
            plan.store.defer("SETTLE", keys, argv, "token correction")

    def release(self) -> None:
        if self.plan.cc_keys:
            self.plan.store.release_leases(self.plan.cc_keys, self.lease)

    def succeeded(self, response: Response) -> None:
        if self.done:
            return
        self.done = True
        self.release()
        usage = response.usage
        if usage.input_tokens or usage.output_tokens:
            self.settle(usage.input_tokens, usage.output_tokens)

    def failed(self, error: BaseException) -> None:
        if self.done:
            return
        self.done = True
        self.release()
        answered = isinstance(error, ProviderError) and error.status is not None
        if answered and not isinstance(error, StreamError):
            self.settle(0, 0)  # an error answer: no tokens were spent

    def abandoned(self) -> None:
        if not self.done:
            self.done = True
            self.release()

    def stream_ended(self, response: Response | None, error: BaseException | None) -> None:
        if response is not None:
            self.succeeded(response)
        elif error is not None:
            self.failed(error)
        else:
            self.abandoned()


class SharedRateLimiter(RateLimiter):
    """The rate-limit stage when the client has a shared store (see the module
    docstring). The configured rules are admitted by Redis; the adaptive rate and the
    local hold in-process, first."""

    def __init__(
        self,
        settings: RateLimits,
        clock: Clock,
        planner: Planner,
        store: SharedStore,
        providers: Mapping[str, BoundProvider],
        logger: Any = None,
    ) -> None:
        super().__init__(settings, clock, planner, logger)
        self._store = store
        self._providers = providers
        self._shared: dict[str, SharedPlan] = {}
        self._cuts_channel = f"{store.keys.prefix}:rate-cuts"
        store.listen(self._cuts_channel, self._cut_heard)
        processes = store.config.fallback_processes
        self._fallback: Planner | None = None
        if processes is not None:
            share = RateLimits(rules=local_share(settings.rules, processes), adaptive=False)
            self._fallback = Planner(share, providers, clock)

    def shared_plan(self, model: str) -> SharedPlan:
        shared = self._shared.get(model)
        if shared is None:
            shared = self._shared[model] = self._make_shared(self.plan(model))
        return shared

    def _make_shared(self, plan: Plan) -> SharedPlan:
        tag = self._store.tag_of(self._providers, plan.model.partition("/")[0])
        rates = [d for d in plan.dimensions if isinstance(d, RateDimension)]
        concurrency = [d for d in plan.dimensions if isinstance(d, ConcurrencyDimension)]
        local_dims = [
            d for d in plan.dimensions if not isinstance(d, RateDimension | ConcurrencyDimension)
        ]
        local = Plan(plan.model, local_dims, plan.hold, plan.adaptive)
        return SharedPlan(self._store, tag, plan.model, rates, concurrency, local, plan)

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        model = request.model
        shared = self._shared.get(model) or self.shared_plan(model)
        local = shared.local
        costs = self.costs(shared.full, request)
        clock = self._clock
        now = now_ns(clock)
        if local.hold.until_ns > now:
            self._check_hold(local, request, local.hold.until_ns - now, now)
        marks: list[int] = []
        window = queued(request) if request.metadata.attempt == 1 else None
        line_deadline = None
        if window is None and self._waits_keep_deadlines and request.metadata.deadline is not None:
            line_deadline = current_deadline(request)
        outer: Any
        try:
            waited = await acquire(local.dimensions, costs, clock, marks, now, line_deadline)
            ticket = _Ticket(self, local, costs, marks, waited, now)
            try:
                outer = await shared.admit(costs, line_deadline, self._max_hold_ns)
            except StoreUnavailableError:
                if self._fallback is None:
                    ticket.abandoned()
                    raise
                outer = await self._admit_locally(model, costs, line_deadline, ticket)
            except BaseException:
                ticket.abandoned()
                raise
        except HeldTooLong as held:
            raise self._held_error(local, request, held.wait_ns) from None
        except PastDeadline:
            raise deadline_error(request, QUEUED_PAST) from None
        finally:
            if window is not None:
                request = admitted(request, window, clock.now())
        try:
            reply = await call_next(request)
        except BaseException as exc:
            ticket.failed(exc)
            outer.failed(exc)
            raise
        if isinstance(reply, EventStream):
            return reply.observe(on_close=_both(ticket, outer))
        ticket.succeeded(reply)
        outer.succeeded(reply)
        return reply

    async def _admit_locally(
        self, model: str, costs: Sequence[int], deadline: float | None, ticket: _Ticket
    ) -> _Ticket:
        """The store is away and a local share was chosen: admit by buckets holding each
        limit divided by the declared number of processes."""
        assert self._fallback is not None
        plan = self._fallback.plan(model)
        marks: list[int] = []
        try:
            waited = await acquire(plan.dimensions, costs, self._clock, marks, None, deadline)
        except BaseException:
            ticket.abandoned()
            raise
        return _Ticket(self, plan, tuple(costs), marks, waited)

    def _rate_limited(self, plan: Plan, mark: int, error: RateLimitedError, now: int) -> None:
        before = plan.hold.until_ns
        adaptive = plan.adaptive
        cuts_before = adaptive.own_cuts if adaptive is not None else 0
        super()._rate_limited(plan, mark, error, now)
        shared = self._shared.get(plan.model)
        if shared is None:
            return
        until = plan.hold.until_ns
        if until > before and until > now:
            shared.hold(until - now)
        if adaptive is not None and adaptive.own_cuts != cuts_before:
            # this process cut its rate on congestion: every process sharing the model
            # cuts as much (its own rate stays its own; the cut is what is shared)
            self._store.publish(
                self._cuts_channel, f"{shared.tag}|{plan.model}|{adaptive.last_cut!r}"
            )

    def _cut_heard(self, data: str) -> None:
        """Another process cut its rate for a model: follow it, if this one sends to it."""
        tag, _, rest = data.partition("|")
        model, _, rest = rest.partition("|")
        factor_text, _, origin = rest.rpartition("|")
        if origin == self._store.owner:
            return
        shared = self._shared.get(model)
        adaptive = shared.local.adaptive if shared is not None else None
        if shared is None or adaptive is None or shared.tag != tag:
            return
        try:
            factor = float(factor_text)
        except ValueError:
            return
        if 0 < factor < 1 and adaptive.follow_cut(factor, now_ns(self._clock)):
            self._log.info(
                "rate_limit.decrease",
                model=model,
                rate_rpm=round((adaptive.rate or 0.0) * 60, 3),
                followed=True,
            )
            if adaptive.line:
                adaptive.line[0].poke()


class _both:
    """Tells two tickets a stream's end (one ``on_close``)."""

    __slots__ = ("first", "second")

    def __init__(self, first: _Ticket, second: Any) -> None:
        self.first = first
        self.second = second

    def __call__(self, response: Response | None, error: BaseException | None) -> None:
        self.first.stream_ended(response, error)
        self.second.stream_ended(response, error)
