"""What the batch tests share: a client wired to an in-memory mock app (both batch APIs,
the mock's clock shared with the client's), input files, and reading output files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

from sluicegate import Client, ProviderSettings
from sluicegate.clock import Clock, FakeClock
from sluicegate.testing.mock_app import MockApp, MockConfig, create_app
from sluicegate.transports.memory import MemoryTransport

MOCK_BASE = "http://mock.test/v1"
ANTHROPIC_BASE = "http://mock.test"
TEST_KEY = "sk-ant-batchtest-0123456789abcdef"
"""A key shaped like a real one: it must never reach an output, state or log line."""

MODELS = {"mock": "mock/fast", "anthropic": "anthropic/claude-haiku-4-5"}
"""One model per batch API under test: the OpenAI format (mock provider) and Anthropic."""


def mock_app(clock: Clock | None = None, **config: Any) -> MockApp:
    """A mock app whose batch jobs take 10 s of the given clock unless told otherwise."""
    config.setdefault("batch_seconds", 10.0)
    return create_app(MockConfig(clock=clock, **config))


def batch_client(
    app: MockApp,
    *,
    clock: Clock | None = None,
    max_requests: int = 1000,
    **kwargs: Any,
) -> Client:
    """A client whose ``mock`` and ``anthropic`` providers both reach ``app`` in memory,
    with jobs of at most ``max_requests`` and polling from 0.5 s up to 4 s."""
    limits = {"max_requests": max_requests, "min_poll_interval_s": 0.5, "max_poll_interval_s": 4}
    return Client(
        transport=MemoryTransport(app),
        providers={
            "mock": ProviderSettings(base_url=MOCK_BASE),
            "anthropic": ProviderSettings(base_url=ANTHROPIC_BASE, api_key=TEST_KEY),
        },
        batch_limits={"*": limits},
        clock=clock,
        **kwargs,
    )


def write_input(path: Path, count: int, model: str, *, prefix: str = "row") -> list[str]:
    """``count`` simple-form lines with ids ``row-00000``...; returns the ids."""
    ids = [f"{prefix}-{i:05d}" for i in range(count)]
    with path.open("w") as stream:
        for i, line_id in enumerate(ids):
            stream.write(
                json.dumps({"id": line_id, "prompt": f"item {i}", "model": model, "max_tokens": 8})
                + "\n"
            )
    return ids


def read_output(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def one_per_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The records by id, asserting that each id has exactly one."""
    counts = Counter(r["id"] for r in records)
    repeated = [i for i, n in counts.items() if n > 1]
    assert not repeated, f"ids written more than once: {repeated[:5]}"
    return {r["id"]: r for r in records}


async def with_autojump(clock: FakeClock, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``func`` (a coroutine function, or an awaitable) while ``clock`` jumps whenever
    every task waits; its exception is raised as itself, not in an ExceptionGroup."""
    result: list[Any] = []
    error: list[Exception] = []
    async with anyio.create_task_group() as group:
        group.start_soon(clock.autojump)
        try:
            result.append(await (func(*args, **kwargs) if callable(func) else func))
        except Exception as exc:
            error.append(exc)
        group.cancel_scope.cancel()
    if error:
        raise error[0]
    return result[0]
