"""Calls the store's Lua scripts directly, with a virtual time, against the real server.

Every script takes the time as its first argument (empty: Redis's ``TIME``); these
helpers pass their own, so a test steps through minutes of virtual time in a few
hundred script calls, and judges the outcome from what Redis itself decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sluicegate.stores.redis.connection import SharedStore


@dataclass(frozen=True)
class Bucket:
    key: str
    per_minute: int
    burst: int

    @property
    def interval(self) -> str:
        return repr(60_000_000 / self.per_minute)


@dataclass(frozen=True)
class Admission:
    admitted: bool
    wait_us: int
    hold_us: int
    full: bool
    marks: tuple[str, ...]


async def admit(
    store: SharedStore,
    now_us: int,
    hold_key: str,
    buckets: Sequence[tuple[Bucket, int]],
    leases: Sequence[tuple[str, int]] = (),
    lease_id: str = "lease",
    lease_us: int = 1_000_000,
) -> Admission:
    keys = [hold_key, *(b.key for b, _ in buckets), *(k for k, _ in leases)]
    argv: list[Any] = [str(now_us), len(buckets), len(leases), lease_id, lease_us, 20_000]
    for bucket, cost in buckets:
        argv.extend((bucket.interval, bucket.burst, cost))
    argv.extend(limit for _, limit in leases)
    reply = await store.run("ADMIT", keys, argv, "test")
    if reply[0] == 1:
        return Admission(True, 0, 0, False, tuple(reply[1:]))
    return Admission(False, int(float(reply[1])), int(float(reply[2])), reply[3] == 1, ())


async def settle(
    store: SharedStore,
    now_us: int,
    marker: str,
    corrections: Sequence[tuple[Bucket, int, str, str]],
) -> bool:
    """(bucket, actual - estimated, epoch, mark) per bucket; whether it was applied."""
    keys = [marker, *(b.key for b, _, _, _ in corrections)]
    argv: list[Any] = [str(now_us), len(corrections), 60_000]
    for bucket, delta, epoch, mark in corrections:
        argv.extend((bucket.interval, delta, epoch, mark))
    return bool(await store.run("SETTLE", keys, argv, "test"))


async def hold(store: SharedStore, now_us: int, key: str, wait_us: int) -> int:
    return int(float(await store.run("HOLD", [key], [str(now_us), wait_us], "test")))
