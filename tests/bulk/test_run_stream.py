"""``sluicegate run /dev/stdin``: a pipe is read as it is written (issue 10: the line count
read it to its end first, and the run then found nothing to send). Real processes and
real pipes, against the built-in (in-memory) mock provider, on both backends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bulk.processes import WAIT_S, complete_lines, wait_until

STREAMED_WITHIN_S = 15.0
"""How long a line written to the pipe may take to be answered once the run is up (it
takes milliseconds; the bound is for a loaded machine). The first line's wait also covers
the interpreter's start, so it is bounded by :data:`WAIT_S`. What proves streaming is
that the answer comes while the pipe is still open, not how fast."""


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def line(i: int) -> str:
    return json.dumps({"id": f"r{i}", "prompt": f"question {i}", "model": "mock/fast"}) + "\n"


def run_stdin(backend: str, out: Path, stdin: int, *args: str) -> subprocess.Popen[str]:
    """``sluicegate run /dev/stdin -o OUT`` reading ``stdin`` (a pipe's read end or PIPE)."""
    env = {k: v for k, v in os.environ.items() if k != "SLUICEGATE_MOCK_BASE_URL"}
    command = [sys.executable, "-m", "sluicegate", "run", "/dev/stdin", "-o", str(out)]
    return subprocess.Popen(
        [*command, "--backend", backend, *args],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    if process.stdin is not None and process.stdin.closed:
        process.stdin = None  # closed by the test: communicate() must not flush it
    stdout, stderr = process.communicate(timeout=WAIT_S)
    return process.returncode, stdout + stderr


def ids(path: Path) -> list[str]:
    return [json.loads(raw)["id"] for raw in path.read_text().splitlines()]


def test_a_file_piped_in_by_another_process_is_run_to_the_end(tmp_path: Path, backend: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(line(i) for i in range(40)) + "\n{not json\n")
    out = tmp_path / "out.jsonl"
    with subprocess.Popen(["cat", str(source)], stdout=subprocess.PIPE) as cat:
        assert cat.stdout is not None
        run = run_stdin(backend, out, cat.stdout.fileno(), "--no-progress", "-c", "8")
        cat.stdout.close()  # the run holds the read end now
        code, output = finish(run)
    assert code == 1, output  # the bad line
    assert sorted(ids(out)) == sorted(f"r{i}" for i in range(40))
    assert "40 lines written" in output
    errors = [json.loads(raw) for raw in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [e["line"] for e in errors] == [42]  # blank lines are counted as in a file


def test_a_line_is_answered_while_the_pipe_is_still_open(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "out.jsonl"
    run = run_stdin(backend, out, subprocess.PIPE, "--no-progress")
    assert run.stdin is not None
    try:
        for i in range(3):
            run.stdin.write(line(i))
            run.stdin.flush()
            deadline = time.monotonic() + (STREAMED_WITHIN_S if i else WAIT_S)
            while complete_lines(out) < i + 1:  # answered with the pipe still open
                assert run.poll() is None, finish(run)
                assert time.monotonic() < deadline, f"line {i + 1} not answered while streamed"
                time.sleep(0.01)
    finally:
        run.stdin.close()
    code, output = finish(run)
    assert code == 0, output
    assert ids(out) == ["r0", "r1", "r2"]
    assert "3 lines written" in output


def test_a_resume_from_a_pipe_skips_the_ids_already_written(tmp_path: Path, backend: str) -> None:
    out = tmp_path / "out.jsonl"
    first = run_stdin(backend, out, subprocess.PIPE, "--no-progress")
    code, output = finish_with(first, "".join(line(i) for i in range(5)))
    assert code == 0, output
    again = run_stdin(backend, out, subprocess.PIPE, "--no-progress")
    code, output = finish_with(again, "".join(line(i) for i in range(12)))
    assert code == 0, output
    assert "7 lines written" in output and "(5 already there)" in output
    assert sorted(ids(out)) == sorted(f"r{i}" for i in range(12))  # each id once


def finish_with(process: subprocess.Popen[str], text: str) -> tuple[int, str]:
    stdout, stderr = process.communicate(text, timeout=WAIT_S)
    return process.returncode, stdout + stderr


def test_ctrl_c_ends_a_run_whose_pipe_went_quiet(tmp_path: Path, backend: str) -> None:
    """The writer keeps the pipe open and sends nothing more: the first Ctrl-C must end
    the run (not wait for a line that may never come), with what was answered written."""
    out = tmp_path / "out.jsonl"
    run = run_stdin(backend, out, subprocess.PIPE, "--no-progress")
    assert run.stdin is not None
    run.stdin.write(line(0))
    run.stdin.flush()
    wait_until(lambda: complete_lines(out) == 1, "the first line answered")
    run.send_signal(signal.SIGINT)
    try:
        stdout, _ = run.communicate(timeout=WAIT_S)
    finally:
        run.stdin = None
    assert run.returncode == 130, stdout
    assert ids(out) == ["r0"]
