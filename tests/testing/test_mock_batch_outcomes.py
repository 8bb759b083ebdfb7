"""What becomes of mock batch items and jobs: injected failures and expiries (seeded,
fresh for a resubmitted id), jobs that fail or expire as a whole, the counters a batch
client's tests rely on, and the gate (faults, API key) in front of the batch routes."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest

from mock_batch_inputs import (
    anthropic_client,
    anthropic_requests,
    chat_body,
    jsonl_objects,
    openai_client,
    openai_jsonl,
    openai_line,
)
from sluicegate.clock import FakeClock
from sluicegate.testing import MockConfig, serve_mock
from sluicegate.testing.mock_files import CHUNK_BYTES

pytestmark = pytest.mark.anyio

SECONDS = 4.0
RATES = {"batch_item_failure_rate": 0.1, "batch_item_expiry_rate": 0.05, "batch_seed": 7}


def config(clock: FakeClock, **settings: Any) -> MockConfig:
    return MockConfig(clock=clock, batch_seconds=SECONDS, **settings)


async def run_openai(
    api: openai.AsyncOpenAI, clock: FakeClock, raw: bytes, **create: Any
) -> tuple[openai.types.Batch, list[dict[str, Any]], list[dict[str, Any]]]:
    """Upload, create, let the job end; the batch and its output and error lines."""
    uploaded = await api.files.create(file=("in.jsonl", raw), purpose="batch")
    batch = await api.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        **create,
    )
    clock.advance(SECONDS)
    batch = await api.batches.retrieve(batch.id)
    output = errors = []
    if batch.output_file_id:
        output = jsonl_objects((await api.files.content(batch.output_file_id)).text)
    if batch.error_file_id:
        errors = jsonl_objects((await api.files.content(batch.error_file_id)).text)
    return batch, output, errors


def kind_of(line: dict[str, Any]) -> str:
    if line["error"] is not None:
        return str(line["error"]["code"])
    return str(line["response"]["status_code"])


async def test_openai_items_fail_and_expire_and_succeed_when_resubmitted() -> None:
    clock = FakeClock()
    async with (
        serve_mock(config(clock, **RATES)) as server,
        openai_client(server.openai_base_url) as api,
    ):
        batch, output, errors = await run_openai(api, clock, openai_jsonl(400))
        assert batch.status == "completed"
        kinds = {line["custom_id"]: kind_of(line) for line in errors}
        failed = [i for i, k in kinds.items() if k == "500"]
        expired = [i for i, k in kinds.items() if k == "batch_expired"]
        assert len(failed) + len(expired) == len(errors)
        assert 20 <= len(failed) <= 60 and 8 <= len(expired) <= 35
        assert batch.request_counts is not None
        assert batch.request_counts.failed == len(errors)
        assert batch.request_counts.completed == len(output) == 400 - len(errors)
        assert all(line["response"] is None for line in errors if line["custom_id"] in expired)
        body = next(line for line in errors if line["custom_id"] in failed)["response"]["body"]
        assert body["error"]["type"] == "server_error"

        retry = "".join(
            openai_line(custom_id, chat_body(int(custom_id.split("-")[1]))) + "\n"
            for custom_id in kinds
        ).encode()
        _, second_output, second_errors = await run_openai(api, clock, retry)

    # a second app with the same seed fails the same ids: outcomes are not random per run
    again = FakeClock()
    async with (
        serve_mock(config(again, **RATES)) as other,
        openai_client(other.openai_base_url) as api2,
    ):
        _, _, errors_again = await run_openai(api2, again, openai_jsonl(400))
    assert {line["custom_id"] for line in errors_again} == set(kinds)

    assert len(second_errors) < len(errors) / 3  # a resubmission is a fresh draw
    assert {line["custom_id"] for line in second_errors} <= set(kinds)
    stats = server.stats.batches
    submitted = stats.submitted["openai"]
    assert all(submitted[i] == 2 for i in kinds)
    assert sum(submitted.values()) == 400 + len(kinds)
    answered = stats.answered["openai"]
    assert max(answered.values()) == 1  # no id answered twice
    assert len(answered) == len(output) + len(second_output)
    assert stats.items_succeeded["openai"] == len(answered)
    assert stats.items_failed["openai"] + stats.items_expired["openai"] == len(errors) + len(
        second_errors
    )


async def test_anthropic_items_fail_and_expire() -> None:
    clock = FakeClock()
    async with (
        serve_mock(config(clock, **RATES)) as server,
        anthropic_client(server.anthropic_base_url) as api,
    ):
        batch = await api.messages.batches.create(requests=anthropic_requests(300))  # type: ignore[arg-type]
        clock.advance(SECONDS)
        batch = await api.messages.batches.retrieve(batch.id)
        results = [r async for r in await api.messages.batches.results(batch.id)]
    counts = batch.request_counts
    kinds = [r.result.type for r in results]
    assert kinds.count("errored") == counts.errored and 10 <= counts.errored <= 50
    assert kinds.count("expired") == counts.expired and 4 <= counts.expired <= 30
    assert kinds.count("succeeded") == counts.succeeded == 300 - counts.errored - counts.expired
    errored = next(r.result for r in results if r.result.type == "errored")
    assert errored.type == "errored" and errored.error.error.type == "api_error"
    assert server.stats.batches.items_expired["anthropic"] == counts.expired


async def test_openai_jobs_that_fail_or_expire_as_a_whole() -> None:
    clock = FakeClock()
    async with serve_mock(config(clock)) as server, openai_client(server.openai_base_url) as api:
        failed, output, errors = await run_openai(
            api, clock, openai_jsonl(10), extra_headers={"x-mock-batch-outcome": "fail"}
        )
        assert (output, errors) == ([], [])
        expired, kept, lost = await run_openai(
            api, clock, openai_jsonl(10), extra_headers={"x-mock-batch-outcome": "expire"}
        )
        with pytest.raises(openai.BadRequestError, match="x-mock-batch-outcome"):
            await run_openai(
                api, clock, openai_jsonl(1), extra_headers={"x-mock-batch-outcome": "maybe"}
            )
    assert failed.status == "failed" and failed.failed_at is not None
    assert failed.errors is not None and failed.errors.data is not None
    assert [e.code for e in failed.errors.data] == ["token_limit_exceeded"]
    assert expired.status == "expired" and expired.expired_at is not None
    assert expired.finalizing_at is None
    assert 0 < len(kept) < 10 and len(kept) + len(lost) == 10
    assert {line["error"]["code"] for line in lost} == {"batch_expired"}
    assert [line["custom_id"] for line in kept + lost] == [f"row-{i}" for i in range(10)]


async def test_anthropic_jobs_that_fail_or_expire_as_a_whole() -> None:
    clock = FakeClock()
    async with (
        serve_mock(config(clock)) as server,
        anthropic_client(server.anthropic_base_url) as api,
    ):
        outcomes = {}
        for mark in ("fail", "expire"):
            batch = await api.messages.batches.create(
                requests=anthropic_requests(10),  # type: ignore[arg-type]
                extra_headers={"x-mock-batch-outcome": mark},
            )
            clock.advance(SECONDS)
            batch = await api.messages.batches.retrieve(batch.id)
            results = [r.result.type async for r in await api.messages.batches.results(batch.id)]
            outcomes[mark] = (batch.request_counts, results)
    fail_counts, fail_results = outcomes["fail"]
    assert fail_counts.errored == 10 and fail_results == ["errored"] * 10
    expire_counts, expire_results = outcomes["expire"]
    assert 0 < expire_counts.succeeded < 10
    assert expire_counts.expired == 10 - expire_counts.succeeded
    assert expire_results == ["succeeded"] * expire_counts.succeeded + ["expired"] * (
        expire_counts.expired
    )


async def test_job_failure_rate_is_seeded_per_job() -> None:
    runs: list[list[str]] = []
    for seed in (1, 1, 2):
        clock = FakeClock()
        settings = {"batch_failure_rate": 0.5, "batch_seed": seed}
        async with (
            serve_mock(config(clock, **settings)) as server,
            openai_client(server.openai_base_url) as api,
        ):
            runs.append(
                [(await run_openai(api, clock, openai_jsonl(1)))[0].status for _ in range(12)]
            )
    assert set(runs[0]) == {"completed", "failed"}
    assert runs[0] == runs[1]  # the same seed fails the same jobs
    assert runs[0] != runs[2]

    clock = FakeClock()
    async with (
        serve_mock(config(clock, batch_failure_rate=1.0)) as server,
        anthropic_client(server.anthropic_base_url) as api,
    ):
        batch = await api.messages.batches.create(requests=anthropic_requests(3))  # type: ignore[arg-type]
        clock.advance(SECONDS)
        batch = await api.messages.batches.retrieve(batch.id)
    assert batch.request_counts.errored == 3


async def test_stats_route_counts_jobs_and_ids() -> None:
    clock = FakeClock()
    async with serve_mock(config(clock)) as server:
        async with openai_client(server.openai_base_url) as api:
            await run_openai(api, clock, openai_jsonl(3))
        async with anthropic_client(server.anthropic_base_url) as other:
            await other.messages.batches.create(requests=anthropic_requests(2))  # type: ignore[arg-type]
        clock.advance(SECONDS)  # the anthropic job ends, unread: the stats route looks
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            summary = (await http.get("/_mock/stats")).json()
            detailed = (await http.get("/_mock/stats", params={"batch_ids": "1"})).json()
    openai_totals = summary["batches"]["openai"]
    assert openai_totals["created"] == 1 and openai_totals["files_uploaded"] == 1
    assert openai_totals["items_submitted"] == openai_totals["items_succeeded"] == 3
    assert openai_totals["ids_submitted"] == openai_totals["ids_answered"] == 3
    assert openai_totals["ids_submitted_more_than_once"] == 0
    assert openai_totals["ids_answered_more_than_once"] == 0
    assert openai_totals["output_tokens"] > 0
    assert "ids" not in openai_totals
    assert summary["batches"]["anthropic"]["items_succeeded"] == 2
    assert detailed["batches"]["anthropic"]["ids"] == {
        "row-0": {"submitted": 1, "answered": 1},
        "row-1": {"submitted": 1, "answered": 1},
    }
    assert summary["by_path"]["/v1/batches/{batch_id}"] == 1
    assert summary["succeeded"] == 0  # batch items are not live calls


async def test_batch_routes_pass_the_gate() -> None:
    clock = FakeClock()
    key = "sk-mock-batch-key"
    async with serve_mock(config(clock, require_api_key=key)) as server:
        async with openai_client(server.openai_base_url) as wrong:
            with pytest.raises(openai.AuthenticationError):
                await wrong.batches.list()
        right = openai.AsyncOpenAI(api_key=key, base_url=server.openai_base_url, max_retries=0)
        async with right:
            assert [b async for b in await right.batches.list()] == []
            with pytest.raises(openai.RateLimitError):
                await right.batches.list(extra_headers={"x-mock-fault": "rate_limit"})
            # a body fault means nothing to a JSON route: answered normally
            await right.batches.list(extra_headers={"x-mock-fault": "cut_stream"})
        other = anthropic.AsyncAnthropic(
            api_key=key, base_url=server.anthropic_base_url, max_retries=0
        )
        async with other:
            with pytest.raises(anthropic.InternalServerError):
                await other.messages.batches.list(extra_headers={"x-mock-fault": "server_error"})
    assert server.stats.by_status[401] == 1
    assert server.stats.by_fault["rate_limit"] == 1
    assert server.stats.by_fault["server_error"] == 1


async def test_big_input_is_kept_once_and_streamed_in_pieces() -> None:
    clock = FakeClock()
    raw = openai_jsonl(20_000)
    async with serve_mock(config(clock)) as server, openai_client(server.openai_base_url) as api:
        uploaded = await api.files.create(file=("big.jsonl", raw), purpose="batch")
        batch = await api.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        clock.advance(SECONDS)
        batch = await api.batches.retrieve(batch.id)
        assert batch.output_file_id is not None
        stored = server.app.openai_batches.files.get(uploaded.id)
        job = server.app.openai_batches.jobs.get(batch.id)
        assert stored is not None and job is not None
        assert job.items.raw is stored.data  # the batch shares the upload's bytes
        output = server.app.openai_batches.files.get(batch.output_file_id)
        assert output is not None and output.data is None  # a recipe, not stored bytes
        pieces = [len(piece) async for piece in output.content()]
        lines = 0
        async with httpx.AsyncClient(base_url=server.openai_base_url, timeout=60) as http:
            async with http.stream("GET", f"/files/{batch.output_file_id}/content") as answer:
                async for line in answer.aiter_lines():
                    if line:
                        lines += 1
                        assert json.loads(line)["response"]["status_code"] == 200
    assert lines == 20_000
    assert len(pieces) > 20
    assert max(pieces) < CHUNK_BYTES + 2_000  # a piece is at most one line over
