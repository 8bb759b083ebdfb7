"""The official anthropic SDK's Message Batches calls against the mock server.

``messages.batches.results`` follows the batch's ``results_url`` and parses each line
into the SDK's result union, so shapes and URLs the mock gets wrong fail here. Time is a
FakeClock moved by hand; asyncio and trio.
"""

from __future__ import annotations

import anthropic
import pytest

from mock_batch_inputs import anthropic_client, anthropic_requests
from sluicegate.clock import FakeClock
from sluicegate.testing import MockConfig, serve_mock

pytestmark = pytest.mark.anyio

SECONDS = 10.0


def config(clock: FakeClock, **settings: object) -> MockConfig:
    return MockConfig(clock=clock, batch_seconds=SECONDS, **settings)  # type: ignore[arg-type]


async def test_create_retrieve_and_results_match_live_calls() -> None:
    clock = FakeClock()
    requests = anthropic_requests(5)
    requests[1]["params"]["max_tokens"] = 3
    requests[2]["params"]["system"] = "Answer briefly."
    async with (
        serve_mock(config(clock)) as server,
        anthropic_client(server.anthropic_base_url) as api,
    ):
        batch = await api.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        assert batch.processing_status == "in_progress"
        assert batch.request_counts.processing == 5
        assert batch.results_url is None and batch.ended_at is None
        assert (batch.expires_at - batch.created_at).total_seconds() == 24 * 3600

        clock.advance(SECONDS * 0.95)
        batch = await api.messages.batches.retrieve(batch.id)
        assert batch.processing_status == "in_progress"
        assert batch.request_counts.succeeded == 0  # zero until the whole batch ends

        clock.advance(SECONDS * 0.05)
        batch = await api.messages.batches.retrieve(batch.id)
        assert batch.processing_status == "ended"
        assert batch.ended_at is not None and batch.results_url is not None
        counts = batch.request_counts
        assert (counts.processing, counts.succeeded, counts.errored) == (0, 5, 0)

        results = [r async for r in await api.messages.batches.results(batch.id)]
        again = [r async for r in await api.messages.batches.results(batch.id)]
        live = [await api.messages.create(**r["params"]) for r in requests]
    assert results == again
    assert [r.custom_id for r in results] == [f"row-{i}" for i in range(5)]
    for result, reference in zip(results, live, strict=True):
        assert result.result.type == "succeeded"
        message = result.result.message
        assert message.content == reference.content
        assert message.usage == reference.usage
        assert message.stop_reason == reference.stop_reason
    assert results[1].result.type == "succeeded"
    assert results[1].result.message.stop_reason == "max_tokens"
    stats = server.stats.batches
    assert stats.created["anthropic"] == 1
    assert stats.items_succeeded["anthropic"] == 5
    assert dict(stats.answered["anthropic"]) == {f"row-{i}": 1 for i in range(5)}


async def test_cancel_mid_way() -> None:
    clock = FakeClock()
    async with (
        serve_mock(config(clock)) as server,
        anthropic_client(server.anthropic_base_url) as api,
    ):
        batch = await api.messages.batches.create(requests=anthropic_requests(50))  # type: ignore[arg-type]
        clock.advance(SECONDS * 0.5)
        canceling = await api.messages.batches.cancel(batch.id)
        assert canceling.processing_status == "canceling"
        assert canceling.cancel_initiated_at is not None
        assert (await api.messages.batches.cancel(batch.id)).processing_status == "canceling"
        clock.advance(SECONDS * 0.1)
        ended = await api.messages.batches.retrieve(batch.id)
        results = [r async for r in await api.messages.batches.results(batch.id)]
        assert (await api.messages.batches.cancel(batch.id)).processing_status == "ended"

        other = await api.messages.batches.create(requests=anthropic_requests(2))  # type: ignore[arg-type]
        clock.advance(SECONDS)
        with pytest.raises(anthropic.BadRequestError, match="already ended"):
            await api.messages.batches.cancel(other.id)
    counts = ended.request_counts
    assert ended.processing_status == "ended"
    assert 0 < counts.succeeded < 50
    assert counts.succeeded + counts.canceled == 50
    kinds = [r.result.type for r in results]
    assert kinds == ["succeeded"] * counts.succeeded + ["canceled"] * counts.canceled
    assert server.stats.batches.items_canceled["anthropic"] == counts.canceled


