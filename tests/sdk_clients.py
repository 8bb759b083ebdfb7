"""The official SDKs as the SDK tests make them: pointed at a mock server, their own
retries off, sending through a sluicegate client's chain."""

from __future__ import annotations

from typing import Any

import anthropic
import openai

import sluicegate
from sluicegate import Client, RetryPolicy
from sluicegate.testing import MockConfig
from sluicegate.testing.faults import FaultKind, FaultPlan

KEY = "sk-sdk-transport-secret-0123456789"


def faulty(seed: int, rates: dict[FaultKind, float] | None = None, **config: Any) -> MockConfig:
    """A mock server that fails 30% of the requests it gets (by default 15% 429s, 10%
    500s and 5% overloaded answers)."""
    rates = rates or {"rate_limit": 0.15, "server_error": 0.1, "overloaded": 0.05}
    return MockConfig(faults=FaultPlan(rates=rates, seed=seed), retry_after_s=0, **config)


def chain_client(**options: Any) -> Client:
    """A client that retries each call up to 4 times, without waiting."""
    return Client(
        load_entry_points=True,
        stage_settings={"retry": RetryPolicy(attempts=4, instant=True, budget_ratio=None)},
        **options,
    )


def openai_sdk(server: Any, client: Client, **options: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=server.openai_base_url,
        api_key=KEY,
        max_retries=options.pop("max_retries", 0),
        http_client=sluicegate.http_client(client),
        **options,
    )


def anthropic_sdk(server: Any, client: Client, **options: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        base_url=server.anthropic_base_url,
        api_key=KEY,
        max_retries=options.pop("max_retries", 0),
        http_client=sluicegate.http_client(client, library="httpx2"),
        **options,
    )


def check_keys(stats: dict[str, Any], calls: int) -> None:
    """One key per SDK call (different calls differ), and every attempt the server saw
    carried one of them; some calls were retried, on their one key."""
    keys = stats["idempotency"]
    assert len(keys) == calls
    received = [entry["received"] for entry in keys.values()]
    assert sum(received) == stats["requests"]
    assert max(received) > 1
    assert sum(entry["succeeded"] for entry in keys.values()) <= calls


async def openai_stream(sdk: openai.AsyncOpenAI, i: int) -> tuple[str, int, int]:
    """One streamed call: its text and the usage its last chunk reported."""
    stream = await sdk.chat.completions.create(
        model="fast",
        messages=[{"role": "user", "content": f"question {i}"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text: list[str] = []
    usage = (0, 0)
    async for chunk in stream:
        if chunk.choices:
            text.append(chunk.choices[0].delta.content or "")
        if chunk.usage is not None:
            usage = (chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
    return "".join(text), *usage
