"""AIMD on one model's request rate, driven by hand (no client, no server)."""

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
CLOCK = FakeClock(start=0.0)  # only read while dormant, every 32nd admission


def burst_of(rate: AdaptiveRate, n: int, at: int) -> int:
    """Admit ``n`` requests now; the mark of the last."""
    mark = 0
    for _ in range(n):
        assert rate.wait_ns(1, at) == 0
        mark = rate.take(1, at)
    return mark


def test_dormant_until_the_first_429_then_paced_below_what_was_sent() -> None:
    rate = AdaptiveRate("m", clock=CLOCK, settings=Adaptive(decrease=0.5, refusal_share=0))
    mark = burst_of(rate, 1_000, 10 * S)  # nothing is paced while dormant
    assert rate.rate is None
    assert rate.rate_limited(mark, now_ns=10 * S)
    assert rate.rate == pytest.approx(500.0)  # half of the 1000/s just measured
    burst_of(rate, 50, 10 * S)  # burst_s 0.1: a tenth of a second's worth at once
    assert rate.wait_ns(1, 10 * S) == 2_000_000  # then one every 2 ms


def test_a_429_for_a_request_sent_before_the_decrease_is_an_echo() -> None:
    rate = AdaptiveRate(
        "m", clock=CLOCK, settings=Adaptive(decrease=0.5, increase=0.01, refusal_share=0)
    )
    early = burst_of(rate, 1, 0)
    last = burst_of(rate, 99, 0)
    assert rate.rate_limited(last, 0)
    first = rate.rate
    assert not rate.rate_limited(early, S)  # sent before the decrease: no change
    assert not rate.rate_limited(last, S)
    assert rate.rate == first
    assert rate.rate_limited(burst_of(rate, 1, 2 * S), 2 * S)


