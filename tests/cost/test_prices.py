"""The price table: where prices come from, how models are looked up, what is unknown."""

from __future__ import annotations

import pytest

from sluicegate import Client, ConfigError, ModelPrice, PriceTable, ProviderSettings, hookimpl
from sluicegate.cost.price_data import MOCK_PRICES, OPENAI_PRICES, PRICES_AS_OF
from sluicegate.cost.prices import PriceList, base_model_name
from sluicegate.cost.tables import BUILTIN_PRICE_LISTS, builtin_prices
from sluicegate.plugins.manager import collect, make_plugin_manager

from .helpers import BASE_URL, KEY


def test_the_builtin_table_covers_the_openai_models_and_the_mock() -> None:
    models = {p.model for p in OPENAI_PRICES}
    for name in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3"):
        assert f"openai/{name}" in models
    for name in ("o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano"):
        assert f"openai/{name}" in models
    assert {p.model for p in MOCK_PRICES} == {"mock/fast", "mock/smart", "mock/tiny"}
    assert all("mock" in p.source for p in MOCK_PRICES)  # labelled as made up
    assert not any(p.well_known for p in MOCK_PRICES)  # never lent to a real model
    assert max(lst.as_of for lst in BUILTIN_PRICE_LISTS) == PRICES_AS_OF


def test_every_bundled_list_is_dated_sourced_and_names_itself_in_its_prices() -> None:
    providers = [lst.provider for lst in BUILTIN_PRICE_LISTS]
    assert providers == ["openai", "deepseek", "mistral", "mock"]  # Claude, Gemini: plugins
    keys = {"openai": "openai", "deepseek": "deepseek", "mistral": "mistral"}
    for price_list in BUILTIN_PRICE_LISTS:
        assert price_list.prices
        if price_list.provider == "mock":
            continue
        assert price_list.as_of == "2026-12-02"
        assert price_list.sources and all(s.startswith("https://") for s in price_list.sources)
        for price in price_list.prices:
            assert price.model.startswith(f"{keys[price_list.provider]}/")
            assert price.source == f"builtin {price_list.provider} {price_list.as_of}"
            assert price.well_known
    models = [p.model for p in builtin_prices()]
    assert len(models) == len(set(models))  # no list repeats another's model


@pytest.mark.parametrize(
    ("model", "output"),
    [
        ("openai/gpt-4.1", 8.00),
        ("anthropic/claude-sonnet-4-5", 15.00),
        ("gemini/gemini-2.5-flash", 2.50),
        ("deepseek/deepseek-v3.2", 0.42),
    ],
)
def test_the_issues_seed_figures(model: str, output: float) -> None:
    price = Client().prices.lookup(model)
    assert price is not None and price.model == model
    assert price.output_per_mtok == output


def test_deepseek_is_priced_at_peak_without_a_batch_discount() -> None:
    table = Client().prices
    flash, legacy = (
        table.lookup("deepseek/deepseek-flash"),
        table.lookup("deepseek/deepseek-v4-flash"),
    )
    assert flash is not None and legacy is not None
    assert flash.rates == legacy.rates  # the legacy name is served and billed as Flash
    assert (flash.input_per_mtok, flash.cached_input_per_mtok, flash.output_per_mtok) == (
        0.30,
        0.006,
        1.20,
    )
    assert flash.batch_discount == 0.0
    assert table.lookup("deepseek/deepseek-chat") is None  # retired by DeepSeek: unknown


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"provider": ""}, "provider"),
        ({"as_of": "2 December 2026"}, "ISO date"),
        ({"sources": "https://a.example"}, "sources"),
        ({"prices": ({"model": "a/b"},)}, "ModelPrice"),
    ],
)
def test_a_bad_price_list_is_refused(kwargs: dict[str, object], problem: str) -> None:
    fields: dict[str, object] = {
        "provider": "acme",
        "as_of": "2026-12-02",
        "sources": ("https://acme.example/pricing",),
        "prices": (ModelPrice("acme/m", 1, 2),),
        **kwargs,
    }
    with pytest.raises(ConfigError, match=problem):
        PriceList(**fields)  # type: ignore[arg-type]


def test_a_client_knows_builtin_and_plugin_prices_with_their_sources() -> None:
    table = Client().prices  # entry points: the Anthropic plugin is installed
    mini = table.lookup("openai/gpt-4o-mini")
    sonnet = table.lookup("anthropic/claude-sonnet-4-5")
    assert mini is not None and mini.source == "builtin openai 2026-12-02"
    assert (mini.input_per_mtok, mini.cached_input_per_mtok, mini.output_per_mtok) == (
        0.15,
        0.075,
        0.60,
    )
    assert sonnet is not None and sonnet.source == "plugin sluicegate-anthropic 2026-12-02"
    assert sonnet.cached_input_per_mtok == pytest.approx(sonnet.input_per_mtok / 10)


@pytest.mark.parametrize(
    ("asked", "priced_as"),
    [
        ("openai/gpt-4o-mini-2024-07-18", "openai/gpt-4o-mini"),
        ("openai/gpt-4.1-2025-04-14", "openai/gpt-4.1"),
        ("anthropic/claude-sonnet-4-5-20250929", "anthropic/claude-sonnet-4-5"),
        ("anthropic/claude-3-5-haiku-latest", "anthropic/claude-3-5-haiku"),
        ("anthropic/claude-opus-4-20250514", "anthropic/claude-opus-4"),
    ],
)
def test_dated_snapshots_and_latest_aliases_fall_back_to_their_base_model(
    asked: str, priced_as: str
) -> None:
    table = Client().prices
    assert table.lookup(asked) is table.lookup(priced_as) is not None


