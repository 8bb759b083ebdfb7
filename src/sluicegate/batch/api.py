"""What a provider's batch API is to sluicegate: a small protocol, and the values it speaks.

A provider declares a batch API through the ``sluicegate_batch_apis`` hook with a
:class:`BatchApiSpec`: the provider *kind* it serves (``"openai"``, ``"mock"``,
``"anthropic"``), its per-job limits, and a factory that builds the :class:`BatchApi` for
one configured provider (its base URL, key and transport, resolved by the client). The
built-in OpenAI batch API (:mod:`sluicegate.batch.openai`) serves ``openai`` and ``mock``;
the Anthropic one lives in the ``sluicegate-anthropic`` plugin.

The protocol is deliberately small, because everything else (splitting an input by the
limits, the state file, polling with backoff, resubmitting failures, writing output) is
the same for every provider and lives above it:

- ``encode_item(custom_id, request)``: one item as the provider's wire format has it (a
  JSON object, no newline), built with the provider's own codec;
- ``create(items, count)``: submit one chunk (JSON objects one per line) as a job;
- ``retrieve(job_id)`` / ``cancel(job_id)`` / ``list(limit)``: a job's normalized state
  and request counts;
- ``results(job, lookup)``: an ``async with`` block yielding one :class:`BatchOutcome`
  per item, decoded line by line as the result file streams in, with the provider's codec
  (so a batch answer is the same :class:`~sluicegate.types.Response` a live call gives).
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Protocol, Self

from sluicegate.clock import Clock
from sluicegate.errors import ConfigError, ProviderError
from sluicegate.providers.base import BoundProvider
from sluicegate.types import Request, Response

__all__ = [
    "BatchApi",
    "BatchApiFactory",
    "BatchApiSpec",
    "BatchBinding",
    "BatchJob",
    "BatchLimits",
    "BatchOutcome",
    "JobCounts",
    "JobState",
    "RequestLookup",
    "ResultStream",
]


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """What one job may hold, and how often its status may be asked for.

    ``max_requests`` and ``max_bytes`` bound one job (OpenAI: 50,000 requests and 200 MB
    of input file; Anthropic: 100,000 requests or 256 MB of request body); a larger input
    is split into several jobs. ``min_poll_interval_s`` is the shortest wait between two
    status polls of the same jobs: polling never goes faster, whatever the backoff draws.
    Tests and servers with other limits override them (``Client(batch_limits=...)``,
    ``--batch-size``).
    """

    max_requests: int
    max_bytes: int
    min_poll_interval_s: float = 5.0
    max_poll_interval_s: float = 60.0

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"batch limits: {name} must be an integer >= 1, got {value!r}")
        low, high = self.min_poll_interval_s, self.max_poll_interval_s
        if not (isinstance(low, int | float) and low >= 0):
            raise ConfigError(f"batch limits: min_poll_interval_s must be >= 0, got {low!r}")
        if not (isinstance(high, int | float) and high >= low):
            raise ConfigError(
                f"batch limits: max_poll_interval_s must be >= min_poll_interval_s ({low}), "
                f"got {high!r}"
            )

    def replace(self, **changes: Any) -> BatchLimits:
        """A copy with some limits changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


class JobState(enum.StrEnum):
    """A job's state, the same words for every provider.

    OpenAI's statuses map one to one (``in_progress`` is ``running``); Anthropic's
    ``in_progress`` is ``running``, ``canceling`` is ``cancelling``, and ``ended`` is
    ``completed``, or ``cancelled`` when a cancel was asked for.
    """

    VALIDATING = "validating"
    RUNNING = "running"
    FINALIZING = "finalizing"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """No further change: the results (if any) can be read."""
        return self in _TERMINAL


_TERMINAL = frozenset({JobState.COMPLETED, JobState.FAILED, JobState.EXPIRED, JobState.CANCELLED})


@dataclass(frozen=True, slots=True)
class JobCounts:
    """A job's requests: how many in all, answered, failed (errored, expired or
    cancelled: every item that ended without an answer)."""

    total: int = 0
    succeeded: int = 0
    failed: int = 0

    @property
    def done(self) -> int:
        return self.succeeded + self.failed

    @property
    def processing(self) -> int:
        return max(self.total - self.done, 0)


