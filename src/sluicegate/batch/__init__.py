"""Provider batch APIs: half-price jobs, submitted, watched, collected and retried.

- :mod:`.api`: the protocol a provider's batch API implements (and the values it speaks);
  registered through the ``sluicegate_batch_apis`` hook;
- :mod:`.openai`: OpenAI's Batch API (the ``openai`` and ``mock`` kinds); Anthropic's
  Message Batches live in the ``sluicegate-anthropic`` plugin;
- :mod:`.http`, :mod:`.lines`, :mod:`.multipart`: the calls, result lines, file uploads;
- :mod:`.planner`: splitting requests into jobs by the provider's limits;
- :mod:`.watch`: polling with backoff and jitter;
- :mod:`.batches`: ``client.batches``;
- :mod:`.state`, :mod:`.entries`, :mod:`.run`, :mod:`.progress`, :mod:`.summary`:
  ``sluicegate run --mode batch`` and ``sluicegate batch ...``.

Only :mod:`.api` is imported by ``import sluicegate``; see docs/batch.md.
"""

from sluicegate.batch.api import (
    BatchApi,
    BatchApiSpec,
    BatchBinding,
    BatchJob,
    BatchLimits,
    BatchOutcome,
    JobCounts,
    JobState,
)

__all__ = [
    "BatchApi",
    "BatchApiSpec",
    "BatchBinding",
    "BatchJob",
    "BatchLimits",
    "BatchOutcome",
    "JobCounts",
    "JobState",
]
