"""The mock server's own rate limits: exact 429s, Retry-After and x-ratelimit headers, on
its clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner

from sluicegate.clock import FakeClock
from sluicegate.testing import MockApp, MockConfig, create_app
from sluicegate.testing.content import count_input_tokens, generate_answer
from sluicegate.testing.mock_ratelimit import MockRateLimits, format_duration

pytestmark = pytest.mark.anyio

PROMPT = "What is the capital of France?"


def body(model: str = "fast", max_tokens: int = 10, **extra: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": PROMPT}],
        **extra,
    }


def tokens_of(model: str = "fast", max_tokens: int = 10) -> int:
    answer = generate_answer(PROMPT, max_tokens, model)
    return count_input_tokens([PROMPT]) + answer.output_tokens


@asynccontextmanager
async def served(**config: Any) -> AsyncIterator[tuple[MockApp, FakeClock, httpx2.AsyncClient]]:
    clock = FakeClock(start=0.0)
    app = create_app(MockConfig(clock=clock, **config))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://mock") as client:
        yield app, clock, client


async def test_requests_per_minute_are_exact_with_openai_headers() -> None:
    async with served(rpm=3) as (app, clock, client):
        remaining = []
        for _ in range(3):
            answer = await client.post("/v1/chat/completions", json=body())
            assert answer.status_code == 200
            assert answer.headers["x-ratelimit-limit-requests"] == "3"
            remaining.append(
                (
                    answer.headers["x-ratelimit-remaining-requests"],
                    answer.headers["x-ratelimit-reset-requests"],
                )
            )
        assert remaining == [("2", "20s"), ("1", "40s"), ("0", "1m0s")]
        refused = await client.post("/v1/chat/completions", json=body())
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "20"
        assert refused.headers["retry-after-ms"] == "20000"
        assert refused.headers["x-ratelimit-remaining-requests"] == "0"
        error = refused.json()["error"]
        assert error["type"] == "requests" and error["code"] == "rate_limit_exceeded"
        assert "Limit 3, Used 3, Requested 1" in error["message"]
        clock.advance(19.999)
        assert (await client.post("/v1/chat/completions", json=body())).status_code == 429
        retry_ms = (await client.post("/v1/chat/completions", json=body())).headers[
            "retry-after-ms"
        ]
        assert retry_ms == "1"
        clock.advance(0.001)
        assert (await client.post("/v1/chat/completions", json=body())).status_code == 200
    assert app.stats.by_status == {200: 4, 429: 3}
    assert app.rate_limits is not None and app.rate_limits.refused == 3


async def test_tokens_per_minute_count_input_and_output_and_refusals_charge_nothing() -> None:
    cost = tokens_of()
    async with served(tpm=cost * 2) as (app, clock, client):
        for _ in range(2):
            answer = await client.post("/v1/chat/completions", json=body())
            assert answer.status_code == 200
        assert answer.headers["x-ratelimit-remaining-tokens"] == "0"
        refused = await client.post("/v1/chat/completions", json=body())
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "tokens"
        # the whole cost must refill: cost tokens at 2*cost a minute = 30 s
        assert refused.headers["retry-after-ms"] == "30000"
        clock.advance(30)
        assert (await client.post("/v1/chat/completions", json=body())).status_code == 200
    assert app.stats.input_tokens + app.stats.output_tokens == 3 * cost


async def test_a_request_bigger_than_the_bucket_is_refused_for_good() -> None:
    async with served(tpm=10) as (_, _, client):
        refused = await client.post("/v1/chat/completions", json=body(max_tokens=50))
        assert refused.status_code == 429
        assert refused.headers["x-should-retry"] == "false"
        assert "retry-after" not in refused.headers
        assert "Request too large" in refused.json()["error"]["message"]


async def test_each_model_has_its_own_buckets_and_reset_refills_them() -> None:
    async with served(rpm=1) as (_, _, client):
        assert (await client.post("/v1/chat/completions", json=body("a"))).status_code == 200
        assert (await client.post("/v1/chat/completions", json=body("b"))).status_code == 200
        assert (await client.post("/v1/chat/completions", json=body("a"))).status_code == 429
        assert (await client.post("/_mock/reset")).status_code == 200
        assert (await client.post("/v1/chat/completions", json=body("a"))).status_code == 200


async def test_streams_and_anthropic_routes_carry_their_headers() -> None:
    async with served(rpm=60, tpm=100_000) as (_, _, client):
        stream = await client.post("/v1/chat/completions", json=body(stream=True))
        assert stream.headers["x-ratelimit-remaining-requests"] == "59"
        answer = await client.post(
            "/v1/messages", json=body(), headers={"anthropic-version": "2023-06-01"}
        )
        assert answer.status_code == 200
        headers = answer.headers
        assert headers["anthropic-ratelimit-requests-limit"] == "60"
        assert headers["anthropic-ratelimit-requests-remaining"] == "59"
        assert headers["anthropic-ratelimit-tokens-limit"] == "100000"
        assert "x-ratelimit-limit-requests" not in headers
        reset = datetime.fromisoformat(headers["anthropic-ratelimit-requests-reset"])
        assert reset.tzinfo is not None
    async with served(rpm=1) as (_, _, client):
        await client.post("/v1/messages", json=body())
        refused = await client.post("/v1/messages", json=body())
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert refused.headers["retry-after"] == "60"


async def test_no_limits_no_headers() -> None:
    async with served() as (app, _, client):
        answer = await client.post("/v1/chat/completions", json=body())
        assert not any(h.startswith("x-ratelimit") for h in answer.headers)
        assert app.rate_limits is None


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0ms"),
        (1, "1ms"),
        (20_000_000, "20ms"),
        (1_500_000_000, "1.5s"),
        (360_000_000_000, "6m0s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_250_000_000, "1h2m3.25s"),
    ],
)
def test_durations_are_written_like_openai(ns: int, text: str) -> None:
    assert format_duration(ns) == text


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="rpm must be a whole number"):
        MockConfig(rpm=0)
    with pytest.raises(ValueError, match="rate_limit_burst_s"):
        MockConfig(tpm=5, rate_limit_burst_s=0)
    with pytest.raises(ValueError, match="tpm must be >= 1"):
        MockRateLimits(None, 0)


def test_the_command_line_sets_the_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    from sluicegate.cli import mock_server

    seen: list[MockConfig] = []

    def fake_run(host: str, port: int, config: MockConfig, **kwargs: Any) -> None:
        seen.append(config)
        kwargs["on_ready"]("http://127.0.0.1:1")

    monkeypatch.setattr("sluicegate.testing.server.run_mock_server", fake_run)
    result = CliRunner().invoke(mock_server.command, ["--rpm", "600", "--tpm", "40000"])
    assert result.exit_code == 0, result.output
    assert (seen[0].rpm, seen[0].tpm) == (600, 40000)
    assert "rate limits per model: 600 RPM, 40000 TPM" in result.output
    bad = CliRunner().invoke(mock_server.command, ["--rpm", "0"])
    assert bad.exit_code != 0 and "--rpm" in bad.output
