"""The Redis idempotency record's JSON: a Response survives it whole, and a record written
before ``reasoning_tokens`` existed (four usage counts) still reads."""

from __future__ import annotations

import json

from sluicegate.middleware.idempotency import IdempotencyRecord
from sluicegate.stores.redis.records import decode_record, encode_record
from sluicegate.types import Response, ToolCall, Usage


def test_a_record_reads_back_as_it_was_written() -> None:
    response = Response(
        text="hi",
        model="openai/o4-mini",
        provider="openai",
        tool_calls=(ToolCall("c1", "f", "{}"),),
        finish_reason="stop",
        usage=Usage(10, 90, cached_tokens=2, cache_write_tokens=1, reasoning_tokens=64),
        request_id="r",
        latency=0.5,
        attempts=2,
        cost=0.001,
    )
    back = decode_record(encode_record(IdempotencyRecord(b"\x01" * 16, response)))
    assert back.fingerprint == b"\x01" * 16
    assert back.response == response


def test_a_record_of_four_usage_counts_still_reads() -> None:
    response = Response(text="x", model="m/n", provider="m", usage=Usage(1, 2, 3, 4))
    data = json.loads(encode_record(IdempotencyRecord(b"\x02" * 16, response)))
    data["usage"] = data["usage"][:4]
    assert decode_record(json.dumps(data)).response.usage == Usage(1, 2, 3, 4)
