"""The official openai SDK through ``sluicegate.http_client`` against nginx's
``limit_req`` (20 r/s, burst 2) in front of the mock server: a rate limiter sluicegate did
not write, judged by nginx's own access log. Told the real limit, the chain must keep the
SDK's calls (plain and streamed alike, 16 at a time) within it: every call answered,
at most 2% of the attempts refused, and the ledger equal to the usage the SDK returned
and the server counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import openai
import pytest

import sluicegate
from bulk.processes import mock_server, server_stats
from realpeers.nginx import AccessLog, limit_req_proxy, require_nginx

pytestmark = pytest.mark.anyio

RATE, BURST = 20, 2
CALLS, CONCURRENCY = 80, 16
KEY = "sk-test-realpeers-sdk-nginx"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    require_nginx()  # skip before starting anything
    with mock_server("--latency", "0.02") as base_url:
        yield base_url


async def test_sdk_calls_keep_within_nginx_limit_req(upstream: str, tmp_path: Path) -> None:
    before = server_stats(upstream)
    limits = sluicegate.RateLimits(rules=[sluicegate.Limit("sdk-openai/*", rpm=RATE * 60)])
    usage = [0, 0]
    answered = 0
    with limit_req_proxy(upstream, tmp_path / "nginx", rate=RATE, burst=BURST) as nginx:
        async with sluicegate.Client(stage_settings={"rate_limit": limits}) as client:
            sdk = openai.AsyncOpenAI(
                base_url=f"{nginx.base_url}/v1",
                api_key=KEY,
                max_retries=0,
                http_client=sluicegate.http_client(client),
            )
            queue = iter(range(CALLS))

            async def worker() -> None:
                nonlocal answered
                for i in queue:
                    used = await (stream_call if i % 2 else plain_call)(sdk, i)
                    usage[0] += used[0]
                    usage[1] += used[1]
                    answered += 1

            with anyio.fail_after(60):
                async with anyio.create_task_group() as group:
                    for _ in range(CONCURRENCY):
                        group.start_soon(worker)
    log = AccessLog.read(nginx.access_log)  # complete: nginx has stopped
    after = server_stats(upstream)
    refused = log.statuses[429]
    print(
        f"\nSDK behind nginx: answered {answered}/{CALLS}; nginx attempts {log.attempts}, "
        f"429s {refused}, duration {log.duration:.2f} s"
    )
    assert answered == CALLS
    assert refused <= 0.02 * log.attempts, dict(log.statuses)
    total = client.ledger.snapshot().total
    assert (total.input_tokens, total.output_tokens) == tuple(usage)
    served = (
        after["input_tokens"] - before["input_tokens"],
        after["output_tokens"] - before["output_tokens"],
    )
    assert served == tuple(usage)


async def plain_call(sdk: openai.AsyncOpenAI, i: int) -> tuple[int, int]:
    completion = await sdk.chat.completions.create(
        model="fast", messages=[{"role": "user", "content": f"question {i}"}]
    )
    assert completion.usage is not None
    return completion.usage.prompt_tokens, completion.usage.completion_tokens


async def stream_call(sdk: openai.AsyncOpenAI, i: int) -> tuple[int, int]:
    stream: Any = await sdk.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": f"question {i}"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    used = (0, 0)
    async for chunk in stream:
        if chunk.usage is not None:
            used = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    return used
