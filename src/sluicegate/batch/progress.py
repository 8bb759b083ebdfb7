"""The progress of a batch run on stderr, from the providers' own request counts.

A job reports how many of its requests are answered or failed while it runs; the bar
sums them over every job of the run (those of earlier, killed processes included, once
reattached): requests done of all submitted, jobs ended of all, lines written, failures
and the cost so far. As for a live run: a rich bar on a terminal, a plain line every few
seconds otherwise, nothing with ``--no-progress``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from sluicegate.batch.api import BatchJob
from sluicegate.bulk.progress import NoProgress, PlainProgress, display_mode, format_cost
from sluicegate.bulk.stats import RunStats

__all__ = ["BatchProgress", "BatchView", "make_batch_progress"]


@dataclass(slots=True)
class BatchView:
    """What the display shows: the jobs as last polled, and the run's counters."""

    stats: RunStats
    jobs: dict[tuple[str, str], BatchJob] = field(default_factory=dict)
    phase: str = "submitting"

    def note(self, job: BatchJob) -> None:
        self.jobs[(job.provider, job.id)] = job

    @property
    def requests(self) -> int:
        return sum(job.counts.total for job in self.jobs.values())

    @property
    def requests_done(self) -> int:
        return sum(min(job.counts.done, job.counts.total) for job in self.jobs.values())

    @property
    def requests_failed(self) -> int:
        return sum(job.counts.failed for job in self.jobs.values())

    @property
    def jobs_ended(self) -> int:
        return sum(1 for job in self.jobs.values() if job.terminal)


class BatchProgress(Protocol):
    def start(self) -> None: ...
    def update(self, view: BatchView) -> None: ...
    def stop(self) -> None: ...


def _batch_line(view: BatchView, elapsed_s: float) -> str:
    stats = view.stats
    return (
        f"sluicegate batch: {view.phase}; {view.jobs_ended}/{len(view.jobs)} jobs ended, "
        f"{view.requests_done}/{view.requests} requests done ({view.requests_failed} "
        f"failed), {stats.written} lines written, "
        f"{format_cost(stats.cost, stats.unpriced)}, {elapsed_s:.0f} s"
    )


class _BarProgress:
    def __init__(self, console: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        self._bar = RichProgress(
            TextColumn("{task.fields[phase]}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TextColumn(
                "requests, {task.fields[jobs]} jobs ended, [green]{task.fields[written]} "
                "written[/] [red]{task.fields[failed]} failed[/] {task.fields[cost]}"
            ),
            TimeElapsedColumn(),
            console=console,
            refresh_per_second=4,
            transient=False,
        )
        self._task: Any = None

    def start(self) -> None:
        self._task = self._bar.add_task(
            "batch", total=None, phase="submitting", jobs="0/0", written=0, failed=0, cost="$0"
        )
        self._bar.start()

    def update(self, view: BatchView) -> None:
        stats = view.stats
        self._bar.update(
            self._task,
            total=view.requests or None,
            completed=view.requests_done,
            phase=view.phase,
            jobs=f"{view.jobs_ended}/{len(view.jobs)}",
            written=stats.written,
            failed=stats.failed + stats.bad_lines,
            cost=format_cost(stats.cost, stats.unpriced),
        )

    def stop(self) -> None:
        self._bar.stop()


def make_batch_progress(mode: str, stream: IO[str]) -> BatchProgress:
    """``mode``: ``"auto"`` (a bar on a terminal, plain lines otherwise), ``"bar"``,
    ``"plain"`` or ``"none"``."""
    mode = display_mode(mode, stream)
    if mode == "none":
        return NoProgress()
    if mode == "bar":
        from rich.console import Console

        return _BarProgress(Console(file=stream))
    return PlainProgress(stream, line=_batch_line)
