"""The price table: where prices come from, how models are looked up, what is unknown."""

from __future__ import annotations

import pytest

from sluicegate import Client, ConfigError, ModelPrice, PriceTable, ProviderSettings
from sluicegate.cost.price_data import MOCK_PRICES, OPENAI_PRICES, PRICES_AS_OF
from sluicegate.cost.prices import base_model_name

from .helpers import BASE_URL, KEY


def test_the_builtin_table_covers_the_openai_models_and_the_mock() -> None:
    models = {p.model for p in OPENAI_PRICES}
    for name in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3"):
        assert f"openai/{name}" in models
    for name in ("o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano"):
        assert f"openai/{name}" in models
    assert {p.model for p in MOCK_PRICES} == {"mock/fast", "mock/smart", "mock/tiny"}
    assert all("mock" in p.source for p in MOCK_PRICES)  # labelled as made up
    assert PRICES_AS_OF.startswith("20")


def test_a_client_knows_builtin_and_plugin_prices_with_their_sources() -> None:
    table = Client().prices  # entry points: the Anthropic plugin is installed
    mini = table.lookup("openai/gpt-4o-mini")
    sonnet = table.lookup("anthropic/claude-sonnet-4-5")
    assert mini is not None and mini.source == "builtin"
    assert (mini.input_per_mtok, mini.cached_input_per_mtok, mini.output_per_mtok) == (
        0.15,
        0.075,
        0.60,
    )
    assert sonnet is not None and sonnet.source == "plugin sluicegate-anthropic"
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
    assert table.lookup("azure/gpt-4o") is None


def test_a_compatible_server_under_its_own_name_has_no_price_until_given_one() -> None:
    settings = {"vllm": ProviderSettings(kind="openai", base_url=BASE_URL, api_key=KEY)}
    assert Client(providers=settings).prices.lookup("vllm/gpt-4o-mini") is None
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
