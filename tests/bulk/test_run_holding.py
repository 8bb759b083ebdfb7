"""``sluicegate run`` through outages, in virtual time against a fake server whose
failures follow the client's clock: a 60-second outage and a 429 storm end with every id
answered and no error line; a model asking for a day's wait ends the run at once with its
lines pending (exit 75), and the next run sends exactly those."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from rich.console import Console

from limits.virtual_time import VirtualClock
from sluicegate import Client, RetryPolicy
from sluicegate.bulk import runner
from sluicegate.bulk.runner import RunOptions, run_file
from sluicegate.bulk.summary import EXIT_PENDING, RunOutcome, render_summary
from sluicegate.cli import main

from .outage import OutageServer, outage_client

pytestmark = pytest.mark.anyio

MODEL = "openai/m"
IDS = [f"r{i}" for i in range(60)]


def write_input(path: Path, ids: list[str], model: str = MODEL) -> Path:
    path.write_text(
        "".join(
            json.dumps({"id": i, "prompt": f"question {i}", "model": model, "max_tokens": 5}) + "\n"
            for i in ids
        )
    )
    return path


def read_output(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def run_virtual(
    options: RunOptions, client: Client, clock: VirtualClock
) -> tuple[RunOutcome, str, float]:
    """The run, the plain progress it wrote, and the virtual seconds it took."""
    stream = io.StringIO()
    started = clock.now()
    async with anyio.create_task_group() as group:
        group.start_soon(clock.run)
        outcome = await run_file(options, client=client, progress_stream=stream)
        group.cancel_scope.cancel()
    return outcome, stream.getvalue(), clock.now() - started


def summary_text(outcome: RunOutcome) -> str:
    out = io.StringIO()
    render_summary(outcome, Console(file=out, width=200))
    return out.getvalue()


@pytest.mark.parametrize(
    ("status", "headers"),
    [(503, {}), (429, {}), (429, {"retry-after": "7"})],
    ids=["503-outage", "429-storm", "429-storm-retry-after"],
)
async def test_a_60_second_outage_ends_with_every_id_answered_and_no_error_line(
    tmp_path: Path, status: int, headers: dict[str, str]
) -> None:
    clock = VirtualClock()
    server = OutageServer(clock, clock.now(), clock.now() + 60, status=status, headers=headers)
    source = write_input(tmp_path / "in.jsonl", IDS)
    out = tmp_path / "out.jsonl"
    options = RunOptions(input=source, output=out, concurrency=8, progress="plain")
    outcome, progress, elapsed = await run_virtual(options, outage_client(server, clock), clock)
    records = read_output(out)
    assert [r for r in records if "error" in r] == []
    assert sorted(r["id"] for r in records) == sorted(IDS)  # each once
    assert outcome.exit_code == 0 and outcome.pending == 0
    assert server.failed > 0 and elapsed >= 60  # it really went through the outage
    assert set(server.answered) == set(IDS) and max(server.answered.values()) == 1
    assert f"waiting: {MODEL}: " in progress  # the plain display said what it waited for
    if status == 503:
        assert "circuit open" in progress and "probing in" in progress
    else:
        assert "rate limited" in progress and "retrying in" in progress


async def test_a_day_long_retry_after_leaves_the_lines_pending_and_a_rerun_sends_exactly_those(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    other = "openai/other"
    down = OutageServer(
        clock,
        clock.now(),
        float("inf"),
        status=429,
        headers={"retry-after": "86400"},
        models=frozenset({"m"}),
    )
    source = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": i, "prompt": f"question {i}", "model": MODEL if n % 3 else other})
        for n, i in enumerate(IDS)
    ]
    source.write_text("".join(line + "\n" for line in lines))
    on_other = {i for n, i in enumerate(IDS) if n % 3 == 0}
    out = tmp_path / "out.jsonl"
    options = RunOptions(
        input=source,
        output=out,
        concurrency=8,
        progress="plain",
        resume_command="sluicegate run in.jsonl -o out.jsonl",
    )
    outcome, progress, elapsed = await run_virtual(options, outage_client(down, clock), clock)
    # the server's wait is beyond the patience: given up at once, not waited for (the
    # chain itself may still spend its own retries, at most 60 s each, before)
    assert elapsed < options.patience - 60  # type: ignore[operator]
    assert outcome.exit_code == EXIT_PENDING == 75
    records = read_output(out)
    assert {r["id"] for r in records} == on_other and all("response" in r for r in records)
    assert outcome.pending == len(IDS) - len(on_other)
    text = summary_text(outcome)
    assert f"{outcome.pending} lines pending" in text
    # the wait as the chain reports it (Retry-After parsing may cap a day at an hour)
    wait = re.compile(r"the server asked to wait (86,400|3,600) s")
    assert f"{MODEL}: {outcome.pending}" in text and wait.search(text) and "patience" in text
    assert "again to send them" in text and "sluicegate run in.jsonl -o out.jsonl" in text
    assert f"waiting: {MODEL}: given up" in progress and wait.search(progress)

    # the server recovers: the same command sends exactly the pending ids, once each
    clock2 = VirtualClock()
    up = OutageServer(clock2, 0.0, 0.0)
    outcome2, _, _ = await run_virtual(options, outage_client(up, clock2), clock2)
    assert outcome2.exit_code == 0 and outcome2.pending == 0
    assert set(up.sent) == set(IDS) - on_other and max(up.sent.values()) == 1
    final = read_output(out)
    assert sorted(r["id"] for r in final) == sorted(IDS) and all("response" in r for r in final)


async def test_a_poison_line_is_pending_after_three_rounds_while_the_rest_is_answered(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    server = OutageServer(clock, 0.0, 0.0, poison=frozenset({"r5"}), latency=0.5)
    source = write_input(tmp_path / "in.jsonl", IDS)
    out = tmp_path / "out.jsonl"
    options = RunOptions(input=source, output=out, concurrency=2, progress="none")
    client = outage_client(server, clock, stage_settings={"retry": False, "breaker": False})
    outcome, _, _ = await run_virtual(options, client, clock)
    assert outcome.exit_code == EXIT_PENDING
    assert sorted(r["id"] for r in read_output(out)) == sorted(set(IDS) - {"r5"})
    assert server.sent["r5"] == 4  # the first failure, then three rounds
    assert outcome.stats.pending[MODEL].poison == 1
    assert "kept failing while the model answered other lines" in summary_text(outcome)


def test_the_cli_exits_75_naming_the_model_and_the_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the real clock: the chain retries at once (max_retry_after=0), so the day-long
    wait is reported within moments."""
    from sluicegate.clock import AnyioClock

    def build(options: RunOptions, spent: float = 0.0) -> Client:
        server = OutageServer(
            AnyioClock(), 0.0, float("inf"), status=429, headers={"retry-after": "86400"}
        )
        server.latency = 0.0
        retry = RetryPolicy(max_retry_after=0)
        return outage_client(server, AnyioClock(), stage_settings={"retry": retry})

    monkeypatch.setattr(runner, "build_client", build)
    source = write_input(tmp_path / "in.jsonl", IDS[:10])
    out = tmp_path / "out.jsonl"
    argv = ["run", str(source), "-o", str(out), "--no-progress", "--patience", "120"]
    result = CliRunner().invoke(main, argv, catch_exceptions=False)
    assert result.exit_code == 75, result.output
    assert "10 lines pending" in result.output
    assert MODEL in result.output
    assert re.search(r"the server asked to wait (86,400|3,600) s", result.output)
    assert "--patience 120" in result.output  # the command to run again keeps it
    assert not out.exists() or out.read_text() == ""


