"""State stores: where middleware keeps state that outlives one request.

Rate-limit buckets, breaker states, idempotency records and budgets all need a place to
live that is not a stage's private dict, because "100 RPM" or "this key was answered"
must hold across every process that shares an API key (LiteLLM's pre-call checks read
local memory, so four workers let 4x the limit through). One small interface,
:class:`StateStore`, sits between the stages and that place: :class:`MemoryStore` keeps it
in the process (the default, and all a single process needs); a Redis store implements
the same three methods later, without any stage changing.

The interface is deliberately small, so that a new backend is an afternoon's work:

- keys are ``str``; each stage namespaces its own (``"idem:<key>"``, ``"rl:<scope>"``) so
  several stages can share one store and one Redis database;
- values are opaque to the store: an in-process store keeps the object itself, a remote
  store takes a codec from its caller to (de)serialise them;
- expiry is relative (``ttl_s`` seconds from now) and measured on the *store's* clock: an
  in-process store reads the client's injected :class:`~sluicegate.clock.Clock` (so tests
  expire records in virtual time), a shared store reads the server's time, which is the
  one clock every client agrees on;
- a store may forget an entry early (it is bounded: :class:`MemoryStore` evicts the least
  recently used entry), never keep one past its expiry, and never return another key's
  value. Stages treat a miss as "not known" and fall back to doing the work;
- a store that cannot reach its backend degrades instead of failing calls: ``get``
  answers None and ``put`` drops the value, after logging. The records kept here make
  calls cheaper or safer; losing them must never turn a good answer into an error.

What later stages will need beyond this (an atomic compare-and-set for token buckets, a
"put if absent" for cross-process single-flight) is added as an optional second protocol
when the first stage needs it, so a store that lacks it can still serve the others.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from sluicegate.stores.errors import StoreUnavailableError
from sluicegate.stores.memory import MemoryStore
from sluicegate.stores.redis.config import RedisStore

__all__ = ["MemoryStore", "RedisStore", "StateStore", "StoreUnavailableError"]

V = TypeVar("V")


class StateStore(Protocol[V]):
    """Keyed values with an optional expiry: the one interface every state backend offers.

    All methods are async because a shared store does I/O; the in-memory store answers
    without suspending, so using it costs a coroutine call and nothing more.
    """

    async def get(self, key: str) -> V | None:
        """The live value under ``key``, or None if it was never put, has expired, was
        deleted or was evicted."""
        ...

    async def put(self, key: str, value: V, *, ttl_s: float | None = None) -> None:
        """Keep ``value`` under ``key`` (replacing any old value) for ``ttl_s`` seconds of
        the store's clock; None means until evicted or deleted, 0 or less means do not
        keep it (and forget any old value)."""
        ...

    async def delete(self, key: str) -> None:
        """Forget ``key``; deleting a missing key is not an error."""
        ...
