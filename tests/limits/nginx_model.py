"""A client run against an in-memory server behind the mock's model of nginx
``limit_req``, in virtual time: the quick way to see what the limiter does against a
per-second limiter with a tiny burst that answers a bare 429 (no headers, no
Retry-After).

The limiter is the mock server's own (:mod:`sluicegate.testing.mock_limit_req`, nginx's
rule kept exact), reading the shared virtual clock. The real nginx is tested in
tests/realpeers; this runs minutes in a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio

from sluicegate import Client, MiddlewareSpec, ProviderSettings
from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.clock import Clock
from sluicegate.testing.faults import FaultPlan
from sluicegate.testing.mock_app import MockConfig, create_app
from sluicegate.transports.memory import MemoryTransport
from sluicegate.types import Request

from .helpers import BASE_URL, KEY, QUIET
from .virtual_time import VirtualClock


class Latency:
    """The server's answer time, on the virtual clock (the mock's own latency sleeps on
    the wall clock); a refusal comes back at once, as nginx sends it without asking the
    upstream."""

    def __init__(self, clock: Clock, seconds: float) -> None:
        self._clock = clock
        self._seconds = seconds

    def factory(self, context: ChainContext) -> Any:
        async def stage(request: Request, call_next: CallNext) -> Reply:
            reply = await call_next(request)
            await self._clock.sleep(self._seconds)
            return reply

        return stage


@dataclass
class Outcome:
    duration_s: float
    answered: int
    failed: int
    attempts: int
    refused: int


async def run_lines(
    *,
    lines: int,
    concurrency: int,
    rate_rps: int,
    burst: int,
    rpm: int | None,
    latency_s: float = 0.02,
    settings: dict[str, Any] | None = None,
    faults: FaultPlan | None = None,
) -> Outcome:
    """``lines`` requests through the whole default chain, ``concurrency`` at once,
    against the modelled nginx, with the rate limits ``sluicegate run`` uses (``rpm`` as
    a limit per model, slow start); figures in virtual seconds."""
    from sluicegate.limits import Adaptive, Limit, RateLimits

    clock = VirtualClock(start=1000.0)
    app = create_app(
        MockConfig(clock=clock, faults=faults or FaultPlan(), limit_rps=rate_rps, limit_burst=burst)
    )
    stage_settings: dict[str, Any] = dict(settings or {})
    rules = (Limit("*/*", rpm=rpm),) if rpm is not None else ()
    # as ``sluicegate run`` builds its client: slow start on
    stage_settings.setdefault(
        "rate_limit", RateLimits(rules=rules, adaptive=Adaptive(slow_start=True))
    )
    client = Client(
        providers={"openai": ProviderSettings(base_url=BASE_URL, api_key=KEY)},
        transport=MemoryTransport(app),
        clock=clock,
        load_entry_points=False,
        middleware=[MiddlewareSpec("latency", 950, Latency(clock, latency_s).factory)],
        stage_settings=stage_settings,
        logger=QUIET,
    )
    answered = failed = 0
    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        async with client:
            start = clock.now()
            requests = (
                client.request("openai/fast", f"line {i}", caller_id=str(i), max_tokens=8)
                for i in range(lines)
            )
            async with client.map(requests, concurrency=concurrency) as results:
                async for result in results:
                    if result.ok:
                        answered += 1
                    else:
                        failed += 1
            duration = clock.now() - start
        group.cancel_scope.cancel()
    limiter = app.limit_req
    assert limiter is not None
    return Outcome(duration, answered, failed, app.stats.requests, limiter.refused)
