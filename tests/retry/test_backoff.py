"""The backoff schedule: full jitter under an exponential ceiling, for any attempt number."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.errors import ConfigError
from sluicegate.retry.backoff import Backoff, full_jitter

finite = st.floats(min_value=0.0, max_value=1e6, allow_nan=False, allow_infinity=False)
attempts = st.one_of(
    st.integers(min_value=1, max_value=64),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=10**6, max_value=10**100),
)


def exact_ceiling(base: float, cap: float, attempt: int) -> Fraction:
    """min(cap, base·2^(attempt-1)) in exact arithmetic, without building 2**10**100."""
    if base == 0 or cap == 0:
        return Fraction(0)
    # base·2^(n-1) >= cap as soon as n-1 >= log2(cap/base); beyond that it is the cap
    if attempt - 1 > math.log2(cap) - math.log2(base) + 2:
        return Fraction(cap)
    return min(Fraction(cap), Fraction(base) * 2 ** (attempt - 1))


@given(attempt=attempts, base=finite, cap=finite, seed=st.integers(0, 2**32))
def test_delay_is_within_zero_and_the_exponential_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    backoff = Backoff(base, cap)
    delay = backoff.delay(attempt, random.Random(seed))
    assert isinstance(delay, float) and math.isfinite(delay)
    assert 0.0 <= delay <= exact_ceiling(base, cap, attempt)
    assert backoff.ceiling(attempt) == exact_ceiling(base, cap, attempt)


@given(
    base=st.floats(min_value=5e-324, max_value=1e300, allow_nan=False, allow_infinity=False),
    cap=st.floats(min_value=0.0, max_value=1.7976931348623157e308, allow_infinity=False),
    attempt=attempts,
)
def test_extreme_bases_and_caps_never_overflow(base: float, cap: float, attempt: int) -> None:
    backoff = Backoff(base, cap)
    ceiling = backoff.ceiling(attempt)
    assert math.isfinite(ceiling) and 0.0 <= ceiling <= cap
    assert backoff.ceiling(attempt) <= backoff.ceiling(attempt + 1)
    assert backoff.ceiling(attempt) == exact_ceiling(base, cap, attempt)


@given(base=finite, cap=finite, attempt=st.integers(min_value=1, max_value=3000))
def test_ceiling_never_decreases_and_ends_at_the_cap(base: float, cap: float, attempt: int) -> None:
    backoff = Backoff(base, cap)
    assert backoff.ceiling(attempt) <= backoff.ceiling(attempt + 1)
    if base > 0:
        assert backoff.ceiling(10**9) == cap


def test_the_default_schedule_doubles_from_half_a_second_to_thirty() -> None:
    backoff = Backoff()
    assert [backoff.ceiling(n) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff.ceiling(10**100) == 30.0
    assert backoff.ceiling(0) == backoff.ceiling(-5) == 0.5  # below 1 counts as the first


def test_full_jitter_spreads_over_the_whole_range() -> None:
    rng = random.Random(1)
    delays = [Backoff(1.0, 100.0).delay(4, rng) for _ in range(4000)]  # ceiling 8 s
    assert min(delays) < 0.1 and max(delays) > 7.9
    assert 3.8 < sum(delays) / len(delays) < 4.2  # uniform: mean is half the ceiling


def test_the_schedule_is_reproducible_from_the_rng_seed() -> None:
    first = [Backoff().delay(n, random.Random(42)) for n in range(1, 8)]
    again = [Backoff().delay(n, random.Random(42)) for n in range(1, 8)]
    assert first == again
    assert full_jitter(3, base=0.5, cap=30, rng=random.Random(42)) == first[2]


def test_zero_base_never_waits_and_a_cap_below_the_base_wins() -> None:
    assert Backoff(0.0, 30.0).ceiling(10**6) == 0.0
    assert Backoff(5.0, 2.0).ceiling(1) == 2.0
    assert Backoff(5.0, 0.0).delay(3, random.Random()) == 0.0


@pytest.mark.parametrize(
    ("base", "cap"), [(-1.0, 1.0), (1.0, -1.0), (math.nan, 1.0), (1.0, math.inf), ("1", 2.0)]
)
def test_bad_settings_are_config_errors(base: object, cap: object) -> None:
    with pytest.raises(ConfigError):
        Backoff(base, cap)  # type: ignore[arg-type]
