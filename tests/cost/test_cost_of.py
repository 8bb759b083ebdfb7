"""Must-show 1: costs of fixed usages equal the values computed by hand from the table,
cached tokens, cache writes and the batch discount included."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate import Client, ModelPrice, PriceTable, Usage, cost_of
from sluicegate.cost.exact import to_float, to_units
from sluicegate.cost.rates import CostRates, format_usd


@pytest.fixture(scope="module")
def table() -> PriceTable:
    """The table a default client uses: built-in prices plus the Anthropic plugin's."""
    return Client().prices


def price(table: PriceTable, model: str) -> ModelPrice:
    found = table.lookup(model)
    assert found is not None, model
    return found


# Each case: model, usage, batch, and the cost worked out by hand from the published
# prices (USD per million tokens), written as the arithmetic a person would do.
CASES = [
    # gpt-4o-mini: input 0.15, cached 0.075, output 0.60
    ("openai/gpt-4o-mini", Usage(1000, 500), False, 0.00045),  # 150 + 300 per million
    (
        "openai/gpt-4o-mini",
        Usage(1000, 500, cached_tokens=400),
        False,
        0.00042,  # 600 x 0.15 + 400 x 0.075 + 500 x 0.60 = 90 + 30 + 300 = 420 per million
    ),
    ("openai/gpt-4o-mini", Usage(1000, 500, cached_tokens=400), True, 0.00021),  # half
    # gpt-4o: 2.50 / 1.25 / 10.00; a million of each
    ("openai/gpt-4o", Usage(1_000_000, 1_000_000), False, 12.5),
    ("openai/gpt-4o", Usage(1_000_000, 1_000_000, cached_tokens=1_000_000), False, 11.25),
    ("openai/gpt-4o", Usage(1_000_000, 1_000_000, cached_tokens=1_000_000), True, 5.625),
    # gpt-5-nano: 0.05 / 0.005 / 0.40: 2000 fresh + 8000 cached + 3000 out
    # = 100 + 40 + 1200 = 1340 per million
    ("openai/gpt-5-nano", Usage(10_000, 3000, cached_tokens=8000), False, 0.00134),
    # a dated snapshot is priced as its model: gpt-4.1 2.00 / 0.50 / 8.00
    ("openai/gpt-4.1-2025-04-14", Usage(2000, 100, cached_tokens=1000), False, 0.0033),
    # claude-sonnet-4-5: 3 input, 3.75 cache write, 0.30 cache hit, 15 output:
    # 5000 x 3 + 3000 x 3.75 + 2000 x 0.30 + 1000 x 15 = 15000 + 11250 + 600 + 15000
    (
        "anthropic/claude-sonnet-4-5-20250929",
        Usage(10_000, 1000, cached_tokens=2000, cache_write_tokens=3000),
        False,
        0.04185,
    ),
    (
        "anthropic/claude-sonnet-4-5",
        Usage(10_000, 1000, cached_tokens=2000, cache_write_tokens=3000),
        True,
        0.020925,
    ),
    # claude-haiku-4-5: 1 / 1.25 / 0.10 / 5: 100k cached read + 1k fresh + 500 out
    # = 10000 + 1000 + 2500 = 13500 per million
    ("anthropic/claude-haiku-4-5", Usage(101_000, 500, cached_tokens=100_000), False, 0.0135),
    # the mock's made-up prices: fast 0.10 / 0.05 / 0.40
    ("mock/fast", Usage(5, 20), False, 8.5e-06),
    ("mock/smart", Usage(4, 51), False, 0.000416),  # 4 x 2 + 51 x 8 = 416
]


@pytest.mark.parametrize(("model", "usage", "batch", "expected"), CASES)
def test_costs_equal_hand_computed_values(
    table: PriceTable, model: str, usage: Usage, batch: bool, expected: float
) -> None:
    assert cost_of(usage, price(table, model), batch=batch) == expected


def test_cached_and_written_tokens_without_their_own_price_cost_as_input() -> None:
    plain = ModelPrice("vllm/llama", input_per_mtok=1.0, output_per_mtok=2.0)
    usage = Usage(100, 10, cached_tokens=40, cache_write_tokens=30)
    assert cost_of(usage, plain) == (100 * 1.0 + 10 * 2.0) / 1e6


def test_a_usage_whose_parts_exceed_its_input_bills_no_negative_input() -> None:
    odd = ModelPrice("x/y", input_per_mtok=1.0, output_per_mtok=0.0, cached_input_per_mtok=0.5)
    assert cost_of(Usage(10, 0, cached_tokens=30), odd) == 30 * 0.5 / 1e6


def test_a_budget_reserves_at_the_dearer_of_input_and_cache_write() -> None:
    sonnet = ModelPrice(
        "anthropic/s", 3.0, 15.0, cached_input_per_mtok=0.3, cache_write_per_mtok=3.75
    )
    assert CostRates.of(sonnet).worst_case(1000, 100) == (1000 * 3.75 + 100 * 15) / 1e6


@st.composite
def prices_and_usages(draw: st.DrawFn) -> tuple[ModelPrice, Usage]:
    cents = st.integers(min_value=0, max_value=100_000)  # up to $1000 per Mtok, in cents
    inp, out, cached, write = (draw(cents) / 100 for _ in range(4))
    discount = draw(st.integers(min_value=0, max_value=100)) / 100
    cached_tokens = draw(st.integers(min_value=0, max_value=10**7))
    write_tokens = draw(st.integers(min_value=0, max_value=10**7))
    fresh = draw(st.integers(min_value=0, max_value=10**8))
    usage = Usage(
        fresh + cached_tokens + write_tokens,
        draw(st.integers(min_value=0, max_value=10**7)),
        cached_tokens,
        write_tokens,
    )
    return ModelPrice("p/m", inp, out, cached, discount, "", write), usage


@given(prices_and_usages(), st.booleans())
def test_every_cost_is_the_decimal_arithmetic_rounded_once(
    case: tuple[ModelPrice, Usage], batch: bool
) -> None:
    """Prices are taken as the decimals they are written as; only the result rounds."""
    model_price, usage = case
    d = [
        Fraction(repr(v))
        for v in (
            model_price.input_per_mtok,
            model_price.cached_input,
            model_price.cache_write,
            model_price.output_per_mtok,
        )
    ]
    fresh = usage.input_tokens - usage.cached_tokens - usage.cache_write_tokens
    exact = (
        fresh * d[0]
        + usage.cached_tokens * d[1]
        + usage.cache_write_tokens * d[2]
        + usage.output_tokens * d[3]
    ) / 1_000_000
    if batch:
        exact *= 1 - Fraction(repr(model_price.batch_discount))
    assert cost_of(usage, model_price, batch=batch) == float(exact)


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=60))
def test_exact_units_sum_to_what_fsum_gives(amounts: list[float]) -> None:
    assert to_float(sum(to_units(a) for a in amounts)) == math.fsum(amounts)


def test_amounts_for_people() -> None:
    assert format_usd(None) == "?"
    assert format_usd(0.0) == "$0"
    assert format_usd(12.5) == "$12.5000"
    assert format_usd(0.000416) == "$0.000416"
    assert format_usd(8.5e-9) == "$8.5e-09"
