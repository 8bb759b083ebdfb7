"""The official openai and anthropic SDKs, unchanged but for ``http_client=`` and
``max_retries=0``, sending through sluicegate's chain to the mock server under faults."""

from __future__ import annotations

import itertools

import anthropic
import anyio
import httpx
import openai
import pytest
import structlog

import sluicegate
from sdk_clients import KEY, chain_client, check_keys, faulty, openai_sdk, openai_stream
from sluicegate import Client
from sluicegate.testing import MockConfig, serve_mock
from sluicegate.testing.faults import FaultPlan

pytestmark = pytest.mark.anyio

CALLS = 24


async def test_openai_sdk_under_faults_one_key_per_call_and_ledger_equals_usage() -> None:
    usage_in = usage_out = answered = typed_errors = 0
    async with serve_mock(faulty(seed=7)) as server, chain_client() as client:
        sdk = openai.AsyncOpenAI(
            base_url=server.openai_base_url,
            api_key=KEY,
            max_retries=0,
            http_client=sluicegate.http_client(client),
        )
        for i in range(CALLS):
            try:
                completion = await sdk.chat.completions.create(
                    model="fast", messages=[{"role": "user", "content": f"question {i}"}]
                )
            except openai.APIStatusError:
                typed_errors += 1
            else:
                answered += 1
                assert completion.usage is not None
                usage_in += completion.usage.prompt_tokens
                usage_out += completion.usage.completion_tokens
        stats = server.stats.snapshot()
    print("openai", stats["requests"], stats["by_fault"], answered, typed_errors)
    assert answered + typed_errors == CALLS
    assert answered > 0
    check_keys(stats, CALLS)
    total = client.ledger.snapshot().total
    assert (total.input_tokens, total.output_tokens) == (usage_in, usage_out)
    assert stats["input_tokens"] == usage_in and stats["output_tokens"] == usage_out


async def test_anthropic_sdk_under_faults() -> None:
    usage_in = usage_out = answered = typed_errors = 0
    async with serve_mock(faulty(seed=11)) as server, chain_client() as client:
        sdk = anthropic.AsyncAnthropic(
            base_url=server.anthropic_base_url,
            api_key=KEY,
            max_retries=0,
            http_client=sluicegate.http_client(client, library="httpx2"),
        )
        for i in range(CALLS):
            try:
                message = await sdk.messages.create(
                    model="fast",
                    max_tokens=50,
                    messages=[{"role": "user", "content": f"question {i}"}],
                )
            except anthropic.APIStatusError:
                typed_errors += 1
            else:
                answered += 1
                usage_in += message.usage.input_tokens
                usage_out += message.usage.output_tokens
        stats = server.stats.snapshot()
    print("anthropic", stats["requests"], stats["by_fault"], answered, typed_errors)
    assert answered + typed_errors == CALLS and answered > 0
    check_keys(stats, CALLS)
    total = client.ledger.snapshot().total
    assert (total.input_tokens, total.output_tokens) == (usage_in, usage_out)


async def test_a_given_up_429_is_the_sdks_rate_limit_error() -> None:
    config = MockConfig(faults=FaultPlan(script=["rate_limit"] * 4), retry_after_s=0)
    async with serve_mock(config) as server, chain_client() as client:
        sdk = openai.AsyncOpenAI(
            base_url=server.openai_base_url,
            api_key=KEY,
            max_retries=0,
            http_client=sluicegate.http_client(client),
        )
        with pytest.raises(openai.RateLimitError) as limited:
            await sdk.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": "hi"}]
            )
        stats = server.stats.snapshot()
    assert limited.value.status_code == 429
    assert stats["requests"] >= 4 and len(stats["idempotency"]) == 1


async def test_models_list_passes_through_and_no_connection_is_a_connect_error() -> None:
    async with serve_mock() as server, chain_client() as client:
        sdk = openai.AsyncOpenAI(
            base_url=server.openai_base_url,
            api_key=KEY,
            max_retries=0,
            http_client=sluicegate.http_client(client),
        )
        ids = [model.id async for model in sdk.models.list()]
        dead = openai.AsyncOpenAI(
            base_url="http://127.0.0.1:9/v1",
            api_key=KEY,
            max_retries=0,
            http_client=sluicegate.http_client(client),
        )
        with pytest.raises(openai.APIConnectionError):
            await dead.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": "hi"}]
            )
    assert ids == ["fast", "smart"]
    assert client.ledger.snapshot().by_model["sdk/http"].requests == 1


