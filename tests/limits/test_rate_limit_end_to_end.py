"""What it must show (issue 4, item 3), in virtual time on both backends: against a mock
server limited to R requests and T tokens a minute,

- a client configured with the same limits gets no 429 at all and uses at least 95% of
  the binding limit;
- a client with no limit configured (adaptive) reaches at least 85% of the server's
  capacity with at most 2% of the server's answers being 429.

Server and client share one virtual clock (the server's limiter reads it too), the app is
served in memory, so minutes of traffic take a second or two. "Capacity" over a run of
``D`` seconds is what the server's own bucket can ever admit, ``burst + rate * D``; the
steady state is also checked alone, over the second half of the run, against ``rate``.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

import anyio
import pytest

from sluicegate import Client, RateLimitedError
from sluicegate.limits import Limit, RateLimits
from sluicegate.testing.mock_app import MockApp

from .helpers import default_client, make_client, mock_app
from .virtual_time import VirtualClock

pytestmark = pytest.mark.anyio

MODEL = "openai/fast"
PROMPTS = [f"Tell me about the history of river number {i} and its bridges." for i in range(64)]


@dataclass
class Figures:
    duration_s: float
    requests: int
    tokens: int
    refused: int
    answers: int
    half_requests: int
    half_tokens: int
    half_s: float

    def usage(self, per_minute: int, which: str) -> tuple[float, float]:
        """(share of the run's capacity used, share of the rate used in the second half)"""
        used, half = (
            (self.requests, self.half_requests)
            if which == "requests"
            else (self.tokens, self.half_tokens)
        )
        capacity = per_minute + per_minute * self.duration_s / 60
        return used / capacity, half / (per_minute * self.half_s / 60)


async def drive(app: MockApp, clock: VirtualClock, settings: object, run_s: float) -> Figures:
    """``workers`` callers sending as fast as they are let through, for ``run_s`` virtual
    seconds; a 429 is counted and the caller carries on (no retry stage here)."""
    workers = 8
    start = clock.now()
    end = start + run_s
    half: list[tuple[int, int, float]] = []

    def snapshot() -> tuple[int, int, float]:
        stats = app.stats
        return stats.succeeded, stats.input_tokens + stats.output_tokens, clock.now()

    async def caller(client: Client, first: int) -> None:
        n = first
        while clock.now() < end:
            with suppress(RateLimitedError):
                await client.chat(MODEL, PROMPTS[n % len(PROMPTS)], max_tokens=64)
            n += workers

    async def sample() -> None:
        await clock.sleep(run_s / 2)
        half.append(snapshot())

    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        async with make_client(app, clock, settings) as client:
            async with anyio.create_task_group() as callers:
                callers.start_soon(sample)
                for first in range(workers):
                    callers.start_soon(caller, client, first)
        group.cancel_scope.cancel()
    requests, tokens, now = snapshot()
    stats = app.stats
    return Figures(
        duration_s=now - start,
        requests=requests,
        tokens=tokens,
        refused=stats.by_status[429],
        answers=stats.requests,
        half_requests=requests - half[0][0],
        half_tokens=tokens - half[0][1],
        half_s=now - half[0][2],
    )


@pytest.mark.parametrize(
    ("rpm", "tpm", "binding"),
    [(600, 40_000, "requests"), (1_200, 20_000, "tokens")],
    ids=["rpm-binds", "tpm-binds"],
)
@pytest.mark.parametrize("burst_s", [60.0, None], ids=["bursting", "paced"])
async def test_a_client_with_the_servers_limits_is_never_refused_and_uses_them(
    rpm: int, tpm: int, binding: str, burst_s: float | None
) -> None:
    """Told the server's limits, the client is never refused. With ``burst_s=60`` (the
    server's own burst) it uses the whole capacity, burst included; paced (the default)
    it spends the limit evenly, using all of the rate though none of the burst."""
    clock = VirtualClock(start=1_000.0)
    app = mock_app(clock, rpm=rpm, tpm=tpm)
    rule = (
        Limit("openai/*", rpm=rpm, tpm=tpm)
        if burst_s is None
        else Limit("openai/*", rpm=rpm, tpm=tpm, burst_s=burst_s)
    )
    settings = RateLimits(rules=[rule], adaptive=False)
    figures = await drive(app, clock, settings, run_s=30.0)
    per_minute = rpm if binding == "requests" else tpm
    run_share, steady_share = figures.usage(per_minute, binding)
    if burst_s is None:
        used = figures.requests if binding == "requests" else figures.tokens
        run_share = used / (per_minute * figures.duration_s / 60)
    print(f"\nfixed {binding}: {figures} run={run_share:.4f} steady={steady_share:.4f}")
    assert figures.refused == 0
    assert run_share >= 0.95 and steady_share >= 0.95, figures


async def test_adaptive_mode_finds_the_servers_capacity_with_few_429s() -> None:
    rpm, tpm = 600, 40_000
    clock = VirtualClock(start=1_000.0)
    app = mock_app(clock, rpm=rpm, tpm=tpm)
    figures = await drive(app, clock, None, run_s=120.0)  # None: the stage's defaults
    run_share, steady_share = figures.usage(rpm, "requests")
    refused_share = figures.refused / figures.answers
    print(
        f"\nadaptive: {figures} run={run_share:.4f} steady={steady_share:.4f} "
        f"429={refused_share:.4f}"
    )
    assert refused_share <= 0.02, figures
    assert run_share >= 0.85 and steady_share >= 0.85, figures


async def test_with_the_whole_default_chain_every_request_gets_through() -> None:
    """Default settings everywhere: the adaptive limiter and the retry stage together
    bring 800 requests through a 600 RPM server, the few 429s retried."""
    clock = VirtualClock(start=1_000.0)
    app = mock_app(clock, rpm=600, tpm=40_000)
    client = default_client(app, clock)
    done: list[int] = []

    async def caller(first: int) -> None:
        for n in range(first, 800, 8):
            await client.chat(MODEL, PROMPTS[n % len(PROMPTS)], max_tokens=64)
            done.append(n)

    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        async with client:
            assert "rate_limit" in client.stages and "retry" in client.stages
            async with anyio.create_task_group() as callers:
                for first in range(8):
                    callers.start_soon(caller, first)
        group.cancel_scope.cancel()
    assert sorted(done) == list(range(800))
    assert app.stats.by_status[429] <= 0.02 * app.stats.requests, app.stats.snapshot()
