"""Mock batch jobs, provider-neutral: :class:`BatchJob` (where a job is, read lazily from
the clock) and :class:`BatchJobs` (one provider's jobs, in creation order, with the
cursor paging both APIs use).

The wire shapes live in :mod:`~sluicegate.testing.mock_openai_batch` and
:mod:`~sluicegate.testing.mock_anthropic_batch`; the phases in
:mod:`~sluicegate.testing.mock_batch_timeline`; the items in
:mod:`~sluicegate.testing.mock_batch_items`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal

from sluicegate.testing.faults import Provider
from sluicegate.testing.mock_batch_items import BatchItems, Outcome, item_outcome
from sluicegate.testing.mock_batch_stats import BatchStats
from sluicegate.testing.mock_batch_timeline import Timeline

if TYPE_CHECKING:
    from sluicegate.testing.mock_config import MockConfig

__all__ = [
    "BATCH_OUTCOME_HEADER",
    "BatchJob",
    "BatchJobs",
    "JobEnd",
    "JobMark",
    "Phase",
    "draw_outcomes",
    "parse_job_mark",
    "rfc3339",
]

BATCH_OUTCOME_HEADER = "x-mock-batch-outcome"
"""Header on a batch create request that decides the whole job: ``fail`` or ``expire``
(or ``ok``). Without it, ``MockConfig.batch_failure_rate`` decides."""

JobMark = Literal["ok", "fail", "expire"]


def parse_job_mark(value: str | None) -> JobMark | None:
    """The header's value, or None when absent; raises ValueError for anything else."""
    if value is None:
        return None
    name = value.strip().lower()
    if name in ("ok", "fail", "expire"):
        return name  # type: ignore[return-value]  # narrowed by the membership test
    raise ValueError(f"{BATCH_OUTCOME_HEADER} must be ok, fail or expire, not {value!r}")


class Phase(Enum):
    VALIDATING = "validating"
    IN_PROGRESS = "in_progress"
    FINALIZING = "finalizing"
    CANCELLING = "cancelling"
    ENDED = "ended"


