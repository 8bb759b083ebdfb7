"""The official openai SDK's Files and Batch calls against the mock server.

The SDK parses every answer with its own types (FileObject, Batch, cursor pages), so a
shape the mock gets wrong fails here. The mock's clock is a FakeClock the test moves by
hand: a job's phases are checked at chosen moments, with no waiting. Runs on asyncio
and trio: the SDK's async client runs on both (it uses anyio and httpx2).
"""

from __future__ import annotations

import json

import openai
import pytest
from openai.types.chat import ChatCompletion

from mock_batch_inputs import chat_body, jsonl_objects, openai_client, openai_jsonl, openai_line
from sluicegate.clock import FakeClock
from sluicegate.testing import MockConfig, serve_mock

pytestmark = pytest.mark.anyio

SECONDS = 10.0


def config(clock: FakeClock, **settings: object) -> MockConfig:
    return MockConfig(clock=clock, batch_seconds=SECONDS, **settings)  # type: ignore[arg-type]


async def test_upload_create_poll_and_download() -> None:
    clock = FakeClock()
    lines = [
        openai_line("plain", chat_body(1)),
        openai_line("short", chat_body(2, max_tokens=3)),
        openai_line(
            "tool",
            {
                "model": "fast",
                "messages": [{"role": "user", "content": "What is the weather in Lisbon?"}],
                "tools": [
                    {"type": "function", "function": {"name": "get_weather", "parameters": {}}}
                ],
            },
        ),
        openai_line("fourth", chat_body(4)),
    ]
    raw = ("\n".join(lines) + "\n").encode()
    async with serve_mock(config(clock)) as server, openai_client(server.openai_base_url) as api:
        uploaded = await api.files.create(file=("reviews.jsonl", raw), purpose="batch")
        assert uploaded.purpose == "batch"
        assert uploaded.bytes == len(raw)
        assert uploaded.filename == "reviews.jsonl"
        assert (await api.files.retrieve(uploaded.id)).id == uploaded.id
        assert (await api.files.content(uploaded.id)).content == raw

        batch = await api.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"run": "test"},
        )
        assert batch.status == "validating"
        assert batch.request_counts is not None and batch.request_counts.total == 4
        assert batch.metadata == {"run": "test"}
        assert batch.model == "fast"
        assert batch.output_file_id is None

        clock.advance(SECONDS * 0.5)
        batch = await api.batches.retrieve(batch.id)
        assert batch.status == "in_progress"
        assert batch.request_counts is not None
        assert 0 < batch.request_counts.completed < 4
        assert batch.in_progress_at is not None

        clock.advance(SECONDS * 0.45)
        batch = await api.batches.retrieve(batch.id)
        assert batch.status == "finalizing"
        assert batch.request_counts is not None and batch.request_counts.completed == 4
        assert batch.output_file_id is None

        clock.advance(SECONDS * 0.05)
        batch = await api.batches.retrieve(batch.id)
        assert batch.status == "completed"
        assert batch.request_counts is not None
        assert (batch.request_counts.completed, batch.request_counts.failed) == (4, 0)
        assert batch.error_file_id is None and batch.errors is None
        assert batch.output_file_id is not None
        assert batch.in_progress_at is not None and batch.finalizing_at is not None
        assert batch.completed_at is not None
        assert batch.created_at <= batch.in_progress_at <= batch.finalizing_at
        assert batch.finalizing_at <= batch.completed_at

        content = await api.files.content(batch.output_file_id)
        again = await api.files.content(batch.output_file_id)
        output_file = await api.files.retrieve(batch.output_file_id)
        live = {
            custom_id: await api.chat.completions.create(**json.loads(line)["body"])
            for custom_id, line in zip(["plain", "short", "tool", "fourth"], lines, strict=True)
        }
    assert content.content == again.content  # made again, the same bytes
    assert output_file.bytes == len(content.content)
    assert output_file.purpose == "batch_output"
    results = jsonl_objects(content.text)
    assert [r["custom_id"] for r in results] == ["plain", "short", "tool", "fourth"]
    assert len({r["id"] for r in results}) == 4
    for result in results:
        assert result["error"] is None
        assert result["response"]["status_code"] == 200
        assert result["response"]["request_id"]
        completion = ChatCompletion.model_validate(result["response"]["body"])
        reference = live[result["custom_id"]]
        assert completion.choices[0].message.content == reference.choices[0].message.content
        assert completion.choices[0].finish_reason == reference.choices[0].finish_reason
        assert completion.usage == reference.usage
    short = ChatCompletion.model_validate(results[1]["response"]["body"])
    assert short.choices[0].finish_reason == "length"
    tool = ChatCompletion.model_validate(results[2]["response"]["body"])
    assert tool.choices[0].message.tool_calls is not None
    assert server.stats.batches.items_succeeded["openai"] == 4
    assert server.stats.batches.files_uploaded == 1


