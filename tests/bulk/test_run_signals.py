"""Ctrl-C during ``sluicegate run`` (a real process, real SIGINT): the first lets the
requests in flight finish and takes no new line, the second cancels them; either way the
output is consistent, the summary says how to resume, and the resume completes it."""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from bulk.processes import (
    WAIT_S,
    complete_lines,
    mock_server,
    server_stats,
    start_run,
    wait_until,
    write_input,
)
from sluicegate.cli import exit_status

LINES, CONCURRENCY = 12, 4


def wait_for_stopping_note(run: subprocess.Popen[str]) -> None:
    assert run.stderr is not None
    for line in run.stderr:
        if "stopping: no new lines" in line:
            return
    raise AssertionError("the run ended without saying it was stopping")


def resume_and_check(url: str, command: tuple[str | Path, ...], out: Path, ids: list[str]) -> None:
    resumed = start_run(url, *command)
    stdout, stderr = resumed.communicate(timeout=WAIT_S)
    assert resumed.returncode == 0, stdout + stderr
    counts = Counter(json.loads(line)["id"] for line in out.read_text().splitlines())
    assert set(counts) == set(ids) and set(counts.values()) == {1}
    per_key = server_stats(url)["idempotency"]
    assert len(per_key) == LINES
    assert all(v["succeeded"] == 1 for v in per_key.values())


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_one_ctrl_c_finishes_the_requests_in_flight_and_takes_no_more(
    tmp_path: Path, backend: str
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, LINES)
    command = (source, "-o", out, "-c", str(CONCURRENCY), "--backend", backend)
    with mock_server("--latency", "1.0") as url:
        run = start_run(url, *command)
        wait_until(lambda: server_stats(url)["requests"] >= CONCURRENCY, "requests in flight")
        run.send_signal(signal.SIGINT)
        stdout, _ = run.communicate(timeout=WAIT_S)
        assert run.returncode == exit_status.INTERRUPTED
        assert complete_lines(out) == CONCURRENCY  # the ones in flight, answered and written
        assert server_stats(url)["requests"] == CONCURRENCY  # nothing taken after Ctrl-C
        assert "Resume with the same command" in stdout
        resume = f"sluicegate run {source} --output {out} --concurrency 4 --no-progress --backend"
        assert f"{resume} {backend}\n" in stdout
        resume_and_check(url, command, out, ids)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_second_ctrl_c_cancels_the_requests_in_flight(tmp_path: Path, backend: str) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, LINES)
    command = (source, "-o", out, "-c", str(CONCURRENCY), "--backend", backend)
    with mock_server("--latency", "1.0") as url:
        run = start_run(url, *command)
        wait_until(lambda: server_stats(url)["requests"] >= CONCURRENCY, "requests in flight")
        run.send_signal(signal.SIGINT)
        wait_for_stopping_note(run)
        run.send_signal(signal.SIGINT)
        stdout, _ = run.communicate(timeout=WAIT_S)
        assert run.returncode == exit_status.INTERRUPTED
        assert complete_lines(out) == 0 and out.read_bytes() == b""  # cancelled, not torn
        assert "Resume with the same command" in stdout
        # the cancelled requests are sent again with their keys: charged once in all
        resume_and_check(url, command, out, ids)
