"""Batch result lines from a hostile server: a line nested too deeply to parse is not a
result line (the item is then reported missing), and a result whose answer is malformed
(negative usage) is that item's ResponseFormatError; neither raises (issue 10)."""

from __future__ import annotations

import json

from batch.test_openai_batch_api import decode
from sluicegate.errors import ResponseFormatError

DEEP = b"[" * 100_000 + b"]" * 100_000


def test_a_line_nested_100000_levels_is_not_a_result_line() -> None:
    assert decode(b'{"custom_id": "r1", "response": ' + DEEP + b"}") is None
    assert decode(DEEP) is None


def test_a_result_with_negative_usage_is_the_items_format_error() -> None:
    body = {
        "choices": [{"message": {"content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": -1_000_000, "completion_tokens": 1},
    }
    line = {"custom_id": "r1", "response": {"status_code": 200, "body": body}}
    outcome = decode(json.dumps(line).encode())
    assert outcome is not None and outcome.response is None
    assert isinstance(outcome.error, ResponseFormatError)
    assert "usage.prompt_tokens" in outcome.error.message
