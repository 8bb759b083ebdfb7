"""How long to wait before a retry: exponential backoff with full jitter.

Full jitter (a uniform draw from ``[0, min(cap, base·2^(n-1)))``) is the variant the AWS
architecture blog's analysis ("Exponential Backoff And Jitter") found to finish the work
with the fewest calls under contention: clients that failed together spread out instead of
retrying in lock-step waves, while the ceiling still grows exponentially so a struggling
server gets room to recover.

This module is pure: no clock, no I/O, and the random source is passed in (the client's
injected ``rng``), so a schedule is reproducible in tests from a seed.

The ceiling is computed without ever forming ``2**(n-1)`` for a large ``n``: the attempt
number at which the ceiling reaches the cap is found once, and every attempt at or past it
simply gets the cap. So attempt 10**6 (or 10**100) costs the same as attempt 2 and can
neither overflow a float nor build a huge integer.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from sluicegate.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Backoff:
    """An exponential backoff schedule: ``base`` seconds for the first retry, doubling per
    retry, never above ``cap`` seconds.

    ``attempt`` below is the retry number: 1 for the wait after the first failure.
    """

    base: float = 0.5
    cap: float = 30.0
    _saturated_at: int = field(init=False, repr=False, compare=False)
    _top: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, value in (("base", self.base), ("cap", self.cap)):
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"backoff {name} must be a finite number >= 0, got {value!r}")
        # past the saturation point every ceiling is the same value: the cap, or 0 when the
        # base is 0 (an exponential of 0 never grows)
        saturated_at = _saturation(self.base, self.cap) if self.base > 0 else 1
        object.__setattr__(self, "_saturated_at", saturated_at)
        object.__setattr__(self, "_top", float(self.cap) if self.base > 0 else 0.0)

    def ceiling(self, attempt: int) -> float:
        """The largest wait for retry number ``attempt``: ``min(cap, base·2^(attempt-1))``
        (attempt numbers below 1 count as 1)."""
        if attempt >= self._saturated_at:
            return self._top
        # here base·2^(attempt-1) < cap, so ldexp (exact: a power-of-two scaling) is finite
        return min(float(self.cap), math.ldexp(self.base, max(attempt, 1) - 1))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """A full-jitter wait for retry number ``attempt``: uniform in ``[0, ceiling)``."""
        return rng.random() * self.ceiling(attempt)


def _saturation(base: float, cap: float) -> int:
    """The first attempt number whose exponential ceiling reaches ``cap`` (``base > 0``).

    From there on the ceiling is the cap, so :meth:`Backoff.ceiling` never scales the base
    past it; a cap at or below the base saturates at once. Estimated with logarithms, then
    corrected with exact power-of-two scaling, so the boundary is exact whatever the
    rounding of ``log2``.
    """
    if cap <= base:
        return 1
    n = max(1, math.floor(math.log2(cap) - math.log2(base)) + 1)
    while n > 1 and _reaches(base, cap, n - 1):
        n -= 1
    while not _reaches(base, cap, n):
        n += 1
    return n


def _reaches(base: float, cap: float, attempt: int) -> bool:
    try:
        return math.ldexp(base, attempt - 1) >= cap
    except OverflowError:
        return True


def full_jitter(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """One full-jitter wait without building a :class:`Backoff` first (for callers that
    need a single value, such as batch polling)."""
    return Backoff(base, cap).delay(attempt, rng)
