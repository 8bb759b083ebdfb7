"""``sluicegate run`` (live and ``--mode batch``) never writes over the user's files: the
input, output, errors file and batch state file must be different files (symlinks and
hard links included), an errors file or output that is not ours is refused with its first
line quoted, an unwritable errors file is found before anything is sent, and a write that
fails mid-run (a full disk) names the file, prints the summary and exits 74.

The reproductions of issue 10's "Data loss" section, against the in-memory mock provider
through click's CliRunner, as tests/bulk/test_run_cli.py does."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from bulk.full_disk import full_disk_after
from bulk.run_cli import invoke
from sluicegate.cli import main
from sluicegate.cli.exit_status import IO_ERROR, USAGE


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(autouse=True)
def in_memory_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLUICEGATE_MOCK_BASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "400")  # messages naming long tmp paths stay on one line


def simple(i: int) -> str:
    return json.dumps({"id": f"r{i}", "prompt": f"question {i}", "model": "mock/fast"})


def write_input(path: Path, count: int, *, bad: int = 0) -> Path:
    lines = [simple(i) for i in range(count)] + ["{not json"] * bad
    path.write_text("".join(line + "\n" for line in lines))
    return path


def read_output(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def flat(result: Result) -> str:
    """The output with rich's line folding undone."""
    return " ".join(result.output.split())


# -- two roles, one file --------------------------------------------------------------------


def test_an_errors_file_that_is_the_input_is_refused_and_the_input_kept(tmp_path: Path) -> None:
    """``sluicegate run v.jsonl -o o.jsonl --errors-file v.jsonl`` deleted the input."""
    source = write_input(tmp_path / "v.jsonl", 5)
    before = source.read_bytes()
    out = tmp_path / "o.jsonl"
    result = invoke("asyncio", source, "-o", out, "--errors-file", source)
    assert result.exit_code == USAGE, result.output
    assert source.read_bytes() == before
    assert not out.exists()
    text = flat(result)
    assert "errors file" in text and "input" in text and str(source) in text


def test_a_default_errors_path_that_is_the_input_is_refused(tmp_path: Path) -> None:
    """``sluicegate run retry.errors.jsonl -o retry.jsonl`` deleted its own input."""
    source = write_input(tmp_path / "retry.errors.jsonl", 5)
    before = source.read_bytes()
    result = invoke("asyncio", source, "-o", tmp_path / "retry.jsonl")
    assert result.exit_code == USAGE, result.output
    assert source.read_bytes() == before
    assert not (tmp_path / "retry.jsonl").exists()
    text = flat(result)
    assert str(source) in text and "--errors-file" in text


def test_an_errors_file_that_is_the_output_keeps_the_paid_results(
    tmp_path: Path, backend: str
) -> None:
    """``--errors-file`` equal to the output left one error line where 25 results were."""
    source = write_input(tmp_path / "in.jsonl", 25, bad=1)
    out = tmp_path / "out.jsonl"
    assert invoke(backend, source, "-o", out).exit_code == 1  # 25 answers, one bad line
    paid = out.read_bytes()
    assert len(read_output(out)) == 25
    result = invoke(backend, source, "-o", out, "--errors-file", out)
    assert result.exit_code == USAGE, result.output
    assert out.read_bytes() == paid
    text = flat(result)
    assert f"errors file {out}" in text and "output" in text


def test_an_output_that_is_a_hard_link_to_the_input_is_refused(tmp_path: Path) -> None:
    """OUTPUT a hard link to INPUT: was "5 already there", exit 0, nothing sent."""
    source = write_input(tmp_path / "in.jsonl", 5)
    link = tmp_path / "out.jsonl"
    os.link(source, link)
    result = invoke("asyncio", source, "-o", link)
    assert result.exit_code == USAGE, result.output
    text = flat(result)
    assert str(link) in text and str(source) in text and "hard link" in text
    assert source.read_text().count("\n") == 5


def test_an_output_that_is_a_symlink_to_the_input_is_refused(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 5)
    link = tmp_path / "out.jsonl"
    link.symlink_to(source)
    result = invoke("asyncio", source, "-o", link)
    assert result.exit_code == USAGE, result.output
    assert str(link) in flat(result) and str(source) in flat(result)
    assert source.read_text().count("\n") == 5


