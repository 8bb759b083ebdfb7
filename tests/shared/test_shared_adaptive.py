"""The adaptive rate across clients that share a store: a cut one of them makes on
congestion is followed by the others, which got no refusal themselves (they share the
server's limiter); a followed cut is not passed on again, and one burst cuts once."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from sluicegate import Client, MiddlewareSpec, Phase, ProviderSettings, RateLimitedError
from sluicegate.chain import ChainContext
from sluicegate.limits import Limit, RateLimits, build
from sluicegate.limits.shared import SharedRateLimiter
from sluicegate.logs import get_logger
from sluicegate.stores import RedisStore
from sluicegate.testing.faults import FaultPlan
from sluicegate.testing.mock_app import MockApp, MockConfig, create_app
from sluicegate.transports.memory import MemoryTransport

pytestmark = pytest.mark.anyio

KEY = "sk-shared-adaptive-0123456789abcdef"
MODEL = "openai/fast"


class Built:
    limiter: Any = None

    def factory(self, context: ChainContext) -> Any:
        self.limiter = build(context)
        return self.limiter


def client(app: MockApp, store: RedisStore, built: Built) -> Client:
    return Client(
        providers={"openai": ProviderSettings(base_url="http://mock.test/v1", api_key=KEY)},
        transport=MemoryTransport(app),
        load_entry_points=False,
        logger=get_logger(level="critical"),
        store=store,
        middleware=[MiddlewareSpec("rate_limit", Phase.RATE_LIMIT, built.factory)],
        disable=("retry", "breaker"),
        # a configured rate far above what is sent: the adaptive rate lives under it and
        # cuts at a bare 429 (with no rate known it would only stop a slow start)
        stage_settings={"rate_limit": RateLimits(rules=[Limit("openai/*", rpm=60_000)])},
    )


def adaptive_of(built: Built) -> Any:
    limiter = built.limiter
    assert isinstance(limiter, SharedRateLimiter)
    return limiter.shared_plan(MODEL).local.adaptive


async def test_a_cut_in_one_client_is_followed_by_the_others(redis_url: str, prefix: str) -> None:
    # a: ten answers, then a bare 429 (no Retry-After): congestion, its rate is cut
    congested = create_app(
        MockConfig(retry_after_s=0, faults=FaultPlan(script=[None] * 10 + ["rate_limit"]))
    )
    healthy = create_app(MockConfig())
    store = RedisStore(redis_url, prefix=prefix)
    built_a, built_b, built_c = Built(), Built(), Built()
    async with (
        client(congested, store, built_a) as a,
        client(healthy, store, built_b) as b,
        client(healthy, store, built_c) as c,
    ):
        for other in (b, c):
            for _ in range(6):
                await other.chat(MODEL, "warm up", max_tokens=8)
        assert adaptive_of(built_b).rate is None  # dormant: nothing refused it
        for _ in range(10):
            await a.chat(MODEL, "fine", max_tokens=8)
        with pytest.raises(RateLimitedError):
            await a.chat(MODEL, "too many", max_tokens=8)
        cut_a = adaptive_of(built_a)
        assert cut_a.own_cuts == 1 and cut_a.rate is not None
        for _ in range(200):  # the cut arrives by pub/sub: within moments
            if adaptive_of(built_b).rate is not None and adaptive_of(built_c).rate is not None:
                break
            await anyio.sleep(0.01)
        for built in (built_b, built_c):
            follower = adaptive_of(built)
            assert follower.own_cuts == 0  # followed, not its own: not published again
            assert follower.phase == "avoidance"
        assert cut_a.own_cuts == 1  # and a did not follow its own cut back
        assert healthy.stats.by_status.get(429, 0) == 0
