"""``sluicegate batch submit | status | wait | results | cancel | list`` one step at a
time around the state file, and the options ``sluicegate run`` refuses to mix, against
``sluicegate mock-server`` in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from batch.helpers import MODELS, one_per_id, read_output, write_input
from bulk.processes import WAIT_S, mock_server, server_stats
from sluicegate.cli import exit_status


def sluicegate(url: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SLUICEGATE_MOCK_BASE_URL": f"{url}/v1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "sluicegate", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=WAIT_S,
    )


def test_submit_status_wait_results_list_and_cancel_by_hand(tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 1200, MODELS["mock"])
    with source.open("a") as stream:
        stream.write("{not json\n")
    with mock_server("--batch-seconds", "1") as url:
        submitted = sluicegate(
            url, "batch", "submit", source, "-o", out, "--batch-size", "500", "--no-progress"
        )
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        state = json.loads((tmp_path / "out.jsonl.batches.json").read_text())
        job_ids = [job["id"] for job in state["jobs"]]
        assert [job["count"] for job in state["jobs"]] == [500, 500, 200]
        assert all(job_id in submitted.stdout for job_id in job_ids)
        assert "1 bad input lines" in submitted.stdout
        assert json.loads((tmp_path / "out.errors.jsonl").read_text())["line"] == 1201
        assert not out.exists() or out.read_text() == ""

        again = sluicegate(url, "batch", "submit", source, "-o", out, "--no-progress")
        assert again.returncode == 0 and "0 created" in again.stdout  # all held by jobs

        status = sluicegate(url, "batch", "status", out)
        assert status.returncode == 0, status.stderr
        assert all(job_id in status.stdout for job_id in job_ids)

        waited = sluicegate(url, "batch", "wait", out, "--poll-interval", "0.05", "--no-progress")
        assert waited.returncode == 0, waited.stdout + waited.stderr
        assert not out.exists() or out.read_text() == ""  # waiting writes nothing

        collected = sluicegate(url, "batch", "results", out, "--no-progress")
        assert collected.returncode == 0, collected.stdout + collected.stderr
        assert "3 collected" in collected.stdout
        assert sorted(one_per_id(read_output(out))) == ids

        listed = sluicegate(url, "batch", "list", "--provider", "mock")
        assert listed.returncode == 0 and all(job_id in listed.stdout for job_id in job_ids)

        assert server_stats(url)["batches"]["openai"]["created"] == 3

    # A job cancelled by hand: on a server whose jobs take an hour, so the job is still
    # running when the cancel (a second process start later) reaches it.
    with mock_server("--batch-seconds", "3600") as url:
        other = tmp_path / "other.jsonl"
        sluicegate(url, "batch", "submit", source, "-o", other, "--no-progress")
        fresh = json.loads((tmp_path / "other.jsonl.batches.json").read_text())["jobs"][0]["id"]
        cancelled = sluicegate(url, "batch", "cancel", "--provider", "mock", "--job", fresh)
        assert cancelled.returncode == 0, cancelled.stderr
        assert "cancel" in cancelled.stdout and fresh in cancelled.stdout
        assert server_stats(url)["batches"]["openai"]["created"] == 1


def test_run_refuses_options_of_the_other_mode(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    write_input(source, 3, MODELS["mock"])
    out = tmp_path / "out.jsonl"
    nowhere = "http://127.0.0.1:9"  # nothing is sent: each command stops before
    batch_rpm = sluicegate(nowhere, "run", source, "-o", out, "--mode", "batch", "--rpm", "5")
    assert batch_rpm.returncode == 2 and "--rpm is for --mode live" in batch_rpm.stderr
    live_retry = sluicegate(nowhere, "run", source, "-o", out, "--retry-live")
    assert live_retry.returncode == 2 and "--retry-live is for --mode batch" in live_retry.stderr
    nothing = sluicegate(nowhere, "batch", "results", tmp_path / "none.jsonl")
    assert nothing.returncode == exit_status.USAGE and "no batch state file" in nothing.stderr
