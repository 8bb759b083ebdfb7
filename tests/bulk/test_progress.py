"""Progress on stderr: the rich bar on a terminal, plain lines otherwise, and the exit
status a run's outcome maps to."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from sluicegate.bulk.availability import Wait
from sluicegate.bulk.progress import BarProgress, NoProgress, PlainProgress, make_progress
from sluicegate.bulk.stats import PendingStats, RunStats
from sluicegate.bulk.summary import RunOutcome


def stats() -> RunStats:
    return RunStats(total_lines=100, already_done=10, sent=40, written=30, failed=2, bad_lines=3)


def test_plain_progress_writes_a_line_with_the_counts() -> None:
    stream = io.StringIO()
    progress = PlainProgress(stream, interval_s=0.0)
    progress.start()
    progress.update(stats())
    line = stream.getvalue()
    assert "33/90 lines, 2 failed, 3 bad, 10 in flight" in line


def test_the_bar_draws_the_counts_on_a_terminal() -> None:
    out = io.StringIO()
    bar = BarProgress(Console(file=out, force_terminal=True, width=120))
    bar.start()
    bar.update(stats())
    bar.stop()
    text = out.getvalue()
    assert "33/90" in text and "28 ok" in text and "5 failed" in text and "10 in flight" in text


def test_progress_of_a_streamed_input_counts_lines_and_a_rate_without_a_total() -> None:
    streamed = RunStats(total_lines=40, sent=40, written=30, failed=2, bad_lines=3, streamed=True)
    stream = io.StringIO()
    progress = PlainProgress(stream, interval_s=0.0)
    progress.start()
    progress.update(streamed)
    line = stream.getvalue()
    assert "sluicegate run: 33 lines (" in line and " lines/s), 2 failed" in line
    assert "/40" not in line and "/33" not in line

    out = io.StringIO()
    bar = BarProgress(Console(file=out, force_terminal=True, width=120), streamed=True)
    bar.start()
    bar.update(streamed)
    bar.stop()
    text = out.getvalue()
    assert "33 lines (" in text and "lines/s" in text and "28 ok" in text
    assert "/40" not in text and "ETA" not in text


def test_auto_mode_picks_by_terminal() -> None:
    assert isinstance(make_progress("auto", io.StringIO()), PlainProgress)
    assert isinstance(make_progress("none", io.StringIO()), NoProgress)


def outcome(run: RunStats, *, interrupted: bool = False, stopped: str | None = None) -> RunOutcome:
    return RunOutcome(run, Path("o.jsonl"), None, interrupted, stopped, "sluicegate run", 1.0)


def test_exit_status_says_how_the_run_ended() -> None:
    assert outcome(RunStats(written=5)).exit_code == 0
    assert outcome(RunStats(written=5, failed=1)).exit_code == 1
    assert outcome(RunStats(written=5, bad_lines=1)).exit_code == 1
    assert outcome(RunStats(), stopped="the budget is spent").exit_code == 3
    assert outcome(RunStats(), interrupted=True).exit_code == 130
    pending = {"openai/m": PendingStats(given_up=2)}
    assert outcome(RunStats(written=5, failed=1, pending=pending)).exit_code == 75
    assert outcome(RunStats(pending=pending), stopped="the budget is spent").exit_code == 3
    assert outcome(RunStats(pending=pending), interrupted=True).exit_code == 130


def test_plain_progress_says_at_once_what_a_model_waits_for() -> None:
    stream = io.StringIO()
    progress = PlainProgress(stream, interval_s=3600.0)
    progress.start()
    run = stats()
    wait = Wait("openai/m", "circuit open after 20 of 20 calls failed", "probing", 112.0)
    run.waits, run.now = (wait,), 100.0
    progress.update(run)
    progress.update(run)  # the same wait: no second line
    assert stream.getvalue() == (
        "sluicegate run: waiting: openai/m: circuit open after 20 of 20 calls failed, "
        "probing in 12 s\n"
    )
