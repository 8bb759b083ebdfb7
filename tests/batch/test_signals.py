"""Ctrl-C in batch mode: once detaches (the jobs keep running at the provider and the same
command collects them later); twice cancels the jobs at the provider and keeps what they
had finished, leaving the cancelled items to a later run. Real processes, as a user's
terminal would send the signals."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from batch.helpers import MODELS, one_per_id, read_output, write_input
from batch.test_kill_reattach import recorded_requests, start_batch_run
from bulk.processes import WAIT_S, mock_server, server_stats, wait_until

LINES = 3_000
PER_JOB = 1_000
WIRE = {"mock": "openai", "anthropic": "anthropic"}


def command(tmp_path: Path, backend: str) -> tuple[str | Path, ...]:
    return (
        tmp_path / "in.jsonl", "-o", tmp_path / "out.jsonl", "--mode", "batch",
        "--batch-size", PER_JOB, "--poll-interval", "0.1", "--backend", backend,
    )  # fmt: skip


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_one_ctrl_c_detaches_and_the_same_command_collects_later(
    tmp_path: Path, backend: str
) -> None:
    ids = write_input(tmp_path / "in.jsonl", LINES, MODELS["mock"])
    state_file = tmp_path / "out.jsonl.batches.json"
    with mock_server("--batch-seconds", "3") as url:
        first = start_batch_run(url, *command(tmp_path, backend))
        wait_until(lambda: recorded_requests(state_file) == LINES, "the jobs to be recorded")
        first.send_signal(signal.SIGINT)
        _, stderr = first.communicate(timeout=WAIT_S)
        assert first.returncode == 130, stderr
        assert "detaching" in stderr
        state = json.loads(state_file.read_text())
        assert [job["collected"] for job in state["jobs"]] == [False] * 3
        assert server_stats(url)["batches"]["openai"]["items_canceled"] == 0

        second = start_batch_run(url, *command(tmp_path, backend))
        stdout, stderr = second.communicate(timeout=WAIT_S)
        assert second.returncode == 0, stdout + stderr
        assert server_stats(url)["batches"]["openai"]["created"] == 3
    assert sorted(one_per_id(read_output(tmp_path / "out.jsonl"))) == ids


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("provider", ["mock", "anthropic"])
def test_two_ctrl_c_cancel_the_jobs_and_keep_what_finished(
    tmp_path: Path, provider: str, backend: str
) -> None:
    ids = write_input(tmp_path / "in.jsonl", LINES, MODELS[provider])
    state_file, out = tmp_path / "out.jsonl.batches.json", tmp_path / "out.jsonl"
    with mock_server("--batch-seconds", "5") as url:
        run = start_batch_run(url, *command(tmp_path, backend))
        wait_until(lambda: recorded_requests(state_file) == LINES, "the jobs to be recorded")
        time.sleep(1.5)  # the jobs are part-way through their items (0.5 s to 4.5 s)
        run.send_signal(signal.SIGINT)
        time.sleep(0.2)
        run.send_signal(signal.SIGINT)
        stdout, stderr = run.communicate(timeout=WAIT_S)
        assert run.returncode == 130, stdout + stderr
        assert "cancelling the jobs" in stderr
        batches = server_stats(url)["batches"][WIRE[provider]]
        assert batches["items_canceled"] > 0
        written = one_per_id(read_output(out))
        assert 0 < len(written) < LINES  # what finished is kept, the rest is not written
        assert len(written) == batches["items_succeeded"]
        state = json.loads(state_file.read_text())
        assert {job["state"] for job in state["jobs"]} == {"cancelled"}
        assert all(job["collected"] for job in state["jobs"])
        assert state["fates"]["canceled"] == LINES - len(written)

        again = start_batch_run(url, *command(tmp_path, backend))
        stdout, stderr = again.communicate(timeout=WAIT_S)
        assert again.returncode == 0, stdout + stderr
        batches = server_stats(url)["batches"][WIRE[provider]]
    assert sorted(one_per_id(read_output(out))) == ids
    assert batches["ids_answered_more_than_once"] == 0  # nothing finished was sent again
