"""Latency percentiles in fixed memory: a histogram with logarithmic buckets.

A run of 100,000 requests would need 100,000 floats (about 3 MB, growing with the input)
to compute exact percentiles. Buckets 2% wide from 0.1 ms to an hour (about 880 of them,
allocated as latencies arrive) give every percentile within 2% of the exact value, which
is finer than the noise of any network latency, in memory that does not depend on how
many requests there were.
"""

from __future__ import annotations

import math

__all__ = ["LatencyHistogram"]

_RATIO = 1.02
_LOG_RATIO = math.log(_RATIO)
_FLOOR_S = 1e-4
"""Latencies below this land in the first bucket."""


class LatencyHistogram:
    """Counts of latencies (seconds) by bucket; ``quantile(q)`` reads a percentile."""

    __slots__ = ("_counts", "_max", "_min", "count")

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self.count = 0
        self._min = math.inf
        self._max = 0.0

    def add(self, seconds: float) -> None:
        if not seconds >= 0:  # NaN or negative: a clock fault, not a latency
            return
        index = 0 if seconds <= _FLOOR_S else 1 + int(math.log(seconds / _FLOOR_S) / _LOG_RATIO)
        self._counts[index] = self._counts.get(index, 0) + 1
        self.count += 1
        self._min = min(self._min, seconds)
        self._max = max(self._max, seconds)

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile (0.5 for the median), within 2%; None with no latencies.

        It is the upper edge of the bucket holding the rank, clamped to the smallest
        and largest latency seen, so a single value reads back exactly.
        """
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self._counts):
            seen += self._counts[index]
            if seen >= rank:
                upper = _FLOOR_S if index == 0 else _FLOOR_S * _RATIO**index
                return min(max(upper, self._min), self._max)
        return self._max
