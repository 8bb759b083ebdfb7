"""A client run against an in-memory server behind a model of nginx ``limit_req``, in
virtual time: the quick way to see what the limiter does against a per-second limiter
with a tiny burst that answers a bare 429 (no headers, no Retry-After).

The limiter model is nginx's own rule (ngx_http_limit_req_module.c), kept in integer
milliseconds as nginx keeps it: ``excess = max(excess - rate * elapsed_ms + 1000, 0)``
in thousandths of a request (``rate`` in requests per second), refused when above
``burst * 1000``; a refused request leaves ``excess`` as it was. The real
nginx is tested in tests/realpeers; this one lets a test run minutes in a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import anyio

from sluicegate import Client, MiddlewareSpec, ProviderSettings
from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.clock import Clock
from sluicegate.testing.faults import ErrorReply, FaultPlan
from sluicegate.testing.mock_app import MockConfig, create_app
from sluicegate.testing.mock_wire import MockJob
from sluicegate.transports.memory import MemoryTransport
from sluicegate.types import Request

from .helpers import BASE_URL, KEY, QUIET
from .virtual_time import VirtualClock

NGINX_429 = (
    b"<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    b"<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


@dataclass
class LimitReq:
    """nginx's ``limit_req zone rate=R r/s burst=B nodelay`` for one key."""

    clock: Clock
    rate_rps: int
    burst: int
    excess: int = 0
    last_ms: int | None = None
    admitted: list[float] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)

    def check(self, job: MockJob) -> ErrorReply | None:
        now = self.clock.now()
        now_ms = int(now * 1000)
        if self.last_ms is None:
            excess = 0
        else:
            elapsed = now_ms - self.last_ms
            excess = max(self.excess - self.rate_rps * elapsed + 1000, 0)
        if excess > self.burst * 1000:
            self.refused.append(now)
            return ErrorReply(429, {"content-type": "text/html"}, NGINX_429)
        self.excess = excess
        self.last_ms = now_ms
        self.admitted.append(now)
        return None


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
    app = create_app(MockConfig(clock=clock, faults=faults or FaultPlan()))
    limiter = LimitReq(clock, rate_rps, burst)
    app.admission_checks.append(limiter.check)
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
    return Outcome(
        duration,
        answered,
        failed,
        len(limiter.admitted) + len(limiter.refused),
        len(limiter.refused),
    )
