"""``sluicegate run --store``: Redis stopped mid-run, then back. No output line is lost
or written as an error (a store that is away is a passing cause: the lines wait), the
run carries on when Redis answers again; with Redis gone for good, the lines are left
pending for the next run and the summary names the store."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from realpeers.redis import RedisServer, redis_server_or_skip

LINES = 240


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A server of this test's own: it stops it mid-run."""
    with redis_server_or_skip() as server:
        yield server


def write_input(path: Path) -> None:
    with path.open("w") as stream:
        for i in range(LINES):
            stream.write(json.dumps({"id": f"line-{i}", "prompt": f"Question {i}?"}) + "\n")


def start_run(tmp_path: Path, store: str, *extra: str) -> subprocess.Popen[str]:
    source, output = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source)
    command = [
        sys.executable, "-m", "sluicegate", "run", str(source), "-o", str(output),
        "--model", "mock/fast", "--rpm", "6000", "--store", store, "--no-progress",
        "--concurrency", "16", *extra,
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def results(tmp_path: Path) -> list[dict[str, object]]:
    path = tmp_path / "out.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_lines(tmp_path: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    path = tmp_path / "out.jsonl"
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().count("\n") >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} output lines after {timeout} s")


def test_redis_away_mid_run_loses_no_line_and_the_run_carries_on(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    run = start_run(tmp_path, own_redis.url)
    try:
        wait_for_lines(tmp_path, 40, timeout=20)
        own_redis.stop()
        stopped = threading.Timer(1.0, own_redis.start)
        stopped.start()
        out, _ = run.communicate(timeout=60)
        stopped.join()
    finally:
        if run.poll() is None:
            run.kill()
        if not own_redis.running:
            own_redis.start()
    assert run.returncode == 0, out
    lines = results(tmp_path)
    ids = [line["id"] for line in lines]
    assert sorted(ids) == sorted(f"line-{i}" for i in range(LINES))  # one per id
    assert all(line.get("error") is None for line in lines), [
        line for line in lines if line.get("error")
    ][:3]


def test_redis_gone_leaves_the_lines_pending_and_names_the_store(
    tmp_path: Path, own_redis: RedisServer
) -> None:
    run = start_run(tmp_path, own_redis.url, "--patience", "1")
    try:
        wait_for_lines(tmp_path, 40, timeout=20)
        own_redis.stop()
        out, _ = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
        own_redis.start()
    lines = results(tmp_path)
    assert len({line["id"] for line in lines}) == len(lines) < LINES
    assert all(line.get("error") is None for line in lines)
    assert run.returncode != 0
    assert "pending" in out
    assert f"the shared store redis://127.0.0.1:{own_redis.port}/0 did not answer" in out
