"""``client.batches``: submit a lazy stream of requests (split by the limits, each job
reported as it is created), watch the jobs (polling never faster than the minimum
interval, growing with backoff), read the results as decoded Responses at the batch
price; and the errors a caller can make (no batch API, no id, results too early)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from batch.helpers import MODELS, batch_client, mock_app, with_autojump
from sluicegate import BadInputError, Client, ConfigError, ProviderSettings, ProviderSpec, hookimpl
from sluicegate.batch.api import BatchJob, BatchLimits, JobState
from sluicegate.batch.batches import SubmittedJob
from sluicegate.clock import FakeClock
from sluicegate.errors import BatchUnsupportedError
from sluicegate.providers.openai import OpenAIProvider
from sluicegate.transports.base import HttpRequest, HttpResponse
from sluicegate.transports.memory import MemoryTransport

pytestmark = pytest.mark.anyio


class CountingTransport(MemoryTransport):
    """The in-memory transport, noting when each batch status poll was made."""

    def __init__(self, app: Any, clock: FakeClock) -> None:
        super().__init__(app)
        self.clock = clock
        self.polls: list[float] = []

    async def send(self, request: HttpRequest) -> HttpResponse:
        path = request.url.split("://", 1)[1].partition("/")[2]
        if request.method == "GET" and "batches/" in path and not path.endswith("results"):
            self.polls.append(self.clock.now())
        return await super().send(request)


@pytest.mark.parametrize("provider", ["mock", "anthropic"])
async def test_submit_reads_lazily_splits_by_the_limit_and_results_decode(provider: str) -> None:
    clock = FakeClock()
    app = mock_app(clock)
    taken: list[int] = []
    seen_at_job: list[int] = []

    async def scenario() -> None:
        async with batch_client(app, clock=clock, max_requests=100) as client:

            def requests() -> Iterator[Any]:
                for i in range(250):
                    taken.append(i)
                    yield client.request(MODELS[provider], f"item {i}", caller_id=f"id-{i}")

            def on_job(submitted: SubmittedJob) -> None:
                seen_at_job.append(len(taken))

            submitted = await client.batches.submit(requests(), on_job=on_job)
            assert [len(s.custom_ids) for s in submitted] == [100, 100, 50]
            assert submitted[0].custom_ids[:2] == ("id-0", "id-1")
            assert submitted[2].positions == tuple(range(200, 250))
            ended = [await client.batches.wait(s.job) for s in submitted]
            assert {job.state for job in ended} == {JobState.COMPLETED}
            assert [job.counts.succeeded for job in ended] == [100, 100, 50]
            texts: dict[str, str] = {}
            for job in ended:
                async with client.batches.results(job) as outcomes:
                    async for outcome in outcomes:
                        assert outcome.response is not None and outcome.error is None
                        priced = client.batches.price(outcome.response)
                        batch_cost, live_cost = client.batches.costs(priced.model, priced.usage)
                        assert priced.cost == batch_cost == pytest.approx(live_cost / 2)
                        texts[outcome.custom_id] = outcome.response.text
            assert sorted(texts) == sorted(f"id-{i}" for i in range(250))
            assert texts["id-7"] == (await client.chat(MODELS[provider], "item 7")).text

    await with_autojump(clock, scenario)
    # the input was read as jobs filled: the first job was created after 101 requests
    assert seen_at_job == [101, 201, 250]


async def test_watch_reports_changes_and_polls_no_faster_than_the_minimum() -> None:
    clock = FakeClock()
    app = mock_app(clock, batch_seconds=120.0)
    transport = CountingTransport(app, clock)
    seen: list[BatchJob] = []

    async def scenario() -> None:
        async with Client(
            transport=transport,
            providers={"mock": ProviderSettings(base_url="http://mock.test/v1")},
            batch_limits={
                "mock": BatchLimits(1000, 10**9, min_poll_interval_s=2, max_poll_interval_s=16)
            },
            clock=clock,
        ) as client:
            requests = [client.request("mock/fast", f"q{i}", caller_id=f"q{i}") for i in range(40)]
            submitted = await client.batches.submit(requests)
            async for job in client.batches.watch([s.job for s in submitted]):
                seen.append(job)

    await with_autojump(clock, scenario)
    gaps = [b - a for a, b in zip(transport.polls, transport.polls[1:], strict=False)]
    assert gaps and min(gaps) >= 2.0 - 1e-9 and max(gaps) <= 16.0 + 1e-9
    assert max(gaps) > 4.0  # the waits grew
    assert seen[-1].terminal and seen[-1].counts.succeeded == 40
    counts = [job.counts.done for job in seen]
    assert counts == sorted(counts)
    views = [(job.state, job.counts) for job in seen]
    assert all(a != b for a, b in itertools.pairwise(views))  # changes only
    assert len(transport.polls) < 120 / 2  # far fewer polls than at the minimum interval


class NoBatchPlugin:
    name = "no-batch"

    @hookimpl
    def sluicegate_providers(self) -> Sequence[ProviderSpec]:
        return [
            ProviderSpec(
                name="acme",
                factory=lambda name, url, headers: OpenAIProvider(url, headers, name=name),
                default_base_url="http://acme.invalid/v1",
                needs_key=False,
            )
        ]


async def test_a_provider_without_a_batch_api_is_a_clear_config_error() -> None:
    async with Client(plugins=[NoBatchPlugin()]) as client:
        assert "acme" not in client.batches.providers
        assert {"mock", "openai"} <= set(client.batches.providers)
        with pytest.raises(BatchUnsupportedError, match=r"'acme'.*no batch API") as caught:
            client.batches.api("acme")
        assert isinstance(caught.value, ConfigError) and caught.value.provider == "acme"
        with pytest.raises(BatchUnsupportedError):
            await client.batches.submit([client.request("acme/m", "hi", caller_id="1")])


async def test_batch_requests_need_an_id_and_results_need_an_ended_job() -> None:
    async with Client() as client:
        with pytest.raises(BadInputError, match="needs an id"):
            await client.batches.submit([client.request("mock/fast", "hi")])
        running = BatchJob("batch_1", "mock", JobState.RUNNING)
        with pytest.raises(ConfigError, match="is running"):
            client.batches.results(running)
        with pytest.raises(ConfigError, match="give the provider"):
            await client.batches.retrieve("batch_1")


async def test_limits_are_overridden_per_provider_or_for_all() -> None:
    async with Client(
        batch_limits={"*": {"max_requests": 10}, "mock": {"min_poll_interval_s": 0.5}}
    ) as client:
        mock = client.batches.api("mock").limits
        assert (mock.max_requests, mock.min_poll_interval_s) == (10, 0.5)
        assert mock.max_bytes == 200_000_000
        openai_limits = client.batches.api("openai").limits
        assert (openai_limits.max_requests, openai_limits.min_poll_interval_s) == (10, 5.0)
    async with Client(batch_limits={"mock": {"max_request": 10}}) as client:
        with pytest.raises(ConfigError, match=r"batch_limits\['mock'\]"):
            client.batches.api("mock")
    with pytest.raises(ConfigError, match="max_requests must be an integer >= 1"):
        BatchLimits(0, 10)
