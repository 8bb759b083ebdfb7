"""Faults by time window and by model, and the bare and zero-wait 429s, through the app
(virtual time: the app's clock is a FakeClock), ``POST /_mock/reset`` and the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner

from sluicegate.clock import FakeClock
from sluicegate.testing import FaultPlan, MockApp, MockConfig, create_app
from sluicegate.testing.faults import FaultWindow

pytestmark = pytest.mark.anyio


def body(model: str = "fast") -> dict[str, Any]:
    return {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}]}


@asynccontextmanager
async def served(plan: FaultPlan) -> AsyncIterator[tuple[MockApp, FakeClock, httpx2.AsyncClient]]:
    clock = FakeClock(start=500.0)
    app = create_app(MockConfig(clock=clock, faults=plan))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://mock") as client:
        yield app, clock, client


async def status_at(client: httpx2.AsyncClient, path: str, model: str = "fast") -> int:
    return (await client.post(path, json=body(model))).status_code


async def test_window_by_time_and_model_with_its_own_retry_after() -> None:
    plan = FaultPlan(
        script=["auth"],
        windows=[
            FaultWindow(10, 20, "overloaded", model="fast"),
            FaultWindow(0, None, "rate_limit", model="smart", retry_after_s=86400),
        ],
    )
    async with served(plan) as (app, clock, client):
        smart = await client.post("/v1/chat/completions", json=body("smart"))
        clock.advance(10)
        openai_fast = await status_at(client, "/v1/chat/completions")
        anthropic_fast = await status_at(client, "/v1/messages")
        clock.advance(10)
        after = await status_at(client, "/v1/chat/completions")  # the script's turn now
        again = await status_at(client, "/v1/chat/completions")
    assert smart.status_code == 429
    assert smart.headers["retry-after"] == "86400"
    assert smart.headers["retry-after-ms"] == "86400000"
    assert (openai_fast, anthropic_fast) == (503, 529)
    assert (after, again) == (401, 200)  # the windows consumed no script entry
    assert app.stats.by_fault == {"rate_limit": 1, "overloaded": 2, "auth": 1}


async def test_header_beats_a_window_and_body_faults_apply_from_windows() -> None:
    plan = FaultPlan(windows=[FaultWindow(0, None, "malformed")])
    async with served(plan) as (_, _clock, client):
        ok = await client.post(
            "/v1/chat/completions", json=body(), headers={"x-mock-fault": "none"}
        )
        damaged = await client.post("/v1/chat/completions", json=body())
    assert ok.status_code == 200 and ok.json()["choices"]
    assert damaged.status_code == 200
    with pytest.raises(ValueError):
        damaged.json()


async def test_bare_and_zero_429s_carry_no_hint_or_a_zero() -> None:
    plan = FaultPlan(
        windows=[
            FaultWindow(0, None, "rate_limit_bare", model="fast"),
            FaultWindow(0, None, "rate_limit_zero", model="smart"),
        ]
    )
    async with served(plan) as (_, _clock, client):
        bare = await client.post("/v1/chat/completions", json=body("fast"))
        zero = await client.post("/v1/messages", json=body("smart"))
        header = await client.post(
            "/v1/chat/completions", json=body("other"), headers={"x-mock-fault": "rate_limit_zero"}
        )
    for reply in (bare, zero, header):
        assert reply.status_code == 429
        assert not [n for n in reply.headers if "ratelimit" in n.lower()]
        assert "retry-after-ms" not in reply.headers
    assert "retry-after" not in bare.headers
    assert bare.json()["error"]["code"] == "rate_limit_exceeded"
    assert zero.headers["retry-after"] == "0" and header.headers["retry-after"] == "0"
    assert zero.json()["error"]["type"] == "rate_limit_error"


async def test_reset_installs_windows_counted_from_the_reset() -> None:
    async with served(FaultPlan()) as (app, clock, client):
        clock.advance(100)
        spec = {
            "windows": [
                {"start_s": 5, "end_s": 10, "kind": "server_error", "model": "fast"},
                {"start_s": 0, "kind": "rate_limit", "model": "slow", "retry_after_s": 7},
            ]
        }
        assert (await client.post("/_mock/reset", json=spec)).status_code == 200
        before = await status_at(client, "/v1/chat/completions")
        slow = await client.post("/v1/chat/completions", json=body("slow"))
        clock.advance(5)
        during = await status_at(client, "/v1/chat/completions")
        assert (await client.post("/_mock/reset")).status_code == 200  # restarts the time
        restarted = await status_at(client, "/v1/chat/completions")
        bad = [
            await client.post("/_mock/reset", json={"windows": w})
            for w in (
                {"start_s": 0},
                [{"kind": "auth"}],
                [{"start_s": 0, "kind": "auth", "colour": "red"}],
                [{"start_s": 0, "kind": "meteor"}],
                [{"start_s": 3, "end_s": 1, "kind": "auth"}],
            )
        ]
    assert (before, during, restarted) == (200, 500, 200)
    assert slow.status_code == 429 and slow.headers["retry-after"] == "7"
    assert [b.status_code for b in bad] == [400] * 5
    assert "colour" in bad[2].json()["error"]
    assert app.faults.windows[0].kind == "server_error"  # bad specs left the plan alone


async def test_windows_without_a_model_cover_batch_routes() -> None:
    plan = FaultPlan(
        windows=[FaultWindow(0, 1, "overloaded", model="fast"), FaultWindow(1, 2, "server_error")]
    )
    async with served(plan) as (_, clock, client):
        first = (await client.get("/v1/batches")).status_code
        clock.advance(1)
        second = (await client.get("/v1/batches")).status_code
    assert (first, second) == (200, 500)


async def test_an_app_made_outside_the_loop_counts_from_its_first_request() -> None:
    """The loop's clock cannot be read before the loop runs; windows then start with the
    first request (or the ASGI lifespan startup, under hypercorn)."""
    app = create_app(MockConfig(faults=FaultPlan(windows=[FaultWindow(0, 3600, "auth")])))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://mock") as client:
        assert (await client.post("/v1/chat/completions", json=body())).status_code == 401


def test_cli_outage_and_limit_flags_are_checked() -> None:
    from sluicegate.cli.mock_server import _parse_outages, command

    assert _parse_outages(("10:70:overloaded:fast", "0::rate_limit_bare")) == [
        FaultWindow(10, 70, "overloaded", "fast"),
        FaultWindow(0, None, "rate_limit_bare"),
    ]
    for bad in (["--outage", "10:70"], ["--outage", "1:2:meteor"], ["--limit-rps", "0"]):
        result = CliRunner().invoke(command, bad)
        assert result.exit_code == 2, bad
    assert "--outage" in CliRunner().invoke(command, ["--outage", "x:1:auth"]).output


def test_cli_serves_outages_and_the_nginx_limiter() -> None:
    import os
    import signal
    import subprocess
    import sys

    code = "from sluicegate.cli.mock_server import command; command()"
    args = [
        sys.executable,
        "-c",
        code,
        "--port",
        "0",
        "--outage",
        "0::server_error:smart",
        "--limit-rps",
        "0.001",  # one request per 1000 s: the second is refused whatever the wall clock
        "--limit-burst",
        "1",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env) as process:
        try:
            assert process.stdout is not None
            base_url = process.stdout.readline().rsplit(" ", 1)[1].strip()
            url = base_url + "/v1/chat/completions"
            codes = [
                httpx2.post(url, json=body(m), timeout=10)
                for m in ("smart", "fast", "fast", "fast")
            ]
            # the outage answers before the limiter counts; then burst + 1 pass at once
            assert [c.status_code for c in codes] == [500, 200, 200, 429]
            assert codes[3].headers["content-type"].startswith("text/html")
            assert "nginx" in codes[3].text
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=15) == 0
        finally:
            if process.poll() is None:
                process.kill()