@dataclass(frozen=True, slots=True)
class BatchJob:
    """One provider job as last seen.

    ``provider`` is the provider's configured name (``"openai"``, ``"mock"``, a user's
    name for a compatible server); ``status`` the provider's own word for the state;
    ``created_at`` and ``ended_at`` Unix seconds (None when unknown or not yet);
    ``errors`` the provider's job-level error messages (a job that failed as a whole);
    ``raw`` the provider's object (its file ids or results URL), for :meth:`BatchApi.results`.
    """

    id: str
    provider: str
    state: JobState
    counts: JobCounts = field(default_factory=JobCounts)
    status: str = ""
    created_at: float | None = None
    ended_at: float | None = None
    errors: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def terminal(self) -> bool:
        return self.state.terminal

    @property
    def duration_s(self) -> float | None:
        """Seconds from creation to the end, when both are known."""
        if self.created_at is None or self.ended_at is None:
            return None
        return max(self.ended_at - self.created_at, 0.0)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One item's result: the Response (as a live call would have given it, before cost)
    or the typed error, never both. ``custom_id`` is the id the provider echoed."""

    custom_id: str
    response: Response | None
    error: ProviderError | None

    @property
    def ok(self) -> bool:
        return self.response is not None


RequestLookup = Callable[[str], Request | None]
"""The request an item was submitted for, by custom id: what a result is decoded against
(its ``model``, ``caller_id``). None when unknown; the API then builds a minimal one from
what the result line says."""


class ResultStream(Protocol):
    """The results of one job, read as they download: ``async with api.results(job) as
    outcomes: async for outcome in outcomes: ...``. Leaving the block closes the download."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def __aiter__(self) -> Self: ...

    async def __anext__(self) -> BatchOutcome: ...


class BatchApi(Protocol):
    """One provider's batch API, bound to its base URL, key and transport."""

    provider: str
    limits: BatchLimits

    def custom_id(self, caller_id: str) -> str:
        """The custom id the provider is sent for a caller's id: the id itself when the
        provider accepts it, else a stable digest of it (Anthropic accepts only
        ``[a-zA-Z0-9_-]{1,64}``)."""
        ...

    def group_key(self, request: Request) -> str:
        """Requests with different keys never share a job (OpenAI: one model a job)."""
        ...

    def encode_item(self, custom_id: str, request: Request) -> bytes:
        """One item as a JSON object (no newline), its body built by the provider's codec."""
        ...

    async def create(self, items: bytes | bytearray, count: int) -> BatchJob:
        """Submit ``count`` items (JSON objects from :meth:`encode_item`, each ending in a
        newline) as one job. ``items`` is the planner's buffer: read it, do not keep it."""
        ...

    async def retrieve(self, job_id: str) -> BatchJob: ...

    async def cancel(self, job_id: str) -> BatchJob: ...

    async def list(self, limit: int = 20) -> list[BatchJob]:
        """The most recent jobs, newest first."""
        ...

    def results(self, job: BatchJob, lookup: RequestLookup | None = None) -> ResultStream:
        """The items' outcomes of a terminal job (see :class:`ResultStream`)."""
        ...


@dataclass(frozen=True, slots=True)
class BatchBinding:
    """What a batch API is built with: the provider as the client resolved it (base URL,
    key, transport, codec), the limits in force, and the client's clock and random source
    (for the backoff of its own retried calls)."""

    bound: BoundProvider
    limits: BatchLimits
    clock: Clock
    rng: random.Random


BatchApiFactory = Callable[[BatchBinding], BatchApi]


@dataclass(frozen=True, slots=True)
class BatchApiSpec:
    """A batch API as a plugin registers it: the provider ``kind`` it serves (a
    :class:`~sluicegate.providers.base.ProviderSpec` name), its default ``limits`` and
    the ``factory`` that binds it to one configured provider."""

    kind: str
    factory: BatchApiFactory
    limits: BatchLimits
    description: str = ""
