"""Real processes for the tests that must kill or interrupt a run: ``sluicegate
mock-server`` and ``sluicegate run``, each with the test's own interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

WAIT_S = 60.0
"""Upper bound of any wait on a process; reached only when something is broken."""


@contextmanager
def mock_server(*args: str) -> Iterator[str]:
    """Run ``sluicegate mock-server --port 0 ARGS`` and yield its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sluicegate", "mock-server", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "listening on " in first, first
        yield first.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def server_stats(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base_url}/_mock/stats", timeout=10) as answer:
        stats: dict[str, Any] = json.loads(answer.read())
    return stats


def start_run(base_url: str, *args: str | Path) -> subprocess.Popen[str]:
    """``sluicegate run ARGS`` pointed at the mock server (as the mock provider)."""
    env = {**os.environ, "SLUICEGATE_MOCK_BASE_URL": f"{base_url}/v1"}
    return subprocess.Popen(
        [sys.executable, "-m", "sluicegate", "run", *map(str, args), "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def complete_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_until(condition: Any, what: str) -> None:
    """Poll ``condition()`` until true; fail after :data:`WAIT_S`."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def write_input(path: Path, count: int, model: str = "mock/fast") -> list[str]:
    ids = [f"row-{i:05d}" for i in range(count)]
    with path.open("w") as stream:
        for i, line_id in enumerate(ids):
            stream.write(
                json.dumps({"id": line_id, "prompt": f"item {i}", "model": model, "max_tokens": 8})
                + "\n"
            )
    return ids
