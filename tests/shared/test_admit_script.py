"""The admission script against Debian's redis-server, in virtual time.

The properties are the in-process GCRA's (tests/limits/test_gcra.py), now checked on what
Redis decided: over any window, admitted cost stays within burst plus rate times the
window; a refusal's wait is exact (admitted at that moment, not a microsecond before);
every dimension or none; concurrency leases expire; a correction applies once and a
refund never gives more room than an exact replay of the true costs.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluicegate.stores.redis.config import RedisStore
from sluicegate.stores.redis.connection import SharedStore

from .scripts_driver import Bucket, admit, hold, settle

pytestmark = pytest.mark.anyio

T0 = 1_800_000_000_000_000
"""A virtual 'now' in microseconds since 1970, as Redis's TIME would give."""
_keys = itertools.count()


def fresh(prefix: str, name: str) -> str:
    return f"{prefix}:{{t}}:{name}:{next(_keys)}"


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[SharedStore]:
    shared = SharedStore(RedisStore(redis_url))
    await shared.open()
    try:
        yield shared
    finally:
        await shared.aclose()


_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@_SETTINGS
@given(
    per_minute=st.integers(1, 6000),
    burst=st.integers(1, 20),
    steps=st.lists(st.tuples(st.integers(0, 400_000), st.integers(1, 5)), min_size=1, max_size=40),
)
async def test_admitted_cost_stays_within_burst_plus_rate_over_any_window(
    store: SharedStore, prefix: str, per_minute: int, burst: int, steps: list[tuple[int, int]]
) -> None:
    bucket = Bucket(fresh(prefix, "rl"), per_minute, burst)
    hold_key = fresh(prefix, "hold")
    now = T0
    admitted: list[tuple[int, int]] = []
    for gap, cost in steps:
        now += gap
        cost = min(cost, burst)
        result = await admit(store, now, hold_key, [(bucket, cost)])
        if result.admitted:
            admitted.append((now, cost))
    interval = 60_000_000 / per_minute
    for i, (start, _) in enumerate(admitted):
        total = 0
        for at, cost in admitted[i:]:
            total += cost
            # a window [start, at] may hold at most burst + its length's worth
            assert total <= burst + (at - start) / interval + 1e-6


@_SETTINGS
@given(
    per_minute=st.integers(1, 6000),
    burst=st.integers(1, 10),
    first=st.integers(1, 10),
    second=st.integers(1, 10),
)
async def test_a_refusal_names_the_exact_wait(
    store: SharedStore, prefix: str, per_minute: int, burst: int, first: int, second: int
) -> None:
    bucket = Bucket(fresh(prefix, "rl"), per_minute, burst)
    hold_key = fresh(prefix, "hold")
    first, second = min(first, burst), min(second, burst)
    assert (await admit(store, T0, hold_key, [(bucket, first)])).admitted
    refused = await admit(store, T0, hold_key, [(bucket, second)])
    if refused.admitted:
        return  # it fitted beside the first: nothing to wait for
    assert refused.wait_us > 0
    if refused.wait_us > 1:
        early = await admit(store, T0 + refused.wait_us - 2, hold_key, [(bucket, second)])
        assert not early.admitted
    on_time = await admit(store, T0 + refused.wait_us, hold_key, [(bucket, second)])
    assert on_time.admitted


async def test_every_dimension_or_none(store: SharedStore, prefix: str, redis_url: str) -> None:
    requests = Bucket(fresh(prefix, "rpm"), 60, 10)
    tokens = Bucket(fresh(prefix, "tpm"), 600, 100)
    hold_key = fresh(prefix, "hold")
    assert (await admit(store, T0, hold_key, [(requests, 1), (tokens, 100)])).admitted
    before = await store._redis.hgetall(requests.key)
    refused = await admit(store, T0, hold_key, [(requests, 1), (tokens, 50)])
    assert not refused.admitted
    assert refused.wait_us == 5_000_000  # 50 tokens at 10 a second
    assert await store._redis.hgetall(requests.key) == before  # nothing taken


async def test_concurrency_leases_expire_and_are_released(store: SharedStore, prefix: str) -> None:
    hold_key = fresh(prefix, "hold")
    leases = fresh(prefix, "cc")
    for lease in ("a", "b"):
        result = await admit(store, T0, hold_key, [], [(leases, 2)], lease_id=lease)
        assert result.admitted
    full = await admit(store, T0 + 10, hold_key, [], [(leases, 2)], lease_id="c")
    assert not full.admitted and full.full
    assert full.wait_us == 20_000  # asks again at the poll, before the lease expires
    await store.run("RELEASE", [leases], ["a"], "test")
    assert (await admit(store, T0 + 20, hold_key, [], [(leases, 2)], lease_id="c")).admitted
    # "b" is never released (its process was killed): it expires with its lease
    refused = await admit(store, T0 + 999_999, hold_key, [], [(leases, 2)], lease_id="d")
    assert not refused.admitted
    after = await admit(store, T0 + 1_000_001, hold_key, [], [(leases, 2)], lease_id="d")
    assert after.admitted


