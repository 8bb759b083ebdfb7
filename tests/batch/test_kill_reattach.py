"""Must-show 2: ``sluicegate run --mode batch`` killed with SIGKILL while it waits for its
jobs, and run again with the same command, reattaches to the jobs it created (the mock
server, in its own process, counts the jobs created: no duplicates, no item submitted
twice) and finishes with one output line per id.

Real processes, a real server: the point is what survives ``kill -9``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from batch.helpers import MODELS, TEST_KEY, one_per_id, read_output, write_input
from bulk.processes import WAIT_S, mock_server, server_stats, wait_until

LINES = 5_000
PER_JOB = 1_000
WIRE = {"mock": "openai", "anthropic": "anthropic"}


def start_batch_run(url: str, *args: str | Path) -> subprocess.Popen[str]:
    """``sluicegate run ... --mode batch`` with both providers pointed at the server."""
    env = {
        **os.environ,
        "SLUICEGATE_MOCK_BASE_URL": f"{url}/v1",
        "ANTHROPIC_BASE_URL": url,
        "ANTHROPIC_API_KEY": TEST_KEY,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "sluicegate", "run", *map(str, args), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def recorded_requests(state_file: Path) -> int:
    """Requests held by the jobs the state file records (0 before it exists)."""
    try:
        state = json.loads(state_file.read_text())
    except (FileNotFoundError, ValueError):
        return 0
    return sum(job["count"] for job in state["jobs"])


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
@pytest.mark.parametrize("provider", ["mock", "anthropic"])
def test_sigkill_while_waiting_then_the_same_command_reattaches(
    tmp_path: Path, provider: str, backend: str
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    state_file = tmp_path / "out.jsonl.batches.json"
    ids = write_input(source, LINES, MODELS[provider])
    command = (
        source, "-o", out, "--mode", "batch", "--batch-size", PER_JOB,
        "--poll-interval", "0.1", "--backend", backend,
    )  # fmt: skip
    with mock_server("--batch-seconds", "3") as url:
        first = start_batch_run(url, *command)
        wait_until(
            lambda: recorded_requests(state_file) == LINES or first.poll() is not None,
            "every job to be created and recorded",
        )
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=WAIT_S)
        assert first.returncode == -signal.SIGKILL, "the run ended before it was killed"
        created_before = server_stats(url)["batches"][WIRE[provider]]["created"]
        assert created_before == LINES // PER_JOB

        second = start_batch_run(url, *command)
        stdout, stderr = second.communicate(timeout=WAIT_S)
        assert second.returncode == 0, stdout + stderr
        batches = server_stats(url)["batches"][WIRE[provider]]

    assert batches["created"] == LINES // PER_JOB, "the second run submitted jobs again"
    assert batches["items_submitted"] == LINES
    assert batches["ids_submitted_more_than_once"] == 0
    assert batches["ids_answered"] == LINES
    assert "0 created, 5 reattached" in stdout
    records = one_per_id(read_output(out))
    assert sorted(records) == ids
    assert all("response" in r for r in records.values())
    state = json.loads(state_file.read_text())
    assert [job["collected"] for job in state["jobs"]] == [True] * (LINES // PER_JOB)
    assert TEST_KEY not in state_file.read_text() + out.read_text() + stdout + stderr
