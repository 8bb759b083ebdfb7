"""Must-show 4: ``sluicegate run`` killed with SIGKILL at random points three times and
resumed each time ends with each input id exactly once, and the mock server (in its own
process, honouring Idempotency-Key) charged each id's key exactly once.

Real processes and a real server: the point is what survives ``kill -9``. 2,000 lines
with 20 ms of server latency keep it to a few seconds per backend.
"""

from __future__ import annotations

import json
import random
import signal
import time
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
from sluicegate.bulk.runner import line_key
from sluicegate.types import Message, Params, Request

LINES = 2000
KILLS = 3


def expected_key(output: Path, line_id: str, index: int) -> str:
    """The key the run derives for a line (the input lines of ``write_input``)."""
    request = Request(
        model="mock/fast",
        messages=(Message(role="user", content=f"item {index}"),),
        params=Params.from_kwargs({"max_tokens": 8}),
    )
    return line_key(str(output.resolve()), line_id, request)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_three_sigkills_and_resumes_leave_each_id_once_and_charged_once(
    tmp_path: Path, backend: str
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, LINES)
    rng = random.Random(f"kill-{backend}")
    command = (source, "-o", out, "-c", "32", "--backend", backend)
    killed_at: list[int] = []
    with mock_server("--latency", "0.02") as url:
        for _ in range(KILLS):
            target = complete_lines(out) + rng.randint(100, 450)
            run = start_run(url, *command)
            wait_until(
                lambda: complete_lines(out) >= target or run.poll() is not None,  # noqa: B023
                "the run to write more lines",
            )
            time.sleep(rng.random() * 0.01)  # a random point, between writes or within one
            run.send_signal(signal.SIGKILL)
            run.communicate(timeout=WAIT_S)
            assert run.returncode == -signal.SIGKILL, "the run finished before it was killed"
            killed_at.append(complete_lines(out))
        final = start_run(url, *command)
        stdout, stderr = final.communicate(timeout=WAIT_S)
        assert final.returncode == 0, stdout + stderr
        stats = server_stats(url)

    assert killed_at == sorted(killed_at) and killed_at[-1] < LINES
    records = [json.loads(line) for line in out.read_text().splitlines()]
    counts = Counter(r["id"] for r in records)
    assert set(counts) == set(ids) and set(counts.values()) == {1}
    assert all("response" in r for r in records)

    per_key = stats["idempotency"]
    # the same key for an id in all four processes: exactly the keys derived from the run
    assert set(per_key) == {expected_key(out, line_id, i) for i, line_id in enumerate(ids)}
    assert {k: v["succeeded"] for k, v in per_key.items()} == dict.fromkeys(per_key, 1)
    resent = [k for k, v in per_key.items() if v["received"] > 1]
    assert resent, "no request was in flight at a kill: the resume re-sent nothing"
    # what the kills left for the resumes: re-sent ids, answered from the server's record
    print(
        f"\n{backend}: killed at {killed_at} lines; {len(resent)} ids re-sent, "
        f"{stats['replayed']} of them answered from the record, uncharged"
    )
    assert stats["replayed"] > 0
    assert stats["succeeded"] == LINES
    assert stats["requests"] == LINES + sum(v["received"] - 1 for v in per_key.values())
