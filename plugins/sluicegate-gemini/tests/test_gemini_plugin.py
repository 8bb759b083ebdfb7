"""Registration: the entry point, and that the provider exists with the plugin and not
without it (what uninstalling the package does: no entry point, no ``gemini`` kind)."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import sluicegate
from sluicegate.plugins.manager import ENTRY_POINT_GROUP, collect, make_plugin_manager
from sluicegate_gemini import plugin

pytestmark = pytest.mark.anyio


def test_entry_point_names_the_plugin_module() -> None:
    [ep] = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "gemini"]
    assert ep.value == "sluicegate_gemini.plugin"
    assert ep.load() is plugin


def test_plugin_manager_collects_the_provider() -> None:
    pm, errors = make_plugin_manager()
    registry = collect(pm, errors)
    assert not registry.errors
    [contribution] = [c for c in registry.contributions if c.plugin == "gemini"]
    assert list(contribution.providers) == [plugin.SPEC]


async def test_the_provider_is_there_with_the_plugin_and_gone_without_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-test-key-0123456789")
    async with sluicegate.Client() as client:  # entry points: the installed plugin
        assert "gemini" in client.provider_names
    # without the entry point (the package uninstalled), the kind is unknown
    async with sluicegate.Client(load_entry_points=False) as client:
        assert "gemini" not in client.provider_names
        with pytest.raises(sluicegate.ConfigError, match="gemini"):
            await client.chat("gemini/gemini-2.5-flash", "hi")


async def test_the_key_comes_from_gemini_api_key_and_never_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "gemini-test-key-0123456789"
    monkeypatch.setenv("GEMINI_API_KEY", key)
    async with sluicegate.Client(plugins=[plugin], load_entry_points=False) as client:
        assert key not in repr(client)
    monkeypatch.delenv("GEMINI_API_KEY")
    async with sluicegate.Client(plugins=[plugin], load_entry_points=False) as client:
        with pytest.raises(sluicegate.AuthenticationError, match="set GEMINI_API_KEY"):
            await client.chat("gemini/gemini-2.5-flash", "hi")  # refused before sending
