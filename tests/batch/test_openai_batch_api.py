"""The OpenAI batch API against exact HTTP answers: the calls it makes (a multipart upload
with ``purpose=batch``, the batch over that file for /v1/chat/completions with a 24h
window, the key on every call), which calls it retries, how batch objects map to states
and counts, and how each kind of output and error line is decoded."""

from __future__ import annotations

import json
import random
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import pytest

from batch.helpers import with_autojump
from sluicegate import (
    AuthenticationError,
    Client,
    ProviderError,
    RateLimitedError,
    Request,
    TransportError,
)
from sluicegate.batch.api import BatchBinding, JobState
from sluicegate.batch.openai import MOCK_LIMITS, OpenAIBatchApi, parse_batch
from sluicegate.clock import FakeClock
from sluicegate.errors import BatchItemError, ResponseFormatError
from sluicegate.providers.base import BoundProvider
from sluicegate.providers.openai import SPEC, OpenAIProvider
from sluicegate.secrets import Secret
from sluicegate.testing import Answer, ScriptedTransport, openai_completion
from sluicegate.transports.base import TransportFailure
from sluicegate.types import Metadata

pytestmark = pytest.mark.anyio

KEY = "sk-proj-batchunittest0123456789abcdef"
BASE = "https://api.example.test/v1"


def batch_object(status: str = "validating", **fields: Any) -> dict[str, Any]:
    return {
        "id": "batch_abc",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "file-in",
        "completion_window": "24h",
        "status": status,
        "created_at": 1_700_000_000,
        "request_counts": {"total": 3, "completed": 1, "failed": 1},
        **fields,
    }


def api(transport: ScriptedTransport, clock: FakeClock | None = None) -> OpenAIBatchApi:
    bound = BoundProvider(
        name="openai",
        spec=SPEC,
        codec=OpenAIProvider(BASE, {}),
        base_url=BASE,
        transport=transport,
        credential=Secret(KEY),
    )
    return OpenAIBatchApi(BatchBinding(bound, MOCK_LIMITS, clock or FakeClock(), random.Random(1)))


def request(caller_id: str = "r1") -> Request:
    return Request(
        model="openai/gpt-4o-mini",
        messages=(),
        metadata=Metadata(caller_id=caller_id),
    )


async def test_create_uploads_the_file_then_creates_the_batch_as_the_api_reference_has_it() -> None:
    transport = ScriptedTransport(
        Answer.json(200, {"id": "file-in", "object": "file", "purpose": "batch", "bytes": 10}),
        Answer.json(200, batch_object()),
    )
    async with Client() as client:
        item = client.request("openai/gpt-4o-mini", "Hi", caller_id="r1", max_tokens=5)
    batch_api = api(transport)
    line = batch_api.encode_item("r1", item)
    job = await batch_api.create(line + b"\n", 1)

    upload, create = transport.requests
    assert (upload.method, upload.url) == ("POST", f"{BASE}/files")
    assert upload.headers["authorization"] == f"Bearer {KEY}"
    head = f"Content-Type: {upload.headers['content-type']}\r\n\r\n".encode()
    form = BytesParser(policy=HTTP).parsebytes(head + upload.body)
    parts = {
        part.get_param("name", header="content-disposition"): part for part in form.iter_parts()
    }
    assert parts["purpose"].get_content() == "batch"
    assert parts["file"].get_filename().endswith(".jsonl")
    uploaded = parts["file"].get_payload(decode=True)
    assert json.loads(uploaded) == {
        "custom_id": "r1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 5,
        },
    }
    assert (create.method, create.url) == ("POST", f"{BASE}/batches")
    body = json.loads(create.body)
    assert (body["input_file_id"], body["endpoint"], body["completion_window"]) == (
        "file-in",
        "/v1/chat/completions",
        "24h",
    )
    assert create.headers["authorization"] == f"Bearer {KEY}"
    assert (job.id, job.state, job.status) == ("batch_abc", JobState.VALIDATING, "validating")
    assert KEY not in repr(batch_api) + repr(job)


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("validating", JobState.VALIDATING),
        ("in_progress", JobState.RUNNING),
        ("finalizing", JobState.FINALIZING),
        ("completed", JobState.COMPLETED),
        ("failed", JobState.FAILED),
        ("expired", JobState.EXPIRED),
        ("cancelling", JobState.CANCELLING),
        ("cancelled", JobState.CANCELLED),
    ],
)
def test_every_batch_status_maps_to_a_state(status: str, state: JobState) -> None:
    job = parse_batch("openai", batch_object(status, completed_at=1_700_000_060))
    assert job.state is state
    assert (job.counts.total, job.counts.succeeded, job.counts.failed) == (3, 1, 1)
    assert job.counts.processing == 1
    assert job.duration_s == 60.0


def test_a_failed_batch_keeps_its_validation_errors() -> None:
    job = parse_batch(
        "openai",
        batch_object(
            "failed",
            errors={
                "object": "list",
                "data": [{"code": "too_many_tasks", "message": "Over.", "line": None}],
            },
        ),
    )
    assert job.errors == ("too_many_tasks: Over.",)
    with pytest.raises(ResponseFormatError):
        parse_batch("openai", {"object": "batch"})


