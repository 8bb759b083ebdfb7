"""When a mock batch job is in which state, as a pure function of the time since it was
created: no background task moves jobs along, every read computes where a job is now.

With ``d = MockConfig.batch_seconds``, measured on the mock's clock:

- ``[0, 0.1 d)``: validating (OpenAI ``validating``; Anthropic already ``in_progress``);
- ``[0.1 d, 0.9 d)``: in progress; item ``i`` of ``n`` (from 0) is processed at
  ``0.1 d + (i + 1) / n * 0.8 d``, so OpenAI's request counts grow steadily;
- ``[0.9 d, d)``: finalizing (OpenAI), then the job has ended at ``d``.

A job that fails validation (or fails as a whole, on OpenAI) ends at ``0.1 d``. A job
marked to expire stops processing half-way through its items' time and ends at ``d``
with the rest expired. A cancel at time ``c`` stops processing at ``c``; the job is
cancelling for ``0.1 d`` and then ends. Items processed before the cut keep their
results; the others are cancelled or expired.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Timeline"]

VALIDATING_SHARE = 0.1
PROCESSING_END_SHARE = 0.9
CANCELLING_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class Timeline:
    """The phases of one job of ``items`` items that takes ``duration`` seconds."""

    duration: float
    items: int

    @property
    def validated_at(self) -> float:
        return self.duration * VALIDATING_SHARE

    @property
    def processed_at(self) -> float:
        """When the last item is processed (finalizing starts)."""
        return self.duration * PROCESSING_END_SHARE

    @property
    def halfway(self) -> float:
        """Where an expiring job stops processing."""
        return (self.validated_at + self.processed_at) / 2

    def cancel_ends_at(self, cancelled_at: float) -> float:
        return cancelled_at + self.duration * CANCELLING_SHARE

    def processed(self, at: float) -> int:
        """Items processed by time ``at`` (seconds since creation)."""
        start, end = self.validated_at, self.processed_at
        if at < start:
            return 0
        if at >= end:
            return self.items
        return min(self.items, max(0, math.floor((at - start) / (end - start) * self.items)))
