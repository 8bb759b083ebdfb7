"""Latency percentiles from the log-bucket histogram are within 2% of the exact ones."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from sluicegate.bulk.histogram import LatencyHistogram

latencies = st.lists(
    st.floats(min_value=1e-4, max_value=600.0, allow_nan=False), min_size=1, max_size=400
)


@given(latencies, st.sampled_from([0.0, 0.5, 0.9, 0.95, 0.99, 1.0]))
def test_a_quantile_is_within_two_percent_above_the_exact_one(
    values: list[float], q: float
) -> None:
    histogram = LatencyHistogram()
    for value in values:
        histogram.add(value)
    exact = sorted(values)[max(1, math.ceil(q * len(values))) - 1]
    estimate = histogram.quantile(q)
    assert estimate is not None
    assert exact * (1 - 1e-9) <= estimate <= exact * 1.02 * (1 + 1e-9)


def test_memory_does_not_grow_with_the_count() -> None:
    histogram = LatencyHistogram()
    for i in range(100_000):
        histogram.add(0.05 + (i % 1000) / 10_000)  # 50 to 150 ms
    assert histogram.count == 100_000
    assert len(histogram._counts) < 60  # buckets, not values
    p50 = histogram.quantile(0.5)
    assert p50 is not None and abs(p50 - 0.1) / 0.1 < 0.02


def test_no_latency_no_quantile_and_bad_values_are_ignored() -> None:
    histogram = LatencyHistogram()
    assert histogram.quantile(0.5) is None
    histogram.add(float("nan"))
    histogram.add(-1.0)
    assert histogram.count == 0
    histogram.add(0.25)
    assert histogram.quantile(0.5) == 0.25 and histogram.quantile(0.95) == 0.25
