"""The in-process state store: a bounded LRU map with expiry on the injected clock.

Bounded because a store that grows with every distinct key is a memory leak in a long
run (a ``sluicegate run`` over millions of lines must stay flat); LRU because the entries
worth keeping are the ones being asked for. Expiry reads the client's :class:`Clock`, so a
test moves a :class:`~sluicegate.clock.FakeClock` forward an hour instead of sleeping one.

Expired entries are dropped when they are read, when they reach the least recently used
end of the map on a ``put``, or when they are evicted; there is no sweeper task, so the
store costs nothing while idle and needs no task group to live in.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

from sluicegate.clock import AnyioClock, Clock

__all__ = ["MemoryStore"]

V = TypeVar("V")

_NEVER = float("inf")


class MemoryStore(Generic[V]):
    """A :class:`~sluicegate.stores.StateStore` kept in this process.

    At most ``max_entries`` values are kept (0 keeps none); putting one more evicts the
    least recently used, where both ``put`` and a ``get`` that finds a live value count as
    a use. No method suspends, so concurrent tasks see each operation as atomic.
    """

    __slots__ = ("_clock", "_entries", "max_entries")

    def __init__(self, *, max_entries: int = 10_000, clock: Clock | None = None) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self.max_entries = max_entries
        self._clock: Clock = clock if clock is not None else AnyioClock()
        self._entries: OrderedDict[str, tuple[V, float]] = OrderedDict()

    def __len__(self) -> int:
        """Entries held, including expired ones not yet dropped (never above the bound)."""
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<MemoryStore {len(self._entries)}/{self.max_entries} entries>"

    async def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires_at = entry
        if self._clock.now() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def put(self, key: str, value: V, *, ttl_s: float | None = None) -> None:
        entries = self._entries
        if ttl_s is not None and ttl_s <= 0:
            entries.pop(key, None)
            return
        if self.max_entries == 0:
            return
        now = self._clock.now()
        entries[key] = (value, _NEVER if ttl_s is None else now + ttl_s)
        entries.move_to_end(key)
        # Expired entries at the cold end go first (cheap, and frees room without losing
        # anything live); then evict live ones, least recently used first, to the bound.
        while len(entries) > 1:
            oldest_key, (_, expires_at) = next(iter(entries.items()))
            if now < expires_at:
                break
            del entries[oldest_key]
        while len(entries) > self.max_entries:
            entries.popitem(last=False)

    async def delete(self, key: str) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget everything (tests; a client that wants a clean slate)."""
        self._entries.clear()
