"""Retry-After parsing: milliseconds, seconds, HTTP dates, and every kind of garbage."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st

from sluicegate.retry_after import MAX_RETRY_AFTER_S, parse_retry_after

NOW = 1_800_000_000.0


def test_milliseconds_win_over_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}, NOW) == 1.5


def test_seconds_and_fractions() -> None:
    assert parse_retry_after({"retry-after": "7"}, NOW) == 7.0
    assert parse_retry_after({"retry-after": " 0.25 "}, NOW) == 0.25


def test_http_date_in_the_future_and_the_past() -> None:
    future = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    past = format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True)
    assert parse_retry_after({"retry-after": future}, NOW) == 30.0
    assert parse_retry_after({"retry-after": past}, NOW) == 0.0


def test_negative_garbage_and_missing_give_none() -> None:
    for value in ("-1", "soon", "", "nan", "inf", "1e999", "Mon, 99 Foo"):
        assert parse_retry_after({"retry-after": value}, NOW) is None, value
    assert parse_retry_after({"retry-after-ms": "-5"}, NOW) is None
    assert parse_retry_after({}, NOW) is None


def test_huge_values_are_capped() -> None:
    assert parse_retry_after({"retry-after": "99999999"}, NOW) == MAX_RETRY_AFTER_S
    assert parse_retry_after({"retry-after-ms": "1e12"}, NOW) == MAX_RETRY_AFTER_S


@given(st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms", "other"]), st.text()))
def test_any_headers_give_none_or_a_bounded_wait(headers: dict[str, str]) -> None:
    value = parse_retry_after(headers, NOW)
    assert value is None or 0.0 <= value <= MAX_RETRY_AFTER_S


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_any_non_negative_number_of_seconds_is_kept_or_capped(seconds: float) -> None:
    assert parse_retry_after({"retry-after": repr(seconds)}, NOW) == min(seconds, MAX_RETRY_AFTER_S)
