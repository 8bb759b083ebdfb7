"""Every stage reads its ``stage_settings`` value by the same rules, and says what is
wrong the same way (sluicegate.stage_settings)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate import (
    BreakerPolicy,
    Client,
    ConfigError,
    CostPolicy,
    DeadlinePolicy,
    FallbackPolicy,
    IdempotencyPolicy,
    Limit,
    RateLimits,
    RetryPolicy,
    StructuredPolicy,
)
from sluicegate.stage_settings import ExtraForm, stage_policy


def never_fall_back(error: object) -> bool:
    return False


@dataclass(frozen=True)
class Stage:
    """A stage's settings key, its policy and its reader, with one mapping the policy
    takes and one whose ``wrong`` key it refuses."""

    name: str
    policy: type[Any]
    read: Callable[[object], object]
    good: Mapping[str, Any]
    wrong: Mapping[str, Any]

    @property
    def known(self) -> list[str]:
        return sorted(f.name for f in fields(self.policy))


STAGES = [
    Stage("deadline", DeadlinePolicy, DeadlinePolicy.from_setting, {"total": 30.0}, {"total": -1}),
    Stage(
        "idempotency",
        IdempotencyPolicy,
        IdempotencyPolicy.from_setting,
        {"ttl_s": 5, "generate_keys": False},
        {"max_entries": -1},
    ),
    Stage(
        "fallback",
        FallbackPolicy,
        FallbackPolicy.from_setting,
        {"should_fall_back": never_fall_back},
        {},  # the policy refuses no value: it has nothing to check
    ),
    Stage("retry", RetryPolicy, RetryPolicy.from_setting, {"attempts": 2}, {"attempts": 0}),
    Stage(
        "breaker",
        BreakerPolicy,
        BreakerPolicy.from_setting,
        {"min_throughput": 5},
        {"window_s": "30"},  # a TypeError inside the policy's checks
    ),
    Stage(
        "rate_limit", RateLimits, RateLimits.from_setting, {"adaptive": False}, {"max_hold_s": -1}
    ),
    Stage(
        "cost",
        CostPolicy,
        CostPolicy.from_setting,
        {"default_output_tokens": 10},
        {"default_output_tokens": -1},
    ),
    Stage(
        "structured",
        StructuredPolicy,
        StructuredPolicy.from_setting,
        {"reasks": 4},
        {"reasks": -1},
    ),
]
BY_NAME = {stage.name: stage for stage in STAGES}
each_stage = pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])


@each_stage
def test_none_and_true_are_the_defaults_false_is_off(stage: Stage) -> None:
    assert stage.read(None) == stage.policy()
    assert stage.read(True) == stage.policy()
    assert stage.read(False) is None


@each_stage
def test_a_policy_is_taken_as_it_is(stage: Stage) -> None:
    policy = stage.policy(**stage.good)
    assert stage.read(policy) is policy


@each_stage
def test_a_mapping_gives_the_policys_fields(stage: Stage) -> None:
    assert stage.read(dict(stage.good)) == stage.policy(**stage.good)
    assert stage.read({}) == stage.policy()


@each_stage
def test_an_unknown_option_is_named_with_the_known_ones(stage: Stage) -> None:
    with pytest.raises(ConfigError) as info:
        stage.read({**stage.good, "atempts": 3})
    assert info.value.message == (
        f"stage_settings[{stage.name!r}]: unknown option(s) ['atempts']; known: {stage.known}"
    )


@pytest.mark.parametrize(
    "stage", [s for s in STAGES if s.wrong], ids=[s.name for s in STAGES if s.wrong]
)
def test_a_wrong_value_names_the_stage_and_the_option(stage: Stage) -> None:
    (key,) = stage.wrong
    with pytest.raises(ConfigError) as info:
        stage.read({**stage.good, **stage.wrong})
    assert info.value.message.startswith(f"stage_settings[{stage.name!r}][{key!r}]: ")


@each_stage
@pytest.mark.parametrize("value", ["yes", 3.5j, object(), b"retry"])
def test_a_value_of_another_type_names_the_forms_and_the_type(stage: Stage, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        stage.read(value)
    name = stage.policy.__name__
    assert re.fullmatch(
        rf"stage_settings\[{stage.name!r}\]: expected an? {name}, a mapping of its fields, "
        rf"(.+, )?None or True \(the defaults\) or False \(off\); got {type(value).__name__}",
        info.value.message,
    ), info.value.message


@pytest.mark.anyio
@each_stage
async def test_the_client_reads_every_stage_by_these_rules(stage: Stage) -> None:
    """The built-in stages read their setting through the shared reader when a client is
    built, so the message is the reader's, whatever the stage."""
    client = Client(load_entry_points=False, stage_settings={stage.name: {"atempts": 3}})
    with pytest.raises(ConfigError, match=re.escape(f"stage_settings[{stage.name!r}]: unknown")):
        async with client:
            pass


