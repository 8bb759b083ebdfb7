"""The mock's batch counters, part of :class:`~sluicegate.testing.mock_stats.MockStats`.

A batch client's promises are about jobs and ids, not requests: "a restarted run created
no duplicate jobs", "every id was answered exactly once". Only the server can count
those, so it does, per provider: jobs created, files uploaded, items submitted and what
became of them, and per custom_id how many times it was submitted and answered.

Items are counted when their job is first seen ended (jobs move lazily, on reads; the
stats route looks at every job first, so its numbers are current).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sluicegate.testing.faults import Provider

__all__ = ["BatchStats"]

_PROVIDERS: tuple[Provider, ...] = ("openai", "anthropic")


class BatchStats:
    """Batch counters per provider."""

    __slots__ = (
        "answered",
        "created",
        "files_uploaded",
        "input_tokens",
        "items_canceled",
        "items_expired",
        "items_failed",
        "items_submitted",
        "items_succeeded",
        "output_tokens",
        "submitted",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.created: Counter[str] = Counter()
        """Jobs created (whatever became of them)."""
        self.files_uploaded = 0
        """OpenAI files uploaded."""
        self.items_submitted: Counter[str] = Counter()
        self.items_succeeded: Counter[str] = Counter()
        self.items_failed: Counter[str] = Counter()
        """Items that ended in an error: injected failures, invalid requests, failed jobs."""
        self.items_expired: Counter[str] = Counter()
        self.items_canceled: Counter[str] = Counter()
        self.input_tokens: Counter[str] = Counter()
        self.output_tokens: Counter[str] = Counter()
        """Tokens of succeeded items: what the provider bills (at its batch price)."""
        self.submitted: dict[str, Counter[str]] = {p: Counter() for p in _PROVIDERS}
        """provider -> custom_id -> times submitted. It also numbers the attempts that
        item outcomes are drawn for, so a reset makes the draws start over."""
        self.answered: dict[str, Counter[str]] = {p: Counter() for p in _PROVIDERS}
        """provider -> custom_id -> times it got a succeeded result."""

    def count_submission(self, provider: Provider, custom_id: str) -> int:
        """Count one submission of ``custom_id``; returns how many came before it."""
        counter = self.submitted[provider]
        attempt = counter[custom_id]
        counter[custom_id] = attempt + 1
        return attempt

    def snapshot(self, with_ids: bool = False) -> dict[str, Any]:
        """Totals per provider; with ``with_ids``, also every custom_id's counts (large
        for big jobs, so only on request: ``GET /_mock/stats?batch_ids=1``)."""
        result: dict[str, Any] = {}
        for provider in _PROVIDERS:
            submitted = self.submitted[provider]
            answered = self.answered[provider]
            totals: dict[str, Any] = {
                "created": self.created[provider],
                "items_submitted": self.items_submitted[provider],
                "items_succeeded": self.items_succeeded[provider],
                "items_failed": self.items_failed[provider],
                "items_expired": self.items_expired[provider],
                "items_canceled": self.items_canceled[provider],
                "input_tokens": self.input_tokens[provider],
                "output_tokens": self.output_tokens[provider],
                "ids_submitted": len(submitted),
                "ids_submitted_more_than_once": sum(1 for n in submitted.values() if n > 1),
                "ids_answered": len(answered),
                "ids_answered_more_than_once": sum(1 for n in answered.values() if n > 1),
            }
            if provider == "openai":
                totals["files_uploaded"] = self.files_uploaded
            if with_ids:
                totals["ids"] = {
                    custom_id: {"submitted": n, "answered": answered[custom_id]}
                    for custom_id, n in submitted.items()
                }
            result[provider] = totals
        return result
