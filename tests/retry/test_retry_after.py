"""Retry-After parsing: milliseconds, seconds, HTTP dates, and every kind of garbage."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.retry.retry_after import MAX_RETRY_AFTER_S, parse_retry_after

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


# -- LiteLLM relays: the upstream's wait as llm_provider-retry-after(-ms) -------------------

RELAYED = "llm_provider-retry-after"
RELAYED_MS = "llm_provider-retry-after-ms"


def test_a_relays_zero_retry_after_gives_way_to_the_upstreams_wait() -> None:
    assert parse_retry_after({"retry-after": "0", RELAYED: "12"}, NOW) == 12.0
    assert parse_retry_after({"retry-after": "0", RELAYED_MS: "2500"}, NOW) == 2.5
    assert parse_retry_after({"retry-after": "0.0", RELAYED: "3"}, NOW) == 3.0


def test_the_relayed_wait_alone_is_read() -> None:
    assert parse_retry_after({RELAYED: "20"}, NOW) == 20.0
    assert parse_retry_after({RELAYED_MS: "750"}, NOW) == 0.75
    future = format_datetime(datetime.fromtimestamp(NOW + 45, UTC), usegmt=True)
    assert parse_retry_after({RELAYED: future}, NOW) == 45.0


def test_the_order_of_the_four_headers() -> None:
    every = {"retry-after-ms": "1500", "retry-after": "9", RELAYED_MS: "4000", RELAYED: "30"}
    assert parse_retry_after(every, NOW) == 1.5
    del every["retry-after-ms"]
    assert parse_retry_after(every, NOW) == 9.0  # a retry-after above 0 beats the relayed
    every["retry-after"] = "0"
    assert parse_retry_after(every, NOW) == 4.0
    del every[RELAYED_MS]
    assert parse_retry_after(every, NOW) == 30.0
    del every[RELAYED]
    assert parse_retry_after(every, NOW) == 0.0


def test_a_zero_retry_after_alone_still_means_zero() -> None:
    assert parse_retry_after({"retry-after": "0"}, NOW) == 0.0
    # a relayed value that is garbage is skipped, leaving the 0
    assert parse_retry_after({"retry-after": "0", RELAYED: "soon", RELAYED_MS: "-1"}, NOW) == 0.0
    past = format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True)
    assert parse_retry_after({"retry-after": past}, NOW) == 0.0
    assert parse_retry_after({"retry-after": past, RELAYED: "8"}, NOW) == 8.0


def test_unusable_headers_fall_through_to_the_relayed_ones() -> None:
    assert parse_retry_after({"retry-after-ms": "-5", RELAYED: "6"}, NOW) == 6.0
    assert parse_retry_after({"retry-after": "soon", RELAYED_MS: "100"}, NOW) == 0.1
    assert parse_retry_after({RELAYED: "-1"}, NOW) is None
    assert parse_retry_after({RELAYED_MS: "nan"}, NOW) is None


def test_relayed_values_are_capped() -> None:
    assert parse_retry_after({RELAYED: "99999999"}, NOW) == MAX_RETRY_AFTER_S
    assert parse_retry_after({"retry-after": "0", RELAYED_MS: "1e12"}, NOW) == MAX_RETRY_AFTER_S


HEADER_NAMES = ["retry-after", "retry-after-ms", RELAYED, RELAYED_MS, "other"]
header_values = st.one_of(
    st.text(max_size=12),
    st.floats(min_value=-10, max_value=1e7, allow_nan=False).map(repr),
    st.integers(-10, 10**7).map(str),
)


@given(st.dictionaries(st.sampled_from(HEADER_NAMES), header_values))
def test_any_mix_of_the_four_headers_gives_none_or_a_bounded_wait(headers: dict[str, str]) -> None:
    value = parse_retry_after(headers, NOW)
    assert value is None or 0.0 <= value <= MAX_RETRY_AFTER_S


def _alone(name: str, value: str) -> float | None:
    """The wait one header names, read as the plain header of its kind (whose parsing the
    tests above pin down): a relayed header is read as what it relays."""
    kind = "retry-after-ms" if name.endswith("-ms") else "retry-after"
    return parse_retry_after({kind: value}, NOW)


@given(st.dictionaries(st.sampled_from(HEADER_NAMES[:4]), header_values, min_size=1))
def test_the_answer_is_the_first_usable_header_in_order(headers: dict[str, str]) -> None:
    """A reference statement of the rule: each header read on its own, the first one in
    ``retry-after-ms, retry-after (> 0), relayed ms, relayed`` order that gives a wait
    wins; failing that, a retry-after of 0."""
    alone = {name: _alone(name, value) for name, value in headers.items()}
    expected: float | None = None
    for name in ("retry-after-ms", "retry-after", RELAYED_MS, RELAYED):
        wait = alone.get(name)
        if wait is not None and (name != "retry-after" or wait > 0):
            expected = wait
            break
    else:
        expected = alone.get("retry-after")
    assert parse_retry_after(headers, NOW) == expected


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_any_relayed_number_of_seconds_behind_a_zero_is_kept_or_capped(seconds: float) -> None:
    headers = {"retry-after": "0", RELAYED: repr(seconds)}
    assert parse_retry_after(headers, NOW) == min(seconds, MAX_RETRY_AFTER_S)


def test_rate_limit_headers_keep_the_relayed_waits() -> None:
    from sluicegate.providers.http_errors import rate_limit_headers

    sent = {
        "retry-after": "0",
        RELAYED: "12",
        RELAYED_MS: "12000",
        "llm_provider-x-request-id": "upstream-1",
        "x-ratelimit-remaining-requests": "0",
        "set-cookie": "session=private",
    }
    assert rate_limit_headers(sent) == {
        "retry-after": "0",
        RELAYED: "12",
        RELAYED_MS: "12000",
        "x-ratelimit-remaining-requests": "0",
    }


@pytest.mark.anyio
async def test_a_litellm_429_carries_the_upstreams_wait_and_headers() -> None:
    from sluicegate import Client, ProviderSettings, RateLimitedError
    from sluicegate.testing import Answer, ScriptedTransport

    relayed = {"retry-after": "0", RELAYED: "7", "x-litellm-model-id": "abc"}
    transport = ScriptedTransport(
        Answer.json(429, {"error": {"message": "slow down", "code": "429"}}, relayed)
    )
    async with Client(
        providers={"openai": ProviderSettings(api_key="sk-test-0", base_url="http://relay.test")},
        transport=transport,
        load_entry_points=False,
        stage_settings={"retry": False},
    ) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.chat("openai/gpt-4o-mini", "hi")
    assert info.value.retry_after == 7.0
    assert info.value.headers == {"retry-after": "0", RELAYED: "7"}
