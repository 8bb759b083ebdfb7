"""The GCRA core: the window bound, exact waits, and corrections that never over-refund."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.limits.gcra import NS_PER_MINUTE, NS_PER_SECOND, Gcra

rates = st.integers(min_value=1, max_value=2_000)
periods = st.sampled_from([1, 7, 1_000, NS_PER_SECOND, NS_PER_MINUTE, 3 * NS_PER_MINUTE + 1])
bursts = st.integers(min_value=1, max_value=40)


@st.composite
def traffic(draw: st.DrawFn) -> tuple[int, int, int, list[tuple[int, int]]]:
    """A limit and arrivals: (gap since the previous arrival in ns, cost <= burst)."""
    rate, period, burst = draw(rates), draw(periods), draw(bursts)
    interval = max(1, period // rate)
    gaps = st.integers(min_value=0, max_value=3 * interval * burst)
    arrivals = draw(st.lists(st.tuples(gaps, st.integers(1, burst)), min_size=1, max_size=60))
    return rate, period, burst, arrivals


def assert_window_bound(
    admitted: list[tuple[int, int]], rate: int, period: int, burst: int
) -> None:
    """Over every closed window [t_i, t_j], costs <= burst + (t_j - t_i) * rate / period."""
    for i in range(len(admitted)):
        total = 0
        for j in range(i, len(admitted)):
            total += admitted[j][1]
            span = admitted[j][0] - admitted[i][0]
            assert total * period <= burst * period + span * rate, (i, j, admitted)


@given(traffic())
@settings(max_examples=300, deadline=None)
def test_any_window_admits_at_most_burst_plus_rate_times_length(
    case: tuple[int, int, int, list[tuple[int, int]]],
) -> None:
    rate, period, burst, arrivals = case
    bucket = Gcra(rate, period, burst)
    now = 10**12
    admitted: list[tuple[int, int]] = []
    for gap, cost in arrivals:
        now += gap
        if bucket.try_acquire(cost, now) == 0:
            admitted.append((now, cost))
    assert_window_bound(admitted, rate, period, burst)


@given(traffic())
@settings(max_examples=300, deadline=None)
def test_waits_are_exact_and_waiting_them_out_keeps_the_bound(
    case: tuple[int, int, int, list[tuple[int, int]]],
) -> None:
    """Every request waits exactly the time it is told (one ns less would not do), and a
    queue of requests each admitted after its wait still obeys the window bound."""
    rate, period, burst, arrivals = case
    bucket = Gcra(rate, period, burst)
    now = 10**12
    admitted: list[tuple[int, int]] = []
    for gap, cost in arrivals:
        now += gap
        wait = bucket.wait_ns(cost, now)
        if wait > 0:
            assert bucket.wait_ns(cost, now + wait - 1) > 0
        assert bucket.wait_ns(cost, now + wait) == 0
        now += wait
        assert bucket.try_acquire(cost, now) == 0
        admitted.append((now, cost))
    assert_window_bound(admitted, rate, period, burst)


def test_exact_wait_for_a_rate_whose_interval_is_not_whole_nanoseconds() -> None:
    """7 a minute: the interval, 8571428571.43 ns, is not whole; waits round up by less
    than a nanosecond and the error does not add up: the 7th request after the burst goes
    exactly one minute later."""
    bucket = Gcra(7, NS_PER_MINUTE, burst=2)
    start = 5 * NS_PER_MINUTE
    assert bucket.try_acquire(2, start) == 0
    assert bucket.wait_ns(1, start) == 8_571_428_572  # rounded up, never early
    now = start
    for k in range(1, 8):
        now += bucket.wait_ns(1, now)
        assert bucket.try_acquire(1, now) == 0
        assert now - start == -(-k * NS_PER_MINUTE // 7)
    assert now - start == NS_PER_MINUTE


def test_no_drift_over_an_hour_at_ten_per_second() -> None:
    """aiometer admits 11 in the first second at 10/s; this admits the burst plus exactly
    10 a second, polled every millisecond, and still exactly that an hour later."""
    bucket = Gcra(10, NS_PER_SECOND, burst=2)
    admitted = 0
    for ms in range(1001):
        if bucket.try_acquire(1, ms * 1_000_000) == 0:
            admitted += 1
    assert admitted == 2 + 10
    now = NS_PER_SECOND
    hour = 3_600 * NS_PER_SECOND
    while True:
        now += bucket.wait_ns(1, now)
        if now > hour:
            break
        bucket.charge(1, now)
        admitted += 1
    assert admitted == 2 + 10 * 3_600


def test_too_heavy_cost_is_refused_by_the_core() -> None:
    bucket = Gcra(100, NS_PER_MINUTE, burst=10)
    with pytest.raises(ValueError, match="never fit"):
        bucket.wait_ns(11, 0)


def test_remaining_and_full_in() -> None:
    bucket = Gcra(60, NS_PER_MINUTE, burst=60)  # one a second, a minute's worth at once
    now = 100 * NS_PER_SECOND
    assert bucket.remaining(now) == 60 and bucket.full_in_ns(now) == 0
    bucket.charge(30, now)
    assert bucket.remaining(now) == 30
    assert bucket.full_in_ns(now) == 30 * NS_PER_SECOND
    assert bucket.remaining(now + 10 * NS_PER_SECOND) == 40
    assert not bucket.busy(now + 30 * NS_PER_SECOND) and bucket.busy(now)


# -- corrections ------------------------------------------------------------------------------


@st.composite
def corrected_traffic(draw: st.DrawFn) -> tuple[int, int, list[tuple[str, int, int, int]]]:
    """Charges made with an estimate and settled later with the actual cost, interleaved:
    ("charge", gap, estimate, actual) and ("settle", gap, index of an open charge, 0)."""
    rate = draw(st.integers(1, 500))
    burst = draw(st.integers(10, 200))
    events: list[tuple[str, int, int, int]] = []
    open_charges = 0
    interval = NS_PER_MINUTE // rate
    for _ in range(draw(st.integers(1, 40))):
        gap = draw(st.integers(0, 4 * interval))
        if open_charges and draw(st.booleans()):
            events.append(("settle", gap, draw(st.integers(0, open_charges - 1)), 0))
            open_charges -= 1
        else:
            estimate = draw(st.integers(1, burst))
            actual = draw(st.integers(0, burst))
            events.append(("charge", gap, estimate, actual))
            open_charges += 1
    return rate, burst, events


@given(corrected_traffic())
@settings(max_examples=200, deadline=None)
def test_corrections_never_leave_more_room_than_an_exact_replay(
    case: tuple[int, int, list[tuple[str, int, int, int]]],
) -> None:
    """At every moment the bucket has no more room than a bucket that had charged every
    settled request at its actual cost and every open one at its estimate, from the start
    (what a server counting true costs holds at most, when estimates are not low)."""
    rate, burst, events = case
    bucket = Gcra(rate, NS_PER_MINUTE, burst)
    now = NS_PER_MINUTE
    history: list[list[int]] = []  # [time, believed cost, estimate, actual, mark]
    open_ones: list[int] = []
    for kind, gap, a, b in events:
        now += gap
        if kind == "charge":
            if bucket.wait_ns(a, now) != 0:
                continue
            mark = bucket.charge(a, now)
            history.append([now, a, a, b, mark])
            open_ones.append(len(history) - 1)
        else:
            if not open_ones:
                continue
            index = open_ones.pop(a % len(open_ones))
            entry = history[index]
            bucket.settle(entry[2], entry[3], entry[4], now)
            entry[1] = entry[3]
        replay = Gcra(rate, NS_PER_MINUTE, burst)
        for when, cost, *_ in history:
            replay.charge(cost, when)
        assert bucket.full_in_ns(now) >= replay.full_in_ns(now), (history, now)


def test_an_immediate_refund_gives_back_exactly_the_difference() -> None:
    bucket = Gcra(1_000, NS_PER_MINUTE, burst=1_000)
    now = NS_PER_MINUTE
    mark = bucket.charge(600, now)
    assert bucket.remaining(now) == 400
    assert bucket.settle(600, 50, mark, now) is True
    assert bucket.remaining(now) == 950


def test_a_refund_after_the_bucket_drained_gives_nothing_extra() -> None:
    """The over-charge already leaked away during an idle gap: refunding it again would
    credit capacity the server never had."""
    bucket = Gcra(60, NS_PER_MINUTE, burst=60)
    now = NS_PER_MINUTE
    mark = bucket.charge(50, now)
    later = now + 50 * NS_PER_SECOND
    bucket.charge(60, later)  # a full burst after the first charge drained
    before = bucket.full_in_ns(later)
    bucket.settle(50, 5, mark, later)
    assert bucket.full_in_ns(later) == before


def test_an_extra_charge_is_added_when_actual_exceeds_the_estimate() -> None:
    bucket = Gcra(100, NS_PER_MINUTE, burst=100)
    mark = bucket.charge(10, 0)
    assert bucket.settle(10, 30, mark, 0) is False
    assert bucket.remaining(0) == 70


def test_set_rate_keeps_what_is_in_the_bucket() -> None:
    bucket = Gcra(60, NS_PER_MINUTE, burst=60)
    now = NS_PER_MINUTE
    bucket.charge(30, now)
    bucket.set_rate(600, NS_PER_MINUTE, 60, now)
    assert bucket.remaining(now) == 30
    assert bucket.full_in_ns(now) == 3 * NS_PER_SECOND  # 30 units at 10 a second
    mark = bucket.charge(10, now)
    bucket.set_rate(120, NS_PER_MINUTE, 60, now)
    assert bucket.settle(10, 0, mark, now) is False  # marks from before a change are stale


def test_hold_remaining_only_ever_lowers_the_room() -> None:
    bucket = Gcra(100, NS_PER_MINUTE, burst=100)
    bucket.hold_remaining(40, 0)
    assert bucket.remaining(0) == 40
    bucket.hold_remaining(90, 0)
    assert bucket.remaining(0) == 40


@given(st.integers(1, 10**6), st.integers(1, 10**12), st.integers(1, 10**4))
def test_scaled_arithmetic_matches_fractions(rate: int, period: int, burst: int) -> None:
    bucket = Gcra(rate, period, burst)
    bucket.charge(burst, 0)
    wait = bucket.wait_ns(1, 0)
    exact = Fraction(period, rate)  # one unit drains in period / rate ns
    assert wait == math.ceil(exact)
