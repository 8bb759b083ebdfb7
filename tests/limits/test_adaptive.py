"""One model's sent rate, driven by hand (no client, no server): slow start, cuts from
what got through, the once-per-cut echo rule, named waits judged by their share, storms,
and headers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.clock import FakeClock
from sluicegate.errors import ConfigError
from sluicegate.limits import Adaptive
from sluicegate.limits.adaptive import AdaptiveRate
from sluicegate.limits.headers import LimitReading, ServerLimits

S = 1_000_000_000
MS = 1_000_000
CLOCK = FakeClock(start=0.0)  # only read while dormant, every 32nd admission


def send(rate: AdaptiveRate, at: int) -> int:
    """Admit one request at ``at`` (whatever its wait) and return its mark."""
    return rate.take(1, at)


def answered(rate: AdaptiveRate, mark: int, at: int, latency: int = 20 * MS) -> None:
    rate.succeeded(bool(mark & 1), 0, at, latency)


def paced(rps: float, seconds: float, start: int = 0) -> list[int]:
    step = round(S / rps)
    return [start + i * step for i in range(round(rps * seconds))]


# -- phases -----------------------------------------------------------------------------------


def test_a_model_with_a_configured_rate_starts_dormant_one_without_in_slow_start() -> None:
    configured = AdaptiveRate("m", Adaptive(), CLOCK, ceiling=20.0, slow_start=False)
    unknown = AdaptiveRate("m", Adaptive(initial_rps=10), CLOCK, slow_start=True)
    assert configured.rate is None and configured.phase == "dormant"
    assert unknown.rate == 10.0 and unknown.phase == "slow start"
    # slow start paces from the first request: the second waits a tenth of a second
    send(unknown, 0)
    assert unknown.wait_ns(1, 0) == 100 * MS


def test_slow_start_doubles_per_round_trip_while_the_pace_holds_requests_back() -> None:
    rate = AdaptiveRate(
        "m", Adaptive(initial_rps=10, slow_start_period_s=0.1), CLOCK, slow_start=True
    )
    now = 0
    for _ in range(40):  # a caller with more to send than the pace lets out
        wait = rate.wait_ns(1, now)
        now += wait
        mark = send(rate, now)
        answered(rate, mark | 1, now + 1)
    # about 2 s at a doubling per 0.1 s: far above where it began
    assert rate.rate is not None and rate.rate > 10 * 2**4
    assert rate.phase == "slow start"


def test_slow_start_goes_dormant_once_the_pace_holds_nothing_back() -> None:
    rate = AdaptiveRate("m", Adaptive(initial_rps=1000), CLOCK, slow_start=True)
    for at in paced(5, 3.0):  # a caller far slower than the pace
        answered(rate, send(rate, at) & ~1, at + MS)
    assert rate.rate is None and rate.phase == "dormant"


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    concurrency=st.integers(4, 16),
    latency_ms=st.floats(5.0, 50.0),
)
def test_slow_start_stops_growing_at_twice_the_demand_of_a_bound_caller(
    seed: int, concurrency: int, latency_ms: float
) -> None:
    # A bulk run's shape: ``concurrency`` slots, each sending again the moment its answer
    # (random latency) comes, against a server that never refuses. Arrivals this random
    # always include some close together, which find the bucket not yet drained, so the
    # pace "holds" a few requests at any rate; growth must still stop near the demand
    # (before the fix, the rate doubled every 0.1 s until it overflowed after ~100 s; 20 s
    # take it far past 4x).
    import heapq
    import random

    rnd = random.Random(seed)
    rate = AdaptiveRate("m", Adaptive(), CLOCK, slow_start=True)
    events = []
    for slot in range(concurrency):
        at = slot * 1000
        events.append((at + round(rnd.expovariate(1 / (latency_ms * MS))), at, send(rate, at)))
    heapq.heapify(events)
    highest = 0.0
    now = 0
    while now < 20 * S:
        now, sent_at, mark = heapq.heappop(events)
        answered(rate, mark, now, now - sent_at)
        highest = max(highest, rate.rate or 0.0)
        latency = round(rnd.expovariate(1 / (latency_ms * MS)))
        heapq.heappush(events, (now + latency, now, send(rate, now)))
    demand = concurrency / (latency_ms / 1000)
    assert highest < 4 * demand


def test_the_ceiling_is_never_exceeded() -> None:
    rate = AdaptiveRate("m", Adaptive(increase=0.5), CLOCK, ceiling=20.0)
    rate._apply(19.0, 0)
    for at in paced(19, 10.0):
        answered(rate, send(rate, at) | 1, at + MS)
    assert rate.rate == pytest.approx(20.0)


# -- cuts -------------------------------------------------------------------------------------


def test_a_bare_429_cuts_to_just_under_what_got_through() -> None:
    """Sending 40/s into a 20/s limiter: what succeeded over the last seconds is the
    limiter's rate, and the cut lands at 90% of it, not at a blind fraction."""
    rate = AdaptiveRate("m", Adaptive(), CLOCK, ceiling=40.0)
    rate._apply(40.0, 0)
    last = 0
    for i, at in enumerate(paced(40, 2.0)):
        mark = send(rate, at)
        if i % 2 == 0:
            answered(rate, mark, at + MS)
        last = mark
    reaction = rate.rate_limited(last, 2 * S, None)
    assert reaction.congestion and reaction.cut and reaction.hold_ns == 0
    assert rate.rate == pytest.approx(0.9 * 20.0, rel=0.05)
    assert rate.phase == "avoidance"


