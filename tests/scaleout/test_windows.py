"""The judging functions against brute force: the busiest window is the largest of all
windows (not just of those the fast loop visits), and the share used is its formula."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scaleout.windows import NS, Busiest, busiest_window, judge, share_used

# Small times and widths, so that arrivals collide, sit exactly on window edges and
# share instants; the big ones have the magnitude of real monotonic nanoseconds.
small_times = st.lists(st.integers(0, 60), max_size=40)
big_times = st.lists(st.integers(10**12, 10**12 + 5 * NS), max_size=40)
widths = st.integers(1, 25)


@st.composite
def weighted(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    times = draw(st.one_of(small_times, big_times))
    weights = draw(st.lists(st.integers(0, 50), min_size=len(times), max_size=len(times)))
    return times, weights


def in_window(times: list[int], weights: list[int], start: int, width: int) -> tuple[int, int]:
    """(sum of weights, arrivals) in ``[start, start + width)``, the slow way."""
    inside = [w for t, w in zip(times, weights, strict=True) if start <= t < start + width]
    return sum(inside), len(inside)


def oracle(times: list[int], weights: list[int], width: int) -> Busiest:
    """Every window that starts at an arrival, the earliest of the largest."""
    best = Busiest(0, min(times, default=0), 0)
    for start in sorted(times):
        total, count = in_window(times, weights, start, width)
        if total > best.total:
            best = Busiest(total, start, count)
    return best


@given(st.one_of(small_times, big_times), st.one_of(widths, st.just(NS)))
def test_the_busiest_window_is_the_brute_force_one(times: list[int], width: int) -> None:
    assert busiest_window(times, width) == oracle(times, [1] * len(times), width)


@given(weighted(), st.one_of(widths, st.just(NS)))
def test_the_busiest_window_in_tokens_is_the_brute_force_one(
    case: tuple[list[int], list[int]], width: int
) -> None:
    times, weights = case
    assert busiest_window(times, width, weights) == oracle(times, weights, width)


@given(weighted(), widths, st.integers(-30, 10**12 + 6 * NS))
def test_no_window_anywhere_holds_more(
    case: tuple[list[int], list[int]], width: int, start: int
) -> None:
    """Windows that start between arrivals are covered too: the claim the fast loop
    rests on."""
    times, weights = case
    assert in_window(times, weights, start, width)[0] <= busiest_window(times, width, weights).total


@given(weighted(), st.floats(0.5, 1000), st.floats(0, 100))
def test_the_share_used_is_what_arrived_over_what_was_allowed(
    case: tuple[list[int], list[int]], rate: float, burst: float
) -> None:
    times, weights = case
    if not times:
        assert share_used(times, rate, burst, weights) == 0.0
        return
    allowed = rate * (max(times) - min(times)) / NS + burst
    expected = sum(weights) / allowed if allowed else float("inf")
    assert share_used(times, rate, burst, weights) == pytest.approx(expected)
    assert share_used(times, rate, burst) == pytest.approx(
        len(times) / allowed if allowed else float("inf")
    )


@pytest.mark.parametrize(("rate", "burst"), [(20, 2), (100, 10), (7, 1)])
def test_an_exact_limiter_passes_both_checks_and_one_extra_request_shows(
    rate: int, burst: int
) -> None:
    """The burst at once, then one every 1/rate, for 3 s: every second holds at most
    rate + burst - 1 (the next slot is exactly on the window's open end), and the limit is
    used in full. Two extra requests at the start are over rate + burst."""
    start = 10**12
    times = [start] * burst + [start + k * NS // rate for k in range(1, 3 * rate + 1)]
    assert busiest_window(times, NS).total == rate + burst - 1
    assert share_used(times, rate, burst) == pytest.approx(1.0, abs=1e-9)
    assert busiest_window([start, start, *times], NS).total == rate + burst + 1


@given(weighted(), st.integers(1, 30), st.integers(0, 40))
def test_a_verdict_is_the_two_checks_together(
    case: tuple[list[int], list[int]], rate: int, burst: int
) -> None:
    times, weights = case
    verdict = judge(times, rate, burst, weights, width_ns=NS // 2)
    assert verdict.busiest == busiest_window(times, NS // 2, weights)
    assert verdict.allowed == rate / 2 + burst
    assert verdict.held == (verdict.busiest.total <= rate / 2 + burst)
    assert verdict.share == share_used(times, rate, burst, weights)


def test_an_empty_run_has_no_busy_window() -> None:
    assert busiest_window([], NS) == Busiest(0, 0, 0)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="width_ns"):
        busiest_window([1], 0)
    with pytest.raises(ValueError, match="weights"):
        busiest_window([1, 2], 5, [1])
    with pytest.raises(ValueError, match="weights"):
        share_used([1, 2], 1.0, 0.0, [1])
    with pytest.raises(ValueError, match="rate_per_s"):
        share_used([1], 0.0, 1.0)