def test_every_stage_with_a_policy_is_covered() -> None:
    from sluicegate.plugins.builtin import sluicegate_middleware

    without_settings = {"logging", "attempt_logging", "auth"}
    assert {spec.name for spec in sluicegate_middleware()} - without_settings == set(BY_NAME)


# -- the stages' own shorthands ---------------------------------------------------------------


def test_the_deadlines_shorthand_is_seconds_but_not_a_bool() -> None:
    assert DeadlinePolicy.from_setting(30) == DeadlinePolicy(total=30)
    assert DeadlinePolicy.from_setting(True) == DeadlinePolicy(total=None)
    with pytest.raises(ConfigError) as info:
        DeadlinePolicy.from_setting(-1)
    assert info.value.message.startswith("stage_settings['deadline']: deadline total must be")


def test_the_rate_limiters_shorthand_is_limits() -> None:
    one = Limit("mock/*", rpm=5)
    assert RateLimits.from_setting(one) == RateLimits(rules=(one,))
    assert RateLimits.from_setting([one, one]) == RateLimits(rules=(one, one))
    with pytest.raises(ConfigError) as info:
        RateLimits.from_setting([one, 5])
    assert info.value.message == (
        "stage_settings['rate_limit']: rate limit rules must be Limit values, got 5"
    )


def test_a_combination_of_values_is_reported_without_blaming_one() -> None:
    """Two wrong values: no single key is to blame, so the message names the stage only."""
    with pytest.raises(ConfigError) as info:
        RetryPolicy.from_setting({"attempts": 0, "max_retry_after": -1})
    assert info.value.message.startswith("stage_settings['retry']: retry ")


def test_an_extra_form_is_listed_among_the_accepted_forms() -> None:
    extra: ExtraForm[DeadlinePolicy] = ExtraForm("a word", lambda value: None)
    with pytest.raises(ConfigError, match=r"its fields, a word, None or True"):
        stage_policy("deadline", DeadlinePolicy, "soon", extra)


# -- property: unknown keys are always refused, by name ----------------------------------------

_IDENTIFIERS = st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)


@st.composite
def stage_and_options(draw: st.DrawFn) -> tuple[Stage, dict[str, Any], list[str]]:
    """A stage, a mapping with at least one key it does not know (and maybe some it
    does, with any value), and the unknown keys."""
    stage = draw(st.sampled_from(STAGES))
    values = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
    unknown = draw(
        st.dictionaries(_IDENTIFIERS.filter(lambda key: key not in stage.known), values, min_size=1)
    )
    known = draw(st.dictionaries(st.sampled_from(stage.known), values))
    return stage, {**known, **unknown}, sorted(unknown)


@given(stage_and_options())
def test_any_unknown_option_is_refused_naming_it(
    case: tuple[Stage, dict[str, Any], list[str]],
) -> None:
    stage, options, unknown = case
    with pytest.raises(ConfigError) as info:
        stage.read(options)
    assert info.value.message == (
        f"stage_settings[{stage.name!r}]: unknown option(s) {unknown}; known: {stage.known}"
    )
