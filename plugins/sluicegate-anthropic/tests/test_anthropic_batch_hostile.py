"""Batch result lines from a hostile server: a line nested too deeply to parse is not a
result line, and a succeeded result with negative usage is that item's
ResponseFormatError; neither raises (issue 10)."""

from __future__ import annotations

import json
import random
from collections.abc import Callable

from sluicegate.batch.api import BatchBinding
from sluicegate.clock import FakeClock
from sluicegate.errors import ResponseFormatError
from sluicegate.providers.base import BoundProvider
from sluicegate.types import Metadata, Request
from sluicegate_anthropic import plugin
from sluicegate_anthropic.batch import AnthropicBatchApi
from sluicegate_anthropic.codec import AnthropicProvider

ROOT = "http://127.0.0.1:9"

LOOKUP: Callable[[str], Request | None] = {
    "r1": Request(model="anthropic/claude-x", messages=(), metadata=Metadata(caller_id="r1"))
}.get
DEEP = b"[" * 100_000 + b"]" * 100_000


def batch_api() -> AnthropicBatchApi:
    """decode_line sends nothing: the transport is never used."""
    bound = BoundProvider(
        name="anthropic",
        spec=plugin.SPEC,
        codec=AnthropicProvider(ROOT, {}),
        base_url=ROOT,
        transport=None,  # type: ignore[arg-type]
    )
    return AnthropicBatchApi(
        BatchBinding(bound, plugin.BATCH_LIMITS, FakeClock(), random.Random(0))
    )


def test_a_line_nested_100000_levels_is_not_a_result_line() -> None:
    api = batch_api()
    assert api.decode_line(b'{"custom_id": "r1", "result": ' + DEEP + b"}", LOOKUP) is None


def test_a_succeeded_result_with_negative_usage_is_the_items_format_error() -> None:
    message = {
        "type": "message",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {"input_tokens": 3, "output_tokens": -1_000_000},
    }
    line = {"custom_id": "r1", "result": {"type": "succeeded", "message": message}}
    outcome = batch_api().decode_line(json.dumps(line).encode(), LOOKUP)
    assert outcome is not None and isinstance(outcome.error, ResponseFormatError)
    assert "usage.output_tokens" in outcome.error.message