def test_a_quick_second_429_is_a_deeper_cut_a_late_one_a_normal_cut() -> None:
    settings = Adaptive(decrease=0.5, increase=0.05, refusal_share=0)  # a saw-tooth of 10 s
    rate = AdaptiveRate("m", clock=CLOCK, settings=settings)
    rate.rate_limited(burst_of(rate, 100, 0), 0)
    assert rate.rate == pytest.approx(50.0)
    # within a tenth of the saw-tooth: squared
    rate.rate_limited(burst_of(rate, 1, S // 2), S // 2)
    assert rate.rate == pytest.approx(12.5)
    rate.rate_limited(burst_of(rate, 1, 3 * S), 3 * S)
    assert rate.rate == pytest.approx(6.25)


def test_the_rate_climbs_linearly_only_while_the_limit_holds_requests_back() -> None:
    settings = Adaptive(decrease=0.5, increase=0.1, refusal_share=0)
    rate = AdaptiveRate("m", clock=CLOCK, settings=settings)
    rate.rate_limited(burst_of(rate, 10, 0), 0)  # W = 10/s, now 5/s
    assert rate.rate == pytest.approx(5.0)
    assert not rate.succeeded(held=False, tokens=50, now_ns=S)  # caller slower: no change
    assert rate.rate == pytest.approx(5.0)
    # one second of held successes at ~5/s: + increase * W = +1/s
    for _ in range(5):
        assert rate.succeeded(held=True, tokens=50, now_ns=S)
    assert rate.rate == pytest.approx(6.0, rel=0.02)
    assert rate.tokens_per_request == 50


def test_the_rate_stays_within_min_and_max() -> None:
    rate = AdaptiveRate(
        "m", clock=CLOCK, settings=Adaptive(decrease=0.5, min_rpm=60, max_rpm=120, refusal_share=0)
    )
    rate.rate_limited(burst_of(rate, 1, 0), 0)
    assert rate.rate == pytest.approx(1.0)  # min 60 rpm
    for _ in range(1_000):
        rate.succeeded(True, 0, S)
    assert rate.rate == pytest.approx(2.0)  # max 120 rpm


def test_headers_saying_little_remains_cap_the_rate_before_any_429() -> None:
    rate = AdaptiveRate("m", clock=CLOCK, settings=Adaptive(low_remaining=0.1))
    assert rate.observe(ServerLimits(requests=LimitReading(600, 300, 30 * S)), 0) == 0
    assert rate.rate is None  # plenty left: still dormant
    # 50 of 600 left, 550 missing refilled over 55 s: the server refills 10 a second
    assert rate.observe(ServerLimits(requests=LimitReading(600, 50, 55 * S)), 0) == 0
    assert rate.rate == pytest.approx(10.0)
    # nothing left: hold for one refill interval
    hold = rate.observe(ServerLimits(requests=LimitReading(600, 0, 60 * S)), 0)
    assert hold == S // 10


def test_token_headers_are_turned_into_a_request_rate() -> None:
    rate = AdaptiveRate("m", clock=CLOCK, settings=Adaptive())
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

    clock = CountingClock(start=10.0)
    rate = AdaptiveRate("m", Adaptive(decrease=0.5, refusal_share=0), clock)
    for _ in range(320):
        rate.take(1, -1)  # the stage passes -1: it did not read the time
    assert clock.reads == 1 + 10  # the first admission opens a window, then every 32nd
    clock.advance(1.0)
    for _ in range(64):
        rate.take(1, -1)
    # the demand is still known: 384 admissions around t=10..11 s
    assert rate.measured_rate(11 * S) == pytest.approx(384, rel=0.2)


def test_a_first_429_at_light_traffic_starts_from_the_rate_actually_sent() -> None:
    clock = FakeClock(start=5_000.0)
    rate = AdaptiveRate("m", Adaptive(decrease=0.5, refusal_share=0), clock)
    mark = rate.take(1, -1)  # one request, the clock unread by the stage
    clock.advance(0.2)
    assert rate.rate_limited(mark, 5_000_200_000_000)
    assert rate.rate == pytest.approx(0.5)  # one a second measured, not the 1 rpm floor


def test_past_the_last_peak_the_rate_grows_by_a_share_of_itself() -> None:
    rate = AdaptiveRate("m", Adaptive(decrease=0.5, increase=0.1, refusal_share=0), CLOCK)
    rate.rate_limited(burst_of(rate, 2, 0), 0)  # W = 2/s, now 1/s
    for _ in range(200):
        rate.succeeded(True, 0, S)
    assert rate.rate is not None and rate.rate > 8  # far past W: no longer linear


def refuse_every(rate: AdaptiveRate, every: int, per_s: int, seconds: int) -> int:
    """Admit ``per_s`` requests a second for ``seconds``, each ``every``-th refused;
    how many refusals lowered the rate."""
    decreases = 0
    for n in range(per_s * seconds):
        now = n * S // per_s
        mark = rate.take(1, now)
        if n % every == every - 1:
            decreases += rate.rate_limited(mark, now)
        else:
            rate.succeeded(bool(mark & 1), 0, now)
    return decreases


@settings(max_examples=60, deadline=None)
@given(
    every=st.integers(min_value=10, max_value=60),
    per_s=st.integers(min_value=1, max_value=400),
    engaged=st.booleans(),
)
def test_refusals_at_or_under_the_tolerated_share_never_lower_the_rate(
    every: int, per_s: int, engaged: bool
) -> None:
    """One refusal in ``every`` >= 10 requests is at most ``refusal_share`` (0.1): a
    server refusing that often whatever the rate is not congested, at any rate."""
    rate = AdaptiveRate("m", Adaptive(refusal_share=0.1), FakeClock(start=0.0))
    if engaged:
        rate._apply(float(per_s), 0)  # already pacing, as after headers capped it
    before = rate.rate
    assert refuse_every(rate, every, per_s, seconds=30) == 0
    assert rate.rate is None if before is None else rate.rate >= before  # may have climbed


@settings(max_examples=60, deadline=None)
@given(every=st.integers(min_value=1, max_value=3), per_s=st.integers(min_value=1, max_value=400))
def test_refusals_well_over_the_share_lower_the_rate_within_a_few_of_them(
    every: int, per_s: int
) -> None:
    """A third or more of the requests refused is congestion: the first decrease comes
    within four refusals, and a second one follows (the rate is still refused)."""
    rate = AdaptiveRate("m", Adaptive(refusal_share=0.1), FakeClock(start=0.0))
    refusals = 0
    n = 0
    while rate.rate is None:
        now = n * S // per_s
        mark = rate.take(1, now)
        if n % every == every - 1:
            refusals += 1
            rate.rate_limited(mark, now)
        n += 1
        assert refusals <= 4
    first = rate.rate
    assert refuse_every(rate, every, per_s, seconds=15) >= 1
    assert rate.rate < first


def test_one_random_429_alone_does_not_wake_the_limiter_but_share_zero_does() -> None:
    sporadic = AdaptiveRate("m", Adaptive(), CLOCK)
    assert not sporadic.rate_limited(burst_of(sporadic, 100, 0), 0)
    assert sporadic.rate is None
    classic = AdaptiveRate("m", Adaptive(refusal_share=0), CLOCK)
    assert classic.rate_limited(burst_of(classic, 100, 0), 0)
    assert classic.rate is not None


@pytest.mark.parametrize("share", [-0.1, 1.0, float("nan")])
def test_refusal_share_outside_0_1_is_a_config_error(share: float) -> None:
    with pytest.raises(ConfigError, match="refusal_share"):
        Adaptive(refusal_share=share)
