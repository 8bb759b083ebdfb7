"""A client wired to the in-memory mock server, sharing one virtual clock with it."""

from __future__ import annotations

from typing import Any

from sluicegate import Client, MiddlewareSpec, Phase, ProviderSettings
from sluicegate.chain import ChainContext
from sluicegate.limits import build
from sluicegate.limits.stage import RateLimiter
from sluicegate.logs import get_logger
from sluicegate.testing.mock_app import MockApp, MockConfig, create_app
from sluicegate.transports.memory import MemoryTransport

from .virtual_time import VirtualClock

KEY = "sk-ratelimit-test-0123456789"
BASE_URL = "http://mock.test/v1"
QUIET = get_logger(level="critical")
OTHER_STAGES = ("deadline", "idempotency", "fallback", "retry", "breaker", "cost")
"""Left out so a test sees the rate limiter alone (a retry would hide the 429s it counts)."""


class Built:
    """Keeps the RateLimiter the client built, so tests can look at its buckets."""

    limiter: RateLimiter | None = None

    def factory(self, context: ChainContext) -> RateLimiter | None:
        self.limiter = build(context)
        return self.limiter


def mock_app(clock: VirtualClock, **config: Any) -> MockApp:
    return create_app(MockConfig(clock=clock, **config))


def make_client(
    app: MockApp,
    clock: VirtualClock,
    settings: Any,
    built: Built | None = None,
    *,
    providers: dict[str, ProviderSettings] | None = None,
) -> Client:
    factory = built.factory if built is not None else build
    return Client(
        providers=providers or {"openai": ProviderSettings(base_url=BASE_URL, api_key=KEY)},
        transport=MemoryTransport(app),
        clock=clock,
        load_entry_points=False,
        middleware=[MiddlewareSpec("rate_limit", Phase.RATE_LIMIT, factory)],
        stage_settings={"rate_limit": settings},
        disable=OTHER_STAGES,
        logger=QUIET,
    )


def default_client(app: MockApp, clock: VirtualClock) -> Client:
    """A client with the whole default chain (retry, breaker, rate limit...), on the mock
    app and its virtual clock."""
    return Client(
        providers={"openai": ProviderSettings(base_url=BASE_URL, api_key=KEY)},
        transport=MemoryTransport(app),
        clock=clock,
        load_entry_points=False,
        logger=QUIET,
    )
