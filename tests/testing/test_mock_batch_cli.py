"""``sluicegate mock-server``'s batch options, and the official SDKs' synchronous clients
against the server in its own process (the way a batch client's end-to-end tests use it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from click.testing import CliRunner

from bulk.processes import mock_server
from mock_batch_inputs import anthropic_requests, jsonl_objects, openai_jsonl
from sluicegate.testing import MockConfig


def test_options_reach_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from sluicegate.cli import mock_server

    seen: dict[str, Any] = {}

    def fake_run(host: str, port: int, config: MockConfig, **kwargs: Any) -> None:
        seen["config"] = config
        kwargs["on_ready"]("http://127.0.0.1:1")

    monkeypatch.setattr("sluicegate.testing.server.run_mock_server", fake_run)
    args = [
        "--batch-seconds",
        "0.5",
        "--batch-item-failure-rate",
        "0.05",
        "--batch-item-expiry-rate",
        "0.01",
        "--batch-failure-rate",
        "0.1",
        "--batch-max-requests",
        "1000",
        "--batch-max-bytes",
        "5000000",
        "--seed",
        "9",
    ]
    result = CliRunner().invoke(mock_server.command, args)
    assert result.exit_code == 0, result.output
    config: MockConfig = seen["config"]
    assert config.batch_seconds == 0.5
    assert (config.batch_item_failure_rate, config.batch_item_expiry_rate) == (0.05, 0.01)
    assert config.batch_failure_rate == 0.1 and config.batch_seed == 9
    assert config.openai_batch_max_requests == config.anthropic_batch_max_requests == 1000
    assert config.openai_batch_max_bytes == config.anthropic_batch_max_bytes == 5_000_000
    assert "batch jobs take 0.5s; up to 1000 (OpenAI) / 1000 (Anthropic)" in result.output

    too_much = ["--batch-item-failure-rate", "0.7", "--batch-item-expiry-rate", "0.7"]
    refused = CliRunner().invoke(mock_server.command, too_much)
    assert refused.exit_code == 2
    assert "must be <= 1" in refused.output


@pytest.fixture
def server_url() -> Iterator[str]:
    with mock_server("--batch-seconds", "0", "--batch-max-requests", "3") as url:
        yield url


def test_sync_sdks_against_the_command(server_url: str) -> None:
    with openai.OpenAI(api_key="x", base_url=server_url + "/v1", max_retries=0) as api:
        uploaded = api.files.create(file=("in.jsonl", openai_jsonl(3)), purpose="batch")
        batch = api.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert batch.status == "completed"  # --batch-seconds 0: done at once
        assert batch.output_file_id is not None
        output = jsonl_objects(api.files.content(batch.output_file_id).text)
        over = api.files.create(file=("big.jsonl", openai_jsonl(4)), purpose="batch")
        failed = api.batches.create(
            input_file_id=over.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
    with anthropic.Anthropic(api_key="x", base_url=server_url, max_retries=0) as other:
        message_batch = other.messages.batches.create(requests=anthropic_requests(2))  # type: ignore[arg-type]
        results = list(other.messages.batches.results(message_batch.id))
        with pytest.raises(anthropic.BadRequestError):
            other.messages.batches.create(requests=anthropic_requests(4))  # type: ignore[arg-type]
    assert [line["custom_id"] for line in output] == ["row-0", "row-1", "row-2"]
    assert failed.status == "failed"
    assert failed.errors is not None and failed.errors.data is not None
    assert failed.errors.data[0].code == "too_many_tasks"
    assert [r.result.type for r in results] == ["succeeded", "succeeded"]
