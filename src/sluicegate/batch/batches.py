"""``client.batches``: provider batch jobs from Python.

.. code-block:: python

    async with sluicegate.Client() as client:
        requests = (
            client.request("openai/gpt-4o-mini", text, caller_id=f"doc-{i}")
            for i, text in enumerate(texts)
        )
        submitted = await client.batches.submit(requests)       # split by the limits
        async for job in client.batches.watch([s.job for s in submitted]):
            print(job.id, job.state, job.counts)                 # each change, polled
        for s in submitted:
            job = await client.batches.retrieve(s.job)
            async with client.batches.results(job) as outcomes:  # streamed, line by line
                async for outcome in outcomes:
                    print(outcome.custom_id, outcome.response or outcome.error)

Requests are read lazily and encoded into the job being filled, so a generator over a
large file is fine; the costs of batch answers are at the provider's batch price
(:meth:`Batches.price`). ``sluicegate run --mode batch`` builds on this, adding a state
file for reattaching, resubmission of failed items and the run's output file.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sluicegate.batch.api import (
    BatchApi,
    BatchApiSpec,
    BatchBinding,
    BatchJob,
    BatchLimits,
    RequestLookup,
    ResultStream,
)
from sluicegate.batch.planner import Chunk, ChunkPlanner
from sluicegate.batch.watch import JobWatch
from sluicegate.clock import Clock
from sluicegate.cost.prices import PriceTable
from sluicegate.cost.rates import cost_of
from sluicegate.errors import BatchUnsupportedError, ConfigError
from sluicegate.providers.base import BoundProvider
from sluicegate.types import Request, Response, Usage

__all__ = ["Batches", "LimitOverrides", "SubmittedJob"]

LimitOverrides = Mapping[str, "BatchLimits | Mapping[str, Any]"]
"""``Client(batch_limits=...)``: per provider name (``"*"`` for all), a whole
:class:`BatchLimits` or the fields to change (``{"max_requests": 1000}``)."""


@dataclass(frozen=True, slots=True)
class SubmittedJob:
    """A job :meth:`Batches.submit` created, with the custom ids of its items (in the
    order given) and their positions in the submitted stream."""

    job: BatchJob
    custom_ids: tuple[str, ...]
    positions: tuple[int, ...]


class Batches:
    """The batch APIs of an open client's providers (see the module docstring)."""

    def __init__(
        self,
        providers: Mapping[str, BoundProvider],
        specs: Iterable[BatchApiSpec],
        *,
        clock: Clock,
        rng: random.Random,
        prices: PriceTable,
        limits: LimitOverrides | None = None,
    ) -> None:
        self._providers = dict(providers)
        self._specs = {spec.kind: spec for spec in specs}  # a later plugin's spec wins
        self._clock = clock
        self._rng = rng
        self._prices = prices
        self._overrides = dict(limits or {})
        self._apis: dict[str, BatchApi] = {}

    def __repr__(self) -> str:
        return f"<Batches providers={self.providers}>"

    @property
    def providers(self) -> list[str]:
        """The configured providers that have a batch API."""
        return sorted(
            name for name, bound in self._providers.items() if bound.spec.name in self._specs
        )

    def supports(self, provider: str) -> bool:
        bound = self._providers.get(provider)
        return bound is not None and bound.spec.name in self._specs

    def api(self, provider: str) -> BatchApi:
        """The batch API of ``provider`` (built once); a
        :class:`~sluicegate.errors.BatchUnsupportedError` when it has none."""
        api = self._apis.get(provider)
        if api is not None:
            return api
        bound = self._providers.get(provider)
        if bound is None:
            known = ", ".join(sorted(self._providers)) or "none"
            raise ConfigError(f"unknown provider {provider!r} (known providers: {known})")
        spec = self._specs.get(bound.spec.name)
        if spec is None:
            raise BatchUnsupportedError(provider, bound.spec.name, ", ".join(self.providers))
        limits = self._limits(provider, spec.limits)
        try:
            api = spec.factory(BatchBinding(bound, limits, self._clock, self._rng))
        except Exception as exc:
            raise ConfigError(f"batch API of {provider!r} failed to build: {exc!r}") from exc
        self._apis[provider] = api
        return api

    def _limits(self, provider: str, default: BatchLimits) -> BatchLimits:
        limits = default
        for key in ("*", provider):
            override = self._overrides.get(key)
            if isinstance(override, BatchLimits):
                limits = override
            elif isinstance(override, Mapping):
                try:
                    limits = limits.replace(**override)
                except TypeError as exc:
                    raise ConfigError(f"batch_limits[{key!r}]: {exc}") from None
            elif override is not None:
                raise ConfigError(
                    f"batch_limits[{key!r}] must be a BatchLimits or a mapping of its fields, "
                    f"got {type(override).__name__}"
                )
        return limits

    # -- submitting -----------------------------------------------------------------------

    async def submit(
        self,
        requests: Iterable[Request] | AsyncIterable[Request],
        *,
        on_job: Callable[[SubmittedJob], Awaitable[None] | None] | None = None,
    ) -> list[SubmittedJob]:
        """Submit every request (each needs a ``caller_id``), split into jobs by provider,
        group and limits; ``on_job`` is called as each job is created (to record it
        before the next is submitted). Requests are read and encoded one at a time."""
        planner = ChunkPlanner()
        created: list[SubmittedJob] = []

        async def send(chunk: Chunk) -> None:
            job = await self.submit_chunk(chunk)
            submitted = SubmittedJob(job, tuple(chunk.custom_ids), tuple(chunk.refs))
            created.append(submitted)
            if on_job is not None:
                maybe = on_job(submitted)
                if maybe is not None:
                    await maybe

        position = 0
        if isinstance(requests, AsyncIterable):
            async for request in requests:
                full = planner.add(self.api(request.provider), request, position)
                position += 1
                if full is not None:
                    await send(full)
        else:
            for request in requests:
                full = planner.add(self.api(request.provider), request, position)
                position += 1
                if full is not None:
                    await send(full)
        for chunk in planner.flush():
            await send(chunk)
        return created

    async def submit_chunk(self, chunk: Chunk) -> BatchJob:
        """Create the job for one chunk from a :class:`~sluicegate.batch.planner.ChunkPlanner`."""
        return await self.api(chunk.provider).create(chunk.body, chunk.count)

    # -- jobs -----------------------------------------------------------------------------

    async def retrieve(self, job: BatchJob | str, provider: str | None = None) -> BatchJob:
        """A job's current state (by job, or by id and provider)."""
        job_id, name = _job_ref(job, provider)
        return await self.api(name).retrieve(job_id)

    async def cancel(self, job: BatchJob | str, provider: str | None = None) -> BatchJob:
        """Ask the provider to cancel a job; items already answered stay available."""
        job_id, name = _job_ref(job, provider)
        return await self.api(name).cancel(job_id)

    async def list(self, provider: str, limit: int = 20) -> list[BatchJob]:
        """The provider's most recent jobs (all of them, not only this client's)."""
        return await self.api(provider).list(limit)

    def watch(self, jobs: Iterable[BatchJob], *, poll_now: bool = False) -> JobWatch:
        """Each change of the jobs (state or request counts) as it is polled, until all are
        terminal; see :mod:`sluicegate.batch.watch` for the schedule."""
        return JobWatch(self.api, jobs, clock=self._clock, rng=self._rng, poll_now=poll_now)

    async def wait(self, job: BatchJob) -> BatchJob:
        """Poll until ``job`` is terminal and return it as it ended."""
        last = job
        async for seen in self.watch([job]):
            last = seen
        return last

    def results(self, job: BatchJob, lookup: RequestLookup | None = None) -> ResultStream:
        """The outcomes of a terminal job, decoded as they download (``async with``)."""
        if not job.terminal:
            raise ConfigError(
                f"job {job.id} is {job.state.value}: its results can be read once it ended"
            )
        return self.api(job.provider).results(job, lookup)

    # -- costs ----------------------------------------------------------------------------

    def price(self, response: Response) -> Response:
        """``response`` with ``cost`` at the batch price of its model (None if unknown)."""
        cost, _ = self.costs(response.model, response.usage)
        return response.replace(cost=cost)

    def costs(self, model: str, usage: Usage) -> tuple[float | None, float | None]:
        """``(batch cost, live cost)`` of ``usage`` on ``model`` (None: no known price)."""
        price = self._prices.lookup(model)
        if price is None:
            return None, None
        return cost_of(usage, price, batch=True), cost_of(usage, price)


def _job_ref(job: BatchJob | str, provider: str | None) -> tuple[str, str]:
    if isinstance(job, BatchJob):
        return job.id, job.provider
    if provider is None:
        raise ConfigError(f"job {job!r}: give the provider too (provider='openai', ...)")
    return job, provider