async def test_reads_are_retried_but_an_ambiguous_create_is_not() -> None:
    clock = FakeClock()
    flaky = ScriptedTransport(
        Answer.json(500, {"error": {"message": "boom", "type": "server_error"}}),
        TransportFailure("read", "reset"),
        Answer.json(200, batch_object("in_progress")),
    )
    job = await with_autojump(clock, api(flaky, clock).retrieve("batch_abc"))
    assert job.state is JobState.RUNNING and len(flaky.requests) == 3

    cut = ScriptedTransport(
        Answer.json(200, {"id": "file-in", "object": "file"}),
        TransportFailure("read", "reset after sending"),
    )
    with pytest.raises(TransportError):
        await with_autojump(clock, api(cut, clock).create(b'{"custom_id":"a"}\n', 1))
    assert [r.url for r in cut.requests] == [f"{BASE}/files", f"{BASE}/batches"]

    refused = ScriptedTransport(
        Answer.json(200, {"id": "file-in", "object": "file"}),
        Answer.json(
            429, {"error": {"message": "slow down", "type": "rate_limit"}}, {"retry-after": "2"}
        ),
        Answer.json(200, batch_object()),
    )
    started = clock.now()
    await with_autojump(clock, api(refused, clock).create(b'{"custom_id":"a"}\n', 1))
    assert len(refused.requests) == 3 and clock.now() - started >= 2.0

    denied = ScriptedTransport(Answer.json(401, {"error": {"message": f"bad key {KEY}"}}))
    with pytest.raises(AuthenticationError) as caught:
        await api(denied).retrieve("batch_abc")
    assert len(denied.requests) == 1 and KEY not in str(caught.value)


def decode(line: dict[str, Any] | bytes) -> Any:
    raw = line if isinstance(line, bytes) else json.dumps(line).encode()
    lookup = {"r1": request("r1")}.get
    return api(ScriptedTransport(Answer())).decode_line(raw, lookup, "batch_abc")


def test_output_and_error_lines_decode_as_live_answers_and_typed_errors() -> None:
    ok = decode(
        {
            "id": "batch_req_1",
            "custom_id": "r1",
            "response": {
                "status_code": 200,
                "request_id": "req_1",
                "body": openai_completion("hello", 7, 2),
            },
            "error": None,
        }
    )
    assert ok.custom_id == "r1" and ok.error is None
    assert (ok.response.text, ok.response.model, ok.response.usage.input_tokens) == (
        "hello",
        "openai/gpt-4o-mini",
        7,
    )

    invalid = decode(
        {
            "custom_id": "r1",
            "response": {
                "status_code": 400,
                "request_id": "req_2",
                "body": {
                    "error": {"message": "max_tokens too large", "type": "invalid_request_error"}
                },
            },
            "error": None,
        }
    ).error
    assert isinstance(invalid, ProviderError) and invalid.status == 400 and not invalid.retryable
    limited = decode(
        {"custom_id": "r1", "response": {"status_code": 429, "body": {"error": {"message": "x"}}}}
    ).error
    assert isinstance(limited, RateLimitedError) and limited.retryable

    expired = decode(
        {
            "custom_id": "r1",
            "response": None,
            "error": {
                "code": "batch_expired",
                "message": "This request could not be executed before the window expired.",
            },
        }
    ).error
    assert isinstance(expired, BatchItemError)
    assert (expired.error_type, expired.retryable, expired.job_id) == ("expired", True, "batch_abc")
    cancelled = decode({"custom_id": "r1", "error": {"code": "batch_cancelled", "message": "m"}})
    assert cancelled.error.error_type == "canceled"

    unknown = decode(
        {"custom_id": "zz", "response": {"status_code": 200, "body": openai_completion()}}
    )
    assert unknown.response.model == "openai/m"  # no request known: the body's model

    assert decode(b"not json") is None
    assert decode({"no": "custom id"}) is None
    neither = decode({"custom_id": "r1"}).error
    assert isinstance(neither, ResponseFormatError) and neither.retryable


async def test_results_stream_the_output_then_the_error_file_line_by_line() -> None:
    good = {"custom_id": "a", "response": {"status_code": 200, "body": openai_completion("A")}}
    bad = {
        "custom_id": "b",
        "response": None,
        "error": {"code": "batch_expired", "message": "late"},
    }
    data = (json.dumps(good) + "\n").encode()
    transport = ScriptedTransport(
        # the output file arrives in pieces that split a line, with a line that is not JSON
        Answer(200, {}, [data[:10], data[10:], b"garbage\n"]),
        Answer(200, {}, [json.dumps(bad).encode()]),  # no newline at the end
    )
    batch_api = api(transport)
    job = parse_batch(
        "openai", batch_object("completed", output_file_id="file-out", error_file_id="file-err")
    )
    async with batch_api.results(job) as outcomes:
        got = [outcome async for outcome in outcomes]
    assert [(o.custom_id, o.ok) for o in got] == [("a", True), ("b", False)]
    assert [r.url for r in transport.requests] == [
        f"{BASE}/files/file-out/content",
        f"{BASE}/files/file-err/content",
    ]
    assert all(s.closed for s in transport.streams)
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in transport.requests)
