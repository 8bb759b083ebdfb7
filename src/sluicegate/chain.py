"""The middleware chain: stages, their default order, and composing them once.

A middleware is an async callable ``(request, call_next) -> reply``, the shape of ASGI
middleware and of tower's Service. A plain call's reply is a :class:`Response`; a streamed
call's reply is an :class:`EventStream`, which a stage that must see the end of the stream
(logging, cost, idempotency, breaker, rate limit) wraps with :meth:`EventStream.observe`
instead of consuming it.

The chain is composed once, when the client is built, into nested :class:`_Link` objects;
per request there is no lookup, no list walk and no plugin call, only one plain call per
stage.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from sluicegate.clock import AnyioClock, Clock
from sluicegate.streaming import EventStream
from sluicegate.types import Request, Response

if TYPE_CHECKING:
    from sluicegate.observers import Observers
    from sluicegate.providers.base import BoundProvider
    from sluicegate.stores.redis.connection import SharedStore

Reply: TypeAlias = Response | EventStream
CallNext: TypeAlias = Callable[[Request], Awaitable[Reply]]


class Middleware(Protocol):
    """One stage. Call ``call_next(request)`` at most once per attempt it makes."""

    async def __call__(self, request: Request, call_next: CallNext) -> Reply: ...


class Phase(IntEnum):
    """Where a stage sits by default, outermost first.

    The order is the one Polly and resilience4j recommend: budget and idempotency once per
    logical request, fallback outside retry, the breaker inside retry so it counts every
    attempt, the rate limiter admitting every attempt, auth innermost because the key
    depends on the provider that fallback chose. The total deadline sits just inside
    logging, outside every stage that spends time on the request's behalf; the structured
    stage just inside it (its re-asks spend the same deadline, and each ask is priced and
    budgeted by the cost stage below as the request it is). There is no per-attempt
    timeout phase: per-attempt timeouts are the transports' own timers.
    """

    LOGGING = 100
    DEADLINE = 150
    STRUCTURED = 170
    COST = 200
    IDEMPOTENCY = 300
    FALLBACK = 400
    RETRY = 500
    BREAKER = 600
    RATE_LIMIT = 700
    ATTEMPT = 850
    AUTH = 900


class CircuitBoard:
    """Where the breaker stage shows its circuits' states to the other stages of one
    client (the OpenTelemetry attempt span reports the state an attempt was admitted
    in). One per client, kept across rebuilds like ``providers``: the breaker stage
    attaches its reader when it is built; a client without one leaves it empty, and
    :meth:`state` then says None (no circuit), never a made-up ``"closed"``."""

    __slots__ = ("_reader",)

    def __init__(self) -> None:
        self._reader: Callable[[str], str] | None = None

    def attach(self, reader: Callable[[str], str]) -> None:
        """``reader(model)``: the state of that model's circuit now (``"closed"``,
        ``"open"``, ``"half_open"``)."""
        self._reader = reader

    def state(self, model: str) -> str | None:
        """The state of ``model``'s circuit (``"provider/model"``), or None without a
        breaker stage."""
        reader = self._reader
        return None if reader is None else reader(model)


@dataclass(frozen=True, slots=True)
class ChainContext:
    """What a middleware factory may use while the client is being built.

    ``clock`` and ``rng`` are the client's injected time and randomness: every stage that
    waits, measures or jitters uses them, so tests replace both. ``settings`` holds each
    stage's configuration under its name (``"retry"``, ``"rate_limit"``...): None means
    the stage's defaults, False turns the stage off.

    ``store`` is the client's open shared store (``Client(store=...)``), or None when
    state is kept in the process: a stage whose state must hold across processes (rate
    limits, circuits, budgets, idempotency records) keeps it there.

    ``circuits`` shows the breaker stage's circuit states to other stages.

    ``providers`` and ``observers`` are the client's own, updated in place when a plugin
    registered later adds to them, while a stage built before is kept (see
    :mod:`sluicegate.stage_builder`): a stage that needs a provider looks it up in
    ``providers`` when it needs it, rather than copying the mapping at build, so that it
    also serves a provider added after it was built.
    """

    providers: Mapping[str, BoundProvider]
    observers: Observers
    settings: Mapping[str, Any] = field(default_factory=dict)
    clock: Clock = field(default_factory=AnyioClock)
    rng: random.Random = field(default_factory=random.Random)
    store: SharedStore | None = None
    circuits: CircuitBoard = field(default_factory=CircuitBoard)


def stage_name(name: str) -> str:
    """A stage's name as the chain spells it: with underscores, like the settings key
    that configures it (``"rate_limit"``); a hyphenated name from an earlier release
    (``"rate-limit"``) means the same stage."""
    return name.replace("-", "_")


MiddlewareFactory: TypeAlias = Callable[[ChainContext], "Middleware | None"]


@dataclass(frozen=True, slots=True)
class MiddlewareSpec:
    """A named stage contributed by a plugin: where it goes and how to build it.

    ``factory`` runs once per client and may return None to leave the stage out (a
    middleware with nothing to do costs nothing per request). A later spec with the same
    name replaces an earlier one, which is how a user swaps out a built-in stage.
    """

    name: str
    phase: int
    factory: MiddlewareFactory
    order: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", stage_name(self.name))

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.phase, self.order)


class _Link:
    """One stage bound to the rest of the chain; calling it starts the stage's coroutine."""

    __slots__ = ("_middleware", "_next")

    def __init__(self, middleware: Middleware, call_next: CallNext) -> None:
        self._middleware = middleware
        self._next = call_next

    def __call__(self, request: Request) -> Awaitable[Reply]:
        return self._middleware(request, self._next)


def compose(middlewares: Sequence[Middleware], terminal: CallNext) -> CallNext:
    """Nest the stages around ``terminal``; the first middleware is the outermost."""
    handler: CallNext = terminal
    for middleware in reversed(middlewares):
        handler = _Link(middleware, handler)
    return handler


def order_specs(specs: Sequence[MiddlewareSpec], disabled: frozenset[str]) -> list[MiddlewareSpec]:
    """Keep the last spec for each name, drop disabled ones, sort by phase then order."""
    by_name: dict[str, MiddlewareSpec] = {}
    for spec in specs:
        by_name[spec.name] = spec
    kept = [s for s in by_name.values() if s.name not in disabled]
    return sorted(kept, key=lambda s: s.sort_key)
