"""Watching jobs: poll their status with exponential backoff and full jitter, never faster
than the provider allows, and report each change.

A job takes minutes to hours. Polling at a fixed short interval wastes requests (and
counts against the provider's rate limits); polling at a fixed long one collects late.
So each provider's jobs are polled on a schedule that starts at the provider's minimum
interval and grows exponentially up to its maximum, each wait drawn with full jitter
(uniform below the current ceiling, as :mod:`sluicegate.retry.backoff` does for retries) and
never below the minimum: a run of many processes does not poll in lock-step, and no
draw polls faster than the provider allows. A job added later (a resubmission) starts
its provider's schedule again from the minimum.

Time is the client's injected clock and the draws its rng, so tests run hours of polling
in virtual time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Self

import anyio

from sluicegate.batch.api import BatchApi, BatchJob, BatchLimits
from sluicegate.clock import Clock
from sluicegate.retry.backoff import Backoff

__all__ = ["JobWatch", "PollSchedule", "poll_delay"]

_POLL_CONCURRENCY = 8
"""Status calls in flight at once for one provider's jobs."""


def poll_delay(limits: BatchLimits, poll: int, rng: random.Random) -> float:
    """The wait before poll number ``poll`` (1 for the first after a job was seen): a
    full-jitter draw below ``min·2^(poll-1)`` (capped at the maximum interval), raised to
    the minimum interval when it falls below it."""
    low, high = limits.min_poll_interval_s, limits.max_poll_interval_s
    if high <= 0:
        return 0.0
    draw = Backoff(max(low, 1e-3), high).delay(poll, rng)
    return max(low, draw)


@dataclass(slots=True)
class PollSchedule:
    """One provider's polling: when next, and how many polls since it was reset."""

    next_at: float
    polls: int = 0


class JobWatch:
    """``async for job in watch``: each job as it changes (state or counts), until every
    watched job is terminal. ``add(job)`` watches one more (also while iterating).

    Iterating sleeps on the clock between polls and polls each provider's unfinished jobs
    (a few at a time); it creates no task that outlives one ``__anext__``, so it can be
    left at any point, and cancelled by the caller's cancel scope.
    """

    def __init__(
        self,
        api_for: Callable[[str], BatchApi],
        jobs: Iterable[BatchJob],
        *,
        clock: Clock,
        rng: random.Random,
        poll_now: bool = True,
    ) -> None:
        self._api_for = api_for
        self._clock = clock
        self._rng = rng
        self._jobs: dict[tuple[str, str], BatchJob] = {}
        self._schedules: dict[str, PollSchedule] = {}
        self._ready: list[BatchJob] = []
        for job in jobs:
            self.add(job, poll_now=poll_now)

    def add(self, job: BatchJob, *, poll_now: bool = False) -> None:
        """Watch ``job``; ``poll_now`` asks for its status at once (a job found in a state
        file, whose last known state is old), else after the minimum interval."""
        self._jobs[(job.provider, job.id)] = job
        if job.terminal:
            self._ready.append(job)
            return
        limits = self._api_for(job.provider).limits
        at = self._clock.now() + (0.0 if poll_now else limits.min_poll_interval_s)
        schedule = self._schedules.get(job.provider)
        if schedule is None or at < schedule.next_at:
            self._schedules[job.provider] = PollSchedule(at)
        else:
            schedule.polls = 0

    @property
    def jobs(self) -> list[BatchJob]:
        """Every watched job as last seen."""
        return list(self._jobs.values())

    @property
    def unfinished(self) -> int:
        return sum(1 for job in self._jobs.values() if not job.terminal)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> BatchJob:
        while not self._ready:
            pending = {p for (p, _), job in self._jobs.items() if not job.terminal}
            if not pending:
                raise StopAsyncIteration
            provider = min(pending, key=lambda p: self._schedule(p).next_at)
            schedule = self._schedule(provider)
            await self._clock.sleep(schedule.next_at - self._clock.now())
            await self._poll(provider)
            schedule.polls += 1
            limits = self._api_for(provider).limits
            schedule.next_at = self._clock.now() + poll_delay(limits, schedule.polls, self._rng)
        return self._ready.pop(0)

    def _schedule(self, provider: str) -> PollSchedule:
        schedule = self._schedules.get(provider)
        if schedule is None:
            schedule = self._schedules[provider] = PollSchedule(self._clock.now())
        return schedule

    async def _poll(self, provider: str) -> None:
        api = self._api_for(provider)
        todo = [job for (p, _), job in self._jobs.items() if p == provider and not job.terminal]
        limiter = anyio.CapacityLimiter(_POLL_CONCURRENCY)
        seen: dict[str, BatchJob] = {}
        failures: list[Exception] = []

        async def poll_one(job: BatchJob) -> None:
            async with limiter:
                try:
                    seen[job.id] = await api.retrieve(job.id)
                except Exception as exc:  # raised below as itself, not in an ExceptionGroup
                    failures.append(exc)

        async with anyio.create_task_group() as group:
            for job in todo:
                group.start_soon(poll_one, job)
        if failures:
            raise failures[0]
        for old in todo:  # in the order they were added, whatever order they answered in
            new = seen[old.id]
            self._jobs[(provider, old.id)] = new
            if new.state != old.state or new.counts != old.counts:
                self._ready.append(new)
