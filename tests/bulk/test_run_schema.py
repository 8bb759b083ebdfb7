"""``sluicegate run --schema``: every answer parsed into its result line, answers that
never fit written as typed error lines carrying what they cost, and a bad schema file
named with its line before anything is sent."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bulk.processes import mock_server, server_stats
from bulk.run_cli import invoke
from sluicegate.cli import main
from structured.shapes import REVIEW_SCHEMA

SCHEMA = REVIEW_SCHEMA
PRICE_IN, PRICE_OUT = 0.10, 0.40  # mock/fast, USD per million tokens


@pytest.fixture(autouse=True)
def _in_memory_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICEGATE_MOCK_BASE_URL", raising=False)


def write_files(tmp_path: Path, rows: int) -> tuple[Path, Path]:
    data = tmp_path / "reviews.csv"
    data.write_text(
        "review_id,text\n" + "".join(f"r{i},review number {i}\n" for i in range(rows)),
        encoding="utf-8",
    )
    schema = tmp_path / "review.schema.json"
    schema.write_text(json.dumps(SCHEMA), encoding="utf-8")
    return data, schema


def result_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_every_result_line_carries_the_parsed_answer(tmp_path: Path, backend: str) -> None:
    data, schema = write_files(tmp_path, 30)
    out = tmp_path / "out.jsonl"
    args = (data, "--template", "Classify: {text}", "--id-column", "review_id")
    result = invoke(backend, *args, "--schema", schema, "-m", "mock/fast", "-o", out)
    assert result.exit_code == 0, result.output
    lines = result_lines(out)
    assert sorted(line["id"] for line in lines) == sorted(f"r{i}" for i in range(30))
    for line in lines:
        assert line["parsed"]["sentiment"] in ("positive", "negative", "mixed")
        assert 1 <= line["parsed"]["score"] <= 5
        assert json.loads(line["response"]["text"]) == line["parsed"]
    # the same command again resumes: nothing is asked twice
    again = invoke(backend, *args, "--schema", schema, "-m", "mock/fast", "-o", out)
    assert again.exit_code == 0 and len(result_lines(out)) == 30


def test_answers_that_never_fit_are_error_lines_with_their_cost(tmp_path: Path) -> None:
    data, schema = write_files(tmp_path, 8)
    out = tmp_path / "out.jsonl"
    with mock_server("--invalid-json-answers", "9") as base_url:
        result = invoke_against(base_url, data, schema, out)
        stats = server_stats(base_url)
    assert result.exit_code != 0  # error lines: the run's status says so
    lines = result_lines(out)
    assert len(lines) == 8 and stats["requests"] == 16  # two asks per line
    assert {line["error"]["type"] for line in lines} == {"StructuredAnswerError"}
    assert all(line["attempts"] == 2 and line["cost"] > 0 for line in lines)
    spent = (stats["input_tokens"] * PRICE_IN + stats["output_tokens"] * PRICE_OUT) / 1e6
    assert sum(line["cost"] for line in lines) == pytest.approx(spent, rel=1e-6)


def invoke_against(base_url: str, data: Path, schema: Path, out: Path) -> Result:
    """The run with ``--reasks 1`` against the mock server at ``base_url``."""
    argv = [
        "run",
        str(data),
        "--template",
        "Classify: {text}",
        "--id-column",
        "review_id",
        "--schema",
        str(schema),
        "--reasks",
        "1",
        "-m",
        "mock/fast",
        "-o",
        str(out),
        "--no-progress",
    ]
    env = {**os.environ, "SLUICEGATE_MOCK_BASE_URL": base_url + "/v1"}
    return CliRunner(env=env).invoke(main, argv, catch_exceptions=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"type": "object",\n "properties": {', ":2:"),
        ('{"type": "objekt"}', "not a valid JSON Schema at type"),
        ("[1, 2]", "holds a JSON object"),
    ],
)
def test_a_bad_schema_file_is_named_before_anything_is_sent(
    tmp_path: Path, text: str, expected: str
) -> None:
    data, schema = write_files(tmp_path, 2)
    schema.write_text(text, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = invoke(
        "asyncio",
        data,
        "--template",
        "{text}",
        "--id-column",
        "review_id",
        "--schema",
        schema,
        "-m",
        "mock/fast",
        "-o",
        out,
    )
    assert result.exit_code == 2
    assert str(schema) in result.output and expected in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_reasks_needs_a_schema_and_batch_mode_refuses_one(tmp_path: Path) -> None:
    data, schema = write_files(tmp_path, 2)
    out = tmp_path / "out.jsonl"
    base = (data, "--template", "{text}", "--id-column", "review_id", "-m", "mock/fast", "-o", out)
    assert "--reasks is for --schema" in invoke("asyncio", *base, "--reasks", "1").output
    lines = tmp_path / "lines.jsonl"
    lines.write_text('{"id": "a", "prompt": "hi"}\n', encoding="utf-8")
    batch = invoke(
        "asyncio", lines, "--schema", schema, "--mode", "batch", "-m", "mock/fast", "-o", out
    )
    assert batch.exit_code == 2
    assert "--schema is not yet supported with --mode batch" in batch.output
