"""``sluicegate run`` on CSV rows and JSONL lines with ``--template``, in process against
the in-memory mock provider, on both backends: multi-line cells, bad rows by the line an
editor shows, the header checked before anything is written, ``--system`` in the request,
resume, the resume command; JSONL lines from a pipe through a template."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bulk.run_cli import invoke
from sluicegate.cli import exit_status, main
from sluicegate.cli.run import _resume_command, command
from sluicegate.testing.content import MESSAGE_OVERHEAD_TOKENS, count_tokens

TEMPLATE = "Classify this review as positive, negative or mixed: {text}"


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def in_memory_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICEGATE_MOCK_BASE_URL", raising=False)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def echo(prompt: str) -> str:
    """How the mock's answer to ``prompt`` begins: its first five words."""
    return "Mock answer to: " + " ".join(re.findall(r"\w+", prompt)[:5])


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> dict[str, int]:
    """Write a CSV as a spreadsheet exports one; the line each row starts on, by id."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    starts = {}
    for row in rows:
        starts[row[0]] = buffer.getvalue().count("\n") + 1
        writer.writerow(row)
    path.write_text(buffer.getvalue(), newline="")
    return starts


REVIEWS = [
    ["a1", "Great kettle.\nBoils fast, looks good.", "5"],
    ["a2", 'The lid "clicks" shut; {nice}', "4"],
    ["a3", "Broke after a week,\n\nthen the shop\nrefused a refund.", "1"],
    ["a4", "Fine, I guess — não é mau.", "3"],
]


def test_csv_rows_with_multi_line_cells_get_one_result_each(tmp_path: Path, backend: str) -> None:
    source, out = tmp_path / "reviews.csv", tmp_path / "out.jsonl"
    starts = write_csv(source, ["review_id", "text", "stars"], REVIEWS)
    assert starts == {"a1": 2, "a2": 4, "a3": 5, "a4": 9}
    result = invoke(
        backend, source, "-o", out, "-m", "mock/fast", "--template", TEMPLATE,
        "--id-column", "review_id",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 lines written" in result.output
    records = {r["id"]: r for r in read_jsonl(out)}
    assert sorted(records) == ["a1", "a2", "a3", "a4"]
    for review_id, text, _ in REVIEWS:
        record = records[review_id]
        assert record["line"] == starts[review_id] and record["model"] == "mock/fast"
        prompt = TEMPLATE.format(text=text)
        assert record["response"]["text"].startswith(echo(prompt))
        # the whole rendered prompt was sent, its cell's newlines and quotes included
        assert record["usage"]["input_tokens"] == count_tokens(prompt) + MESSAGE_OVERHEAD_TOKENS
    assert not (tmp_path / "out.errors.jsonl").exists()


def test_a_missing_template_column_is_a_usage_error_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    source, out = tmp_path / "reviews.csv", tmp_path / "out.jsonl"
    write_csv(source, ["review_id", "text", "stars"], REVIEWS)
    result = invoke(
        "asyncio", source, "-o", out, "-m", "mock/fast", "--template", "{txt} ({stars})",
        "--id-column", "review_id",
    )  # fmt: skip
    assert result.exit_code == exit_status.USAGE, result.output
    assert "column 'txt' (in --template) is not in the CSV's header" in result.output
    assert "its columns: 'review_id', 'text', 'stars'" in result.output
    assert "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / "out.errors.jsonl").exists()
    # the id column too: the default 'id' is not a column of this file
    result = invoke("asyncio", source, "-o", out, "-m", "mock/fast", "--template", TEMPLATE)
    assert result.exit_code == exit_status.USAGE
    assert "column 'id' (--id-column) is not in the CSV's header" in result.output
    assert not out.exists()


def test_a_csv_without_a_template_or_a_prompt_column_is_a_usage_error(tmp_path: Path) -> None:
    source, out = tmp_path / "reviews.csv", tmp_path / "out.jsonl"
    write_csv(source, ["review_id", "text"], [["a1", "x"]])
    result = invoke("asyncio", source, "-o", out, "-m", "mock/fast")
    assert result.exit_code == exit_status.USAGE
    assert "a CSV needs --template" in result.output and not out.exists()


def test_a_malformed_template_is_a_usage_error(tmp_path: Path) -> None:
    source, out = tmp_path / "reviews.csv", tmp_path / "out.jsonl"
    write_csv(source, ["id", "text"], [["a1", "x"]])
    for template, reason in [
        ("{text.upper}", "attribute or index access"),
        ("{text[0]}", "attribute or index access"),
        ("{text!r}", "conversion"),
        ("{text:>20}", "format spec"),
        ("{}", "positional field"),
        ("a } b", "Single '}'"),
    ]:
        result = invoke("asyncio", source, "-o", out, "-m", "mock/fast", "--template", template)
        assert result.exit_code == exit_status.USAGE, template
        assert "Invalid value for '--template'" in result.output and reason in result.output
    assert not out.exists()


def test_bad_rows_are_reported_by_the_line_they_start_on(tmp_path: Path, backend: str) -> None:
    source, out = tmp_path / "reviews.csv", tmp_path / "out.jsonl"
    rows = [
        *REVIEWS,
        ["", "no id here", "2"],  # an empty id
        ["a2", "a second a2,\nover two lines", "2"],  # a duplicate id
        ["a7", "", "3"],  # an empty prompt: the request refuses it
        ["a8", "fine", "4"],
    ]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["review_id", "text", "stars"])
    starts = []
    for row in rows:
        starts.append(buffer.getvalue().count("\n") + 1)
        writer.writerow(row)
    source.write_text(buffer.getvalue() + "a9,too,many,cells\r\n", newline="")
    assert starts[4:] == [10, 11, 13, 14]  # and a9 on line 15
    result = invoke(
        backend, source, "-o", out, "-m", "mock/fast", "--template", "{text}",
        "--id-column", "review_id",
    )  # fmt: skip
    assert result.exit_code == exit_status.SOME_FAILED, result.output
    assert sorted(r["id"] for r in read_jsonl(out)) == ["a1", "a2", "a3", "a4", "a8"]
    assert {r["id"]: r["line"] for r in read_jsonl(out)}["a8"] == 14
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert [(e["line"], e["id"]) for e in errors] == [
        (10, None),
        (11, "a2"),
        (13, "a7"),
        (15, "a9"),
    ]
    assert errors[0]["error"] == "empty id: no value in the id column 'review_id'"
    assert errors[1]["error"] == "duplicate id 'a2': an earlier line has it"
    assert errors[2]["error"] == "'prompt' must be a non-empty string"
    assert errors[3]["error"] == "a row of 4 cells, but the header has 3 columns"
    assert "4 bad input lines (lines 10, 11, 13, 15)" in result.output


def test_system_reaches_the_request_before_the_rendered_prompt(
    tmp_path: Path, backend: str
) -> None:
    source = tmp_path / "reviews.csv"
    write_csv(source, ["id", "text", "system"], [["a1", "Lovely.", "NOT USED"]])
    plain, terse = tmp_path / "plain.jsonl", tmp_path / "terse.jsonl"
    system = "You are terse, and answer in one word."
    args = ("-m", "mock/fast", "--template", "Review: {text}")
    assert invoke(backend, source, "-o", plain, *args).exit_code == 0
    assert invoke(backend, source, "-o", terse, *args, "--system", system).exit_code == 0
    [without], [with_system] = read_jsonl(plain), read_jsonl(terse)
    # the mock counts every message's tokens: the system message is one more message,
    # and the row's own 'system' column was not sent in either run
    added = with_system["usage"]["input_tokens"] - without["usage"]["input_tokens"]
    assert added == count_tokens(system) + MESSAGE_OVERHEAD_TOKENS
    assert without["usage"]["input_tokens"] == count_tokens("Review: Lovely.") + 3
    # the answer is still to the rendered prompt (the mock echoes the last user message)
    assert with_system["response"]["text"].startswith("Mock answer to: Review Lovely")
    assert with_system["response"]["text"] == without["response"]["text"]


def test_jsonl_lines_through_a_template(tmp_path: Path, backend: str) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        {"key": "k1", "title": "Kettle", "text": "boils fast", "tags": ["home", "tea"]},
        {"key": 2, "title": "Lamp", "text": "too dim", "tags": []},
        {"key": "k3", "title": "Mug", "tags": []},  # no "text": a bad line naming it
        {"key": "k4", "title": "Pan", "text": "heavy", "tags": None, "model": "mock/smart"},
        {"title": "no key", "text": "x", "tags": []},
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = invoke(
        backend, source, "-o", out, "-m", "mock/fast", "--id-column", "key",
        "--template", "{title} ({tags}): {text}",
    )  # fmt: skip
    assert result.exit_code == exit_status.SOME_FAILED, result.output
    records = {r["id"]: r for r in read_jsonl(out)}
    assert sorted(records) == ["2", "k1", "k4"]
    assert records["k1"]["response"]["text"].startswith("Mock answer to: Kettle home tea")
    assert records["2"]["line"] == 2 and records["k4"]["model"] == "mock/smart"
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert [(e["line"], e["id"]) for e in errors] == [(3, "k3"), (5, None)]
    assert errors[0]["error"] == "missing field 'text' of --template"
    assert errors[1]["error"] == "missing 'key' (the id field, --id-column)"


def test_a_resume_skips_the_ids_already_done(tmp_path: Path, backend: str) -> None:
    source, out = tmp_path / "reviews.csv", tmp_path / "out.jsonl"
    rows = [[f"r{i}", f"review number {i},\nwith a second line", str(i % 5)] for i in range(40)]
    write_csv(source, ["review_id", "text", "stars"], rows)
    args = ("-o", out, "-m", "mock/fast", "--template", TEMPLATE, "--id-column", "review_id")
    assert invoke(backend, source, *args).exit_code == 0
    written = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(written[:15]))  # as if the run had stopped after 15 lines
    kept = {json.loads(line)["id"] for line in written[:15]}
    result = invoke(backend, source, *args)
    assert result.exit_code == 0, result.output
    assert "25 lines written" in result.output and "(15 already there)" in result.output
    records = read_jsonl(out)
    assert Counter(r["id"] for r in records) == Counter(f"r{i}" for i in range(40))
    assert {r["id"] for r in records[:15]} == kept
    assert all(r["line"] == 2 * int(r["id"][1:]) + 2 for r in records)


def test_the_printed_resume_command_has_the_template_options_and_resumes(
    tmp_path: Path, backend: str
) -> None:
    source, out = tmp_path / "reviews.csv", tmp_path / "out.jsonl"
    rows = [[f"r{i}", f"review {i}: it's {{fine}}", "3"] for i in range(120)]
    write_csv(source, ["review_id", "text", "stars"], rows)
    template = "Stars {stars}. Say 'ok' or [no] ([bold]) to:\n{text}"  # markup, quotes
    first = invoke(
        backend, source, "-o", out, "-m", "mock/smart", "--template", template,
        "--id-column", "review_id", "--system", "Be terse.", "--input-format", "csv",
        "--budget", "0.03", "-c", "4",
    )  # fmt: skip
    assert first.exit_code == exit_status.BUDGET, first.output
    printed = first.output.split("the ids already written are skipped:\n")[1].strip()
    argv = shlex.split(printed)
    assert argv[:3] == ["sluicegate", "run", str(source)]
    following = zip(argv, [*argv[1:], ""], strict=True)
    options = {name: value for name, value in following if name.startswith("--")}
    assert options["--template"] == template and options["--id-column"] == "review_id"
    assert options["--system"] == "Be terse." and options["--input-format"] == "csv"
    done_before = len(read_jsonl(out))
    assert 0 < done_before < 120
    argv[argv.index("--budget") + 1] = "10"
    again = CliRunner().invoke(main, argv[1:], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert f"({done_before} already there)" in again.output
    ids = Counter(r["id"] for r in read_jsonl(out))
    assert ids == Counter(f"r{i}" for i in range(120))


def test_the_resume_command_keeps_every_template_option(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,text\nr1,x\n")
    args = [str(source), "-o", "out.jsonl", "--template", "{text} {{x}}", "--system", "S s"]
    ctx = command.make_context("run", [*args, "--id-column", "id", "--input-format", "csv"])
    resume = shlex.split(_resume_command(ctx))
    assert resume[3:] == [
        "--output", "out.jsonl", "--input-format", "csv", "--template", "{text} {{x}}",
        "--id-column", "id", "--system", "S s",
    ]  # fmt: skip
    ctx = command.make_context("run", args)  # defaults left out
    assert "--input-format" not in _resume_command(ctx)
    assert "--id-column" not in _resume_command(ctx)


def test_a_prompt_column_csv_runs_without_a_template(tmp_path: Path, backend: str) -> None:
    source, out = tmp_path / "in.csv", tmp_path / "out.jsonl"
    write_csv(
        source,
        ["id", "prompt", "model", "max_tokens"],
        [["p1", "Name a river.", "", "5"], ["p2", "Name a lake.", "mock/smart", ""]],
    )
    result = invoke(backend, source, "-o", out, "-m", "mock/fast")
    assert result.exit_code == 0, result.output
    records = {r["id"]: r for r in read_jsonl(out)}
    assert records["p1"]["model"] == "mock/fast" and records["p2"]["model"] == "mock/smart"
    assert records["p1"]["usage"]["output_tokens"] <= 5
    assert records["p2"]["response"]["text"].startswith("Mock answer to: Name a lake")


def test_options_that_need_a_template_or_live_mode_are_usage_errors(tmp_path: Path) -> None:
    csv_source = tmp_path / "in.csv"
    write_csv(csv_source, ["id", "text"], [["a1", "x"]])
    jsonl_source = tmp_path / "in.jsonl"
    jsonl_source.write_text(json.dumps({"id": "a", "prompt": "x"}) + "\n")
    out = tmp_path / "out.jsonl"
    cases = [
        ((csv_source, "--template", "{text}", "--mode", "batch"), "a CSV input is for --mode live"),
        ((jsonl_source, "--template", "{prompt}", "--mode", "batch"), "--template is for --mode"),
        ((jsonl_source, "--system", "S"), "--system is for --template"),
        ((jsonl_source, "--id-column", "key"), "--id-column is for a CSV or --template"),
    ]
    for args, message in cases:
        result = invoke("asyncio", *args, "-o", out, "-m", "mock/fast")
        assert result.exit_code == exit_status.USAGE, args
        assert message in result.output, result.output
    assert not out.exists()


def test_a_csv_from_a_fifo_is_refused(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "rows.csv"
    os.mkfifo(fifo)
    out = tmp_path / "out.jsonl"
    result = invoke("asyncio", fifo, "-o", out, "-m", "mock/fast", "--template", "{text}")
    assert result.exit_code == exit_status.USAGE
    assert "a CSV input must be a regular file, not a pipe or FIFO" in result.output
    assert not out.exists()


def test_jsonl_lines_from_a_pipe_through_a_template(tmp_path: Path, backend: str) -> None:
    """A streamed input is read a line at a time (no count, one pass): each line is
    rendered as it arrives."""
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [json.dumps({"key": f"k{i}", "text": f"line {i}\n{{x}}"}) for i in range(30)]
    source.write_text(
        "\n".join([*lines[:10], "", json.dumps({"key": "k-bad"}), *lines[10:]]) + "\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "SLUICEGATE_MOCK_BASE_URL"}
    command = [
        sys.executable, "-m", "sluicegate", "run", "/dev/stdin", "-o", str(out), "-m",
        "mock/fast", "--template", "Echo {text}", "--id-column", "key", "--system", "S",
        "--no-progress", "--backend", backend,
    ]  # fmt: skip
    with subprocess.Popen(["cat", str(source)], stdout=subprocess.PIPE) as cat:
        assert cat.stdout is not None
        run = subprocess.Popen(
            command, stdin=cat.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env,
        )  # fmt: skip
        cat.stdout.close()  # the run holds the read end now
        stdout, stderr = run.communicate(timeout=60)
    assert run.returncode == exit_status.SOME_FAILED, stdout + stderr  # the bad line
    records = {r["id"]: r for r in read_jsonl(out)}
    assert sorted(records) == sorted(f"k{i}" for i in range(30))
    assert records["k12"]["line"] == 15  # after a blank line and the bad one
    assert records["k12"]["response"]["text"].startswith("Mock answer to: Echo line 12 x")
    errors = read_jsonl(tmp_path / "out.errors.jsonl")
    assert [(e["line"], e["error"]) for e in errors] == [(12, "missing field 'text' of --template")]


def test_a_resume_command_with_brackets_is_printed_as_it_is_after_a_failed_write() -> None:
    """The summary is rich markup: a template's ``[no]`` or a path's ``[red]`` must not be
    read as a style (the command printed would then not be the command run)."""
    import errno

    from rich.console import Console

    from sluicegate.bulk.file_errors import FileWriteError
    from sluicegate.cli.run_files import stop_lines

    command_text = "sluicegate run in.csv --output '[red]/out.jsonl' --template 'Say [yes]: {text}'"
    error = FileWriteError("out.jsonl", "output", OSError(errno.ENOSPC, "No space left"), 3)
    console = Console(record=True, width=400)
    for line in stop_lines(error, Path("out.jsonl"), command_text):
        console.print(line, highlight=False, soft_wrap=True)
    assert console.export_text().rstrip().endswith("\n  " + command_text)