async def test_the_sdk_key_is_in_no_log_line_error_or_repr() -> None:
    config = MockConfig(faults=FaultPlan(script=["server_error"] * 4), retry_after_s=0)
    with structlog.testing.capture_logs() as logs:
        async with serve_mock(config) as server, chain_client() as client:
            transport_client = sluicegate.http_client(client)
            sdk = openai.AsyncOpenAI(
                base_url=server.openai_base_url,
                api_key=KEY,
                max_retries=0,
                http_client=transport_client,
            )
            with pytest.raises(openai.InternalServerError) as failed:
                await sdk.chat.completions.create(
                    model="fast", messages=[{"role": "user", "content": "hi"}]
                )
            await sdk.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": "hi"}]
            )
            other = anthropic.AsyncAnthropic(
                base_url=server.anthropic_base_url,
                api_key=KEY,
                max_retries=0,
                http_client=sluicegate.http_client(client, library="httpx2"),
            )
            await other.messages.create(
                model="fast", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
            seen = [repr(client), repr(transport_client._transport), repr(client.ledger.snapshot())]
    seen += [repr(line) for line in logs]
    seen += [str(failed.value), repr(failed.value), repr(failed.value.__cause__)]
    assert logs  # the logging stage did log
    assert not [text for text in seen if KEY in text]


@pytest.mark.parametrize("streamed", [False, True])
async def test_an_rpm_limit_holds_by_the_servers_arrival_times(streamed: bool) -> None:
    """Client and server share one virtual clock: 12 concurrent SDK calls under 60 rpm
    (one at a time, ``burst_s=1``), plain or streamed, arrive at the server at least a
    virtual second apart."""
    clock = sluicegate.FakeClock()
    limits = sluicegate.RateLimits(
        rules=[sluicegate.Limit("sdk-openai/*", rpm=60, burst_s=1.0)], adaptive=False
    )
    config = MockConfig(record_arrivals=True, clock=clock)
    async with (
        serve_mock(config) as server,
        Client(clock=clock, total_timeout=None, stage_settings={"rate_limit": limits}) as client,
    ):
        sdk = openai_sdk(server, client)
        answers: list[str] = []

        async def call(i: int) -> None:
            if streamed:
                text, _, _ = await openai_stream(sdk, i)
            else:
                completion = await sdk.chat.completions.create(
                    model="fast", messages=[{"role": "user", "content": f"q{i}"}]
                )
                text = completion.choices[0].message.content or ""
            answers.append(text)

        async with anyio.create_task_group() as group:
            group.start_soon(clock.autojump)
            async with anyio.create_task_group() as calls:
                for i in range(12):
                    calls.start_soon(call, i)
            group.cancel_scope.cancel()
        assert server.app.arrivals is not None
        times = [entry[0] for entry in server.app.arrivals.snapshot()["arrivals"]]
    assert len(times) == len(answers) == 12
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(times)]
    print("rpm gaps", min(gaps), (times[-1] - times[0]) / 1e9)
    assert min(gaps) >= 1.0 - 1e-6, gaps


async def test_a_budget_refusal_comes_out_of_the_sdk_call_unchanged() -> None:
    price = sluicegate.ModelPrice("sdk-openai/fast", 1000.0, 1000.0)
    async with serve_mock() as server, Client(prices=[price], budget=0.0001) as client:
        sdk = openai.AsyncOpenAI(
            base_url=server.openai_base_url,
            api_key=KEY,
            max_retries=0,
            http_client=sluicegate.http_client(client),
        )
        with pytest.raises(sluicegate.BudgetExceededError):
            await sdk.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": "hi"}], max_tokens=500
            )
        requests = server.stats.snapshot()["requests"]
    assert requests == 0


async def test_an_sdk_that_retries_is_warned() -> None:
    config = MockConfig(faults=FaultPlan(script=["server_error"] * 8), retry_after_s=0)
    async with serve_mock(config) as server, chain_client() as client:
        sdk = openai.AsyncOpenAI(
            base_url=server.openai_base_url,
            api_key=KEY,
            max_retries=1,
            http_client=sluicegate.http_client(client),
        )
        with pytest.warns(RuntimeWarning, match="max_retries=0"):
            with pytest.raises(openai.InternalServerError):
                await sdk.chat.completions.create(
                    model="fast", messages=[{"role": "user", "content": "hi"}]
                )


class _SlowOpeningClient(Client):
    """A client whose opening yields to the loop, as one with a shared store does (it
    connects to Redis first)."""

    async def __aenter__(self) -> Client:
        await anyio.lowlevel.checkpoint()
        return await super().__aenter__()


async def test_an_own_client_opens_once_under_concurrent_first_calls() -> None:
    # the transport opens a client of its own on the first request: SDK calls started
    # together must all wait for that one opening, not race past it ("not open")
    from sluicegate.sdk.codec import SDK_PLUGIN
    from sluicegate.sdk.transport import transport_class

    own = _SlowOpeningClient()
    own.register_plugin(SDK_PLUGIN)
    http = httpx.AsyncClient(transport=transport_class("httpx")(own, owns_client=True))
    async with serve_mock(MockConfig()) as server:
        sdk = openai.AsyncOpenAI(
            base_url=server.openai_base_url, api_key=KEY, max_retries=0, http_client=http
        )
        answers: list[str | None] = []

        async def ask(i: int) -> None:
            completion = await sdk.chat.completions.create(
                model="fast", messages=[{"role": "user", "content": f"question {i}"}]
            )
            answers.append(completion.choices[0].message.content)

        async with anyio.create_task_group() as group:
            for i in range(8):
                group.start_soon(ask, i)
        await http.aclose()
        assert server.stats.snapshot()["requests"] == 8
    assert len(answers) == 8 and all(answers)
