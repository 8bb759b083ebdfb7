"""Must-show 1: a 20,000-line input against a mock limit of 1,000 requests a job becomes
20 jobs per provider (the OpenAI format through the mock provider, and Anthropic's
Message Batches through the plugin), the output has exactly one line per id, and the
texts (and usage) equal those of a live run over the same input. Batch costs are half.

Both run in memory against one mock app whose clock is the client's FakeClock, so the
jobs' ten seconds each pass in virtual time; the wall time is the encoding, decoding and
writing of 20,000 lines twice (it is printed: about 5-10 s a case on the project machine).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from batch.helpers import (
    MODELS,
    batch_client,
    mock_app,
    one_per_id,
    read_output,
    with_autojump,
    write_input,
)
from sluicegate.batch.run import BatchRunOptions, run_batch
from sluicegate.bulk.runner import RunOptions, run_file
from sluicegate.clock import FakeClock

pytestmark = pytest.mark.anyio

LINES = 20_000
PER_JOB = 1_000


@pytest.mark.parametrize("provider", ["mock", "anthropic"])
async def test_20000_lines_make_20_jobs_one_line_per_id_and_the_live_texts(
    tmp_path: Path, provider: str
) -> None:
    source, out, live_out = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "live.jsonl"
    ids = write_input(source, LINES, MODELS[provider])
    clock = FakeClock()
    app = mock_app(clock)

    started = time.perf_counter()
    outcome = await with_autojump(
        clock,
        run_batch,
        BatchRunOptions(output=out, input=source, progress="none"),
        client=batch_client(app, clock=clock, max_requests=PER_JOB),
    )
    batch_s = time.perf_counter() - started

    wire = "openai" if provider == "mock" else "anthropic"
    assert app.stats.snapshot()["batches"][wire]["created"] == LINES // PER_JOB
    assert outcome.jobs_created == LINES // PER_JOB == len(outcome.jobs)
    assert [job.count for job in outcome.jobs] == [PER_JOB] * (LINES // PER_JOB)
    assert all(job.collected and job.provider == provider for job in outcome.jobs)
    assert outcome.exit_code == 0
    batch = one_per_id(read_output(out))
    assert sorted(batch) == ids

    started = time.perf_counter()
    async with batch_client(app, clock=clock) as client:
        live_outcome = await run_file(
            RunOptions(input=source, output=live_out, concurrency=64, progress="none"),
            client=client,
        )
    live_s = time.perf_counter() - started
    assert live_outcome.exit_code == 0
    live = one_per_id(read_output(live_out))
    assert sorted(live) == ids

    assert {i: r["response"]["text"] for i, r in batch.items()} == {
        i: r["response"]["text"] for i, r in live.items()
    }
    assert {i: r["usage"] for i, r in batch.items()} == {i: r["usage"] for i, r in live.items()}
    assert {i: r["line"] for i, r in batch.items()} == {i: r["line"] for i, r in live.items()}
    batch_cost = sum(r["cost"] for r in batch.values())
    live_cost = sum(r["cost"] for r in live.values())
    assert batch_cost == pytest.approx(live_cost / 2)
    assert outcome.live_cost == pytest.approx(live_cost)
    print(f"\n{provider}: batch run {batch_s:.1f} s, live run {live_s:.1f} s for {LINES:,} lines")
