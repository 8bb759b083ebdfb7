"""The shared store's own error: it could not be reached, and no local share was set."""

from __future__ import annotations

from sluicegate.errors import SluicegateError

__all__ = ["StoreUnavailableError"]


class StoreUnavailableError(SluicegateError):
    """The shared state store (Redis) did not answer, so a request that needs its shared
    state (a rate limit, a circuit, a budget, an idempotency claim) was not sent.

    This is the store's *fail closed* choice: when processes share one API key, a process
    that cannot see the shared counts cannot know what the others sent, and sending
    anyway is how four workers send four times the limit. Retryable: the retry stage
    tries again after its backoff, so a store that comes back within the retries loses
    nothing. ``RedisStore(fallback_processes=N)`` chooses the other way: each process
    sends within its share of every limit (limit ÷ N) while the store is away.

    ``store`` names the store by its address, with any password removed; ``operation``
    says what was being done (``"rate limit admission"``, ``"budget reservation"``...).
    """

    retryable = True

    def __init__(self, *, store: str, operation: str, reason: str) -> None:
        self.store = store
        self.operation = operation
        self.reason = reason
        super().__init__(
            f"the shared store {store} did not answer during {operation} ({reason}); "
            "nothing was sent. Check that Redis is running and reachable, or set "
            "RedisStore(fallback_processes=N) to send within a local share of each limit "
            "while it is away"
        )
