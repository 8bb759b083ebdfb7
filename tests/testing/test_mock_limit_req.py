"""The nginx-like limiter: nginx's ``limit_req burst=B nodelay`` rule, exact, on the mock's
clock, and its bare HTML 429 through the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from fractions import Fraction
from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.clock import FakeClock
from sluicegate.testing import MockApp, MockConfig, create_app
from sluicegate.testing.mock_limit_req import NGINX_429_BODY, LimitReq, exact_rate

pytestmark = pytest.mark.anyio

NS = 1_000_000_000
OPENAI_BODY = {"model": "fast", "messages": [{"role": "user", "content": "Hi"}]}
ANTHROPIC_BODY = {**OPENAI_BODY, "max_tokens": 20}


def nginx_reference(rate: Fraction, burst: int, arrivals_ns: list[int]) -> list[bool]:
    """nginx's ngx_http_limit_req_lookup, read off the C source, in exact arithmetic: a
    new node is admitted with excess 0; then excess = excess - rate * ms / 1000 + 1000
    (milli-requests), clamped at 0; refused if above burst * 1000, else stored with the
    time. Here in requests and seconds."""
    admitted: list[bool] = []
    node: tuple[Fraction, Fraction] | None = None  # (excess, last)
    for t_ns in arrivals_ns:
        t = Fraction(t_ns, NS)
        if node is None:
            node = (Fraction(0), t)
            admitted.append(True)
            continue
        excess, last = node
        new = excess - rate * (t - last) + 1
        if new < 0:
            new = Fraction(0)
        if new > burst:
            admitted.append(False)
        else:
            node = (new, t)
            admitted.append(True)
    return admitted


rates = st.one_of(
    st.sampled_from([0.1, 0.5, 1.0, 2.5, 10.0, 3]),
    st.fractions(min_value=Fraction(1, 100), max_value=100),
)
gaps = st.lists(st.one_of(st.just(0), st.integers(0, 3 * NS), st.integers(0, 1000)), max_size=60)


def arrivals(gap_list: list[int]) -> list[int]:
    times, t = [], 5 * NS
    for gap in gap_list:
        t += gap
        times.append(t)
    return times


@given(rates, st.integers(0, 6), gaps)
def test_limiter_matches_the_nginx_rule(
    rate: float | Fraction, burst: int, gap_list: list[int]
) -> None:
    times = arrivals(gap_list)
    limiter = LimitReq(rate, burst)
    decisions = [limiter.admit_at(t) for t in times]
    assert decisions == nginx_reference(exact_rate(rate), burst, times)
    assert limiter.refused == decisions.count(False)


@given(rates, st.integers(0, 6), gaps)
def test_no_window_admits_more_than_burst_plus_one_plus_the_rate(
    rate: float | Fraction, burst: int, gap_list: list[int]
) -> None:
    """What nginx promises: in any span of time, at most B + 1 + rate * span requests."""
    times = arrivals(gap_list)
    limiter = LimitReq(rate, burst)
    admitted = [t for t in times if limiter.admit_at(t)]
    exact = exact_rate(rate)
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            span = Fraction(admitted[j] - start, NS)
            assert j - i + 1 <= burst + 1 + exact * span


@given(st.integers(0, 20), st.sampled_from([0.5, 1.0, 4.0]))
def test_burst_plus_one_at_once_then_one_per_interval(burst: int, rate: float) -> None:
    limiter = LimitReq(rate, burst)
    at_once = [limiter.admit_at(0) for _ in range(burst + 3)]
    assert at_once == [True] * (burst + 1) + [False, False]
    interval = round(NS / Fraction(repr(rate)))
    assert not limiter.admit_at(interval - 1)
    assert limiter.admit_at(interval)
    assert not limiter.admit_at(interval)


def test_rates_are_the_decimals_written_and_bad_settings_fail() -> None:
    assert exact_rate(0.1) == Fraction(1, 10)
    limiter = LimitReq(0.1)
    assert limiter.admit_at(0)
    assert not limiter.admit_at(10 * NS - 1)
    assert limiter.admit_at(10 * NS)  # exactly 10 s, not a nanosecond later
    for bad in (0, -1, float("inf"), float("nan"), True, "1"):
        with pytest.raises(ValueError):
            LimitReq(bad)  # type: ignore[arg-type]
    for bad_burst in (-1, 1.5, True):
        with pytest.raises(ValueError):
            LimitReq(1, bad_burst)  # type: ignore[arg-type]
    for config in ({"limit_rps": 0}, {"limit_rps": float("inf")}, {"limit_burst": -1}):
        with pytest.raises(ValueError):
            MockConfig(**config)  # type: ignore[arg-type]


def test_reset_forgets_the_key() -> None:
    limiter = LimitReq(1)
    assert limiter.admit_at(0) and not limiter.admit_at(0)
    limiter.reset()
    assert limiter.refused == 0
    assert limiter.admit_at(0)


# -- through the app -------------------------------------------------------------------


@asynccontextmanager
async def served(**config: Any) -> AsyncIterator[tuple[MockApp, FakeClock, httpx2.AsyncClient]]:
    clock = FakeClock(start=0.0)
    app = create_app(MockConfig(clock=clock, **config))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://mock") as client:
        yield app, clock, client


async def test_refusal_is_nginx_html_with_no_hints() -> None:
    async with served(limit_rps=2, limit_burst=1) as (app, clock, client):
        first = await client.post("/v1/chat/completions", json=OPENAI_BODY)
        second = await client.post("/v1/messages", json=ANTHROPIC_BODY)  # one key for all
        refused = await client.post("/v1/chat/completions", json=OPENAI_BODY)
        clock.advance(0.499)
        assert (await client.post("/v1/messages", json=ANTHROPIC_BODY)).status_code == 429
        clock.advance(0.001)
        again = await client.post("/v1/chat/completions", json=OPENAI_BODY)
        stats = (await client.get("/_mock/stats")).json()
    assert (first.status_code, second.status_code, again.status_code) == (200, 200, 200)
    assert refused.status_code == 429
    assert refused.content == NGINX_429_BODY
    assert refused.headers["content-type"].startswith("text/html")
    names = {name.lower() for name in refused.headers}
    assert not {n for n in names if "ratelimit" in n or n.startswith("retry-after")}
    assert "x-request-id" not in names and "request-id" not in names
    assert stats["limited"] == 2
    assert stats["by_status"] == {"200": 3, "429": 2}
    assert stats["succeeded"] == 3
    assert app.limit_req is not None and app.limit_req.refused == 2


async def test_nginx_refuses_before_the_provider_limits_are_charged() -> None:
    """nginx stands in front: what it refuses never reaches the provider's rpm bucket."""
    async with served(limit_rps=1, rpm=2) as (app, clock, client):
        codes = [(await client.post("/v1/chat/completions", json=OPENAI_BODY)) for _ in range(3)]
        clock.advance(1)
        later = await client.post("/v1/chat/completions", json=OPENAI_BODY)
    assert [c.status_code for c in codes] == [200, 429, 429]
    assert all(c.content == NGINX_429_BODY for c in codes[1:])
    assert later.status_code == 200
    assert later.headers["x-ratelimit-remaining-requests"] == "0"  # 2 charged, not 4
    assert app.rate_limits is not None and app.rate_limits.refused == 0


async def test_reset_refills_the_limiter_and_zeroes_limited() -> None:
    async with served(limit_rps=0.01) as (app, _, client):
        assert (await client.post("/v1/chat/completions", json=OPENAI_BODY)).status_code == 200
        assert (await client.post("/v1/chat/completions", json=OPENAI_BODY)).status_code == 429
        assert (await client.post("/_mock/reset")).status_code == 200
        assert app.stats.limited == 0
        assert (await client.post("/v1/chat/completions", json=OPENAI_BODY)).status_code == 200


async def test_models_and_batch_routes_are_not_limited() -> None:
    async with served(limit_rps=0.01) as (_, _clock, client):
        for _ in range(3):
            assert (await client.get("/v1/models")).status_code == 200
            assert (await client.get("/v1/batches")).status_code == 200
        assert (await client.post("/v1/chat/completions", json=OPENAI_BODY)).status_code == 200
        assert (await client.post("/v1/chat/completions", json=OPENAI_BODY)).status_code == 429
