"""The mock server's counters: :class:`MockStats`, read through ``GET /_mock/stats``.

Tests and benchmarks assert on these to see what the server went through (how many
requests, which faults, which statuses, which idempotency keys came back), which a
client alone cannot tell.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sluicegate.testing.mock_batch_stats import BatchStats

__all__ = ["MockStats"]


class MockStats:
    """Counters read through ``GET /_mock/stats``; tests and later issues (idempotency,
    rate limits) assert on them."""

    __slots__ = (
        "batches",
        "by_fault",
        "by_path",
        "by_status",
        "idempotency",
        "input_tokens",
        "limited",
        "output_tokens",
        "replayed",
        "requests",
        "succeeded",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.succeeded = 0
        self.replayed = 0
        self.limited = 0
        """Requests refused by the nginx-like limiter (``MockConfig.limit_rps``); also
        in ``by_status[429]``."""
        self.input_tokens = 0
        self.output_tokens = 0
        self.by_path: Counter[str] = Counter()
        self.by_fault: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.idempotency: dict[str, list[int]] = {}
        """Idempotency-Key value -> [times received, times answered and charged, times
        answered from the record uncharged]. It grows with every distinct key until a
        reset; benchmarks that send keys should reset between runs."""
        self.batches = BatchStats()
        """Batch jobs, files and items (:mod:`~sluicegate.testing.mock_batch_stats`);
        batch items are not counted in ``succeeded`` and the token totals above, which
        are the live calls'."""

    def count_request(self, path: str, idempotency_key: str | None = None) -> None:
        """Count a request as it arrives, before anything can refuse it."""
        self.requests += 1
        self.by_path[path] += 1
        if idempotency_key is not None:
            self.idempotency.setdefault(idempotency_key, [0, 0, 0])[0] += 1

    def count_success(
        self, input_tokens: int, output_tokens: int, idempotency_key: str | None
    ) -> None:
        """Count an answer that reached the client complete and undamaged; only those
        spend tokens, as a real provider bills them."""
        self.succeeded += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        if idempotency_key is not None:
            self.idempotency.setdefault(idempotency_key, [0, 0, 0])[1] += 1

    def count_replay(self, idempotency_key: str) -> None:
        """Count an answer replayed from the idempotency record: delivered, not charged
        (no tokens counted)."""
        self.replayed += 1
        self.idempotency.setdefault(idempotency_key, [0, 0, 0])[2] += 1

    def snapshot(self, with_batch_ids: bool = False) -> dict[str, Any]:
        """Everything, as ``GET /_mock/stats`` sends it; ``with_batch_ids`` adds every
        batch custom_id's counts."""
        return {
            "requests": self.requests,
            "succeeded": self.succeeded,
            "replayed": self.replayed,
            "limited": self.limited,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "by_path": dict(self.by_path),
            "by_fault": dict(self.by_fault),
            "by_status": {str(status): n for status, n in sorted(self.by_status.items())},
            "idempotency": {
                key: {"received": received, "succeeded": succeeded, "replayed": replayed}
                for key, (received, succeeded, replayed) in self.idempotency.items()
            },
            "batches": self.batches.snapshot(with_batch_ids),
        }
