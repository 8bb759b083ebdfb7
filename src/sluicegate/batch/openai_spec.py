"""How the OpenAI Batch API is registered: its limits and specs, without the API itself.

The built-in plugin registers these when a client is built; the API's module
(:mod:`sluicegate.batch.openai`, its HTTP calls, uploads and result parsing) is imported
only when a batch is first used, through :func:`openai_batch_api`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluicegate.batch.api import BatchApiSpec, BatchBinding, BatchLimits

if TYPE_CHECKING:
    from sluicegate.batch.openai import OpenAIBatchApi

__all__ = ["MOCK_LIMITS", "MOCK_SPEC", "OPENAI_LIMITS", "SPEC", "openai_batch_api"]

OPENAI_LIMITS = BatchLimits(
    max_requests=50_000,
    max_bytes=200_000_000,  # 200 MB, read as the smaller of 10^6 and 2^20 bytes a MB
    min_poll_interval_s=5.0,
    max_poll_interval_s=60.0,
)
MOCK_LIMITS = OPENAI_LIMITS.replace(min_poll_interval_s=0.05, max_poll_interval_s=1.0)
"""The mock server's jobs take seconds, not hours; it may be polled often."""


def openai_batch_api(binding: BatchBinding) -> OpenAIBatchApi:
    """The Batch API of one configured OpenAI-format provider (imported at first use)."""
    from sluicegate.batch.openai import OpenAIBatchApi

    return OpenAIBatchApi(binding)


SPEC = BatchApiSpec(
    kind="openai",
    factory=openai_batch_api,
    limits=OPENAI_LIMITS,
    description="OpenAI Batch API (Files API upload, /v1/batches, 24h window)",
)
MOCK_SPEC = BatchApiSpec(
    kind="mock",
    factory=openai_batch_api,
    limits=MOCK_LIMITS,
    description="the mock server's OpenAI-format Batch API (jobs take seconds)",
)
