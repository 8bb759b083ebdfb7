"""MemoryStore: expiry on the injected clock, LRU eviction, and its bounds as a property."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sluicegate.clock import FakeClock
from sluicegate.stores import MemoryStore, StateStore

pytestmark = pytest.mark.anyio


def store_on(clock: FakeClock, max_entries: int = 10) -> MemoryStore[str]:
    return MemoryStore(max_entries=max_entries, clock=clock)


async def test_put_get_delete() -> None:
    store = store_on(FakeClock())
    assert await store.get("a") is None
    await store.put("a", "1")
    await store.put("b", "2", ttl_s=5)
    assert await store.get("a") == "1"
    assert await store.get("b") == "2"
    await store.put("a", "3")
    assert await store.get("a") == "3"
    await store.delete("a")
    await store.delete("never-there")
    assert await store.get("a") is None
    assert len(store) == 1


async def test_a_value_expires_exactly_at_its_ttl_on_the_injected_clock() -> None:
    clock = FakeClock(start=0.0)
    store = store_on(clock)
    await store.put("k", "v", ttl_s=60)
    clock.advance(59.999)
    assert await store.get("k") == "v"
    clock.advance(0.001)
    assert await store.get("k") is None
    assert len(store) == 0  # dropped when read


async def test_no_ttl_keeps_until_evicted_and_ttl_zero_forgets() -> None:
    clock = FakeClock()
    store = store_on(clock)
    await store.put("forever", "v")
    clock.advance(10**9)
    assert await store.get("forever") == "v"
    await store.put("forever", "w", ttl_s=0)
    assert await store.get("forever") is None
    await store.put("gone", "x", ttl_s=-1)
    assert len(store) == 0


async def test_least_recently_used_goes_first_and_a_hit_counts_as_use() -> None:
    store = store_on(FakeClock(), max_entries=2)
    await store.put("a", "1")
    await store.put("b", "2")
    assert await store.get("a") == "1"  # a is now the most recently used
    await store.put("c", "3")
    assert await store.get("b") is None
    assert await store.get("a") == "1"
    assert await store.get("c") == "3"
    assert len(store) == 2


async def test_expired_entries_make_room_before_live_ones_are_evicted() -> None:
    clock = FakeClock()
    store = store_on(clock, max_entries=2)
    await store.put("short", "1", ttl_s=1)
    await store.put("long", "2", ttl_s=100)
    clock.advance(2)
    await store.put("new", "3", ttl_s=100)
    assert await store.get("long") == "2"
    assert await store.get("new") == "3"


async def test_a_store_bounded_to_zero_keeps_nothing() -> None:
    store = store_on(FakeClock(), max_entries=0)
    await store.put("a", "1")
    assert await store.get("a") is None
    assert len(store) == 0
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(max_entries=-1)


async def test_memory_store_satisfies_the_protocol_and_reads_anyio_time_by_default() -> None:
    store: StateStore[str] = MemoryStore(max_entries=1)
    await store.put("a", "1", ttl_s=30)
    assert await store.get("a") == "1"
    assert "1/1" in repr(store)


# -- the bounds, as a property --------------------------------------------------------------


@dataclass
class _Model:
    """What the store may and must answer, without copying its algorithm: a hit is allowed
    only for a live, latest value; a hit is required for a live key among the
    ``max_entries`` most recently used (put, or get that hit)."""

    max_entries: int
    now: int = 0

    def __post_init__(self) -> None:
        self.values: dict[int, tuple[str, float]] = {}  # key -> (latest value, expires at)
        self.recency: list[int] = []  # most recent last

    def touch(self, key: int) -> None:
        if key in self.recency:
            self.recency.remove(key)
        self.recency.append(key)

    def live(self, key: int) -> str | None:
        entry = self.values.get(key)
        if entry is None or self.now >= entry[1]:
            return None
        return entry[0]

    def must_hit(self, key: int) -> bool:
        recent = self.recency[-self.max_entries :] if self.max_entries else []
        return key in recent and self.live(key) is not None


KEYS = st.integers(0, 3)  # few keys, so puts and gets of one key meet often
PUT = st.tuples(st.just("put"), KEYS, st.one_of(st.none(), st.integers(-1, 8)))
GET = st.tuples(st.just("get"), KEYS, st.none())
OPS = st.lists(
    st.one_of(
        PUT,
        GET,
        PUT,
        GET,
        st.tuples(st.just("delete"), KEYS, st.none()),
        st.tuples(st.just("advance"), st.integers(0, 5), st.none()),
    ),
    max_size=40,
)
# The recency rules, which a random search finds only sometimes: a hit and a re-put both
# make a key the most recently used.
GET_REFRESHES = [("put", 0, None), ("put", 1, None), ("get", 0, None), ("put", 2, None)]
PUT_REFRESHES = [("put", 0, None), ("put", 1, None), ("put", 0, 5), ("put", 2, None)]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@settings(max_examples=300, deadline=None)
@given(max_entries=st.integers(0, 4), ops=OPS)
@example(max_entries=2, ops=[*GET_REFRESHES, ("get", 0, None)])
@example(max_entries=2, ops=[*PUT_REFRESHES, ("get", 0, None)])
@example(max_entries=1, ops=[("put", 0, 2), ("advance", 2, None), ("get", 0, None)])
def test_store_never_exceeds_its_bound_never_serves_stale_and_keeps_the_recent(
    backend: str, max_entries: int, ops: list[tuple[str, int, int | None]]
) -> None:
    async def run() -> None:
        clock = FakeClock(start=0.0)
        store: MemoryStore[str] = MemoryStore(max_entries=max_entries, clock=clock)
        model = _Model(max_entries)
        for step, (op, key, arg) in enumerate(ops):
            name = f"k{key}"
            if op == "put":
                value = f"v{step}"
                await store.put(name, value, ttl_s=arg)
                if arg is not None and arg <= 0:
                    model.values.pop(key, None)
                else:
                    expires = float("inf") if arg is None else model.now + arg
                    model.values[key] = (value, expires)
                    if max_entries:
                        model.touch(key)
            elif op == "get":
                got = await store.get(name)
                if got is not None:
                    assert got == model.live(key), "a stale, expired or foreign value"
                    model.touch(key)
                else:
                    assert not model.must_hit(key), "a live recent entry was lost"
            elif op == "delete":
                await store.delete(name)
                model.values.pop(key, None)
            else:
                clock.advance(key)
                model.now += key
            assert len(store) <= max_entries

    anyio.run(run, backend=backend)
