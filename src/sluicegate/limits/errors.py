"""The rate limiter's own error: a request that no amount of waiting would admit."""

from __future__ import annotations

from sluicegate.errors import ConfigError

__all__ = ["RequestTooLargeError"]

_UNITS = ("requests", "tokens", "input tokens", "output tokens")


class RequestTooLargeError(ConfigError):
    """A request costs more than a rate limit can admit at once (its burst), so it would
    wait forever; it fails at once instead, naming the limit and by how much it is over.

    ``scope`` is the limit's scope (``"openai/gpt-4o"``), ``dimension`` what it counts
    (``"tokens per minute"``), ``cost`` the request's estimated charge and ``capacity``
    the most that limit admits at once. Never retryable: lower ``max_tokens``, shorten the
    prompt, or raise the limit or its ``burst_s``.
    """

    def __init__(self, *, scope: str, dimension: str, unit: str, cost: int, capacity: int):
        self.scope = scope
        self.dimension = dimension
        self.cost = cost
        self.capacity = capacity
        super().__init__(
            f"request needs an estimated {cost:,} {unit}, but the {scope!r} limit on "
            f"{dimension} admits at most {capacity:,} at once ({cost - capacity:,} over): "
            f"lower max_tokens, shorten the prompt, or raise the limit or its burst_s"
        )