async def test_cancel_keeps_what_was_done() -> None:
    clock = FakeClock()
    async with serve_mock(config(clock)) as server, openai_client(server.openai_base_url) as api:
        uploaded = await api.files.create(file=("in.jsonl", openai_jsonl(100)), purpose="batch")
        batch = await api.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        clock.advance(SECONDS * 0.5)
        cancelling = await api.batches.cancel(batch.id)
        assert cancelling.status == "cancelling"
        assert cancelling.cancelling_at is not None and cancelling.cancelled_at is None
        assert cancelling.request_counts is not None
        done = cancelling.request_counts.completed
        assert 0 < done < 100
        assert (await api.batches.cancel(batch.id)).status == "cancelling"  # idempotent

        clock.advance(SECONDS * 0.1)
        cancelled = await api.batches.retrieve(batch.id)
        assert cancelled.status == "cancelled"
        assert cancelled.cancelled_at is not None
        assert cancelled.request_counts is not None
        assert cancelled.request_counts.completed == done
        assert cancelled.request_counts.failed == 100 - done
        assert cancelled.output_file_id is not None and cancelled.error_file_id is not None
        output = jsonl_objects((await api.files.content(cancelled.output_file_id)).text)
        errors = jsonl_objects((await api.files.content(cancelled.error_file_id)).text)
        assert (await api.batches.cancel(batch.id)).status == "cancelled"

        finished = await api.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        clock.advance(SECONDS)
        with pytest.raises(openai.ConflictError, match="completed"):
            await api.batches.cancel(finished.id)
    assert [r["custom_id"] for r in output] == [f"row-{i}" for i in range(done)]
    assert [r["custom_id"] for r in errors] == [f"row-{i}" for i in range(done, 100)]
    assert all(r["response"] is None for r in errors)
    assert {r["error"]["code"] for r in errors} == {"batch_cancelled"}
    assert server.stats.batches.items_canceled["openai"] == 100 - done


async def test_list_pages_newest_first() -> None:
    clock = FakeClock()
    async with serve_mock(config(clock)) as server, openai_client(server.openai_base_url) as api:
        uploaded = await api.files.create(file=("in.jsonl", openai_jsonl(2)), purpose="batch")
        created = [
            (
                await api.batches.create(
                    input_file_id=uploaded.id,
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                )
            ).id
            for _ in range(3)
        ]
        first = await api.batches.list(limit=2)
        listed = [batch.id async for batch in await api.batches.list(limit=2)]
        files = [f.id async for f in await api.files.list(purpose="batch")]
    assert first.has_more is True
    assert [b.id for b in first.data] == created[::-1][:2]
    assert listed == created[::-1]  # the SDK followed the cursor to the third
    assert files == [uploaded.id]


