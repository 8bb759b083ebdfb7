"""The error a call gets while its endpoint's circuit is open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sluicegate.errors import ProviderError

if TYPE_CHECKING:
    from sluicegate.breaker.state import CircuitState

__all__ = ["CircuitOpenError"]


class CircuitOpenError(ProviderError):
    """The endpoint's circuit is open (or half-open with every probe slot taken): nothing
    was sent.

    Not retryable, so the retry stage stops at once instead of waiting out the break; the
    fallback stage moves on to the request's next model. ``retry_after`` is how many seconds
    until the circuit lets probes through (None while half-open: it may close as soon as
    the probes in flight succeed); ``until`` is that moment on the client's clock.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        model: str,
        state: CircuitState,
        until: float | None,
        retry_after: float | None,
    ) -> None:
        self.state = state
        self.until = until
        super().__init__(
            message,
            provider=provider,
            model=model,
            error_type="circuit_open",
            retryable=False,
            retry_after=retry_after,
        )
