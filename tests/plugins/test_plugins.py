"""Plugins: built-ins through the same hooks, entry points, failures named, run-time
registration, observers, and middleware placed by phase."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from plugin_helpers import Observer, echo_provider
from sluicegate import (
    CallNext,
    Client,
    ConfigError,
    MiddlewareSpec,
    Phase,
    ProviderError,
    ProviderSettings,
    ProviderSpec,
    Reply,
    Request,
    hookimpl,
)
from sluicegate.plugins import manager as pm_module
from sluicegate.testing import Answer, ScriptedTransport, openai_completion

pytestmark = pytest.mark.anyio


class Recorder:
    """A middleware that records the order stages ran in."""

    def __init__(self, name: str, seen: list[str]) -> None:
        self.name = name
        self.seen = seen

    async def __call__(self, request: Request, call_next: CallNext) -> Reply:
        self.seen.append(self.name)
        return await call_next(request)


class OrderPlugin:
    name = "order-plugin"

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    @hookimpl
    def sluicegate_middleware(self) -> Sequence[MiddlewareSpec]:
        return [
            MiddlewareSpec("inner", Phase.RATE_LIMIT, lambda ctx: Recorder("inner", self.seen)),
            MiddlewareSpec("outer", Phase.COST, lambda ctx: Recorder("outer", self.seen)),
            MiddlewareSpec("skipped", Phase.RETRY, lambda ctx: None),
        ]


def scripted() -> ScriptedTransport:
    return ScriptedTransport(Answer.json(200, openai_completion("ok")))


def settings() -> dict[str, ProviderSettings]:
    return {"openai": ProviderSettings(api_key="sk-test-abcdefghijklmnopqrstuv")}


async def test_middleware_runs_in_phase_order_and_none_factories_cost_nothing() -> None:
    seen: list[str] = []
    async with Client(
        providers=settings(),
        transport=scripted(),
        plugins=[OrderPlugin(seen)],
        # attempt-logging is present only when debug logging is on: leave it out so the
        # expected order does not depend on what another test did to the log level.
        disable=["attempt_logging"],
        load_entry_points=False,
    ) as client:
        await client.chat("openai/m", "hi")
        assert client.stages == [
            "logging",
            "deadline",
            "structured",
            "cost",
            "outer",
            "idempotency",
            "fallback",
            "retry",
            "breaker",
            "rate_limit",
            "inner",
            "auth",
        ]
    assert seen == ["outer", "inner"]


async def test_a_spec_with_a_builtin_name_replaces_it_and_disable_removes_stages() -> None:
    seen: list[str] = []
    replacement = MiddlewareSpec("logging", Phase.LOGGING, lambda ctx: Recorder("mine", seen))
    async with Client(
        providers=settings(),
        transport=scripted(),
        middleware=[replacement],
        disable=[
            "attempt_logging",
            "deadline",
            "structured",
            "cost",
            "fallback",
            "retry",
            "breaker",
            "rate_limit",
        ],
        load_entry_points=False,
    ) as client:
        await client.chat("openai/m", "hi")
        assert client.stages == ["logging", "idempotency", "auth"]
    assert seen == ["mine"]


class EchoProviderPlugin:
    """A third-party provider in a few lines: OpenAI's codec under another name."""

    name = "echo-plugin"

    @hookimpl
    def sluicegate_providers(self) -> Sequence[ProviderSpec]:
        return [echo_provider()]


async def test_plugin_registered_at_run_time_adds_a_provider_to_an_open_client() -> None:
    transport = scripted()
    async with Client(transport=transport, load_entry_points=False) as client:
        with pytest.raises(Exception, match="unknown provider 'echo'"):
            await client.chat("echo/x", "hi")
        client.register_plugin(EchoProviderPlugin())
        response = await client.chat("echo/x", "hi")
    assert response.provider == "echo"
    assert transport.requests[-1].url == "http://127.0.0.1:1/v1/chat/completions"
    assert "echo-plugin" in [c.plugin for c in client.plugins.contributions]


class BrokenHookPlugin:
    name = "broken-hook"

    @hookimpl
    def sluicegate_providers(self) -> Sequence[ProviderSpec]:
        raise RuntimeError("cannot read my config")


class WrongTypePlugin:
    name = "wrong-type"

    @hookimpl
    def sluicegate_middleware(self) -> Sequence[Any]:
        return ["not a spec"]


