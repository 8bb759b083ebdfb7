"""Reading rate-limit headers: OpenAI durations, Anthropic timestamps, garbage."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.limits.headers import (
    LimitReading,
    parse_duration_ns,
    parse_reset_ns,
    read_headers,
)
from sluicegate.testing.mock_ratelimit import format_duration

S = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1s", S),
        ("6m0s", 360 * S),
        ("20ms", 20_000_000),
        ("1h2m3.5s", 3723 * S + S // 2),
        ("0s", 0),
        ("59.999s", 59_999_000_000),
        ("1.5", S + S // 2),
        ("2", 2 * S),
        ("150us", 150_000),
        ("7ns", 7),
        (" 1m30s ", 90 * S),
    ],
)
def test_durations_parse_exactly(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize("text", ["", "abc", "-1s", "1x", "s", "1s2", "1.s", "nan", "25h", "1e3"])
def test_garbage_durations_are_none(text: str) -> None:
    assert parse_duration_ns(text) is None


@given(st.integers(0, 86_400 * 1000))
def test_the_mocks_formatting_reads_back(ms: int) -> None:
    assert parse_duration_ns(format_duration(ms * 1_000_000)) == ms * 1_000_000


def test_reset_as_rfc3339_is_relative_to_wall_time() -> None:
    wall = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert parse_reset_ns("2023-11-14T22:13:50Z", wall) == 30 * S
    assert parse_reset_ns("2023-11-14T22:13:00Z", wall) == 0  # in the past
    assert parse_reset_ns("2023-11-14T22:13:50", wall) is None  # no zone: ambiguous
    assert parse_reset_ns("yesterday", wall) is None
    assert parse_reset_ns("6m0s", wall) == 360 * S


def test_openai_headers() -> None:
    limits = read_headers(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "29000",
            "x-ratelimit-reset-tokens": "2s",
            "retry-after-ms": "250",
        },
        0.0,
    )
    assert limits.requests == LimitReading(500, 499, 120_000_000)
    assert limits.tokens == LimitReading(30000, 29000, 2 * S)
    assert limits.input_tokens is None and limits.output_tokens is None
    assert limits.retry_after_ns == 250_000_000
    assert limits.requests.rate_per_s() == pytest.approx(1 / 0.12)
    assert not limits.empty


def test_anthropic_headers() -> None:
    wall = 1_700_000_000.0
    limits = read_headers(
        {
            "anthropic-ratelimit-requests-limit": "50",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "2023-11-14T22:14:20Z",
            "anthropic-ratelimit-input-tokens-limit": "40000",
            "anthropic-ratelimit-input-tokens-remaining": "abc",
            "retry-after": "7",
        },
        wall,
    )
    assert limits.requests == LimitReading(50, 0, 60 * S)
    assert limits.requests.rate_per_s() == pytest.approx(50 / 60)
    assert limits.input_tokens == LimitReading(40000, None, None)
    assert limits.tokens is None
    assert limits.retry_after_ns == 7 * S


def test_no_headers() -> None:
    assert read_headers({"content-type": "application/json"}, 0.0).empty


def test_rate_of_a_full_bucket_is_the_limit_per_minute() -> None:
    assert LimitReading(600, 600, 0).rate_per_s() == 10.0
    assert LimitReading(None, 5, S).rate_per_s() is None
