"""The things a request must have room in before it is sent: rate buckets (requests,
tokens, input tokens, output tokens), a concurrency count, and a hold set by a server's
Retry-After.

Each dimension answers two questions synchronously, ``wait_ns(cost, now)`` ("how long
until this fits", or None for "until something is released") and ``take(cost, now)``,
so :mod:`sluicegate.limits.gate` can check every dimension of a request before taking
from any of them: a request is admitted into all of them at once or into none, and no
capacity is held while it waits for another dimension.

Each dimension also carries ``line``, the FIFO of requests waiting on it, which the gate
uses to serve waiters first come, first served.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Final, Protocol

from sluicegate.limits.gcra import NS_PER_MINUTE, Gcra

if TYPE_CHECKING:
    from sluicegate.limits.gate import Waiter

__all__ = [
    "CONCURRENCY",
    "HOLD",
    "INPUT_TOKENS",
    "KIND_NAMES",
    "OUTPUT_TOKENS",
    "REQUESTS",
    "TOKENS",
    "ConcurrencyDimension",
    "Dimension",
    "HeldTooLong",
    "HoldDimension",
    "RateDimension",
]

# What a dimension counts; a request's costs are a tuple indexed by these.
REQUESTS: Final = 0
TOKENS: Final = 1
INPUT_TOKENS: Final = 2
OUTPUT_TOKENS: Final = 3
CONCURRENCY: Final = 4
HOLD: Final = 5
KIND_NAMES: Final = (
    "requests per minute",
    "tokens per minute",
    "input tokens per minute",
    "output tokens per minute",
    "concurrent requests",
    "retry-after hold",
)


class Dimension(Protocol):
    """One limit a request must fit."""

    kind: int
    """What it counts (REQUESTS, TOKENS...): indexes a request's costs."""
    label: str
    """The scope it belongs to (``"openai/gpt-4o"``), for error messages."""
    line: deque[Waiter]
    """Requests waiting on this dimension, in arrival order (see the gate)."""

    def wait_ns(self, cost: int, now_ns: int) -> int | None:
        """0 if ``cost`` fits now, nanoseconds until it does, or None: until released."""
        ...

    def take(self, cost: int, now_ns: int) -> int:
        """Take ``cost`` now; returns a mark for later corrections (or 0)."""
        ...

    @property
    def capacity(self) -> int | None:
        """The largest cost that can ever fit, or None for no such bound."""
        ...


def _describe(dimension: Dimension) -> str:
    return f"<{type(dimension).__name__} {dimension.label}: {KIND_NAMES[dimension.kind]}>"


class RateDimension(Gcra):
    """A per-minute limit (requests or tokens) as a GCRA bucket.

    ``burst`` is the pace: how much may leave at once. ``fit`` is the largest charge
    that may ever be admitted (a minute's worth): a charge above the burst waits until
    the bucket has drained and is then taken whole, so big requests are paced, not
    refused. ``per_model`` marks a bucket that counts exactly one model's traffic, the
    only kind a server's ``x-ratelimit-remaining-*`` headers (which are per model) may
    correct.
    """

    __slots__ = ("fit", "kind", "label", "line", "per_model")

    def __init__(
        self,
        kind: int,
        label: str,
        per_minute: int,
        burst: int,
        *,
        per_model: bool = False,
        fit: int | None = None,
    ) -> None:
        super().__init__(per_minute, NS_PER_MINUTE, burst)
        self.kind = kind
        self.label = label
        self.line: deque[Waiter] = deque()
        self.per_model = per_model
        self.fit = max(fit if fit is not None else burst, burst)

    def __repr__(self) -> str:
        return _describe(self)

    def wait_ns(self, cost: int, now_ns: int) -> int:
        return Gcra.wait_ns(self, cost if cost <= self.burst else self.burst, now_ns)

    take = Gcra.charge  # no extra call layer on the hot path

    @property
    def capacity(self) -> int | None:
        return self.fit


class ConcurrencyDimension:
    """At most ``limit`` requests in flight; a place is given back by :meth:`release`.

    Not an ``anyio.CapacityLimiter``: its waiters would queue apart from the rate
    dimensions', so a request could hold a slot while it waits for tokens (or tokens
    while it waits for a slot). Here the slot is one more dimension of the same atomic,
    first-come-first-served admission.
    """

    __slots__ = ("in_use", "kind", "label", "limit", "line")

    def __init__(self, label: str, limit: int) -> None:
        self.kind = CONCURRENCY
        self.label = label
        self.line: deque[Waiter] = deque()
        self.limit = limit
        self.in_use = 0

    def __repr__(self) -> str:
        return _describe(self)

    def wait_ns(self, cost: int, now_ns: int) -> int | None:
        return 0 if self.in_use < self.limit else None

    def take(self, cost: int, now_ns: int) -> int:
        self.in_use += 1
        return 0

    def release(self) -> None:
        self.in_use -= 1
        line = self.line
        if line:
            line[0].poke()

    @property
    def capacity(self) -> int | None:
        return None


class HoldDimension:
    """Nothing passes before ``until_ns``: set from a 429's Retry-After (or a storm's
    pause), so that the requests queued behind a refused one do not all run into the
    same wall. A hold longer than ``max_wait_ns`` is not waited out: the gate raises
    :class:`HeldTooLong` instead (the stage turns it into a typed rate-limit error)."""

    __slots__ = ("kind", "label", "line", "max_wait_ns", "until_ns")

    def __init__(self, label: str, max_wait_ns: int | None = None) -> None:
        self.kind = HOLD
        self.label = label
        self.line: deque[Waiter] = deque()
        self.until_ns = 0
        self.max_wait_ns = max_wait_ns

    def __repr__(self) -> str:
        return _describe(self)

    @property
    def capacity(self) -> int | None:
        return None

    def wait_ns(self, cost: int, now_ns: int) -> int | None:
        until = self.until_ns
        if not until:  # never held: no need for the time (it may not have been read)
            return 0
        wait = until - now_ns
        if wait <= 0:
            return 0
        limit = self.max_wait_ns
        if limit is not None and wait > limit:
            raise HeldTooLong(wait)
        return wait

    def take(self, cost: int, now_ns: int) -> int:
        return 0

    def hold_until(self, until_ns: int) -> None:
        if until_ns > self.until_ns:
            self.until_ns = until_ns
            line = self.line
            if line:
                line[0].poke()  # a waiter already in line looks again (and may give up)


class HeldTooLong(Exception):
    """Raised out of the gate: the model is held for ``wait_ns`` more, longer than the
    stage waits for a hold."""

    def __init__(self, wait_ns: int) -> None:
        super().__init__(wait_ns)
        self.wait_ns = wait_ns
