"""The batch run around its state file and input: ids already in the output are skipped
(whichever mode wrote them), lines held by recorded jobs are not submitted again, an
input changed under running jobs is refused, bad lines are reported as a live run reports
them, each OpenAI job holds one model, and a provider without a batch API is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batch.helpers import (
    MODELS,
    TEST_KEY,
    batch_client,
    mock_app,
    one_per_id,
    read_output,
    with_autojump,
    write_input,
)
from sluicegate import BadInputError
from sluicegate.batch.run import BatchRunOptions, run_batch
from sluicegate.bulk.runner import RunOptions, run_file
from sluicegate.clock import FakeClock
from sluicegate.errors import BatchUnsupportedError

pytestmark = pytest.mark.anyio

USER_X = {"role": "user", "content": "x"}


async def test_ids_already_in_the_output_are_skipped_and_held_lines_not_resubmitted(
    tmp_path: Path,
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 1500, MODELS["anthropic"])
    clock = FakeClock()
    app = mock_app(clock)
    live_part = tmp_path / "first.jsonl"
    live_part.write_text("".join(source.read_text().splitlines(keepends=True)[:300]))
    async with batch_client(app, clock=clock) as client:  # a live run did the first 300
        await run_file(RunOptions(input=live_part, output=out, progress="none"), client=client)
    assert len(read_output(out)) == 300

    submitted = await with_autojump(
        clock,
        run_batch,
        BatchRunOptions(output=out, input=source, action="submit", progress="none"),
        client=batch_client(app, clock=clock),
    )
    assert [job.count for job in submitted.jobs] == [1000, 200]
    assert submitted.jobs[0].lines == [[301, 1300, submitted.jobs[0].lines[0][2]]]
    assert submitted.stats.skipped == 300
    again = await with_autojump(
        clock,
        run_batch,
        BatchRunOptions(output=out, input=source, progress="none"),
        client=batch_client(app, clock=clock),
    )
    assert again.jobs_created == 0 and again.jobs_reattached == 2 and again.exit_code == 0
    assert app.stats.snapshot()["batches"]["anthropic"]["items_submitted"] == 1200
    records = one_per_id(read_output(out))
    assert sorted(records) == ids
    state = (tmp_path / "out.jsonl.batches.json").read_text()
    assert TEST_KEY not in state + out.read_text()


async def test_an_input_changed_under_running_jobs_is_refused(tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 50, MODELS["mock"])
    clock = FakeClock()
    app = mock_app(clock)
    options = BatchRunOptions(output=out, input=source, action="submit", progress="none")
    await with_autojump(clock, run_batch, options, client=batch_client(app, clock=clock))
    with source.open("a") as stream:
        stream.write(json.dumps({"id": "late", "prompt": "p", "model": "mock/fast"}) + "\n")
    with pytest.raises(BadInputError, match="input changed since its batch jobs"):
        await with_autojump(clock, run_batch, options, client=batch_client(app, clock=clock))
    other = tmp_path / "other.jsonl"
    write_input(other, 5, MODELS["mock"])
    with pytest.raises(BadInputError, match="hold lines of"):
        await run_batch(
            BatchRunOptions(output=out, input=other, progress="none"),
            client=batch_client(app, clock=clock),
        )


async def test_bad_lines_are_reported_as_in_a_live_run_and_each_job_holds_one_model(
    tmp_path: Path,
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [
        {"id": "a", "prompt": "one", "model": "mock/fast"},
        {"id": "b", "prompt": "two", "model": "mock/smart"},
        {"id": "c", "prompt": "three", "model": "mock/fast", "max_token": 3},
        {"id": "a", "prompt": "again", "model": "mock/fast"},
        {
            "custom_id": "d",
            "body": {"model": "smart", "messages": [{"role": "user", "content": "x"}]},
        },
    ]
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    clock = FakeClock()
    app = mock_app(clock)
    outcome = await with_autojump(
        clock,
        run_batch,
        BatchRunOptions(output=out, input=source, model="mock/fast", progress="none"),
        client=batch_client(app, clock=clock),
    )
    assert sorted(one_per_id(read_output(out))) == ["a", "b", "d"]
    assert [job.count for job in outcome.jobs] == [1, 2]  # mock/fast, then mock/smart
    bad = [json.loads(x) for x in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [b["line"] for b in bad] == [3, 4, 6]
    assert "max_token" in bad[0]["error"] and "duplicate id" in bad[1]["error"]
    assert outcome.stats.bad_lines == 3 and outcome.exit_code == 1


async def test_a_provider_without_a_batch_api_stops_the_run_with_a_config_error(
    tmp_path: Path,
) -> None:
    from batch.test_client_batches import NoBatchPlugin

    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_input(source, 3, "acme/model")
    app = mock_app()
    with pytest.raises(BatchUnsupportedError, match="provider 'acme'"):
        await run_batch(
            BatchRunOptions(output=out, input=source, progress="none"),
            client=batch_client(app, plugins=[NoBatchPlugin()]),
        )
    assert not (tmp_path / "out.jsonl.batches.json").exists()


async def test_collect_writes_the_jobs_that_ended_and_leaves_the_others(tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 30, MODELS["mock"])
    clock = FakeClock()
    app = mock_app(clock, batch_seconds=100)
    await run_batch(
        BatchRunOptions(output=out, input=source, action="submit", progress="none"),
        client=batch_client(app, clock=clock, max_requests=20),
    )
    clock.advance(50)
    early = await run_batch(
        BatchRunOptions(output=out, action="collect", progress="none"),
        client=batch_client(app, clock=clock),
    )
    assert early.jobs_collected == 0 and len(early.unfinished_jobs) == 2
    assert not out.exists() or not read_output(out)
    clock.advance(60)
    late = await run_batch(
        BatchRunOptions(output=out, action="collect", progress="none"),
        client=batch_client(app, clock=clock),
    )
    assert late.jobs_collected == 2 and not late.unfinished_jobs
    assert sorted(one_per_id(read_output(out))) == ids


@pytest.mark.parametrize("provider", ["mock", "anthropic"])
async def test_cancel_keeps_what_finished_and_a_later_run_submits_the_rest(
    tmp_path: Path, provider: str
) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_input(source, 400, MODELS[provider])
    clock = FakeClock()
    app = mock_app(clock, batch_seconds=100)
    await run_batch(
        BatchRunOptions(output=out, input=source, action="submit", progress="none"),
        client=batch_client(app, clock=clock, max_requests=200),
    )
    clock.advance(50)  # the jobs are about half-way through their items
    cancelled = await with_autojump(
        clock,
        run_batch,
        BatchRunOptions(output=out, action="cancel", progress="none"),
        client=batch_client(app, clock=clock),
    )
    wire = "openai" if provider == "mock" else "anthropic"
    batches = app.stats.snapshot()["batches"][wire]
    written = one_per_id(read_output(out))
    assert 100 < len(written) < 300 and all("response" in r for r in written.values())
    assert batches["items_canceled"] == 400 - len(written)
    assert cancelled.fates["canceled"] == 400 - len(written)
    assert {job.state for job in cancelled.jobs} == {"cancelled"}
    assert all(job.collected for job in cancelled.jobs) and cancelled.exit_code == 0

    rerun = await with_autojump(
        clock,
        run_batch,
        BatchRunOptions(output=out, input=source, progress="none"),
        client=batch_client(app, clock=clock, max_requests=200),
    )
    assert rerun.jobs_created == 1 and rerun.stats.skipped == len(written)
    assert sorted(one_per_id(read_output(out))) == ids
    assert app.stats.snapshot()["batches"][wire]["ids_answered_more_than_once"] == 0
