"""The examples run as documented, on both backends, against the mock provider."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

import sluicegate

pytestmark = pytest.mark.anyio
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_fan_out_example_keeps_the_failure_beside_the_answers() -> None:
    results = await load("fan_out").main()
    assert [r.ok for r in results] == [True, True, False]
    assert isinstance(results[2].error, sluicegate.ConfigError)


async def test_stream_chat_example_reports_usage() -> None:
    response = await load("stream_chat").main()
    assert response.text and response.usage.output_tokens > 0


async def test_custom_middleware_example_counts_streamed_and_plain_calls() -> None:
    tokens = await load("custom_middleware").main()
    assert set(tokens) == {"news", "poetry"} and all(v > 0 for v in tokens.values())


async def test_batch_jobs_example_collects_an_answer_per_request() -> None:
    answers = await load("batch_jobs").main()
    assert sorted(answers) == ["review-0", "review-1", "review-2"]
    assert all(answers.values())
