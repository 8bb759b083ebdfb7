"""The stage builder keeps a built stage while its spec and the settings its factory read
are unchanged, and builds it anew when either changed."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate import ConfigError, MiddlewareSpec, Phase
from sluicegate.chain import CallNext, ChainContext, Reply
from sluicegate.observers import Observers
from sluicegate.stage_builder import StageBuilder
from sluicegate.types import Request


class Stage:
    def __init__(self, setting: Any) -> None:
        self.setting = setting

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        return await call_next(request)  # pragma: no cover - never called here


def reads_own_setting(context: ChainContext) -> Stage:
    return Stage(context.settings.get("mine"))


def reads_nothing(context: ChainContext) -> Stage:
    return Stage(None)


def context(**settings: Any) -> ChainContext:
    return ChainContext(providers={}, observers=Observers(), settings=settings)


def built(builder: StageBuilder, specs: list[MiddlewareSpec], **settings: Any) -> dict[str, Any]:
    return dict(builder.build(specs, context(**settings)))


MINE = MiddlewareSpec("mine", Phase.RETRY, reads_own_setting)
OTHER = MiddlewareSpec("other", Phase.BREAKER, reads_nothing)


def test_a_stage_is_kept_while_its_spec_and_the_settings_it_read_are_the_same() -> None:
    builder = StageBuilder()
    policy, shared = object(), object()
    first = built(builder, [MINE, OTHER], mine=policy, shared=shared)
    again = built(builder, [MINE, OTHER], mine=policy, shared=object())  # unread: changed
    assert again["mine"] is first["mine"] and again["other"] is first["other"]
    assert list(again) == ["mine", "other"]


def test_a_changed_setting_rebuilds_only_the_stage_that_read_it() -> None:
    builder = StageBuilder()
    first = built(builder, [MINE, OTHER], mine=1)
    again = built(builder, [MINE, OTHER], mine=2)
    assert again["mine"] is not first["mine"] and again["mine"].setting == 2
    assert again["other"] is first["other"]
    # a setting read while absent counts too: it appearing rebuilds the stage
    absent = StageBuilder()
    before = built(absent, [MINE])
    assert built(absent, [MINE], mine=3)["mine"] is not before["mine"]


def test_a_spec_that_replaces_a_stage_builds_a_new_one() -> None:
    builder = StageBuilder()
    first = built(builder, [MINE])
    replaced = MiddlewareSpec("mine", Phase.RETRY, lambda ctx: Stage("replacement"))
    assert built(builder, [replaced])["mine"].setting == "replacement"
    # and going back to the first spec does not bring the first instance back
    assert built(builder, [MINE])["mine"] is not first["mine"]


def test_a_factory_that_built_nothing_is_asked_again() -> None:
    calls: list[Any] = []

    def sometimes(context: ChainContext) -> Stage | None:
        calls.append(context.settings.get("on"))
        return Stage(None) if context.settings.get("on") else None

    spec = MiddlewareSpec("sometimes", Phase.RETRY, sometimes)
    builder = StageBuilder()
    assert built(builder, [spec], on=False) == {}
    assert built(builder, [spec], on=False) == {}
    assert calls == [False, False]


def test_a_failing_factory_is_named_and_what_was_kept_stays_kept() -> None:
    builder = StageBuilder()
    first = built(builder, [MINE])

    def broken(context: ChainContext) -> Stage:
        raise ValueError("bad config file")

    with pytest.raises(ConfigError, match=r"middleware 'broken' failed to build: .*bad config"):
        built(builder, [MINE, MiddlewareSpec("broken", Phase.AUTH, broken)])
    assert built(builder, [MINE])["mine"] is first["mine"]


def test_forget_builds_every_stage_anew() -> None:
    builder = StageBuilder()
    first = built(builder, [MINE])
    builder.forget()
    assert built(builder, [MINE])["mine"] is not first["mine"]
