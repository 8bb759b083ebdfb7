"""Sporadic 429s are not congestion: against a server with no limit that refuses 6% of
requests at random (the mock's ``rate_limit`` fault, Retry-After 20 ms), the adaptive
limiter must keep sending at most of the offered rate.

Before the refusal-share rule (see :mod:`sluicegate.limits.adaptive`) every such 429 cut
the rate by 30% while it climbed back by 2% of its peak a second, so the rate settled
near ``increase / ((1 - decrease) · p)`` ≈ 1 request/s whatever the server could take
(measured here: 2.4% and 4.1% of the 50 requests/s offered over the last 20 s of a
minute, seeds 1 and 2). With the rule the limiter never engages and the server receives
the whole offered rate (100.8%: a late caller catches up; 429s count, they were sent).
70% is asserted: one stray cut (to 70%) recovers within 15 s, so a single false
decrease in the last 20 s still passes, while any return to per-429 cuts fails by far.
"""

from __future__ import annotations

from contextlib import suppress

import anyio
import pytest

from sluicegate import Client, RateLimitedError
from sluicegate.testing import FaultPlan

from .helpers import make_client, mock_app
from .virtual_time import VirtualClock

pytestmark = pytest.mark.anyio

MODEL = "openai/fast"
OFFERED_PER_S = 50.0
WORKERS = 8
RUN_S = 60.0
TAIL_S = 20.0


async def offered_share(seed: int) -> float:
    """Share of the offered rate the server received over the run's last ``TAIL_S``."""
    clock = VirtualClock(start=1_000.0)
    app = mock_app(
        clock, faults=FaultPlan(rates={"rate_limit": 0.06}, seed=seed), retry_after_s=0.02
    )
    start = clock.now()
    end = start + RUN_S
    tail: list[int] = []

    async def caller(client: Client, first: int) -> None:
        """Closed loop at ``OFFERED_PER_S / WORKERS`` each: a late request is sent at
        once, so the limiter, not the caller, is what holds the rate down."""
        due = start + first / OFFERED_PER_S
        while clock.now() < end:
            if clock.now() < due:
                await clock.sleep(due - clock.now())
            with suppress(RateLimitedError):
                await client.chat(MODEL, "Tell me about rivers.", max_tokens=16)
            due += WORKERS / OFFERED_PER_S

    async def sample() -> None:
        await clock.sleep(RUN_S - TAIL_S)
        tail.append(app.stats.requests)

    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        async with make_client(app, clock, None) as client:  # None: the stage's defaults
            async with anyio.create_task_group() as callers:
                callers.start_soon(sample)
                for first in range(WORKERS):
                    callers.start_soon(caller, client, first)
        group.cancel_scope.cancel()
    stats = app.stats
    assert stats.by_status[429] > 0.03 * stats.requests  # the faults did happen
    return (stats.requests - tail[0]) / (OFFERED_PER_S * TAIL_S)


@pytest.mark.parametrize("seed", [1, 2])
async def test_random_429s_do_not_collapse_the_adaptive_rate(seed: int) -> None:
    share = await offered_share(seed)
    print(f"\nsporadic 429s, seed {seed}: {share:.4f} of the offered rate")
    assert share >= 0.70