class JobEnd(Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    """OpenAI only: rejected at validation (bad input, limits) or failed as a whole."""
    EXPIRED = "expired"
    CANCELLED = "cancelled"


def rfc3339(epoch_s: float) -> str:
    """``2025-01-01T00:00:00.000000Z``, as Anthropic writes times."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True, eq=False)
class BatchJob:
    """One job. Every time is in seconds since creation on the mock's clock, except
    ``created_wall`` (Unix seconds, what the wire shows)."""

    provider: Provider
    id: str
    serial: int
    created_clock: float
    created_wall: float
    timeline: Timeline
    items: BatchItems
    mark: JobMark = "ok"
    rejected: list[dict[str, Any]] | None = None
    """OpenAI validation errors (``errors.data``); the job fails at validation."""
    model: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """Provider-specific fields kept as given (endpoint, input_file_id, metadata...)."""
    cancelled_at: float | None = None
    settled: bool = False
    """Whether its items were counted in the stats (done once, when first seen ended)."""
    output_file_id: str | None = None
    error_file_id: str | None = None
    usage: tuple[int, int] | None = None
    """Input and output tokens of the succeeded items, once the job has ended."""

    @property
    def fails_early(self) -> bool:
        """OpenAI jobs that end at validation: rejected input or a failing job."""
        return self.provider == "openai" and (self.rejected is not None or self.mark == "fail")

    @property
    def all_errored(self) -> bool:
        """Anthropic jobs that fail as a whole: every processed item is ``errored``."""
        return self.provider == "anthropic" and self.mark == "fail"

    def ends_at(self) -> float:
        if self.cancelled_at is not None:
            return self.timeline.cancel_ends_at(self.cancelled_at)
        if self.fails_early:
            return self.timeline.validated_at
        return self.timeline.duration

    def cut_at(self) -> float:
        """When processing stops (items processed later are never processed)."""
        cut = self.timeline.processed_at
        if self.mark == "expire":
            cut = min(cut, self.timeline.halfway)
        if self.cancelled_at is not None:
            cut = min(cut, self.cancelled_at)
        return cut

    def processed(self, elapsed: float) -> int:
        """Items processed by ``elapsed``."""
        if self.fails_early:
            return 0
        return self.timeline.processed(min(elapsed, self.cut_at()))

    def phase(self, elapsed: float) -> Phase:
        if elapsed >= self.ends_at():
            return Phase.ENDED
        if self.cancelled_at is not None:
            return Phase.CANCELLING
        if elapsed < self.timeline.validated_at:
            return Phase.VALIDATING
        if elapsed < self.timeline.processed_at or self.mark == "expire":
            return Phase.IN_PROGRESS
        return Phase.FINALIZING

    def end(self) -> JobEnd:
        """How the job ends (or will end, as things stand)."""
        if self.cancelled_at is not None:
            return JobEnd.CANCELLED
        if self.fails_early:
            return JobEnd.FAILED
        if self.mark == "expire":
            return JobEnd.EXPIRED
        return JobEnd.COMPLETED

    def unprocessed_reason(self) -> Literal["canceled", "expired"]:
        """What the items never processed become."""
        if self.cancelled_at is not None and (
            self.mark != "expire" or self.cancelled_at < self.timeline.halfway
        ):
            return "canceled"
        return "expired"

    def wall(self, elapsed: float) -> float:
        """Unix time of a moment ``elapsed`` seconds after creation."""
        return self.created_wall + elapsed

    def settle(self, stats: BatchStats) -> None:
        """Count the items of an ended job in ``stats``, once."""
        if self.settled:
            return
        self.settled = True
        provider = self.provider
        items = self.items
        done = self.processed(self.ends_at())
        unprocessed = len(items) - done
        if self.fails_early:
            return  # nothing was processed and nothing is reported per item
        if self.all_errored:
            stats.items_failed[provider] += done
        else:
            answered = stats.answered[provider]
            for i in range(done):
                outcome = items.outcomes[i]
                if outcome == Outcome.SUCCEEDED:
                    answered[items.custom_ids[i]] += 1
                elif outcome == Outcome.EXPIRED:
                    stats.items_expired[provider] += 1
                else:
                    stats.items_failed[provider] += 1
            succeeded = items.count(Outcome.SUCCEEDED, done)
            stats.items_succeeded[provider] += succeeded
            inputs, outputs = items.tokens_of_succeeded(done)
            stats.input_tokens[provider] += inputs
            stats.output_tokens[provider] += outputs
        if self.unprocessed_reason() == "canceled":
            stats.items_canceled[provider] += unprocessed
        else:
            stats.items_expired[provider] += unprocessed


def draw_outcomes(
    items: BatchItems, config: MockConfig, stats: BatchStats, provider: Provider
) -> None:
    """Count each item's submission and draw its injected outcome (for a valid request
    only: an invalid one stays invalid, as its live call would)."""
    failure, expiry = config.batch_item_failure_rate, config.batch_item_expiry_rate
    for index, custom_id in enumerate(items.custom_ids):
        attempt = stats.count_submission(provider, custom_id)
        if items.outcomes[index] == Outcome.SUCCEEDED:
            items.outcomes[index] = item_outcome(
                config.batch_seed, provider, custom_id, attempt, failure, expiry
            )


OnEnd = Callable[[BatchJob, float], None]
"""Called once when a job is first seen ended, with the elapsed time it was seen at."""


class BatchJobs:
    """One provider's jobs, oldest first. ``clock`` gives the mock's time; ``on_end``
    lets the provider make its result files when a job ends."""

    def __init__(self, stats: Callable[[], BatchStats], now: Callable[[], float]) -> None:
        self._jobs: dict[str, BatchJob] = {}
        self._stats = stats
        self._now = now
        self.on_end: OnEnd | None = None

    def add(self, job: BatchJob) -> None:
        self._jobs[job.id] = job

    def get(self, job_id: str) -> BatchJob | None:
        return self._jobs.get(job_id)

    def remove(self, job_id: str) -> None:
        self._jobs.pop(job_id, None)

    def __len__(self) -> int:
        return len(self._jobs)

    def elapsed(self, job: BatchJob) -> float:
        """Seconds since ``job`` was created, after settling it if it has ended."""
        elapsed = self._now() - job.created_clock
        if not job.settled and elapsed >= job.ends_at():
            job.settle(self._stats())
            if self.on_end is not None:
                self.on_end(job, elapsed)
        return elapsed

    def refresh(self) -> None:
        """Look at every job, so the ended ones are counted."""
        for job in list(self._jobs.values()):
            self.elapsed(job)

    def page(
        self, after: str | None, before: str | None, limit: int
    ) -> tuple[list[BatchJob], bool]:
        """Newest first, as both APIs list: up to ``limit`` jobs older than ``after`` (or
        newer than ``before``), and whether there are more in that direction."""
        newest_first = list(reversed(self._jobs.values()))
        if after is not None:
            index = next((i for i, j in enumerate(newest_first) if j.id == after), None)
            if index is None:
                return [], False
            rest = newest_first[index + 1 :]
            return rest[:limit], len(rest) > limit
        if before is not None:
            index = next((i for i, j in enumerate(newest_first) if j.id == before), None)
            if index is None:
                return [], False
            rest = newest_first[:index]
            return rest[-limit:], len(rest) > limit
        return newest_first[:limit], len(newest_first) > limit

    def __iter__(self) -> Iterator[BatchJob]:
        return iter(self._jobs.values())