def test_stdin_as_input_is_not_mistaken_for_the_output(tmp_path: Path) -> None:
    """/dev/stdin (a pipe here) is a legal input: it never collides with a regular file."""
    out = tmp_path / "out.jsonl"
    data = "".join(simple(i) + "\n" for i in range(3))
    argv = ["run", "/dev/stdin", "-o", str(out), "--no-progress"]
    with (tmp_path / "in.jsonl").open("w") as stream:
        stream.write(data)
    with (tmp_path / "in.jsonl").open("rb") as stream:
        # CliRunner replaces sys.stdin, not fd 0: point the process's fd 0 at a pipe
        read_end, write_end = os.pipe()
        os.write(write_end, stream.read())
        os.close(write_end)
        saved = os.dup(0)
        os.dup2(read_end, 0)
        try:
            result = CliRunner().invoke(main, argv, catch_exceptions=False)
        finally:
            os.dup2(saved, 0)
            os.close(saved)
            os.close(read_end)
    # (whether the lines of a pipe are all sent is another change's business)
    assert result.exit_code != USAGE and "same file" not in result.output, result.output


# -- files that are not ours ----------------------------------------------------------------


def test_an_errors_file_that_is_not_ours_is_refused_with_its_first_line(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 3, bad=1)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes about the run\nsecond line\n")
    out = tmp_path / "out.jsonl"
    result = invoke("asyncio", source, "-o", out, "--errors-file", notes)
    assert result.exit_code == USAGE, result.output
    assert notes.read_text() == "my notes about the run\nsecond line\n"
    assert not out.exists()
    text = flat(result)
    assert str(notes) in text and "my notes about the run" in text


def test_our_own_errors_file_is_rewritten_by_the_next_run(tmp_path: Path, backend: str) -> None:
    source = write_input(tmp_path / "in.jsonl", 3, bad=2)
    out = tmp_path / "out.jsonl"
    assert invoke(backend, source, "-o", out).exit_code == 1
    errors = tmp_path / "out.errors.jsonl"
    assert [r["line"] for r in read_output(errors)] == [4, 5]
    write_input(source, 3, bad=1)  # one bad line fixed (removed)
    assert invoke(backend, source, "-o", out).exit_code == 1
    assert [r["line"] for r in read_output(errors)] == [4]


def test_an_output_that_is_not_ours_without_a_newline_is_refused_not_repaired(
    tmp_path: Path,
) -> None:
    """``printf '{"config": {"a": 1}}' > notes.json; sluicegate run in.jsonl -o notes.json``
    cut the content off as a torn line."""
    source = write_input(tmp_path / "in.jsonl", 3)
    notes = tmp_path / "notes.json"
    notes.write_bytes(b'{"config": {"a": 1}}')
    result = invoke("asyncio", source, "-o", notes)
    assert result.exit_code == USAGE, result.output
    assert notes.read_bytes() == b'{"config": {"a": 1}}'
    text = flat(result)
    assert str(notes) in text and '{"config": {"a": 1}}' in text


def test_an_input_file_given_as_the_output_is_not_ours(tmp_path: Path) -> None:
    """Another JSONL file with ids (an input) is not a result file: never appended to."""
    source = write_input(tmp_path / "in.jsonl", 3)
    other = write_input(tmp_path / "other.jsonl", 3)
    before = other.read_bytes()
    result = invoke("asyncio", source, "-o", other)
    assert result.exit_code == USAGE, result.output
    assert other.read_bytes() == before
    assert str(other) in flat(result) and '"prompt"' in flat(result)


def test_a_long_foreign_first_line_is_quoted_shortened(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 1)
    notes = tmp_path / "notes.txt"
    notes.write_text("x" * 10_000 + "\n")
    result = invoke("asyncio", source, "-o", notes)
    assert result.exit_code == USAGE
    assert "x" * 10_000 not in result.output and "xxxxxxxx" in result.output
    assert len(result.output) < 2000


# -- the errors file must be writable before anything is sent -------------------------------


def test_an_unwritable_errors_file_is_found_before_anything_is_sent(
    tmp_path: Path, backend: str
) -> None:
    """Found only at the first bad line, after requests were sent."""
    source = write_input(tmp_path / "in.jsonl", 5, bad=1)
    errors = tmp_path / "no-such-dir" / "errors.jsonl"
    out = tmp_path / "out.jsonl"
    result = invoke(backend, source, "-o", out, "--errors-file", errors)
    assert result.exit_code == USAGE, result.output
    assert not out.exists() or out.read_text() == ""
    assert str(errors) in flat(result)


def test_a_default_errors_path_that_is_a_directory_is_refused_up_front(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 2)
    (tmp_path / "out.errors.jsonl").mkdir()
    out = tmp_path / "out.jsonl"
    result = invoke("asyncio", source, "-o", out)
    assert result.exit_code == USAGE, result.output
    assert not out.exists()
    assert str(tmp_path / "out.errors.jsonl") in flat(result)


