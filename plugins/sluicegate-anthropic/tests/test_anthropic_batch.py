"""The Message Batches API against exact HTTP answers: the create body (``custom_id`` +
the same ``params`` a live call sends), ids the API would refuse sent as stable digests,
states and counts from the batch object, and each kind of result line decoded as a live
answer or the typed error; the shapes checked against the official SDK's types."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import anthropic.types.messages as sdk
import pytest

from sluicegate import AuthenticationError, Client, ProviderError, RateLimitedError, Request
from sluicegate.batch.api import BatchBinding, BatchOutcome, JobState
from sluicegate.clock import FakeClock
from sluicegate.errors import BatchItemError, ResponseFormatError
from sluicegate.providers.base import BoundProvider
from sluicegate.secrets import Secret
from sluicegate.testing import Answer, ScriptedTransport
from sluicegate.types import Metadata
from sluicegate_anthropic import plugin
from sluicegate_anthropic.batch import AnthropicBatchApi, parse_message_batch
from sluicegate_anthropic.codec import AnthropicProvider

pytestmark = pytest.mark.anyio

KEY = "sk-ant-api03-batchplugintest0123456789"
ROOT = "https://gateway.example.test/anthropic"


def message_batch(status: str = "in_progress", **fields: Any) -> dict[str, Any]:
    return {
        "id": "msgbatch_01",
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {
            "processing": 2,
            "succeeded": 5,
            "errored": 1,
            "canceled": 1,
            "expired": 1,
        },
        "created_at": "2024-09-24T18:37:24.100435Z",
        "expires_at": "2024-09-25T18:37:24.100435Z",
        "ended_at": None,
        "cancel_initiated_at": None,
        "archived_at": None,
        "results_url": None,
        **fields,
    }


def message(text: str = "hello") -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 3},
    }


def batch_api(transport: Any) -> AnthropicBatchApi:
    bound = BoundProvider(
        name="anthropic",
        spec=plugin.SPEC,
        codec=AnthropicProvider(ROOT, {}),
        base_url=ROOT,
        transport=transport,
        credential=Secret(KEY),
    )
    return AnthropicBatchApi(
        BatchBinding(bound, plugin.BATCH_LIMITS, FakeClock(), random.Random(0))
    )


async def test_create_sends_custom_ids_and_the_live_params_with_the_key() -> None:
    transport = ScriptedTransport(Answer.json(200, message_batch()))
    api = batch_api(transport)
    async with Client() as client:
        first = client.request(
            "anthropic/claude-haiku-4-5", "Hi", caller_id="r-1", max_tokens=5, system="Terse."
        )
    odd = first.replace(metadata=first.metadata.replace(caller_id="doc 7.txt"))
    items = b"".join(
        api.encode_item(api.custom_id(r.metadata.caller_id or ""), r) + b"\n" for r in (first, odd)
    )
    job = await api.create(items, 2)

    (sent,) = transport.requests
    assert (sent.method, sent.url) == ("POST", f"{ROOT}/v1/messages/batches")
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"]
    body = json.loads(sent.body)
    assert list(body) == ["requests"]
    assert all(sorted(item) == ["custom_id", "params"] for item in body["requests"])
    assert body["requests"][0]["custom_id"] == "r-1"
    digest = body["requests"][1]["custom_id"]
    assert digest == api.custom_id("doc 7.txt") and plugin.BATCH_SPEC.kind == "anthropic"
    assert len(digest) <= 64 and digest.replace("_", "").isalnum()
    assert body["requests"][0]["params"] == {
        "model": "claude-haiku-4-5",
        "max_tokens": 5,
        "messages": [{"role": "user", "content": "Hi"}],
        "system": "Terse.",
    }
    assert (job.id, job.state) == ("msgbatch_01", JobState.RUNNING)
    assert KEY not in repr(api)


@pytest.mark.parametrize(
    ("fields", "state"),
    [
        ({"processing_status": "in_progress"}, JobState.RUNNING),
        ({"processing_status": "canceling"}, JobState.CANCELLING),
        ({"processing_status": "ended"}, JobState.COMPLETED),
        (
            {"processing_status": "ended", "cancel_initiated_at": "2024-09-24T19:00:00Z"},
            JobState.CANCELLED,
        ),
    ],
)
def test_states_and_counts_come_from_the_message_batch(
    fields: dict[str, Any], state: JobState
) -> None:
    data = message_batch(ended_at="2024-09-24T18:47:24.100435Z", **fields)
    sdk.MessageBatch.model_validate(data)  # the shape the real API sends
    job = parse_message_batch("anthropic", data)
    assert job.state is state
    assert (job.counts.total, job.counts.succeeded, job.counts.failed) == (10, 5, 3)
    assert job.duration_s == pytest.approx(600.0)
    with pytest.raises(ResponseFormatError):
        parse_message_batch("anthropic", {"type": "message_batch"})


def decode(result: dict[str, Any], custom_id: str = "r1") -> BatchOutcome | None:
    line = {"custom_id": custom_id, "result": result}
    sdk.MessageBatchIndividualResponse.model_validate(line)
    lookup: Callable[[str], Request | None] = {
        "r1": Request(
            model="anthropic/claude-haiku-4-5", messages=(), metadata=Metadata(caller_id="r1")
        )
    }.get
    return batch_api(ScriptedTransport()).decode_line(
        json.dumps(line).encode(), lookup, "msgbatch_01"
    )


def error_result(kind: str, text: str = "nope") -> dict[str, Any]:
    return {
        "type": "errored",
        "error": {"type": "error", "error": {"type": kind, "message": text}, "request_id": "req_9"},
    }


def test_each_result_type_decodes_as_a_live_answer_or_the_typed_error() -> None:
    ok = decode({"type": "succeeded", "message": message("bonjour")})
    assert ok is not None and ok.response is not None
    assert (ok.response.text, ok.response.model, ok.response.finish_reason) == (
        "bonjour",
        "anthropic/claude-haiku-4-5",
        "stop",
    )
    assert ok.response.usage.input_tokens == 9

    invalid = decode(error_result("invalid_request_error")).error  # type: ignore[union-attr]
    assert isinstance(invalid, ProviderError)
    assert (invalid.status, invalid.retryable, invalid.request_id) == (400, False, "req_9")
    overloaded = decode(error_result("overloaded_error")).error  # type: ignore[union-attr]
    assert isinstance(overloaded, ProviderError) and overloaded.status == 529
    assert overloaded.retryable
    limited = decode(error_result("rate_limit_error")).error  # type: ignore[union-attr]
    assert isinstance(limited, RateLimitedError)
    denied = decode(error_result("authentication_error", f"bad {KEY}")).error  # type: ignore[union-attr]
    assert isinstance(denied, AuthenticationError) and KEY not in str(denied)

    for kind in ("canceled", "expired"):
        outcome = decode({"type": kind})
        assert outcome is not None and isinstance(outcome.error, BatchItemError)
        assert (outcome.error.error_type, outcome.error.retryable) == (kind, True)
        assert outcome.error.job_id == "msgbatch_01"

    unknown = decode({"type": "succeeded", "message": message()}, custom_id="other")
    assert unknown is not None and unknown.response is not None
    assert unknown.response.model == "anthropic/claude-haiku-4-5"  # from the message


async def test_results_are_read_through_the_configured_base_url_line_by_line() -> None:
    lines = [
        {"custom_id": "a", "result": {"type": "succeeded", "message": message("A")}},
        {"custom_id": "b", "result": {"type": "expired"}},
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    transport = ScriptedTransport(Answer(200, {}, [data[:17], data[17:40], data[40:]]))
    api = batch_api(transport)
    job = parse_message_batch(
        "anthropic",
        message_batch(
            "ended",
            results_url="https://api.anthropic.com/v1/messages/batches/msgbatch_01/results",
        ),
    )
    async with api.results(job) as outcomes:
        got = [(o.custom_id, o.ok) async for o in outcomes]
    assert got == [("a", True), ("b", False)]
    (sent,) = transport.requests
    assert sent.url == f"{ROOT}/v1/messages/batches/msgbatch_01/results"
    assert sent.headers["x-api-key"] == KEY


async def test_the_plugin_registers_the_batch_api_for_its_kind() -> None:
    async with Client() as client:
        assert "anthropic" in client.batches.providers
        limits = client.batches.api("anthropic").limits
        assert (limits.max_requests, limits.max_bytes) == (100_000, 256_000_000 - 4096)