async def test_list_and_delete() -> None:
    clock = FakeClock()
    async with (
        serve_mock(config(clock)) as server,
        anthropic_client(server.anthropic_base_url) as api,
    ):
        ids = [
            (await api.messages.batches.create(requests=anthropic_requests(1))).id  # type: ignore[arg-type]
            for _ in range(3)
        ]
        page = await api.messages.batches.list(limit=2)
        listed = [b.id async for b in await api.messages.batches.list(limit=2)]
        with pytest.raises(anthropic.BadRequestError, match="still processing"):
            await api.messages.batches.delete(ids[0])
        with pytest.raises(anthropic.AnthropicError, match="results_url"):
            await api.messages.batches.results(ids[0])  # the SDK looks at the batch first
        with pytest.raises(anthropic.BadRequestError, match="still processing"):
            await api.get(f"/v1/messages/batches/{ids[0]}/results", cast_to=object)
        clock.advance(SECONDS)
        deleted = await api.messages.batches.delete(ids[0])
        with pytest.raises(anthropic.NotFoundError):
            await api.messages.batches.retrieve(ids[0])
    assert page.has_more is True
    assert [b.id for b in page.data] == ids[::-1][:2]
    assert listed == ids[::-1]
    assert (deleted.id, deleted.type) == (ids[0], "message_batch_deleted")


async def test_limits_and_bad_requests_are_refused_at_creation() -> None:
    clock = FakeClock()
    settings = {"anthropic_batch_max_requests": 3, "anthropic_batch_max_bytes": 4_000}
    async with (
        serve_mock(config(clock, **settings)) as server,
        anthropic_client(server.anthropic_base_url) as api,
    ):
        batches = api.messages.batches
        with pytest.raises(anthropic.BadRequestError, match="1 to 3 requests"):
            await batches.create(requests=anthropic_requests(4))  # type: ignore[arg-type]
        big = anthropic_requests(3)
        big[0]["params"]["system"] = "x" * 5_000
        with pytest.raises(anthropic.APIStatusError) as too_big:
            await batches.create(requests=big)  # type: ignore[arg-type]
        bad_id = anthropic_requests(1, prefix="has space")
        with pytest.raises(anthropic.BadRequestError, match="custom_id"):
            await batches.create(requests=bad_id)  # type: ignore[arg-type]
        twice = anthropic_requests(2)
        twice[1]["custom_id"] = twice[0]["custom_id"]
        with pytest.raises(anthropic.BadRequestError, match="unique"):
            await batches.create(requests=twice)  # type: ignore[arg-type]
    assert too_big.value.status_code == 413
    assert too_big.value.type == "request_too_large"
    assert server.stats.batches.created["anthropic"] == 0
    assert not server.stats.batches.submitted["anthropic"]  # nothing was counted


async def test_invalid_params_end_errored_with_the_live_error() -> None:
    clock = FakeClock()
    requests = anthropic_requests(2)
    del requests[1]["params"]["max_tokens"]
    async with (
        serve_mock(config(clock)) as server,
        anthropic_client(server.anthropic_base_url) as api,
    ):
        batch = await api.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        clock.advance(SECONDS)
        batch = await api.messages.batches.retrieve(batch.id)
        results = [r async for r in await api.messages.batches.results(batch.id)]
        with pytest.raises(anthropic.BadRequestError) as live:
            await api.post("/v1/messages", body=requests[1]["params"], cast_to=object)
    assert (batch.request_counts.succeeded, batch.request_counts.errored) == (1, 1)
    errored = results[1].result
    assert errored.type == "errored"
    assert errored.error.error.type == "invalid_request_error"
    assert isinstance(live.value.body, dict)
    assert errored.error.error.message == live.value.body["error"]["message"]
