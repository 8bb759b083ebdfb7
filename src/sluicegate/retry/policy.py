"""How the retry stage behaves (:class:`RetryPolicy`), and the switch that makes every
client's retries instant in a test suite (:func:`set_testing`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from sluicegate.errors import ConfigError
from sluicegate.retry.backoff import Backoff
from sluicegate.retry.budget import RetryBudget
from sluicegate.stage_settings import stage_policy

__all__ = ["RetryPolicy", "is_testing", "set_testing", "with_testing"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the retry stage behaves. Pass it as ``stage_settings={"retry": RetryPolicy(...)}``
    (or a dict of these fields); ``False`` there turns retries off.

    - ``attempts``: attempts in total, the first included (4: three retries, the count
      the official OpenAI and Anthropic SDKs settle near, after which an outage is better
      reported than waited out).
    - ``base`` / ``cap``: backoff ceiling for retry n is ``min(cap, base·2^(n-1))``
      seconds; the wait is drawn uniformly below it (0.5 s doubling to 30 s: long enough
      for a 429 window to roll over, short enough not to stall a batch).
    - ``max_retry_after``: a server's Retry-After is honoured up to this many seconds
      (60 s, the OpenAI SDK's cap); a longer one ends the retries at once, the error
      carrying the wait, instead of being cut short into a retry the server refuses.
    - ``budget_ratio``, ``budget_min_per_second``, ``budget_window``: the retry budget
      (Finagle's defaults: 20% of requests plus 10 retries per second, over 10 s); a
      ``budget_ratio`` of None turns the budget off, leaving only ``attempts``.
    - ``instant``: never wait between attempts (tests); everything else still applies.
    """

    attempts: int = 4
    base: float = 0.5
    cap: float = 30.0
    max_retry_after: float = 60.0
    budget_ratio: float | None = 0.2
    budget_min_per_second: float = 10.0
    budget_window: float = 10.0
    instant: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.attempts, int) and self.attempts >= 1):
            raise ConfigError(f"retry attempts must be an integer >= 1, got {self.attempts!r}")
        value = self.max_retry_after
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise ConfigError(f"retry max_retry_after must be a finite number >= 0, got {value!r}")
        self.backoff()  # validates base and cap
        if self.budget_ratio is not None:
            self.budget(None)  # validates the budget fields

    def backoff(self) -> Backoff:
        """The backoff schedule for these settings."""
        return Backoff(self.base, self.cap)

    def budget(self, start: float | None) -> RetryBudget | None:
        """A fresh retry budget for these settings (None when the budget is off)."""
        if self.budget_ratio is None:
            return None
        return RetryBudget(
            ratio=self.budget_ratio,
            min_per_second=self.budget_min_per_second,
            window=self.budget_window,
            start=start,
        )

    @classmethod
    def from_setting(cls, value: Any) -> RetryPolicy | None:
        """Read ``stage_settings["retry"]`` by the rules every stage shares
        (:func:`~sluicegate.stage_settings.stage_policy`); None: no retries."""
        return stage_policy("retry", cls, value)


_testing: dict[str, Any] | None = None


def set_testing(testing: bool, *, attempts: int | None = None) -> None:
    """Make retries instant in every client built from now on (and, with ``attempts``,
    cap their number), so a test suite need not wait for backoff; ``False`` restores the
    configured behaviour. Like ``stamina.set_testing``; clients already built keep their
    policy, since the stage reads nothing global per request."""
    global _testing
    if not testing:
        _testing = None
        return
    changes: dict[str, Any] = {"instant": True}
    if attempts is not None:
        changes["attempts"] = attempts
    RetryPolicy(**changes)  # validate now, not at the next client build
    _testing = changes


def is_testing() -> bool:
    """Whether :func:`set_testing` is on."""
    return _testing is not None


def with_testing(policy: RetryPolicy | None) -> RetryPolicy | None:
    """``policy`` with :func:`set_testing`'s changes applied, when it is on."""
    if policy is not None and _testing is not None:
        return replace(policy, **_testing)
    return policy