def test_a_429_for_a_request_sent_before_the_cut_is_an_echo() -> None:
    rate = AdaptiveRate("m", Adaptive(), CLOCK, ceiling=40.0)
    marks = [send(rate, at) for at in paced(40, 0.1)]  # 4: fewer than a storm
    assert rate.rate_limited(marks[-1], S // 10, None).cut
    after_first = rate.rate
    for mark in marks[:2]:  # the rest of the burst, refused too, arriving later
        assert not rate.rate_limited(mark, S // 10 + MS, None).cut
    assert rate.rate == after_first
    answered(rate, marks[2], S // 10 + 2 * MS)
    # a request sent after the cut and refused is news
    assert rate.rate_limited(send(rate, S), S, None).cut
    assert rate.rate is not None and after_first is not None and rate.rate < after_first


def test_a_lone_bare_429_early_in_slow_start_only_stops_the_doubling() -> None:
    rate = AdaptiveRate("m", Adaptive(initial_rps=10), CLOCK, slow_start=True)
    mark = send(rate, 0)
    assert not rate.rate_limited(mark, 10 * MS, None).congestion
    assert rate.rate == 10.0 and rate.phase == "slow start"


def test_the_cut_is_a_tenth_after_a_quiet_spell_and_at_most_three_quarters() -> None:
    rate = AdaptiveRate("m", Adaptive(), CLOCK, ceiling=100.0)
    rate._apply(100.0, 0)
    for at in paced(100, 2.0):  # all answered: one refusal after a quiet spell
        answered(rate, send(rate, at), at + MS)
    rate.rate_limited(send(rate, 2 * S), 2 * S, None)
    assert rate.rate == pytest.approx(90.0, rel=0.02)
    deep = AdaptiveRate("m", Adaptive(), CLOCK, ceiling=100.0)
    deep._apply(100.0, 0)
    for i, at in enumerate(paced(100, 2.0)):
        mark = send(deep, at)
        if i % 20 == 0:  # a twentieth got through
            answered(deep, mark, at + MS)
    deep.rate_limited(send(deep, 2 * S), 2 * S, None)
    assert deep.rate == pytest.approx(25.0)


def test_after_a_cut_the_rate_climbs_back_only_while_requests_are_held() -> None:
    rate = AdaptiveRate("m", Adaptive(increase=0.02), CLOCK, ceiling=100.0)
    rate._apply(40.0, 0)
    rate.rate_limited(send(rate, 0), 0, None)
    cut = rate.rate
    assert cut is not None
    for at in paced(cut, 5.0, start=MS):  # not held: the caller sends at the rate
        answered(rate, send(rate, at) & ~1, at + MS)
    assert rate.rate == cut
    for at in paced(cut, 5.0, start=6 * S):  # held: climbs about 2% of the cut a second
        answered(rate, send(rate, at) | 1, at + MS)
    assert rate.rate == pytest.approx(cut * (1 + 0.02 * 5), rel=0.05)


# -- named waits --------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_a_fifth_refused_at_random_with_a_named_wait_never_cuts(seed: int) -> None:
    """A server refusing 20% at random, each with Retry-After: 1, whatever the rate: the
    retries honour the waits, the rate is not cut (the issue's 124 s run)."""
    import random

    draw = random.Random(seed)
    rate = AdaptiveRate("m", Adaptive(), CLOCK, ceiling=200.0)
    rate._apply(200.0, 0)
    cuts = 0
    for at in paced(200, 10.0):
        mark = send(rate, at)
        if draw.random() < 0.2:
            cuts += rate.rate_limited(mark, at + MS, S).cut
        else:
            answered(rate, mark, at + MS)
    assert cuts == 0


def test_named_waits_well_over_the_share_are_congestion_and_hold_the_model() -> None:
    rate = AdaptiveRate("m", Adaptive(refusal_share=0.25), CLOCK, ceiling=100.0)
    rate._apply(100.0, 0)
    reactions = []
    for i, at in enumerate(paced(100, 1.0)):
        mark = send(rate, at)
        if i % 2:  # half refused
            reactions.append(rate.rate_limited(mark, at + MS, 2 * S))
        else:
            answered(rate, mark, at + MS)
    cut = next(r for r in reactions if r.cut)
    assert cut.hold_ns == 2 * S
    assert reactions.index(cut) < 25  # within the first second


# -- storms -----------------------------------------------------------------------------------


def test_a_storm_holds_the_model_for_a_doubling_pause_and_ramps_back_after() -> None:
    rate = AdaptiveRate("m", Adaptive(storm_refusals=8), CLOCK, ceiling=100.0)
    rate._apply(80.0, 0)
    pauses = []
    for i in range(32):
        reaction = rate.rate_limited(send(rate, i * MS), i * MS, None)
        if reaction.storm:
            pauses.append(reaction.hold_ns)
    assert pauses == [1 * S, 2 * S, 4 * S, 8 * S]
    assert rate.storms == 4 and rate.rate is not None and rate.rate >= 1 / 60
    # the storm ends: slow start back to the rate that worked before it
    now = 60 * S
    for _ in range(60):
        now += rate.wait_ns(1, now)
        answered(rate, send(rate, now) | 1, now + MS)
    assert rate.rate == pytest.approx(80.0, rel=0.05)  # then climbing as after any cut
    assert rate.phase == "avoidance"


# -- headers ----------------------------------------------------------------------------------


def test_headers_saying_little_remains_cap_the_rate_before_any_429() -> None:
    rate = AdaptiveRate("m", Adaptive(low_remaining=0.1), CLOCK)
    assert rate.observe(ServerLimits(requests=LimitReading(600, 300, 30 * S)), 0) == 0
    assert rate.rate is None  # plenty left: still dormant
    # 50 of 600 left, 550 missing refilled over 55 s: the server refills 10 a second
    assert rate.observe(ServerLimits(requests=LimitReading(600, 50, 55 * S)), 0) == 0
    assert rate.rate == pytest.approx(10.0)
    hold = rate.observe(ServerLimits(requests=LimitReading(600, 0, 60 * S)), 0)
    assert hold == S // 10


def test_token_headers_are_turned_into_a_request_rate() -> None:
    rate = AdaptiveRate("m", Adaptive(), CLOCK)
    rate.succeeded(False, 100, 0)  # learns ~100 tokens a request
    limits = ServerLimits(tokens=LimitReading(60_000, 1_000, 59 * S))  # 1000 tokens/s
    rate.observe(limits, 0)
    assert rate.rate == pytest.approx(10.0)


def test_while_dormant_the_clock_is_read_only_every_32nd_admission() -> None:
    class CountingClock(FakeClock):
        reads = 0

        def now(self) -> float:
            self.reads += 1
            return super().now()

    clock = CountingClock(start=0.0)
    rate = AdaptiveRate("m", Adaptive(), clock)
    for _ in range(320):
        rate.take(1, -1)
    assert clock.reads == 11  # the first admission, then every 32nd


# -- bounds -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["ok", "held", "429", "429-named"]), st.integers(0, 200 * MS)),
        max_size=300,
    ),
    ceiling=st.one_of(st.none(), st.floats(1.0, 500.0)),
)
def test_the_rate_stays_within_its_bounds_whatever_happens(
    events: list[tuple[str, int]], ceiling: float | None
) -> None:
    adaptive = Adaptive(min_rpm=6, max_rpm=30_000)
    rate = AdaptiveRate("m", adaptive, CLOCK, ceiling=ceiling, slow_start=ceiling is None)
    top = min(500.0, ceiling) if ceiling is not None else 500.0
    now = 0
    for kind, gap in events:
        now += gap
        mark = rate.take(1, now)
        if kind == "ok":
            rate.succeeded(False, 0, now, MS)
        elif kind == "held":
            rate.succeeded(True, 0, now, MS)
        else:
            rate.rate_limited(mark, now, S if kind == "429-named" else None)
        if rate.rate is not None:
            assert 0.1 - 1e-9 <= rate.rate <= top + 1e-9


@pytest.mark.parametrize(
    "kwargs",
    [
        {"refusal_share": -0.1},
        {"refusal_share": 1.0},
        {"initial_rps": 0},
        {"slow_start_period_s": 0},
        {"storm_refusals": 1},
    ],
)
def test_bad_adaptive_settings_are_config_errors(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        Adaptive(**kwargs)