async def test_renewal_keeps_a_live_lease_and_does_not_revive_an_expired_one(
    store: SharedStore, prefix: str
) -> None:
    hold_key = fresh(prefix, "hold")
    leases = fresh(prefix, "cc")
    assert (await admit(store, T0, hold_key, [], [(leases, 1)], lease_id="live")).admitted
    await store.run("RENEW", [leases], [str(T0 + 900_000), 1_000_000, 1, "live"], "test")
    refused = await admit(store, T0 + 1_500_000, hold_key, [], [(leases, 1)], lease_id="x")
    assert not refused.admitted  # renewed at 0.9 s until 1.9 s
    await store.run("RENEW", [leases], [str(T0 + 2_000_000), 1_000_000, 1, "live"], "test")
    assert (await admit(store, T0 + 2_000_001, hold_key, [], [(leases, 1)], "x")).admitted


async def test_a_hold_refuses_every_admission_until_it_ends(
    store: SharedStore, prefix: str
) -> None:
    bucket = Bucket(fresh(prefix, "rl"), 6000, 10)
    hold_key = fresh(prefix, "hold")
    assert await hold(store, T0, hold_key, 2_000_000) == 2_000_000
    assert await hold(store, T0, hold_key, 500_000) == 2_000_000  # the later one stays
    refused = await admit(store, T0 + 500_000, hold_key, [(bucket, 1)])
    assert not refused.admitted
    assert refused.hold_us == refused.wait_us == 1_500_000
    assert (await admit(store, T0 + 2_000_000, hold_key, [(bucket, 1)])).admitted


async def test_a_correction_applies_once(store: SharedStore, prefix: str) -> None:
    tokens = Bucket(fresh(prefix, "tpm"), 600, 100)  # 10 tokens a second
    hold_key = fresh(prefix, "hold")
    first = await admit(store, T0, hold_key, [(tokens, 100)])
    epoch, mark = first.marks
    marker = fresh(prefix, "rs")
    # it used 40 of the 100 charged: 60 back, once
    assert await settle(store, T0, marker, [(tokens, -60, epoch, mark)])
    assert not await settle(store, T0, marker, [(tokens, -60, epoch, mark)])
    assert (await admit(store, T0, hold_key, [(tokens, 60)])).admitted
    assert not (await admit(store, T0, hold_key, [(tokens, 1)])).admitted


@_SETTINGS
@given(
    costs=st.lists(st.tuples(st.integers(1, 50), st.integers(0, 50)), min_size=1, max_size=12),
    gaps=st.lists(st.integers(0, 3_000_000), min_size=12, max_size=12),
    order=st.lists(st.integers(0, 1000), min_size=12, max_size=12),
)
async def test_refunds_never_give_more_room_than_the_true_costs(
    store: SharedStore,
    prefix: str,
    costs: list[tuple[int, int]],
    gaps: list[int],
    order: list[int],
) -> None:
    """Charge estimates, settle each by its actual cost at the end (in any order), and
    compare with an exact replay: the admitted requests charged their actual costs at
    the moments they were admitted. The shared bucket is never emptier than the replay
    (it may be fuller: refunds are bounded)."""
    tokens = Bucket(fresh(prefix, "tpm"), 600, 100)
    hold_key = fresh(prefix, "hold")
    interval = 60_000_000 / tokens.per_minute
    now = T0
    exact_tat = 0.0
    pending: list[tuple[int, int, int, str, str]] = []
    for (estimate, actual), gap, rank in zip(costs, gaps, order, strict=False):
        now += gap
        actual = min(actual, estimate)
        result = await admit(store, now, hold_key, [(tokens, estimate)])
        if not result.admitted:
            continue
        exact_tat = max(exact_tat, now) + actual * interval
        pending.append((rank, estimate, actual, *result.marks))
    pending.sort()  # settled in an order of hypothesis's choosing
    for _, estimate, actual, epoch, mark in pending:
        await settle(store, now, fresh(prefix, "rs"), [(tokens, actual - estimate, epoch, mark)])
    shared_tat = float(await store._redis.hget(tokens.key, "t") or now)
    assert max(shared_tat, now) >= max(exact_tat, now) - 1e-3
