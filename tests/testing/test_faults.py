"""FaultPlan decisions and the provider-shaped error answers of status faults."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.testing.faults import (
    FAULT_KINDS,
    STATUS_FAULTS,
    FaultChoice,
    FaultKind,
    FaultPlan,
    FaultWindow,
    fault_reply,
    parse_fault_kind,
    parse_fault_rate,
    parse_fault_window,
)

kinds = st.sampled_from(FAULT_KINDS)
script_entries = st.lists(st.one_of(st.none(), kinds), max_size=30)
rate_maps = st.dictionaries(
    kinds, st.floats(min_value=0.0, max_value=0.1), max_size=len(FAULT_KINDS)
)


def test_parse_fault_kind() -> None:
    assert parse_fault_kind("rate_limit") == "rate_limit"
    assert parse_fault_kind(" Rate-Limit ") == "rate_limit"
    for empty in (None, "", "none", "NONE", "ok"):
        assert parse_fault_kind(empty) is None
    with pytest.raises(ValueError, match=r"unknown fault kind 'boom'.*rate_limit"):
        parse_fault_kind("boom")


def test_parse_fault_rate() -> None:
    assert parse_fault_rate("server_error=0.25") == ("server_error", 0.25)
    for bad in ("server_error", "none=0.1", "server_error=lots", "=0.1"):
        with pytest.raises(ValueError):
            parse_fault_rate(bad)


def test_empty_plan_never_faults() -> None:
    plan = FaultPlan()
    assert [plan.next() for _ in range(100)] == [None] * 100


@given(script_entries, st.integers(min_value=0, max_value=10))
def test_script_is_consumed_in_order_then_rates_apply(
    script: list[FaultKind | None], extra: int
) -> None:
    plan = FaultPlan(script=script)
    assert [plan.next() for _ in script] == script
    assert plan.script_remaining == 0
    assert [plan.next() for _ in range(extra)] == [None] * extra


def test_script_accepts_names_and_none() -> None:
    plan = FaultPlan(script=["rate_limit", None, "none", "server-error"])
    assert [plan.next() for _ in range(5)] == ["rate_limit", None, None, "server_error", None]


def test_script_falls_back_to_rates() -> None:
    plan = FaultPlan(rates={"overloaded": 1.0}, script=[None, "quota"])
    assert [plan.next() for _ in range(4)] == [None, "quota", "overloaded", "overloaded"]


@given(script_entries, kinds)
def test_override_wins_and_consumes_nothing(
    script: list[FaultKind | None], kind: FaultKind
) -> None:
    plan = FaultPlan(script=script)
    assert plan.next(kind) == kind
    assert plan.next("none") is None
    assert plan.script_remaining == len(script)
    assert [plan.next() for _ in script] == script


def test_override_with_unknown_kind_raises() -> None:
    with pytest.raises(ValueError):
        FaultPlan().next("nonsense")


@given(rate_maps, st.integers(min_value=0, max_value=2**32))
def test_rates_are_reproducible_with_a_seed(rates: dict[str, float], seed: int) -> None:
    first = FaultPlan(rates=rates, seed=seed)
    second = FaultPlan(rates=dict(reversed(list(rates.items()))), seed=seed)
    sequence = [first.next() for _ in range(200)]
    assert [second.next() for _ in range(200)] == sequence
    first.reset()
    assert [first.next() for _ in range(200)] == sequence
    assert all(kind is None or rates.get(kind, 0.0) > 0 for kind in sequence)


def test_different_seeds_give_different_faults() -> None:
    a = FaultPlan(rates={"rate_limit": 0.5}, seed=1)
    b = FaultPlan(rates={"rate_limit": 0.5}, seed=2)
    assert [a.next() for _ in range(64)] != [b.next() for _ in range(64)]


def test_rates_are_roughly_honoured() -> None:
    plan = FaultPlan(rates={"rate_limit": 0.2, "server_error": 0.1}, seed=7)
    draws = [plan.next() for _ in range(5000)]
    assert 0.17 < draws.count("rate_limit") / 5000 < 0.23
    assert 0.08 < draws.count("server_error") / 5000 < 0.12


def test_reset_restarts_the_script() -> None:
    plan = FaultPlan(script=["auth", "hang"])
    assert plan.next() == "auth"
    plan.reset()
    assert [plan.next(), plan.next()] == ["auth", "hang"]


@pytest.mark.parametrize(
    "rates",
    [{"rate_limit": 0.7, "quota": 0.7}, {"rate_limit": -0.1}, {"rate_limit": float("nan")}],
)
def test_invalid_rates_are_refused(rates: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FaultPlan(rates=rates)


def test_rate_needs_a_kind() -> None:
    with pytest.raises(ValueError):
        FaultPlan(rates={"none": 0.1})
    with pytest.raises(ValueError):
        FaultPlan(rates={"explode": 0.1})


def test_repr_shows_the_plan() -> None:
    assert "rate_limit" in repr(FaultPlan(rates={"rate_limit": 0.1}, seed=3))


EXPECTED_OPENAI = {
    "rate_limit": (429, "requests", "rate_limit_exceeded"),
    "rate_limit_bare": (429, "requests", "rate_limit_exceeded"),
    "rate_limit_zero": (429, "requests", "rate_limit_exceeded"),
    "quota": (429, "insufficient_quota", "insufficient_quota"),
    "server_error": (500, "server_error", None),
    "overloaded": (503, "server_error", None),
    "bad_request": (400, "invalid_request_error", None),
    "auth": (401, "invalid_request_error", "invalid_api_key"),
}
EXPECTED_ANTHROPIC = {
    "rate_limit": (429, "rate_limit_error"),
    "rate_limit_bare": (429, "rate_limit_error"),
    "rate_limit_zero": (429, "rate_limit_error"),
    "quota": (429, "rate_limit_error"),
    "server_error": (500, "api_error"),
    "overloaded": (529, "overloaded_error"),
    "bad_request": (400, "invalid_request_error"),
    "auth": (401, "authentication_error"),
}


@pytest.mark.parametrize("kind", sorted(STATUS_FAULTS))
def test_openai_fault_replies(kind: FaultKind) -> None:
    reply = fault_reply(kind, "openai", retry_after_s=2.5)
    status, error_type, code = EXPECTED_OPENAI[kind]
    body = json.loads(reply.body)
    assert reply.status == status
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (body["error"]["type"], body["error"]["code"]) == (error_type, code)
    if kind == "rate_limit":
        assert reply.headers == {"retry-after": "3", "retry-after-ms": "2500"}
    elif kind == "rate_limit_zero":
        assert reply.headers == {"retry-after": "0"}
    else:
        assert reply.headers == {}


@pytest.mark.parametrize("kind", sorted(STATUS_FAULTS))
def test_anthropic_fault_replies(kind: FaultKind) -> None:
    reply = fault_reply(kind, "anthropic", request_id="req_1")
    status, error_type = EXPECTED_ANTHROPIC[kind]
    body = json.loads(reply.body)
    assert reply.status == status
    assert body["type"] == "error"
    assert body["request_id"] == "req_1"
    assert body["error"]["type"] == error_type
    assert isinstance(body["error"]["message"], str)
    if kind == "quota":
        assert body["error"]["details"] == {"error_code": "enforced_spend_limit_reached"}
    assert ("retry-after" in reply.headers) == (kind in ("rate_limit", "rate_limit_zero"))
    if kind == "rate_limit_zero":
        assert reply.headers == {"retry-after": "0"}


EXPECTED_GEMINI = {
    "rate_limit": (429, "RESOURCE_EXHAUSTED"),
    "rate_limit_bare": (429, "RESOURCE_EXHAUSTED"),
    "rate_limit_zero": (429, "RESOURCE_EXHAUSTED"),
    "quota": (429, "RESOURCE_EXHAUSTED"),
    "server_error": (500, "INTERNAL"),
    "overloaded": (503, "UNAVAILABLE"),
    "bad_request": (400, "INVALID_ARGUMENT"),
    "auth": (400, "INVALID_ARGUMENT"),
}


@pytest.mark.parametrize("kind", sorted(STATUS_FAULTS))
def test_gemini_fault_replies(kind: FaultKind) -> None:
    reply = fault_reply(kind, "gemini", retry_after_s=2.5)
    status, name = EXPECTED_GEMINI[kind]
    error = json.loads(reply.body)["error"]
    assert reply.status == error["code"] == status
    assert error["status"] == name
    assert isinstance(error["message"], str)
    details = {d["@type"].rsplit(".", 1)[-1]: d for d in error.get("details", [])}
    # the wait is in the body only: Gemini sends no Retry-After (a relay's 0 aside)
    assert reply.headers == ({"retry-after": "0"} if kind == "rate_limit_zero" else {})
    if kind == "rate_limit":
        assert details["RetryInfo"]["retryDelay"] == "2.500s"
    if kind in ("rate_limit", "rate_limit_bare", "rate_limit_zero", "quota"):
        [violation] = details["QuotaFailure"]["violations"]
        assert ("PerDay" in violation["quotaId"]) == (kind == "quota")
        assert ("RetryInfo" in details) == (kind in ("rate_limit", "quota"))
    if kind == "auth":
        assert details["ErrorInfo"]["reason"] == "API_KEY_INVALID"


def test_overloaded_status_is_configurable_and_stream_error_maps_to_it() -> None:
    assert fault_reply("overloaded", "anthropic", anthropic_overloaded_status=503).status == 503
    assert fault_reply("stream_error", "openai").status == 503
    assert fault_reply("stream_error", "anthropic").status == 529


@pytest.mark.parametrize("kind", ["hang", "cut_stream", "malformed"])
def test_body_faults_have_no_status_reply(kind: FaultKind) -> None:
    with pytest.raises(ValueError):
        fault_reply(kind, "openai")


def test_bare_and_zero_429s_have_the_rate_limit_body() -> None:
    """Only the headers tell the three 429s apart: a client cannot learn the wait from
    the body."""
    for provider in ("openai", "anthropic"):
        bodies = {
            json.loads(fault_reply(kind, provider, request_id="r").body)  # type: ignore[arg-type]
            == json.loads(fault_reply("rate_limit", provider, request_id="r").body)  # type: ignore[arg-type]
            for kind in ("rate_limit_bare", "rate_limit_zero")
        }
        assert bodies == {True}


def test_new_kinds_go_last_so_old_rates_keep_their_draws() -> None:
    assert FAULT_KINDS[-2:] == ("rate_limit_bare", "rate_limit_zero")
    assert parse_fault_kind("rate-limit-bare") == "rate_limit_bare"


# -- windows ---------------------------------------------------------------------------


def test_window_covers_its_half_open_interval_and_model() -> None:
    window = FaultWindow(10.0, 20.0, "overloaded", model="fast")
    assert [window.covers(t, "fast") for t in (9.999, 10.0, 19.999, 20.0)] == [
        False,
        True,
        True,
        False,
    ]
    assert not window.covers(15.0, "smart")
    assert not window.covers(15.0, None)
    forever = FaultWindow(0, None, "server-error")
    assert forever.kind == "server_error"
    assert forever.covers(1e12, "anything") and forever.covers(0, None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"start_s": 0, "end_s": 1, "kind": "none"},
        {"start_s": 0, "end_s": 1, "kind": "meteor"},
        {"start_s": 5, "end_s": 5, "kind": "auth"},
        {"start_s": float("nan"), "end_s": None, "kind": "auth"},
        {"start_s": "0", "end_s": None, "kind": "auth"},
        {"start_s": 0, "end_s": None, "kind": "auth", "model": ""},
        {"start_s": 0, "end_s": None, "kind": "quota", "retry_after_s": 5},
        {"start_s": 0, "end_s": None, "kind": "rate_limit", "retry_after_s": -1},
    ],
)
def test_invalid_windows_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultWindow(**kwargs)


def test_parse_fault_window() -> None:
    assert parse_fault_window("10:70:overloaded:fast") == FaultWindow(10, 70, "overloaded", "fast")
    assert parse_fault_window("0::rate-limit") == FaultWindow(0, None, "rate_limit")
    assert parse_fault_window("1.5:2:auth:llama3:8b").model == "llama3:8b"
    for bad in ("10:70", "a:b:auth", "0:1:none", "0:1:meteor", "5:1:auth"):
        with pytest.raises(ValueError):
            parse_fault_window(bad)


def test_windows_win_over_script_and_rates_and_consume_nothing() -> None:
    plan = FaultPlan(
        rates={"server_error": 1.0},
        script=["auth", None],
        windows=[
            FaultWindow(10, 20, "rate_limit", model="fast", retry_after_s=86400),
            FaultWindow(15, None, "overloaded"),
        ],
    )
    assert plan.choose(elapsed_s=12, model="fast") == FaultChoice("rate_limit", plan.windows[0])
    assert plan.choose(elapsed_s=12, model="fast").retry_after_s == 86400
    assert plan.choose(elapsed_s=16, model="fast").kind == "rate_limit"  # the first one wins
    assert plan.choose(elapsed_s=16, model="smart") == FaultChoice("overloaded", plan.windows[1])
    assert plan.script_remaining == 2
    assert plan.choose("none", elapsed_s=16, model="fast") == FaultChoice(None)  # header first
    assert plan.choose(elapsed_s=12, model="smart") == FaultChoice("auth")  # script goes on
    assert plan.choose(elapsed_s=0, model="fast") == FaultChoice(None)
    assert plan.choose(model="fast").kind == "server_error"  # no time: windows skipped
    assert plan.choose(elapsed_s=12, model="smart").retry_after_s is None


@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(1, 50), kinds, st.sampled_from([None, "a", "b"])),
        max_size=5,
    ),
    st.integers(-5, 120),
    st.sampled_from([None, "a", "b"]),
)
def test_window_choice_is_the_first_covering_window(
    specs: list[tuple[int, int, FaultKind, str | None]], at: int, model: str | None
) -> None:
    windows = [FaultWindow(s, s + d, k, m) for s, d, k, m in specs]
    plan = FaultPlan(windows=windows)
    expected = next(
        (w for w in windows if w.start_s <= at < (w.end_s or 0) and w.model in (None, model)),
        None,
    )
    choice = plan.choose(elapsed_s=at, model=model)
    assert choice.window == expected
    assert choice.kind == (expected.kind if expected else None)
