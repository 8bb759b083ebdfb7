"""Idempotency against the mock server over real sockets: through injected faults and
retries, each key the client sends is answered successfully exactly once (the server
counts), twins and re-runs of a caller key make no request of their own."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from sluicegate import (
    Client,
    MiddlewareSpec,
    Phase,
    ProviderError,
    ProviderSettings,
    Request,
    Response,
)
from sluicegate.chain import CallNext, Reply
from sluicegate.middleware import idempotency
from sluicegate.testing import FaultPlan, MockConfig, serve_mock

pytestmark = pytest.mark.anyio

KEY = "sk-e2e-idem-0123456789abcdefghij"
MODEL = "openai/gpt-mock"


async def retry_retryable(request: Request, call_next: CallNext) -> Reply:
    """A stand-in for the retry stage, inside idempotency as the real one: retries every
    retryable failure at once (the mock asks for no wait), up to 12 attempts."""
    for attempt in range(1, 12):
        try:
            return await call_next(
                request.replace(metadata=request.metadata.replace(attempt=attempt))
            )
        except ProviderError as exc:
            if not exc.retryable:
                raise
    return await call_next(request.replace(metadata=request.metadata.replace(attempt=12)))


def make_client(base_url: str) -> Client:
    return Client(
        providers={"openai": ProviderSettings(base_url=f"{base_url}/v1", api_key=KEY)},
        load_entry_points=False,
        concurrency=16,
        # The breaker would rightly open under a 30% fault rate; this test is about keys.
        disable=["breaker"],
        middleware=[
            MiddlewareSpec("idempotency", Phase.IDEMPOTENCY, idempotency.build),
            MiddlewareSpec("retry", Phase.RETRY, lambda _context: retry_retryable),
        ],
    )


async def test_every_key_is_answered_successfully_once_through_faults_and_retries(
    anyio_backend: str,
) -> None:
    plan = FaultPlan(rates={"server_error": 0.15, "overloaded": 0.1, "cut_stream": 0.05}, seed=4)
    config = MockConfig(require_api_key=KEY, faults=plan)
    keyless, caller_keys, twins = 40, 12, 3
    plain: list[Response] = []
    keyed: dict[str, list[Response]] = {f"order-{i}": [] for i in range(caller_keys)}
    async with serve_mock(config) as server:
        async with make_client(server.base_url) as client:

            async def ask(prompt: str, key: str | None = None) -> None:
                if key is None:
                    plain.append(await client.chat(MODEL, prompt, max_tokens=20))
                else:
                    answer = await client.chat(MODEL, prompt, max_tokens=20, idempotency_key=key)
                    keyed[key].append(answer)

            async with anyio.create_task_group() as group:
                for i in range(keyless):
                    group.start_soon(ask, f"question {i}")
                for key in keyed:
                    for _ in range(twins):
                        group.start_soon(ask, f"about {key}", key)
            for key in keyed:  # re-runs, after the first answers came
                await ask(f"about {key}", key)

            stats = server.stats.snapshot()

    per_key = stats["idempotency"]
    assert len(plain) == keyless and all(r.text for r in plain)
    assert len(per_key) == keyless + caller_keys  # one key per logical request, no more
    assert {k: v["succeeded"] for k, v in per_key.items()} == dict.fromkeys(per_key, 1)
    assert stats["by_fault"], "the plan injected no fault: the retries went untested"
    assert sum(v["received"] for v in per_key.values()) == stats["requests"]
    for key, answers in keyed.items():
        assert len(answers) == twins + 1
        assert len({a.text for a in answers}) == 1
        assert sorted(a.attempts for a in answers) == [0] * twins + [1], key
    assert sum(1 for k in per_key if k.startswith("sg-")) == keyless


async def test_keyed_streams_send_the_key_and_reruns_make_no_request(anyio_backend: str) -> None:
    config = MockConfig(require_api_key=KEY)
    async with serve_mock(config) as server:
        async with make_client(server.base_url) as client:
            texts: list[str] = []
            for _ in range(3):
                async with client.stream(MODEL, "tell me", idempotency_key="stream-1") as s:
                    texts.append("".join([chunk async for chunk in s.text_chunks()]))
            plain = await client.chat(MODEL, "tell me", idempotency_key="stream-1")
            stats: dict[str, Any] = server.stats.snapshot()
    assert texts[0] and texts == [texts[0]] * 3 and plain.text == texts[0]
    assert stats["idempotency"] == {"stream-1": {"received": 1, "succeeded": 1, "replayed": 0}}
    assert stats["requests"] == 1
