"""``sluicegate run`` in process (click's CliRunner) against the in-memory mock provider,
on both backends: one line per id, bad lines with their numbers, resume after a crash."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from bulk.run_cli import invoke
from sluicegate.cli import exit_status

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def in_memory_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICEGATE_MOCK_BASE_URL", raising=False)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def simple(i: int, model: str = "mock/fast") -> str:
    return json.dumps({"id": f"r{i}", "prompt": f"question {i}", "model": model, "max_tokens": 8})


def read_output(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_good_line_gets_one_output_line(tmp_path: Path, backend: str) -> None:
    lines = [simple(i) for i in range(30)]
    lines.append(
        json.dumps(
            {
                "custom_id": "batch-1",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            }
        )
    )
    source = write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    result = invoke(backend, source, "-o", out, "--model", "mock/any", "-c", "8")
    assert result.exit_code == 0, result.output
    records = read_output(out)
    assert sorted(r["id"] for r in records) == sorted([f"r{i}" for i in range(30)] + ["batch-1"])
    by_id = {r["id"]: r for r in records}
    assert by_id["batch-1"]["model"] == "mock/gpt-4o-mini"  # the provider from --model
    assert by_id["r3"]["line"] == 4
    assert "question 3" in by_id["r3"]["response"]["text"]
    assert by_id["r3"]["usage"]["output_tokens"] <= 8
    assert by_id["r3"]["attempts"] == 1 and by_id["r3"]["latency"] > 0
    assert "31 lines written" in result.output
    assert not (tmp_path / "out.errors.jsonl").exists()


def test_five_percent_malformed_lines_are_reported_and_every_good_line_done(
    tmp_path: Path, backend: str
) -> None:
    """Must-show 5: all good lines processed, each bad one reported with its number."""
    rng = random.Random(5)
    total = 400
    bad_numbers = set(rng.sample(range(2, total + 1), total // 20))  # 5%, line 1 is good
    kinds = [
        "{not json",
        json.dumps({"prompt": "no id", "model": "mock/fast"}),
        json.dumps({"id": "x", "model": "mock/fast"}),
        json.dumps({"id": "y", "prompt": "p", "model": "acme/unknown"}),
        json.dumps({"id": "r1", "prompt": "a duplicate of line 1's id", "model": "mock/fast"}),
        json.dumps({"id": "z", "prompt": "p", "model": "mock/fast", "max_tokens": -1}),
        '{"id": "cut", "prompt": "half a li',
    ]
    lines, good_ids = [], []
    for number in range(1, total + 1):
        if number in bad_numbers:
            lines.append(kinds[number % len(kinds)])
        else:
            lines.append(simple(number))
            good_ids.append(f"r{number}")
    source = write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    result = invoke(backend, source, "-o", out, "-c", "16")
    assert result.exit_code == 1, result.output  # complete, with bad lines
    assert sorted(r["id"] for r in read_output(out)) == sorted(good_ids)
    reported = read_output(tmp_path / "out.errors.jsonl")
    assert sorted(r["line"] for r in reported) == sorted(bad_numbers)
    assert all(r["error"] for r in reported)
    assert f"{len(bad_numbers)} bad input lines" in result.output
    first = min(bad_numbers)
    assert f"line {first}:" in result.output


def test_a_resume_after_a_crash_repairs_the_torn_line_and_completes(
    tmp_path: Path, backend: str
) -> None:
    source = write_lines(tmp_path / "in.jsonl", [simple(i) for i in range(60)])
    out = tmp_path / "out.jsonl"
    assert invoke(backend, source, "-o", out).exit_code == 0
    written = out.read_bytes().splitlines(keepends=True)
    kept = b"".join(written[:25])
    out.write_bytes(kept + written[25][:40])  # as if killed while writing line 26
    result = invoke(backend, source, "-o", out)
    assert result.exit_code == 0, result.output
    assert "cut off a torn last line (40 bytes)" in result.output
    assert "35 lines written" in result.output and "(25 already there)" in result.output
    assert out.read_bytes().startswith(kept)
    ids = [r["id"] for r in read_output(out)]
    assert sorted(ids) == sorted(f"r{i}" for i in range(60)) and len(ids) == 60


def test_a_second_run_of_a_finished_command_sends_nothing(tmp_path: Path, backend: str) -> None:
    source = write_lines(tmp_path / "in.jsonl", [simple(i) for i in range(10)])
    out = tmp_path / "out.jsonl"
    assert invoke(backend, source, "-o", out).exit_code == 0
    before = out.read_bytes()
    result = invoke(backend, source, "-o", out)
    assert result.exit_code == 0 and "0 lines written" in result.output
    assert out.read_bytes() == before


def test_the_example_file_runs_against_the_mock(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "results.jsonl"
    result = invoke(backend, EXAMPLES / "prompts.jsonl", "-o", out)
    assert result.exit_code == 0, result.output
    count = sum(1 for line in (EXAMPLES / "prompts.jsonl").read_text().splitlines() if line.strip())
    records = read_output(out)
    assert len(records) == count == len({r["id"] for r in records})
    assert all("response" in r for r in records)


def test_an_output_file_that_is_not_ours_is_refused(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [simple(1)])
    out = tmp_path / "notes.txt"
    out.write_text("my notes\n")
    result = invoke("asyncio", source, "-o", out)
    assert result.exit_code == exit_status.USAGE
    assert f"{out}:1:" in result.output and "refusing to append" in result.output
    assert out.read_text() == "my notes\n"


def test_the_output_cannot_be_the_input(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [simple(1)])
    result = invoke("asyncio", source, "-o", source)
    assert result.exit_code == exit_status.USAGE and "is the input" in result.output


def test_a_model_without_a_provider_is_a_usage_error(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [simple(1)])
    result = invoke("asyncio", source, "-o", tmp_path / "o.jsonl", "--model", "fast")
    assert result.exit_code == 2 and "provider/model" in result.output


def test_a_budget_stops_the_run_and_holds_across_resumes(tmp_path: Path, backend: str) -> None:
    source = write_lines(tmp_path / "in.jsonl", [simple(i, "mock/smart") for i in range(200)])
    out = tmp_path / "out.jsonl"
    budget = "0.005"  # mock/smart: a few hundredths of a cent a line, so a few dozen lines
    first = invoke(backend, source, "-o", out, "--budget", budget, "-c", "4")
    assert first.exit_code == 3, first.output
    assert "the budget is spent" in first.output and "larger --budget" in first.output
    records = read_output(out)
    assert 0 < len(records) < 200 and all("response" in r for r in records)  # none refused
    again = invoke(backend, source, "-o", out, "--budget", budget, "-c", "4")
    assert again.exit_code == 3, again.output
    records = read_output(out)
    assert sum(r["cost"] for r in records) <= float(budget) + 1e-12  # it spans resumes
    done = invoke(backend, source, "-o", out, "--budget", "10")
    assert done.exit_code == 0, done.output
    ids = [r["id"] for r in read_output(out)]
    assert sorted(ids) == sorted(f"r{i}" for i in range(200))


def test_a_message_without_content_is_a_bad_line_and_the_run_goes_on(
    tmp_path: Path, backend: str
) -> None:
    """Issue 10: ``{"role": "user"}`` was sent as an empty message."""
    no_content = {"id": "x", "messages": [{"role": "user"}], "model": "mock/fast"}
    null_content = {"custom_id": "y", "body": {"messages": [{"role": "user", "content": None}]}}
    lines = [simple(0), json.dumps(no_content), json.dumps(null_content), simple(3)]
    source = write_lines(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    result = invoke(backend, source, "-o", out, "--model", "mock/any")
    assert result.exit_code == 1, result.output
    assert sorted(r["id"] for r in read_output(out)) == ["r0", "r3"]
    errors = read_output(tmp_path / "out.errors.jsonl")
    assert [(e["line"], e["id"]) for e in errors] == [(2, "x"), (3, "y")]
    assert errors[0]["error"].startswith("messages[0].content: missing")
    assert errors[1]["error"].startswith("body.messages[0].content: null")
    assert "line 2: messages[0].content: missing" in result.output
