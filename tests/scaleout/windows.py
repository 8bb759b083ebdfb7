"""How a run is judged from the server's arrival times: the busiest window, and the share
of an allowed rate that was used.

A limit of R requests a second with a burst of B promises two things at once, and a test
must check both: that no window of one second ever held more than R + B arrivals (the
limit holds), and that over the run about R a second arrived (the limit is not merely
held by sending little). Averages hide the first (4R for a second, then nothing, averages
fine), so the window is exact: every window that starts at an arrival is counted, which
covers every window, since sliding a half-open window right until it starts at an
arrival never loses one.

Pure functions over integers (nanoseconds, token counts), so they are exact and tested
against a brute-force oracle (test_windows.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["NS", "Busiest", "Verdict", "busiest_window", "judge", "share_used"]

NS = 1_000_000_000
"""Nanoseconds in a second."""


class Busiest(NamedTuple):
    """The busiest window ``[start_ns, start_ns + width)``: how much arrived in it."""

    total: int
    """Arrivals in it, or the sum of their weights (tokens)."""
    start_ns: int
    """Where it starts: an arrival's time (0 when there were no arrivals)."""
    arrivals: int
    """How many arrivals it held (equal to ``total`` when unweighted)."""


def _sorted(times_ns: Sequence[int], weights: Sequence[int] | None) -> list[tuple[int, int]]:
    if weights is None:
        return sorted((t, 1) for t in times_ns)
    if len(weights) != len(times_ns):
        raise ValueError(f"{len(weights)} weights for {len(times_ns)} arrivals")
    return sorted(zip(times_ns, weights, strict=True))


def busiest_window(
    times_ns: Sequence[int], width_ns: int, weights: Sequence[int] | None = None
) -> Busiest:
    """The half-open window of ``width_ns`` holding the most arrivals (or, with
    ``weights``, the largest sum of them: tokens per arrival). ``times_ns`` need not be
    sorted. The earliest such window is returned."""
    if width_ns <= 0:
        raise ValueError(f"width_ns must be > 0, got {width_ns}")
    arrivals = _sorted(times_ns, weights)
    best = Busiest(0, arrivals[0][0] if arrivals else 0, 0)
    end = 0
    inside = 0
    for start, (start_ns, _) in enumerate(arrivals):
        # two pointers: ``end`` is the first arrival at or past start_ns + width_ns
        while end < len(arrivals) and arrivals[end][0] < start_ns + width_ns:
            inside += arrivals[end][1]
            end += 1
        if inside > best.total:
            best = Busiest(inside, start_ns, end - start)
        inside -= arrivals[start][1]
    return best


def share_used(
    times_ns: Sequence[int],
    rate_per_s: float,
    burst: float,
    weights: Sequence[int] | None = None,
) -> float:
    """What arrived between the first and the last arrival, as a share of what the limit
    allows in that time: ``rate_per_s * duration + burst`` (an exact limiter sends its
    burst at once, then one every 1/rate, so it scores 1.0). With ``weights``, the same
    in tokens (``rate_per_s`` in tokens a second). 0.0 with no arrivals."""
    if not rate_per_s > 0 or burst < 0:
        raise ValueError("rate_per_s must be > 0 and burst >= 0")
    if not times_ns:
        return 0.0
    if weights is not None and len(weights) != len(times_ns):
        raise ValueError(f"{len(weights)} weights for {len(times_ns)} arrivals")
    total = len(times_ns) if weights is None else sum(weights)
    duration_s = (max(times_ns) - min(times_ns)) / NS
    allowed = rate_per_s * duration_s + burst
    return total / allowed if allowed > 0 else float("inf")


class Verdict(NamedTuple):
    """Both checks of one limit over one run, with what they were compared against."""

    busiest: Busiest
    """The busiest window of the width judged."""
    allowed: float
    """What a window of that width may hold: rate x width + burst."""
    share: float
    """:func:`share_used`."""

    @property
    def held(self) -> bool:
        return self.busiest.total <= self.allowed

    def __str__(self) -> str:
        return (
            f"busiest window {self.busiest.total} (allowed {self.allowed:g}, "
            f"{self.busiest.arrivals} arrivals), {self.share:.1%} of the limit used"
        )


def judge(
    times_ns: Sequence[int],
    rate_per_s: float,
    burst: float,
    weights: Sequence[int] | None = None,
    width_ns: int = NS,
) -> Verdict:
    """The busiest ``width_ns`` window against ``rate_per_s x width + burst``, and the
    share of the limit used, in requests (or in tokens, with ``weights``)."""
    allowed = rate_per_s * width_ns / NS + burst
    busiest = busiest_window(times_ns, width_ns, weights)
    return Verdict(busiest, allowed, share_used(times_ns, rate_per_s, burst, weights))
