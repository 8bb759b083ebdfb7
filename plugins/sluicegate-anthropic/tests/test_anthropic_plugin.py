"""Registration: the entry point, the ProviderSpec, and how a client binds the provider
(default base URL, environment variables, a gateway under another name)."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest
from click.testing import CliRunner

import sluicegate
from sluicegate.plugins.manager import ENTRY_POINT_GROUP, collect, make_plugin_manager
from sluicegate_anthropic import plugin
from sluicegate_anthropic.codec import AnthropicProvider

pytestmark = pytest.mark.anyio


def test_entry_point_names_the_plugin_module() -> None:
    [ep] = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "anthropic"]
    assert ep.value == "sluicegate_anthropic.plugin"
    assert ep.load() is plugin


def test_plugin_manager_collects_the_provider() -> None:
    pm, errors = make_plugin_manager()
    registry = collect(pm, errors)
    assert not registry.errors
    [contribution] = [c for c in registry.contributions if c.plugin == "anthropic"]
    [spec] = contribution.providers
    assert spec is plugin.SPEC
    models = {price.model for price in contribution.prices}
    assert {"anthropic/claude-sonnet-4-5", "anthropic/claude-haiku-4-5"} <= models
    [price_list] = contribution.price_lists
    assert price_list.provider == "anthropic"
    assert price_list.sources[0].startswith("https://platform.claude.com/")
    assert list(contribution.prices) == list(price_list.prices)
    source = f"plugin sluicegate-anthropic {price_list.as_of}"
    assert all(price.source == source for price in contribution.prices)


def test_claude_prices_follow_anthropics_cache_multipliers() -> None:
    """Cache hits are 0.1x input and 5-minute cache writes 1.25x, for every model (to the
    cent: Anthropic lists Haiku 3's as $0.03 and $0.30 for 0.025 and 0.3125)."""
    from sluicegate_anthropic.prices import CLAUDE_PRICES

    for price in CLAUDE_PRICES:
        assert price.cached_input_per_mtok is not None
        assert price.cache_write_per_mtok is not None
        assert price.cached_input_per_mtok == pytest.approx(price.input_per_mtok * 0.1, abs=0.01)
        assert price.cache_write_per_mtok == pytest.approx(price.input_per_mtok * 1.25, abs=0.02)
        assert price.batch_discount == 0.5


def test_spec() -> None:
    spec = plugin.SPEC
    assert spec.name == "anthropic"
    assert spec.default_base_url == "https://api.anthropic.com"
    assert spec.api_key_env == "ANTHROPIC_API_KEY"
    assert spec.base_url_env == "ANTHROPIC_BASE_URL"
    assert spec.needs_key is True
    assert spec.transport_factory is None
    assert spec.description
    codec = spec.factory("anthropic", spec.default_base_url, {"anthropic-beta": "x"})
    assert isinstance(codec, AnthropicProvider)
    assert codec.name == "anthropic"
    assert codec.url == "https://api.anthropic.com/v1/messages"


def test_cli_lists_the_plugin_and_its_provider() -> None:
    from sluicegate.cli.plugins import command

    result = CliRunner().invoke(command, [], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.output.splitlines() if "anthropic" in line]
    assert row.count("anthropic") == 3  # plugin name, provider name, its batch API


def test_importing_the_plugin_does_not_import_the_codec() -> None:
    code = (
        "import sys, sluicegate_anthropic.plugin as p; "
        "assert 'sluicegate_anthropic.codec' not in sys.modules; "
        "p.SPEC.factory('anthropic', p.DEFAULT_BASE_URL, {}); "
        "assert 'sluicegate_anthropic.codec' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_client_binds_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env-0000000000")
    async with sluicegate.Client(plugins=[plugin]) as client:
        bound = client._providers["anthropic"]
    assert bound.base_url == "https://api.anthropic.com"
    assert isinstance(bound.codec, AnthropicProvider)
    assert bound.codec.url == "https://api.anthropic.com/v1/messages"
    assert bound.credential is not None
    assert bound.credential.reveal() == "sk-ant-from-env-0000000000"

    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://localhost:4000")
    async with sluicegate.Client(plugins=[plugin]) as client:
        bound = client._providers["anthropic"]
    assert isinstance(bound.codec, AnthropicProvider)
    assert bound.codec.url == "http://localhost:4000/v1/messages"  # no /v1 in the variable


async def test_a_gateway_under_another_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORP_GW_API_KEY", "gw-key-123456")
    settings = sluicegate.ProviderSettings(kind="anthropic", base_url="https://gw.corp/anthropic")
    async with sluicegate.Client(plugins=[plugin], providers={"corp-gw": settings}) as client:
        bound = client._providers["corp-gw"]
    assert isinstance(bound.codec, AnthropicProvider)
    assert bound.codec.name == "corp-gw"
    assert bound.codec.url == "https://gw.corp/anthropic/v1/messages"
    assert bound.credential is not None and bound.credential.reveal() == "gw-key-123456"


async def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    async with sluicegate.Client(plugins=[plugin]) as client:
        with pytest.raises(sluicegate.AuthenticationError, match="ANTHROPIC_API_KEY"):
            await client.chat("anthropic/claude-sonnet-4-5", "hi")