async def test_a_failing_plugin_is_named_and_the_rest_still_work() -> None:
    async with Client(
        providers=settings(),
        transport=scripted(),
        plugins=[BrokenHookPlugin(), WrongTypePlugin(), EchoProviderPlugin()],
        load_entry_points=False,
    ) as client:
        errors = {e.plugin: e.message for e in client.plugins.errors}
        assert set(errors) == {"broken-hook", "wrong-type"}
        assert "cannot read my config" in errors["broken-hook"]
        assert "MiddlewareSpec" in errors["wrong-type"]
        assert (await client.chat("echo/x", "hi")).text == "ok"
        assert (await client.chat("openai/x", "hi")).text == "ok"


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, *eps: EntryPoint) -> None:
    def entry_points(group: str) -> list[EntryPoint]:
        return list(eps) if group == "sluicegate" else []

    monkeypatch.setattr(pm_module, "entry_points", entry_points)


def test_entry_point_that_fails_to_import_is_reported_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_entry_points(
        monkeypatch,
        EntryPoint("ghost", "sluicegate_no_such_module_xyz", "sluicegate"),
        EntryPoint("fine", "tests_plugin_fine", "sluicegate"),
    )
    import sys
    import types

    module = types.ModuleType("tests_plugin_fine")
    module.sluicegate_providers = EchoProviderPlugin().sluicegate_providers  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tests_plugin_fine", module)
    pm, errors = pm_module.make_plugin_manager()
    registry = pm_module.collect(pm, errors)
    assert [e.plugin for e in registry.errors] == ["ghost"]
    assert "ModuleNotFoundError" in registry.errors[0].message
    assert "echo" in [p.name for p in registry.providers]


def test_disabled_plugins_are_not_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, EntryPoint("ghost", "sluicegate_no_such_module_xyz", "x"))
    monkeypatch.setenv("SLUICEGATE_DISABLE_PLUGINS", "ghost, other")
    pm, errors = pm_module.make_plugin_manager()
    assert errors == []
    assert not pm.has_plugin("ghost")
    assert pm_module.disabled_plugins() == frozenset({"ghost", "other"})


async def test_observers_see_finished_requests_and_failed_attempts() -> None:
    def answer(request: Any) -> Answer:
        if json.loads(request.body)["model"] == "bad":
            return Answer.json(503, {"error": {"message": "later"}})
        return Answer.json(200, openai_completion("ok", 5, 1))

    observer = Observer()
    async with Client(
        providers=settings(),
        transport=ScriptedTransport(answer),
        plugins=[observer],
        load_entry_points=False,
        stage_settings={"retry": False},
    ) as client:
        await client.chat("openai/good", "hi")
        with pytest.raises(ProviderError):
            await client.chat("openai/bad", "hi")
    assert [e.request.model for e in observer.finished] == ["openai/good", "openai/bad"]
    assert observer.finished[0].response.usage.input_tokens == 5
    assert observer.finished[1].error.status == 503
    assert [e.error.status for e in observer.failed] == [503]


class RaisingObserver:
    name = "raising-observer"

    @hookimpl
    def sluicegate_request_finished(self, event: Any) -> None:
        raise ValueError("observer bug")


async def test_an_observer_that_raises_does_not_break_the_request() -> None:
    async with Client(
        providers=settings(),
        transport=scripted(),
        plugins=[RaisingObserver()],
        load_entry_points=False,
    ) as client:
        assert (await client.chat("openai/m", "hi")).text == "ok"


@pytest.mark.parametrize(
    ("options", "where"),
    [
        ({"disable": ["retyr"]}, "disable"),
        ({"stage_settings": {"breakr": False}}, "stage_settings"),
    ],
)
async def test_a_misspelt_stage_name_is_refused_not_ignored(
    options: dict[str, Any], where: str
) -> None:
    with pytest.raises(ConfigError, match=rf"{where}: unknown stage.*the stages are: .*retry"):
        async with Client(providers=settings(), transport=scripted(), **options):
            pass


async def test_stage_settings_take_either_spelling_of_a_stage_name() -> None:
    async with Client(
        providers=settings(),
        transport=scripted(),
        load_entry_points=False,
        stage_settings={"rate_limit": False},
    ) as client:
        assert "rate_limit" not in client.stages


async def test_total_timeout_and_a_deadline_setting_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="total_timeout"):
        Client(total_timeout=5, stage_settings={"deadline": 10})


async def test_a_client_refused_while_building_closes_what_it_opened() -> None:
    """The providers' HTTP sessions are opened before the stages are checked."""
    client = Client(providers=settings(), disable=["retyr"])
    with pytest.raises(ConfigError):
        async with client:
            pass
    assert client._transports == {}  # every session it opened was closed