def test_help_documents_patience_and_exit_status_75() -> None:
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    assert "--patience" in result.output and "75" in result.output


async def test_a_streamed_input_rides_an_outage_in_one_pass_with_its_lines_held(
    tmp_path: Path,
) -> None:
    """A FIFO can be read only once: the lines of the paused model are held by the map
    (not deferred to a second pass that could not read them), and every id is answered."""
    import os
    import threading

    clock = VirtualClock()
    server = OutageServer(clock, clock.now(), clock.now() + 60, status=503)
    lines = write_input(tmp_path / "lines.jsonl", IDS).read_bytes()
    fifo = tmp_path / "in.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as writer:  # opens once the run opens the read end
            writer.write(lines)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    out = tmp_path / "out.jsonl"
    options = RunOptions(input=fifo, output=out, concurrency=8, progress="none")
    outcome, _, elapsed = await run_virtual(options, outage_client(server, clock), clock)
    feeder.join(5)
    records = read_output(out)
    assert [r for r in records if "error" in r] == []
    assert sorted(r["id"] for r in records) == sorted(IDS)
    assert outcome.exit_code == 0 and outcome.pending == 0
    assert outcome.stats.passes == 1 and outcome.stats.deferred == 0
    assert outcome.stats.streamed and outcome.stats.total_lines == len(IDS)
    assert server.failed > 0 and elapsed >= 60
