"""Prices are finite, >= 0 and at most MAX_PRICE_PER_MTOK, so no cost can overflow a float
(a price of 1.7e308 used to be accepted and overflowed when a request was priced)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluicegate.cost.price_file import load_price_file
from sluicegate.cost.prices import MAX_PRICE_PER_MTOK, ModelPrice
from sluicegate.cost.rates import cost_of
from sluicegate.errors import BadInputError, ConfigError
from sluicegate.providers.checks import MAX_TOKEN_COUNT
from sluicegate.types import Usage

FIELDS = ["input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok"]


def test_the_bound_is_a_million_dollars_per_million_tokens() -> None:
    assert MAX_PRICE_PER_MTOK == 1_000_000


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", [1.7e308, MAX_PRICE_PER_MTOK * 1.0001, float("inf"), -0.01])
def test_a_model_price_out_of_bounds_is_a_config_error_naming_model_and_field(
    field: str, value: float
) -> None:
    prices = {"input_per_mtok": 1.0, "output_per_mtok": 1.0, field: value}
    with pytest.raises(ConfigError, match=rf"'openai/x'.*{field}") as info:
        ModelPrice(model="openai/x", **prices)
    assert "1,000,000" in info.value.message or ">= 0" in info.value.message


def test_the_largest_price_and_count_still_cost_a_finite_amount() -> None:
    top = float(MAX_PRICE_PER_MTOK)
    price = ModelPrice("openai/x", top, top, cached_input_per_mtok=top, cache_write_per_mtok=top)
    usage = Usage(MAX_TOKEN_COUNT, MAX_TOKEN_COUNT, 0, 0)
    assert cost_of(usage, price) == 2 * MAX_TOKEN_COUNT * top / 1_000_000


@pytest.mark.parametrize(("name", "field"), [("input", "input"), ("cache_write", "cache_write")])
def test_a_price_file_price_out_of_bounds_names_file_model_and_field(
    tmp_path: Path, name: str, field: str
) -> None:
    file = tmp_path / "prices.toml"
    values = {"input": "1.0", "output": "1.0", name: "1.7e308"}
    body = "\n".join(f"{k} = {v}" for k, v in values.items())
    file.write_text(f'[models."openai/huge"]\n{body}\n')
    with pytest.raises(BadInputError) as info:
        load_price_file(file)
    error = info.value
    assert error.file == str(file) and error.line == 1
    assert error.field == f'models."openai/huge".{field}'
    assert "1,000,000" in error.message and "openai/huge" in error.message
