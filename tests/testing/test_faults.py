"""FaultPlan decisions and the provider-shaped error answers of status faults."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.testing.faults import (
    FAULT_KINDS,
    STATUS_FAULTS,
    FaultKind,
    FaultPlan,
    fault_reply,
    parse_fault_kind,
    parse_fault_rate,
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
    "quota": (429, "insufficient_quota", "insufficient_quota"),
    "server_error": (500, "server_error", None),
    "overloaded": (503, "server_error", None),
    "bad_request": (400, "invalid_request_error", None),
    "auth": (401, "invalid_request_error", "invalid_api_key"),
}
EXPECTED_ANTHROPIC = {
    "rate_limit": (429, "rate_limit_error"),
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
    else:
        assert "retry-after" not in reply.headers


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
    assert ("retry-after" in reply.headers) == (kind == "rate_limit")


def test_overloaded_status_is_configurable_and_stream_error_maps_to_it() -> None:
    assert fault_reply("overloaded", "anthropic", anthropic_overloaded_status=503).status == 503
    assert fault_reply("stream_error", "openai").status == 503
    assert fault_reply("stream_error", "anthropic").status == 529


@pytest.mark.parametrize("kind", ["hang", "cut_stream", "malformed"])
def test_body_faults_have_no_status_reply(kind: FaultKind) -> None:
    with pytest.raises(ValueError):
        fault_reply(kind, "openai")
