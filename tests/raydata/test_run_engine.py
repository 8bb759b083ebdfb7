"""``sluicegate run --engine ray`` on the test cluster: 4,000 lines (some bad) through two
actors sharing one limit through Redis; the driver killed with SIGKILL mid-run and the
same command run again ends with each good id exactly once in the output, the bad lines
reported by number, and the server's limiter never met (the shared limit held in both
runs, judged by the server's own record)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from raydata.conftest import ray_env
from raydata.peers import API_KEY, LIMIT_RPS, MODEL, allowed_burst
from scaleout.cluster import fetch_arrivals
from scaleout.windows import judge
from sluicegate.cli import exit_status

LINES = 4000
BAD_EVERY = 400
"""Every 400th line is bad (a number for a prompt): 10 bad lines."""
RUN_S = 180.0
"""Upper bound on one run (4,000 requests at 200 a second take 20 s, Ray's start a few)."""


def _write_input(path: Path) -> list[str]:
    good = []
    with path.open("w") as stream:
        for i in range(LINES):
            line: dict[str, object] = {"id": f"row-{i:05d}", "prompt": f"item {i}", "model": MODEL}
            if i % BAD_EVERY == 3:
                line["prompt"] = 42
            else:
                good.append(f"row-{i:05d}")
            stream.write(json.dumps(line) + "\n")
    return good


def _command(source: Path, out: Path, ray_address: str, redis_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "sluicegate",
        "run",
        str(source),
        "-o",
        str(out),
        "--engine",
        "ray",
        "--ray-address",
        ray_address,
        "--ray-actors",
        "2",
        "--ray-batch-size",
        "100",
        "--store",
        redis_url,
        "--rpm",
        str(LIMIT_RPS * 60),
        "--no-progress",
    ]


def _complete_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_killed_and_resumed_the_ray_engine_writes_each_id_once(
    tmp_path: Path, ray_address: str, redis_url: str, mock_url: str
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    good = _write_input(source)
    command = _command(source, out, ray_address, redis_url)
    env = ray_env(mock_url)

    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + RUN_S
    while _complete_lines(out) < 1000:
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first run wrote too little"
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    before_resume = _complete_lines(out)
    assert 1000 <= before_resume < len(good)

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=RUN_S)
    summary = second.stdout + second.stderr
    assert second.returncode == exit_status.SOME_FAILED, summary  # the bad lines
    assert f"{len(good) - before_resume:,} lines written to {out}" in summary, summary

    ids = Counter()
    for raw in out.read_bytes().splitlines():
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # a last line torn by the kill, cut off by the resume
        ids[record["id"]] += 1
        assert record.get("error") is None, record
    assert set(ids) == set(good)
    assert max(ids.values()) == 1  # each id exactly once
    for written in (out.read_text(), (tmp_path / "out.errors.jsonl").read_text(), summary):
        assert API_KEY not in written  # the actors' key reaches no output
    errors = [json.loads(raw) for raw in (tmp_path / "out.errors.jsonl").read_bytes().splitlines()]
    assert [e["line"] for e in errors] == [i + 1 for i in range(LINES) if i % BAD_EVERY == 3]

    arrivals = fetch_arrivals(mock_url)
    assert arrivals.by_status.get(429, 0) == 0  # the server's limiter was never met
    assert len(good) <= len(arrivals.times_ns) <= len(good) + 2 * 16 * 4  # + in flight at the kill
    verdict = judge(arrivals.times_ns, LIMIT_RPS, burst=allowed_burst(0.1))
    print(f"--engine ray, killed and resumed: {len(arrivals.times_ns)} arrivals, {verdict}")
    assert verdict.held, verdict


def test_a_budget_shared_by_the_actors_is_never_exceeded(
    tmp_path: Path, ray_address: str, redis_url: str, mock_url: str
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    with source.open("w") as stream:
        for i in range(600):
            line = {"id": f"b{i}", "prompt": f"item {i}", "model": MODEL, "max_tokens": 40}
            stream.write(json.dumps(line) + "\n")
    budget = 0.002
    command = [*_command(source, out, ray_address, redis_url), "--budget", str(budget)]
    done = subprocess.run(
        command, env=ray_env(mock_url), capture_output=True, text=True, timeout=RUN_S
    )
    summary = done.stdout + done.stderr
    assert done.returncode == exit_status.BUDGET, summary
    records = [json.loads(raw) for raw in out.read_bytes().splitlines()]
    spent = sum(r["cost"] for r in records)
    assert 0 < spent <= budget
    assert 0 < len(records) < 600  # stopped by the budget, not by the end of the input
    # every request that reached the server was answered and written: none lost
    assert len(fetch_arrivals(mock_url).times_ns) == len(records)
    print(f"--engine ray --budget {budget}: {len(records)} answered, ${spent:.6f} spent")


def test_the_ray_engine_asks_every_line_for_the_schema(
    tmp_path: Path, ray_address: str, redis_url: str, mock_url: str
) -> None:
    source, out, schema = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "s.json"
    with source.open("w") as stream:
        for i in range(200):
            stream.write(json.dumps({"id": f"s{i}", "prompt": f"item {i}", "model": MODEL}) + "\n")
    schema.write_text(
        json.dumps(
            {
                "title": "Label",
                "type": "object",
                "properties": {"label": {"enum": ["a", "b"]}, "score": {"type": "integer"}},
                "required": ["label", "score"],
            }
        )
    )
    command = [*_command(source, out, ray_address, redis_url), "--schema", str(schema)]
    done = subprocess.run(
        command, env=ray_env(mock_url), capture_output=True, text=True, timeout=RUN_S
    )
    assert done.returncode == exit_status.OK, done.stdout + done.stderr
    records = [json.loads(raw) for raw in out.read_bytes().splitlines()]
    assert sorted(r["id"] for r in records) == sorted(f"s{i}" for i in range(200))
    assert all(r["parsed"]["label"] in ("a", "b") for r in records)
    assert all(isinstance(r["parsed"]["score"], int) for r in records)
