"""The breaker's settings and its rule for which errors say an endpoint is unhealthy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sluicegate.errors import (
    ConfigError,
    ProviderError,
    RateLimitedError,
    RequestTimeoutError,
    TransportError,
)
from sluicegate.stage_settings import stage_policy

__all__ = ["RATE_LIMIT_ERROR_TYPES", "BreakerPolicy", "counts_as_failure"]


RATE_LIMIT_ERROR_TYPES = frozenset({"rate_limit_error", "rate_limit_exceeded"})
"""Error types that mean "slow down" wherever they come (Anthropic's ``rate_limit_error``,
OpenAI's ``rate_limit_exceeded``), including an error event inside a 200 stream, where
the status says nothing."""


def counts_as_failure(error: BaseException) -> bool:
    """The default rule for whether an error says the endpoint is unhealthy.

    Timeouts and transport errors always do; other provider errors do when they are
    retryable (5xx, 408, malformed answers, cut streams), because those are the ones a
    healthy endpoint would not give. Non-retryable errors (400, 401, 403, 404, 422, a 429
    that is really ``insufficient_quota``) are the caller's fault and do not, and neither
    does a request's own deadline running out (``deadline_exceeded``): a tight deadline
    says nothing about the endpoint. Rate limiting does not either (any
    :class:`~sluicegate.errors.RateLimitedError`, and an error of a
    :data:`RATE_LIMIT_ERROR_TYPES` type such as a stream's ``rate_limit_error`` event): it
    is backpressure from an endpoint that is up and answering. Not a failure is not a
    success either: the breaker stage releases such a call (a half-open probe gives its
    slot back), so a run of 429s neither opens nor closes a circuit.
    """
    if isinstance(error, ProviderError):
        if error.error_type == "deadline_exceeded":
            return False  # the caller's own time limit ran out, not the endpoint's
        if isinstance(error, RateLimitedError) or error.error_type in RATE_LIMIT_ERROR_TYPES:
            return False  # backpressure, not ill health
        return error.retryable or isinstance(error, RequestTimeoutError | TransportError)
    return isinstance(error, TimeoutError)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """How a circuit breaker decides; one policy applies to every endpoint of a client.

    The defaults are resilience4j's shape with LLM-sized numbers: LLM calls are slow and
    bursty, so a 30 s window with at least 20 calls gives a ratio worth acting on; a 30 s
    break is long enough for a provider's overload to clear and short enough that a model
    is not lost for long; 3 probes (rather than 1) keep one lucky answer from closing the
    circuit on an endpoint that is still mostly failing.

    ``slow_call_s`` (off by default, since answer time grows with output length) counts
    plain calls that take longer as failures; for streams it is the time until the stream
    opened. ``is_failure`` classifies errors (see :func:`counts_as_failure`).
    """

    window_s: float = 30.0
    min_throughput: int = 20
    failure_ratio: float = 0.5
    slow_call_s: float | None = None
    break_s: float = 30.0
    half_open_probes: int = 3
    window_buckets: int = 10
    is_failure: Callable[[BaseException], bool] = counts_as_failure

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise ConfigError(f"breaker window_s must be positive, got {self.window_s!r}")
        if self.min_throughput < 1:
            raise ConfigError(
                f"breaker min_throughput must be at least 1, got {self.min_throughput!r}"
            )
        if not 0.0 < self.failure_ratio <= 1.0:
            raise ConfigError(
                f"breaker failure_ratio must be in (0, 1], got {self.failure_ratio!r}"
            )
        if self.slow_call_s is not None and not self.slow_call_s > 0:
            raise ConfigError(
                f"breaker slow_call_s must be positive or None, got {self.slow_call_s!r}"
            )
        if not self.break_s >= 0:
            raise ConfigError(f"breaker break_s must be 0 or more, got {self.break_s!r}")
        if self.half_open_probes < 1:
            raise ConfigError(
                f"breaker half_open_probes must be at least 1, got {self.half_open_probes!r}"
            )
        if self.window_buckets < 1:
            raise ConfigError(
                f"breaker window_buckets must be at least 1, got {self.window_buckets!r}"
            )

    @classmethod
    def from_setting(cls, value: Any) -> BreakerPolicy | None:
        """Read ``stage_settings["breaker"]`` by the rules every stage shares
        (:func:`~sluicegate.stage_settings.stage_policy`); None: no breaker."""
        return stage_policy("breaker", cls, value)