def test_no_fallback_for_names_that_only_look_alike() -> None:
    table = PriceTable([ModelPrice("openai/gpt-4o", 2.5, 10.0)])
    assert base_model_name("openai/gpt-4o") is None
    assert table.lookup("openai/gpt-4o-mini") is None  # a different model, not a snapshot
    assert table.lookup("openai/gpt-4o-2024-13") is None  # not a date
    assert table.lookup("azure/gpt-4o-mini") is None


def test_a_compatible_server_serving_a_well_known_model_is_priced_as_it_until_given_one() -> None:
    settings = {"vllm": ProviderSettings(kind="openai", base_url=BASE_URL, api_key=KEY)}
    borrowed = Client(providers=settings).prices.lookup("vllm/gpt-4o-mini")
    assert borrowed is not None and borrowed.model == "openai/gpt-4o-mini"
    assert borrowed.source == "builtin openai 2026-12-02, priced as openai/gpt-4o-mini"
    assert Client(providers=settings).prices.lookup("vllm/llama-3-70b") is None
    mine = ModelPrice("vllm/gpt-4o-mini", 0.01, 0.02)
    priced = Client(providers=settings, prices=[mine]).prices.lookup("vllm/gpt-4o-mini")
    assert priced == mine


def test_user_prices_override_plugin_prices() -> None:
    cheaper = ModelPrice("openai/gpt-4o", 1.0, 4.0, source="file deal.toml")
    table = Client(prices=[cheaper]).prices
    assert table.lookup("openai/gpt-4o") == cheaper
    assert table.lookup("openai/gpt-4o-2024-08-06") == cheaper
    assert table.lookup("openai/gpt-4o-mini") is not None  # the rest stay


def test_a_plugin_price_without_a_source_is_credited_to_its_plugin() -> None:
    table = PriceTable.from_contributions(
        [
            ("sluicegate.builtin", [ModelPrice("a/b", 1, 1)]),
            ("acme", [ModelPrice("c/d", 1, 1)]),
        ]
    )
    assert [p.source for p in table.entries()] == ["builtin", "plugin acme"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model": "gpt-4o", "input_per_mtok": 1, "output_per_mtok": 1}, "provider/model"),
        ({"model": "a/b", "input_per_mtok": -1, "output_per_mtok": 1}, "input_per_mtok"),
        ({"model": "a/b", "input_per_mtok": 1, "output_per_mtok": float("nan")}, "output_per_mtok"),
        (
            {"model": "a/b", "input_per_mtok": 1, "output_per_mtok": 1, "batch_discount": 2},
            "batch_discount",
        ),
        (
            {
                "model": "a/b",
                "input_per_mtok": 1,
                "output_per_mtok": 1,
                "cached_input_per_mtok": "x",
            },
            "cached_input_per_mtok",
        ),
    ],
)
def test_a_bad_price_names_the_model_and_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ModelPrice(**kwargs)  # type: ignore[arg-type]
    assert field in caught.value.message
    assert repr(kwargs["model"]) in caught.value.message


def test_a_bad_price_argument_is_refused() -> None:
    with pytest.raises(ConfigError, match="ModelPrice"):
        Client(prices=[{"model": "a/b"}])  # type: ignore[list-item]


class AcmeList:
    """A runtime plugin bundling a dated list, and a price outside it, and one bad list."""

    name = "acme"

    @hookimpl
    def sluicegate_price_lists(self) -> list[PriceList]:
        prices = (ModelPrice("acme/m-1", 1.0, 2.0, source="plugin acme 2026-12-01"),)
        return [PriceList("acme", "2026-12-01", ("https://acme.example/pricing",), prices)]

    @hookimpl
    def sluicegate_prices(self) -> list[ModelPrice]:
        return [ModelPrice("acme/m-2", 3.0, 4.0)]


class BadList:
    name = "bad-list"

    @hookimpl
    def sluicegate_price_lists(self) -> list[object]:
        return [ModelPrice("bad/m", 1.0, 1.0)]  # a price, not a list


def test_a_plugins_price_lists_join_the_table_and_the_registry() -> None:
    pm, errors = make_plugin_manager(load_entry_points=False, plugins=[AcmeList(), BadList()])
    registry = collect(pm, errors)
    [(plugin, acme)] = [(p, lst) for p, lst in registry.price_lists if lst.provider == "acme"]
    assert plugin == "acme" and acme.as_of == "2026-12-01"
    [contribution] = [c for c in registry.contributions if c.plugin == "acme"]
    assert [p.model for p in contribution.prices] == ["acme/m-1", "acme/m-2"]
    [error] = [e for e in registry.errors if e.plugin == "bad-list"]
    assert "sluicegate_price_lists returned ModelPrice, not PriceList" in error.message

    table = Client(plugins=[AcmeList()], load_entry_points=False).prices
    first, second = table.lookup("acme/m-1"), table.lookup("acme/m-2")
    assert first is not None and first.source == "plugin acme 2026-12-01"
    assert second is not None and second.source == "plugin acme"
    assert table.lookup("openai/gpt-4.1") is not None  # the built-in lists stay
