"""The examples run as documented, on both backends, against the mock provider."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner

import sluicegate
from sluicegate.cli import main

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


async def test_opentelemetry_example_reports_a_request_and_an_attempt_span_per_call() -> None:
    spans = await load("opentelemetry_console").main()
    requests = [s for s in spans if s.parent is None]
    assert len(requests) == 2 and len(spans) == 4
    assert all(s.name == "chat fast" for s in spans)
    assert all((s.attributes or {}).get("gen_ai.usage.output_tokens") for s in requests)


async def test_batch_jobs_example_collects_an_answer_per_request() -> None:
    answers = await load("batch_jobs").main()
    assert sorted(answers) == ["review-0", "review-1", "review-2"]
    assert all(answers.values())


def test_reviews_csv_example_runs_as_the_readme_says(
    anyio_backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sluicegate run examples/reviews.csv ... --template ... --id-column review_id``
    (the README's command; examples/prompts.jsonl is run in tests/bulk/test_run_cli.py)."""
    monkeypatch.delenv("SLUICEGATE_MOCK_BASE_URL", raising=False)
    out = tmp_path / "reviews.jsonl"
    template = "Classify this review as positive, negative or mixed: {text}"
    argv = ["run", str(EXAMPLES / "reviews.csv"), "-o", str(out), "-m", "mock/fast"]
    argv += ["--template", template, "--id-column", "review_id"]
    result = CliRunner().invoke(
        main, [*argv, "--no-progress", "--backend", anyio_backend], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    with (EXAMPLES / "reviews.csv").open(newline="", encoding="utf-8") as stream:
        reviews = list(csv.DictReader(stream))
    assert 15 <= len(reviews) <= 30
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(r["review_id"] for r in reviews)
    assert all(
        r["response"]["text"].startswith("Mock answer to: Classify this review as positive")
        for r in records
    )


async def test_document_analysis_example_types_every_document() -> None:
    example = load("document_analysis")
    facts = await example.main()
    assert sorted(facts) == ["incident-1142.txt", "q3-report.txt", "tenancy-notice.txt"]
    assert all(isinstance(f, example.DocumentFacts) and f.topics for f in facts.values())


async def test_document_analysis_example_reasks_until_each_answer_fits() -> None:
    from sluicegate.testing import MockConfig, serve_mock

    example = load("document_analysis")
    async with serve_mock(MockConfig(invalid_json_answers=2)) as server:
        facts = await example.main(base_url=server.openai_base_url)
        stats = server.stats.snapshot()
    assert len(facts) == 3 and all(isinstance(f, example.DocumentFacts) for f in facts.values())
    assert stats["requests"] == 9  # three asks per document: prose, wrong shape, valid


async def test_relay_compare_example_prices_every_model_through_one_relay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from io import StringIO

    from rich.console import Console

    monkeypatch.delenv("RELAY_BASE_URL", raising=False)
    monkeypatch.delenv("RELAY_API_KEY", raising=False)
    printed = StringIO()
    results = await load("relay_compare").main(Console(file=printed, width=200))
    assert [r.model for r in results] == ["gpt", "claude", "gemini", "deepseek"]
    assert all(r.ok and r.response is not None for r in results)
    models = [r.response.model for r in results if r.response is not None]
    assert models == [
        "relay/gpt-4.1",
        "relay/claude-sonnet-4.5",
        "relay/gemini-2.5-flash",
        "relay/deepseek-v3.2",
    ]
    # a relay serving well-known names: each priced as its maker's model, none unknown
    assert all(r.response.cost and r.response.cost > 0 for r in results if r.response)
    shown = printed.getvalue()
    assert " ? " not in shown and shown.count("$") == 4 and "sk-demo" not in shown


def test_review_sentiment_example_labels_every_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICEGATE_MOCK_BASE_URL", "")
    monkeypatch.setenv("SLUICEGATE_CONFIG", "")
    example = load("review_sentiment")
    out = tmp_path / "reviews.jsonl"
    counts = example.main(out)
    with (EXAMPLES / "reviews.csv").open(newline="", encoding="utf-8") as stream:
        ids = [row["review_id"] for row in csv.DictReader(stream)]
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(ids)
    assert sum(counts.values()) == len(ids) and set(counts) <= {"positive", "negative", "mixed"}
    assert example.main(out) == counts  # run again: resumed, nothing added or asked twice
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(ids)


async def test_openai_sdk_example_ledger_equals_the_usage_the_sdk_reported() -> None:
    reported, total = await load("openai_sdk_through_sluicegate").main()
    assert reported > 0 and total.total_tokens == reported
