"""Circuits shared by every process that uses one store: an endpoint that one process
found failing fails fast in all of them.

Why: four workers behind one API key each find out alone that a model is down, each
spending ``min_throughput`` calls (and their retries, and the rate limit) on it. With a
store, the first process whose circuit opens writes the break into Redis and publishes
it; every process listening opens its own circuit for the time left, and a process that
starts later reads the break when it first calls that model.

What is shared is the *open* decision and its end; each process still keeps its own
window of outcomes and sends its own half-open probes when the break ends (a probe per
process is cheap, and a circuit that reopens anywhere is published again). Times cross
processes as "microseconds left", so the processes' clocks need not agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sluicegate.breaker.state import CircuitBreaker

if TYPE_CHECKING:
    from sluicegate.clock import Clock
    from sluicegate.providers.base import BoundProvider
    from sluicegate.stores.redis.connection import SharedStore

__all__ = ["SharedCircuits"]

_REASON = "another process sharing this endpoint found it failing"


class SharedCircuits:
    """The breaker stage's link to the store: publishes its openings, applies others'."""

    __slots__ = ("_applying", "_breakers", "_channel", "_clock", "_providers", "_store")

    def __init__(
        self,
        store: SharedStore,
        providers: Mapping[str, BoundProvider],
        breakers: Mapping[str, CircuitBreaker],
        clock: Clock,
    ) -> None:
        self._store = store
        self._providers = providers
        self._breakers = breakers
        self._clock = clock
        self._channel = f"{store.keys.prefix}:circuits"
        self._applying = False
        store.listen(self._channel, self._message)

    def _tag(self, model: str) -> str:
        return self._store.tag_of(self._providers, model.partition("/")[0])

    def _trip(self, breaker: CircuitBreaker, left_us: float) -> None:
        self._applying = True
        try:
            breaker.trip(self._clock.now() + left_us / 1e6, _REASON)
        finally:
            self._applying = False

    async def first_look(self, model: str, breaker: CircuitBreaker) -> None:
        """Read the model's shared circuit once, when this process first calls it. A
        store that is away is not waited for: the process finds out by itself."""
        from sluicegate.stores.errors import StoreUnavailableError

        key = self._store.keys.circuit(self._tag(model), model)
        try:
            left = float(await self._store.run("CIRCUIT", [key], [""], "circuit read"))
        except StoreUnavailableError:
            return
        if left > 0:
            self._trip(breaker, left)

    def opened(self, breaker: CircuitBreaker) -> None:
        """This process's circuit opened: open it for everyone, for the break it has."""
        if self._applying:
            return
        left_s = breaker.snapshot().open_until
        if left_s is None:
            return
        left_us = max(round((left_s - self._clock.now()) * 1e6), 1)
        model = breaker.name
        tag = self._tag(model)
        head = f"{tag}|{model}|{self._store.owner}"
        self._store.defer(
            "TRIP",
            [self._store.keys.circuit(tag, model)],
            ["", left_us, self._channel, head],
            "circuit opening",
        )

    def _message(self, data: str) -> None:
        tag, _, rest = data.partition("|")
        model, _, rest = rest.partition("|")
        origin, _, left = rest.rpartition("|")
        if origin == self._store.owner:
            return
        breaker = self._breakers.get(model)
        if breaker is None or self._tag(model) != tag:
            return  # a model this process has not called (it reads it on first use)
        try:
            left_us = float(left)
        except ValueError:
            return
        if left_us > 0:
            self._trip(breaker, left_us)