async def test_input_over_the_limits_fails_validation() -> None:
    clock = FakeClock()
    settings = {"openai_batch_max_requests": 3, "openai_batch_max_bytes": 2_000}
    async with (
        serve_mock(config(clock, **settings)) as server,
        openai_client(server.openai_base_url) as api,
    ):
        too_many = await api.files.create(file=("a.jsonl", openai_jsonl(4)), purpose="batch")
        too_big = await api.files.create(file=("b.jsonl", openai_jsonl(3) * 8), purpose="batch")
        batches = [
            await api.batches.create(
                input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            for f in (too_many, too_big)
        ]
        assert [b.status for b in batches] == ["validating", "validating"]
        clock.advance(SECONDS * 0.1)
        failed = [await api.batches.retrieve(b.id) for b in batches]
    for batch, code in zip(failed, ["too_many_tasks", "file_too_large"], strict=True):
        assert batch.status == "failed"
        assert batch.failed_at is not None
        assert batch.output_file_id is None and batch.error_file_id is None
        assert batch.request_counts is not None and batch.request_counts.total == 0
        assert batch.errors is not None and batch.errors.data is not None
        assert batch.errors.object == "list"
        assert batch.errors.data[0].code == code
        assert batch.errors.data[0].line is None
    assert server.stats.batches.created["openai"] == 2
    assert server.stats.batches.items_submitted["openai"] == 0


async def test_bad_lines_are_reported_with_their_numbers() -> None:
    clock = FakeClock()
    raw = "\n".join(
        [
            openai_line("a", chat_body(0)),
            "{not json",
            openai_line("a", chat_body(1)),
            openai_line("c", chat_body(2), url="/v1/embeddings"),
            openai_line("d", chat_body(3, model="smart")),
            json.dumps({"method": "POST", "url": "/v1/chat/completions", "body": {}}),
        ]
    ).encode()
    async with serve_mock(config(clock)) as server, openai_client(server.openai_base_url) as api:
        uploaded = await api.files.create(file=("bad.jsonl", raw), purpose="batch")
        batch = await api.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        clock.advance(SECONDS)
        batch = await api.batches.retrieve(batch.id)
        with pytest.raises(openai.NotFoundError):
            await api.batches.retrieve("batch_nope")
        with pytest.raises(openai.NotFoundError):
            await api.batches.create(
                input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h"
            )
    assert batch.status == "failed"
    assert batch.errors is not None and batch.errors.data is not None
    found = [(e.code, e.line, e.param) for e in batch.errors.data]
    assert found == [
        ("invalid_json_line", 2, None),
        ("duplicate_custom_id", 3, "custom_id"),
        ("url_mismatch", 4, "url"),
        ("model_mismatch", 5, "body.model"),
        ("missing_required_parameter", 6, "custom_id"),
    ]


async def test_requests_the_live_api_refuses_go_to_the_error_file() -> None:
    clock = FakeClock()
    raw = "\n".join(
        [
            openai_line("good", chat_body(0)),
            openai_line("no-messages", {"model": "fast", "messages": []}),
        ]
    ).encode()
    async with serve_mock(config(clock)) as server, openai_client(server.openai_base_url) as api:
        uploaded = await api.files.create(file=("in.jsonl", raw), purpose="batch")
        batch = await api.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        clock.advance(SECONDS)
        batch = await api.batches.retrieve(batch.id)
        assert batch.error_file_id is not None
        errors = jsonl_objects((await api.files.content(batch.error_file_id)).text)
        with pytest.raises(openai.BadRequestError) as live:
            await api.chat.completions.create(model="fast", messages=[])
        deleted = await api.files.delete(uploaded.id)
        with pytest.raises(openai.NotFoundError):
            await api.files.retrieve(uploaded.id)
        # the batch keeps its input: its files are still made after the upload is deleted
        assert (await api.files.content(batch.error_file_id)).text.count("\n") == 1
    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    assert deleted.deleted is True
    [error] = errors
    assert error["custom_id"] == "no-messages"
    assert error["error"] is None
    assert error["response"]["status_code"] == 400
    assert error["response"]["body"]["error"] == live.value.body