# -- a write that fails mid-run -------------------------------------------------------------


def test_a_full_disk_names_the_output_prints_the_summary_and_exits_74(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_input(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out.jsonl"
    full_disk_after(monkeypatch, out, 7)
    result = invoke(backend, source, "-o", out, "-c", "1")
    assert result.exit_code == IO_ERROR, result.output
    text = flat(result)
    assert f"cannot write {out}: No space left on device" in text
    assert "7 lines written" in text  # the summary
    assert "sluicegate run" in text  # how to resume
    assert len(read_output(out)) == 7  # what was written stays
    monkeypatch.undo()
    monkeypatch.delenv("SLUICEGATE_MOCK_BASE_URL", raising=False)
    again = invoke(backend, source, "-o", out)
    assert again.exit_code == 0, again.output
    assert sorted(r["id"] for r in read_output(out)) == sorted(f"r{i}" for i in range(20))


def test_a_full_disk_on_the_errors_file_names_it_and_exits_74(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_input(tmp_path / "in.jsonl", 3, bad=3)
    out = tmp_path / "out.jsonl"
    errors = tmp_path / "out.errors.jsonl"
    full_disk_after(monkeypatch, errors, 1)
    result = invoke("asyncio", source, "-o", out, "-c", "1")
    assert result.exit_code == IO_ERROR, result.output
    assert f"cannot write {errors}: No space left on device" in flat(result)


# -- batch mode's state file ----------------------------------------------------------------


def invoke_batch(*args: str | Path) -> Result:
    argv = ["run", *map(str, args), "--mode", "batch", "--no-progress"]
    return CliRunner().invoke(main, argv, catch_exceptions=False)


def test_a_batch_state_file_that_is_the_input_is_refused(tmp_path: Path) -> None:
    source = write_input(tmp_path / "x.batches.json", 3)
    before = source.read_bytes()
    result = invoke_batch(source, "-o", tmp_path / "x")
    assert result.exit_code == USAGE, result.output
    assert source.read_bytes() == before
    text = flat(result)
    assert "batch state file" in text and str(source) in text and "input" in text


def test_a_batch_state_file_that_links_to_the_output_is_refused(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    out.write_text("")
    (tmp_path / "out.jsonl.batches.json").symlink_to(out)
    result = invoke_batch(source, "-o", out)
    assert result.exit_code == USAGE, result.output
    assert "batch state file" in flat(result) and "output" in flat(result)


def test_a_batch_errors_file_that_is_the_input_is_refused(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    before = source.read_bytes()
    result = invoke_batch(source, "-o", tmp_path / "out.jsonl", "--errors-file", source)
    assert result.exit_code == USAGE, result.output
    assert source.read_bytes() == before


def test_batch_submit_refuses_an_output_linked_to_the_input(tmp_path: Path) -> None:
    source = write_input(tmp_path / "in.jsonl", 3)
    link = tmp_path / "out.jsonl"
    os.link(source, link)
    argv = ["batch", "submit", str(source), "-o", str(link), "--no-progress"]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == USAGE, result.output
    assert "hard link" in flat(result)


def test_a_real_write_error_from_the_os_ends_the_same_way(tmp_path: Path) -> None:
    """No injection: the process may not grow a file past 4 KB (RLIMIT_FSIZE, SIGXFSZ
    ignored), so the kernel refuses a write mid-run with EFBIG, as a full disk would."""
    resource = pytest.importorskip("resource")
    import signal
    import subprocess
    import sys

    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    source = write_input(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if k != "SLUICEGATE_MOCK_BASE_URL"}
    argv = [sys.executable, "-m", "sluicegate", "run", str(source), "-o", str(out), "-c", "1"]
    done = subprocess.run(
        [*argv, "--no-progress"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "400"},
        preexec_fn=limit_file_size,
        timeout=120,
    )
    assert done.returncode == IO_ERROR, done.stdout + done.stderr
    assert f"cannot write {out}: File too large" in " ".join((done.stdout + done.stderr).split())
    data = out.read_bytes()  # the kernel took part of the last line: a torn line
    assert 0 < len(data) <= 4096
    complete = data[: data.rindex(b"\n") + 1].decode().splitlines()
    assert 0 < len(complete) < 40 and all(json.loads(line)["response"] for line in complete)
    again = subprocess.run([*argv, "--no-progress"], capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sorted(r["id"] for r in read_output(out)) == sorted(f"r{i}" for i in range(40))
